//! The user's choice ([`RefusedOptions`]) and what it decides for one refused option
//! ([`RefusedOptions::decide`]): swap the socket for plain TCP, keep MPTCP and succeed, or
//! keep MPTCP with its error.

use libc::c_int;

use super::{
    int_value, option_label, refused_option, value_changes_nothing, value_class, OptionClass,
    RefusedOption, Role,
};

/// What to do with an option MPTCP refused and plain TCP accepts ([`RefusedOptions::decide`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Put plain TCP in the socket's place and set the option there; the call succeeds.
    Swap,
    /// Keep MPTCP; the call succeeds without effect (errno untouched).
    SucceedWithoutEffect,
    /// Keep MPTCP, set this option (level, name, label), which MPTCP accepts, with the
    /// program's value instead; the call succeeds.
    SetEquivalent(c_int, c_int, &'static str),
    /// Keep MPTCP; the program gets MPTCP's error.
    ReturnMptcpError,
}

/// Which rule decided ([`RefusedOptions::decide`]), for `-d`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// `--refused-options=swap`.
    ChoseSwap,
    /// `--refused-options=keep`.
    ChoseKeep,
    /// The value changes nothing on TCP ([`value_changes_nothing`]).
    UnchangedValue,
    /// An [`OptionClass::Advisory`] option.
    Advisory,
    /// An [`OptionClass::Tuning`] option on a listener (to be).
    TuningOnListener,
    /// An [`OptionClass::Tuning`] option on a client socket.
    TuningOnClient,
    /// An [`OptionClass::Needed`] option with an effect.
    Needed,
    /// The socket would be swapped, but it has connected or listened already.
    TooLateToSwap,
}

impl Rule {
    /// One phrase for log lines.
    pub const fn describe(self) -> &'static str {
        match self {
            Rule::ChoseSwap => "--refused-options=swap",
            Rule::ChoseKeep => "--refused-options=keep",
            Rule::UnchangedValue => {
                "the value changes nothing (the default, or what the socket has)"
            }
            Rule::Advisory => "advisory option",
            Rule::TuningOnListener => {
                "tuning option on a listener (plain TCP would cost every connection it accepts)"
            }
            Rule::TuningOnClient => {
                "tuning option on a client (plain TCP costs this one connection)"
            }
            Rule::Needed => "needed option with a real effect",
            Rule::TooLateToSwap => "needs plain TCP, too late (connected or listening)",
        }
    }
}

/// The outcome of [`RefusedOptions::decide`]: what to do, and why.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Decision {
    /// What to do.
    pub action: Action,
    /// The rule that decided.
    pub rule: Rule,
}

/// What the user chose to do when MPTCP refuses an option that plain TCP accepts, on a
/// socket mptcpize made MPTCP: `mptcpize run --refused-options=…`, passed to the shim and
/// the seccomp supervisor in [`RefusedOptions::ENV`].
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum RefusedOptions {
    /// Keep MPTCP and keep the program working wherever both are possible (see
    /// [`RefusedOptions::decide`]). The default.
    #[default]
    Auto,
    /// Always give the socket plain TCP with the option set, while it has not connected:
    /// every program works as without mptcpize, and loses MPTCP on that socket.
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

    /// What to do with `setsockopt(level, name, value)`, refused by MPTCP and accepted by
    /// plain TCP (the caller asked a fresh TCP socket first), on a socket mptcpize made MPTCP
    /// whose role is `role`. `tcp_current` is what that TCP socket reported for the option
    /// before it was set (see [`value_changes_nothing`]).
    ///
    /// Under `auto`, in this order: a value that changes nothing keeps MPTCP and succeeds;
    /// an advisory option keeps MPTCP and succeeds, with its equivalent set where MPTCP has
    /// one; a tuning option keeps MPTCP on a listener and swaps on a client; a needed option
    /// swaps. A swap needs a socket that has not connected or listened: otherwise the
    /// program gets MPTCP's error, as on any MPTCP socket.
    pub fn decide(
        self,
        level: c_int,
        name: c_int,
        value: &[u8],
        tcp_current: Option<&[u8]>,
        role: Role,
    ) -> Decision {
        let swap_if_possible = |rule| match role.can_swap() {
            true => Decision {
                action: Action::Swap,
                rule,
            },
            false => Decision {
                action: Action::ReturnMptcpError,
                rule: Rule::TooLateToSwap,
            },
        };
        let keep = |action, rule| Decision { action, rule };
        match self {
            RefusedOptions::Swap => swap_if_possible(Rule::ChoseSwap),
            RefusedOptions::Keep => keep(Action::ReturnMptcpError, Rule::ChoseKeep),
            RefusedOptions::Auto => {
                // TCP_WINDOW_CLAMP 0 is the default before connecting only: TCP refuses it
                // (EINVAL) afterwards, and the caller's candidate, a new socket, cannot say so.
                let clamp_after_connect = role == Role::Connected
                    && level == libc::IPPROTO_TCP
                    && name == libc::TCP_WINDOW_CLAMP;
                if !clamp_after_connect && value_changes_nothing(level, name, value, tcp_current) {
                    return keep(Action::SucceedWithoutEffect, Rule::UnchangedValue);
                }
                match value_class(level, name, int_value(value)) {
                    OptionClass::Advisory => {
                        let action = match refused_option(level, name) {
                            Some(RefusedOption {
                                equivalent: Some((l, n)),
                                ..
                            }) => Action::SetEquivalent(l, n, option_label(l, n)),
                            _ => Action::SucceedWithoutEffect,
                        };
                        keep(action, Rule::Advisory)
                    }
                    OptionClass::Tuning => match role {
                        Role::Listener | Role::Listening => {
                            keep(Action::SucceedWithoutEffect, Rule::TuningOnListener)
                        }
                        Role::Client | Role::Connected => swap_if_possible(Rule::TuningOnClient),
                    },
                    OptionClass::Needed => swap_if_possible(Rule::Needed),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refused_options::REFUSED_OPTIONS;

    #[test]
    fn auto_decides_by_value_class_and_role() {
        use libc::{
            IPPROTO_IP as IP, IPPROTO_IPV6 as V6, IPPROTO_TCP as TCP, SOL_SOCKET as SOL, *,
        };
        use Action::*;
        use Role::*;
        use Rule::*;
        // libc has no TCP_ULP for every target.
        use crate::refused_options::option_classes::TCP_ULP;
        // (level, name, value, what a fresh TCP socket reports, role, action, rule)
        let cases: [(c_int, c_int, i32, i32, Role, Action, Rule); 13] = [
            // HAProxy's TCP_USER_TIMEOUT 0 on a listener: MPTCP kept, success.
            (
                TCP,
                TCP_USER_TIMEOUT,
                0,
                0,
                Listener,
                SucceedWithoutEffect,
                UnchangedValue,
            ),
            // A no-op value succeeds even on a connected or listening socket.
            (
                IP,
                IP_TTL,
                -1,
                64,
                Connected,
                SucceedWithoutEffect,
                UnchangedValue,
            ),
            // dig's TCP_USER_TIMEOUT 120000, nc -M's TTL: plain TCP.
            (TCP, TCP_USER_TIMEOUT, 120_000, 0, Client, Swap, Needed),
            (IP, IP_TTL, 5, 64, Listener, Swap, Needed),
            (
                IP,
                IP_TTL,
                5,
                64,
                Listening,
                ReturnMptcpError,
                TooLateToSwap,
            ),
            // OpenSSH's and nc's traffic class: IP_TOS instead, MPTCP kept, success.
            (
                V6,
                IPV6_TCLASS,
                0x88,
                0,
                Client,
                SetEquivalent(IP, IP_TOS, "IP_TOS"),
                Advisory,
            ),
            // TCP_WINDOW_CLAMP 0 once connected: TCP says EINVAL, so no "unchanged" success.
            (
                TCP,
                TCP_WINDOW_CLAMP,
                0,
                0,
                Connected,
                ReturnMptcpError,
                TooLateToSwap,
            ),
            (
                TCP,
                TCP_WINDOW_CLAMP,
                0,
                0,
                Client,
                SucceedWithoutEffect,
                UnchangedValue,
            ),
            // Tuning: kept on a listener, plain TCP on a client.
            (
                TCP,
                TCP_WINDOW_CLAMP,
                65535,
                0,
                Listener,
                SucceedWithoutEffect,
                TuningOnListener,
            ),
            (
                SOL,
                SO_MAX_PACING_RATE,
                1 << 20,
                -1,
                Client,
                Swap,
                TuningOnClient,
            ),
            // A negative TCP_LINGER2 resets orphans: needed, even on a listener.
            (TCP, TCP_LINGER2, -1, 60, Listener, Swap, Needed),
            (
                TCP,
                TCP_LINGER2,
                30,
                60,
                Listener,
                SucceedWithoutEffect,
                TuningOnListener,
            ),
            // Not in the table (an older kernel refusing it): needed.
            (TCP, TCP_MAXSEG, 1000, 0, Client, Swap, Needed),
        ];
        // Advisory options succeed after connecting too (TCP_QUICKACK after each read).
        // (TCP reports TCP_QUICKACK 1 on a fresh socket.)
        let advisory = [(TCP_QUICKACK, 0, 1), (TCP_THIN_LINEAR_TIMEOUTS, 1, 0)]
            .into_iter()
            .flat_map(|(name, v, current)| {
                [Client, Listener, Listening, Connected]
                    .map(|role| (TCP, name, v, current, role, SucceedWithoutEffect, Advisory))
            });
        for (level, name, v, current, role, action, rule) in cases.into_iter().chain(advisory) {
            assert_eq!(
                RefusedOptions::Auto.decide(
                    level,
                    name,
                    &v.to_ne_bytes(),
                    Some(&current.to_ne_bytes()),
                    role
                ),
                Decision { action, rule },
                "setsockopt({level}, {name}, {v}) on a {role:?} socket, TCP reports {current}"
            );
        }
        // Structs: needed whatever their bytes.
        for (name, len) in [(TCP_MD5SIG, 216), (TCP_ULP, 3), (TCP_REPAIR, 4)] {
            let value = [0u8; 216];
            assert_eq!(
                RefusedOptions::Auto.decide(TCP, name, &value[..len], None, Client),
                Decision {
                    action: Swap,
                    rule: Needed
                }
            );
        }
    }

    #[test]
    fn swap_and_keep_keep_their_meaning() {
        let roles = [
            Role::Client,
            Role::Listener,
            Role::Listening,
            Role::Connected,
        ];
        for row in REFUSED_OPTIONS {
            for v in [-1i32, 0, 1, 5] {
                for role in roles {
                    let decide = |choice: RefusedOptions| {
                        choice.decide(row.level, row.name, &v.to_ne_bytes(), None, role)
                    };
                    // `swap`: plain TCP whatever the value, while the socket has done
                    // nothing on the wire; MPTCP's error after that.
                    let swap = match role.can_swap() {
                        true => (Action::Swap, Rule::ChoseSwap),
                        false => (Action::ReturnMptcpError, Rule::TooLateToSwap),
                    };
                    let keep = (Action::ReturnMptcpError, Rule::ChoseKeep);
                    for (choice, (action, rule)) in
                        [(RefusedOptions::Swap, swap), (RefusedOptions::Keep, keep)]
                    {
                        assert_eq!(
                            decide(choice),
                            Decision { action, rule },
                            "{choice:?}, {} {v}, {role:?}",
                            row.label()
                        );
                    }
                }
            }
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
}
