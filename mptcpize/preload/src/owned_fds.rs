//! Which file descriptors hold a socket this shim made MPTCP (rather than one the program
//! asked MPTCP for itself): a bit per fd in a static atomic bitmap, so marking costs one
//! atomic `or`, with no lock and no allocation.
//!
//! The 128 KiB bitmap lives in `.bss`: pages are only backed by memory when an fd in their
//! range is marked. fds above [`CAPACITY`] are simply not tracked (such a socket keeps MPTCP
//! even if it later needs an option MPTCP refuses).
//!
//! A bit can outlive its socket (the shim does not hook `close`): every other `socket()`
//! result clears its bit, and [`crate::plain_tcp`] re-checks the socket itself
//! (`SO_PROTOCOL`, state) before acting on a bit.

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

/// Records that the shim made `fd` an MPTCP socket.
#[inline(always)]
pub fn mark(fd: c_int) {
    if let Some((word, bit)) = slot(fd) {
        word.fetch_or(bit, Ordering::Relaxed);
    }
}

/// Records that `fd` is not (or no longer) an MPTCP socket the shim made. Cheap when the
/// bit is already clear: a plain load, no atomic write.
#[inline(always)]
pub fn unmark(fd: c_int) {
    if let Some((word, bit)) = slot(fd) {
        if word.load(Ordering::Relaxed) & bit != 0 {
            word.fetch_and(!bit, Ordering::Relaxed);
        }
    }
}

/// True when the shim made `fd` MPTCP (and nothing has reused the number since, as far as
/// `socket()` can tell).
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
