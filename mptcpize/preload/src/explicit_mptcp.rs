//! Which file descriptors hold an MPTCP socket the program asked for itself
//! (`socket(…, IPPROTO_MPTCP)`), as opposed to one the shim made from a TCP request: the
//! shim must not give the former plain TCP. A bit per fd in a static atomic bitmap: no lock,
//! no allocation.
//!
//! The rare case is the one recorded, so the shim's rewrite path does not touch the bitmap
//! at all. The 128 KiB bitmap lives in `.bss`: pages are only backed by memory when an fd
//! in their range is marked. fds above [`CAPACITY`] are not tracked.
//!
//! A bit can outlive its socket (the shim does not hook `close`). Every other socket the
//! passthrough path sees clears its fd's bit; a stale bit on an fd the shim later reuses for
//! a rewritten socket only means that this socket keeps MPTCP when it meets an option MPTCP
//! refuses — the safe side.

use core::sync::atomic::{AtomicU64, Ordering};
use libc::c_int;

/// Number of fds tracked: the kernel's default `fs.nr_open` (2^20).
pub const CAPACITY: usize = 1 << 20;

static BITS: [AtomicU64; CAPACITY / 64] = [const { AtomicU64::new(0) }; CAPACITY / 64];

#[inline(always)]
fn slot(fd: c_int) -> Option<(&'static AtomicU64, u64)> {
    let fd = usize::try_from(fd).ok()?;
    Some((BITS.get(fd / 64)?, 1u64 << (fd % 64)))
}

/// Records that the program asked for an MPTCP socket at `fd` itself.
#[inline(always)]
pub fn mark(fd: c_int) {
    if let Some((word, bit)) = slot(fd) {
        word.fetch_or(bit, Ordering::Relaxed);
    }
}

/// Records that `fd` is not (or no longer) an MPTCP socket the program asked for. Cheap
/// when the bit is already clear: a plain load, no atomic write.
#[inline(always)]
pub fn unmark(fd: c_int) {
    if let Some((word, bit)) = slot(fd) {
        if word.load(Ordering::Relaxed) & bit != 0 {
            word.fetch_and(!bit, Ordering::Relaxed);
        }
    }
}

/// True when the program asked for MPTCP at `fd` itself (or the bit is stale, see the
/// module doc).
#[inline]
pub fn is_marked(fd: c_int) -> bool {
    slot(fd).is_some_and(|(word, bit)| word.load(Ordering::Relaxed) & bit != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_unmark() {
        for fd in [0, 1, 63, 64, 65, 4095, (CAPACITY - 1) as c_int] {
            assert!(!is_marked(fd));
            mark(fd);
            assert!(is_marked(fd));
            assert!(!is_marked(fd + 1));
            unmark(fd);
            assert!(!is_marked(fd));
        }
        // Out of range: ignored, never a panic.
        for fd in [-1, CAPACITY as c_int, c_int::MAX] {
            mark(fd);
            assert!(!is_marked(fd));
            unmark(fd);
        }
    }
}
