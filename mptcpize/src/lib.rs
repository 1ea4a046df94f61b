//! `mptcpize`: run unmodified programs with their TCP sockets turned into Multipath TCP.
//!
//! The launcher is this library plus a thin binary (`src/main.rs`) that calls
//! [`launcher_main`]. The library is what the integration tests and the fuzz targets
//! (`fuzz/` at the workspace root) use; it is not meant as a stable API for other programs.
//!
//! - `mptcpize run [-d] [--] PROGRAM [ARGS…]` execs PROGRAM with the `LD_PRELOAD` shim
//!   (crate `mptcpize-preload`) and `GODEBUG=multipathtcp=1` for Go programs (module
//!   `run`); with `--report` (or `--report-file FILE`) also the report library (crate
//!   `mptcpize-report`): one line per connection when it closes.
//!   With `--seccomp` (chosen by itself for statically linked and setuid programs, which
//!   `LD_PRELOAD` cannot reach) a seccomp supervisor rewrites the program's `socket()` calls
//!   instead (module `seccomp`).
//! - `mptcpize enable|disable UNIT` adds or removes a systemd drop-in doing the same for a
//!   service ([`systemd`]).
//! - `mptcpize check` tells whether MPTCP works here (kernel, `net.mptcp.enabled`, path
//!   manager, limits, endpoints, a loopback connection, `--connect HOST:PORT`) and prints
//!   the command that fixes each problem ([`check`]).
//! - `mptcpize watch` shows the machine's MPTCP connections and their subflows, live or as
//!   one snapshot (`--once`, `--json`), from the kernel's socket tables ([`watch`]).
//! - `mptcpize help [COMMAND]` prints the help of the launcher or of one command.
//! - `mptcpize generate-assets DIR` (hidden, for packagers) writes the man pages and shell
//!   completions ([`assets`]).
//!
//! The shim is found next to the binary, in the install prefix, through `MPTCPIZE_PRELOAD`,
//! or else written out from a copy embedded at build time (module `shim`).
//!
//! Every message the launcher prints goes through `messages` (never std's
//! `println!`/`eprintln!`, which panic on a closed pipe).

pub mod assets;
pub mod check;
pub mod cli;
pub mod go_binary;
mod messages;
mod run;
mod seccomp;
mod shim;
pub mod systemd;
mod terminal_text;
pub mod watch;

#[doc(hidden)]
pub mod untrusted_input;

use clap::Parser;

/// Parses the process's command line (`std::env::args_os`) and runs it; never returns.
///
/// The binary's entry point. Exit status: the subcommand's; for `run`, the program replaces
/// this process (`execve(2)`), or 125 for the launcher's own error, 126 found but not
/// executable, 127 not found.
pub fn launcher_main() -> ! {
    messages::reserve_standard_fds();
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(help) = cli::help_of_help(&argv) {
        messages::print(messages::Stream::Stdout, format_args!("{help}"));
        std::process::exit(0);
    }
    let parsed = match cli::parse_run_fast(&argv) {
        Some(cli) => Ok(cli),
        None => cli::Cli::try_parse_from(&argv),
    };
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            // `--help`/`--version` go to stdout with status 0; a usage error is the
            // launcher's own error: 125, as `env`, `nice` and `timeout` do.
            let code = if e.use_stderr() {
                run::EXIT_LAUNCHER
            } else {
                0
            };
            let stream = if e.use_stderr() {
                messages::Stream::Stderr
            } else {
                messages::Stream::Stdout
            };
            messages::print(stream, format_args!("{}", e.render()));
            std::process::exit(code);
        }
    };
    if !matches!(cli.command, cli::Command::Run(_)) {
        // What std's runtime does for a Rust `main`: a closed pipe is an EPIPE error, not a
        // fatal signal. `run` leaves SIGPIPE as it found it, for the program it execs.
        // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    }
    // `process::exit` flushes stdout, as returning from a Rust `main` would.
    std::process::exit(cli::dispatch(cli));
}
