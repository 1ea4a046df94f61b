//! `close`, `dup2` and `dup3`: each closes an fd, which may hold a socket the shim made
//! MPTCP; its mark in `made_mptcp` is cleared first, so that the number, once reused (by
//! a socket the program asks MPTCP for with the raw system call, by a `dup`), is not taken
//! for one the shim made. Then the next definition is called (glibc's, or the report
//! library's, which reports the connection), found when the library is loaded (`real`),
//! never in the hook; the system call stands in where nothing is found, and for a call
//! made before the library's constructor ran.
//!
//! The mark is cleared before the call: once the fd is closed, another thread may get the
//! same number from `socket()` and be marked, and that mark must stay.

use libc::c_int;
use mptcpize_preload_support::sys;

use crate::{made_mptcp, real};

/// `close(2)`, forgetting whether the shim made the socket at `fd`.
///
/// # Safety
/// Same contract as `close(2)`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    made_mptcp::clear(fd);
    match real::close() {
        // SAFETY: the next `close`; the caller's argument.
        Some(f) => unsafe { f(fd) },
        None => raw_close(fd),
    }
}

/// `dup2(2)`, forgetting whether the shim made the socket at `new`, which it closes.
///
/// # Safety
/// Same contract as `dup2(2)`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    if old != new {
        made_mptcp::clear(new);
    }
    match real::dup2() {
        // SAFETY: the next `dup2`; the caller's arguments.
        Some(f) => unsafe { f(old, new) },
        None => raw_dup2(old, new),
    }
}

/// `dup3(2)`, forgetting whether the shim made the socket at `new`, which it closes.
///
/// # Safety
/// Same contract as `dup3(2)`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    if old != new {
        made_mptcp::clear(new);
    }
    match real::dup3() {
        // SAFETY: the next `dup3`; the caller's arguments.
        Some(f) => unsafe { f(old, new, flags) },
        None => sys::dup3(old, new, flags),
    }
}

// The stand-ins before the constructor ran (or where nothing defines the function), with
// the C functions' results. Out of line: the hooks' common path stays a load, a test and a
// tail call.

#[cold]
#[inline(never)]
fn raw_close(fd: c_int) -> c_int {
    sys::close(fd)
}

#[cold]
#[inline(never)]
fn raw_dup2(old: c_int, new: c_int) -> c_int {
    if old == new {
        // dup2 onto itself only checks that `old` is open (dup3 would fail with EINVAL).
        return match sys::fcntl_get(old, libc::F_GETFD) {
            -1 => -1,
            _ => old,
        };
    }
    sys::dup3(old, new, 0)
}
