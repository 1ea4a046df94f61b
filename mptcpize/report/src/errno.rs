//! errno kept exactly as the program left it: the library's own system calls (getsockopt,
//! write, dlsym) run between the program's call and its return.

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

/// The calling thread's errno.
#[inline(always)]
pub fn errno() -> c_int {
    // SAFETY: __errno_location always returns this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's errno.
#[inline(always)]
pub fn set_errno(value: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = value }
}
