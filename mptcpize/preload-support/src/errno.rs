//! errno kept exactly as the program left it: the libraries' own calls (`dlsym`,
//! `getsockopt`, `write`, …) run between the program's call and its return, and must never
//! change what the program sees.

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

/// `__errno_location()`: the calling thread's errno variable.
///
/// Imported, so the dynamic loader binds it when it relocates the library (rustc links
/// with `-z now`), before any of the library's code runs: a hook called from a signal
/// handler, in a child forked from a threaded program, or before the library's own
/// constructor, reaches errno without entering the loader. (Finding it with `dlsym` on
/// first use instead saved its symbol lookup at start-up, but put a `dlsym` inside the
/// first hook that needed errno; see BENCHMARKS.md for what the import costs.)
#[inline(always)]
fn location() -> *mut c_int {
    // SAFETY: takes nothing, returns this thread's errno.
    unsafe { libc::__errno_location() }
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
        // The same variable as the C library's.
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
