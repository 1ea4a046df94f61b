//! The function a hook stands in front of: the next definition after the library
//! (normally glibc's, or another preloaded library's), so that library keeps working.

use core::ffi::{c_void, CStr};

use crate::errno::SavedErrno;

/// `dlsym(RTLD_NEXT, name)`, or NULL when nothing defines `name` after this library;
/// keeps errno (`dlsym` may change it) as it was. Called once per function, from the
/// library's constructor (never from a hook: `dlsym` takes the loader's lock and may
/// allocate, which a hook running in a signal handler or in a child forked from a threaded
/// program must not do); the libraries cache the result.
#[cold]
pub fn next_symbol(name: &CStr) -> *mut c_void {
    let _errno = SavedErrno::save();
    // SAFETY: `name` is NUL-terminated.
    unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) }
}
