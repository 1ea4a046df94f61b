//! `mptcpize`: run unmodified programs with their TCP sockets turned into Multipath TCP.
//!
//! - `mptcpize run [-d] [--] PROGRAM [ARGS…]` execs PROGRAM with the `LD_PRELOAD` shim
//!   (crate `mptcpize-preload`) and `GODEBUG=multipathtcp=1` for Go programs ([`run`]);
//!   with `--report` (or `--report-file FILE`) also the report library (crate
//!   `mptcpize-report`): one line per connection when it closes.
//! - `mptcpize enable|disable UNIT` adds or removes a systemd drop-in doing the same for a
//!   service ([`systemd`]).
//!
//! The shim is found next to the binary, in the install prefix, through `MPTCPIZE_PRELOAD`,
//! or else written out from a copy embedded at build time ([`shim`]).
//!
//! The launcher's own start-up is part of every `mptcpize run`: with `no_main`, the C `main`
//! below runs without std's runtime set-up, whose main-thread stack guard costs about as
//! much as the rest of the launcher (glibc's `pthread_getattr_np` parses `/proc/self/maps`),
//! and which sets SIGPIPE to ignored. `std::env::args_os` still works: on glibc, std
//! captures `argv` itself when the binary is loaded. See BENCHMARKS.md.
// The test harness brings its own `main`.
#![cfg_attr(not(test), no_main)]

/// `println!` for the whole crate: [`messages::print()`] to stdout, which drops a message it
/// cannot write (a closed pipe) instead of panicking or dying of SIGPIPE as std's would.
/// Shadows std's macro in every module below (textual scope); the test build keeps std's,
/// whose output the test harness captures.
#[cfg(not(test))]
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::messages::print(
            $crate::messages::Stream::Stdout,
            format_args!("{}\n", format_args!($($arg)*)),
        )
    };
}

/// `eprintln!` for the whole crate: [`messages::print()`] to stderr (see `println!`).
#[cfg(not(test))]
macro_rules! eprintln {
    ($($arg:tt)*) => {
        $crate::messages::print(
            $crate::messages::Stream::Stderr,
            format_args!("{}\n", format_args!($($arg)*)),
        )
    };
}

mod assets;
mod check;
mod cli;
mod go_binary;
mod messages;
mod run;
mod seccomp;
mod shim;
mod systemd;
mod watch;

use clap::Parser;

/// The C entry point.
#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    launcher_main()
}

/// Parses the command line and runs it; never returns. (Also compiled, unused, in the
/// unit-test build, so that its callees count as used there too.)
#[cfg_attr(test, allow(dead_code))]
fn launcher_main() -> ! {
    messages::reserve_standard_fds();
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
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
