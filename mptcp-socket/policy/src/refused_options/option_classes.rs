//! Which options MPTCP refuses ([`MPTCP_REFUSED_OPTIONS`]), what each does on plain TCP
//! ([`OptionClass`], [`REFUSED_OPTIONS`]), which values change nothing, and their names for
//! log lines.

use libc::c_int;

/// `TCP_TX_DELAY` (`linux/tcp.h`), not exported by the libc crate for every target.
const TCP_TX_DELAY: c_int = 37;
/// `TCP_ULP` (`linux/tcp.h`), likewise.
pub(super) const TCP_ULP: c_int = 31;

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

/// What an option MPTCP refuses does on plain TCP, as far as keeping or losing MPTCP goes
/// under `--refused-options=auto` (see [`RefusedOptions::decide`](super::RefusedOptions::decide)).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum OptionClass {
    /// A hint or a marking whose absence changes neither what the connection carries nor
    /// when it fails: the socket keeps MPTCP and the call succeeds (with the kernel's
    /// equivalent applied where MPTCP has one, [`RefusedOption::equivalent`]).
    Advisory,
    /// Changes how fast or how thriftily a connection runs (a window cap, a pacing-rate
    /// cap, an added transmit delay, how long an orphaned closing socket lingers), never
    /// what it carries or whether it fails. On a socket that is or will be a listener,
    /// plain TCP would cost every future connection its MPTCP: the socket keeps MPTCP and the
    /// call succeeds without effect. On a client socket, plain TCP costs one connection and
    /// gives the program what it asked for: the socket is swapped.
    Tuning,
    /// Everything else: what the connection carries or when it fails depends on it
    /// (TTLs, `TCP_USER_TIMEOUT`, `TCP_MD5SIG`, `TCP_ULP`, `TCP_REPAIR`, error queues,
    /// zero-copy, …), and every option not in [`REFUSED_OPTIONS`] (an older kernel refusing
    /// more than Linux 6.18): a value with an effect swaps the socket for plain TCP.
    Needed,
}

/// One option of [`REFUSED_OPTIONS`], with what the kernel does with it on plain TCP. Only
/// integers, so that the table needs no relocation when the shim is loaded (a table of
/// pointers costs the dynamic loader one relocation each, in every program); the names and
/// reasons are [`refused_option_name`] and [`refused_option_why`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RefusedOption {
    /// `setsockopt` level (`IPPROTO_TCP`, `IPPROTO_IP`, `IPPROTO_IPV6`, `SOL_SOCKET`).
    pub level: c_int,
    /// Option name at that level.
    pub name: c_int,
    /// What losing it costs.
    pub class: OptionClass,
    /// `int` values that leave a fresh TCP socket as it was, by the kernel's own meaning of
    /// the option (`TCP_USER_TIMEOUT` 0 and `IP_TTL` -1: "the system default"). An 8-byte
    /// value (`SO_MAX_PACING_RATE`'s `u64`) is compared as an `i64`.
    pub unchanged_values: [Option<i64>; 2],
    /// `getsockopt` answers in the units `setsockopt` takes, so setting what a fresh TCP
    /// socket reports (`IP_TTL` 64 where `net.ipv4.ip_default_ttl` is 64) changes nothing.
    /// False where the two differ (`TCP_REPAIR`, `SO_TXTIME`) or where setting any value
    /// has an effect of its own (`TCP_REPAIR` 0 resets `SO_REUSEADDR`).
    pub current_value_unchanged: bool,
    /// An option MPTCP accepts that does the same job for part of the traffic, (level,
    /// name), set with the program's value instead (`IPV6_TCLASS` → `IP_TOS`, which marks
    /// the IPv4 subflows: Linux has no MPTCP traffic class, upstream issue
    /// mptcp_net-next#568).
    pub equivalent: Option<(c_int, c_int)>,
}

impl RefusedOption {
    /// The option's C name ([`refused_option_name`]).
    pub const fn label(&self) -> &'static str {
        match refused_option_name(self.level, self.name) {
            Some(label) => label,
            None => "",
        }
    }

    /// Why its class fits ([`refused_option_why`]).
    pub const fn why(&self) -> &'static str {
        match refused_option_why(self.level, self.name) {
            Some(why) => why,
            None => "",
        }
    }
}

const fn unchanged(values: &[i64]) -> [Option<i64>; 2] {
    let mut out = [None; 2];
    let mut i = 0;
    while i < values.len() {
        out[i] = Some(values[i]);
        i += 1;
    }
    out
}

/// Writes [`REFUSED_OPTIONS`], [`refused_option_name`] and [`refused_option_why`] from one
/// list: (level, name, C name, class, unchanged values, current value unchanged,
/// equivalent, why).
macro_rules! refused_option_rows {
    ($( ($level:expr, $name:expr, $label:literal, $class:ident, [$($unchanged:expr),*],
         $current:expr, $equivalent:expr, $why:literal), )*) => {
        /// Every option of [`MPTCP_REFUSED_OPTIONS`], with its class and the values that change
        /// nothing. Values and classes follow the kernel's `do_tcp_setsockopt`,
        /// `do_ip_setsockopt`, `do_ipv6_setsockopt` and `sk_setsockopt` (Linux 6.18); what a
        /// fresh TCP socket reports for each was measured (`mptcpize/tests/refused_options.rs`
        /// checks each row on the running kernel, with and without mptcpize).
        pub const REFUSED_OPTIONS: [RefusedOption; 25] = [$(
            RefusedOption {
                level: $level,
                name: $name,
                class: OptionClass::$class,
                unchanged_values: unchanged(&[$($unchanged),*]),
                current_value_unchanged: $current,
                equivalent: $equivalent,
            },
        )*];

        /// The name of an option of [`MPTCP_REFUSED_OPTIONS`], for log lines; `None` for
        /// others.
        pub const fn refused_option_name(level: c_int, name: c_int) -> Option<&'static str> {
            $( if level == $level && name == $name { return Some($label); } )*
            None
        }

        /// Why an option of [`REFUSED_OPTIONS`] is in its class (what it does on TCP, so what
        /// its absence costs): one line, for the README.
        pub const fn refused_option_why(level: c_int, name: c_int) -> Option<&'static str> {
            $( if level == $level && name == $name { return Some($why); } )*
            None
        }
    };
}

refused_option_rows! {
    (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT", Needed, [0], true, None,
        "decides when unacknowledged data makes the connection fail; 0 is the kernel's default (no user timeout)"),
    (libc::IPPROTO_TCP, libc::TCP_QUICKACK, "TCP_QUICKACK", Advisory, [], true, None,
        "when ACKs are sent (at once or delayed): a one-shot hint the kernel clears by itself; every byte is still acknowledged"),
    (libc::IPPROTO_TCP, libc::TCP_SYNCNT, "TCP_SYNCNT", Needed, [], true, None,
        "how many SYNs before connect() fails: when the connection fails"),
    (libc::IPPROTO_TCP, libc::TCP_WINDOW_CLAMP, "TCP_WINDOW_CLAMP", Tuning, [0], true, None,
        "caps the advertised window: throughput only; 0 before connecting is the default"),
    (libc::IPPROTO_TCP, libc::TCP_LINGER2, "TCP_LINGER2", Tuning, [0], true, None,
        "how long an orphaned socket waits in FIN_WAIT2 after the program closed it; 0 means the sysctl tcp_fin_timeout; a negative value (RST instead of waiting) is needed"),
    (libc::IPPROTO_TCP, libc::TCP_SAVE_SYN, "TCP_SAVE_SYN", Needed, [0], true, None,
        "keeps the SYN for TCP_SAVED_SYN, which the program reads"),
    (libc::IPPROTO_TCP, TCP_TX_DELAY, "TCP_TX_DELAY", Tuning, [0], true, None,
        "delays every transmission by a fixed time (testing): timing only"),
    (libc::IPPROTO_TCP, libc::TCP_THIN_LINEAR_TIMEOUTS, "TCP_THIN_LINEAR_TIMEOUTS", Advisory, [0], true, None,
        "retransmits a thin stream sooner; when the connection fails is computed from the exponential back-off whatever this says (tcp_retries2, TCP_USER_TIMEOUT)"),
    (libc::IPPROTO_TCP, libc::TCP_MD5SIG, "TCP_MD5SIG", Needed, [], false, None,
        "RFC 2385 signatures: the peer drops unsigned segments (BGP)"),
    (libc::IPPROTO_TCP, libc::TCP_REPAIR, "TCP_REPAIR", Needed, [], false, None,
        "checkpoint/restore of a connection; even 0 resets SO_REUSEADDR"),
    (libc::IPPROTO_TCP, TCP_ULP, "TCP_ULP", Needed, [], false, None,
        "an upper-layer protocol (kTLS): what the connection carries"),
    (libc::IPPROTO_IP, libc::IP_TTL, "IP_TTL", Needed, [-1], true, None,
        "the TTL of every packet (nc -M, GTSM peers check it); -1 is the default"),
    (libc::IPPROTO_IP, libc::IP_RECVERR, "IP_RECVERR", Needed, [0], true, None,
        "queues ICMP errors for MSG_ERRQUEUE, which the program reads"),
    (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, "IP_MTU_DISCOVER", Needed, [], true, None,
        "the DF bit and path-MTU discovery: whether packets get through"),
    (libc::IPPROTO_IP, libc::IP_PKTINFO, "IP_PKTINFO", Advisory, [0], true, None,
        "TCP's recvmsg returns no IP ancillary data (only UDP and raw sockets deliver IP_PKTINFO): no effect on TCP either"),
    (libc::IPPROTO_IP, libc::IP_MINTTL, "IP_MINTTL", Needed, [0], true, None,
        "drops packets below a TTL (RFC 5082 GTSM): a security check"),
    (libc::IPPROTO_IPV6, libc::IPV6_TCLASS, "IPV6_TCLASS", Advisory, [-1, 0], true, Some((libc::IPPROTO_IP, libc::IP_TOS)),
        "a DSCP/ECN marking routers may honour: never what is carried nor when it fails; IP_TOS, which MPTCP accepts, marks the IPv4 subflows"),
    (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS", Needed, [-1], true, None,
        "the hop limit of every packet; -1 is the default"),
    (libc::IPPROTO_IPV6, libc::IPV6_RECVERR, "IPV6_RECVERR", Needed, [0], true, None,
        "queues ICMPv6 errors for MSG_ERRQUEUE, which the program reads"),
    (libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER, "IPV6_MTU_DISCOVER", Needed, [], true, None,
        "path-MTU discovery: whether packets get through"),
    (libc::SOL_SOCKET, libc::SO_ZEROCOPY, "SO_ZEROCOPY", Needed, [0], true, None,
        "MSG_ZEROCOPY sends and their completions on the error queue, which the program waits for"),
    (libc::SOL_SOCKET, libc::SO_MAX_PACING_RATE, "SO_MAX_PACING_RATE", Tuning, [-1], true, None,
        "caps the sending rate: throughput only; ~0 is unlimited, the default"),
    (libc::SOL_SOCKET, libc::SO_OOBINLINE, "SO_OOBINLINE", Needed, [0], true, None,
        "urgent data in the stream or apart: what the program reads"),
    (libc::SOL_SOCKET, libc::SO_PEEK_OFF, "SO_PEEK_OFF", Needed, [-1], true, None,
        "where MSG_PEEK reads: what the program reads; -1 is off, the default"),
    (libc::SOL_SOCKET, libc::SO_TXTIME, "SO_TXTIME", Needed, [], false, None,
        "transmit times from SCM_TXTIME"),
}

/// The row of [`REFUSED_OPTIONS`] for `setsockopt(level, name)`, if it is one.
pub const fn refused_option(level: c_int, name: c_int) -> Option<RefusedOption> {
    let mut i = 0;
    while i < REFUSED_OPTIONS.len() {
        if REFUSED_OPTIONS[i].level == level && REFUSED_OPTIONS[i].name == name {
            return Some(REFUSED_OPTIONS[i]);
        }
        i += 1;
    }
    None
}

/// The class of `setsockopt(level, name)` (see [`OptionClass`]), for any value. A
/// negative `TCP_LINGER2` is [`OptionClass::Needed`] whatever the table says (see
/// [`value_class`]).
pub const fn option_class(level: c_int, name: c_int) -> OptionClass {
    match refused_option(level, name) {
        Some(option) => option.class,
        None => OptionClass::Needed,
    }
}

/// The class of setting `setsockopt(level, name)` to the `int` value `value`: the option's
/// class, except that a negative `TCP_LINGER2` (close an orphan in FIN_WAIT2 at once, with a
/// reset) changes what goes on the wire, so it is needed.
pub const fn value_class(level: c_int, name: c_int, value: Option<i64>) -> OptionClass {
    if level == libc::IPPROTO_TCP && name == libc::TCP_LINGER2 {
        if let Some(v) = value {
            if v < 0 {
                return OptionClass::Needed;
            }
        }
    }
    option_class(level, name)
}

/// An option's value as the kernel reads an integer option: 4 bytes as an `int`, 8 bytes as
/// a 64-bit value (`SO_MAX_PACING_RATE` takes either); `None` for any other length (a
/// struct, a string, or a length the kernel rejects).
pub fn int_value(value: &[u8]) -> Option<i64> {
    match *value {
        [a, b, c, d] => Some(i64::from(i32::from_ne_bytes([a, b, c, d]))),
        [a, b, c, d, e, f, g, h] => Some(i64::from_ne_bytes([a, b, c, d, e, f, g, h])),
        _ => None,
    }
}

/// True when setting `setsockopt(level, name)` to `value` leaves a TCP socket as it was:
/// `value` is one of the option's [`RefusedOption::unchanged_values`], or equals
/// `tcp_current`, what `getsockopt` reported on a fresh TCP socket of the same family
/// before the option was set there, where the option's get and set agree
/// ([`RefusedOption::current_value_unchanged`]). An MPTCP socket holds none of these
/// options, so the value a fresh TCP socket reports is also the MPTCP socket's own.
pub fn value_changes_nothing(
    level: c_int,
    name: c_int,
    value: &[u8],
    tcp_current: Option<&[u8]>,
) -> bool {
    let (Some(option), Some(v)) = (refused_option(level, name), int_value(value)) else {
        return false;
    };
    let mut i = 0;
    while i < option.unchanged_values.len() {
        if matches!(option.unchanged_values[i], Some(u) if u == v) {
            return true;
        }
        i += 1;
    }
    option.current_value_unchanged && tcp_current.and_then(int_value) == Some(v)
}

/// The name of an option of [`MPTCP_REFUSED_OPTIONS`] or of an equivalent
/// ([`RefusedOption::equivalent`]), for log lines.
pub const fn option_label(level: c_int, name: c_int) -> &'static str {
    if level == libc::IPPROTO_IP && name == libc::IP_TOS {
        return "IP_TOS";
    }
    match refused_option_name(level, name) {
        Some(label) => label,
        None => "an option",
    }
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

/// True when a failed `setsockopt` on an MPTCP socket may be MPTCP's refusal
/// (`ENOPROTOOPT` or `EOPNOTSUPP`), so that plain TCP is worth trying.
#[inline]
pub const fn is_refusal_errno(errno: c_int) -> bool {
    errno == libc::ENOPROTOOPT || errno == libc::EOPNOTSUPP
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refused_options::{CARRIED_OPTIONS, CARRIED_OPTIONS_V6};

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
    fn the_table_covers_every_refused_option() {
        let mut rows = 0;
        for (level, names) in MPTCP_REFUSED_OPTIONS {
            for &name in names {
                let row = refused_option(level, name).expect("a row per refused option");
                assert_eq!(refused_option_name(level, name), Some(row.label()));
                assert!(level_name(level).is_some());
                rows += 1;
            }
        }
        assert_eq!(rows, REFUSED_OPTIONS.len());
        for row in REFUSED_OPTIONS {
            assert!(is_refused_option(row.level, row.name), "{}", row.label());
            assert!(!row.why().is_empty());
            // An equivalent is an option MPTCP accepts (it is not in the refused list).
            if let Some((l, n)) = row.equivalent {
                assert!(!is_refused_option(l, n));
            }
        }
    }

    #[test]
    fn values_that_change_nothing() {
        use libc::{
            IPPROTO_IP as IP, IPPROTO_IPV6 as V6, IPPROTO_TCP as TCP, SOL_SOCKET as SOL, *,
        };
        const fn int(v: i32) -> [u8; 4] {
            v.to_ne_bytes()
        }
        let pacing_u64 = u64::MAX.to_ne_bytes();
        /// (level, name, value set, what a fresh TCP socket reports, changes nothing?)
        type Case<'a> = (c_int, c_int, &'a [u8], Option<[u8; 4]>, bool);
        let cases: [Case; 15] = [
            // The kernel's own "default" values, whatever TCP reports.
            (TCP, TCP_USER_TIMEOUT, &int(0), None, true),
            (IP, IP_TTL, &int(-1), None, true),
            (V6, IPV6_UNICAST_HOPS, &int(-1), None, true),
            (V6, IPV6_TCLASS, &int(-1), None, true),
            (V6, IPV6_TCLASS, &int(0), None, true),
            (SOL, SO_PEEK_OFF, &int(-1), None, true),
            (SOL, SO_MAX_PACING_RATE, &int(-1), None, true),
            // SO_MAX_PACING_RATE as a u64 of ~0.
            (SOL, SO_MAX_PACING_RATE, &pacing_u64, None, true),
            // What a fresh TCP socket reports: IP_TTL 64, TCP_SYNCNT 6.
            (IP, IP_TTL, &int(64), Some(int(64)), true),
            (TCP, TCP_SYNCNT, &int(6), Some(int(6)), true),
            (IP, IP_TTL, &int(5), Some(int(64)), false),
            (TCP, TCP_USER_TIMEOUT, &int(120_000), Some(int(0)), false),
            // Options whose get and set differ: never "unchanged" by what TCP reports.
            (TCP, TCP_REPAIR, &int(0), Some(int(0)), false),
            // A length the kernel reads as no int: no claim.
            (TCP, TCP_USER_TIMEOUT, &[0], Some(int(0)), false),
            // Not a refused option: no claim.
            (TCP, TCP_NODELAY, &int(0), Some(int(0)), false),
        ];
        for (level, name, value, tcp_current, unchanged) in cases {
            assert_eq!(
                value_changes_nothing(level, name, value, tcp_current.as_ref().map(|c| &c[..])),
                unchanged,
                "setsockopt({level}, {name}, {value:?}), TCP reports {tcp_current:?}"
            );
        }
    }
}
