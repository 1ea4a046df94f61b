//! The functions the hooks stand in front of, found with `dlsym(RTLD_NEXT)` on first use
//! and cached in an `AtomicPtr` (a relaxed load on the hooks' path), so other preloaded
//! libraries and glibc still see every call. Where `dlsym` finds nothing, the raw system
//! call stands in.

use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, Ordering};
use libc::{c_int, sockaddr, socklen_t};

use mptcpize_preload_support::real::next_symbol;
use mptcpize_preload_support::sys;

/// Declares `$name()`: the next `$sym` with C signature `$ty`, or `$raw` when there is none.
macro_rules! next_fn {
    ($(#[$doc:meta])* $name:ident, $slot:ident, $sym:literal, $ty:ty, $raw:expr) => {
        static $slot: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

        $(#[$doc])*
        #[inline(always)]
        pub fn $name() -> $ty {
            let mut f = $slot.load(Ordering::Relaxed);
            if f.is_null() {
                f = next_symbol($sym);
                if f.is_null() {
                    f = $raw as *mut c_void;
                }
                $slot.store(f, Ordering::Relaxed);
            }
            // SAFETY: `f` is the named function (from dlsym) or the raw stand-in, both of
            // type `$ty`.
            unsafe { core::mem::transmute::<*mut c_void, $ty>(f) }
        }
    };
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
    connect, CONNECT, c"connect", ConnectFn, raw_connect
);
next_fn!(
    /// The next `accept`.
    accept, ACCEPT, c"accept", AcceptFn, raw_accept
);
next_fn!(
    /// The next `accept4`.
    accept4, ACCEPT4, c"accept4", Accept4Fn, raw_accept4
);
next_fn!(
    /// The next `close`.
    close, CLOSE, c"close", CloseFn, raw_close
);
next_fn!(
    /// The next `shutdown`.
    shutdown, SHUTDOWN, c"shutdown", ShutdownFn, raw_shutdown
);
next_fn!(
    /// The next `dup2`.
    dup2, DUP2, c"dup2", Dup2Fn, raw_dup2
);
next_fn!(
    /// The next `dup3`.
    dup3, DUP3, c"dup3", Dup3Fn, raw_dup3
);
next_fn!(
    /// The next `getsockopt`.
    getsockopt, GETSOCKOPT, c"getsockopt", GetsockoptFn, raw_getsockopt
);

// The stand-ins, with the C signatures of the functions they stand in for.

unsafe extern "C" fn raw_connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    // SAFETY: the caller's arguments, passed on unchanged.
    unsafe { sys::connect(fd, addr, len) }
}

unsafe extern "C" fn raw_accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: as above (accept is accept4 with no flags).
    unsafe { sys::accept4(fd, addr, len, 0) }
}

unsafe extern "C" fn raw_accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    // SAFETY: as above.
    unsafe { sys::accept4(fd, addr, len, flags) }
}

unsafe extern "C" fn raw_close(fd: c_int) -> c_int {
    sys::close(fd)
}

unsafe extern "C" fn raw_shutdown(fd: c_int, how: c_int) -> c_int {
    sys::shutdown(fd, how)
}

unsafe extern "C" fn raw_dup2(old: c_int, new: c_int) -> c_int {
    if old == new {
        // dup2 onto itself only checks that `old` is open (dup3 would fail with EINVAL).
        return match sys::fcntl_get(old, libc::F_GETFD) {
            -1 => -1,
            _ => old,
        };
    }
    sys::dup3(old, new, 0)
}

unsafe extern "C" fn raw_dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    sys::dup3(old, new, flags)
}

unsafe extern "C" fn raw_getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    // SAFETY: the caller's arguments, passed on unchanged.
    unsafe { sys::getsockopt(fd, level, name, value, len) }
}

/// Closes one of the library's own descriptors, never through the hooked `close`.
pub fn close_own(fd: c_int) {
    let _errno = mptcpize_preload_support::errno::SavedErrno::save();
    sys::close(fd);
}
