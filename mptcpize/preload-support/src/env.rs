//! Settings read from the environment, once, when a library is loaded (see [`on_load!`]).
//!
//! The hooks never read the environment: `getenv` on every call is what makes Debian's shim
//! cost grow with the size of the environment. The comparisons are byte by byte and stop at
//! the first difference (no `strlen`: most variables differ from `MPTCP…` at their first
//! byte).
//!
//! [`on_load!`]: crate::on_load

use libc::c_char;

/// The process's environment, as the dynamic loader passed it to `.init_array`: an
/// iterator over its `NAME=value` C strings.
#[derive(Clone, Copy)]
pub struct Environment(*const *const c_char);

/// The environment `envp` points to; empty when `envp` is NULL, and on C libraries other
/// than glibc, which pass `.init_array` functions no arguments (musl).
///
/// # Safety
/// `envp` must be NULL or point to a NULL-terminated array of NUL-terminated strings that
/// outlives the returned value.
#[inline]
pub unsafe fn environment(envp: *const *const c_char) -> Environment {
    if cfg!(target_env = "gnu") {
        Environment(envp)
    } else {
        Environment(core::ptr::null())
    }
}

impl Iterator for Environment {
    /// One `NAME=value` string, NUL-terminated.
    type Item = *const u8;

    #[inline]
    fn next(&mut self) -> Option<*const u8> {
        if self.0.is_null() {
            return None;
        }
        // SAFETY: `environment`'s caller guarantees a NULL-terminated array; the pointer
        // never moves past its NULL.
        unsafe {
            let var = *self.0;
            if var.is_null() {
                self.0 = core::ptr::null();
                return None;
            }
            self.0 = self.0.add(1);
            Some(var.cast::<u8>())
        }
    }
}

/// The value of the C string `var` when it starts with `prefix` (a name and its `=`, e.g.
/// `b"MPTCPIZE_REPORT="`), else None.
///
/// # Safety
/// `var` must point to a NUL-terminated string.
#[inline]
pub unsafe fn value_of(var: *const u8, prefix: &[u8]) -> Option<*const u8> {
    // SAFETY: each read is at or before the string's NUL (a mismatch, NUL included, stops;
    // `prefix` has no NUL).
    unsafe {
        for (i, &b) in prefix.iter().enumerate() {
            if *var.add(i) != b {
                return None;
            }
        }
        Some(var.add(prefix.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_walk() {
        let value = |s: &core::ffi::CStr| unsafe { value_of(s.as_ptr().cast(), b"NAME=") };
        let v = value(c"NAME=x").expect("NAME=x has a value");
        assert_eq!(unsafe { *v }, b'x');
        assert_eq!(unsafe { *value(c"NAME=").unwrap() }, 0);
        assert!(value(c"NAMEX=x").is_none());
        assert!(value(c"NAM").is_none());
        assert!(value(c"").is_none());

        let vars = [c"A=1".as_ptr(), c"B=2".as_ptr(), core::ptr::null()];
        let seen: Vec<u8> = unsafe { environment(vars.as_ptr()) }
            .map(|v| unsafe { *v })
            .collect();
        assert_eq!(seen, b"AB");
        assert_eq!(unsafe { environment(core::ptr::null()) }.count(), 0);
    }
}
