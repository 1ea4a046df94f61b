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
//!   [`start_of_incoming`]): when `connect` or `accept` returns, or, for a non-blocking
//!   connect, when the program checks it with `getsockopt(SO_ERROR)` or a second
//!   `connect`. A program that does neither (or reads before it checks) gets `received=?`
//!   for its MPTCP connections rather than a guess (`mptcpi_bytes_received` was measured counting duplicate data
//!   twice under load). TCP and fallback: `tcpi_bytes_sent - tcpi_bytes_retrans +
//!   tcpi_notsent_bytes`, and `tcpi_bytes_received` (a `rcv_nxt` delta) less the FIN.
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
//! - `end`: `close` (the program closed it: `close`, `dup2`/`dup3` over it) or `exit` (still
//!   open when the program exited).

use core::mem::{offset_of, size_of};
use libc::{c_int, c_void, socklen_t};
use mptcp_sys::{
    mptcp_full_info, mptcp_info, mptcp_subflow_addrs, mptcp_subflow_data, mptcp_subflow_info,
    tcp_info, IPPROTO_MPTCP, MPTCP_FULL_INFO, MPTCP_INFO, MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED,
    MPTCP_INFO_SIZE_V2, MPTCP_SUBFLOW_ADDRS, SOL_MPTCP, TCP_CLOSE, TCP_CLOSE_WAIT, TCP_CLOSING,
    TCP_IS_MPTCP, TCP_LAST_ACK, TCP_TIME_WAIT,
};

use crate::line::Line;
use crate::output;
use crate::table::{self, Tracked};
use mptcpize_preload_support::errno::SavedErrno;
use mptcpize_preload_support::sys;

/// Subflows listed per connection (the kernel's default limit on extra subflows is 8).
const MAX_PATHS: usize = 8;

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

/// `getsockopt(2)` into `value`; returns the length the kernel wrote. The system call
/// itself, not the `getsockopt` this library exports (see `hooks::getsockopt`).
fn getsockopt<T>(fd: c_int, level: c_int, name: c_int, value: &mut T) -> Option<usize> {
    let mut len = size_of::<T>() as socklen_t;
    // SAFETY: `value` is writable for `len` bytes; the kernel writes at most that many.
    let ret = unsafe {
        sys::getsockopt(
            fd,
            level,
            name,
            (value as *mut T).cast::<c_void>(),
            &mut len,
        )
    };
    (ret == 0).then_some(len as usize)
}

fn getsockopt_int(fd: c_int, level: c_int, name: c_int) -> Option<c_int> {
    let mut value: c_int = 0;
    getsockopt(fd, level, name, &mut value).map(|_| value)
}

/// True when `fd` is an MPTCP socket (`SO_PROTOCOL`).
pub fn is_mptcp_socket(fd: c_int) -> bool {
    getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL) == Some(IPPROTO_MPTCP)
}

/// What kind of connection `fd` carries, or None when it is not TCP or MPTCP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// MPTCP, not fallen back.
    Mptcp,
    /// An MPTCP socket that fell back to TCP.
    Fallback,
    /// A plain TCP socket.
    Tcp,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Mptcp => "mptcp",
            Kind::Fallback => "fallback",
            Kind::Tcp => "tcp",
        }
    }
}

/// `SO_PROTOCOL`, then `TCP_IS_MPTCP` (Linux 6.10+), else whether `MPTCP_INFO` answers
/// (it fails with `EOPNOTSUPP`/`ENOPROTOOPT` once fallen back).
pub fn kind(fd: c_int) -> Option<Kind> {
    match getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL)? {
        libc::IPPROTO_TCP => return Some(Kind::Tcp),
        IPPROTO_MPTCP => {}
        _ => return None,
    }
    match getsockopt_int(fd, libc::SOL_TCP, TCP_IS_MPTCP) {
        Some(0) => return Some(Kind::Fallback),
        Some(_) => return Some(Kind::Mptcp),
        None => {}
    }
    let mut info = mptcp_info::default();
    Some(match getsockopt(fd, SOL_MPTCP, MPTCP_INFO, &mut info) {
        Some(_) => Kind::Mptcp,
        None => Kind::Fallback,
    })
}

/// One subflow at the close.
#[derive(Clone, Copy)]
pub struct Path {
    local: [u8; 28],
    remote: [u8; 28],
    /// Data bytes sent and received on the subflow, when the kernel says.
    bytes: Option<(u64, u64)>,
}

/// Everything a line says besides what the table holds.
pub struct Facts {
    /// The kind of connection.
    pub kind: Kind,
    /// Data bytes sent (None: the kernel is too old to say).
    pub sent: Option<u64>,
    /// Data bytes received (None: the kernel is too old to say, or, for MPTCP, where the
    /// connection's incoming data started was not seen: see `capture_start`).
    pub received: Option<u64>,
    /// The most subflows seen.
    pub subflows: u8,
    /// The subflows open at the close.
    pub paths: [Option<Path>; MAX_PATHS],
    /// The kernel still knows the peer (`getpeername` works).
    pub connected: bool,
}

/// Reads the facts of the connection `tracked` on `fd`: its marks say whether the program
/// shut down either side and whether it was accepted on an MPTCP listener (the kernel hands
/// a client that did not speak MPTCP out as a plain TCP socket: that is a fallback too).
/// None when `fd` is not a TCP or MPTCP socket.
pub fn facts(fd: c_int, tracked: &Tracked) -> Option<Facts> {
    let kind = match kind(fd)? {
        Kind::Tcp if tracked.on_mptcp_listener() => Kind::Fallback,
        kind => kind,
    };
    let shut_wr = tracked.shut_wr();
    let mut facts = Facts {
        kind,
        sent: None,
        received: None,
        subflows: 1,
        paths: [None; MAX_PATHS],
        connected: is_connected(fd),
    };
    match kind {
        Kind::Mptcp => mptcp_facts(fd, tracked, &mut facts),
        Kind::Fallback | Kind::Tcp => {
            let mut info = tcp_info::default();
            if let Some(len) = getsockopt(fd, libc::SOL_TCP, libc::TCP_INFO, &mut info) {
                let fin = fin_received(info.tcpi_state) || closed_by_fins(fd, info.tcpi_state);
                if let Some((sent, received)) = tcp_bytes(&info, len, shut_wr, fin) {
                    facts.sent = Some(sent);
                    facts.received = Some(received);
                }
            }
        }
    }
    Some(facts)
}

fn is_connected(fd: c_int) -> bool {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut peer: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as socklen_t;
    // SAFETY: a writable buffer of `len` bytes.
    unsafe {
        libc::getpeername(
            fd,
            (&mut peer as *mut libc::sockaddr_storage).cast(),
            &mut len,
        ) == 0
    }
}

/// TCP states in which the peer's FIN has been received (it took one sequence number).
fn fin_received(state: u8) -> bool {
    matches!(
        state,
        TCP_CLOSE_WAIT | TCP_LAST_ACK | TCP_CLOSING | TCP_TIME_WAIT
    )
}

/// A socket in `TCP_CLOSE` got there through both FINs (no error pending) or a reset (the
/// error, e.g. `ECONNRESET`, is pending unless the program has read it). Reading `SO_ERROR`
/// clears it, which no one can notice any more: the socket is being closed.
fn closed_by_fins(fd: c_int, state: u8) -> bool {
    state == TCP_CLOSE && getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR) == Some(0)
}

/// Data bytes sent and received from a `tcp_info` of `len` valid bytes (None before Linux
/// 4.19, which added `tcpi_bytes_sent`/`tcpi_bytes_retrans`). `shut_wr`: a FIN was queued,
/// which counts in `tcpi_notsent_bytes` until it is sent; `fin`: the peer's FIN arrived,
/// which counts in `tcpi_bytes_received`.
fn tcp_bytes(info: &tcp_info, len: usize, shut_wr: bool, fin: bool) -> Option<(u64, u64)> {
    if len < offset_of!(tcp_info, tcpi_bytes_retrans) + size_of::<u64>() {
        return None;
    }
    let unsent_fin = u32::from(shut_wr && info.tcpi_notsent_bytes > 0);
    let sent = info
        .tcpi_bytes_sent
        .saturating_sub(info.tcpi_bytes_retrans)
        .saturating_add((info.tcpi_notsent_bytes - unsent_fin).into());
    let fin = u64::from(fin);
    Some((sent, info.tcpi_bytes_received.saturating_sub(fin)))
}

fn mptcp_facts(fd: c_int, tracked: &Tracked, facts: &mut Facts) {
    // SAFETY: integers and sockaddr unions: all-zero is valid.
    let mut sf: [mptcp_subflow_info; MAX_PATHS] = unsafe { core::mem::zeroed() };
    let mut tcp = [tcp_info::default(); MAX_PATHS];
    let mut full = mptcp_full_info::default();
    // The DATA_FIN takes one sequence number: whether `rcv_nxt` counts it is read before
    // and after the counters, again until both agree (it arrived in between otherwise).
    let mut answer = None;
    let mut fin_seen = false;
    for _ in 0..4 {
        let before = data_fin_received(fd, tracked);
        full = mptcp_full_info {
            size_tcpinfo_user: size_of::<tcp_info>() as u32,
            size_sfinfo_user: size_of::<mptcp_subflow_info>() as u32,
            size_arrays_user: MAX_PATHS as u32,
            subflow_info: sf.as_mut_ptr() as u64,
            tcp_info: tcp.as_mut_ptr() as u64,
            ..Default::default()
        };
        answer = getsockopt(fd, SOL_MPTCP, MPTCP_FULL_INFO, &mut full);
        fin_seen = data_fin_received(fd, tracked);
        if before == fin_seen {
            break;
        }
    }
    // What the listed subflows carried (TCP level, retransmissions included), when the
    // kernel says: (sent, received).
    let mut carried: Option<(u64, u64)> = None;
    let (info, info_len, listed) = match answer {
        Some(len) => {
            let listed = (full.num_subflows as usize).min(MAX_PATHS);
            let tcp_len = (full.size_tcpinfo_kernel as usize).min(size_of::<tcp_info>());
            if full.num_subflows as usize <= MAX_PATHS
                && tcp_len >= offset_of!(tcp_info, tcpi_bytes_sent) + size_of::<u64>()
            {
                carried = Some(tcp[..listed].iter().fold((0, 0), |(s, r), t| {
                    (s + t.tcpi_bytes_sent, r + t.tcpi_bytes_received)
                }));
            }
            for i in 0..listed {
                facts.paths[i] = Some(Path {
                    local: sockaddr_bytes(&sf[i].addrs, true),
                    remote: sockaddr_bytes(&sf[i].addrs, false),
                    bytes: tcp_bytes(&tcp[i], tcp_len, false, fin_received(tcp[i].tcpi_state)),
                });
            }
            let info_len = len.saturating_sub(offset_of!(mptcp_full_info, mptcp_info));
            (full.mptcp_info, info_len, full.num_subflows)
        }
        // Linux < 6.5: MPTCP_INFO, and the subflows' addresses without their bytes.
        None => {
            let mut info = mptcp_info::default();
            let info_len = getsockopt(fd, SOL_MPTCP, MPTCP_INFO, &mut info).unwrap_or(0);
            let listed = subflow_addrs(fd, &mut facts.paths);
            (info, info_len, listed)
        }
    };
    let total = subflows_total(&info, info_len);
    facts.subflows = total.max(listed.min(255) as u8);
    // Received: data sequence numbers, exact by construction: `rcv_nxt` has moved past
    // every byte received in order (each once, whichever subflow carried it, however often)
    // and the DATA_FIN. (`mptcpi_bytes_received` was measured counting duplicate data
    // twice under load.)
    if info_len >= offset_of!(mptcp_info, mptcpi_rcv_nxt) + size_of::<u64>() {
        facts.received = tracked.rcv_base.map(|base| {
            info.mptcpi_rcv_nxt
                .wrapping_sub(base)
                .wrapping_sub(u64::from(fin_seen))
        });
    }
    if info_len >= offset_of!(mptcp_info, mptcpi_bytes_acked) + size_of::<u64>() {
        // Sent: `mptcpi_bytes_acked` is the sum of `snd_una`'s advances (exact, like
        // `rcv_nxt`), plus what was written and not yet acknowledged; less the DATA_FIN.
        let unacked = info.mptcpi_write_seq.wrapping_sub(info.mptcpi_snd_una);
        let sent = info
            .mptcpi_bytes_acked
            .saturating_add(unacked)
            .saturating_sub(u64::from(tracked.shut_wr()));
        facts.sent = Some(sent);
        // Data the connection acknowledged or received went over some subflow: when the
        // subflows still listed did not carry all of it, at least one other subflow did
        // and is gone (closed by the peer before the program's close, for example).
        if let Some((carried_sent, carried_received)) = carried {
            let acked = info
                .mptcpi_bytes_acked
                .saturating_sub(u64::from(tracked.shut_wr()));
            if acked > carried_sent || facts.received.is_some_and(|r| r > carried_received) {
                facts.subflows = facts.subflows.max((listed.min(254) + 1) as u8);
            }
        }
    }
}

/// Whether the peer's DATA_FIN has been received, which moved `rcv_nxt` one past the data:
/// the socket's receiving side is shut (`POLLRDHUP`), not by the program and not by a reset
/// (which leaves an error pending: `POLLERR`). Two cases are not told apart, each off by
/// one byte: a reset whose error the program already read (a FIN counted that was not
/// there), and a DATA_FIN after the program's own `shutdown(SHUT_RD)` (counted as data).
fn data_fin_received(fd: c_int, tracked: &Tracked) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one pollfd; a zero timeout never blocks.
    let ready = unsafe { libc::poll(&mut pfd, 1, 0) } == 1;
    ready
        && pfd.revents & libc::POLLRDHUP != 0
        && pfd.revents & libc::POLLERR == 0
        && !tracked.shut_rd()
}

/// Where the incoming data of the MPTCP connection on `fd` starts, in data sequence numbers
/// (the peer's initial data sequence number + 1).
///
/// Read as `rcv_nxt` less what is queued and unread (`SIOCINQ`, which also counts a
/// received DATA_FIN as one): exact as long as the program has read nothing yet. That
/// holds when `connect` or `accept` returns ([`When::Established`]); when the program checks
/// a non-blocking connect ([`When::Checked`]: `getsockopt(SO_ERROR)`, a second `connect`)
/// it normally holds too, and where the kernel counts received bytes (Linux 6.5+) a start
/// that would leave fewer bytes than it counted means the program read some already:
/// [`Start::Unknown`] then, never a start that would under-count. `SIOCINQ` can move data
/// the subflows hold to the connection, and data keeps arriving: `rcv_nxt` is read before
/// and after, again until it held still.
pub fn start_of_incoming(fd: c_int, when: When) -> Start {
    let mut before = mptcp_info::default();
    let Some(len) = getsockopt(fd, SOL_MPTCP, MPTCP_INFO, &mut before) else {
        // Not MPTCP, or fell back (EOPNOTSUPP/ENOPROTOOPT): counted from `tcp_info`.
        return Start::NotNeeded;
    };
    if len < offset_of!(mptcp_info, mptcpi_rcv_nxt) + size_of::<u64>() {
        return Start::Unknown;
    }
    for _ in 0..8 {
        if before.mptcpi_flags & MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED == 0 {
            // The peer's key (and so its sequence numbers) is not known yet: a connect
            // still under way.
            return Start::NotYet;
        }
        let mut queued: c_int = 0;
        // SAFETY: SIOCINQ (FIONREAD) writes one int.
        if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut queued) } != 0 {
            return Start::NotYet;
        }
        let queued = queued.max(0) as u64;
        let mut after = mptcp_info::default();
        if getsockopt(fd, SOL_MPTCP, MPTCP_INFO, &mut after).is_none() {
            return Start::NotNeeded;
        }
        if after.mptcpi_rcv_nxt == before.mptcpi_rcv_nxt {
            let read_already = when == When::Checked
                && len >= MPTCP_INFO_SIZE_V2
                && after.mptcpi_bytes_received > queued;
            if read_already {
                return Start::Unknown;
            }
            return Start::At(after.mptcpi_rcv_nxt.wrapping_sub(queued));
        }
        before = after;
    }
    Start::NotYet
}

/// When [`start_of_incoming`] is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// `connect` or `accept` just returned the connection: the program cannot have read.
    Established,
    /// The program checks a non-blocking connect: it normally has not read yet.
    Checked,
}

/// What [`start_of_incoming`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The data sequence number of the first incoming byte.
    At(u64),
    /// Not an MPTCP connection: nothing to capture.
    NotNeeded,
    /// Cannot be known any more (the program read data before), or the kernel does not
    /// say: its `received` will be `?`.
    Unknown,
    /// Not known yet (connection not established, or still moving): ask again later.
    NotYet,
}

/// Captures where `fd`'s incoming data starts, once (called from the hooks that see a
/// connection become established; see [`start_of_incoming`]).
pub fn capture_start(fd: c_int, when: When) {
    if !table::needs_rcv_base(fd) {
        return;
    }
    let _errno = SavedErrno::save();
    match start_of_incoming(fd, when) {
        Start::At(base) => table::set_rcv_base(fd, Some(base)),
        Start::NotNeeded | Start::Unknown => table::set_rcv_base(fd, None),
        Start::NotYet => {}
    }
}

/// `mptcpi_subflows_total` (Linux 6.8+), else `mptcpi_subflows + 1` while the connection
/// has its initial subflow's count (0 once no subflow is left).
fn subflows_total(info: &mptcp_info, len: usize) -> u8 {
    if len > offset_of!(mptcp_info, mptcpi_subflows_total) {
        info.mptcpi_subflows_total
    } else if len > offset_of!(mptcp_info, mptcpi_subflows) {
        info.mptcpi_subflows.saturating_add(1)
    } else {
        0
    }
}

/// The first 28 bytes (a `sockaddr_in6`, or a shorter `sockaddr_in`) of one side.
fn sockaddr_bytes(addrs: &mptcp_subflow_addrs, local: bool) -> [u8; 28] {
    let mut out = [0u8; 28];
    // SAFETY: each union is 128 plain bytes; reading the first 28.
    let src = if local {
        core::ptr::addr_of!(addrs.local).cast::<u8>()
    } else {
        core::ptr::addr_of!(addrs.remote).cast::<u8>()
    };
    // SAFETY: 28 <= 128 readable bytes.
    unsafe { core::ptr::copy_nonoverlapping(src, out.as_mut_ptr(), out.len()) };
    out
}

/// `MPTCP_SUBFLOW_ADDRS` (Linux 5.16+) into `paths`; returns the number of subflows.
fn subflow_addrs(fd: c_int, paths: &mut [Option<Path>; MAX_PATHS]) -> u32 {
    #[repr(C)]
    struct Answer {
        header: mptcp_subflow_data,
        addrs: [mptcp_subflow_addrs; MAX_PATHS],
    }
    let mut answer = Answer {
        header: mptcp_subflow_data {
            size_subflow_data: size_of::<mptcp_subflow_data>() as u32,
            size_user: size_of::<mptcp_subflow_addrs>() as u32,
            ..Default::default()
        },
        // SAFETY: sockaddr unions of integers: all-zero is valid.
        addrs: unsafe { core::mem::zeroed() },
    };
    let Some(len) = getsockopt(fd, SOL_MPTCP, MPTCP_SUBFLOW_ADDRS, &mut answer) else {
        return 0;
    };
    let copied =
        len.saturating_sub(size_of::<mptcp_subflow_data>()) / size_of::<mptcp_subflow_addrs>();
    let listed = (answer.header.num_subflows as usize)
        .min(copied)
        .min(MAX_PATHS);
    for (i, path) in paths.iter_mut().enumerate().take(listed) {
        *path = Some(Path {
            local: sockaddr_bytes(&answer.addrs[i], true),
            remote: sockaddr_bytes(&answer.addrs[i], false),
            bytes: None,
        });
    }
    answer.header.num_subflows
}

/// Notes the subflows `fd`'s connection has now (called from `shutdown`).
pub fn sample_subflows(fd: c_int) {
    let _errno = SavedErrno::save();
    let mut info = mptcp_info::default();
    if let Some(len) = getsockopt(fd, SOL_MPTCP, MPTCP_INFO, &mut info) {
        table::note(fd, 0, subflows_total(&info, len));
    }
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
    let mut line = Line::new();
    format(&mut line, fd, tracked, &facts, end_ns, end);
    output::emit(line.finish());
}

/// Formats one report line (see the module doc).
pub fn format(line: &mut Line, fd: c_int, tracked: &Tracked, facts: &Facts, end_ns: u64, end: End) {
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
        let mut line = Line::new();
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        line.text("mptcpize report: pid=")
            .int(pid.into())
            .text(" ")
            .uint(missed)
            .text(" connection(s) on descriptors above ")
            .uint(table::SLOTS as u64 - 1)
            .text(" not reported");
        output::emit(line.finish());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Protocol, Socket, Type};
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    /// A connected pair over loopback with `protocol`, or None when the kernel refuses it.
    fn pair(protocol: c_int) -> Option<(Socket, Socket)> {
        let listener =
            Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::from(protocol))).ok()?;
        listener
            .bind(
                &"127.0.0.1:0"
                    .parse::<std::net::SocketAddr>()
                    .unwrap()
                    .into(),
            )
            .unwrap();
        listener.listen(1).unwrap();
        let client =
            Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::from(protocol))).unwrap();
        client.connect(&listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        Some((client, server))
    }

    /// Sends `up` bytes client→server and `down` back, the server shutting down its side
    /// first; returns once the client has read the server's FIN.
    fn exchange(client: &mut Socket, server: &mut Socket, up: usize, down: usize) {
        std::thread::scope(|s| {
            let mut c = &*client;
            s.spawn(move || c.write_all(&vec![7u8; up]).unwrap());
            let mut got = vec![0u8; up];
            (&*server).read_exact(&mut got).unwrap();
            (&*server).write_all(&vec![9u8; down]).unwrap();
            server.shutdown(std::net::Shutdown::Write).unwrap();
            let mut back = Vec::new();
            (&*client).read_to_end(&mut back).unwrap();
            assert_eq!(back.len(), down);
        });
    }

    /// A tracked connection with `marks` and the start of its incoming data.
    fn tracked(marks: u32, rcv_base: Option<u64>) -> Tracked {
        Tracked {
            start_ns: 0,
            accepted: false,
            peer: [0; 32],
            marks,
            rcv_base,
        }
    }

    /// Where `fd`'s incoming data starts: known for MPTCP, not needed for TCP.
    fn start(fd: c_int, kind: Kind) -> Option<u64> {
        match (start_of_incoming(fd, When::Established), kind) {
            (Start::At(base), Kind::Mptcp) => Some(base),
            (Start::NotNeeded, Kind::Tcp) => None,
            (other, _) => panic!("{kind:?}: {other:?}"),
        }
    }

    #[test]
    fn bytes_kind_and_subflows_of_loopback_connections() {
        for protocol in [IPPROTO_MPTCP, libc::IPPROTO_TCP] {
            let Some((mut client, mut server)) = pair(protocol) else {
                mptcp_tests::skip_unless(
                    "bytes_kind_and_subflows_of_loopback_connections",
                    Some("socket(IPPROTO_MPTCP) refused (net.mptcp.enabled=0 here?)"),
                );
                continue;
            };
            let kind = if protocol == IPPROTO_MPTCP {
                Kind::Mptcp
            } else {
                Kind::Tcp
            };
            let client_base = start(client.as_raw_fd(), kind);
            // Data already queued when the start is read (a server that accepts late) is
            // counted: the start is `rcv_nxt` less what is unread.
            (&client).write_all(&[1u8; 1_000]).unwrap();
            let mut pfd = libc::pollfd {
                fd: server.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one pollfd.
            assert_eq!(unsafe { libc::poll(&mut pfd, 1, 5_000) }, 1);
            let server_base = start(server.as_raw_fd(), kind);
            let mut early = [0u8; 1_000];
            (&server).read_exact(&mut early).unwrap();
            exchange(&mut client, &mut server, 300_000, 5_000);
            let c = facts(client.as_raw_fd(), &tracked(0, client_base)).unwrap();
            assert_eq!(c.kind, kind);
            assert_eq!(
                (c.sent, c.received),
                (Some(301_000), Some(5_000)),
                "client, {kind:?} (its received counts the server's DATA_FIN out)"
            );
            assert_eq!(c.subflows, 1);
            assert!(c.connected);
            // The server shut down its sending side: its FIN (or DATA_FIN) is not data.
            let s = facts(server.as_raw_fd(), &tracked(table::SHUT_WR, server_base)).unwrap();
            assert_eq!(
                (s.sent, s.received),
                (Some(5_000), Some(301_000)),
                "server, {kind:?}"
            );
            // Without the start of its incoming data, an MPTCP connection cannot say what it
            // received (TCP can: tcp_info counts from the start).
            let s = facts(server.as_raw_fd(), &tracked(table::SHUT_WR, None)).unwrap();
            let unknown = (kind == Kind::Tcp).then_some(301_000);
            assert_eq!(
                (s.sent, s.received),
                (Some(5_000), unknown),
                "server, {kind:?}"
            );
            // A plain TCP socket accepted on an MPTCP listener means the client fell back.
            let marks = table::SHUT_WR | table::MPTCP_LISTENER;
            let s = facts(server.as_raw_fd(), &tracked(marks, server_base)).unwrap();
            assert_eq!(
                s.kind,
                if kind == Kind::Tcp {
                    Kind::Fallback
                } else {
                    kind
                }
            );
            if kind == Kind::Mptcp {
                // The client read the server's DATA_FIN; once the client shuts its own
                // receiving side, `poll` cannot tell them apart: the mark keeps the count.
                client.shutdown(std::net::Shutdown::Read).unwrap();
                let c = facts(client.as_raw_fd(), &tracked(table::SHUT_RD, client_base));
                assert_eq!(c.unwrap().received, Some(5_001), "DATA_FIN counted as data");
                let c = facts(client.as_raw_fd(), &tracked(0, client_base)).unwrap();
                assert_eq!(c.received, Some(5_000));
                // MPTCP_FULL_INFO's subflow, with its bytes; and the pre-6.5 way to the same
                // addresses.
                let p = c.paths[0].expect("one path");
                assert!(c.paths[1..].iter().all(Option::is_none));
                assert_eq!(p.bytes.map(|(sent, _)| sent), Some(301_000));
                let mut old = [None; MAX_PATHS];
                assert_eq!(subflow_addrs(client.as_raw_fd(), &mut old), 1);
                let o = old[0].unwrap();
                assert_eq!((o.local, o.remote), (p.local, p.remote));
                let mut line = Line::new();
                line.sockaddr(&p.remote);
                let text = String::from_utf8(line.finish().to_vec()).unwrap();
                let port = server.local_addr().unwrap().as_socket().unwrap().port();
                assert_eq!(text, format!("127.0.0.1:{port}\n"));
            }
        }
        // Not TCP: no facts.
        let udp = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        assert!(facts(udp.as_raw_fd(), &tracked(0, None)).is_none());
        assert_eq!(
            start_of_incoming(udp.as_raw_fd(), When::Checked),
            Start::NotNeeded
        );
    }

    #[test]
    fn a_start_read_after_the_program_read_is_unknown_not_wrong() {
        let Some((client, server)) = pair(IPPROTO_MPTCP) else {
            mptcp_tests::skip_unless(
                "a_start_read_after_the_program_read_is_unknown_not_wrong",
                Some("socket(IPPROTO_MPTCP) refused (net.mptcp.enabled=0 here?)"),
            );
            return;
        };
        assert!(matches!(
            start_of_incoming(client.as_raw_fd(), When::Checked),
            Start::At(_)
        ));
        (&server).write_all(&[5u8; 1_000]).unwrap();
        let mut half = [0u8; 500];
        (&client).read_exact(&mut half).unwrap();
        // 500 bytes read, 500 queued: rcv_nxt less the queue would under-count by 500.
        assert_eq!(
            start_of_incoming(client.as_raw_fd(), When::Checked),
            Start::Unknown
        );
    }

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
        };
        let mut line = Line::new();
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
        let mut line = Line::new();
        format(&mut line, 5, &tracked, &facts, 1_731_000_000, End::Close);
        let text = String::from_utf8(line.finish().to_vec()).unwrap();
        assert!(text.contains(" sent=96 received=? duration="), "{text}");
    }
}
