//! Endpoints of the in-kernel path manager: the local addresses it may use for extra
//! subflows or announce to peers (`ip mptcp endpoint`).

use std::ffi::{CStr, CString};
use std::fmt;
use std::net::IpAddr;
use std::ops::{BitAnd, BitOr, BitOrAssign, Not};

use mptcp_sys::{
    MPTCP_PM_ADDR_ATTR_ADDR4, MPTCP_PM_ADDR_ATTR_ADDR6, MPTCP_PM_ADDR_ATTR_FAMILY,
    MPTCP_PM_ADDR_ATTR_FLAGS, MPTCP_PM_ADDR_ATTR_ID, MPTCP_PM_ADDR_ATTR_IF_IDX,
    MPTCP_PM_ADDR_ATTR_PORT, MPTCP_PM_ADDR_FLAG_BACKUP, MPTCP_PM_ADDR_FLAG_FULLMESH,
    MPTCP_PM_ADDR_FLAG_IMPLICIT, MPTCP_PM_ADDR_FLAG_LAMINAR, MPTCP_PM_ADDR_FLAG_SIGNAL,
    MPTCP_PM_ADDR_FLAG_SUBFLOW, MPTCP_PM_ATTR_ADDR,
};

use super::netlink::{
    attrs, value_i32, value_ipv4, value_ipv6, value_u16, value_u32, value_u8, Attr,
};

/// The flags of an endpoint (`MPTCP_PM_ADDR_FLAG_*`), named as `ip mptcp endpoint` names
/// them. Combine with `|`: `EndpointFlags::SUBFLOW | EndpointFlags::BACKUP`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EndpointFlags(u32);

/// Flag names in the order `ip mptcp endpoint show` prints them.
const FLAG_NAMES: [(EndpointFlags, &str); 6] = [
    (EndpointFlags::SIGNAL, "signal"),
    (EndpointFlags::SUBFLOW, "subflow"),
    (EndpointFlags::BACKUP, "backup"),
    (EndpointFlags::FULLMESH, "fullmesh"),
    (EndpointFlags::IMPLICIT, "implicit"),
    (EndpointFlags::LAMINAR, "laminar"),
];

impl EndpointFlags {
    /// `signal`: announce this address to peers (ADD_ADDR) — for servers.
    pub const SIGNAL: EndpointFlags = EndpointFlags(MPTCP_PM_ADDR_FLAG_SIGNAL);
    /// `subflow`: open an extra subflow from this address to the peer — for clients.
    pub const SUBFLOW: EndpointFlags = EndpointFlags(MPTCP_PM_ADDR_FLAG_SUBFLOW);
    /// `backup`: subflows from this address carry data only when no other subflow can.
    pub const BACKUP: EndpointFlags = EndpointFlags(MPTCP_PM_ADDR_FLAG_BACKUP);
    /// `fullmesh`: a subflow from this address to every address the peer announces.
    pub const FULLMESH: EndpointFlags = EndpointFlags(MPTCP_PM_ADDR_FLAG_FULLMESH);
    /// `implicit`: created by the kernel for an address a subflow used (read only).
    pub const IMPLICIT: EndpointFlags = EndpointFlags(MPTCP_PM_ADDR_FLAG_IMPLICIT);
    /// `laminar` (Linux >= 6.18).
    pub const LAMINAR: EndpointFlags = EndpointFlags(MPTCP_PM_ADDR_FLAG_LAMINAR);

    /// No flag.
    pub const fn empty() -> EndpointFlags {
        EndpointFlags(0)
    }

    /// Flags from the kernel's bits; bits this crate does not name are kept.
    pub const fn from_bits(bits: u32) -> EndpointFlags {
        EndpointFlags(bits)
    }

    /// The kernel's bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// True when every flag of `other` is set.
    pub const fn contains(self, other: EndpointFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Sets (`true`) or clears (`false`) the flags of `other`.
    pub fn set(&mut self, other: EndpointFlags, on: bool) {
        if on {
            self.0 |= other.0
        } else {
            self.0 &= !other.0
        }
    }

    /// The flags' names as `ip mptcp endpoint` spells them (unknown bits as hex).
    pub fn names(self) -> Vec<String> {
        let mut names: Vec<String> = FLAG_NAMES
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| (*name).to_string())
            .collect();
        let known = FLAG_NAMES.iter().fold(0, |acc, (flag, _)| acc | flag.0);
        if self.0 & !known != 0 {
            names.push(format!("{:#x}", self.0 & !known));
        }
        names
    }

    /// Parses one flag name (`signal`, `subflow`, `backup`, `fullmesh`, `implicit`,
    /// `laminar`).
    pub fn from_name(name: &str) -> Option<EndpointFlags> {
        FLAG_NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(flag, _)| *flag)
    }
}

impl BitOr for EndpointFlags {
    type Output = EndpointFlags;
    fn bitor(self, rhs: EndpointFlags) -> EndpointFlags {
        EndpointFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for EndpointFlags {
    fn bitor_assign(&mut self, rhs: EndpointFlags) {
        self.0 |= rhs.0
    }
}

impl BitAnd for EndpointFlags {
    type Output = EndpointFlags;
    fn bitand(self, rhs: EndpointFlags) -> EndpointFlags {
        EndpointFlags(self.0 & rhs.0)
    }
}

impl Not for EndpointFlags {
    type Output = EndpointFlags;
    fn not(self) -> EndpointFlags {
        EndpointFlags(!self.0)
    }
}

/// Space-separated names, as in `ip mptcp endpoint show`: `subflow backup`.
impl fmt::Display for EndpointFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(" "))
    }
}

impl fmt::Debug for EndpointFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EndpointFlags({})", self.names().join(" | "))
    }
}

/// An endpoint of the in-kernel path manager, as `MPTCP_PM_CMD_GET_ADDR` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endpoint {
    /// The endpoint id (1..=255; the kernel picks one when none was given).
    pub id: u8,
    /// The local address.
    pub address: IpAddr,
    /// The port announced with a `signal` endpoint, when one was set.
    pub port: Option<u16>,
    /// The interface index (`dev IFNAME`), when one was set.
    pub interface: Option<u32>,
    /// The flags.
    pub flags: EndpointFlags,
}

impl Endpoint {
    /// The interface's name (`if_indextoname(3)`, in the calling thread's network
    /// namespace), when the endpoint has an interface that still exists.
    pub fn interface_name(&self) -> Option<String> {
        self.interface.and_then(interface_name)
    }

    /// Decodes the nested `MPTCP_PM_ATTR_ADDR` of a `GET_ADDR` answer.
    pub(crate) fn from_reply(reply: &[u8]) -> Result<Endpoint, String> {
        let nested = attrs(reply)
            .filter_map(Result::ok)
            .find(|(kind, _)| *kind == MPTCP_PM_ATTR_ADDR)
            .ok_or("answer without MPTCP_PM_ATTR_ADDR")?
            .1;
        let mut id = None;
        let mut address = None;
        let mut port = None;
        let mut interface = None;
        let mut flags = EndpointFlags::empty();
        for attr in attrs(nested) {
            let (kind, value) = attr.map_err(|e| e.to_string())?;
            match kind {
                MPTCP_PM_ADDR_ATTR_ID => id = value_u8(value),
                MPTCP_PM_ADDR_ATTR_ADDR4 => address = value_ipv4(value),
                MPTCP_PM_ADDR_ATTR_ADDR6 => address = value_ipv6(value),
                MPTCP_PM_ADDR_ATTR_PORT => port = value_u16(value).filter(|p| *p != 0),
                MPTCP_PM_ADDR_ATTR_IF_IDX => {
                    interface = value_i32(value).filter(|i| *i > 0).map(|i| i as u32)
                }
                MPTCP_PM_ADDR_ATTR_FLAGS => {
                    flags = EndpointFlags::from_bits(value_u32(value).unwrap_or_default())
                }
                _ => {}
            }
        }
        Ok(Endpoint {
            id: id.ok_or("endpoint without an id")?,
            address: address.ok_or("endpoint without an address")?,
            port,
            interface,
            flags,
        })
    }
}

/// As `ip mptcp endpoint show` prints it: `10.0.0.1 port 1000 id 1 signal dev eth0`.
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.address)?;
        if let Some(port) = self.port {
            write!(f, " port {port}")?;
        }
        write!(f, " id {}", self.id)?;
        if !self.flags.is_empty() {
            write!(f, " {}", self.flags)?;
        }
        if let Some(index) = self.interface {
            match interface_name(index) {
                Some(name) => write!(f, " dev {name}")?,
                None => write!(f, " dev #{index}")?,
            }
        }
        Ok(())
    }
}

/// The interface an endpoint is bound to: by name (resolved when the endpoint is added,
/// in the calling thread's network namespace) or by index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Interface {
    Name(String),
    Index(u32),
}

/// An endpoint to add with [`PathManager::add_endpoint`](super::PathManager::add_endpoint):
/// `ip mptcp endpoint add ADDRESS [port PORT] [id ID] [dev IFNAME] [FLAGS]`.
///
/// ```
/// # use mptcp_socket::pm::NewEndpoint;
/// let endpoint = NewEndpoint::new("10.0.1.2".parse().unwrap()).interface("eth1").subflow();
/// assert_eq!(endpoint.to_string(), "10.0.1.2 dev eth1 subflow");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEndpoint {
    address: IpAddr,
    id: Option<u8>,
    port: Option<u16>,
    interface: Option<Interface>,
    flags: EndpointFlags,
}

impl NewEndpoint {
    /// An endpoint for `address`, with no flag yet.
    pub fn new(address: IpAddr) -> NewEndpoint {
        NewEndpoint {
            address,
            id: None,
            port: None,
            interface: None,
            flags: EndpointFlags::empty(),
        }
    }

    /// Asks for this id (1..=255) rather than the next free one.
    pub fn id(mut self, id: u8) -> NewEndpoint {
        self.id = Some(id);
        self
    }

    /// The port to announce (with `signal`): the server then also listens on it.
    pub fn port(mut self, port: u16) -> NewEndpoint {
        self.port = Some(port);
        self
    }

    /// Binds the endpoint's subflows to the interface `name` (`dev IFNAME`), so they leave
    /// through it whatever the routing table says.
    pub fn interface(mut self, name: impl Into<String>) -> NewEndpoint {
        self.interface = Some(Interface::Name(name.into()));
        self
    }

    /// Like [`interface`](Self::interface), by interface index.
    pub fn interface_index(mut self, index: u32) -> NewEndpoint {
        self.interface = Some(Interface::Index(index));
        self
    }

    /// Adds flags.
    pub fn flags(mut self, flags: EndpointFlags) -> NewEndpoint {
        self.flags |= flags;
        self
    }

    /// Adds [`EndpointFlags::SIGNAL`].
    pub fn signal(self) -> NewEndpoint {
        self.flags(EndpointFlags::SIGNAL)
    }

    /// Adds [`EndpointFlags::SUBFLOW`].
    pub fn subflow(self) -> NewEndpoint {
        self.flags(EndpointFlags::SUBFLOW)
    }

    /// Adds [`EndpointFlags::BACKUP`].
    pub fn backup(self) -> NewEndpoint {
        self.flags(EndpointFlags::BACKUP)
    }

    /// Adds [`EndpointFlags::FULLMESH`].
    pub fn fullmesh(self) -> NewEndpoint {
        self.flags(EndpointFlags::FULLMESH)
    }

    /// The address.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// The requested id, if any.
    pub fn requested_id(&self) -> Option<u8> {
        self.id
    }

    /// The flags.
    pub fn requested_flags(&self) -> EndpointFlags {
        self.flags
    }

    /// The requested port, if any.
    pub fn requested_port(&self) -> Option<u16> {
        self.port
    }

    /// The interface index, resolving a name with `if_nametoindex(3)`; `Err(name)` when
    /// no interface has that name in this network namespace.
    pub(crate) fn interface_index_resolved(&self) -> Result<Option<u32>, String> {
        match &self.interface {
            None => Ok(None),
            Some(Interface::Index(index)) => Ok(Some(*index)),
            Some(Interface::Name(name)) => interface_index(name).map(Some).ok_or(name.clone()),
        }
    }
}

/// As the `ip mptcp endpoint add` arguments: `10.0.1.2 port 1000 id 3 dev eth1 signal`.
impl fmt::Display for NewEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.address)?;
        if let Some(port) = self.port {
            write!(f, " port {port}")?;
        }
        if let Some(id) = self.id {
            write!(f, " id {id}")?;
        }
        match &self.interface {
            Some(Interface::Name(name)) => write!(f, " dev {name}")?,
            Some(Interface::Index(index)) => write!(f, " dev #{index}")?,
            None => {}
        }
        if !self.flags.is_empty() {
            write!(f, " {}", self.flags)?;
        }
        Ok(())
    }
}

/// The nested `MPTCP_PM_ATTR_ADDR` attribute: family, optional id, address, port, flags
/// and interface.
pub(crate) fn address_attr(
    id: Option<u8>,
    address: Option<IpAddr>,
    port: Option<u16>,
    interface: Option<u32>,
    flags: Option<EndpointFlags>,
) -> Attr {
    let mut nested = Vec::new();
    match address {
        Some(IpAddr::V4(v4)) => {
            nested.push(Attr::U16(MPTCP_PM_ADDR_ATTR_FAMILY, libc::AF_INET as u16));
            nested.push(Attr::Bytes(MPTCP_PM_ADDR_ATTR_ADDR4, v4.octets().to_vec()));
        }
        Some(IpAddr::V6(v6)) => {
            nested.push(Attr::U16(MPTCP_PM_ADDR_ATTR_FAMILY, libc::AF_INET6 as u16));
            nested.push(Attr::Bytes(MPTCP_PM_ADDR_ATTR_ADDR6, v6.octets().to_vec()));
        }
        // A lookup by id: no family at all (AF_UNSPEC is refused: "unknown address family").
        None => {}
    }
    if let Some(id) = id {
        nested.push(Attr::U8(MPTCP_PM_ADDR_ATTR_ID, id));
    }
    if let Some(port) = port {
        // Host byte order: the kernel converts with htons().
        nested.push(Attr::U16(MPTCP_PM_ADDR_ATTR_PORT, port));
    }
    if let Some(flags) = flags {
        nested.push(Attr::U32(MPTCP_PM_ADDR_ATTR_FLAGS, flags.bits()));
    }
    if let Some(index) = interface {
        nested.push(Attr::I32(MPTCP_PM_ADDR_ATTR_IF_IDX, index as i32));
    }
    Attr::Nested(MPTCP_PM_ATTR_ADDR, nested)
}

/// `if_indextoname(3)`.
pub(crate) fn interface_name(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has the IF_NAMESIZE bytes if_indextoname may write.
    let name = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if name.is_null() {
        return None;
    }
    // SAFETY: on success the kernel wrote a NUL-terminated name into `buf`.
    Some(
        unsafe { CStr::from_ptr(buf.as_ptr()) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// `if_nametoindex(3)`.
pub(crate) fn interface_index(name: &str) -> Option<u32> {
    let name = CString::new(name).ok()?;
    // SAFETY: a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_print_like_ip_mptcp() {
        let flags = EndpointFlags::SUBFLOW | EndpointFlags::BACKUP | EndpointFlags::SIGNAL;
        assert_eq!(flags.to_string(), "signal subflow backup");
        assert_eq!(
            format!("{flags:?}"),
            "EndpointFlags(signal | subflow | backup)"
        );
        assert_eq!(
            EndpointFlags::from_bits(0x80 | 8).to_string(),
            "fullmesh 0x80"
        );
        assert_eq!(
            EndpointFlags::from_name("fullmesh"),
            Some(EndpointFlags::FULLMESH)
        );
        let mut f = flags;
        f.set(EndpointFlags::BACKUP, false);
        assert_eq!(f, EndpointFlags::SIGNAL | EndpointFlags::SUBFLOW);
        assert!(flags.contains(EndpointFlags::BACKUP | EndpointFlags::SUBFLOW));
        assert!(!f.contains(EndpointFlags::BACKUP));
    }

    #[test]
    fn endpoint_round_trips_through_its_attribute() {
        use netlink_packet_core::Emitable;
        let attr = address_attr(
            Some(7),
            Some("fd00::1".parse().unwrap()),
            Some(1000),
            Some(3),
            Some(EndpointFlags::SIGNAL | EndpointFlags::BACKUP),
        );
        let mut buf = vec![0; attr.buffer_len()];
        attr.emit(&mut buf);
        let endpoint = Endpoint::from_reply(&buf).unwrap();
        assert_eq!(
            endpoint,
            Endpoint {
                id: 7,
                address: "fd00::1".parse().unwrap(),
                port: Some(1000),
                interface: Some(3),
                flags: EndpointFlags::SIGNAL | EndpointFlags::BACKUP,
            }
        );
        assert!(endpoint
            .to_string()
            .starts_with("fd00::1 port 1000 id 7 signal backup dev "));
    }

    #[test]
    fn new_endpoint_prints_as_ip_arguments() {
        let e = NewEndpoint::new("10.0.0.2".parse().unwrap())
            .id(3)
            .port(80)
            .signal()
            .backup();
        assert_eq!(e.to_string(), "10.0.0.2 port 80 id 3 signal backup");
        let e = NewEndpoint::new("10.0.0.2".parse().unwrap()).interface("no-such-if-x");
        assert_eq!(
            e.interface_index_resolved(),
            Err("no-such-if-x".to_string())
        );
    }
}
