//! Settings read once, when the library is loaded, from the environment.
//!
//! The hooks never read the environment (see `mptcpize_preload_support::env`).

use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use mptcp_policy::refused_options::RefusedOptions;
use mptcpize_preload_support::env::{value_of, Environment};

/// Log each decision to stderr (`MPTCPIZE_DEBUG`, or Debian's `MPTCPWRAP_DEBUG`).
static DEBUG: AtomicBool = AtomicBool::new(false);

/// True when decisions are to be logged.
#[inline(always)]
pub fn debug() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

/// What to do when MPTCP refuses an option plain TCP accepts (`MPTCPIZE_REFUSED_OPTIONS`),
/// as an index into `RefusedOptions::ALL`.
static REFUSED_OPTIONS: AtomicU8 = AtomicU8::new(0);

/// The user's choice for options MPTCP refuses (`auto` unless `MPTCPIZE_REFUSED_OPTIONS`
/// says `swap` or `keep`; the launcher refuses any other value before the program starts).
#[inline]
pub fn refused_options() -> RefusedOptions {
    RefusedOptions::ALL[usize::from(REFUSED_OPTIONS.load(Ordering::Relaxed)) % 3]
}

/// `MPTCPIZE_REFUSED_OPTIONS=`.
const REFUSED_OPTIONS_VAR: &[u8] = b"MPTCPIZE_REFUSED_OPTIONS=";

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
        // SAFETY: as above.
        if let Some(choice) = unsafe { refused_options_value(var) } {
            let index = RefusedOptions::ALL.iter().position(|c| *c == choice);
            REFUSED_OPTIONS.store(index.unwrap_or(0) as u8, Ordering::Relaxed);
        }
    }
}

/// The choice `var` sets, when it is `MPTCPIZE_REFUSED_OPTIONS=auto|swap|keep`.
///
/// # Safety
/// `var` must point to a NUL-terminated string.
unsafe fn refused_options_value(var: *const u8) -> Option<RefusedOptions> {
    // SAFETY: `var` is NUL-terminated; each read is at or before its NUL.
    unsafe {
        let value = value_of(var, REFUSED_OPTIONS_VAR)?;
        // The longest name is 4 bytes: read at most 5, stopping at the NUL.
        let mut buf = [0u8; 5];
        let mut len = 0;
        while len < buf.len() && *value.add(len) != 0 {
            buf[len] = *value.add(len);
            len += 1;
        }
        RefusedOptions::from_value(&buf[..len])
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

    #[test]
    fn refused_options_variable() {
        let choice = |var: &core::ffi::CStr| unsafe { refused_options_value(var.as_ptr().cast()) };
        assert_eq!(
            choice(c"MPTCPIZE_REFUSED_OPTIONS=swap"),
            Some(RefusedOptions::Swap)
        );
        assert_eq!(
            choice(c"MPTCPIZE_REFUSED_OPTIONS=keep"),
            Some(RefusedOptions::Keep)
        );
        assert_eq!(
            choice(c"MPTCPIZE_REFUSED_OPTIONS=auto"),
            Some(RefusedOptions::Auto)
        );
        assert_eq!(choice(c"MPTCPIZE_REFUSED_OPTIONS=swapx"), None);
        assert_eq!(choice(c"MPTCPIZE_REFUSED_OPTIONS="), None);
        assert_eq!(choice(c"MPTCPIZE_REFUSED_OPTION=swap"), None);
        assert_eq!(refused_options(), RefusedOptions::Auto);
        let vars = [c"MPTCPIZE_REFUSED_OPTIONS=keep".as_ptr(), core::ptr::null()];
        load(unsafe { mptcpize_preload_support::env::environment(vars.as_ptr()) });
        assert_eq!(refused_options(), RefusedOptions::Keep);
        REFUSED_OPTIONS.store(0, Ordering::Relaxed);
    }
}
