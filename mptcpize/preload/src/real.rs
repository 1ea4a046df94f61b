//! The functions the hooks stand in front of (`socket`, `setsockopt`, `close`, `dup2`,
//! `dup3`): what `dlsym(RTLD_NEXT)` gives, found in one walk of the loaded objects
//! (`mptcpize_preload_support::next_symbols`, which falls back on `dlsym` where the walk
//! cannot give the same answer).
//!
//! Going through the next definition (normally glibc's, or another preloaded library's)
//! keeps that library working; Debian's shim issues the raw system call and bypasses it.
//! Where `dlsym` finds nothing, the raw system call stands in.
//!
//! Each function is resolved once, by [`resolve`] in the library's constructor (never in a
//! hook, which may run in a signal handler or in a child forked from a threaded program,
//! where the loader and its lock must not be entered). `socket` and `setsockopt` are
//! cached in two `AtomicPtr`s each: the resolved pointer, and a copy for the hooks' fast path, published only when debug logging
//! is off. So the fast path is one relaxed load (a plain `mov`) and a NULL test that covers
//! both "not resolved yet" and "debug logging on": every other case goes to the slow path.
//! `close`, `dup2` and `dup3` have no debug-only path: one slot each. A hook called before
//! the constructor ran (from another library's constructor) makes the raw system call for
//! that call.
//!
//! The report library resolves its functions with `dlsym` (through
//! `mptcpize_preload_support::real::next_symbol`) and caches each in one slot: it has no
//! debug-only path, and this second slot is what keeps the shim's `socket()` at one load
//! and one test, so the two caches stay apart.

use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, Ordering};
use libc::{c_int, socklen_t};
use mptcpize_preload_support::env::Environment;
use mptcpize_preload_support::next_symbols::next_symbols;
use mptcpize_preload_support::sys;

use crate::settings;

/// `socket(2)`'s C signature.
pub type SocketFn = unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
/// `setsockopt(2)`'s C signature.
pub type SetsockoptFn =
    unsafe extern "C" fn(c_int, c_int, c_int, *const c_void, socklen_t) -> c_int;
/// `close(2)`'s C signature.
pub type CloseFn = unsafe extern "C" fn(c_int) -> c_int;
/// `dup2(2)`'s C signature.
pub type Dup2Fn = unsafe extern "C" fn(c_int, c_int) -> c_int;
/// `dup3(2)`'s C signature.
pub type Dup3Fn = unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;

static SOCKET: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static SETSOCKOPT: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static FAST_SOCKET: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static FAST_SETSOCKOPT: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
// The closing hooks have no debug-only path: one slot each, NULL until resolved (or when
// nothing defines the function), and the hook then makes the system call.
static CLOSE: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static DUP2: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static DUP3: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

/// The next `close`, or None before [`resolve`] ran or where nothing defines it.
#[inline(always)]
pub fn close() -> Option<CloseFn> {
    let f = CLOSE.load(Ordering::Relaxed);
    // SAFETY: only `close` stores here, and only a `CloseFn`.
    (!f.is_null()).then(|| unsafe { core::mem::transmute::<*mut c_void, CloseFn>(f) })
}

/// The next `dup2`, or None before [`resolve`] ran or where nothing defines it.
#[inline(always)]
pub fn dup2() -> Option<Dup2Fn> {
    let f = DUP2.load(Ordering::Relaxed);
    // SAFETY: only `dup2` stores here, and only a `Dup2Fn`.
    (!f.is_null()).then(|| unsafe { core::mem::transmute::<*mut c_void, Dup2Fn>(f) })
}

/// The next `dup3`, or None before [`resolve`] ran or where nothing defines it.
#[inline(always)]
pub fn dup3() -> Option<Dup3Fn> {
    let f = DUP3.load(Ordering::Relaxed);
    // SAFETY: only `dup3` stores here, and only a `Dup3Fn`.
    (!f.is_null()).then(|| unsafe { core::mem::transmute::<*mut c_void, Dup3Fn>(f) })
}

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

/// Finds the next `socket`, `setsockopt`, `close`, `dup2` and `dup3` (what
/// `dlsym(RTLD_NEXT)` gives, in one walk of the loaded objects: `next_symbols`) and
/// publishes them for the hooks. Called once, from the library's constructor, after the
/// settings are read; `env` is the environment the loader passed it.
#[cold]
pub fn resolve(env: Environment) {
    let mut found = [core::ptr::null_mut(); 5];
    next_symbols(
        env,
        &[c"socket", c"setsockopt", c"close", c"dup2", c"dup3"],
        &mut found,
    );
    let [mut socket, mut setsockopt, close, dup2, dup3] = found;
    // A non-NULL result is glibc's (or another library's) function.
    if socket.is_null() {
        socket = raw_socket as *mut c_void;
    }
    if setsockopt.is_null() {
        setsockopt = raw_setsockopt as *mut c_void;
    }
    CLOSE.store(close, Ordering::Relaxed);
    DUP2.store(dup2, Ordering::Relaxed);
    DUP3.store(dup3, Ordering::Relaxed);
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
