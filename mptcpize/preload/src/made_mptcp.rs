//! Which file descriptors hold an MPTCP socket the shim itself made from a TCP request:
//! only those may be given plain TCP (or have a refused option answered for them) when the
//! program sets an option MPTCP refuses. A socket the program asked MPTCP for, by
//! `socket(…, IPPROTO_MPTCP)`, the raw system call, a `dup()` or an fd passed in, is never
//! taken for one, so it gets the kernel's answer, exactly as without mptcpize (the seccomp
//! supervisor keeps the same rule, by inode).
//!
//! A static table holds, per fd, the inode number of the socket the shim made there (unique
//! among open sockets: sockfs takes it from a counter, and a number comes back only after
//! 2^32 more inodes), read with one `fstat` on the `socket()` rewrite path
//! (`socket_rewrite`): one plain store, no lock, no allocation. An entry with any of the
//! high 32 bits set records a failed `fstat`: no socket's inode number. The setsockopt
//! hook's common path tests the entry for zero only. On the rare path, where MPTCP has
//! refused an option, [`made_here`] compares the recorded inode number with the one of the
//! socket at that fd now: so whatever closed the shim's socket and put another at
//! its number — `close`, `close_range`, `closefrom`, `fclose` of an `fdopen`ed socket,
//! the raw `close` system call, `dup2`/`dup3` onto it, and then a `dup()` of the program's
//! own MPTCP socket, an `accept`, a raw `socket` system call — the socket there is never
//! taken for the shim's. No `close()` hook is needed, so `close()` costs the program
//! nothing.
//!
//! The 8 MiB table lives in `.bss`: pages are only backed by memory where an fd in their
//! range is marked. fds at or above [`CAPACITY`] are not tracked (their sockets stay
//! MPTCP). A forked child inherits the table with the fds (same sockets, same inode numbers); a
//! program started by `exec` starts with an empty one, so sockets it inherits are never
//! touched.

use core::sync::atomic::{AtomicU64, Ordering};
use libc::c_int;
use mptcpize_preload_support::raw_syscall;

/// Number of fds tracked: the kernel's default `fs.nr_open` (2^20).
pub const CAPACITY: usize = 1 << 20;

/// The inode number of the socket the shim made at each fd, 0 for none (written by [`mark`]).
static MADE: [AtomicU64; CAPACITY] = [const { AtomicU64::new(0) }; CAPACITY];

#[inline(always)]
fn slot(fd: c_int) -> Option<&'static AtomicU64> {
    // A negative fd becomes a huge index, out of range.
    MADE.get(fd as u32 as usize)
}

/// Records that the shim made the MPTCP socket at `fd` (its inode number); false when `fd`
/// is not tracked (negative: the call failed; or at least [`CAPACITY`]). The rewrite path
/// tests this instead of `fd >= 0` first: one range check covers both. errno is left as it
/// was.
#[inline(always)]
pub fn mark(fd: c_int) -> bool {
    match slot(fd) {
        Some(entry) => {
            entry.store(raw_syscall::inode(fd), Ordering::Relaxed);
            true
        }
        None => false,
    }
}

/// Records that `fd` no longer holds a socket the shim made MPTCP.
#[inline]
pub fn clear(fd: c_int) {
    if let Some(entry) = slot(fd) {
        if entry.load(Ordering::Relaxed) != 0 {
            entry.store(0, Ordering::Relaxed);
        }
    }
}

/// True when the shim made a socket at `fd` that may still be there: the hooks' quick test,
/// a load and a compare. [`made_here`] says whether it really is.
#[inline(always)]
pub fn is_marked(fd: c_int) -> bool {
    slot(fd).is_some_and(|entry| entry.load(Ordering::Relaxed) != 0)
}

/// True when the socket at `fd` now is the one the shim made there: same inode number. A
/// stale entry (the socket was closed where the shim could not see it) is cleared.
#[cold]
pub fn made_here(fd: c_int) -> bool {
    let Some(entry) = slot(fd) else {
        return false;
    };
    let recorded = entry.load(Ordering::Relaxed);
    if recorded == 0 {
        return false;
    }
    if raw_syscall::inode(fd) == recorded {
        return true;
    }
    clear(fd);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_socket() -> c_int {
        raw_syscall::socket(libc::AF_INET, libc::SOCK_STREAM, 0)
    }

    #[test]
    fn marks_follow_the_socket_not_the_number() {
        let fd = tcp_socket();
        assert!(fd >= 0);
        assert!(!is_marked(fd) && !made_here(fd));
        assert!(mark(fd));
        assert!(is_marked(fd) && made_here(fd));
        // Closed where the shim cannot see it, and the number reused by another socket.
        raw_syscall::close(fd);
        let other = tcp_socket();
        assert_eq!(other, fd, "the lowest free number");
        assert!(is_marked(fd), "the quick test cannot know");
        assert!(!made_here(fd), "another socket, another inode number");
        assert!(!is_marked(fd), "the stale entry is gone");
        // A dup of a marked socket is not marked; the original still is.
        assert!(mark(other));
        let copy = raw_syscall::dup3(other, 900, 0);
        assert_eq!(copy, 900);
        assert!(!made_here(copy));
        assert!(made_here(other));
        clear(other);
        assert!(!made_here(other));
        raw_syscall::close(copy);
        raw_syscall::close(other);
    }

    #[test]
    fn out_of_range_numbers_are_ignored() {
        for fd in [-1, CAPACITY as c_int, c_int::MAX, c_int::MIN] {
            assert!(!mark(fd));
            assert!(!is_marked(fd));
            assert!(!made_here(fd));
            clear(fd);
        }
    }
}
