//! The functions the hooks stand in front of, found with `dlsym(RTLD_NEXT)` by [`resolve`]
//! in the library's constructor and cached in an `AtomicPtr` (a relaxed load on the hooks'
//! path), so other preloaded libraries and glibc still see every call, and a hook never
//! enters the dynamic loader (it may run in a signal handler, or in a child forked from a
//! threaded program). Where `dlsym` finds nothing, or a hook runs before the constructor
//! did (from another library's constructor), the raw system call stands in.

use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, Ordering};
use libc::{c_int, sockaddr, socklen_t};

use mptcpize_preload_support::next_symbol::next_symbol;
use mptcpize_preload_support::raw_syscall;

/// Declares `$name()`: the next `$sym` with C signature `$ty` as [`resolve`] found it, or
/// `$raw`; and `$resolve()`, which finds it.
macro_rules! next_fn {
    ($(#[$doc:meta])* $name:ident, $resolve:ident, $slot:ident, $sym:literal, $ty:ty, $raw:expr) => {
        static $slot: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

        fn $resolve() {
            let mut f = next_symbol($sym);
            if f.is_null() {
                f = $raw as *mut c_void;
            }
            $slot.store(f, Ordering::Relaxed);
        }

        $(#[$doc])*
        #[inline(always)]
        pub fn $name() -> $ty {
            let f = $slot.load(Ordering::Relaxed);
            if f.is_null() {
                return $raw;
            }
            // SAFETY: `f` is the named function (from dlsym) or the raw stand-in, both of
            // type `$ty`.
            unsafe { core::mem::transmute::<*mut c_void, $ty>(f) }
        }
    };
}

/// Finds every function the hooks stand in front of. Called once, from the library's
/// constructor.
#[cold]
pub fn resolve() {
    resolve_connect();
    resolve_accept();
    resolve_accept4();
    resolve_close();
    resolve_shutdown();
    resolve_dup2();
    resolve_dup3();
    resolve_getsockopt();
}

/// `connect(2)`'s C signature.
pub type ConnectFn = unsafe extern "C" fn(c_int, *const sockaddr, socklen_t) -> c_int;
/// `accept(2)`'s C signature.
pub type AcceptFn = unsafe extern "C" fn(c_int, *mut sockaddr, *mut socklen_t) -> c_int;
/// `accept4(2)`'s C signature.
pub type Accept4Fn = unsafe extern "C" fn(c_int, *mut sockaddr, *mut socklen_t, c_int) -> c_int;
/// `close(2)`'s C signature.
pub type CloseFn = unsafe extern "C" fn(c_int) -> c_int;
/// `shutdown(2)`'s C signature.
pub type ShutdownFn = unsafe extern "C" fn(c_int, c_int) -> c_int;
/// `dup2(2)`'s C signature.
pub type Dup2Fn = unsafe extern "C" fn(c_int, c_int) -> c_int;
/// `dup3(2)`'s C signature.
pub type Dup3Fn = unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
/// `getsockopt(2)`'s C signature.
pub type GetsockoptFn =
    unsafe extern "C" fn(c_int, c_int, c_int, *mut c_void, *mut socklen_t) -> c_int;

next_fn!(
    /// The next `connect`.
    connect, resolve_connect, CONNECT, c"connect", ConnectFn, raw_connect
);
next_fn!(
    /// The next `accept`.
    accept, resolve_accept, ACCEPT, c"accept", AcceptFn, raw_accept
);
next_fn!(
    /// The next `accept4`.
    accept4, resolve_accept4, ACCEPT4, c"accept4", Accept4Fn, raw_accept4
);
next_fn!(
    /// The next `close`.
    close, resolve_close, CLOSE, c"close", CloseFn, raw_close
);
next_fn!(
    /// The next `shutdown`.
    shutdown, resolve_shutdown, SHUTDOWN, c"shutdown", ShutdownFn, raw_shutdown
);
next_fn!(
    /// The next `dup2`.
    dup2, resolve_dup2, DUP2, c"dup2", Dup2Fn, raw_dup2
);
next_fn!(
    /// The next `dup3`.
    dup3, resolve_dup3, DUP3, c"dup3", Dup3Fn, raw_dup3
);
next_fn!(
    /// The next `getsockopt`.
    getsockopt, resolve_getsockopt, GETSOCKOPT, c"getsockopt", GetsockoptFn, raw_getsockopt
);

// The stand-ins, with the C signatures of the functions they stand in for.

unsafe extern "C" fn raw_connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    // SAFETY: the caller's arguments, passed on unchanged.
    unsafe { raw_syscall::connect(fd, addr, len) }
}

unsafe extern "C" fn raw_accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: as above (accept is accept4 with no flags).
    unsafe { raw_syscall::accept4(fd, addr, len, 0) }
}

unsafe extern "C" fn raw_accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    // SAFETY: as above.
    unsafe { raw_syscall::accept4(fd, addr, len, flags) }
}

unsafe extern "C" fn raw_close(fd: c_int) -> c_int {
    raw_syscall::close(fd)
}

unsafe extern "C" fn raw_shutdown(fd: c_int, how: c_int) -> c_int {
    raw_syscall::shutdown(fd, how)
}

unsafe extern "C" fn raw_dup2(old: c_int, new: c_int) -> c_int {
    if old == new {
        // dup2 onto itself only checks that `old` is open (dup3 would fail with EINVAL).
        return match raw_syscall::fcntl_get(old, libc::F_GETFD) {
            -1 => -1,
            _ => old,
        };
    }
    raw_syscall::dup3(old, new, 0)
}

unsafe extern "C" fn raw_dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    raw_syscall::dup3(old, new, flags)
}

unsafe extern "C" fn raw_getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    // SAFETY: the caller's arguments, passed on unchanged.
    unsafe { raw_syscall::getsockopt(fd, level, name, value, len) }
}

/// Closes one of the library's own descriptors, never through the hooked `close`.
pub fn close_own(fd: c_int) {
    let _errno = mptcpize_preload_support::errno::SavedErrno::save();
    raw_syscall::close(fd);
}
