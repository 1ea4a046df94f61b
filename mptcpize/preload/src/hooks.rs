//! The exported functions the dynamic loader binds the program's calls to.

use core::ffi::c_void;
use libc::{c_int, socklen_t};
use mptcp_policy::plain_tcp::{self as plain_tcp_names, RefusedOptionDecision, RefusedOptions};
use mptcp_policy::{is_tcp_stream_request, Unavailable, IPPROTO_MPTCP};
use mptcpize_preload_support::errno::{errno, set_errno};
use mptcpize_preload_support::names::socket_call;

use crate::debug_log::Line;
use crate::{made_mptcp, plain_tcp, real, settings};

/// `socket(2)`, with TCP stream requests turned into `IPPROTO_MPTCP`.
///
/// Every other request is passed on unchanged. When the kernel cannot give MPTCP
/// (`ENOPROTOOPT`: `net.mptcp.enabled=0`; `EPROTONOSUPPORT`; `EINVAL`: Linux < 5.6), the
/// original call is made, so its result and errno are what the program would have had
/// without the shim. Other errors of the MPTCP call (`EMFILE`, …) are returned as they are.
///
/// The fast path (resolved, no logging) is a few compares and one indirect call; the rest
/// is out of line.
///
/// # Safety
/// Same contract as `socket(2)`: none beyond valid integers.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    let Some(real_socket) = real::fast_socket() else {
        return socket_slow(domain, ty, protocol);
    };
    if is_tcp_stream_request(domain, ty, protocol) {
        // SAFETY: the caller's arguments.
        return unsafe { rewrite(domain, ty, protocol, real_socket) };
    }
    if protocol == IPPROTO_MPTCP {
        return passed_through(real_socket, domain, ty, protocol);
    }
    // SAFETY: the caller's arguments, passed on unchanged (a tail call).
    unsafe { real_socket(domain, ty, protocol) }
}

/// The rewrite itself, out of line so that the passthrough path above needs no stack
/// frame and ends in a jump to the real `socket`. (The pointer comes last so the three
/// arguments stay in the registers they arrived in.)
#[inline(never)]
unsafe fn rewrite(domain: c_int, ty: c_int, protocol: c_int, real_socket: real::SocketFn) -> c_int {
    // SAFETY: the caller's arguments, with only the protocol changed.
    let fd = unsafe { real_socket(domain, ty, IPPROTO_MPTCP) };
    if made_mptcp::mark(fd) || fd >= 0 {
        return fd;
    }
    mptcp_refused(real::socket(), domain, ty, protocol)
}

/// First call, or debug logging on: the same decisions, with logging.
#[cold]
#[inline(never)]
fn socket_slow(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    let real_socket = real::socket();
    if !is_tcp_stream_request(domain, ty, protocol) {
        return passed_through(real_socket, domain, ty, protocol);
    }
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
fn passed_through(real_socket: real::SocketFn, domain: c_int, ty: c_int, protocol: c_int) -> c_int {
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
fn mptcp_refused(real_socket: real::SocketFn, domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    let mptcp_errno = errno();
    let Some(reason) = Unavailable::from_errno(mptcp_errno) else {
        if settings::debug() {
            let mut line = Line::new();
            socket_call(&mut line, domain, ty, IPPROTO_MPTCP);
            line.text(" = -1: ").errno(mptcp_errno).emit();
        }
        set_errno(mptcp_errno);
        return -1;
    };
    // SAFETY: the caller's original arguments.
    let fd = unsafe { real_socket(domain, ty, protocol) };
    if settings::debug() {
        let mut line = Line::new();
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
    let mut line = Line::new();
    socket_call(&mut line, domain, ty, protocol);
    line.text(" = ").int(fd.into());
    if fd < 0 {
        line.text(": ").errno(errno());
    }
    line.text(": ").text(what).emit();
}

/// `setsockopt(2)`, passed on unchanged; but when it fails with `ENOPROTOOPT` or
/// `EOPNOTSUPP` on a socket the shim made MPTCP (never one the program asked MPTCP for),
/// that has not connected or listened yet, the option is tried on a plain TCP socket made
/// to take its place (see `plain_tcp`):
///
/// - plain TCP refuses it too: the program gets TCP's errno (what it would have had without
///   mptcpize: `EPERM` for an unprivileged `TCP_REPAIR`), and its socket stays MPTCP;
/// - plain TCP accepts it: the user's choice (`MPTCPIZE_REFUSED_OPTIONS`, by default the
///   option's class in `mptcp_policy::plain_tcp`) says whether the TCP socket replaces the
///   MPTCP one in place (the call then succeeds, errno untouched) or is dropped (the socket
///   stays MPTCP and the program gets MPTCP's error, as it would on any MPTCP socket).
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
    let Some(real_setsockopt) = real::fast_setsockopt() else {
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
    let real_setsockopt = real::setsockopt();
    if made_mptcp::is_marked(fd) {
        // SAFETY: the caller's arguments.
        return unsafe { on_made_socket(fd, level, name, value, len, real_setsockopt) };
    }
    // SAFETY: the caller's arguments, passed on unchanged.
    let ret = unsafe { real_setsockopt(fd, level, name, value, len) };
    if ret != 0 && settings::debug() {
        let option_errno = errno();
        if mptcp_policy::plain_tcp::is_refusal_errno(option_errno) && plain_tcp::is_mptcp_socket(fd)
        {
            let reason = Refusal::Untouched(
                "not a socket mptcpize made (the program asked for MPTCP, or it was passed in)",
            );
            log_refusal(
                fd,
                level,
                name,
                option_errno,
                settings::refused_options(),
                &reason,
            );
        }
        set_errno(option_errno);
    }
    ret
}

/// `setsockopt` on a socket the shim made MPTCP. (The pointer comes last so the caller's
/// five arguments stay in the registers they arrived in.)
#[inline(never)]
unsafe fn on_made_socket(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
    real_setsockopt: real::SetsockoptFn,
) -> c_int {
    // The program's errno, to leave as it was if the call succeeds after a swap.
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
    /// The socket is now plain TCP with the option set; binding it again failed with this
    /// errno, if it did.
    Swapped(Option<c_int>),
    /// Plain TCP accepts the option, and the user's choice keeps MPTCP: MPTCP's error.
    KeptMptcp,
    /// Plain TCP refuses it too, with this errno, which the program gets.
    TcpRefusesToo(c_int),
    /// The socket was left as it is, for this reason; MPTCP's error.
    Untouched(&'static str),
}

/// `setsockopt` failed on a socket the shim made MPTCP: if MPTCP is why, ask plain TCP,
/// then follow the user's choice.
#[cold]
#[inline(never)]
unsafe fn option_refused(
    real_setsockopt: real::SetsockoptFn,
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
    program_errno: c_int,
) -> c_int {
    let option_errno = errno();
    if !mptcp_policy::plain_tcp::is_refusal_errno(option_errno) {
        set_errno(option_errno);
        return -1;
    }
    let choice = settings::refused_options();
    let refusal = match plain_tcp::prepare(fd) {
        // SAFETY: the caller's option, tried on the plain TCP candidate.
        Ok(candidate) => match unsafe { real_setsockopt(candidate.tcp, level, name, value, len) } {
            0 => match choice.decide(level, name) {
                RefusedOptionDecision::Swap => match candidate.install(fd) {
                    Ok(replaced) => Refusal::Swapped(replaced.rebind_errno),
                    Err(why) => Refusal::Untouched(why),
                },
                RefusedOptionDecision::KeepMptcp => Refusal::KeptMptcp,
            },
            _ => Refusal::TcpRefusesToo(errno()),
        },
        Err(why) => Refusal::Untouched(why),
    };
    if settings::debug() {
        log_refusal(fd, level, name, option_errno, choice, &refusal);
    }
    match refusal {
        Refusal::Swapped(_) => {
            set_errno(program_errno);
            0
        }
        Refusal::TcpRefusesToo(tcp_errno) => {
            set_errno(tcp_errno);
            -1
        }
        Refusal::KeptMptcp | Refusal::Untouched(_) => {
            set_errno(option_errno);
            -1
        }
    }
}

/// One line: the call, MPTCP's errno, and what became of the socket.
#[cold]
fn log_refusal(
    fd: c_int,
    level: c_int,
    name: c_int,
    option_errno: c_int,
    choice: RefusedOptions,
    refusal: &Refusal,
) {
    let mut line = Line::new();
    line.text("setsockopt(").int(fd.into()).text(", ");
    match plain_tcp_names::level_name(level) {
        Some(l) => line.text(l),
        None => line.int(level.into()),
    };
    line.text(", ");
    match plain_tcp_names::refused_option_name(level, name) {
        Some(n) => line.text(n),
        None => line.int(name.into()),
    };
    line.text(") on an MPTCP socket failed with ")
        .errno(option_errno)
        .text(": ");
    match *refusal {
        Refusal::Swapped(rebind) => {
            line.text("the socket is now plain TCP");
            if let Some(e) = rebind {
                line.text(" (but binding it again failed: ")
                    .errno(e)
                    .text(")");
            }
            line.text(", option set (--refused-options=")
                .text(choice.name())
                .text(")");
        }
        Refusal::KeptMptcp => {
            line.text("kept MPTCP, the program gets the error (--refused-options=")
                .text(choice.name());
            if choice == RefusedOptions::Auto {
                line.text(", an advisory option; =swap gives it plain TCP");
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
