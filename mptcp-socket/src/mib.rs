//! The network namespace's MPTCP counters: the kernel's `MPTcpExt` MIB, what `nstat -az
//! 'MPTcp*'` shows. They count events of every MPTCP socket of the namespace since it was
//! created (handshakes, fallbacks, joins, ADD_ADDRs, blackhole detection), so the
//! difference of two readings around one connection tells what happened to it, as long as
//! nothing else in the namespace connects at the same moment.

use std::collections::BTreeMap;
use std::io;

/// Where the kernel publishes the MIB of the calling *thread's* network namespace
/// (`/proc/net` follows the process's first thread, which may be in another namespace).
const NETSTAT: &str = "/proc/thread-self/net/netstat";

/// A reading of the `MPTcpExt` counters of the calling thread's network namespace, read
/// from `/proc/thread-self/net/netstat` (the `MPTcpExt:` header and value lines). Names are
/// the kernel's without the prefix: `MPCapableSYNTXDrop`, `Blackhole`, `MPJoinSynAckRx`, …
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MptcpCounters {
    values: BTreeMap<String, u64>,
}

impl MptcpCounters {
    /// Reads the counters now. Fails with `NotFound` on a kernel without MPTCP (no
    /// `MPTcpExt` lines).
    pub fn read() -> io::Result<MptcpCounters> {
        let text = std::fs::read_to_string(NETSTAT)?;
        MptcpCounters::parse(&text).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no MPTcpExt counters in {NETSTAT}: this kernel has no MPTCP"),
            )
        })
    }

    /// Parses `/proc/net/netstat` text: the `MPTcpExt:` line of names and the one of values
    /// after it. `None` when there is none.
    pub fn parse(netstat: &str) -> Option<MptcpCounters> {
        let mut lines = netstat.lines().filter_map(|l| l.strip_prefix("MPTcpExt:"));
        let names = lines.next()?;
        let values = lines.next()?;
        Some(MptcpCounters {
            values: names
                .split_whitespace()
                .zip(values.split_whitespace())
                .filter_map(|(n, v)| Some((n.to_string(), v.parse().ok()?)))
                .collect(),
        })
    }

    /// The counter `name` (without `MPTcpExt`); 0 for one this kernel does not have (a
    /// counter that did not exist yet counted nothing).
    pub fn get(&self, name: &str) -> u64 {
        self.values.get(name).copied().unwrap_or(0)
    }

    /// Whether this kernel has the counter `name` (e.g. `Blackhole`, Linux 6.12+).
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// What happened since `earlier`: each counter minus its earlier value (saturating, in
    /// case the two readings come from different namespaces).
    pub fn since(&self, earlier: &MptcpCounters) -> MptcpCounters {
        MptcpCounters {
            values: self
                .values
                .iter()
                .map(|(n, v)| (n.clone(), v.saturating_sub(earlier.get(n))))
                .collect(),
        }
    }

    /// The counters that are not zero, by name.
    pub fn nonzero(&self) -> impl Iterator<Item = (&str, u64)> {
        self.values
            .iter()
            .filter(|(_, v)| **v != 0)
            .map(|(n, v)| (n.as_str(), *v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "TcpExt: SyncookiesSent X\nTcpExt: 0 1\n\
MPTcpExt: MPCapableSYNRX MPCapableSYNTX Blackhole\nMPTcpExt: 3 5 1\n";

    #[test]
    fn parses_and_subtracts() {
        let now = MptcpCounters::parse(TEXT).unwrap();
        assert_eq!(now.get("MPCapableSYNTX"), 5);
        assert_eq!(now.get("Blackhole"), 1);
        assert_eq!(now.get("NoSuchCounter"), 0);
        assert!(now.has("Blackhole") && !now.has("NoSuchCounter"));
        let before = MptcpCounters::parse(&TEXT.replace("3 5 1", "3 4 0")).unwrap();
        let delta = now.since(&before);
        assert_eq!(
            delta.nonzero().collect::<Vec<_>>(),
            [("Blackhole", 1), ("MPCapableSYNTX", 1)]
        );
        assert!(MptcpCounters::parse("TcpExt: A\nTcpExt: 1\n").is_none());
    }
}
