//! The debug log of the supervisor (`-d`, `MPTCPIZE_DEBUG`): one line per decision, in the
//! shim's format plus the caller's pid.

use std::io::{self, Write};

use libc::{c_int, seccomp_notif};
use mptcp_policy::refused_options::{Action, Decision, Role};
use mptcpize_preload_support::names::{socket_call, Sink};

use super::{refused_options, Outcome};

/// One line per decision, in the shim's format plus the caller's pid:
/// `mptcpize: socket(AF_INET, SOCK_STREAM, 0) = 3: rewritten to IPPROTO_MPTCP (pid 1234)`,
/// `mptcpize: setsockopt(3, 6, 18) on an MPTCP socket failed with ENOPROTOOPT (92): the
/// socket is now plain TCP, option set (--refused-options=auto; rule: …; client socket)
/// (pid 1234)`.
pub(super) fn log_decision(n: &seccomp_notif, setsockopt: bool, outcome: &Outcome) {
    let arg = |i: usize| n.data.args[i] as u32 as c_int;
    let call = if setsockopt {
        format!("setsockopt({}, {}, {})", arg(0), arg(1), arg(2))
    } else {
        describe_call(arg(0), arg(1), arg(2))
    };
    let result = match outcome {
        Outcome::Mptcp(fd) => format!(" = {fd}: rewritten to IPPROTO_MPTCP"),
        Outcome::FellBack(why) => format!(
            ": fell back to TCP, MPTCP refused with {}: {}",
            errno_name(why.errno()),
            why.message()
        ),
        Outcome::Tcp(why) => format!(": left to the kernel: {why}"),
        Outcome::Failed(errno) => format!(" = -1: {}", errno_name(*errno)),
        Outcome::OptionSet => " = 0: set on the MPTCP socket".to_string(),
        Outcome::MadeTcp(errno, rebind, decision, role) => format!(
            " on an MPTCP socket failed with {}: the socket is now plain TCP{}, option set{}",
            errno_name(*errno),
            rebind.map_or(String::new(), |e| format!(
                " (but binding it again failed: {})",
                errno_name(e)
            )),
            why(decision, role)
        ),
        Outcome::Kept(errno, decision, role, equivalent) => format!(
            " on an MPTCP socket failed with {}: kept MPTCP, the call succeeds{}{}",
            errno_name(*errno),
            match (decision.action, equivalent) {
                (Action::SetEquivalent(_, _, label), Some(None)) =>
                    format!(", {label} set instead (marks IPv4 subflows only)"),
                (Action::SetEquivalent(_, _, label), Some(Some(e))) =>
                    format!(", {label} instead failed too: {}", errno_name(*e)),
                _ => " without effect".to_string(),
            },
            why(decision, role)
        ),
        Outcome::KeptWithError(errno, decision, role) => format!(
            " on an MPTCP socket failed with {}: kept MPTCP, the program gets the error{}",
            errno_name(*errno),
            why(decision, role)
        ),
        Outcome::OptionRefused(errno, why) => format!(
            " on an MPTCP socket failed with {}: left as it is: {why}",
            errno_name(*errno)
        ),
        Outcome::RefusedByBoth(mptcp, tcp) => format!(
            " = -1: MPTCP refused it with {} and plain TCP, as the caller, with {}: left MPTCP, TCP's error returned",
            errno_name(*mptcp),
            errno_name(*tcp)
        ),
        Outcome::Gone => ": not answered, the caller is gone".to_string(),
    };
    let _ = writeln!(io::stderr(), "mptcpize: {call}{result} (pid {})", n.pid);
}

/// ` (--refused-options=auto; rule: …; client socket)`, as the shim writes it.
fn why(decision: &Decision, role: &Role) -> String {
    format!(
        " (--refused-options={}; rule: {}; {})",
        refused_options().name(),
        decision.rule.describe(),
        role.describe()
    )
}

/// `ENOPROTOOPT (92)`, as the shim writes errors; the number alone for names not listed.
fn errno_name(errno: c_int) -> String {
    match mptcpize_preload_support::errno::errno_name(errno) {
        Some(name) => format!("{name} ({errno})"),
        None => format!("errno {errno}"),
    }
}

/// `socket(AF_INET6, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP)`.
fn describe_call(domain: c_int, ty: c_int, proto: c_int) -> String {
    struct Text(String);
    impl Sink for Text {
        fn text(&mut self, s: &str) {
            self.0.push_str(s);
        }
        fn int(&mut self, value: i64) {
            self.0.push_str(&value.to_string());
        }
    }
    let mut out = Text(String::new());
    socket_call(&mut out, domain, ty, proto);
    out.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_described_like_the_shim() {
        assert_eq!(
            describe_call(libc::AF_INET, libc::SOCK_STREAM, 0),
            "socket(AF_INET, SOCK_STREAM, 0)"
        );
        assert_eq!(
            describe_call(
                libc::AF_INET6,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::IPPROTO_TCP
            ),
            "socket(AF_INET6, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, IPPROTO_TCP)"
        );
    }
}
