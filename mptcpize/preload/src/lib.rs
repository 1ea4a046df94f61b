//! The `mptcpize` shim: an `LD_PRELOAD` library that turns a program's TCP sockets into
//! Multipath TCP sockets.
//!
//! - [`socket`] rewrites `socket(AF_INET | AF_INET6, SOCK_STREAM [| flags], 0 | IPPROTO_TCP)`
//!   to `IPPROTO_MPTCP` (the decision is [`mptcp_policy::is_tcp_stream_request`]), and makes
//!   the original call instead when the kernel cannot give MPTCP
//!   ([`mptcp_policy::Unavailable::from_errno`]), so `errno` is what the program would have
//!   seen without the shim.
//! - [`setsockopt`] gives a socket the shim made MPTCP back plain TCP, in place, when the
//!   program sets an option MPTCP refuses and plain TCP accepts (`TCP_USER_TIMEOUT`,
//!   `IP_TTL`, …) before connecting or listening, or keeps MPTCP and returns the error for an
//!   advisory one (`IPV6_TCLASS`), as `MPTCPIZE_REFUSED_OPTIONS` chooses (see `plain_tcp`
//!   and `mptcp_policy::plain_tcp::RefusedOptions`). Where TCP refuses the option too, the
//!   program gets TCP's errno.
//! - [`close`], [`dup2`] and [`dup3`] forget that an fd held a socket the shim made (see
//!   `made_mptcp`): sockets the program asked MPTCP for are never touched.
//!
//! The library runs inside every program started under `mptcpize`, so it is `no_std`: no
//! allocation, no lock, no thread-local, no unwinding, and no Rust runtime to initialise.
//! Settings (`MPTCPIZE_DEBUG`, Debian's `MPTCPWRAP_DEBUG`, `MPTCPIZE_REFUSED_OPTIONS`) are
//! read once when the library is loaded, and the next definitions of the functions it hooks
//! found then (what `dlsym(RTLD_NEXT)` gives, see `real`), so other preloaded libraries
//! still see the calls, and a hook never enters the dynamic loader: the first `socket()` or
//! `close()` of a process may come from a signal handler, or from a child forked while
//! another thread held the loader's lock. A
//! panic ends the process (`SIGABRT`, see `mptcpize_preload_support::abort`).
//!
//! Cost (see BENCHMARKS.md): the rewrite path is a few compares and one indirect call;
//! loading the library binds three imported symbols (`dl_iterate_phdr`, `__errno_location`,
//! and `dlsym` for the rare fallback) and walks the loaded objects' symbol tables once; the
//! link settings that keep the dynamic loader's work small are in `build.rs`.
// no_std in every build that ships (the profiles set panic = "abort"). A build with
// panic = "unwind" (cargo's default profile, as `cargo package` verifies the crate) links
// std instead: stable Rust has no unwinding without it.
#![cfg_attr(all(not(test), panic = "abort"), no_std)]
#![deny(missing_docs)]

mod closing;
mod debug_log;
mod hooks;
mod made_mptcp;
mod plain_tcp;
mod real;
mod settings;

pub use closing::{close, dup2, dup3};
pub use hooks::{setsockopt, socket};

mptcpize_preload_support::panic_handler!();

mptcpize_preload_support::on_load! {
    /// Runs when the dynamic loader maps the library, before the program's `main`: reads
    /// the settings from the environment and finds the real functions (see `real`), so the
    /// hooks never do either.
    fn on_load(envp) {
        settings::load(envp);
        real::resolve(envp);
    }
}
