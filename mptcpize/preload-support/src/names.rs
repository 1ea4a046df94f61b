//! Symbolic names for messages: `socket(AF_INET6, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP)`,
//! written the same way by the shim's debug log and the launcher's seccomp log.

use libc::c_int;

/// Where a message is written: text, and integers in decimal.
pub trait Sink {
    /// Appends `s`.
    fn text(&mut self, s: &str);
    /// Appends a decimal integer.
    fn int(&mut self, value: i64);
}

/// The name of a `socket()` domain (address family), or None for one not listed.
pub fn domain_name(domain: c_int) -> Option<&'static str> {
    Some(match domain {
        libc::AF_INET => "AF_INET",
        libc::AF_INET6 => "AF_INET6",
        libc::AF_UNIX => "AF_UNIX",
        libc::AF_NETLINK => "AF_NETLINK",
        libc::AF_PACKET => "AF_PACKET",
        _ => return None,
    })
}

/// Appends `socket(domain, type, protocol)`, with symbolic names where known and the
/// number otherwise.
pub fn socket_call(out: &mut impl Sink, domain: c_int, ty: c_int, protocol: c_int) {
    out.text("socket(");
    match domain_name(domain) {
        Some(name) => out.text(name),
        None => out.int(domain.into()),
    }
    out.text(", ");
    match ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) {
        libc::SOCK_STREAM => out.text("SOCK_STREAM"),
        libc::SOCK_DGRAM => out.text("SOCK_DGRAM"),
        libc::SOCK_RAW => out.text("SOCK_RAW"),
        libc::SOCK_SEQPACKET => out.text("SOCK_SEQPACKET"),
        other => out.int(other.into()),
    }
    if ty & libc::SOCK_NONBLOCK != 0 {
        out.text("|SOCK_NONBLOCK");
    }
    if ty & libc::SOCK_CLOEXEC != 0 {
        out.text("|SOCK_CLOEXEC");
    }
    out.text(", ");
    match protocol {
        libc::IPPROTO_TCP => out.text("IPPROTO_TCP"),
        mptcp_sys::IPPROTO_MPTCP => out.text("IPPROTO_MPTCP"),
        libc::IPPROTO_UDP => out.text("IPPROTO_UDP"),
        other => out.int(other.into()),
    }
    out.text(")");
}
