//! Writing the launcher's own messages (errors, "statically linked: …", `enable`'s result)
//! so that one the launcher cannot write is dropped, never fatal.
//!
//! A message goes where the user's stdout or stderr is, and that may be a pipe whose reader
//! has exited (`mptcpize run … 2>&1 | head -0`), or closed (`2>&-`). std's `eprintln!`
//! panics on `EPIPE`, and `mptcpize run` keeps the `SIGPIPE` disposition it was started
//! with (the program it execs gets it; a `no_main` binary has no std runtime ignoring it),
//! so the write can also kill the launcher before the program starts. Here each message is
//! written with `SIGPIPE` blocked in the writing thread for the duration of the write,
//! the `SIGPIPE` that write raised (if any) is taken back with `sigtimedwait`, and errors
//! are ignored. The process-wide disposition is never changed, so nothing leaks to the
//! program.
//!
//! The crate's `println!`/`eprintln!` (defined in `main.rs`) call [`print()`].

use std::fmt;
use std::io::{self, Write};

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
    let _blocked = SigpipeBlocked::new();
    let result = match stream {
        // Through std's handle, so that the order with anything written to it stays right.
        Stream::Stdout => {
            let mut out = io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|()| out.flush())
        }
        Stream::Stderr => io::stderr().lock().write_all(text.as_bytes()),
    };
    if result.is_err_and(|e| e.raw_os_error() == Some(libc::EPIPE)) {
        _blocked.take_raised();
    }
}

/// `SIGPIPE` blocked in the calling thread until dropped (`pthread_sigmask(2)`), so that a
/// write to a pipe without a reader fails with `EPIPE` instead of raising a fatal signal.
struct SigpipeBlocked {
    previous: libc::sigset_t,
    /// A `SIGPIPE` was pending before: not ours to take.
    was_pending: bool,
}

impl SigpipeBlocked {
    fn new() -> SigpipeBlocked {
        // SAFETY: sigset_t operations on initialised sets, and pthread_sigmask/sigpending
        // with valid pointers; all only affect the calling thread.
        unsafe {
            let set = sigpipe_set();
            let mut previous: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut previous);
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut pending);
            SigpipeBlocked {
                previous,
                was_pending: libc::sigismember(&pending, libc::SIGPIPE) == 1,
            }
        }
    }

    /// Takes back the `SIGPIPE` a failed write raised while blocked (the kernel queues it
    /// for the writing thread), so that unblocking does not deliver it.
    fn take_raised(&self) {
        if self.was_pending {
            return;
        }
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid set and timeout; a null siginfo is allowed.
        unsafe { libc::sigtimedwait(&sigpipe_set(), std::ptr::null_mut(), &zero) };
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `new`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut()) };
    }
}

fn sigpipe_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set before sigaddset uses it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        set
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
    // SAFETY: three valid pollfd entries; timeout 0 returns at once.
    if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) } <= 0 {
        return;
    }
    // Lowest first: open(2) returns the lowest free number, which is then this one.
    for closed in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // SAFETY: a NUL-terminated path; the descriptor is ours.
        let fd = unsafe {
            libc::open(
                c"/dev/null".as_ptr(),
                libc::O_RDWR | libc::O_CLOEXEC | libc::O_NOCTTY,
            )
        };
        if fd >= 0 && fd != closed.fd {
            // Cannot happen (a lower number was free after all); never keep a stray one.
            // SAFETY: closing the descriptor just opened.
            unsafe { libc::close(fd) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epipe_is_dropped_and_its_sigpipe_taken_back() {
        let mut fds = [0; 2];
        // SAFETY: room for two descriptors.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: our own descriptors.
        unsafe { libc::close(fds[0]) };
        let written = {
            let _blocked = SigpipeBlocked::new();
            // SAFETY: writes one byte from a valid buffer to our pipe.
            let n = unsafe { libc::write(fds[1], b"x".as_ptr().cast(), 1) };
            let errno = io::Error::last_os_error().raw_os_error();
            _blocked.take_raised();
            (n, errno)
        };
        assert_eq!(written, (-1, Some(libc::EPIPE)));
        // Nothing left pending (the test harness ignores SIGPIPE, so check the set).
        // SAFETY: sigpending with a valid pointer.
        let mut pending: libc::sigset_t = unsafe { std::mem::zeroed() };
        unsafe { libc::sigpending(&mut pending) };
        assert_eq!(unsafe { libc::sigismember(&pending, libc::SIGPIPE) }, 0);
        unsafe { libc::close(fds[1]) };
    }
}
