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
//! loading the library resolves one imported symbol (`dlsym`) and calls no `dlsym`; the
//! link settings that keep the dynamic loader's work small are in `build.rs`.
// no_std in every build that ships (the profiles set panic = "abort"). A build with
// panic = "unwind" (cargo's default profile, as `cargo package` verifies the crate) links
// std instead: stable Rust has no unwinding without it.
#![cfg_attr(all(not(test), panic = "abort"), no_std)]
#![deny(missing_docs)]

mod debug_log;
mod explicit_mptcp;
mod hooks;
mod plain_tcp;
mod real;
mod settings;

pub use hooks::{setsockopt, socket};

mptcpize_preload_support::panic_handler!();

mptcpize_preload_support::on_load! {
    /// Runs when the dynamic loader maps the library, before the program's `main`: reads
    /// the settings from the environment, so the hooks never do. The real functions are
    /// resolved on first use instead (see `real`): a program that never creates a socket
    /// (most programs a shell starts) does not pay for `dlsym`.
    fn on_load(envp) {
        settings::load(envp);
    }
}
