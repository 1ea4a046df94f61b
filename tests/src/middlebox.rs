//! Middleboxes on the lab's paths: firewalls and proxies that drop or rewrite MPTCP's TCP
//! options, built with nftables, one [`Middlebox`] per rule, applied with
//! [`Lab::add_middlebox`].
//!
//! # Where the box sits
//!
//! The lab's paths are direct veth pairs (see [`crate::lab`]), so there is no router
//! namespace to put a box in. Instead, a box acting on the packets of one direction of one
//! path is a rule in the namespace that *receives* them, matched on the receiving interface
//! (`iifname "p1s"` for client→server on path 1), in a `prerouting` chain at priority
//! `mangle` (-150): after conntrack (-200), so that `ct … bytes` counts the connection, and
//! before routing and TCP. A packet dropped or rewritten there is, for both TCP stacks,
//! exactly a packet dropped or rewritten on the wire: the sender saw it leave, the receiver's
//! stack never sees the original. The boxes that answer instead of dropping
//! ([`Middlebox::ResetJoinSyn`], [`Middlebox::ResetMpCapableSyn`]) are `reject with tcp
//! reset` rules in an `input` chain (nftables allows `reject` only in input, forward and
//! output), which answer from the server's address as a firewall impersonating the server
//! does.
//!
//! All rules live in one table, `inet mptcp_middlebox`, created in a namespace on first use;
//! it disappears with the lab's namespaces. Each rule carries a counter and a comment naming
//! it, read back with [`InstalledMiddlebox::packets`].
//!
//! # What the kernel does through each box (Linux 6.18, measured in the lab)
//!
//! | box | kernel's answer | counters (client / server) |
//! |---|---|---|
//! | [`DropMpCapableSyn`](Middlebox::DropMpCapableSyn) | the client retransmits the MPTCP SYN `net.mptcp.syn_retrans_before_tcp_fallback` (2) times, then sends plain TCP (~3 s) and disables MPTCP for new client sockets for `net.mptcp.blackhole_timeout` | `MPCapableSYNTXDrop`, `Blackhole` / — |
//! | [`ResetMpCapableSyn`](Middlebox::ResetMpCapableSyn) | `connect` fails with `ECONNREFUSED`; no retry without MPTCP | `MPCapableSYNTX` / — |
//! | [`StripSyn`](Middlebox::StripSyn) | plain TCP from the start | `MPCapableFallbackSYNACK` / — |
//! | [`StripSynAck`](Middlebox::StripSynAck) | client falls back at the SYN/ACK, server at the third ACK | `MPCapableFallbackSYNACK` / `MPCapableSYNRX`, `MPCapableFallbackACK` |
//! | [`StripThirdAck`](Middlebox::StripThirdAck) | server falls back at the ACK; the client at its first data | `MPCapableDataFallback` / `MPCapableFallbackACK` |
//! | [`StripDataAfter`](Middlebox::StripDataAfter) | the receiver falls back mid-stream, the sender is never told: it keeps retransmitting at the MPTCP level and the connection stalls (with and without `checksum_enabled`) | receiver `DssFallback`, sender `MPTCPRetrans` |
//! | [`DropJoinSyn`](Middlebox::DropJoinSyn) / [`ResetJoinSyn`](Middlebox::ResetJoinSyn) | the connection stays on its first subflow | `MPJoinSynTx` without `MPJoinSynAckRx` / no `MPJoinSynRx` |
//! | [`DropAddAddr`](Middlebox::DropAddAddr) | the peer never learns the address; the server retransmits the announcement | — / `AddAddrTx` > 1, client no `AddAddr` |
//! | [`Cut`](Middlebox::Cut) | the path's subflow stalls until its retransmission timer gives up; other subflows carry the data | — |

use std::io;
use std::sync::{Mutex, MutexGuard};

use crate::lab::{Endpoints, Lab, Side};
use crate::netns::Netns;

/// The nftables table every middlebox rule lives in (family `inet`).
pub const TABLE: &str = "mptcp_middlebox";
/// The chain of the rules that drop or rewrite (hook `prerouting`, priority `mangle`).
pub const REWRITE_CHAIN: &str = "on_the_wire";
/// The chain of the rules that answer with a reset (hook `input`, priority `filter`).
pub const ANSWER_CHAIN: &str = "answering";

/// Which way packets travel on a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client namespace to the server namespace (SYNs, the third ACK, MP_JOIN SYNs,
    /// the client's data and ADD_ADDRs the client announces).
    ToServer,
    /// From the server namespace to the client namespace (SYN/ACKs, the server's data, the
    /// server's ADD_ADDRs).
    ToClient,
}

impl Direction {
    /// The namespace that receives packets travelling this way: the rules live there.
    pub fn receiver(self) -> Side {
        match self {
            Direction::ToServer => Side::Server,
            Direction::ToClient => Side::Client,
        }
    }

    /// conntrack's name for this direction's byte counter: the lab's client opens every
    /// connection and subflow, so client→server is `original`.
    fn conntrack(self) -> &'static str {
        match self {
            Direction::ToServer => "original",
            Direction::ToClient => "reply",
        }
    }
}

/// A middlebox behaviour, one nftables rule on one path. MPTCP option subtypes are numeric
/// (`tcp option mptcp subtype 0`: nftables 1.0.6 does not parse the names): 0 MP_CAPABLE,
/// 1 MP_JOIN, 3 ADD_ADDR. `reset tcp option mptcp` overwrites the option with NOPs (the
/// packet keeps its length; the TCP checksum is updated) — what an option-stripping NAT or
/// proxy does.
///
/// Handshake packets travel one fixed way (the lab's client opens every connection), so the
/// variants for them have no direction; the others take one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Middlebox {
    /// A firewall that drops SYNs carrying MP_CAPABLE (client→server): the "blackhole"
    /// that an unknown TCP option meets. The client's kernel (6.12+) retries without MPTCP.
    /// Rule: `tcp flags & (syn|ack) == syn tcp option mptcp subtype 0 drop`.
    DropMpCapableSyn,
    /// A firewall that answers SYNs carrying MP_CAPABLE with a TCP reset (client→server),
    /// from the server's address: the connect fails with `ECONNREFUSED` and the kernel does
    /// not retry without MPTCP. Rule (input chain): `tcp flags & (syn|ack) == syn tcp option
    /// mptcp subtype 0 reject with tcp reset`.
    ResetMpCapableSyn,
    /// A box that strips the MPTCP option from SYNs (client→server): the server sees plain
    /// TCP. Rule: `tcp flags & (syn|ack) == syn tcp option mptcp exists reset tcp option
    /// mptcp`.
    StripSyn,
    /// A box that strips the MPTCP option from SYN/ACKs (server→client): the client sees a
    /// server without MPTCP, the server a client that dropped it at the third ACK. Rule:
    /// `tcp flags & (syn|ack) == syn|ack tcp option mptcp exists reset tcp option mptcp`.
    StripSynAck,
    /// A box that strips MP_CAPABLE from the client's packets after the SYN (client→server):
    /// the third ACK, and the first data packet that repeats MP_CAPABLE (MPTCP v1).
    /// Rule: `tcp flags & (syn|ack|fin|rst) == ack tcp option mptcp subtype 0 reset tcp
    /// option mptcp`.
    StripThirdAck,
    /// A box that strips every MPTCP option from packets in `direction` once the
    /// connection carried more than `bytes` in that direction (conntrack's count, IP headers
    /// included): DSS mappings disappear mid-stream. Rule: `ct original|reply bytes > N tcp
    /// option mptcp exists reset tcp option mptcp`.
    StripDataAfter {
        /// Which way the stripped packets travel.
        direction: Direction,
        /// Bytes of this direction (conntrack's counter) let through untouched.
        bytes: u64,
    },
    /// A firewall that drops SYNs carrying MP_JOIN (client→server): extra subflows on this
    /// path never get an answer. Rule: `tcp flags & (syn|ack) == syn tcp option mptcp subtype
    /// 1 drop`.
    DropJoinSyn,
    /// A firewall that answers SYNs carrying MP_JOIN with a TCP reset (client→server), from
    /// the server's address. Rule (input chain): `tcp flags & (syn|ack) == syn tcp option
    /// mptcp subtype 1 reject with tcp reset`.
    ResetJoinSyn,
    /// A box that drops packets carrying ADD_ADDR in `direction` (`ToClient` for the
    /// server's announcements): the peer never learns the address. Rule: `tcp option mptcp
    /// subtype 3 drop`. nftables looks at the first MPTCP option of a packet; Linux sends
    /// ADD_ADDR on a pure ACK of its own.
    DropAddAddr {
        /// Which way the announcements travel.
        direction: Direction,
    },
    /// The path silently loses every packet in `direction` (the link stays up, unlike
    /// [`Lab::path_down`]): a failed router. Rule: `drop` (all traffic on the interface).
    Cut {
        /// Which way packets are lost.
        direction: Direction,
    },
}

impl Middlebox {
    /// The direction of the packets this box acts on.
    pub fn direction(self) -> Direction {
        match self {
            Middlebox::DropMpCapableSyn
            | Middlebox::ResetMpCapableSyn
            | Middlebox::StripSyn
            | Middlebox::StripThirdAck
            | Middlebox::DropJoinSyn
            | Middlebox::ResetJoinSyn => Direction::ToServer,
            Middlebox::StripSynAck => Direction::ToClient,
            Middlebox::StripDataAfter { direction, .. }
            | Middlebox::DropAddAddr { direction }
            | Middlebox::Cut { direction } => direction,
        }
    }

    /// A short name for the rule's comment and for messages (`drop-mp-capable-syn`, …).
    pub fn name(self) -> &'static str {
        match self {
            Middlebox::DropMpCapableSyn => "drop-mp-capable-syn",
            Middlebox::ResetMpCapableSyn => "reset-mp-capable-syn",
            Middlebox::StripSyn => "strip-syn",
            Middlebox::StripSynAck => "strip-syn-ack",
            Middlebox::StripThirdAck => "strip-third-ack",
            Middlebox::StripDataAfter { .. } => "strip-data-after",
            Middlebox::DropJoinSyn => "drop-join-syn",
            Middlebox::ResetJoinSyn => "reset-join-syn",
            Middlebox::DropAddAddr { .. } => "drop-add-addr",
            Middlebox::Cut { .. } => "cut",
        }
    }

    /// The chain the rule goes into: [`ANSWER_CHAIN`] for a box that answers, otherwise
    /// [`REWRITE_CHAIN`].
    fn chain(self) -> &'static str {
        match self {
            Middlebox::ResetJoinSyn | Middlebox::ResetMpCapableSyn => ANSWER_CHAIN,
            _ => REWRITE_CHAIN,
        }
    }

    /// The rule's match and verdict (after `iifname IF`), in nft syntax.
    pub fn nft_rule(self) -> String {
        const SYN: &str = "tcp flags & (syn|ack) == syn";
        match self {
            Middlebox::DropMpCapableSyn => format!("{SYN} tcp option mptcp subtype 0 counter drop"),
            Middlebox::ResetMpCapableSyn => {
                format!("{SYN} tcp option mptcp subtype 0 counter reject with tcp reset")
            }
            Middlebox::StripSyn => {
                format!("{SYN} tcp option mptcp exists counter reset tcp option mptcp")
            }
            Middlebox::StripSynAck => "tcp flags & (syn|ack) == syn|ack tcp option mptcp exists \
                 counter reset tcp option mptcp"
                .to_string(),
            Middlebox::StripThirdAck => "tcp flags & (syn|ack|fin|rst) == ack \
                 tcp option mptcp subtype 0 counter reset tcp option mptcp"
                .to_string(),
            Middlebox::StripDataAfter { direction, bytes } => format!(
                "ct {} bytes > {bytes} tcp option mptcp exists counter reset tcp option mptcp",
                direction.conntrack()
            ),
            Middlebox::DropJoinSyn => format!("{SYN} tcp option mptcp subtype 1 counter drop"),
            Middlebox::ResetJoinSyn => {
                format!("{SYN} tcp option mptcp subtype 1 counter reject with tcp reset")
            }
            Middlebox::DropAddAddr { .. } => "tcp option mptcp subtype 3 counter drop".to_string(),
            Middlebox::Cut { .. } => "counter drop".to_string(),
        }
    }
}

/// A middlebox rule installed on one path (see [`Lab::add_middlebox`]). It stays until
/// [`InstalledMiddlebox::remove`] or until the lab is dropped.
#[derive(Debug, Clone)]
pub struct InstalledMiddlebox {
    ns: String,
    chain: &'static str,
    comment: String,
    /// What the rule does.
    pub middlebox: Middlebox,
    /// The path it sits on.
    pub path: usize,
}

impl InstalledMiddlebox {
    /// Packets the rule has matched so far (its nftables counter: `nft list chain`).
    pub fn packets(&self) -> io::Result<u64> {
        let line = self.rule_line()?;
        let after = line.split_once("counter packets ").map(|(_, a)| a);
        after
            .and_then(|a| a.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no counter in nft rule: {line}")))
    }

    /// Deletes the rule (`nft delete rule … handle H`): the path is clean again.
    pub fn remove(&self) -> io::Result<()> {
        let line = self.rule_line()?;
        let handle = line
            .rsplit_once("# handle ")
            .map(|(_, h)| h.trim().to_string())
            .ok_or_else(|| io::Error::other(format!("no handle in nft rule: {line}")))?;
        nft(
            &self.ns,
            &[
                "delete", "rule", "inet", TABLE, self.chain, "handle", &handle,
            ],
        )
        .map(drop)
    }

    /// The rule as `nft -a list chain` prints it (with counter and handle).
    fn rule_line(&self) -> io::Result<String> {
        let listing = nft(
            &self.ns,
            &["-a", "list", "chain", "inet", TABLE, self.chain],
        )?;
        let needle = format!("comment \"{}\"", self.comment);
        listing
            .lines()
            .find(|l| l.contains(&needle))
            .map(|l| l.trim().to_string())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("middlebox rule {} is not installed", self.comment),
                )
            })
    }
}

/// `ip netns exec NS nft args…`, returning stdout.
fn nft(ns: &str, args: &[&str]) -> io::Result<String> {
    let out = crate::netns::run(
        std::process::Command::new("ip")
            .args(["netns", "exec", ns, "nft"])
            .args(args),
    )
    .map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            io::Error::new(
                e.kind(),
                "`nft` is not installed: the lab's middleboxes need nftables \
                 (apt-get install nftables)",
            )
        } else {
            e
        }
    })?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Creates the table and both chains in `ns` unless they exist (`nft add` is idempotent
/// for tables and chains that already exist with the same definition).
fn ensure_table(ns: &Netns) -> io::Result<()> {
    let script = format!(
        "add table inet {TABLE}\n\
         add chain inet {TABLE} {REWRITE_CHAIN} {{ type filter hook prerouting priority mangle; policy accept; }}\n\
         add chain inet {TABLE} {ANSWER_CHAIN} {{ type filter hook input priority filter; policy accept; }}\n"
    );
    let mut child = ns
        .command("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run nft (apt-get install nftables): {e}"),
            )
        })?;
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "nft could not create table {TABLE} in {}: {}",
            ns.name(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

impl Lab {
    /// Puts `middlebox` on `path`: one nftables rule in the namespace that receives the
    /// packets it acts on (see the [module documentation](self) for why that is the same
    /// as a box on the wire). Several boxes may be stacked on one path; they are tried in
    /// the order they were added.
    pub fn add_middlebox(
        &self,
        path: usize,
        middlebox: Middlebox,
    ) -> io::Result<InstalledMiddlebox> {
        let side = middlebox.direction().receiver();
        let ns = self.ns(side);
        let ifname = self.interface(side, path);
        ensure_table(ns)?;
        let comment = format!("{}-path{path}-{}", middlebox.name(), next_rule_id());
        let chain = middlebox.chain();
        let rule = format!(
            "add rule inet {TABLE} {chain} iifname \"{ifname}\" {} comment \"{comment}\"",
            middlebox.nft_rule()
        );
        // One argument: nft joins its arguments with spaces anyway, and the parentheses and
        // `|` reach it without a shell.
        nft(ns.name(), &[&rule])?;
        Ok(InstalledMiddlebox {
            ns: ns.name().to_string(),
            chain,
            comment,
            middlebox,
            path,
        })
    }
}

fn next_rule_id() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A lab for a middlebox test: two 50 Mbit/s paths, `endpoints`, and each `(path, box)` of
/// `boxes` installed; the boxes are returned for their counters.
pub fn lab_with_boxes(
    endpoints: Endpoints,
    boxes: &[(usize, Middlebox)],
) -> (Lab, Vec<InstalledMiddlebox>) {
    let lab = Lab::builder()
        .paths([50, 50])
        .endpoints(endpoints)
        .build()
        .expect("a two-path lab");
    let installed = boxes
        .iter()
        .map(|&(path, mb)| lab.add_middlebox(path, mb).expect("install the middlebox"))
        .collect();
    (lab, installed)
}

/// One middlebox test at a time within a test binary: a SYN blackhole costs seconds of
/// waiting, and timing figures and the namespaces' counters must not be shared-CPU noise
/// of a neighbouring case. A test that panicked does not stop the others.
pub fn one_case_at_a_time() -> MutexGuard<'static, ()> {
    static SEQUENTIAL: Mutex<()> = Mutex::new(());
    SEQUENTIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// [`lab_with_boxes`] for a test of its own, holding [`one_case_at_a_time`]'s turn: bind
/// the three parts separately (`let (_turn, lab, boxes) = …`), so that the turn is given
/// back last, after the lab's namespaces are gone.
pub fn sequential_lab(
    endpoints: Endpoints,
    boxes: &[(usize, Middlebox)],
) -> (MutexGuard<'static, ()>, Lab, Vec<InstalledMiddlebox>) {
    let turn = one_case_at_a_time();
    let (lab, installed) = lab_with_boxes(endpoints, boxes);
    (turn, lab, installed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_boxes_act_where_the_packets_travel() {
        assert_eq!(Middlebox::DropMpCapableSyn.direction(), Direction::ToServer);
        assert_eq!(Middlebox::StripSynAck.direction(), Direction::ToClient);
        assert_eq!(Direction::ToClient.receiver(), Side::Client);
        assert_eq!(
            Middlebox::StripDataAfter {
                direction: Direction::ToClient,
                bytes: 10
            }
            .nft_rule(),
            "ct reply bytes > 10 tcp option mptcp exists counter reset tcp option mptcp"
        );
        assert_eq!(Middlebox::ResetJoinSyn.chain(), ANSWER_CHAIN);
    }
}
