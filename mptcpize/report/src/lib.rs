//! The library behind `mptcpize run --report`: when a TCP or MPTCP connection the program
//! made (`connect`) or accepted (`accept`, `accept4`) is closed, or is still open when the
//! program exits, one line goes to stderr or to the file named by `MPTCPIZE_REPORT`: the
//! peer, whether the connection is MPTCP, fell back to TCP or was plain TCP, its subflows
//! and their addresses, the data bytes sent and received, and how long it lasted (see
//! [`report_line`] for the fields).
//!
//! It is a separate library from the shim (`mptcpize-preload`), preloaded after it only
//! when a report is asked for: a program run without `--report` gets no `close()` hook.
//! Like the shim it is `no_std`, allocates nothing, takes no lock and preserves errno; the
//! per-connection state is a fixed table indexed by descriptor (see `table`), and the
//! connection's facts are read with `getsockopt` just before the socket is closed:
//! `SO_PROTOCOL`, `TCP_IS_MPTCP`, `MPTCP_FULL_INFO` (or `MPTCP_INFO` and
//! `MPTCP_SUBFLOW_ADDRS` before Linux 6.5) or `TCP_INFO`.
//!
//! What it cannot see: connections made with the raw system call (Go's runtime, static
//! programs) or through descriptors the program got otherwise (inherited over `exec`,
//! passed over a UNIX socket); connections still open when the program ends by `_exit` or
//! a signal. A connection is reported when the descriptor `connect`/`accept` gave is
//! closed, even if a `dup` of it lives on; one closed without the `close` function
//! (`close_range`, `fclose` of an `fdopen`ed socket, the raw system call) is reported at
//! exit if its descriptor then still holds a TCP socket, else not at all. After `fork()`
//! only the parent reports the connections it had (see `table`).
//!
//! A hook never enters the dynamic loader: the functions it stands in front of are found in
//! the constructor (see `next_connection_fns`), and the C library functions it imports are
//! bound when the library is loaded (`-z now`, the linker's default for Rust libraries; see
//! `build.rs`).
// no_std in every build that ships (the profiles set panic = "abort"). A build with
// panic = "unwind" (cargo's default profile, as `cargo package` verifies the crate) links
// std instead: stable Rust has no unwinding without it.
#![cfg_attr(all(not(test), panic = "abort"), no_std)]
#![deny(missing_docs)]

pub mod connection_facts;
mod connection_hooks;
pub mod incoming_start;
mod line_buffer;
mod line_destination;
#[cfg(test)]
mod loopback_sockets;
mod next_connection_fns;
pub mod report_line;
mod table;

pub use connection_hooks::{accept, accept4, close, connect, dup2, dup3, getsockopt, shutdown};

mptcpize_preload_support::panic_handler!();

mptcpize_preload_support::on_load! {
    /// Runs when the dynamic loader maps the library: finds the functions the hooks stand
    /// in front of, reads `MPTCPIZE_REPORT` and opens the report file, and registers the
    /// `fork()` handler.
    fn on_load(envp) {
        next_connection_fns::resolve();
        // SAFETY: called once, by the loader, before the program runs any thread.
        unsafe { line_destination::load(envp) };
        // SAFETY: a handler with no preconditions, registered before any thread exists.
        unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
    }
}

/// Runs at `exit()` (after the program's own `atexit` handlers): reports the connections
/// still open.
#[cfg(not(test))]
#[used]
#[link_section = ".fini_array"]
static ON_EXIT: unsafe extern "C" fn() = on_exit;

#[cfg_attr(test, allow(dead_code))]
unsafe extern "C" fn on_exit() {
    report_line::at_exit();
}

/// In a child after `fork()`: the connections in the table are the parent's to report.
unsafe extern "C" fn in_child() {
    table::new_generation();
}
