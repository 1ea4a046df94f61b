//! What the serving supervisor shares with its standby, in one `MAP_SHARED` anonymous
//! mapping made before the first fork (a forked partner inherits it, still shared):
//!
//! - the id of the last notification received, so that a standby taking over can answer
//!   the one its dead partner had received but not answered (the kernel keeps it pending,
//!   and the caller blocked, for as long as any process holds the listener);
//! - the sockets the supervisors made MPTCP (inode numbers), since only those may be swapped
//!   for plain TCP when an option is refused, by whichever supervisor serves then.
//!
//! One writer at a time (the serving supervisor), plain atomics, no locks: a supervisor
//! killed in the middle of an update leaves a value, never a half-written one.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::mm::{MapFlags, ProtFlags};

/// Slots of the socket table (8 bytes each: 512 KiB, touched only where used). When half
/// full, the sockets no process holds any more are dropped ([`Handover::remember_socket`]);
/// only if more than half the slots still hold open sockets is a new socket not remembered
/// (it then counts as one the program asked MPTCP for itself: left as it is).
const SLOTS: usize = 1 << 16;

#[repr(C)]
struct Page {
    /// `1` once a notification has been received.
    received_any: AtomicU64,
    /// The id of the last notification received (`SECCOMP_IOCTL_NOTIF_RECV`).
    last_received: AtomicU64,
    /// How many slots of `sockets` are used.
    used: AtomicU64,
    /// Open addressing by inode number; 0 is an empty slot (no socket has inode 0).
    sockets: [AtomicU64; SLOTS],
}

/// The shared mapping.
pub(super) struct Handover {
    page: &'static Page,
}

impl Handover {
    /// Maps a new, zeroed, shared region (`mmap(MAP_SHARED | MAP_ANONYMOUS)`).
    pub(super) fn new() -> io::Result<Handover> {
        // SAFETY: a new anonymous mapping of one `Page`, overlapping nothing, zero-filled
        // by the kernel (all-zero is a valid `Page`: atomics of 0, and atomics may be
        // shared between processes), never unmapped: it lives as long as the process, so
        // the reference is 'static.
        let page = unsafe {
            let ptr = rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                size_of::<Page>(),
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
            )?;
            &*ptr.cast::<Page>()
        };
        Ok(Handover { page })
    }

    /// Records a notification just received.
    pub(super) fn received(&self, id: u64) {
        self.page.last_received.store(id, Ordering::SeqCst);
        self.page.received_any.store(1, Ordering::SeqCst);
    }

    /// The id of the last notification received, if any.
    pub(super) fn last_received(&self) -> Option<u64> {
        (self.page.received_any.load(Ordering::SeqCst) == 1)
            .then(|| self.page.last_received.load(Ordering::SeqCst))
    }

    /// Remembers a socket made MPTCP by a supervisor. When the table is half full, first
    /// drops the sockets `is_open` says are closed (an inode number is unique among open
    /// sockets; once closed, its number may come back for another socket).
    pub(super) fn remember_socket(&self, inode: u64, is_open: impl Fn(u64) -> bool) {
        if inode == 0 || self.made_mptcp(inode) {
            return;
        }
        if self.page.used.load(Ordering::Relaxed) as usize >= SLOTS / 2 {
            self.keep_only(is_open);
            if self.page.used.load(Ordering::Relaxed) as usize >= SLOTS / 2 {
                return;
            }
        }
        self.insert(inode);
    }

    /// Keeps the sockets for which `keep` is true, and frees every other slot.
    fn keep_only(&self, keep: impl Fn(u64) -> bool) {
        let kept: Vec<u64> = self
            .page
            .sockets
            .iter()
            .map(|slot| slot.load(Ordering::SeqCst))
            .filter(|&inode| inode != 0 && keep(inode))
            .collect();
        for slot in &self.page.sockets {
            slot.store(0, Ordering::Relaxed);
        }
        self.page.used.store(0, Ordering::Relaxed);
        for inode in kept {
            self.insert(inode);
        }
    }

    fn insert(&self, inode: u64) {
        let mut i = slot_of(inode);
        loop {
            let slot = &self.page.sockets[i];
            if slot.load(Ordering::Relaxed) == 0 {
                slot.store(inode, Ordering::SeqCst);
                self.page.used.fetch_add(1, Ordering::Relaxed);
                return;
            }
            i = (i + 1) % SLOTS;
        }
    }

    /// Whether a supervisor made the socket with this inode MPTCP.
    pub(super) fn made_mptcp(&self, inode: u64) -> bool {
        let mut i = slot_of(inode);
        loop {
            match self.page.sockets[i].load(Ordering::SeqCst) {
                0 => return false,
                found if found == inode => return true,
                _ => i = (i + 1) % SLOTS,
            }
        }
    }
}

fn slot_of(inode: u64) -> usize {
    // Fibonacci hashing: inode numbers are often consecutive.
    (inode.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 48) as usize % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_are_remembered_across_fork() {
        let shared = Handover::new().unwrap();
        assert_eq!(shared.last_received(), None);
        for inode in 1..1000 {
            shared.remember_socket(inode * 7, |_| true);
        }
        assert!(shared.made_mptcp(7 * 999));
        assert!(!shared.made_mptcp(8));
        // SAFETY: fork(2) of the multi-threaded test harness: the child makes no call that
        // could wait for a lock another thread held (no allocation: the table has room)
        // and ends with _exit(2), which runs no destructor of the parent's.
        match unsafe { libc::fork() } {
            0 => {
                shared.remember_socket(123_456, |_| true);
                shared.received(42);
                // SAFETY: ends the child at once, as said above.
                unsafe { libc::_exit(0) }
            }
            child => {
                let child = rustix::process::Pid::from_raw(child).expect("fork failed");
                rustix::process::waitpid(Some(child), rustix::process::WaitOptions::empty())
                    .unwrap();
            }
        }
        assert!(shared.made_mptcp(123_456));
        assert_eq!(shared.last_received(), Some(42));
    }

    #[test]
    fn a_full_table_drops_closed_sockets_only() {
        let shared = Handover::new().unwrap();
        // Odd inodes are still open, even ones closed.
        let open = |inode: u64| inode % 2 == 1;
        let half = SLOTS as u64 / 2;
        for inode in 1..=half + 1 {
            shared.remember_socket(inode, open);
        }
        assert!(shared.made_mptcp(half + 1));
        assert!(
            shared.made_mptcp(1),
            "an open socket made long ago is still known"
        );
        assert!(shared.made_mptcp(half - 1));
        assert!(!shared.made_mptcp(2), "a closed one is forgotten");
        // All open: nothing can be dropped, a new socket is not remembered (left alone).
        let shared = Handover::new().unwrap();
        for inode in 1..=half {
            shared.remember_socket(inode, |_| true);
        }
        shared.remember_socket(half + 1, |_| true);
        assert!(!shared.made_mptcp(half + 1));
        assert!(shared.made_mptcp(1));
    }
}
