//! What a test reads of a namespace from outside the programs in it: MPTCP connections
//! (`ss -Mni`), the kernel's MPTCP counters (`nstat`), interface counters
//! (`/proc/net/dev`); the parsers of those outputs, and the [`Netns`] methods that run them.

use std::collections::BTreeMap;
use std::io;

use crate::netns::Netns;

/// An interface's counters (`/proc/net/dev` read inside its namespace).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
}

impl std::ops::Sub for LinkStats {
    type Output = LinkStats;
    fn sub(self, earlier: LinkStats) -> LinkStats {
        LinkStats {
            rx_bytes: self.rx_bytes - earlier.rx_bytes,
            rx_packets: self.rx_packets - earlier.rx_packets,
            tx_bytes: self.tx_bytes - earlier.tx_bytes,
            tx_packets: self.tx_packets - earlier.tx_packets,
        }
    }
}

/// One MPTCP connection as `ss -Mni` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsMptcp {
    /// State column (`ESTAB`, `LISTEN`, …).
    pub state: String,
    /// Local address column.
    pub local: String,
    /// Peer address column.
    pub peer: String,
    /// Extra subflows (`subflows:N`; absent means 0): the connection has `N + 1` subflows.
    pub extra_subflows: u32,
    /// The detail line as printed.
    pub detail: String,
}

/// Parses `ss -Mni` (or `ss -Mnai`) output into one entry per socket.
pub fn parse_ss_mptcp(text: &str) -> Vec<SsMptcp> {
    let mut out: Vec<SsMptcp> = Vec::new();
    for line in text.lines().skip(1) {
        if line.starts_with(char::is_whitespace) {
            if let Some(last) = out.last_mut() {
                last.detail = line.trim().to_string();
                last.extra_subflows = line
                    .split_whitespace()
                    .find_map(|f| f.strip_prefix("subflows:"))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
            }
        } else {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() >= 5 {
                out.push(SsMptcp {
                    state: cols[0].into(),
                    local: cols[3].into(),
                    peer: cols[4].into(),
                    extra_subflows: 0,
                    detail: String::new(),
                });
            }
        }
    }
    out
}

/// Observation helpers run inside the namespace: `ss`, `nstat`, interface counters.
impl Netns {
    /// `ss -Mni` inside the namespace: established MPTCP sockets with their subflow counts.
    pub fn ss_mptcp(&self) -> io::Result<String> {
        self.run("ss", &["-Mni"])
    }

    /// [`Netns::ss_mptcp`], parsed.
    pub fn mptcp_connections(&self) -> io::Result<Vec<SsMptcp>> {
        Ok(parse_ss_mptcp(&self.ss_mptcp()?))
    }

    /// `ss -tni` inside the namespace: TCP sockets, MPTCP subflows among them
    /// (`tcp-ulp-mptcp`, flags `Mmec` for an initial subflow, `Jjec` for a join).
    pub fn ss_tcp(&self) -> io::Result<String> {
        self.run("ss", &["-tni"])
    }

    /// The namespace's `MPTcp*` counters (`nstat -asz 'MPTcp*'`: absolute values, zeros
    /// included, without touching nstat's history file, which all namespaces share). Keys
    /// are as nstat prints them, e.g. `MPTcpExtMPJoinSynRx`. Counters start at zero with
    /// the namespace.
    pub fn mptcp_counters(&self) -> io::Result<BTreeMap<String, u64>> {
        Ok(parse_nstat(&self.run("nstat", &["-asz", "MPTcp*"])?))
    }

    /// One counter of the namespace by its `nstat` name, e.g. `MPTcpExtMPCapableSYNRX` or
    /// `TcpActiveOpens` (absolute, history untouched; 0 when the kernel does not list it).
    /// Panics when `nstat` cannot run: a test's precondition.
    pub fn counter(&self, name: &str) -> u64 {
        let text = self
            .run("nstat", &["-asz", name])
            .unwrap_or_else(|e| panic!("nstat in {}: {e}", self.name()));
        parse_nstat(&text).get(name).copied().unwrap_or(0)
    }

    /// The namespace's non-zero [`JOIN_COUNTERS`], as `Name=value` words in that order
    /// (`none` when all are zero), or why `nstat` could not be read: for a failure message
    /// that says what became of the joins.
    pub fn join_counters(&self) -> String {
        let counters = match self.mptcp_counters() {
            Ok(counters) => counters,
            Err(e) => return format!("(nstat: {e})"),
        };
        let words: Vec<String> = JOIN_COUNTERS
            .iter()
            .filter_map(|name| {
                let value = counters.get(&format!("MPTcpExt{name}")).copied()?;
                (value > 0).then(|| format!("{name}={value}"))
            })
            .collect();
        if words.is_empty() {
            "none".into()
        } else {
            words.join(" ")
        }
    }

    /// Counters of interface `ifname`, read from `/proc/thread-self/net/dev` on a thread
    /// inside the namespace (`/sys/class/net` would show the namespace sysfs was mounted
    /// in, not this one).
    pub fn link_stats(&self, ifname: &str) -> io::Result<LinkStats> {
        let text = self.enter(|| std::fs::read_to_string("/proc/thread-self/net/dev"))??;
        parse_net_dev(&text, ifname).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no interface {ifname} in namespace {}", self.name()),
            )
        })
    }
}

/// The `MPTcpExt` counters (without the prefix) that tell what became of MP_JOINs, in the
/// order a join meets them; [`Netns::join_counters`] and [`crate::Lab::join_counters`]
/// print the non-zero ones. How to read them when a subflow is missing (client / server):
///
/// - no `MPJoinSynTx`, or one of the `MPJoinSynTx…Err`: the client's path manager never
///   sent the join (endpoints, limits, or the socket could not be bound or connected);
/// - `MPJoinSynTx` / no `MPJoinSynRx`: the SYN was lost on the path (the subflow waits in
///   SYN_SENT, which the subflow list shows), or no listener was there to take it;
/// - `MPJoinNoTokenFound`, `MPJoinRejected`, the `…HMacFailure`s: refused by the other end;
/// - `MPJoinSynAckRx`, `MPRstRx` / `MPJoinAckRx`, `DSSNotMatching`, `MPRstTx`: the join
///   was established, then the server reset it because a data sequence mapping on it
///   contradicted the one it was reading: a kernel defect seen on Linux 6.18, with bytes
///   of the stream skipped (README, "Known kernel behaviour"). The in-kernel path manager
///   does not open that subflow again.
pub const JOIN_COUNTERS: &[&str] = &[
    "MPJoinSynTx",
    "MPJoinSynTxCreatSkErr",
    "MPJoinSynTxBindErr",
    "MPJoinSynTxConnectErr",
    "MPJoinSynRx",
    "MPJoinNoTokenFound",
    "MPJoinRejected",
    "MPJoinSynAckRx",
    "MPJoinSynAckHMacFailure",
    "MPJoinAckRx",
    "MPJoinAckHMacFailure",
    "DSSNotMatching",
    "DSSNoMatchTCP",
    "MPRstTx",
    "MPRstRx",
];

/// Parses `nstat -a` output (`NAME VALUE RATE` lines) into name → value.
pub fn parse_nstat(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.parse().ok()?))
        })
        .collect()
}

/// Finds `ifname` in `/proc/net/dev` text.
pub fn parse_net_dev(text: &str, ifname: &str) -> Option<LinkStats> {
    text.lines().find_map(|line| {
        let (name, rest) = line.split_once(':')?;
        if name.trim() != ifname {
            return None;
        }
        let v: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        (v.len() >= 10).then(|| LinkStats {
            rx_bytes: v[0],
            rx_packets: v[1],
            tx_bytes: v[8],
            tx_packets: v[9],
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ss_mptcp_parses_subflow_counts() {
        let text = "State Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess\n\
ESTAB 0      0          10.31.1.1:50012    10.31.1.2:5202\n\
\t subflows:1 subflows_max:2 add_addr_accepted_max:2 remote_key token:d87d40e8\n\
ESTAB 722160 0      [::ffff:10.31.1.2]:5202 [::ffff:10.31.1.1]:50006\n\
\t subflows_max:2 remote_key token:e1650dc7\n";
        let v = parse_ss_mptcp(text);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].extra_subflows, 1);
        assert_eq!(v[0].peer, "10.31.1.2:5202");
        assert_eq!(v[1].extra_subflows, 0);
        assert_eq!(v[1].local, "[::ffff:10.31.1.2]:5202");
    }

    #[test]
    fn nstat_and_net_dev_parse() {
        let n = parse_nstat("#kernel\nMPTcpExtMPJoinSynRx  3   0.0\nMPTcpExtX 0 0.0\n");
        assert_eq!(n["MPTcpExtMPJoinSynRx"], 3);
        let d = "Inter-|   Receive  |  Transmit\n face |bytes ...\n   p1c:  131759    1696    0    0    0     0          0         0 18051393    2049    0    0    0     0       0          0\n";
        let s = parse_net_dev(d, "p1c").unwrap();
        assert_eq!(
            (s.rx_bytes, s.tx_bytes, s.tx_packets),
            (131759, 18051393, 2049)
        );
        assert!(parse_net_dev(d, "p2c").is_none());
    }
}
