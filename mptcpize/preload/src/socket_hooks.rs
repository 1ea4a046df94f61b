//! The exported functions the dynamic loader binds the program's calls to.

use core::ffi::c_void;
use libc::{c_int, socklen_t};
use mptcp_policy::refused_options::{self, Action, Decision, Role};
use mptcp_policy::{is_tcp_stream_request, Unavailable, IPPROTO_MPTCP};
use mptcpize_preload_support::errno::{errno, set_errno};
use mptcpize_preload_support::names::socket_call;

use crate::debug_log::DebugLine;
use crate::{made_mptcp, next_socket_fns, settings, shim_tcp_swap, socket_rewrite};

/// `socket(2)`, with TCP stream requests turned into `IPPROTO_MPTCP`.
///
/// Every other request is passed on unchanged. When the kernel cannot give MPTCP
/// (`ENOPROTOOPT`: `net.mptcp.enabled=0`; `EPROTONOSUPPORT`; `EINVAL`: Linux < 5.6), the
/// original call is made, so its result and errno are what the program would have had
/// without the shim. Other errors of the MPTCP call (`EMFILE`, …) are returned as they are.
///
/// A TCP request is a few compares and a jump to the rewrite `socket_rewrite` chose (the
/// logging one until the constructor ran, and with debug logging on); the rest is out of
/// line.
///
/// # Safety
/// Same contract as `socket(2)`: none beyond valid integers.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    if is_tcp_stream_request(domain, ty, protocol) {
        return match socket_rewrite::chosen() {
            // SAFETY: the caller's arguments (a tail call).
            Some(rewrite) => unsafe { rewrite(domain, ty, protocol) },
            // SAFETY: the caller's arguments.
            None => unsafe { rewrite_slow(domain, ty, protocol) },
        };
    }
    not_rewritten(domain, ty, protocol)
}

/// Every other request: passed on unchanged, with a tail call to the next `socket` when
/// resolved and not logging.
#[inline(never)]
fn not_rewritten(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    match next_socket_fns::fast_socket() {
        // SAFETY: the caller's arguments, passed on unchanged (a tail call).
        Some(real_socket) if protocol != IPPROTO_MPTCP => unsafe {
            real_socket(domain, ty, protocol)
        },
        _ => passed_through(next_socket_fns::socket(), domain, ty, protocol),
    }
}

/// The rewrite before the constructor ran, or with debug logging on: the same decision,
/// through the next `socket` (or the system call), with logging.
#[cold]
#[inline(never)]
pub(crate) unsafe extern "C" fn rewrite_slow(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    let real_socket = next_socket_fns::socket();
    // SAFETY: the caller's arguments, with only the protocol changed.
    let fd = unsafe { real_socket(domain, ty, IPPROTO_MPTCP) };
    if fd < 0 {
        return mptcp_refused(real_socket, domain, ty, protocol);
    }
    made_mptcp::mark(fd);
    if settings::debug() {
        log_socket(domain, ty, protocol, fd, "rewritten to IPPROTO_MPTCP");
    }
    fd
}

/// A request the shim does not rewrite. An MPTCP socket the program asked for clears any
/// mark its number kept from a socket closed where the shim could not see it (`closefrom`):
/// the shim never touches it.
#[cold]
#[inline(never)]
fn passed_through(
    real_socket: next_socket_fns::SocketFn,
    domain: c_int,
    ty: c_int,
    protocol: c_int,
) -> c_int {
    // SAFETY: the caller's arguments, passed on unchanged.
    let fd = unsafe { real_socket(domain, ty, protocol) };
    made_mptcp::clear(fd);
    if settings::debug() {
        log_socket(domain, ty, protocol, fd, "passed through");
    }
    fd
}

/// The MPTCP `socket()` failed: make the original call when the kernel cannot do MPTCP.
#[cold]
#[inline(never)]
pub(crate) fn mptcp_refused(
    real_socket: next_socket_fns::SocketFn,
    domain: c_int,
    ty: c_int,
    protocol: c_int,
) -> c_int {
    let mptcp_errno = errno();
    let Some(reason) = Unavailable::from_errno(mptcp_errno) else {
        if settings::debug() {
            let mut line = DebugLine::new();
            socket_call(&mut line, domain, ty, IPPROTO_MPTCP);
            line.text(" = -1: ").errno(mptcp_errno).emit();
        }
        set_errno(mptcp_errno);
        return -1;
    };
    // SAFETY: the caller's original arguments.
    let fd = unsafe { real_socket(domain, ty, protocol) };
    if settings::debug() {
        let mut line = DebugLine::new();
        socket_call(&mut line, domain, ty, protocol);
        line.text(" = ").int(fd.into());
        if fd < 0 {
            line.text(" (").errno(errno()).text(")");
        }
        line.text(": fell back to TCP, MPTCP refused with ");
        line.errno(mptcp_errno)
            .text(": ")
            .text(reason.message())
            .emit();
    }
    fd
}

fn log_socket(domain: c_int, ty: c_int, protocol: c_int, fd: c_int, what: &str) {
    let mut line = DebugLine::new();
    socket_call(&mut line, domain, ty, protocol);
    line.text(" = ").int(fd.into());
    if fd < 0 {
        line.text(": ").errno(errno());
    }
    line.text(": ").text(what).emit();
}

/// `setsockopt(2)`, passed on unchanged; but when it fails with `ENOPROTOOPT` or
/// `EOPNOTSUPP` on a socket the shim made MPTCP (never one the program asked MPTCP for:
/// `made_mptcp` checks the socket's inode number), the option is tried on a plain TCP
/// socket of the same family (see `shim_tcp_swap`):
///
/// - plain TCP refuses it too: the program gets TCP's errno (what it would have had without
///   mptcpize: `EPERM` for an unprivileged `TCP_REPAIR`), and its socket stays MPTCP;
/// - plain TCP accepts it: the user's choice (`MPTCPIZE_REFUSED_OPTIONS`, by default
///   `mptcp_policy::refused_options::RefusedOptions::decide`: by the value, the option's class and
///   the socket's role) says whether the TCP socket replaces the MPTCP one in place (before
///   it connected or listened; the call then succeeds, errno untouched), the MPTCP socket
///   stays and the call succeeds (a value that changes nothing, an advisory option, with
///   its equivalent set where MPTCP has one), or the MPTCP socket stays and the program gets
///   MPTCP's error.
///
/// Only sockets the shim made pay more than a table lookup and a tail call.
///
/// # Safety
/// Same contract as `setsockopt(2)`: `value` points to `len` readable bytes.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
) -> c_int {
    let Some(real_setsockopt) = next_socket_fns::fast_setsockopt() else {
        // SAFETY: the caller's arguments.
        return unsafe { setsockopt_slow(fd, level, name, value, len) };
    };
    if !made_mptcp::is_marked(fd) {
        // SAFETY: the caller's arguments, passed on unchanged (a tail call).
        return unsafe { real_setsockopt(fd, level, name, value, len) };
    }
    // SAFETY: the caller's arguments.
    unsafe { on_made_socket(fd, level, name, value, len, real_setsockopt) }
}

/// First call, or debug logging on: the same decisions, and with logging, a line for an
/// option refused on an MPTCP socket the shim did not make (and so leaves alone).
#[cold]
#[inline(never)]
unsafe fn setsockopt_slow(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
) -> c_int {
    let real_setsockopt = next_socket_fns::setsockopt();
    if made_mptcp::is_marked(fd) {
        // SAFETY: the caller's arguments.
        return unsafe { on_made_socket(fd, level, name, value, len, real_setsockopt) };
    }
    // SAFETY: the caller's arguments, passed on unchanged.
    let ret = unsafe { real_setsockopt(fd, level, name, value, len) };
    if ret != 0 && settings::debug() {
        let option_errno = errno();
        if refused_options::is_refusal_errno(option_errno) && shim_tcp_swap::is_mptcp_socket(fd) {
            log_refusal(
                fd,
                level,
                name,
                option_errno,
                &Refusal::Untouched(NOT_MADE),
                None,
            );
        }
        set_errno(option_errno);
    }
    ret
}

/// Why a socket the program asked MPTCP for is left alone.
const NOT_MADE: &str =
    "not a socket mptcpize made (the program asked for MPTCP, or it was passed in)";

/// `setsockopt` on a socket the shim made MPTCP. (The pointer comes last so the caller's
/// five arguments stay in the registers they arrived in.)
#[inline(never)]
unsafe fn on_made_socket(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
    real_setsockopt: next_socket_fns::SetsockoptFn,
) -> c_int {
    // The program's errno, to leave as it was if the call succeeds after all.
    let program_errno = errno();
    // SAFETY: the caller's arguments, passed on unchanged.
    if unsafe { real_setsockopt(fd, level, name, value, len) } == 0 {
        return 0;
    }
    // SAFETY: the caller's arguments.
    unsafe { option_refused(real_setsockopt, fd, level, name, value, len, program_errno) }
}

/// What became of an option MPTCP refused, for the return value and the debug log.
enum Refusal {
    /// Decided (`RefusedOptions::decide`) and done: the socket was swapped (binding it
    /// again failed with this errno, if it did), kept with the call succeeding (the
    /// equivalent set, or failing with this errno), or kept with MPTCP's error.
    Decided(Decision, Done),
    /// Plain TCP refuses it too, with this errno, which the program gets.
    TcpRefusesToo(c_int),
    /// The socket was left as it is, for this reason; MPTCP's error.
    Untouched(&'static str),
}

/// What carrying out a decision did.
#[derive(Copy, Clone)]
enum Done {
    /// Swapped; binding the TCP socket again failed with this errno, if it did.
    Swapped(Option<c_int>),
    /// The equivalent option was set (`None`) or failed with this errno.
    Equivalent(Option<c_int>),
    /// Nothing to do (kept, success or MPTCP's error).
    Nothing,
}

/// `setsockopt` failed on a socket the shim made MPTCP: if MPTCP is why, ask plain TCP,
/// then follow the user's choice.
#[cold]
#[inline(never)]
unsafe fn option_refused(
    real_setsockopt: next_socket_fns::SetsockoptFn,
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
    program_errno: c_int,
) -> c_int {
    let option_errno = errno();
    if !refused_options::is_refusal_errno(option_errno) {
        set_errno(option_errno);
        return -1;
    }
    // SAFETY: the caller's option.
    let (refusal, role) = unsafe { decide(real_setsockopt, fd, level, name, value, len) };
    if settings::debug() {
        log_refusal(fd, level, name, option_errno, &refusal, role);
    }
    match refusal {
        Refusal::Decided(decision, _) if decision.action != Action::ReturnMptcpError => {
            set_errno(program_errno);
            0
        }
        Refusal::TcpRefusesToo(tcp_errno) => {
            set_errno(tcp_errno);
            -1
        }
        Refusal::Decided(..) | Refusal::Untouched(_) => {
            set_errno(option_errno);
            -1
        }
    }
}

/// Asks plain TCP, decides and carries the decision out; also returns the socket's role
/// where it was read.
///
/// # Safety
/// `value` points to `len` readable bytes, as for `setsockopt`.
unsafe fn decide(
    real_setsockopt: next_socket_fns::SetsockoptFn,
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
) -> (Refusal, Option<Role>) {
    if !made_mptcp::made_here(fd) {
        return (Refusal::Untouched(NOT_MADE), None);
    }
    let role = shim_tcp_swap::role(fd);
    let candidate = match shim_tcp_swap::Candidate::new(fd, role) {
        Ok(candidate) => candidate,
        Err(why) => return (Refusal::Untouched(why), Some(role)),
    };
    let (current, current_len) = candidate.current(level, name);
    // SAFETY: the caller's option, tried on the plain TCP candidate.
    if unsafe { real_setsockopt(candidate.tcp, level, name, value, len) } != 0 {
        let tcp_errno = errno();
        // The candidate's answer is TCP's for a socket that has not connected, or that
        // listens (the candidate listens too); not for a connected one (kTLS, for one,
        // needs a connection).
        return match role {
            Role::Connected => (
                Refusal::Untouched(
                    "plain TCP refuses it on a new socket too, and this one has connected",
                ),
                Some(role),
            ),
            _ => (Refusal::TcpRefusesToo(tcp_errno), Some(role)),
        };
    }
    // TCP read the value, so `len` bytes are readable; an int is all the decision reads.
    let bytes: &[u8] = match len {
        // SAFETY: `len` bytes at `value`, which the kernel just read.
        4 | 8 => unsafe { core::slice::from_raw_parts(value.cast::<u8>(), len as usize) },
        _ => &[],
    };
    let current = current_len.map(|n| &current[..n.min(current.len())]);
    let decision = settings::refused_options().decide(level, name, bytes, current, role);
    let done = match decision.action {
        Action::Swap => match candidate.install(fd) {
            Ok(replaced) => Done::Swapped(replaced.rebind_errno),
            Err(why) => return (Refusal::Untouched(why), Some(role)),
        },
        // SAFETY: the caller's value, for an option that takes the same one.
        Action::SetEquivalent(l, n, _) => match unsafe { real_setsockopt(fd, l, n, value, len) } {
            0 => Done::Equivalent(None),
            _ => Done::Equivalent(Some(errno())),
        },
        Action::SucceedWithoutEffect | Action::ReturnMptcpError => Done::Nothing,
    };
    (Refusal::Decided(decision, done), Some(role))
}

/// One line: the call, MPTCP's errno, what became of the socket, and which rule decided.
#[cold]
fn log_refusal(
    fd: c_int,
    level: c_int,
    name: c_int,
    option_errno: c_int,
    refusal: &Refusal,
    role: Option<Role>,
) {
    let mut line = DebugLine::new();
    line.text("setsockopt(").int(fd.into()).text(", ");
    match refused_options::level_name(level) {
        Some(l) => line.text(l),
        None => line.int(level.into()),
    };
    line.text(", ");
    match refused_options::refused_option_name(level, name) {
        Some(n) => line.text(n),
        None => line.int(name.into()),
    };
    line.text(") on an MPTCP socket failed with ")
        .errno(option_errno)
        .text(": ");
    match *refusal {
        Refusal::Decided(decision, done) => {
            match (decision.action, done) {
                (_, Done::Swapped(rebind)) => {
                    line.text("the socket is now plain TCP");
                    if let Some(e) = rebind {
                        line.text(" (but binding it again failed: ")
                            .errno(e)
                            .text(")");
                    }
                    line.text(", option set");
                }
                (Action::SetEquivalent(_, _, label), Done::Equivalent(failed)) => {
                    line.text("kept MPTCP, the call succeeds, ").text(label);
                    match failed {
                        None => line.text(" set instead (marks IPv4 subflows only)"),
                        Some(e) => line.text(" instead failed too: ").errno(e),
                    };
                }
                (Action::ReturnMptcpError, _) => {
                    line.text("kept MPTCP, the program gets the error");
                }
                _ => {
                    line.text("kept MPTCP, the call succeeds without effect");
                }
            }
            line.text(" (--refused-options=")
                .text(settings::refused_options().name())
                .text("; rule: ")
                .text(decision.rule.describe());
            if let Some(role) = role {
                line.text("; ").text(role.describe());
            }
            line.text(")");
        }
        Refusal::TcpRefusesToo(e) => {
            line.text("plain TCP refuses it too, with ")
                .errno(e)
                .text(": the program gets that, the socket stays MPTCP");
        }
        Refusal::Untouched(why) => {
            line.text("left as it is: ").text(why);
        }
    }
    line.emit();
}
