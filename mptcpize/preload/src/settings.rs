//! Settings read once, when the library is loaded, from the environment.
//!
//! The hooks never read the environment: `getenv` on every `socket()` is what makes Debian's
//! shim cost grow with the size of the environment.

use core::sync::atomic::{AtomicBool, Ordering};
use libc::c_char;

/// Log each decision to stderr (`MPTCPIZE_DEBUG`, or Debian's `MPTCPWRAP_DEBUG`).
static DEBUG: AtomicBool = AtomicBool::new(false);

/// True when decisions are to be logged.
#[inline(always)]
pub fn debug() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

/// The names that turn debug logging on, when set to anything but empty or `0`.
const DEBUG_VARS: [&[u8]; 2] = [b"MPTCPIZE_DEBUG", b"MPTCPWRAP_DEBUG"];

/// Reads the settings from `envp`, a NULL-terminated array of `NAME=value` C strings (or
/// NULL).
///
/// # Safety
/// `envp` must be NULL or point to a NULL-terminated array of NUL-terminated strings.
pub unsafe fn load(envp: *const *const c_char) {
    if envp.is_null() {
        return;
    }
    let mut entry = envp;
    // SAFETY: the caller guarantees a NULL-terminated array of C strings.
    unsafe {
        while !(*entry).is_null() {
            let var = (*entry).cast::<u8>();
            if DEBUG_VARS.iter().any(|name| is_enabled(var, name)) {
                DEBUG.store(true, Ordering::Relaxed);
            }
            entry = entry.add(1);
        }
    }
}

/// True when the C string `var` (`NAME=value`) sets `name` to something other than empty
/// or `0`. Compares byte by byte and stops at the first difference (no `strlen`: most
/// variables differ from `MPTCP…` at their first byte).
///
/// # Safety
/// `var` must point to a NUL-terminated string.
unsafe fn is_enabled(var: *const u8, name: &[u8]) -> bool {
    // SAFETY: each read is at or before the string's NUL (a mismatch, NUL included, stops).
    unsafe {
        for (i, &b) in name.iter().enumerate() {
            if *var.add(i) != b {
                return false;
            }
        }
        let value = var.add(name.len());
        if *value != b'=' {
            return false;
        }
        let first = *value.add(1);
        !(first == 0 || (first == b'0' && *value.add(2) == 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled(var: &core::ffi::CStr, name: &[u8]) -> bool {
        unsafe { is_enabled(var.as_ptr().cast(), name) }
    }

    #[test]
    fn debug_variable_values() {
        assert!(enabled(c"MPTCPIZE_DEBUG=1", b"MPTCPIZE_DEBUG"));
        assert!(enabled(c"MPTCPIZE_DEBUG=yes", b"MPTCPIZE_DEBUG"));
        assert!(enabled(c"MPTCPIZE_DEBUG=00", b"MPTCPIZE_DEBUG"));
        assert!(!enabled(c"MPTCPIZE_DEBUG=0", b"MPTCPIZE_DEBUG"));
        assert!(!enabled(c"MPTCPIZE_DEBUG=", b"MPTCPIZE_DEBUG"));
        assert!(!enabled(c"MPTCPIZE_DEBUG", b"MPTCPIZE_DEBUG"));
        assert!(!enabled(c"MPTCPIZE_DEBUGX=1", b"MPTCPIZE_DEBUG"));
        assert!(!enabled(c"XMPTCPIZE_DEBUG=1", b"MPTCPIZE_DEBUG"));
        assert!(!enabled(c"", b"MPTCPIZE_DEBUG"));
        assert!(enabled(c"MPTCPWRAP_DEBUG=1", b"MPTCPWRAP_DEBUG"));
    }

    #[test]
    fn load_walks_the_environment() {
        let vars = [
            c"PATH=/bin".as_ptr(),
            c"MPTCPWRAP_DEBUG=1".as_ptr(),
            core::ptr::null(),
        ];
        assert!(!debug());
        unsafe { load(vars.as_ptr()) };
        assert!(debug());
        DEBUG.store(false, Ordering::Relaxed);
    }
}
