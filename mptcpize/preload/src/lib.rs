//! The `mptcpize` shim: an `LD_PRELOAD` library that turns a program's TCP sockets into
//! Multipath TCP sockets.
//!
//! - [`socket`] rewrites `socket(AF_INET | AF_INET6, SOCK_STREAM [| flags], 0 | IPPROTO_TCP)`
//!   to `IPPROTO_MPTCP` (the decision is [`mptcp_policy::is_tcp_stream_request`]), and makes
//!   the original call instead when the kernel cannot give MPTCP
//!   ([`mptcp_policy::Unavailable::from_errno`]), so `errno` is what the program would have
//!   seen without the shim.
//! - [`setsockopt`], when MPTCP refuses an option plain TCP accepts on a socket the shim
//!   made (`made_mptcp`: sockets the program asked MPTCP for are never touched), decides as
//!   `MPTCPIZE_REFUSED_OPTIONS` chooses (`mptcp_policy::refused_options::RefusedOptions::decide`:
//!   by default by the value, the option's class and the socket's role): keep MPTCP and
//!   succeed (a value that changes nothing, an advisory option, with `IP_TOS` for
//!   `IPV6_TCLASS`), give the socket plain TCP in place before it connects or listens (see
//!   `shim_tcp_swap`), or keep MPTCP with its error. Where TCP refuses the option too, the
//!   program gets TCP's errno.
//!
//! The library runs inside every program started under `mptcpize`, so it is `no_std`: no
//! allocation, no lock, no thread-local, no unwinding, and no Rust runtime to initialise.
//! Settings (`MPTCPIZE_DEBUG`, Debian's `MPTCPWRAP_DEBUG`, `MPTCPIZE_REFUSED_OPTIONS`) are
//! read once when the library is loaded, and the next definitions of the functions it hooks
//! found then (`dlsym(RTLD_NEXT)`, see `next_socket_fns`), so other preloaded libraries
//! still see the calls, and a hook never enters the dynamic loader: the first `socket()` or
//! `close()` of a process may come from a signal handler, or from a child forked while
//! another thread held the loader's lock. A
//! panic ends the process (`SIGABRT`, see `mptcpize_preload_support::abort`).
//!
//! Cost (see BENCHMARKS.md): the rewrite path is a few compares, a call to the next
//! `socket` and one system call (`fstat`, the new socket's identity); loading the library
//! binds two imported symbols (`dlsym`, `__errno_location`) and makes `dlsym` calls;
//! `build.rs` has the one link setting the library needs.
// no_std in every build that ships (the profiles set panic = "abort"). A build with
// panic = "unwind" (cargo's default profile, as `cargo package` verifies the crate) links
// std instead: stable Rust has no unwinding without it.
#![cfg_attr(all(not(test), panic = "abort"), no_std)]
#![deny(missing_docs)]

mod debug_log;
mod made_mptcp;
mod next_socket_fns;
mod settings;
mod shim_tcp_swap;
mod socket_hooks;
mod socket_rewrite;

pub use socket_hooks::{setsockopt, socket};

mptcpize_preload_support::panic_handler!();

mptcpize_preload_support::on_load! {
    /// Runs when the dynamic loader maps the library, before the program's `main`: reads
    /// the settings from the environment and finds the next `socket` and `setsockopt` (see
    /// `next_socket_fns`), so the hooks never do either.
    fn on_load(envp) {
        settings::load(envp);
        next_socket_fns::resolve();
        socket_rewrite::publish();
    }
}
