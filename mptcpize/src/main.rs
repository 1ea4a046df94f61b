//! `mptcpize`: run unmodified programs with their TCP sockets turned into Multipath TCP.
//!
//! - `mptcpize run [-d] [--] PROGRAM [ARGS…]` execs PROGRAM with the `LD_PRELOAD` shim
//!   (crate `mptcpize-preload`) and `GODEBUG=multipathtcp=1` for Go programs ([`run`]).
//! - `mptcpize enable|disable UNIT` adds or removes a systemd drop-in doing the same for a
//!   service ([`systemd`]).
//!
//! The shim is found next to the binary, in the install prefix, through `MPTCPIZE_PRELOAD`,
//! or else written out from a copy embedded at build time ([`shim`]).

mod check;
mod cli;
mod run;
mod seccomp;
mod shim;
mod systemd;

use clap::Parser;

fn main() {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // `--help`/`--version` go to stdout with status 0; a usage error is the
            // launcher's own error: 125, as `env`, `nice` and `timeout` do.
            let code = if e.use_stderr() {
                run::EXIT_LAUNCHER
            } else {
                0
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    std::process::exit(cli::dispatch(cli));
}
