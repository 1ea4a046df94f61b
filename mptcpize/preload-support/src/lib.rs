//! What the two `LD_PRELOAD` libraries of `mptcpize` share: the shim (`mptcpize-preload`)
//! and the report library of `mptcpize run --report` (`mptcpize-report`).
//!
//! Both run inside every program started under `mptcpize`, so this crate is `no_std` like
//! them: no allocation, no lock, no thread-local, no unwinding. Everything here is either
//! inlined into its caller or called only on rare paths (loading, refusals, logging), and
//! it imports nothing from the C library but `dlsym` and `__errno_location`: every import
//! is one more symbol the dynamic loader resolves in every program (see [`raw_syscall`]).
//!
//! A hook never enters the dynamic loader: imports are bound when the library is
//! relocated (`-z now`), and the functions the hooks stand in front of are found in the
//! library's constructor ([`on_load!`], with `dlsym`: [`next_symbol`]), not on first use.
//! So a first `socket()` or `close()` made inside a signal handler, or in a child forked
//! from a threaded program while another thread held the loader's lock, is as safe as any
//! other.
//!
//! - [`errno`]: errno kept as the program left it ([`errno::SavedErrno`]), and errno names
//!   for messages (also used by the launcher's seccomp log).
//! - [`names`]: `socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)` in messages, the same in the
//!   shim's debug log and the launcher's seccomp log.
//! - [`env`](mod@env): settings read from the environment the loader passes to `.init_array`.
//! - [`next_symbol`]: `dlsym(RTLD_NEXT)`, the lookup of the function a hook stands in front of,
//!   made in the constructor.
//! - [`raw_syscall`]: raw system calls, issued without a libc import.
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
pub mod next_symbol;
pub mod raw_syscall;

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
/// build, which have std's): [`abort`], which ends the process by `SIGABRT` on every
/// architecture.
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

/// Ends the process at once, on every architecture: `SIGABRT` to the calling thread (what
/// `abort(3)` raises: a core dump where enabled, and the death by signal a parent or a
/// service manager expects), and, should the program have blocked, ignored or caught
/// `SIGABRT` and returned from its handler, `exit_group(128 + SIGABRT)`. Raw system calls
/// ([`raw_syscall`]), not abort(3), which would cost every program a symbol lookup at load; never
/// a trap instruction, whose handler may return to the same instruction, nor a loop.
#[cold]
#[inline(never)]
pub fn abort() -> ! {
    raw_syscall::tgkill(raw_syscall::getpid(), raw_syscall::gettid(), libc::SIGABRT);
    raw_syscall::exit_group(128 + libc::SIGABRT)
}

#[cfg(test)]
mod tests {
    /// The panic path ends the process by `SIGABRT`, also when the program ignores it.
    #[test]
    fn abort_ends_the_process() {
        for ignore in [false, true] {
            // SAFETY: the child only makes system calls and then ends.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0);
            if pid == 0 {
                if ignore {
                    // SAFETY: setting a disposition.
                    unsafe { libc::signal(libc::SIGABRT, libc::SIG_IGN) };
                }
                super::abort();
            }
            let mut status = 0;
            // SAFETY: our child.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            if ignore {
                assert!(libc::WIFEXITED(status), "{status:#x}");
                assert_eq!(libc::WEXITSTATUS(status), 128 + libc::SIGABRT);
            } else {
                assert!(libc::WIFSIGNALED(status), "{status:#x}");
                assert_eq!(libc::WTERMSIG(status), libc::SIGABRT);
            }
        }
    }
}
