//! errno kept exactly as the program left it: the libraries' own calls (`dlsym`,
//! `getsockopt`, `write`, …) run between the program's call and its return, and must never
//! change what the program sees.

use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, Ordering};
use libc::c_int;

/// errno saved when created and put back when dropped.
pub struct SavedErrno(c_int);

impl SavedErrno {
    /// Saves the calling thread's errno.
    #[inline]
    pub fn save() -> SavedErrno {
        SavedErrno(errno())
    }
}

impl Drop for SavedErrno {
    #[inline]
    fn drop(&mut self) {
        set_errno(self.0);
    }
}

/// The C library's `__errno_location`, found with `dlsym` on first use.
///
/// Not imported: every import is a symbol the dynamic loader looks up when the library is
/// loaded, in every program (about 1,000 instructions for this one), and errno is only
/// needed on rare paths (a refused MPTCP socket or option, logging, the first call of a
/// hook). `dlsym(RTLD_DEFAULT)` finds the definition the import would have been bound to.
/// A successful `dlsym` leaves errno alone (glibc and musl), so the first use does not
/// change the errno it reads.
static ERRNO_LOCATION: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

/// `__errno_location()`: the calling thread's errno variable.
#[inline]
fn location() -> *mut c_int {
    let mut f = ERRNO_LOCATION.load(Ordering::Relaxed);
    if f.is_null() {
        f = resolve_location();
    }
    // SAFETY: `f` is the C library's `__errno_location`, which takes nothing and returns
    // this thread's errno.
    unsafe { core::mem::transmute::<*mut c_void, unsafe extern "C" fn() -> *mut c_int>(f)() }
}

#[cold]
#[inline(never)]
fn resolve_location() -> *mut c_void {
    // SAFETY: a NUL-terminated name.
    let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"__errno_location".as_ptr()) };
    if f.is_null() {
        // Every C library the shim runs with defines it (glibc, musl); without it there
        // is no errno to keep.
        crate::abort();
    }
    ERRNO_LOCATION.store(f, Ordering::Relaxed);
    f
}

/// The calling thread's errno (`__errno_location`).
#[inline(always)]
pub fn errno() -> c_int {
    // SAFETY: `location` returns this thread's errno.
    unsafe { *location() }
}

/// Sets the calling thread's errno.
#[inline(always)]
pub fn set_errno(value: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *location() = value }
}

/// The symbolic name of the errnos that `socket()` and `setsockopt()` under `mptcpize`
/// report (the shim's debug log, the launcher's seccomp log), or None for another.
pub fn errno_name(e: c_int) -> Option<&'static str> {
    Some(match e {
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::EINVAL => "EINVAL",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::ENOBUFS => "ENOBUFS",
        libc::ENOMEM => "ENOMEM",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EBADF => "EBADF",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_is_kept() {
        set_errno(libc::EMFILE);
        {
            let _saved = SavedErrno::save();
            set_errno(0);
        }
        assert_eq!(errno(), libc::EMFILE);
        // The same variable as the C library's (the first use found it with dlsym).
        // SAFETY: this thread's errno.
        assert_eq!(unsafe { *libc::__errno_location() }, libc::EMFILE);
        unsafe { *libc::__errno_location() = libc::EBADF };
        assert_eq!(errno(), libc::EBADF);
        // Threads have their own.
        std::thread::spawn(|| {
            set_errno(libc::ENOENT);
            assert_eq!(errno(), libc::ENOENT);
        })
        .join()
        .unwrap();
        assert_eq!(errno(), libc::EBADF);
    }

    #[test]
    fn names() {
        assert_eq!(errno_name(libc::ENOPROTOOPT), Some("ENOPROTOOPT"));
        assert_eq!(errno_name(libc::EBADF), Some("EBADF"));
        assert_eq!(errno_name(libc::ENOENT), None);
    }
}
