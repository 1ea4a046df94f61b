//! The network interfaces of this namespace and their addresses (`getifaddrs(3)`), and the
//! interface of the default route (`/proc/net/route`, `/proc/net/ipv6_route`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rustix::net::{AddressFamily, SocketFlags, SocketType};

/// One interface and its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    /// `IFF_UP`: administratively up.
    pub up: bool,
    /// `IFF_RUNNING`: up with carrier (operationally up).
    pub running: bool,
    pub loopback: bool,
    /// Addresses with their prefix length.
    pub addresses: Vec<(IpAddr, u8)>,
}

impl Interface {
    pub fn has(&self, address: IpAddr) -> bool {
        self.addresses.iter().any(|(a, _)| *a == address)
    }

    /// Addresses a subflow could use: not loopback, not link-local.
    pub fn usable_addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.addresses
            .iter()
            .map(|(a, _)| *a)
            .filter(|a| usable(*a))
    }
}

/// True for an address an MPTCP endpoint can sensibly use.
pub fn usable(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified(),
        // fe80::/10 needs a scope id, which endpoints do not carry.
        IpAddr::V6(v6) => {
            !v6.is_loopback() && !v6.is_unspecified() && (v6.segments()[0] & 0xffc0) != 0xfe80
        }
    }
}

/// Every interface of the calling thread's network namespace.
pub fn interfaces() -> std::io::Result<Vec<Interface>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // getifaddrs(3) has no safe wrapper in rustix, std or socket2: the list is walked here,
    // read only, and freed once at the end.
    // SAFETY: getifaddrs writes one pointer to `list`, the head of a list it allocated,
    // freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut out: Vec<Interface> = Vec::new();
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: a node of the list getifaddrs returned, alive until freeifaddrs.
        let entry = unsafe { &*cursor };
        cursor = entry.ifa_next;
        // SAFETY: ifa_name is a NUL-terminated string of the list, alive until
        // freeifaddrs; copied out here.
        let name = unsafe { std::ffi::CStr::from_ptr(entry.ifa_name) }
            .to_string_lossy()
            .into_owned();
        let flags = entry.ifa_flags;
        let index = match out.iter().position(|i| i.name == name) {
            Some(i) => i,
            None => {
                out.push(Interface {
                    index: index_of(&name).unwrap_or(0),
                    name,
                    up: flags & libc::IFF_UP as u32 != 0,
                    running: flags & libc::IFF_RUNNING as u32 != 0,
                    loopback: flags & libc::IFF_LOOPBACK as u32 != 0,
                    addresses: Vec::new(),
                });
                out.len() - 1
            }
        };
        // SAFETY: ifa_addr / ifa_netmask point to sockaddrs of the family they say, or are
        // null.
        let (address, mask) = unsafe { (ip_of(entry.ifa_addr), ip_of(entry.ifa_netmask)) };
        if let Some(address) = address {
            let prefix = mask.map(prefix_len).unwrap_or(0);
            out[index].addresses.push((address, prefix));
        }
    }
    // SAFETY: the list getifaddrs returned, freed once; nothing read from it is borrowed
    // past this point (names and addresses were copied).
    unsafe { libc::freeifaddrs(list) };
    Ok(out)
}

/// The index of interface `name` in the calling thread's network namespace
/// (`SIOCGIFINDEX` on a datagram socket, as `if_nametoindex(3)` does); `None` when there
/// is no such interface.
pub fn index_of(name: &str) -> Option<u32> {
    let sock = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .ok()?;
    rustix::net::netdevice::name_to_index(&sock, name)
        .ok()
        .filter(|&index| index != 0)
}

/// The IP address in a `sockaddr_in`/`sockaddr_in6`.
///
/// # Safety
/// `addr` is null or points to a sockaddr of the family it says.
unsafe fn ip_of(addr: *const libc::sockaddr) -> Option<IpAddr> {
    if addr.is_null() {
        return None;
    }
    match (*addr).sa_family as i32 {
        libc::AF_INET => {
            let sin = &*(addr as *const libc::sockaddr_in);
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 => {
            let sin6 = &*(addr as *const libc::sockaddr_in6);
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

fn prefix_len(mask: IpAddr) -> u8 {
    match mask {
        IpAddr::V4(m) => u32::from(m).count_ones() as u8,
        IpAddr::V6(m) => u128::from(m).count_ones() as u8,
    }
}

/// Names of the interfaces that default routes leave through (IPv4 then IPv6, no
/// duplicates), read from `/proc/net/route` and `/proc/net/ipv6_route`.
pub fn default_route_interfaces() -> Vec<String> {
    let route = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let ipv6_route = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
    default_route_interfaces_in(&route, &ipv6_route)
}

/// [`default_route_interfaces`] from the texts of `/proc/net/route` and
/// `/proc/net/ipv6_route`.
pub fn default_route_interfaces_in(route: &str, ipv6_route: &str) -> Vec<String> {
    let mut names = Vec::new();
    // Iface Destination Gateway Flags …; a default route has Destination 00000000 and
    // Mask 00000000 (column 8).
    for line in route.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() > 7 && cols[1] == "00000000" && cols[7] == "00000000" {
            names.push(cols[0].to_string());
        }
    }
    // dest prefixlen src srcprefixlen nexthop metric refcnt use flags iface
    for line in ipv6_route.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() == 10
            && cols[0] == "00000000000000000000000000000000"
            && cols[1] == "00"
            && cols[9] != "lo"
        {
            names.push(cols[9].to_string());
        }
    }
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_listed_with_its_address() {
        let list = interfaces().unwrap();
        let lo = list
            .iter()
            .find(|i| i.loopback)
            .expect("a loopback interface");
        assert!(lo.index > 0);
        if lo.up {
            assert!(lo.has(IpAddr::V4(Ipv4Addr::LOCALHOST)), "{lo:?}");
            assert!(
                lo.addresses.contains(&(IpAddr::V4(Ipv4Addr::LOCALHOST), 8)),
                "{lo:?}"
            );
        }
    }

    #[test]
    fn usable_addresses_exclude_loopback_and_link_local() {
        assert!(!usable("127.0.0.1".parse().unwrap()));
        assert!(!usable("169.254.1.1".parse().unwrap()));
        assert!(!usable("fe80::1".parse().unwrap()));
        assert!(usable("10.0.0.1".parse().unwrap()));
        assert!(usable("2001:db8::1".parse().unwrap()));
    }
}
