//! The `mptcpize` shim: an `LD_PRELOAD` library that turns a program's TCP sockets into
//! Multipath TCP sockets.
//!
//! - [`socket`] rewrites `socket(AF_INET | AF_INET6, SOCK_STREAM [| flags], 0 | IPPROTO_TCP)`
//!   to `IPPROTO_MPTCP` (the decision is [`mptcp_policy::is_tcp_stream_request`]), and makes
//!   the original call instead when the kernel cannot give MPTCP
//!   ([`mptcp_policy::Unavailable::from_errno`]), so `errno` is what the program would have
//!   seen without the shim.
//! - [`setsockopt`] gives a socket the shim made MPTCP back plain TCP, in place, when the
//!   program sets an option MPTCP refuses (`TCP_USER_TIMEOUT`, `IP_TTL`, `IPV6_TCLASS`, …)
//!   before connecting or listening (see `plain_tcp`).
//!
//! The library runs inside every program started under `mptcpize`, so it is `no_std`: no
//! allocation, no lock, no thread-local, no unwinding, and no Rust runtime to initialise.
//! Settings (`MPTCPIZE_DEBUG`, and Debian's `MPTCPWRAP_DEBUG`) are read once when the library
//! is loaded; the real `socket`/`setsockopt` are found with `dlsym(RTLD_NEXT)` once, on first
//! use, so other preloaded libraries still see the calls.
//!
//! Cost (see BENCHMARKS.md): the rewrite path is a few compares and one indirect call;
//! loading the library resolves no symbol (`-z lazy`, see `build.rs`) and calls no `dlsym`.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

mod debug_log;
mod explicit_mptcp;
mod hooks;
mod plain_tcp;
mod real;
mod settings;
mod sys;

pub use hooks::{setsockopt, socket};

/// A panic would have to unwind through C frames, which is undefined behaviour: abort
/// instead (the workspace profiles also set `panic = "abort"`). Nothing in the hooks is
/// expected to panic; this is the last line of defence.
#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // What `core::intrinsics::abort` does (a trap instruction), without importing
    // abort(3), which would cost every program a symbol lookup at load (see `sys`).
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

/// Runs when the dynamic loader maps the library, before the program's `main`: reads the
/// settings from the environment, so the hooks never do. The real functions are resolved
/// on first use instead (see `real`): a program that never creates a socket (most programs
/// a shell starts) does not pay for `dlsym`.
///
/// glibc calls `.init_array` entries as `(argc, argv, envp)`.
#[cfg(not(test))]
#[used]
#[link_section = ".init_array"]
static ON_LOAD: unsafe extern "C" fn(
    libc::c_int,
    *const *const libc::c_char,
    *const *const libc::c_char,
) = on_load;

#[cfg_attr(test, allow(dead_code))]
unsafe extern "C" fn on_load(
    _argc: libc::c_int,
    _argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
) {
    // glibc passes the process's NULL-terminated environment; other C libraries (musl)
    // pass no arguments to `.init_array` functions, so `envp` is only read on glibc.
    #[cfg(target_env = "gnu")]
    // SAFETY: see above.
    unsafe {
        settings::load(envp)
    };
    #[cfg(not(target_env = "gnu"))]
    let _ = envp;
}
