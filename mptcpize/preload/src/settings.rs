//! Settings read once, when the library is loaded, from the environment.
//!
//! The hooks never read the environment (see `mptcpize_preload_support::env`).

use core::sync::atomic::{AtomicBool, Ordering};
use mptcpize_preload_support::env::{value_of, Environment};

/// Log each decision to stderr (`MPTCPIZE_DEBUG`, or Debian's `MPTCPWRAP_DEBUG`).
static DEBUG: AtomicBool = AtomicBool::new(false);

/// True when decisions are to be logged.
#[inline(always)]
pub fn debug() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

/// The variables that turn debug logging on, when set to anything but empty or `0`.
const DEBUG_VARS: [&[u8]; 2] = [b"MPTCPIZE_DEBUG=", b"MPTCPWRAP_DEBUG="];

/// Reads the settings from the environment.
pub fn load(env: Environment) {
    for var in env {
        // SAFETY: the environment's strings are NUL-terminated.
        if DEBUG_VARS
            .iter()
            .any(|name| unsafe { is_enabled(var, name) })
        {
            DEBUG.store(true, Ordering::Relaxed);
        }
    }
}

/// True when the C string `var` (`NAME=value`) sets `name` (`NAME=`) to something other
/// than empty or `0`.
///
/// # Safety
/// `var` must point to a NUL-terminated string.
unsafe fn is_enabled(var: *const u8, name: &[u8]) -> bool {
    // SAFETY: `var` is NUL-terminated; each read is at or before its NUL.
    unsafe {
        let Some(value) = value_of(var, name) else {
            return false;
        };
        let first = *value;
        !(first == 0 || (first == b'0' && *value.add(1) == 0))
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
        assert!(enabled(c"MPTCPIZE_DEBUG=1", b"MPTCPIZE_DEBUG="));
        assert!(enabled(c"MPTCPIZE_DEBUG=yes", b"MPTCPIZE_DEBUG="));
        assert!(enabled(c"MPTCPIZE_DEBUG=00", b"MPTCPIZE_DEBUG="));
        assert!(!enabled(c"MPTCPIZE_DEBUG=0", b"MPTCPIZE_DEBUG="));
        assert!(!enabled(c"MPTCPIZE_DEBUG=", b"MPTCPIZE_DEBUG="));
        assert!(!enabled(c"MPTCPIZE_DEBUG", b"MPTCPIZE_DEBUG="));
        assert!(!enabled(c"MPTCPIZE_DEBUGX=1", b"MPTCPIZE_DEBUG="));
        assert!(!enabled(c"XMPTCPIZE_DEBUG=1", b"MPTCPIZE_DEBUG="));
        assert!(!enabled(c"", b"MPTCPIZE_DEBUG="));
        assert!(enabled(c"MPTCPWRAP_DEBUG=1", b"MPTCPWRAP_DEBUG="));
    }

    #[test]
    fn load_walks_the_environment() {
        let vars = [
            c"PATH=/bin".as_ptr(),
            c"MPTCPWRAP_DEBUG=1".as_ptr(),
            core::ptr::null(),
        ];
        assert!(!debug());
        load(unsafe { mptcpize_preload_support::env::environment(vars.as_ptr()) });
        assert!(debug());
        DEBUG.store(false, Ordering::Relaxed);
    }
}
