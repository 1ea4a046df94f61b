//! The system calls the libraries' rare paths make, and the stand-ins for functions
//! `dlsym(RTLD_NEXT)` does not find, through glibc's `syscall(2)`.
//!
//! Every function a shared library imports is looked up by the dynamic loader when the
//! library is loaded (rustc links with `-z now` and calls imports through the GOT), at
//! about 600 instructions each, in every program started under the shim. Going through
//! one `syscall` import instead of eight wrappers keeps loading the shim as cheap as
//! Debian's. Same contracts and errno behaviour as the libc wrappers of the same names.

use core::ffi::c_void;
use libc::{c_int, c_long, sockaddr, socklen_t};

#[inline]
fn int(r: c_long) -> c_int {
    r as c_int
}

/// `getsockopt(2)`.
///
/// # Safety
/// `value` must be writable for `*len` bytes and `len` readable and writable.
pub unsafe fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    // SAFETY: the caller's buffer and length.
    int(unsafe { libc::syscall(libc::SYS_getsockopt, fd, level, name, value, len) })
}

/// `getsockname(2)`.
///
/// # Safety
/// `addr` must be writable for `*len` bytes and `len` readable and writable.
pub unsafe fn getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: the caller's buffer and length.
    int(unsafe { libc::syscall(libc::SYS_getsockname, fd, addr, len) })
}

/// `getpeername(2)`.
///
/// # Safety
/// `addr` must be writable for `*len` bytes and `len` readable and writable.
pub unsafe fn getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: the caller's buffer and length.
    int(unsafe { libc::syscall(libc::SYS_getpeername, fd, addr, len) })
}

/// `bind(2)`.
///
/// # Safety
/// `addr` must point to `len` readable bytes.
pub unsafe fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    // SAFETY: the caller's address and length.
    int(unsafe { libc::syscall(libc::SYS_bind, fd, addr, len) })
}

/// `fcntl(2)` with no argument (`F_GETFL`, `F_GETFD`).
pub fn fcntl_get(fd: c_int, cmd: c_int) -> c_int {
    // SAFETY: a query with no pointer argument.
    int(unsafe { libc::syscall(libc::SYS_fcntl, fd, cmd) })
}

/// `dup3(2)`.
pub fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    // SAFETY: integers only; the caller owns both fds.
    int(unsafe { libc::syscall(libc::SYS_dup3, old, new, flags) })
}

/// `close(2)`.
pub fn close(fd: c_int) -> c_int {
    // SAFETY: the caller owns `fd`.
    int(unsafe { libc::syscall(libc::SYS_close, fd) })
}

/// `write(2)`.
pub fn write(fd: c_int, buf: &[u8]) -> isize {
    // SAFETY: an initialised buffer of `buf.len()` bytes.
    unsafe { libc::syscall(libc::SYS_write, fd, buf.as_ptr(), buf.len()) as isize }
}

/// `connect(2)`.
///
/// # Safety
/// `addr` must point to `len` readable bytes.
pub unsafe fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    // SAFETY: the caller's address and length.
    int(unsafe { libc::syscall(libc::SYS_connect, fd, addr, len) })
}

/// `accept4(2)` (`accept` is `accept4` with no flags).
///
/// # Safety
/// `addr` must be NULL or writable for `*len` bytes, `len` NULL or readable and writable.
pub unsafe fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    // SAFETY: the caller's buffer and length.
    int(unsafe { libc::syscall(libc::SYS_accept4, fd, addr, len, flags) })
}

/// `shutdown(2)`.
pub fn shutdown(fd: c_int, how: c_int) -> c_int {
    // SAFETY: integers only.
    int(unsafe { libc::syscall(libc::SYS_shutdown, fd, how) })
}
