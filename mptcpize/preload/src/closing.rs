//! `close`, `dup2` and `dup3`: each closes an fd, which may hold a socket the shim made
//! MPTCP; its mark in `made_mptcp` is cleared first, so that the number, once reused (by
//! a socket the program asks MPTCP for with the raw system call, by a `dup`), is not taken
//! for one the shim made. Then the next definition is called (glibc's, or the report
//! library's, which reports the connection), found with `dlsym(RTLD_NEXT)` on first use and
//! cached; the system call stands in where nothing is found.
//!
//! The mark is cleared before the call: once the fd is closed, another thread may get the
//! same number from `socket()` and be marked, and that mark must stay.

use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, Ordering};
use libc::c_int;
use mptcpize_preload_support::real::next_symbol;
use mptcpize_preload_support::sys;

use crate::made_mptcp;

type CloseFn = unsafe extern "C" fn(c_int) -> c_int;
type Dup2Fn = unsafe extern "C" fn(c_int, c_int) -> c_int;
type Dup3Fn = unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;

static CLOSE: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static DUP2: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
static DUP3: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

/// The cached pointer in `slot`, or `name` resolved now (or `fallback`) and cached.
#[inline(always)]
fn next(slot: &AtomicPtr<c_void>, name: &core::ffi::CStr, fallback: *mut c_void) -> *mut c_void {
    let f = slot.load(Ordering::Relaxed);
    if !f.is_null() {
        return f;
    }
    resolve(slot, name, fallback)
}

#[cold]
#[inline(never)]
fn resolve(slot: &AtomicPtr<c_void>, name: &core::ffi::CStr, fallback: *mut c_void) -> *mut c_void {
    let mut f = next_symbol(name);
    if f.is_null() {
        f = fallback;
    }
    slot.store(f, Ordering::Relaxed);
    f
}

/// `close(2)`, forgetting whether the shim made the socket at `fd`.
///
/// # Safety
/// Same contract as `close(2)`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    made_mptcp::clear(fd);
    let f = next(&CLOSE, c"close", raw_close as *mut c_void);
    // SAFETY: `f` is a `CloseFn` (dlsym's "close", or `raw_close`); the caller's argument.
    unsafe { core::mem::transmute::<*mut c_void, CloseFn>(f)(fd) }
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
    let f = next(&DUP2, c"dup2", raw_dup2 as *mut c_void);
    // SAFETY: `f` is a `Dup2Fn`; the caller's arguments.
    unsafe { core::mem::transmute::<*mut c_void, Dup2Fn>(f)(old, new) }
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
    let f = next(&DUP3, c"dup3", raw_dup3 as *mut c_void);
    // SAFETY: `f` is a `Dup3Fn`; the caller's arguments.
    unsafe { core::mem::transmute::<*mut c_void, Dup3Fn>(f)(old, new, flags) }
}

// The stand-ins, with the C signatures of the functions they stand in for.

unsafe extern "C" fn raw_close(fd: c_int) -> c_int {
    sys::close(fd)
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
