//! Giving an MPTCP socket plain TCP again, before it connects: the third decision the shim
//! and the seccomp supervisor share.
//!
//! MPTCP refuses some socket options TCP has ([`MPTCP_REFUSED_OPTIONS`]). A program run
//! under mptcpize that sets one before connecting would fail where it works on TCP, so the
//! shim and the supervisor can swap such a socket for the TCP socket the program asked for,
//! carrying over the options it already set ([`carry_options`]). Whether they do is the
//! user's choice ([`RefusedOptions`]), by default the option's class ([`option_class`]):
//! a needed option swaps, an advisory one keeps MPTCP and the program gets the error.

use libc::c_int;

/// `TCP_TX_DELAY` (`linux/tcp.h`), not exported by the libc crate for every target.
const TCP_TX_DELAY: c_int = 37;
/// `TCP_ULP` (`linux/tcp.h`), likewise.
const TCP_ULP: c_int = 31;

/// The `setsockopt` options an MPTCP socket refuses with `ENOPROTOOPT` or `EOPNOTSUPP`,
/// by level (measured on Linux 6.18; older kernels refused more, which the errno check of
/// [`is_refusal_errno`] covers where a list cannot).
pub const MPTCP_REFUSED_OPTIONS: [(c_int, &[c_int]); 4] = [
    (
        libc::IPPROTO_TCP,
        &[
            libc::TCP_USER_TIMEOUT,
            libc::TCP_QUICKACK,
            libc::TCP_SYNCNT,
            libc::TCP_WINDOW_CLAMP,
            libc::TCP_LINGER2,
            libc::TCP_SAVE_SYN,
            TCP_TX_DELAY,
            libc::TCP_THIN_LINEAR_TIMEOUTS,
            libc::TCP_MD5SIG,
            libc::TCP_REPAIR,
            TCP_ULP,
        ],
    ),
    (
        libc::IPPROTO_IP,
        &[
            libc::IP_TTL,
            libc::IP_RECVERR,
            libc::IP_MTU_DISCOVER,
            libc::IP_PKTINFO,
            libc::IP_MINTTL,
        ],
    ),
    (
        libc::IPPROTO_IPV6,
        &[
            libc::IPV6_TCLASS,
            libc::IPV6_UNICAST_HOPS,
            libc::IPV6_RECVERR,
            libc::IPV6_MTU_DISCOVER,
        ],
    ),
    (
        libc::SOL_SOCKET,
        &[
            libc::SO_ZEROCOPY,
            libc::SO_MAX_PACING_RATE,
            libc::SO_OOBINLINE,
            libc::SO_PEEK_OFF,
            libc::SO_TXTIME,
        ],
    ),
];

/// True when `(level, name)` is in [`MPTCP_REFUSED_OPTIONS`].
pub const fn is_refused_option(level: c_int, name: c_int) -> bool {
    let mut i = 0;
    while i < MPTCP_REFUSED_OPTIONS.len() {
        let (l, names) = MPTCP_REFUSED_OPTIONS[i];
        if l == level {
            let mut j = 0;
            while j < names.len() {
                if names[j] == name {
                    return true;
                }
                j += 1;
            }
        }
        i += 1;
    }
    false
}

/// What failing to set a refused option does to a program, as far as the shim can tell
/// from the option alone.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum OptionClass {
    /// A hint or a marking whose absence changes neither what the program's connection
    /// carries nor when it fails, and that programs set and carry on without
    /// ([`ADVISORY_OPTIONS`]): OpenSSH logs a failed `IPV6_TCLASS` and goes on.
    Advisory,
    /// Everything else: TTLs (`nc -M` exits when `IP_TTL` fails), `TCP_MD5SIG` (BGP
    /// sessions are refused without it), `TCP_USER_TIMEOUT` (when a dead peer is noticed),
    /// `TCP_ULP` (kTLS), `TCP_REPAIR`, error queues, pacing, zero-copy, and every option
    /// not listed (an older kernel refuses more than Linux 6.18).
    Needed,
}

/// The refused options whose failure programs treat as advisory, by (level, name):
/// `IPV6_TCLASS` (traffic-class marking; its IPv4 twin `IP_TOS` works on MPTCP; OpenSSH
/// and curl report the failure and go on), `TCP_QUICKACK` (a one-shot hint the kernel
/// clears by itself) and `TCP_THIN_LINEAR_TIMEOUTS` (a retransmission hint for thin
/// streams).
pub const ADVISORY_OPTIONS: [(c_int, c_int); 3] = [
    (libc::IPPROTO_IPV6, libc::IPV6_TCLASS),
    (libc::IPPROTO_TCP, libc::TCP_QUICKACK),
    (libc::IPPROTO_TCP, libc::TCP_THIN_LINEAR_TIMEOUTS),
];

/// The class of `setsockopt(level, name)` (see [`OptionClass`]).
pub const fn option_class(level: c_int, name: c_int) -> OptionClass {
    let mut i = 0;
    while i < ADVISORY_OPTIONS.len() {
        if ADVISORY_OPTIONS[i].0 == level && ADVISORY_OPTIONS[i].1 == name {
            return OptionClass::Advisory;
        }
        i += 1;
    }
    OptionClass::Needed
}

/// What the user chose to do when MPTCP refuses an option that plain TCP accepts, on a
/// socket mptcpize made MPTCP that has not connected yet: `mptcpize run
/// --refused-options=…`, passed to the shim and the seccomp supervisor in
/// [`RefusedOptions::ENV`].
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum RefusedOptions {
    /// By the option's class ([`option_class`]): swap for a needed option, keep MPTCP for
    /// an advisory one. The default.
    #[default]
    Auto,
    /// Always give the socket plain TCP with the option set: every program works as
    /// without mptcpize, and loses MPTCP on that socket.
    Swap,
    /// Never swap: the socket stays MPTCP and the program gets MPTCP's error
    /// (`EOPNOTSUPP`/`ENOPROTOOPT`), as with Debian's shim.
    Keep,
}

impl RefusedOptions {
    /// The environment variable that carries the choice: `auto`, `swap` or `keep`.
    pub const ENV: &'static str = "MPTCPIZE_REFUSED_OPTIONS";

    /// Every choice, in the order the launcher documents them.
    pub const ALL: [RefusedOptions; 3] = [
        RefusedOptions::Auto,
        RefusedOptions::Swap,
        RefusedOptions::Keep,
    ];

    /// The choice named `value` (`auto`, `swap` or `keep`, as written by the launcher),
    /// or `None` for anything else.
    pub const fn from_value(value: &[u8]) -> Option<RefusedOptions> {
        match value {
            b"auto" => Some(RefusedOptions::Auto),
            b"swap" => Some(RefusedOptions::Swap),
            b"keep" => Some(RefusedOptions::Keep),
            _ => None,
        }
    }

    /// The choice's name, as [`RefusedOptions::from_value`] reads it.
    pub const fn name(self) -> &'static str {
        match self {
            RefusedOptions::Auto => "auto",
            RefusedOptions::Swap => "swap",
            RefusedOptions::Keep => "keep",
        }
    }

    /// What to do with `setsockopt(level, name)`, refused by MPTCP and accepted by plain
    /// TCP, on a socket mptcpize made MPTCP and that has not connected yet.
    pub const fn decide(self, level: c_int, name: c_int) -> RefusedOptionDecision {
        match self {
            RefusedOptions::Swap => RefusedOptionDecision::Swap,
            RefusedOptions::Keep => RefusedOptionDecision::KeepMptcp,
            RefusedOptions::Auto => match option_class(level, name) {
                OptionClass::Needed => RefusedOptionDecision::Swap,
                OptionClass::Advisory => RefusedOptionDecision::KeepMptcp,
            },
        }
    }
}

/// The outcome of [`RefusedOptions::decide`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum RefusedOptionDecision {
    /// Put plain TCP in the socket's place and set the option there.
    Swap,
    /// Leave the socket MPTCP; the program gets MPTCP's error.
    KeepMptcp,
}

/// The name of a socket option level, for log lines.
pub const fn level_name(level: c_int) -> Option<&'static str> {
    Some(match level {
        libc::SOL_SOCKET => "SOL_SOCKET",
        libc::IPPROTO_TCP => "IPPROTO_TCP",
        libc::IPPROTO_IP => "IPPROTO_IP",
        libc::IPPROTO_IPV6 => "IPPROTO_IPV6",
        _ => return None,
    })
}

/// The name of an option of [`MPTCP_REFUSED_OPTIONS`], for log lines; `None` for others.
pub const fn refused_option_name(level: c_int, name: c_int) -> Option<&'static str> {
    Some(match (level, name) {
        (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT) => "TCP_USER_TIMEOUT",
        (libc::IPPROTO_TCP, libc::TCP_QUICKACK) => "TCP_QUICKACK",
        (libc::IPPROTO_TCP, libc::TCP_SYNCNT) => "TCP_SYNCNT",
        (libc::IPPROTO_TCP, libc::TCP_WINDOW_CLAMP) => "TCP_WINDOW_CLAMP",
        (libc::IPPROTO_TCP, libc::TCP_LINGER2) => "TCP_LINGER2",
        (libc::IPPROTO_TCP, libc::TCP_SAVE_SYN) => "TCP_SAVE_SYN",
        (libc::IPPROTO_TCP, TCP_TX_DELAY) => "TCP_TX_DELAY",
        (libc::IPPROTO_TCP, libc::TCP_THIN_LINEAR_TIMEOUTS) => "TCP_THIN_LINEAR_TIMEOUTS",
        (libc::IPPROTO_TCP, libc::TCP_MD5SIG) => "TCP_MD5SIG",
        (libc::IPPROTO_TCP, libc::TCP_REPAIR) => "TCP_REPAIR",
        (libc::IPPROTO_TCP, TCP_ULP) => "TCP_ULP",
        (libc::IPPROTO_IP, libc::IP_TTL) => "IP_TTL",
        (libc::IPPROTO_IP, libc::IP_RECVERR) => "IP_RECVERR",
        (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER) => "IP_MTU_DISCOVER",
        (libc::IPPROTO_IP, libc::IP_PKTINFO) => "IP_PKTINFO",
        (libc::IPPROTO_IP, libc::IP_MINTTL) => "IP_MINTTL",
        (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) => "IPV6_TCLASS",
        (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS) => "IPV6_UNICAST_HOPS",
        (libc::IPPROTO_IPV6, libc::IPV6_RECVERR) => "IPV6_RECVERR",
        (libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER) => "IPV6_MTU_DISCOVER",
        (libc::SOL_SOCKET, libc::SO_ZEROCOPY) => "SO_ZEROCOPY",
        (libc::SOL_SOCKET, libc::SO_MAX_PACING_RATE) => "SO_MAX_PACING_RATE",
        (libc::SOL_SOCKET, libc::SO_OOBINLINE) => "SO_OOBINLINE",
        (libc::SOL_SOCKET, libc::SO_PEEK_OFF) => "SO_PEEK_OFF",
        (libc::SOL_SOCKET, libc::SO_TXTIME) => "SO_TXTIME",
        _ => return None,
    })
}

/// True when a failed `setsockopt` on an MPTCP socket may be MPTCP's refusal
/// (`ENOPROTOOPT` or `EOPNOTSUPP`), so that plain TCP is worth trying.
#[inline]
pub const fn is_refusal_errno(errno: c_int) -> bool {
    errno == libc::ENOPROTOOPT || errno == libc::EOPNOTSUPP
}

/// `TCP_CLOSE` in `tcp_info.tcpi_state`: neither connecting, connected nor listening.
pub const TCP_STATE_CLOSE: u8 = 7;

/// True when an MPTCP socket has never started a connection and is not listening, so that
/// swapping it for TCP changes nothing on the wire: its first subflow's `tcpi_state`
/// (`TCP_INFO`) is `TCP_CLOSE` *and* its `mptcpi_token` (`MPTCP_INFO`) is 0 — `connect()`
/// sets the token (and a failed one clears it again). The state alone is not enough: a
/// connection the peer closed is `TCP_CLOSE` too, and may hold data still to be read.
/// `token` is `None` where `MPTCP_INFO` could not be read (Linux < 5.16, or fell back):
/// then the answer is no.
pub const fn never_connected(tcp_state: u8, token: Option<u32>) -> bool {
    matches!(token, Some(0)) && tcp_state == TCP_STATE_CLOSE
}

/// [`never_connected`] for a socket, read through the caller's `getsockopt` (the shim must
/// bypass its own hooks; the supervisor reads a socket taken from another process):
/// `getsockopt(level, name, buf)` fills `buf` and returns the length the kernel wrote, or
/// `None` when the call failed.
///
/// Reads the first byte of `TCP_INFO` (`tcpi_state`) and `mptcpi_token` of `MPTCP_INFO`.
pub fn socket_never_connected(
    mut getsockopt: impl FnMut(c_int, c_int, &mut [u8]) -> Option<usize>,
) -> bool {
    let mut tcp_info = [0u8; 8];
    match getsockopt(libc::IPPROTO_TCP, libc::TCP_INFO, &mut tcp_info) {
        Some(len) if len >= 1 => {}
        _ => return false,
    }
    const TOKEN: usize = core::mem::offset_of!(mptcp_sys::mptcp_info, mptcpi_token);
    let mut info = [0u8; TOKEN + 4];
    let token = match getsockopt(mptcp_sys::SOL_MPTCP, mptcp_sys::MPTCP_INFO, &mut info) {
        Some(len) if len >= info.len() => Some(u32::from_ne_bytes([
            info[TOKEN],
            info[TOKEN + 1],
            info[TOKEN + 2],
            info[TOKEN + 3],
        ])),
        _ => None,
    };
    never_connected(tcp_info[0], token)
}

/// True when `addr` (from `getsockname(2)`) names a bound socket: a port, or a specific
/// address (`IP_BIND_ADDRESS_NO_PORT` binds an address without a port). The replacement
/// must then be bound to the same address.
pub fn is_bound(addr: &libc::sockaddr_storage) -> bool {
    match c_int::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in, which fits in the storage.
            let a =
                unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            a.sin_port != 0 || a.sin_addr.s_addr != 0
        }
        libc::AF_INET6 => {
            // SAFETY: as above, sockaddr_in6.
            let a =
                unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            a.sin6_port != 0 || a.sin6_addr.s6_addr != [0; 16]
        }
        _ => false,
    }
}

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
    fn refused_options_table() {
        assert!(is_refused_option(libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT));
        assert!(is_refused_option(libc::IPPROTO_IPV6, libc::IPV6_TCLASS));
        assert!(is_refused_option(libc::IPPROTO_IP, libc::IP_TTL));
        assert!(!is_refused_option(libc::IPPROTO_TCP, libc::TCP_NODELAY));
        assert!(!is_refused_option(libc::IPPROTO_IP, libc::TCP_USER_TIMEOUT));
        assert!(is_refusal_errno(libc::ENOPROTOOPT) && is_refusal_errno(libc::EOPNOTSUPP));
        assert!(!is_refusal_errno(libc::EINVAL));
        // No carried option is one MPTCP refuses (it could not have been set).
        for (level, name, _) in CARRIED_OPTIONS.iter().chain(&CARRIED_OPTIONS_V6) {
            assert!(!is_refused_option(*level, *name));
        }
    }

    #[test]
    fn option_classes_and_choices() {
        use RefusedOptionDecision::{KeepMptcp, Swap};
        // Every advisory option is one MPTCP refuses; the rest of the table is needed.
        for (level, name) in ADVISORY_OPTIONS {
            assert!(is_refused_option(level, name));
        }
        for (level, names) in MPTCP_REFUSED_OPTIONS {
            for &name in names {
                assert!(refused_option_name(level, name).is_some(), "{level} {name}");
                assert!(level_name(level).is_some());
                let advisory = ADVISORY_OPTIONS.contains(&(level, name));
                assert_eq!(option_class(level, name) == OptionClass::Advisory, advisory);
                assert_eq!(RefusedOptions::Swap.decide(level, name), Swap);
                assert_eq!(RefusedOptions::Keep.decide(level, name), KeepMptcp);
                assert_eq!(
                    RefusedOptions::Auto.decide(level, name),
                    if advisory { KeepMptcp } else { Swap }
                );
            }
        }
        let (v6, ip, tcp) = (libc::IPPROTO_IPV6, libc::IPPROTO_IP, libc::IPPROTO_TCP);
        // OpenSSH's traffic class keeps MPTCP; nc -M's TTL, gRPC's user timeout, BGP's
        // MD5 signatures and kTLS do not.
        assert_eq!(
            RefusedOptions::Auto.decide(v6, libc::IPV6_TCLASS),
            KeepMptcp
        );
        for (level, name) in [
            (ip, libc::IP_TTL),
            (tcp, libc::TCP_USER_TIMEOUT),
            (tcp, libc::TCP_MD5SIG),
            (tcp, TCP_ULP),
            (tcp, libc::TCP_REPAIR),
            // Not in the table (an older kernel refusing it): needed.
            (tcp, libc::TCP_MAXSEG),
        ] {
            assert_eq!(RefusedOptions::Auto.decide(level, name), Swap);
        }
        assert_eq!(RefusedOptions::default(), RefusedOptions::Auto);
        for choice in RefusedOptions::ALL {
            assert_eq!(
                RefusedOptions::from_value(choice.name().as_bytes()),
                Some(choice)
            );
        }
        for bad in [&b""[..], b"Swap", b"swap ", b"1", b"auto,keep"] {
            assert_eq!(RefusedOptions::from_value(bad), None);
        }
    }

    #[test]
    fn never_connected_needs_both_facts() {
        assert!(never_connected(TCP_STATE_CLOSE, Some(0)));
        assert!(
            !never_connected(TCP_STATE_CLOSE, Some(0x1234)),
            "closed by the peer"
        );
        assert!(!never_connected(TCP_STATE_CLOSE, None), "no MPTCP_INFO");
        assert!(!never_connected(10, Some(0)), "listening");
    }

    #[test]
    fn socket_never_connected_reads_state_and_token() {
        let answer = |state: u8, token: Option<u32>| {
            move |level: c_int, name: c_int, buf: &mut [u8]| -> Option<usize> {
                if (level, name) == (libc::IPPROTO_TCP, libc::TCP_INFO) {
                    buf[0] = state;
                    return Some(buf.len());
                }
                assert_eq!((level, name), (mptcp_sys::SOL_MPTCP, mptcp_sys::MPTCP_INFO));
                let token = token?;
                let at = core::mem::offset_of!(mptcp_sys::mptcp_info, mptcpi_token);
                buf[at..at + 4].copy_from_slice(&token.to_ne_bytes());
                Some(buf.len())
            }
        };
        assert!(socket_never_connected(answer(TCP_STATE_CLOSE, Some(0))));
        assert!(!socket_never_connected(answer(TCP_STATE_CLOSE, Some(7))));
        assert!(!socket_never_connected(answer(TCP_STATE_CLOSE, None)));
        assert!(!socket_never_connected(answer(1, Some(0))));
        assert!(!socket_never_connected(|_, _, _| None));
    }

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
