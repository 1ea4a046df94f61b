//! What the kernel says about a connection just before its socket goes away: its kind, the
//! data bytes it sent and received, its subflows and their paths, and why it fell back or
//! uses one path (what each field of the report line means: `report_line`).

use core::mem::{offset_of, size_of};
use libc::{c_int, c_void, socklen_t};
use mptcp_sys::{
    mptcp_full_info, mptcp_info, mptcp_subflow_addrs, mptcp_subflow_data, mptcp_subflow_info,
    tcp_info, IPPROTO_MPTCP, MPTCP_FULL_INFO, MPTCP_INFO, MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED,
    MPTCP_SUBFLOW_ADDRS, SOL_MPTCP, TCP_CLOSE, TCP_CLOSE_WAIT, TCP_CLOSING, TCP_IS_MPTCP,
    TCP_LAST_ACK, TCP_SYN_RECV, TCP_SYN_SENT, TCP_TIME_WAIT,
};

use mptcp_policy::why_not_mptcp::{one_connection, ConnectionState, Reason};

use crate::table::{self, Tracked};
use mptcpize_preload_support::errno::SavedErrno;
use mptcpize_preload_support::raw_syscall;

/// Subflows listed per connection (the kernel's default limit on extra subflows is 8).
pub(crate) const MAX_PATHS: usize = 8;

/// `getsockopt(2)` into `value`; returns the length the kernel wrote. The system call
/// itself, not the `getsockopt` this library exports (see `connection_hooks::getsockopt`).
pub(crate) fn getsockopt<T>(fd: c_int, level: c_int, name: c_int, value: &mut T) -> Option<usize> {
    let mut len = size_of::<T>() as socklen_t;
    // SAFETY: `value` is writable for `len` bytes; the kernel writes at most that many.
    let ret = unsafe {
        raw_syscall::getsockopt(
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
    /// The word for `kind=`.
    pub(crate) fn name(self) -> &'static str {
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
    /// The subflow's local address (a `sockaddr_in` or `sockaddr_in6`).
    pub(crate) local: [u8; 28],
    /// The subflow's remote address.
    pub(crate) remote: [u8; 28],
    /// Data bytes sent and received on the subflow, when the kernel says.
    pub(crate) bytes: Option<(u64, u64)>,
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
    /// Why a connection the program made fell back or has one path
    /// (`mptcp_policy::why_not_mptcp`): `fallback:server` (MPTCP_INFO refused already when the
    /// connection was established), `fallback:mid-stream` (it answered then), `limit`,
    /// `join-refused`, `no-endpoint`, `peer-announced-none` (from `mptcp_info` and the
    /// subflows' states at the close). None for accepted connections: the words describe the
    /// connecting side.
    pub reason: Option<&'static str>,
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
        reason: None,
    };
    match kind {
        Kind::Mptcp => mptcp_facts(fd, tracked, &mut facts),
        Kind::Fallback | Kind::Tcp => {
            if kind == Kind::Fallback && !tracked.accepted && tracked.marks & table::RCV_BASE != 0 {
                let mid_stream = tracked.marks & table::MPTCP_AT_START != 0;
                facts.reason = Some(if mid_stream {
                    Reason::FallbackMidStream.word()
                } else {
                    Reason::FallbackServer.word()
                });
            }
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
    if !tracked.accepted && info_len > offset_of!(mptcp_info, mptcpi_local_addr_max) {
        // Subflows past their handshake (a join whose MP_JOIN SYN a box drops stays in
        // SYN_SENT, and mptcpi_subflows counts it); without MPTCP_FULL_INFO (Linux < 6.5),
        // mptcpi_subflows.
        let established = match answer {
            Some(_) => {
                let listed = (full.num_subflows as usize).min(MAX_PATHS);
                tcp[..listed]
                    .iter()
                    .filter(|t| !matches!(t.tcpi_state, TCP_SYN_SENT | TCP_SYN_RECV | TCP_CLOSE))
                    .count()
                    .saturating_sub(1) as u8
            }
            None => info.mptcpi_subflows,
        };
        let state = ConnectionState {
            fell_back: false,
            remote_key_received: info.mptcpi_flags & MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED != 0,
            // The path manager adds subflows only once data has flowed.
            fully_established: tracked.rcv_base.is_some_and(|b| info.mptcpi_rcv_nxt != b)
                || info.mptcpi_snd_una != info.mptcpi_write_seq
                || info.mptcpi_bytes_acked > 0,
            established_extra_subflows: established,
            subflows_max: info.mptcpi_subflows_max,
            local_addr_used: info.mptcpi_local_addr_used,
            local_addr_max: info.mptcpi_local_addr_max,
            add_addr_accepted: info.mptcpi_add_addr_accepted,
            add_addr_accepted_max: info.mptcpi_add_addr_accepted_max,
        };
        facts.reason = one_connection(&state).map(Reason::word);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incoming_start::{start_of_incoming, Start, When};
    use crate::line_buffer::LineBuffer;
    use crate::loopback_sockets::pair;
    use socket2::{Domain, Socket, Type};
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

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

    #[mptcp_tests::needs(mptcp_enabled)]
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
                let mut line = LineBuffer::new();
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
}
