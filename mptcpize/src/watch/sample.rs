//! One refresh of `watch`: the kernel's socket tables (`mptcp_socket::diag`), the owning
//! processes, the filters, and what changed since the previous refresh (throughput per
//! path, its history, how long each connection has been seen).

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use mptcp_socket::diag::{Connection, ProcessTable, SockDiag, Sockets, Subflow};
use mptcp_socket::{ConnectionKind, TcpInfo};

use super::connection_filter::Filter;
use crate::check::interfaces::{interfaces, Interface};

/// How many throughput samples each path keeps for its sparkline.
pub const HISTORY: usize = 32;

/// One connection as shown.
#[derive(Clone, Debug)]
pub struct ConnectionView {
    pub cookie: u64,
    pub pid: Option<u32>,
    pub comm: Option<String>,
    pub uid: u32,
    pub kind: ConnectionKind,
    pub state: u8,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub token: Option<u32>,
    /// How long `watch` has seen the connection; `age_known` is false when it was
    /// already there at the first refresh (then it is at least that old).
    pub seen: Duration,
    pub age_known: bool,
    /// Connection-level bytes (`mptcpi_bytes_sent`/`_received`, Linux 6.5+; `tcp_info` for
    /// plain TCP).
    pub bytes_sent: Option<u64>,
    pub bytes_received: Option<u64>,
    /// Bytes the connection sent again at the MPTCP level (`mptcpi_bytes_retrans`, Linux
    /// 6.5+): after a subflow failed, or after the MPTCP-level timer fired for want of a
    /// DATA_ACK, which without any subflow retransmission is the kernel's late window
    /// update (README, "Known kernel behaviour"). `None` for plain TCP and older kernels.
    pub mptcp_retrans: Option<u64>,
    pub paths: Vec<PathView>,
    /// Why the connection fell back or has one path, in a word
    /// (`mptcp_policy::why_not_mptcp`), from its own `mptcp_info` and subflows; `None` when it has extra subflows or is plain TCP.
    pub reason: Option<&'static str>,
}

/// One subflow (or, for plain TCP, the connection itself) as shown.
#[derive(Clone, Debug)]
pub struct PathView {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub interface: Option<String>,
    pub state: u8,
    /// `tcpi_bytes_sent` (with retransmissions), else `tcpi_bytes_acked`.
    pub bytes_sent: Option<u64>,
    /// `tcpi_bytes_acked`: what the peer acknowledged.
    pub bytes_acked: Option<u64>,
    /// `tcpi_bytes_received`.
    pub bytes_received: Option<u64>,
    /// Bytes per second acknowledged / received since the previous refresh.
    pub send_rate: Option<f64>,
    pub recv_rate: Option<f64>,
    pub rtt_us: Option<u32>,
    pub cwnd: Option<u32>,
    pub retransmits: Option<u32>,
    pub backup: bool,
    /// Throughput (both directions, bytes/s) at the last refreshes, oldest first.
    pub history: Vec<u64>,
}

/// What a refresh found.
#[derive(Clone, Debug)]
pub struct Refresh {
    pub time: SystemTime,
    pub connections: Vec<ConnectionView>,
    /// False when the kernel did not say which connection each subflow belongs to.
    pub subflows_matched: bool,
}

/// Per-path counters of the previous refresh, keyed by the subflow's socket cookie.
struct PathState {
    acked: u64,
    received: u64,
    at: Instant,
    history: VecDeque<u64>,
}

/// The state kept between refreshes.
pub struct Sampler {
    diag: SockDiag,
    sockets: Sockets,
    filter: Filter,
    processes: ProcessTable,
    /// Socket inodes not found in `/proc/*/fd` at the last scan (another user's process,
    /// or a subflow): they alone do not trigger a new scan.
    unowned: HashSet<u32>,
    paths: HashMap<u64, PathState>,
    first_seen: HashMap<u64, (Instant, bool)>,
    refreshes: u64,
}

impl Sampler {
    pub fn new(sockets: Sockets, filter: Filter) -> io::Result<Sampler> {
        Ok(Sampler {
            diag: SockDiag::new()?,
            sockets,
            filter,
            processes: ProcessTable::default(),
            unowned: HashSet::new(),
            paths: HashMap::new(),
            first_seen: HashMap::new(),
            refreshes: 0,
        })
    }

    /// Reads the tables once and builds the views.
    pub fn refresh(&mut self) -> io::Result<Refresh> {
        let now = Instant::now();
        let snapshot = self.diag.snapshot(self.sockets)?;
        let pids = self.filter.pids()?;
        let conns: Vec<Connection> = snapshot
            .connections
            .into_iter()
            .filter(|c| self.filter.port_matches(c.local.port(), c.remote.port()))
            .collect();
        // /proc/*/fd is read again only when a socket appears that the last scan did not
        // account for: steady state costs no scan (see BENCHMARKS.md).
        let rescan = conns.iter().any(|c| {
            c.inode != 0 && !self.processes.contains(c.inode) && !self.unowned.contains(&c.inode)
        });
        if rescan || self.refreshes == 0 {
            self.processes = ProcessTable::scan()?;
            self.unowned = conns
                .iter()
                .map(|c| c.inode)
                .filter(|&i| !self.processes.contains(i))
                .collect();
        }
        let interfaces = interfaces().unwrap_or_default();
        let first = self.refreshes == 0;
        let mut views = Vec::with_capacity(conns.len());
        let mut live_paths = HashSet::new();
        let mut live_conns = HashSet::new();
        for mut conn in conns {
            // The initial subflow first, then the joined ones by address: a stable order
            // across refreshes (the kernel's table order is its hash order).
            conn.subflows.sort_by_key(|sf| (sf.joined(), sf.local));
            let holders = self.processes.holders(conn.inode);
            if let Some(pids) = &pids {
                if !holders.iter().any(|p| pids.contains(&p.pid)) {
                    continue;
                }
            }
            let owner = match &pids {
                Some(pids) => holders.iter().find(|p| pids.contains(&p.pid)),
                None => holders.first(),
            }
            .cloned();
            let (since, known) = *self.first_seen.entry(conn.cookie).or_insert((now, !first));
            live_conns.insert(conn.cookie);
            let mut paths: Vec<PathView> = conn
                .subflows
                .iter()
                .map(|sf| path_of_subflow(sf, &interfaces))
                .collect();
            if conn.kind == ConnectionKind::Tcp {
                paths.push(path_of_tcp(&conn, &interfaces));
            }
            let cookies: Vec<u64> = if conn.kind == ConnectionKind::Tcp {
                vec![conn.cookie]
            } else {
                conn.subflows.iter().map(|s| s.cookie).collect()
            };
            for (path, cookie) in paths.iter_mut().zip(cookies) {
                live_paths.insert(cookie);
                rate(&mut self.paths, cookie, path, now);
            }
            let (bytes_sent, bytes_received) = match (&conn.mptcp, &conn.tcp) {
                (Some(info), _) => (info.bytes_sent(), info.bytes_received()),
                (None, Some(tcp)) => (tcp.bytes_acked(), tcp.bytes_received()),
                (None, None) => (None, None),
            };
            let mptcp_retrans = conn.mptcp.as_ref().and_then(|info| info.bytes_retrans());
            let reason = path_reason(&conn).map(|r| r.word());
            views.push(ConnectionView {
                cookie: conn.cookie,
                pid: owner.as_ref().map(|p| p.pid),
                comm: owner.map(|p| p.comm),
                uid: conn.uid,
                kind: conn.kind,
                state: conn.state,
                local: conn.local,
                remote: conn.remote,
                token: conn.token(),
                seen: now.duration_since(since),
                age_known: known,
                bytes_sent,
                bytes_received,
                mptcp_retrans,
                paths,
                reason,
            });
        }
        // Forget what is gone, so that the maps do not grow with every connection ever seen.
        self.paths.retain(|k, _| live_paths.contains(k));
        self.first_seen.retain(|k, _| live_conns.contains(k));
        self.refreshes += 1;
        Ok(Refresh {
            time: SystemTime::now(),
            connections: views,
            subflows_matched: snapshot.subflows_matched,
        })
    }
}

/// [`mptcp_policy::why_not_mptcp::one_connection`] of a connection's `mptcp_info`
/// (sock_diag's, which carries the fallback flag) and its subflows.
fn path_reason(conn: &Connection) -> Option<mptcp_policy::why_not_mptcp::Reason> {
    let info = conn.mptcp.as_ref()?;
    // TCP_ESTABLISHED: mptcpi_subflows also counts a join still in SYN_SENT.
    let established = conn.subflows.iter().filter(|sf| sf.state == 1).count();
    let state = mptcp_policy::why_not_mptcp::ConnectionState {
        fell_back: conn.kind == ConnectionKind::FellBack || info.fell_back(),
        remote_key_received: info.remote_key_received(),
        fully_established: conn.subflows.iter().any(Subflow::fully_established),
        established_extra_subflows: u8::try_from(established.saturating_sub(1)).unwrap_or(u8::MAX),
        subflows_max: info.subflows_max(),
        local_addr_used: info.local_addr_used(),
        local_addr_max: info.local_addr_max(),
        add_addr_accepted: info.add_addr_accepted(),
        add_addr_accepted_max: info.add_addr_accepted_max(),
    };
    mptcp_policy::why_not_mptcp::one_connection(&state)
}

/// Fills the path's rates and history from the previous refresh's counters.
fn rate(paths: &mut HashMap<u64, PathState>, cookie: u64, path: &mut PathView, now: Instant) {
    let acked = path.bytes_acked.unwrap_or(0);
    let received = path.bytes_received.unwrap_or(0);
    match paths.get_mut(&cookie) {
        Some(prev) => {
            let secs = now.duration_since(prev.at).as_secs_f64();
            if secs > 0.0 {
                let send = acked.saturating_sub(prev.acked) as f64 / secs;
                let recv = received.saturating_sub(prev.received) as f64 / secs;
                path.send_rate = Some(send);
                path.recv_rate = Some(recv);
                if prev.history.len() == HISTORY {
                    prev.history.pop_front();
                }
                prev.history.push_back((send + recv) as u64);
            }
            prev.acked = acked;
            prev.received = received;
            prev.at = now;
            path.history = prev.history.iter().copied().collect();
        }
        None => {
            paths.insert(
                cookie,
                PathState {
                    acked,
                    received,
                    at: now,
                    history: VecDeque::with_capacity(HISTORY),
                },
            );
        }
    }
}

fn path_of_subflow(sf: &Subflow, interfaces: &[Interface]) -> PathView {
    let mut path = path_of(sf.local, sf.remote, sf.state, sf.tcp.as_ref(), interfaces);
    if sf.interface != 0 {
        if let Some(i) = interfaces.iter().find(|i| i.index == sf.interface) {
            path.interface = Some(i.name.clone());
        }
    }
    path.backup = sf.backup();
    path
}

fn path_of_tcp(conn: &Connection, interfaces: &[Interface]) -> PathView {
    path_of(
        conn.local,
        conn.remote,
        conn.state,
        conn.tcp.as_ref(),
        interfaces,
    )
}

fn path_of(
    local: SocketAddr,
    remote: SocketAddr,
    state: u8,
    tcp: Option<&TcpInfo>,
    interfaces: &[Interface],
) -> PathView {
    PathView {
        local,
        remote,
        interface: interface_of(local.ip(), interfaces),
        state,
        bytes_sent: tcp.and_then(|t| t.bytes_sent().or(t.bytes_acked())),
        bytes_acked: tcp.and_then(TcpInfo::bytes_acked),
        bytes_received: tcp.and_then(TcpInfo::bytes_received),
        send_rate: None,
        recv_rate: None,
        rtt_us: tcp.map(|t| t.rtt().as_micros() as u32),
        cwnd: tcp.map(TcpInfo::snd_cwnd),
        retransmits: tcp.map(TcpInfo::total_retrans),
        backup: false,
        history: Vec::new(),
    }
}

/// The interface that has `addr` (the subflow's local address), as `ip addr` shows it.
fn interface_of(addr: IpAddr, interfaces: &[Interface]) -> Option<String> {
    interfaces
        .iter()
        .find(|i| i.has(addr))
        .map(|i| i.name.clone())
}

/// The kernel's TCP state names (`include/net/tcp_states.h`), as ss prints them.
pub fn state_name(state: u8) -> &'static str {
    match state {
        1 => "ESTAB",
        2 => "SYN-SENT",
        3 => "SYN-RECV",
        4 => "FIN-WAIT-1",
        5 => "FIN-WAIT-2",
        6 => "TIME-WAIT",
        7 => "CLOSE",
        8 => "CLOSE-WAIT",
        9 => "LAST-ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        _ => "UNKNOWN",
    }
}

/// `mptcp`, `fallback` or `tcp`.
pub fn kind_name(kind: ConnectionKind) -> &'static str {
    match kind {
        ConnectionKind::Mptcp => "mptcp",
        ConnectionKind::FellBack => "fallback",
        ConnectionKind::Tcp => "tcp",
    }
}
