//! The two decisions every MPTCP user in this workspace shares, written once.
//!
//! 1. [`is_tcp_stream_request`]: is a `socket(domain, type, protocol)` call one that asks
//!    for a plain TCP stream socket, and so one to turn into `IPPROTO_MPTCP`?
//! 2. [`Unavailable::from_errno`]: does the errno of `socket(…, IPPROTO_MPTCP)` mean that
//!    the kernel cannot give MPTCP here (so falling back to TCP is right), or is it an
//!    ordinary error the caller must see (`EMFILE`, `EACCES`, …)?
//!
//! 3. [`refused_options`]: when MPTCP refuses a socket option before the socket connected, which
//!    errnos say so, whether the socket is still unused, whether to give it plain TCP (the
//!    option's class and the user's choice), and which options to carry over to the plain
//!    TCP socket that takes its place.
//!
//! 4. [`why_not_mptcp`]: why a connection is not MPTCP or uses one path, and the short
//!    word for each reason that `mptcpize check`, `watch` and `run --report` print.
//!
//! The library's fallback policy (`mptcp-socket`), the `LD_PRELOAD` shim and the seccomp
//! supervisor (`mptcpize`) all call these, so they can never disagree. The crate is
//! `no_std` and allocation-free, so the shim's hot path can use it.
#![no_std]
#![deny(missing_docs)]

use libc::c_int;

pub use mptcp_sys::IPPROTO_MPTCP;

pub mod refused_options;
pub mod why_not_mptcp;

/// The `type` flags `socket(2)` accepts besides the socket type itself.
const SOCKET_TYPE_FLAGS: c_int = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;

/// True when `socket(domain, type, protocol)` asks for a TCP stream socket: `domain` is
/// `AF_INET` or `AF_INET6`, `type` is `SOCK_STREAM` (with any of `SOCK_NONBLOCK` and
/// `SOCK_CLOEXEC`), and `protocol` is 0 or `IPPROTO_TCP`.
///
/// Everything else (UDP, UNIX, raw, netlink, packet sockets, an explicit other protocol,
/// unknown type bits) is not touched.
#[inline]
pub const fn is_tcp_stream_request(domain: c_int, type_: c_int, protocol: c_int) -> bool {
    // Written for the shim's `socket()` hook, which runs it on every call: one subtraction
    // and one mask test each for the family and the type (`domain - AF_INET` is 0 or 8 for
    // AF_INET and AF_INET6, `type - SOCK_STREAM` a subset of the flags), and protocol 0,
    // the commonest, tested first (with `|`: for `||` the compiler tests IPPROTO_TCP
    // first). The unit tests check it against the plain form.
    const _: () = assert!(libc::AF_INET6 - libc::AF_INET == 8 && SOCKET_TYPE_FLAGS & 1 == 0);
    (domain.wrapping_sub(libc::AF_INET) & !8) == 0
        && (type_.wrapping_sub(libc::SOCK_STREAM) & !SOCKET_TYPE_FLAGS) == 0
        && (protocol == 0) | (protocol == libc::IPPROTO_TCP)
}

/// Why the kernel cannot create an MPTCP socket, read from the errno of
/// `socket(…, IPPROTO_MPTCP)`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Unavailable {
    /// `ENOPROTOOPT`: `net.mptcp.enabled=0` in this network namespace. The sysctl can be
    /// changed at any time, so this answer must not be cached.
    DisabledBySysctl,
    /// `EPROTONOSUPPORT`: the kernel was built without `CONFIG_MPTCP`.
    NotInKernel,
    /// `EINVAL`: a kernel older than 5.6, which does not know `IPPROTO_MPTCP`.
    KernelTooOld,
}

impl Unavailable {
    /// The reason behind `errno` from `socket(…, IPPROTO_MPTCP)`, or `None` when `errno` is
    /// an ordinary error that a fallback to TCP would only hide (or repeat).
    #[inline]
    pub const fn from_errno(errno: c_int) -> Option<Unavailable> {
        match errno {
            libc::ENOPROTOOPT => Some(Unavailable::DisabledBySysctl),
            libc::EPROTONOSUPPORT => Some(Unavailable::NotInKernel),
            libc::EINVAL => Some(Unavailable::KernelTooOld),
            _ => None,
        }
    }

    /// The errno the kernel gives for this reason.
    pub const fn errno(self) -> c_int {
        match self {
            Unavailable::DisabledBySysctl => libc::ENOPROTOOPT,
            Unavailable::NotInKernel => libc::EPROTONOSUPPORT,
            Unavailable::KernelTooOld => libc::EINVAL,
        }
    }

    /// True when the answer can change while a program runs (the sysctl), so it must be
    /// asked again rather than cached.
    pub const fn may_change(self) -> bool {
        matches!(self, Unavailable::DisabledBySysctl)
    }

    /// One line for a user: the cause and what to do about it.
    pub const fn message(self) -> &'static str {
        match self {
            Unavailable::DisabledBySysctl => {
                "MPTCP is disabled in this network namespace: run `sysctl -w net.mptcp.enabled=1`"
            }
            Unavailable::NotInKernel => {
                "this kernel was built without MPTCP (CONFIG_MPTCP): use a kernel with MPTCP enabled"
            }
            Unavailable::KernelTooOld => {
                "this kernel does not know IPPROTO_MPTCP (Linux < 5.6): upgrade to Linux 5.6 or later (5.16+ for MPTCP_INFO)"
            }
        }
    }
}

impl core::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libc::{
        AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, AF_UNIX, AF_UNSPEC, EACCES, EAFNOSUPPORT,
        ECONNREFUSED, EINVAL, EMFILE, ENFILE, ENOBUFS, ENOMEM, ENOPROTOOPT, EPERM, EPROTONOSUPPORT,
        IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_RAW,
        SOCK_SEQPACKET, SOCK_STREAM,
    };

    #[test]
    fn socket_call_table() {
        let flags = [0, SOCK_NONBLOCK, SOCK_CLOEXEC, SOCK_NONBLOCK | SOCK_CLOEXEC];
        for domain in [AF_INET, AF_INET6, AF_UNIX, AF_NETLINK, AF_PACKET, AF_UNSPEC] {
            for ty in [SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET] {
                for flag in flags {
                    for proto in [
                        0,
                        IPPROTO_TCP,
                        IPPROTO_UDP,
                        IPPROTO_MPTCP,
                        IPPROTO_SCTP,
                        255,
                    ] {
                        let expected = (domain == AF_INET || domain == AF_INET6)
                            && ty == SOCK_STREAM
                            && (proto == 0 || proto == IPPROTO_TCP);
                        assert_eq!(
                            is_tcp_stream_request(domain, ty | flag, proto),
                            expected,
                            "socket({domain}, {ty}|{flag:#x}, {proto})"
                        );
                    }
                }
            }
        }
        // Unknown type bits are not ours to interpret.
        assert!(!is_tcp_stream_request(AF_INET, SOCK_STREAM | 0x40_0000, 0));
    }

    #[test]
    fn the_fast_form_is_the_plain_one() {
        let plain = |domain: c_int, ty: c_int, proto: c_int| {
            (domain == AF_INET || domain == AF_INET6)
                && (ty & !SOCKET_TYPE_FLAGS) == SOCK_STREAM
                && (proto == 0 || proto == IPPROTO_TCP)
        };
        let edges = [
            c_int::MIN,
            c_int::MIN + 1,
            -8,
            -2,
            -1,
            c_int::MAX - 1,
            c_int::MAX,
        ];
        let domains = (-20..=64).chain(edges);
        for domain in domains {
            let bits = (0..32).map(|b| 1i32.wrapping_shl(b));
            let types = (-3..=20)
                .chain(bits.clone())
                .chain(bits.map(|b| b | SOCK_STREAM))
                .flat_map(|t| {
                    [0, SOCK_NONBLOCK, SOCK_CLOEXEC, SOCK_NONBLOCK | SOCK_CLOEXEC].map(|f| t | f)
                })
                .chain(edges);
            for ty in types {
                for proto in (-2..=8).chain([255, 256, 262, c_int::MIN, c_int::MAX]) {
                    assert_eq!(
                        is_tcp_stream_request(domain, ty, proto),
                        plain(domain, ty, proto),
                        "socket({domain}, {ty:#x}, {proto})"
                    );
                }
            }
        }
    }

    #[test]
    fn errno_table() {
        assert_eq!(
            Unavailable::from_errno(ENOPROTOOPT),
            Some(Unavailable::DisabledBySysctl)
        );
        assert_eq!(
            Unavailable::from_errno(EPROTONOSUPPORT),
            Some(Unavailable::NotInKernel)
        );
        assert_eq!(
            Unavailable::from_errno(EINVAL),
            Some(Unavailable::KernelTooOld)
        );
        for e in [
            0,
            EMFILE,
            ENFILE,
            ENOBUFS,
            ENOMEM,
            EACCES,
            EPERM,
            ECONNREFUSED,
            EAFNOSUPPORT,
        ] {
            assert_eq!(Unavailable::from_errno(e), None, "errno {e}");
        }
        for u in [
            Unavailable::DisabledBySysctl,
            Unavailable::NotInKernel,
            Unavailable::KernelTooOld,
        ] {
            assert_eq!(Unavailable::from_errno(u.errno()), Some(u));
        }
        assert!(Unavailable::DisabledBySysctl
            .message()
            .contains("net.mptcp.enabled=1"));
        assert!(Unavailable::DisabledBySysctl.may_change());
        assert!(!Unavailable::NotInKernel.may_change());
    }
}
