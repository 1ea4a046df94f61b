//! The functions the hooks stand in front of, found with `dlsym(RTLD_NEXT)`.
//!
//! Going through the next definition (normally glibc's, or another preloaded library's)
//! keeps that library working; Debian's shim issues the raw system call and bypasses it.
//! Each pointer is resolved once, at load (or on first use if a constructor of another
//! library calls in before ours ran), and cached in an `AtomicPtr`: a relaxed load is a plain
//! `mov`. Where `dlsym` finds nothing, the raw system call stands in.

use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, Ordering};
use libc::{c_int, socklen_t};

/// `socket(2)`'s C signature.
pub type SocketFn = unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
/// `setsockopt(2)`'s C signature.
pub type SetsockoptFn =
    unsafe extern "C" fn(c_int, c_int, c_int, *const c_void, socklen_t) -> c_int;

static SOCKET: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static SETSOCKOPT: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

/// Resolves every function now (called from the load-time constructor).
pub fn resolve_all() {
    resolve_socket();
    resolve_setsockopt();
}

/// The next `socket` after this library.
#[inline(always)]
pub fn socket() -> SocketFn {
    let f = SOCKET.load(Ordering::Relaxed);
    if f.is_null() {
        return resolve_socket();
    }
    // SAFETY: only `resolve_socket` stores here, and only a `SocketFn`.
    unsafe { core::mem::transmute::<*mut c_void, SocketFn>(f) }
}

/// The next `setsockopt` after this library.
#[inline(always)]
pub fn setsockopt() -> SetsockoptFn {
    let f = SETSOCKOPT.load(Ordering::Relaxed);
    if f.is_null() {
        return resolve_setsockopt();
    }
    // SAFETY: only `resolve_setsockopt` stores here, and only a `SetsockoptFn`.
    unsafe { core::mem::transmute::<*mut c_void, SetsockoptFn>(f) }
}

#[cold]
fn resolve_socket() -> SocketFn {
    // SAFETY: dlsym with a NUL-terminated name; a non-NULL result is glibc's (or another
    // library's) `socket`, which has this signature.
    let f: SocketFn = match unsafe { next_symbol(c"socket") } {
        Some(p) => unsafe { core::mem::transmute::<*mut c_void, SocketFn>(p) },
        None => raw_socket,
    };
    SOCKET.store(f as *mut c_void, Ordering::Relaxed);
    f
}

#[cold]
fn resolve_setsockopt() -> SetsockoptFn {
    // SAFETY: as in `resolve_socket`.
    let f: SetsockoptFn = match unsafe { next_symbol(c"setsockopt") } {
        Some(p) => unsafe { core::mem::transmute::<*mut c_void, SetsockoptFn>(p) },
        None => raw_setsockopt,
    };
    SETSOCKOPT.store(f as *mut c_void, Ordering::Relaxed);
    f
}

/// `dlsym(RTLD_NEXT, name)`, keeping errno (`dlsym` may change it) as it was.
unsafe fn next_symbol(name: &core::ffi::CStr) -> Option<*mut c_void> {
    let _errno = crate::debug_log::SavedErrno::save();
    // SAFETY: `name` is NUL-terminated.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

/// The last resort: the system call itself.
unsafe extern "C" fn raw_socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    // SAFETY: socket(2) takes three ints.
    unsafe { libc::syscall(libc::SYS_socket, domain, ty, protocol) as c_int }
}

/// The last resort: the system call itself.
unsafe extern "C" fn raw_setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
) -> c_int {
    // SAFETY: the caller's arguments, passed on unchanged.
    unsafe { libc::syscall(libc::SYS_setsockopt, fd, level, name, value, len) as c_int }
}
