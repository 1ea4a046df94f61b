//! The exported functions the dynamic loader binds the program's calls to.

use core::ffi::c_void;
use libc::{c_int, socklen_t};
use mptcp_policy::{is_tcp_stream_request, Unavailable, IPPROTO_MPTCP};
use mptcpize_preload_support::errno::{errno, set_errno};
use mptcpize_preload_support::names::socket_call;

use crate::debug_log::Line;
use crate::{explicit_mptcp, plain_tcp, real, settings};

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
    if fd >= 0 {
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
    if settings::debug() {
        log_socket(domain, ty, protocol, fd, "rewritten to IPPROTO_MPTCP");
    }
    fd
}

/// A request the shim does not rewrite, noting whether the program asked for MPTCP itself.
#[cold]
#[inline(never)]
fn passed_through(real_socket: real::SocketFn, domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    // SAFETY: the caller's arguments, passed on unchanged.
    let fd = unsafe { real_socket(domain, ty, protocol) };
    if fd >= 0 {
        if protocol == IPPROTO_MPTCP {
            explicit_mptcp::mark(fd);
        } else {
            explicit_mptcp::unmark(fd);
        }
    }
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
/// `EOPNOTSUPP` on an MPTCP socket the program did not ask MPTCP for (so the shim made it), and that socket has not connected or
/// listened yet, and plain TCP accepts the option, the socket is replaced in place by that
/// plain TCP socket (see `plain_tcp`). The program asked for TCP and an option TCP has; it
/// gets both.
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
    let real_setsockopt = match real::fast_setsockopt() {
        Some(f) => f,
        None => real::setsockopt(),
    };
    // SAFETY: the caller's arguments, passed on unchanged.
    let ret = unsafe { real_setsockopt(fd, level, name, value, len) };
    if ret == 0 {
        return 0;
    }
    // SAFETY: the caller's arguments.
    unsafe { option_refused(real_setsockopt, fd, level, name, value, len) }
}

/// `setsockopt` failed: if MPTCP is why, give the socket plain TCP and try again.
#[cold]
#[inline(never)]
unsafe fn option_refused(
    real_setsockopt: real::SetsockoptFn,
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
) -> c_int {
    let option_errno = errno();
    if !mptcp_policy::plain_tcp::is_refusal_errno(option_errno) || explicit_mptcp::is_marked(fd) {
        set_errno(option_errno);
        return -1;
    }
    let outcome = match plain_tcp::prepare(fd) {
        Ok(candidate) => {
            // SAFETY: the caller's option, tried on the plain TCP candidate.
            if unsafe { real_setsockopt(candidate.tcp, level, name, value, len) } == 0 {
                candidate.install(fd)
            } else {
                // TCP refuses it too: MPTCP is not the reason, the socket stays as it is.
                Err("plain TCP refuses it too")
            }
        }
        Err(why) => Err(why),
    };
    if settings::debug() {
        let mut line = Line::new();
        line.text("setsockopt(")
            .int(fd.into())
            .text(", ")
            .int(level.into());
        line.text(", ")
            .int(name.into())
            .text(") on an MPTCP socket failed with ");
        line.errno(option_errno).text(": ");
        match outcome {
            Ok(replaced) => {
                line.text("the socket is now plain TCP");
                if let Some(e) = replaced.rebind_errno {
                    line.text(" (but binding it again failed: ")
                        .errno(e)
                        .text(")");
                }
                line.text(", option set");
            }
            Err(why) => {
                line.text("left as it is: ").text(why);
            }
        }
        line.emit();
    }
    if outcome.is_ok() {
        0
    } else {
        set_errno(option_errno);
        -1
    }
}
