//! Writing the launcher's own messages (errors, "statically linked: …", `enable`'s result)
//! so that one the launcher cannot write is dropped, never fatal.
//!
//! A message goes where the user's stdout or stderr is, and that may be a pipe whose reader
//! has exited (`mptcpize run … 2>&1 | head -0`), or closed (`2>&-`). std's `eprintln!`
//! panics on `EPIPE`, and `mptcpize run` keeps the `SIGPIPE` disposition it was started
//! with (the program it execs gets it; a `no_main` binary has no std runtime ignoring it),
//! so the write can also kill the launcher before the program starts. Here each message is
//! written with `SIGPIPE` ignored for the duration of the write only, and errors are
//! ignored; the action the program inherits is the one the launcher was started with.
//!
//! The crate's messages are written with [`stdout_line()`] and [`stderr_line()`] (never
//! std's `println!`/`eprintln!`).

use std::fmt;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, IntoRawFd};

use rustix::fs::{Mode, OFlags};

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Writes `args` to `stream` in one `write` (as far as the kernel takes it), dropping it
/// when it cannot be written. Never panics, never dies of `SIGPIPE`.
pub fn print(stream: Stream, args: fmt::Arguments<'_>) {
    // One buffer, so that a line is one write and does not interleave with the program's
    // (or another process's) output on a shared stderr.
    let text = fmt::format(args);
    let _ignored = SigpipeIgnored::new();
    let _ = match stream {
        // Through std's handle, so that the order with anything written to it stays right.
        Stream::Stdout => {
            let mut out = io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|()| out.flush())
        }
        Stream::Stderr => io::stderr().lock().write_all(text.as_bytes()),
    };
}

/// Writes `args` and a newline to stdout (see [`print()`]): the launcher's `println!`.
pub fn stdout_line(args: fmt::Arguments<'_>) {
    print(Stream::Stdout, format_args!("{args}\n"));
}

/// Writes `args` and a newline to stderr (see [`print()`]): the launcher's `eprintln!`.
pub fn stderr_line(args: fmt::Arguments<'_>) {
    print(Stream::Stderr, format_args!("{args}\n"));
}

/// `SIGPIPE` ignored until dropped, then its previous action back (`sigaction(2)`): a
/// write to a pipe without a reader fails with `EPIPE`, and the signal it raises is
/// discarded when generated. Only the launcher's own messages run in between; the program
/// is started after, with the action it had. (Blocking it in the thread instead would
/// leave the raised signal pending, to be taken back with `sigtimedwait`: two more libc
/// imports, which the dynamic loader binds at every start, see BENCHMARKS.md.)
struct SigpipeIgnored {
    previous: libc::sigaction,
}

impl SigpipeIgnored {
    fn new() -> SigpipeIgnored {
        // SAFETY: sigaction(2) with SIG_IGN (no handler) from an all-zero struct sigaction
        // (a valid value: no flags, empty mask), and room for the old one; rustix has no
        // safe signal-action call.
        unsafe {
            let mut ignore: libc::sigaction = std::mem::zeroed();
            ignore.sa_sigaction = libc::SIG_IGN;
            let mut previous: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGPIPE, &ignore, &mut previous);
            SigpipeIgnored { previous }
        }
    }
}

impl Drop for SigpipeIgnored {
    fn drop(&mut self) {
        // SAFETY: sigaction(2) restoring the action `new` read from the kernel, a valid
        // struct sigaction.
        unsafe { libc::sigaction(libc::SIGPIPE, &self.previous, std::ptr::null_mut()) };
    }
}

/// Puts `/dev/null` (close-on-exec) on each of the descriptors 0, 1 and 2 that is closed
/// (`2>&-`), so that the launcher's own files, sockets and pipes never take the number a
/// message would then be written to (a `-d` line of the seccomp supervisor written into
/// its own socket, say). Close-on-exec: the program started finds them closed, as the
/// user left them. One `poll(2)` when all three are open.
pub fn reserve_standard_fds() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // Raw poll(2), not rustix's: its PollFd takes a BorrowedFd, which promises an open
    // descriptor, and telling closed ones (POLLNVAL) is the point here.
    // SAFETY: three pollfd entries, the length passed; poll writes only their `revents`;
    // timeout 0 returns at once.
    if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) } <= 0 {
        return;
    }
    // Lowest first: open(2) returns the lowest free number, which is then this one.
    for closed in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        let flags = OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOCTTY;
        if let Ok(null) = rustix::fs::open(c"/dev/null", flags, Mode::empty()) {
            if null.as_raw_fd() == closed.fd {
                // Kept open for the rest of the launcher's life: it holds the number.
                let _ = null.into_raw_fd();
            }
            // Otherwise (cannot happen: a lower number was free after all) closed when
            // dropped: never keep a stray one.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sigpipe_action() -> libc::sighandler_t {
        // SAFETY: sigaction(2) with no new action, writing the current one into an
        // all-zero struct sigaction (a valid value).
        unsafe {
            let mut current: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut current);
            current.sa_sigaction
        }
    }

    #[test]
    fn sigpipe_is_ignored_only_while_writing() {
        // The test harness ignores SIGPIPE itself; set the default to see it come back.
        // SAFETY: signal(2) with SIG_DFL: no handler.
        let harness = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        {
            let _ignored = SigpipeIgnored::new();
            assert_eq!(sigpipe_action(), libc::SIG_IGN);
            let (reader, writer) =
                rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe2");
            drop(reader);
            let written = rustix::io::write(&writer, b"x");
            assert_eq!(written, Err(rustix::io::Errno::PIPE));
        }
        assert_eq!(sigpipe_action(), libc::SIG_DFL);
        // SAFETY: signal(2) putting back the action the harness had, as signal returned it.
        unsafe { libc::signal(libc::SIGPIPE, harness) };
    }
}
