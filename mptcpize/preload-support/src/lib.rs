//! What the two `LD_PRELOAD` libraries of `mptcpize` share: the shim (`mptcpize-preload`)
//! and the report library of `mptcpize run --report` (`mptcpize-report`).
//!
//! Both run inside every program started under `mptcpize`, so this crate is `no_std` like
//! them: no allocation, no lock, no thread-local, no unwinding. Everything here is either
//! inlined into its caller or called only on rare paths (loading, the first call of a
//! hook, logging), and it imports nothing from the C library but `dlsym`: every import is
//! one more symbol the dynamic loader resolves in every program (see [`sys`]; errno is
//! reached through a `__errno_location` found with `dlsym` on first use, see [`errno`]).
//!
//! - [`errno`]: errno kept as the program left it ([`errno::SavedErrno`]), and errno names
//!   for messages (also used by the launcher's seccomp log).
//! - [`names`]: `socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)` in messages, the same in the
//!   shim's debug log and the launcher's seccomp log.
//! - [`env`](mod@env): settings read from the environment the loader passes to `.init_array`.
//! - [`real`]: `dlsym(RTLD_NEXT)`, the lookup of the function a hook stands in front of.
//! - [`sys`]: raw system calls, issued without a libc import.
//! - [`on_load!`] and [`panic_handler!`]: the load-time constructor and the panic handler
//!   each library defines the same way.
// no_std in every build that ships (the profiles set panic = "abort"). A build with
// panic = "unwind" (cargo's default profile, as `cargo package` verifies the crate) links
// std instead: stable Rust has no unwinding without it.
#![cfg_attr(all(not(test), panic = "abort"), no_std)]
#![deny(missing_docs)]

pub mod env;
pub mod errno;
pub mod names;
pub mod real;
pub mod sys;

/// The signature glibc calls `.init_array` entries with: `(argc, argv, envp)`.
pub type InitFn =
    unsafe extern "C" fn(libc::c_int, *const *const libc::c_char, *const *const libc::c_char);

/// Defines `unsafe extern "C" fn $name($envp)` and puts it in the library's `.init_array`,
/// so the dynamic loader runs it when it maps the library, before the program's `main`.
///
/// glibc passes `.init_array` functions `(argc, argv, envp)`, `envp` being the process's
/// NULL-terminated environment; other C libraries (musl) pass no arguments, so there
/// `$envp` is NULL (see [`env::environment`]). Not registered in the library's unit tests
/// (`cfg(test)`), where the test harness is the program.
#[macro_export]
macro_rules! on_load {
    ($(#[$doc:meta])* fn $name:ident($envp:ident) $body:block) => {
        $(#[$doc])*
        #[cfg(not(test))]
        #[used]
        #[link_section = ".init_array"]
        static ON_LOAD: $crate::InitFn = $name;

        #[cfg_attr(test, allow(dead_code))]
        unsafe extern "C" fn $name(
            _argc: ::libc::c_int,
            _argv: *const *const ::libc::c_char,
            $envp: *const *const ::libc::c_char,
        ) {
            let $envp = $crate::env::environment($envp);
            $body
        }
    };
}

/// Defines the library's `#[panic_handler]` (not in its unit tests nor in a `panic = "unwind"`
/// build, which have std's):
/// [`abort`].
///
/// A panic would have to unwind through C frames, which is undefined behaviour (the
/// workspace profiles also set `panic = "abort"`). Nothing in the hooks is expected to
/// panic; this is the last line of defence.
#[macro_export]
macro_rules! panic_handler {
    () => {
        #[cfg(all(not(test), panic = "abort"))]
        #[panic_handler]
        fn panic(_: &::core::panic::PanicInfo) -> ! {
            $crate::abort()
        }
    };
}

/// Ends the process at once with a trap instruction: what `core::intrinsics::abort` does,
/// without importing abort(3), which would cost every program a symbol lookup at load
/// (see [`sys`]). x86 raises `SIGILL`, aarch64 `SIGTRAP`.
#[inline(always)]
pub fn abort() -> ! {
    // SAFETY: `ud2` raises SIGILL and does not return.
    #[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
    unsafe {
        core::arch::asm!("ud2", options(noreturn))
    }
    // SAFETY: `brk` raises SIGTRAP and does not return.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!("brk #0x1", options(noreturn))
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64")))]
    loop {}
}
