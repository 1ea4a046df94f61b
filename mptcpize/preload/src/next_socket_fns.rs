//! The functions the hooks stand in front of (`socket`, `setsockopt`): what
//! `dlsym(RTLD_NEXT)` gives (`mptcpize_preload_support::next_symbol::next_symbol`), the next
//! definition after this library: normally glibc's, or another preloaded library's, which
//! so keeps working (Debian's shim issues the raw system call and bypasses it). Where
//! `dlsym` finds nothing, the raw system call stands in.
//!
//! Each function is resolved once, by [`resolve`] in the library's constructor (never in a
//! hook, which may run in a signal handler or in a child forked from a threaded program,
//! where the loader and its lock must not be entered), with plain `dlsym`, as the report
//! library does: the loader's own answer, whatever the program's link map holds (auditors,
//! `dlopen`ed callers, indirect functions). (An earlier version walked the loaded objects'
//! symbol tables itself, to save about 1,300 instructions per program start; it was
//! removed: a start-up saving nobody notices does not pay for a second implementation of
//! the loader's lookup rules inside every program.)
//!
//! The constructor runs before the program's `main` and before any thread the program
//! starts (`pthread_create` publishes every earlier store to the new thread), so a hook
//! never sees a slot half-written. `socket` and `setsockopt` are cached in two
//! `AtomicPtr`s each: the resolved pointer, and a copy for the hooks' fast path, published
//! only when debug logging is off. So the fast path is one relaxed load (a plain `mov`)
//! and a NULL test that covers both "not resolved yet" and "debug logging on": every
//! other case goes to the slow path. A hook called before the constructor ran (from
//! another library's constructor) makes the raw system call for that call.

use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, Ordering};
use libc::{c_int, socklen_t};
use mptcpize_preload_support::next_symbol::next_symbol;
use mptcpize_preload_support::raw_syscall;

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
/// hooks. Called once, from the library's constructor, after the
/// settings are read.
#[cold]
pub fn resolve() {
    let mut socket = next_symbol(c"socket");
    let mut setsockopt = next_symbol(c"setsockopt");
    // A non-NULL result is glibc's (or another library's) function.
    if socket.is_null() {
        socket = raw_socket as *mut c_void;
    }
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
    raw_syscall::socket(domain, ty, protocol)
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
    unsafe { raw_syscall::setsockopt(fd, level, name, value, len) }
}
