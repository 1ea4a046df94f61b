//! The script forms of `watch`: one JSON object per connection per refresh (NDJSON), and a
//! plain-text snapshot for a pipe or `--once` without `--json`.
//!
//! The text form shows the names other processes and the kernel chose (command names,
//! interface names) through [`escape_controls`]; JSON escapes them itself and keeps them
//! exact.

use std::fmt::Write as _;
use std::time::UNIX_EPOCH;

use std::net::SocketAddr;

use serde::Serialize;

use super::sample::{kind_name, state_name, ConnectionView, PathView, Refresh};
use crate::terminal_text::{escape_controls, Escaped};

/// One JSON object per connection of the refresh, each on one line.
pub fn ndjson(refresh: &Refresh) -> String {
    let time = refresh
        .time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut out = Vec::with_capacity(refresh.connections.len() * 512);
    for conn in &refresh.connections {
        let obj = ConnectionJson {
            time,
            pid: conn.pid,
            comm: conn.comm.as_deref(),
            uid: conn.uid,
            kind: kind_name(conn.kind),
            state: state_name(conn.state),
            local: conn.local,
            remote: conn.remote,
            token: conn.token,
            cookie: conn.cookie,
            age_s: conn.age_known.then_some(conn.seen.as_secs_f64()),
            seen_s: conn.seen.as_secs_f64(),
            bytes_sent: conn.bytes_sent,
            bytes_received: conn.bytes_received,
            mptcp_bytes_retrans: conn.mptcp_retrans,
            subflows_matched: refresh.subflows_matched,
            subflows: conn.paths.iter().map(PathJson::from).collect(),
            reason: conn.reason,
        };
        // Serializing plain structs into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, &obj);
        out.push(b'\n');
    }
    String::from_utf8(out).unwrap_or_default()
}

/// The NDJSON object of one connection (field order as written).
#[derive(Serialize)]
struct ConnectionJson<'a> {
    /// Unix time of the refresh, in seconds.
    time: f64,
    pid: Option<u32>,
    comm: Option<&'a str>,
    uid: u32,
    kind: &'static str,
    state: &'static str,
    local: SocketAddr,
    remote: SocketAddr,
    token: Option<u32>,
    /// The kernel's socket cookie: the same connection across refreshes.
    cookie: u64,
    /// Seconds since watch first saw it; null when it was already open at the start.
    age_s: Option<f64>,
    seen_s: f64,
    bytes_sent: Option<u64>,
    bytes_received: Option<u64>,
    /// Bytes sent again at the MPTCP level (`mptcpi_bytes_retrans`); null for plain TCP.
    mptcp_bytes_retrans: Option<u64>,
    /// False when the kernel did not say which connection each subflow belongs to.
    subflows_matched: bool,
    subflows: Vec<PathJson<'a>>,
    /// Why it fell back or has one path (`fallback:server`, `join-refused`, …; README,
    /// "Middleboxes, and why a connection is not MPTCP"); null otherwise.
    reason: Option<&'static str>,
}

#[derive(Serialize)]
struct PathJson<'a> {
    local: SocketAddr,
    remote: SocketAddr,
    interface: Option<&'a str>,
    state: &'static str,
    bytes_sent: Option<u64>,
    bytes_acked: Option<u64>,
    bytes_received: Option<u64>,
    send_bytes_per_s: Option<f64>,
    recv_bytes_per_s: Option<f64>,
    rtt_us: Option<u32>,
    cwnd: Option<u32>,
    retransmits: Option<u32>,
    backup: bool,
}

impl<'a> From<&'a PathView> for PathJson<'a> {
    fn from(path: &'a PathView) -> Self {
        PathJson {
            local: path.local,
            remote: path.remote,
            interface: path.interface.as_deref(),
            state: state_name(path.state),
            bytes_sent: path.bytes_sent,
            bytes_acked: path.bytes_acked,
            bytes_received: path.bytes_received,
            send_bytes_per_s: path.send_rate,
            recv_bytes_per_s: path.recv_rate,
            rtt_us: path.rtt_us,
            cwnd: path.cwnd,
            retransmits: path.retransmits,
            backup: path.backup,
        }
    }
}

/// The plain-text form: one line per connection, one indented line per path.
pub fn text(refresh: &Refresh) -> String {
    let mut out = String::new();
    if refresh.connections.is_empty() {
        out.push_str("no MPTCP connections\n");
    }
    for conn in &refresh.connections {
        let _ = writeln!(
            out,
            "{} {} {} {} -> {}{}{}{}",
            owner(conn),
            kind_name(conn.kind),
            state_name(conn.state),
            conn.local,
            conn.remote,
            conn.token
                .map(|t| format!(" token={t:08x}"))
                .unwrap_or_default(),
            conn.mptcp_retrans
                .map(|b| format!(" mptcp_retrans={b}"))
                .unwrap_or_default(),
            conn.reason
                .map(|r| format!(" reason={r}"))
                .unwrap_or_default(),
        );
        for path in &conn.paths {
            let _ = writeln!(
                out,
                "  {} {} -> {} sent={} received={} rtt={} cwnd={} retrans={}{}",
                interface_name(path, "-"),
                path.local,
                path.remote,
                opt(path.bytes_sent),
                opt(path.bytes_received),
                path.rtt_us
                    .map(|r| format!("{:.1}ms", f64::from(r) / 1000.0))
                    .unwrap_or_else(|| "-".into()),
                opt(path.cwnd),
                opt(path.retransmits),
                if path.backup { " backup" } else { "" },
            );
        }
    }
    if !refresh.subflows_matched {
        out.push_str(
            "note: this kernel did not say which connection each subflow belongs to \
             (it gives that to CAP_NET_ADMIN only): run as root to see the paths\n",
        );
    }
    out
}

/// `comm[pid]`, or `-` when the owner could not be read (another user's process). The
/// command name is the process's own choice (`prctl(PR_SET_NAME)`): escaped.
pub fn owner(conn: &ConnectionView) -> String {
    match (&conn.comm, conn.pid) {
        (Some(comm), Some(pid)) => format!("{}[{pid}]", Escaped(comm)),
        _ => "-".to_owned(),
    }
}

/// The path's interface name, escaped (a user can name an interface in a namespace of
/// their own), or `missing` when it is not known.
pub fn interface_name(path: &PathView, missing: &str) -> String {
    path.interface.as_deref().map_or_else(
        || missing.to_owned(),
        |name| escape_controls(name).into_owned(),
    )
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}
