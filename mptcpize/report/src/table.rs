//! What the library remembers about each connection, in a fixed table indexed by file
//! descriptor: when it started, whether it was connected or accepted, its peer, where its
//! incoming data sequence numbers start (MPTCP), whether the program shut either side, and
//! the most subflows seen. No allocation and no lock:
//! every field is an atomic, and a slot belongs to whoever swaps its `state` from non-zero
//! to zero (the one `close` that reports it).
//!
//! The table is in `.bss`: its pages cost nothing until a connection on a descriptor they
//! cover is made. Descriptors at or above [`SLOTS`] are not tracked; they are counted and
//! the count is reported at exit.
//!
//! After `fork()` the child has a copy of the table. The connections in it are the
//! parent's: a new generation number (see [`new_generation`]) makes every inherited slot
//! stale at once, without touching them, so only the process that made or accepted a
//! connection reports it.

use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use libc::c_int;

/// Descriptors tracked: 0..SLOTS.
pub const SLOTS: usize = 1 << 16;

/// `state`: the slot holds a connection of this generation (high 32 bits).
const TRACKED: u64 = 1;
/// `state`: the connection was accepted (else connected).
const ACCEPTED: u64 = 2;

/// `marks`: the program shut down the sending side (its DATA_FIN took one sequence number).
pub const SHUT_WR: u32 = 1;
/// `marks`: accepted from an MPTCP listener (a plain TCP socket then means the client did
/// not speak MPTCP: the kernel hands such connections out as plain TCP sockets).
pub const MPTCP_LISTENER: u32 = 2;
/// `marks`: `rcv_base` holds where the connection's incoming data starts, or the connection
/// needs none (it is not MPTCP): nothing more to capture.
pub const RCV_BASE: u32 = 4;
/// `marks`: the program shut down the receiving side (`RCV_SHUTDOWN` without a DATA_FIN).
pub const SHUT_RD: u32 = 8;
/// `marks`: with [`RCV_BASE`], the connection needed no base (not MPTCP).
const NO_BASE: u32 = 16;
/// `marks`: with [`RCV_BASE`], `MPTCP_INFO` answered when the connection was established:
/// it was MPTCP then (a later fallback happened after the handshake).
pub const MPTCP_AT_START: u32 = 32;

/// `marks`: the most subflows seen so far, in bits 8..16.
const SUBFLOWS_SHIFT: u32 = 8;

/// One descriptor's connection. 64 bytes: one cache line.
#[repr(C, align(64))]
pub struct Slot {
    state: AtomicU64,
    start_ns: AtomicU64,
    /// The peer's `sockaddr_in`/`sockaddr_in6`, as raw bytes (28 used).
    peer: [AtomicU64; 4],
    /// The data sequence number of the connection's first incoming byte (valid with
    /// [`RCV_BASE`]).
    rcv_base: AtomicU64,
    marks: AtomicU32,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    state: AtomicU64::new(0),
    start_ns: AtomicU64::new(0),
    peer: [const { AtomicU64::new(0) }; 4],
    rcv_base: AtomicU64::new(0),
    marks: AtomicU32::new(0),
};

static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];
/// One more than the highest descriptor ever tracked: the exit report scans up to here.
static END: AtomicUsize = AtomicUsize::new(0);
/// Connections not tracked because their descriptor was >= SLOTS.
static MISSED: AtomicU64 = AtomicU64::new(0);
/// This process's generation (see the module doc). Starts at 1, so a used slot is never 0.
static GENERATION: AtomicU32 = AtomicU32::new(1);

/// A connection taken out of its slot, to be reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracked {
    /// `CLOCK_MONOTONIC` at `connect`/`accept`, ns.
    pub start_ns: u64,
    /// Accepted (else connected).
    pub accepted: bool,
    /// The peer's address bytes (a `sockaddr_in` or `sockaddr_in6`).
    pub peer: [u8; 32],
    /// [`SHUT_WR`], [`SHUT_RD`], [`MPTCP_LISTENER`], [`RCV_BASE`] and the most subflows
    /// seen.
    pub marks: u32,
    /// The data sequence number of the first incoming byte, when it was captured (see
    /// `incoming_start::capture_start`).
    pub rcv_base: Option<u64>,
}

impl Tracked {
    /// The program shut down the sending side.
    pub fn shut_wr(&self) -> bool {
        self.marks & SHUT_WR != 0
    }

    /// The program shut down the receiving side.
    pub fn shut_rd(&self) -> bool {
        self.marks & SHUT_RD != 0
    }

    /// Accepted from an MPTCP listener.
    pub fn on_mptcp_listener(&self) -> bool {
        self.marks & MPTCP_LISTENER != 0
    }

    /// The most subflows sampled before the close (0 when never sampled).
    pub fn subflows_seen(&self) -> u8 {
        (self.marks >> SUBFLOWS_SHIFT) as u8
    }
}

#[inline(always)]
fn slot(fd: c_int) -> Option<&'static Slot> {
    TABLE.get(usize::try_from(fd).ok()?)
}

/// True when `fd` holds a connection to report: the one load on `close()`'s path.
#[inline(always)]
pub fn is_tracked(fd: c_int) -> bool {
    slot(fd).is_some_and(|s| s.state.load(Ordering::Relaxed) != 0)
}

/// Starts tracking `fd`: connected (or accepted) at `start_ns`, with `peer` (sockaddr bytes)
/// and `marks` ([`MPTCP_LISTENER`]).
pub fn track(fd: c_int, start_ns: u64, accepted: bool, peer: &[u8], marks: u32) {
    let Some(s) = slot(fd) else {
        if fd >= 0 {
            MISSED.fetch_add(1, Ordering::Relaxed);
        }
        return;
    };
    s.start_ns.store(start_ns, Ordering::Relaxed);
    let mut bytes = [0u8; 32];
    let n = peer.len().min(bytes.len());
    bytes[..n].copy_from_slice(&peer[..n]);
    for (i, word) in s.peer.iter().enumerate() {
        let chunk: [u8; 8] = bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes");
        word.store(u64::from_ne_bytes(chunk), Ordering::Relaxed);
    }
    s.marks.store(marks, Ordering::Relaxed);
    let generation = u64::from(GENERATION.load(Ordering::Relaxed));
    let flags = TRACKED | if accepted { ACCEPTED } else { 0 };
    // Release: whoever takes the slot sees the fields written above.
    s.state.store(generation << 32 | flags, Ordering::Release);
    END.fetch_max(fd as usize + 1, Ordering::Relaxed);
}

/// True when `fd` holds a connection whose start of incoming data is still to be captured.
#[inline(always)]
pub fn needs_rcv_base(fd: c_int) -> bool {
    slot(fd).is_some_and(|s| {
        s.state.load(Ordering::Relaxed) != 0 && s.marks.load(Ordering::Relaxed) & RCV_BASE == 0
    })
}

/// Notes where `fd`'s incoming data starts (`Some`), or that it needs no such start (`None`:
/// not MPTCP, or where it started is unknown), and whether the connection was MPTCP when
/// established (`mptcp_at_start`, [`MPTCP_AT_START`]).
pub fn set_rcv_base(fd: c_int, base: Option<u64>, mptcp_at_start: bool) {
    if let Some(s) = slot(fd) {
        if let Some(base) = base {
            s.rcv_base.store(base, Ordering::Relaxed);
        }
        let no_base = if base.is_some() { 0 } else { NO_BASE };
        let mptcp = if mptcp_at_start { MPTCP_AT_START } else { 0 };
        // Release (in `note`): whoever sees the mark sees the base.
        note(fd, RCV_BASE | no_base | mptcp, 0);
    }
}

/// Adds `mark` and raises the subflows seen to `subflows` on `fd`'s connection.
pub fn note(fd: c_int, mark: u32, subflows: u8) {
    if let Some(s) = slot(fd) {
        let mut old = s.marks.load(Ordering::Relaxed);
        loop {
            let seen = ((old >> SUBFLOWS_SHIFT) as u8).max(subflows);
            let new = (old & 0xff) | mark | u32::from(seen) << SUBFLOWS_SHIFT;
            match s
                .marks
                .compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(current) => old = current,
            }
        }
    }
}

/// Stops tracking `fd` and returns its connection, if it was this process's.
pub fn take(fd: c_int) -> Option<Tracked> {
    let s = slot(fd)?;
    // Acquire: pairs with `track`'s Release.
    let state = s.state.swap(0, Ordering::Acquire);
    if state == 0 || (state >> 32) as u32 != GENERATION.load(Ordering::Relaxed) {
        return None;
    }
    let mut peer = [0u8; 32];
    for (i, word) in s.peer.iter().enumerate() {
        peer[i * 8..i * 8 + 8].copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
    }
    let marks = s.marks.load(Ordering::Acquire);
    Some(Tracked {
        start_ns: s.start_ns.load(Ordering::Relaxed),
        accepted: state & ACCEPTED != 0,
        peer,
        marks,
        rcv_base: (marks & (RCV_BASE | NO_BASE) == RCV_BASE)
            .then(|| s.rcv_base.load(Ordering::Relaxed)),
    })
}

/// Descriptors that may hold a connection: 0..end.
pub fn end() -> c_int {
    END.load(Ordering::Relaxed) as c_int
}

/// Connections on descriptors too high for the table.
pub fn missed() -> u64 {
    MISSED.load(Ordering::Relaxed)
}

/// Makes every slot stale (in a child after `fork()`), and forgets the parent's count of
/// missed connections.
pub fn new_generation() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
    MISSED.store(0, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_take_and_generations() {
        assert_eq!(core::mem::size_of::<Slot>(), 64);
        let fd = 1000;
        assert!(!is_tracked(fd));
        track(fd, 42, true, &[1, 2, 3], MPTCP_LISTENER);
        assert!(is_tracked(fd));
        note(fd, 0, 2);
        note(fd, SHUT_WR, 1);
        assert!(needs_rcv_base(fd));
        set_rcv_base(fd, Some(u64::MAX - 3), true);
        assert!(!needs_rcv_base(fd));
        let t = take(fd).unwrap();
        assert_eq!(t.rcv_base, Some(u64::MAX - 3));
        assert_eq!(t.start_ns, 42);
        assert!(t.accepted && t.shut_wr() && t.on_mptcp_listener());
        assert_eq!(t.subflows_seen(), 2);
        assert_eq!(&t.peer[..4], &[1, 2, 3, 0]);
        assert!(take(fd).is_none(), "reported once");
        assert!(end() > fd);
        // Not MPTCP: nothing to capture, and no base.
        track(fd, 42, false, &[], 0);
        set_rcv_base(fd, None, false);
        assert!(!needs_rcv_base(fd));
        assert_eq!(take(fd).unwrap().rcv_base, None);
        // Tracked again: captured anew.
        track(fd, 42, false, &[], 0);
        assert!(needs_rcv_base(fd));
        assert_eq!(take(fd).unwrap().rcv_base, None);
        // A slot of an older generation (inherited over fork) is cleared, not reported.
        track(fd + 1, 1, false, &[], 0);
        new_generation();
        assert!(take(fd + 1).is_none());
        assert!(!is_tracked(fd + 1));
        // Out of the table: counted, not tracked.
        track(SLOTS as c_int, 1, false, &[], 0);
        assert_eq!(missed(), 1);
        assert!(!is_tracked(-1));
    }
}
