//! Code shared by the examples: [`outln!`] and [`out!`], the stdout printing every example
//! uses (it ends the program quietly when stdout is a closed pipe); the echo loop of the
//! echo server and the verified round trips of its client and benchmark (`echo`); the
//! listener the async servers start with (`server`: `echo-server`, `http-server`).
//!
//! The other examples are single files otherwise: to copy one, copy the file and either the
//! two macros below (20 lines) or replace `outln!`/`out!` by std's `println!`/`print!`
//! (which panic on a closed pipe).
#![deny(missing_docs)]

pub mod echo;
pub mod server;

/// [`out!`] with a newline: std's `println!`, but a closed stdout (`hello-server … | head
/// -1`) ends the program quietly with status 0, as `ls` does. Rust ignores SIGPIPE, so
/// std's `println!` would get `EPIPE` from write(2) and panic. Any other write error is
/// reported on stderr and ends the program with status 1.
#[macro_export]
macro_rules! outln {
    () => { $crate::out!("\n") };
    ($($arg:tt)*) => { $crate::out!("{}\n", format_args!($($arg)*)) };
}

/// std's `print!` (flushed at once), but a closed stdout ends the program quietly: see
/// [`outln!`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        if let Err(e) = out.write_fmt(format_args!($($arg)*)).and_then(|()| out.flush()) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                // The calling program's name: the macro expands in its crate.
                eprintln!("{}: cannot write to stdout: {e}", env!("CARGO_BIN_NAME"));
                std::process::exit(1);
            }
            std::process::exit(0);
        }
    }};
}
