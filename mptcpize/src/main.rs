//! The `mptcpize` binary: the C `main` calls the library's [`mptcpize::launcher_main`].
//!
//! The launcher's own start-up is part of every `mptcpize run`: with `no_main`, the C `main`
//! below runs without std's runtime set-up, whose main-thread stack guard costs about as
//! much as the rest of the launcher (glibc's `pthread_getattr_np` parses `/proc/self/maps`),
//! and which sets SIGPIPE to ignored. `std::env::args_os` still works: on glibc, std
//! captures `argv` itself when the binary is loaded. See BENCHMARKS.md.
// The test harness brings its own `main`.
#![cfg_attr(not(test), no_main)]

/// The C entry point.
#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    mptcpize::launcher_main()
}
