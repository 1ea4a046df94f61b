//! What a report line says, read from the kernel just before the socket goes away:
//!
//! ```text
//! mptcpize report: pid=4242 fd=5 connect peer=10.31.1.2:8000 kind=mptcp subflows=2 sent=96 received=33554855 duration=0.731s end=close path=10.31.1.1:40412>10.31.1.2:8000,sent=96,received=16834021 path=10.31.2.1:51234>10.31.1.2:8000,sent=0,received=16720834
//! ```
//!
//! - `kind`: `mptcp` (`SO_PROTOCOL` is MPTCP and `TCP_IS_MPTCP` says it still is),
//!   `fallback` (an MPTCP socket that fell back to TCP: the peer or a middlebox did not
//!   speak MPTCP), or `tcp` (a plain TCP socket: MPTCP was unavailable when the socket was
//!   made, or the program's options needed plain TCP).
//! - `sent`/`received`: data bytes the program wrote and the connection received, each byte
//!   once. MPTCP: from data sequence numbers, exact by construction whichever subflows
//!   carried the data and however often: `sent` is `mptcpi_bytes_acked` (the sum of
//!   `snd_una`'s advances) + the written data not yet acknowledged (`mptcpi_write_seq -
//!   mptcpi_snd_una`), less the DATA_FIN after a `shutdown`; `received` is how far
//!   `mptcpi_rcv_nxt` moved from where the connection's incoming data started, less the
//!   peer's DATA_FIN. That start is read when the connection is established (see
//!   [`start_of_incoming`](crate::incoming_start::start_of_incoming)): when `connect` or
//!   `accept` returns, or, for a non-blocking connect, when the program checks it with
//!   `getsockopt(SO_ERROR)` or a second `connect`. A program that does neither (or reads
//!   before it checks) gets `received=?` for its MPTCP connections rather than a guess
//!   (`mptcpi_bytes_received` was measured counting duplicate data twice under load). TCP
//!   and fallback: `tcpi_bytes_sent - tcpi_bytes_retrans + tcpi_notsent_bytes`, and
//!   `tcpi_bytes_received` (a `rcv_nxt` delta) less the FIN.
//! - `subflows`: the most subflows seen, sampled at `shutdown()` and at the close
//!   (`mptcpi_subflows_total`, or the number `MPTCP_FULL_INFO` lists), and one more than
//!   those listed at the close when they did not carry all the data the connection
//!   acknowledged or received (a subflow the peer closed first, e.g. with MP_FASTCLOSE,
//!   is gone by then). So it is a lower bound: two subflows that came and went between
//!   samples count as one. One `path=` per subflow listed at the close: local>remote
//!   address (`0.0.0.0`/port 0 once that subflow is closed) and the bytes that path carried
//!   at the TCP level (`tcpi_bytes_sent - tcpi_bytes_retrans`, `tcpi_bytes_received`):
//!   data MPTCP sent on two subflows (a reinjection after a path stalled) counts on both,
//!   so the paths can add up to more than `sent`/`received`, which count each byte once.
//! - `reason` (only when there is one): why a connection the program made fell back or
//!   uses one path, in the words of `mptcp_policy::why_not_mptcp` (see
//!   [`Facts::reason`](crate::connection_facts::Facts::reason)).
//! - `end`: `close` (the program closed it: `close`, `dup2`/`dup3` over it) or `exit` (still
//!   open when the program exited).

use libc::c_int;

use crate::connection_facts::{facts, Facts};
use crate::line_buffer::LineBuffer;
use crate::line_destination;
use crate::table::{self, Tracked};
use mptcpize_preload_support::errno::SavedErrno;

/// Why the connection is being reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The program closed its descriptor.
    Close,
    /// The program exited with the connection open.
    Exit,
}

/// `CLOCK_MONOTONIC`, ns (from the vDSO: no system call).
pub fn now_ns() -> u64 {
    // SAFETY: an all-zero timespec is valid; clock_gettime fills it.
    let mut ts: libc::timespec = unsafe { core::mem::zeroed() };
    // SAFETY: `ts` is writable.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// Takes `fd` out of the table and reports it (called before the socket is closed).
#[cold]
#[inline(never)]
pub fn closing(fd: c_int, end: End) {
    let _errno = SavedErrno::save();
    if let Some(tracked) = table::take(fd) {
        report(fd, &tracked, end);
    }
}

/// Writes the line for `fd`'s connection, unless it is no TCP/MPTCP socket or never
/// carried a connection (a connect that failed or was still under way).
fn report(fd: c_int, tracked: &Tracked, end: End) {
    let end_ns = now_ns();
    let Some(mut facts) = facts(fd, tracked) else {
        return;
    };
    facts.subflows = facts.subflows.max(tracked.subflows_seen());
    if !facts.connected
        && matches!(
            (facts.sent, facts.received),
            (None | Some(0), None | Some(0))
        )
    {
        return;
    }
    let mut line = LineBuffer::new();
    format(&mut line, fd, tracked, &facts, end_ns, end);
    line_destination::emit(line.finish());
}

/// Formats one report line (see the module doc).
pub fn format(
    line: &mut LineBuffer,
    fd: c_int,
    tracked: &Tracked,
    facts: &Facts,
    end_ns: u64,
    end: End,
) {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    line.text("mptcpize report: pid=")
        .int(pid.into())
        .text(" fd=")
        .int(fd.into())
        .text(if tracked.accepted {
            " accept"
        } else {
            " connect"
        })
        .text(" peer=")
        .sockaddr(&tracked.peer)
        .text(" kind=")
        .text(facts.kind.name())
        .text(" subflows=")
        .uint(facts.subflows.into());
    line.text(" sent=");
    match facts.sent {
        Some(sent) => line.uint(sent),
        None => line.text("?"),
    };
    line.text(" received=");
    match facts.received {
        Some(received) => line.uint(received),
        None => line.text("?"),
    };
    line.text(" duration=")
        .seconds(end_ns.saturating_sub(tracked.start_ns))
        .text(match end {
            End::Close => " end=close",
            End::Exit => " end=exit",
        });
    if let Some(reason) = facts.reason {
        line.text(" reason=").text(reason);
    }
    for path in facts.paths.iter().flatten() {
        line.text(" path=")
            .sockaddr(&path.local)
            .text(">")
            .sockaddr(&path.remote);
        if let Some((sent, received)) = path.bytes {
            line.text(",sent=")
                .uint(sent)
                .text(",received=")
                .uint(received);
        }
    }
}

/// At exit: reports the connections still open, and how many were not tracked.
pub fn at_exit() {
    let _errno = SavedErrno::save();
    for fd in 0..table::end() {
        if table::is_tracked(fd) {
            closing(fd, End::Exit);
        }
    }
    let missed = table::missed();
    if missed > 0 {
        let mut line = LineBuffer::new();
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        line.text("mptcpize report: pid=")
            .int(pid.into())
            .text(" ")
            .uint(missed)
            .text(" connection(s) on descriptors above ")
            .uint(table::SLOTS as u64 - 1)
            .text(" not reported");
        line_destination::emit(line.finish());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection_facts::{Kind, Path, MAX_PATHS};

    #[test]
    fn line_format() {
        let mut peer = [0u8; 32];
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 8000u16.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes([10, 31, 1, 2]),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: reading a plain struct's bytes.
        let bytes = unsafe {
            core::slice::from_raw_parts((&sin as *const libc::sockaddr_in).cast::<u8>(), 16)
        };
        peer[..16].copy_from_slice(bytes);
        let mut local = [0u8; 28];
        local[..16].copy_from_slice(bytes);
        let tracked = Tracked {
            start_ns: 1_000_000_000,
            accepted: false,
            peer,
            marks: 0,
            rcv_base: None,
        };
        let mut paths = [None; MAX_PATHS];
        paths[0] = Some(Path {
            local,
            remote: local,
            bytes: Some((96, 1_000)),
        });
        let facts = Facts {
            kind: Kind::Mptcp,
            sent: Some(96),
            received: Some(1_000),
            subflows: 2,
            paths,
            connected: true,
            reason: None,
        };
        let mut line = LineBuffer::new();
        format(&mut line, 5, &tracked, &facts, 1_731_000_000, End::Exit);
        let text = String::from_utf8(line.finish().to_vec()).unwrap();
        let pid = std::process::id();
        assert_eq!(
            text,
            format!(
                "mptcpize report: pid={pid} fd=5 connect peer=10.31.1.2:8000 kind=mptcp \
                 subflows=2 sent=96 received=1000 duration=0.731s end=exit \
                 path=10.31.1.2:8000>10.31.1.2:8000,sent=96,received=1000\n"
            )
        );
        // An MPTCP connection whose start was never seen: its received count is unknown.
        let facts = Facts {
            received: None,
            paths: [None; MAX_PATHS],
            ..facts
        };
        let mut line = LineBuffer::new();
        format(&mut line, 5, &tracked, &facts, 1_731_000_000, End::Close);
        let text = String::from_utf8(line.finish().to_vec()).unwrap();
        assert!(text.contains(" sent=96 received=? duration="), "{text}");
        // A reason, after `end`, only when there is one.
        let facts = Facts {
            reason: Some("join-refused"),
            ..facts
        };
        let mut line = LineBuffer::new();
        format(&mut line, 5, &tracked, &facts, 1_731_000_000, End::Close);
        let text = String::from_utf8(line.finish().to_vec()).unwrap();
        assert!(text.ends_with(" end=close reason=join-refused\n"), "{text}");
    }
}
