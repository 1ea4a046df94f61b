//! The functions the hooks stand in front of, found with `dlsym(RTLD_NEXT)`.
//!
//! Going through the next definition (normally glibc's, or another preloaded library's)
//! keeps that library working; Debian's shim issues the raw system call and bypasses it.
//! Where `dlsym` finds nothing, the raw system call stands in.
//!
//! Each function is resolved once, by [`resolve`] in the library's constructor (never in a
//! hook, which may run in a signal handler or in a child forked from a threaded program,
//! where `dlsym` and its lock must not be entered), and cached in two `AtomicPtr`s: the
//! resolved pointer, and a copy for the hooks' fast path, published only when debug logging
//! is off. So the fast path is one relaxed load (a plain `mov`) and a NULL test that covers
//! both "not resolved yet" and "debug logging on": every other case goes to the slow path.
//! A hook called before the constructor ran (from another library's constructor) makes the
//! raw system call for that call.
//!
//! The report library resolves its functions the same way (`dlsym` through
//! `mptcpize_preload_support::real::next_symbol`) but caches each in one slot: it has no
//! debug-only path, and this second slot is what keeps the shim's `socket()` at one load
//! and one test, so the two caches stay apart.

use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, Ordering};
use libc::{c_int, socklen_t};
use mptcpize_preload_support::real::next_symbol;
use mptcpize_preload_support::sys;

use crate::settings;

/// `socket(2)`'s C signature.
pub type SocketFn = unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
/// `setsockopt(2)`'s C signature.
pub type SetsockoptFn =
    unsafe extern "C" fn(c_int, c_int, c_int, *const c_void, socklen_t) -> c_int;

static SOCKET: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static SETSOCKOPT: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static FAST_SOCKET: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static FAST_SETSOCKOPT: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

/// The next `socket`, when the hook may take its fast path (resolved, no logging).
#[inline(always)]
pub fn fast_socket() -> Option<SocketFn> {
    let f = FAST_SOCKET.load(Ordering::Relaxed);
    // SAFETY: only `socket` stores here, and only a `SocketFn`.
    (!f.is_null()).then(|| unsafe { core::mem::transmute::<*mut c_void, SocketFn>(f) })
}

/// The next `setsockopt`, when the hook may take its fast path.
#[inline(always)]
pub fn fast_setsockopt() -> Option<SetsockoptFn> {
    let f = FAST_SETSOCKOPT.load(Ordering::Relaxed);
    // SAFETY: only `setsockopt` stores here, and only a `SetsockoptFn`.
    (!f.is_null()).then(|| unsafe { core::mem::transmute::<*mut c_void, SetsockoptFn>(f) })
}

/// Finds the next `socket` and `setsockopt` (`dlsym(RTLD_NEXT)`) and publishes them for the
/// hooks. Called once, from the library's constructor, after the settings are read.
#[cold]
pub fn resolve() {
    // A non-NULL result is glibc's (or another library's) function.
    let mut socket = next_symbol(c"socket");
    if socket.is_null() {
        socket = raw_socket as *mut c_void;
    }
    let mut setsockopt = next_symbol(c"setsockopt");
    if setsockopt.is_null() {
        setsockopt = raw_setsockopt as *mut c_void;
    }
    SOCKET.store(socket, Ordering::Relaxed);
    SETSOCKOPT.store(setsockopt, Ordering::Relaxed);
    if !settings::debug() {
        FAST_SOCKET.store(socket, Ordering::Relaxed);
        FAST_SETSOCKOPT.store(setsockopt, Ordering::Relaxed);
    }
}

/// The next `socket` after this library, or the raw system call before [`resolve`] ran.
#[cold]
pub fn socket() -> SocketFn {
    let f = SOCKET.load(Ordering::Relaxed);
    if f.is_null() {
        return raw_socket;
    }
    // SAFETY: `f` is a `SocketFn` (from dlsym for "socket", or `raw_socket`).
    unsafe { core::mem::transmute::<*mut c_void, SocketFn>(f) }
}

/// The next `setsockopt` after this library, or the raw system call before [`resolve`] ran.
#[cold]
pub fn setsockopt() -> SetsockoptFn {
    let f = SETSOCKOPT.load(Ordering::Relaxed);
    if f.is_null() {
        return raw_setsockopt;
    }
    // SAFETY: `f` is a `SetsockoptFn`.
    unsafe { core::mem::transmute::<*mut c_void, SetsockoptFn>(f) }
}

/// The last resort: the system call itself.
unsafe extern "C" fn raw_socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    sys::socket(domain, ty, protocol)
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
    unsafe { sys::setsockopt(fd, level, name, value, len) }
}
