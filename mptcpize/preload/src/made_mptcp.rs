//! Which file descriptors hold an MPTCP socket the shim itself made from a TCP request:
//! only those may be given plain TCP when the program sets an option MPTCP refuses. A
//! socket the program asked MPTCP for, by `socket(…, IPPROTO_MPTCP)`, the raw system call,
//! a `dup()` or an fd passed in, is never marked, so it gets the kernel's answer, exactly as
//! without mptcpize (the seccomp supervisor keeps the same rule, by inode).
//!
//! A byte per fd in a static table: marking is one plain store on the `socket()` rewrite
//! path (no atomic read-modify-write, no lock, no allocation); `close`, `dup2` and `dup3`
//! clear the byte of the fd they close, so a number reused for a socket the program asked
//! MPTCP for is never taken for one the shim made. The 1 MiB table lives in `.bss`: pages
//! are only backed by memory when an fd in their range is marked. fds at or above
//! [`CAPACITY`] are not tracked (their sockets stay MPTCP).
//!
//! What can leave a mark behind: an fd closed by a call the shim does not see (`closefrom`,
//! `close_range`, `fclose` of an `fdopen`ed socket — glibc closes those internally — or the
//! raw `close` system call); the mark goes when the number is next used by `socket()`. The swap still checks, on the rare path,
//! that the fd holds an MPTCP socket that never connected. A forked child inherits the
//! table with the fds; a program started by `exec` starts with an empty one, so sockets it
//! inherits stay MPTCP whatever option it sets.

use core::sync::atomic::{AtomicU8, Ordering};
use libc::c_int;

/// Number of fds tracked: the kernel's default `fs.nr_open` (2^20).
pub const CAPACITY: usize = 1 << 20;

static MADE: [AtomicU8; CAPACITY] = [const { AtomicU8::new(0) }; CAPACITY];

#[inline(always)]
fn slot(fd: c_int) -> Option<&'static AtomicU8> {
    // A negative fd becomes a huge index, out of range.
    MADE.get(fd as u32 as usize)
}

/// Records that the shim made the MPTCP socket at `fd`; false when `fd` is not tracked
/// (negative: the call failed; or at least [`CAPACITY`]). The rewrite path tests this
/// instead of `fd >= 0` first: one range check covers both.
#[inline(always)]
pub fn mark(fd: c_int) -> bool {
    match slot(fd) {
        Some(byte) => {
            byte.store(1, Ordering::Relaxed);
            true
        }
        None => false,
    }
}

/// Records that `fd` no longer holds a socket the shim made MPTCP. Cheap when it did not:
/// a load, no store (no cache line made dirty on every `close()`).
#[inline(always)]
pub fn clear(fd: c_int) {
    if let Some(byte) = slot(fd) {
        if byte.load(Ordering::Relaxed) != 0 {
            byte.store(0, Ordering::Relaxed);
        }
    }
}

/// True when the shim made the MPTCP socket at `fd` (see the module doc for the one way a
/// mark can be stale).
#[inline]
pub fn is_marked(fd: c_int) -> bool {
    slot(fd).is_some_and(|byte| byte.load(Ordering::Relaxed) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_clear() {
        for fd in [0, 1, 63, 64, 65, 4095, (CAPACITY - 1) as c_int] {
            assert!(!is_marked(fd));
            assert!(mark(fd));
            assert!(is_marked(fd));
            assert!(!is_marked(fd + 1));
            clear(fd);
            assert!(!is_marked(fd));
        }
        // Out of range: ignored, never a panic.
        for fd in [-1, CAPACITY as c_int, c_int::MAX, c_int::MIN] {
            assert!(!mark(fd));
            assert!(!is_marked(fd));
            clear(fd);
        }
    }
}
