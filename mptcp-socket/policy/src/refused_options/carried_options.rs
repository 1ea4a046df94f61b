//! The options a swap carries from the MPTCP socket to the plain TCP socket that takes its
//! place ([`carry_options`]).

use libc::c_int;

/// How an option's value is carried from the MPTCP socket to its TCP replacement.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CarriedValue {
    /// An `int`, set as read.
    Int,
    /// A buffer size: the kernel reports twice what was set, so half is set back.
    BufferSize,
    /// Bytes (a struct or a string) of at most 16 bytes, set as read.
    Bytes,
}

/// Options read from the MPTCP socket and set on the TCP one when they differ from the new
/// socket's defaults (so nothing the program did not set is forced, e.g. buffer autotuning).
pub const CARRIED_OPTIONS: [(c_int, c_int, CarriedValue); 22] = [
    (libc::SOL_SOCKET, libc::SO_REUSEADDR, CarriedValue::Int),
    (libc::SOL_SOCKET, libc::SO_REUSEPORT, CarriedValue::Int),
    (libc::SOL_SOCKET, libc::SO_KEEPALIVE, CarriedValue::Int),
    (libc::SOL_SOCKET, libc::SO_PRIORITY, CarriedValue::Int),
    (libc::SOL_SOCKET, libc::SO_MARK, CarriedValue::Int),
    (libc::SOL_SOCKET, libc::SO_RCVLOWAT, CarriedValue::Int),
    (libc::SOL_SOCKET, libc::SO_RCVBUF, CarriedValue::BufferSize),
    (libc::SOL_SOCKET, libc::SO_SNDBUF, CarriedValue::BufferSize),
    (libc::SOL_SOCKET, libc::SO_LINGER, CarriedValue::Bytes),
    (libc::SOL_SOCKET, libc::SO_RCVTIMEO, CarriedValue::Bytes),
    (libc::SOL_SOCKET, libc::SO_SNDTIMEO, CarriedValue::Bytes),
    (libc::SOL_SOCKET, libc::SO_BINDTODEVICE, CarriedValue::Bytes),
    (libc::IPPROTO_TCP, libc::TCP_NODELAY, CarriedValue::Int),
    (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, CarriedValue::Int),
    (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, CarriedValue::Int),
    (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, CarriedValue::Int),
    (
        libc::IPPROTO_TCP,
        libc::TCP_NOTSENT_LOWAT,
        CarriedValue::Int,
    ),
    (libc::IPPROTO_TCP, libc::TCP_CONGESTION, CarriedValue::Bytes),
    (libc::IPPROTO_IP, libc::IP_TOS, CarriedValue::Int),
    (libc::IPPROTO_IP, libc::IP_FREEBIND, CarriedValue::Int),
    (libc::IPPROTO_IP, libc::IP_TRANSPARENT, CarriedValue::Int),
    (
        libc::IPPROTO_IP,
        libc::IP_BIND_ADDRESS_NO_PORT,
        CarriedValue::Int,
    ),
];

/// Carried on IPv6 sockets only: `IPV6_V6ONLY` decides which connections a dual-stack
/// listener accepts.
pub const CARRIED_OPTIONS_V6: [(c_int, c_int, CarriedValue); 1] =
    [(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, CarriedValue::Int)];

/// Carries [`CARRIED_OPTIONS`] (and on IPv6 [`CARRIED_OPTIONS_V6`]) from the old socket to
/// the new one, through the caller's `getsockopt`/`setsockopt` (the shim must bypass its own
/// hooks; the supervisor reads another process's socket).
///
/// `get_old`/`get_new` read an option into a 16-byte buffer and return its length (`None`
/// when the socket refuses it); `set_new` sets one. An option is set only where the old
/// value differs from the new socket's default; a refusal by the new socket leaves the
/// default (best effort: the program's own `setsockopt` follows).
pub fn carry_options(
    ipv6: bool,
    mut get_old: impl FnMut(c_int, c_int, &mut [u8; 16]) -> Option<usize>,
    mut get_new: impl FnMut(c_int, c_int, &mut [u8; 16]) -> Option<usize>,
    mut set_new: impl FnMut(c_int, c_int, &[u8]),
) {
    let v6: &[(c_int, c_int, CarriedValue)] = if ipv6 { &CARRIED_OPTIONS_V6 } else { &[] };
    for &(level, name, kind) in CARRIED_OPTIONS.iter().chain(v6) {
        let (mut old, mut new) = ([0u8; 16], [0u8; 16]);
        let (Some(old_len), Some(new_len)) = (
            get_old(level, name, &mut old),
            get_new(level, name, &mut new),
        ) else {
            continue;
        };
        if old_len == new_len && old == new {
            continue;
        }
        let mut len = old_len.min(old.len());
        if kind != CarriedValue::Bytes {
            if old_len != size_of::<c_int>() {
                continue;
            }
            let mut v = c_int::from_ne_bytes([old[0], old[1], old[2], old[3]]);
            if kind == CarriedValue::BufferSize {
                v /= 2;
            }
            old[..4].copy_from_slice(&v.to_ne_bytes());
        }
        if level == libc::IPPROTO_TCP && name == libc::TCP_CONGESTION {
            // The algorithm's name without its NUL padding.
            len = old.iter().position(|&b| b == 0).unwrap_or(old.len());
        }
        set_new(level, name, &old[..len]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_only_what_differs_with_sizes_halved() {
        let mut set = [(0, 0, [0u8; 16], 0usize); 8];
        let mut n = 0;
        carry_options(
            true,
            |level, name, buf| {
                let v: c_int = match (level, name) {
                    (libc::SOL_SOCKET, libc::SO_RCVBUF) => 8192,
                    (libc::IPPROTO_TCP, libc::TCP_NODELAY) => 1,
                    (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) => 1,
                    (libc::IPPROTO_TCP, libc::TCP_CONGESTION) => {
                        buf[..5].copy_from_slice(b"cubic");
                        return Some(16);
                    }
                    _ => 0,
                };
                buf[..4].copy_from_slice(&v.to_ne_bytes());
                Some(4)
            },
            |level, name, buf| {
                if (level, name) == (libc::IPPROTO_TCP, libc::TCP_CONGESTION) {
                    buf[..3].copy_from_slice(b"bbr");
                    return Some(16);
                }
                Some(4)
            },
            |level, name, value| {
                set[n].0 = level;
                set[n].1 = name;
                set[n].2[..value.len()].copy_from_slice(value);
                set[n].3 = value.len();
                n += 1;
            },
        );
        assert_eq!(n, 4);
        let find = |level, name| {
            set[..n]
                .iter()
                .find(|s| s.0 == level && s.1 == name)
                .unwrap()
        };
        let rcvbuf = find(libc::SOL_SOCKET, libc::SO_RCVBUF);
        assert_eq!(
            &rcvbuf.2[..4],
            &4096i32.to_ne_bytes(),
            "the kernel doubles it"
        );
        assert_eq!(find(libc::IPPROTO_TCP, libc::TCP_NODELAY).3, 4);
        assert_eq!(find(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY).3, 4);
        let cc = find(libc::IPPROTO_TCP, libc::TCP_CONGESTION);
        assert_eq!(&cc.2[..cc.3], b"cubic");
    }
}
