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
            let var = core::ffi::CStr::from_ptr(*entry).to_bytes();
            if DEBUG_VARS.iter().any(|name| is_enabled(var, name)) {
                DEBUG.store(true, Ordering::Relaxed);
            }
            entry = entry.add(1);
        }
    }
}

/// True when `var` (`NAME=value`) sets `name` to something other than empty or `0`.
fn is_enabled(var: &[u8], name: &[u8]) -> bool {
    match var
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix(b"="))
    {
        Some(value) => !value.is_empty() && value != b"0",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_variable_values() {
        assert!(is_enabled(b"MPTCPIZE_DEBUG=1", b"MPTCPIZE_DEBUG"));
        assert!(is_enabled(b"MPTCPIZE_DEBUG=yes", b"MPTCPIZE_DEBUG"));
        assert!(!is_enabled(b"MPTCPIZE_DEBUG=0", b"MPTCPIZE_DEBUG"));
        assert!(!is_enabled(b"MPTCPIZE_DEBUG=", b"MPTCPIZE_DEBUG"));
        assert!(!is_enabled(b"MPTCPIZE_DEBUGX=1", b"MPTCPIZE_DEBUG"));
        assert!(!is_enabled(b"XMPTCPIZE_DEBUG=1", b"MPTCPIZE_DEBUG"));
    }
}
