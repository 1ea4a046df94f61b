//! Why a connection is not MPTCP, or uses fewer paths than it could, and whether the
//! kernel has switched MPTCP off in this network namespace after a SYN blackhole.
//!
//! Every answer comes from what the kernel exposes, never from a guess about the network:
//! the connection's kind (`TCP_IS_MPTCP`, `MPTCP_INFO`), its extra subflows
//! (`mptcp_info.subflows`), the namespace's `MPTcpExt` counters read before and after the
//! connection ([`MptcpCounters`]), the in-kernel path manager's endpoints and limits, and
//! the `net.mptcp.blackhole_timeout` / `syn_retrans_before_tcp_fallback` sysctls.

use mptcp_socket::pm::Limits;
use mptcp_socket::{ConnectionKind, MptcpCounters};
use serde_json::json;

use super::findings::{Finding, Status};
use super::setup::sysctl;

/// The reasons and their words live with the other shared decisions
/// (`mptcp_policy::why_not_mptcp`), so that `check`, `watch` and `run --report` spell them
/// the same.
pub use mptcp_policy::why_not_mptcp::Reason;

/// What the kernel showed about one connection, for [`explain`].
#[derive(Debug, Clone)]
pub struct Evidence {
    /// The connection's kind right after `connect`.
    pub kind_at_connect: ConnectionKind,
    /// Its kind at the end of the observation.
    pub kind: ConnectionKind,
    /// Extra subflows (`mptcp_info.subflows`) at the end; 0 when not MPTCP.
    pub extra_subflows: u8,
    /// The namespace's counters over the connection (after minus before).
    pub counters: MptcpCounters,
    /// `subflow` endpoints of the in-kernel path manager.
    pub subflow_endpoints: usize,
    /// The path manager's limits, when they could be read.
    pub limits: Option<Limits>,
}

/// Why the connection of `evidence` is not MPTCP or has one path; `None` when it is MPTCP
/// with extra subflows, or on one path for no cause the kernel shows. With the reason,
/// the evidence in words ("how it knows").
pub fn explain(evidence: &Evidence) -> Option<(Reason, String)> {
    let c = &evidence.counters;
    let named = |names: &[&str]| -> String {
        names
            .iter()
            .filter(|n| c.get(n) > 0)
            .map(|n| format!("MPTcpExt{n} +{}", c.get(n)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if evidence.kind != ConnectionKind::Mptcp {
        if c.get("MPCapableSYNTXDisabled") > 0 {
            return Some((
                Reason::BlackholeDisabled,
                named(&["MPCapableSYNTXDisabled"]),
            ));
        }
        if c.get("MPCapableSYNTXDrop") > 0 {
            return Some((
                Reason::Blackhole,
                named(&["MPCapableSYNTXDrop", "Blackhole"]),
            ));
        }
        if evidence.kind_at_connect == ConnectionKind::Mptcp {
            let how = named(&["MPCapableDataFallback", "DssFallback", "MPFailRx"]);
            return Some((
                Reason::FallbackMidStream,
                if how.is_empty() {
                    "MPTCP right after connect, not later (TCP_IS_MPTCP)".to_string()
                } else {
                    how
                },
            ));
        }
        let how = named(&["MPCapableFallbackSYNACK"]);
        return Some((
            Reason::FallbackServer,
            if how.is_empty() {
                "the SYN/ACK carried no MP_CAPABLE (TCP_IS_MPTCP 0 after connect)".to_string()
            } else {
                how
            },
        ));
    }
    let joins_sent = c.get("MPJoinSynTx");
    let joins_answered = c.get("MPJoinSynAckRx");
    if joins_sent > joins_answered {
        return Some((
            Reason::JoinRefused,
            format!("MPTcpExtMPJoinSynTx +{joins_sent}, MPTcpExtMPJoinSynAckRx +{joins_answered}"),
        ));
    }
    if evidence.extra_subflows > 0 {
        return None;
    }
    let limits = evidence.limits?;
    let announced = c.get("AddAddr");
    if announced > 0 && (limits.add_addr_accepted == 0 || limits.subflows == 0) {
        return Some((
            Reason::Limit,
            format!(
                "MPTcpExtAddAddr +{announced}; limits subflows {} add_addr_accepted {}",
                limits.subflows, limits.add_addr_accepted
            ),
        ));
    }
    if evidence.subflow_endpoints > 0 && limits.subflows == 0 {
        return Some((
            Reason::Limit,
            format!(
                "{} subflow endpoint(s); limits subflows 0",
                evidence.subflow_endpoints
            ),
        ));
    }
    if evidence.subflow_endpoints == 0 {
        return Some(if limits.add_addr_accepted > 0 && limits.subflows > 0 {
            (
                Reason::PeerAnnouncedNone,
                format!(
                    "no subflow endpoint; limits add_addr_accepted {}; MPTcpExtAddAddr +0",
                    limits.add_addr_accepted
                ),
            )
        } else {
            (
                Reason::NoEndpoint,
                format!(
                    "no subflow endpoint; limits subflows {} add_addr_accepted {}",
                    limits.subflows, limits.add_addr_accepted
                ),
            )
        });
    }
    None
}

/// The sentence for `reason` in a `--connect` finding, and the fix (a command, or the next
/// step in words).
pub fn describe(reason: Reason) -> (&'static str, &'static str) {
    match reason {
        Reason::BlackholeDisabled => (
            "fell back to TCP: MPTCP is disabled for new connections in this network namespace \
             (the kernel detected a firewall dropping MPTCP SYNs earlier), so the SYN went out \
             without MPTCP",
            "sysctl -w net.mptcp.blackhole_timeout=3600 (writing it, even its current value, \
             re-enables MPTCP)",
        ),
        Reason::MptcpRefused => (
            "refused over MPTCP, while plain TCP connects: a firewall answers SYNs carrying \
             MPTCP with a reset, and the kernel does not retry without MPTCP (programs fail \
             with ECONNREFUSED)",
            "ask the firewall's owner to let TCP option 30 (MPTCP) through; meanwhile \
             MptcpStream::connect_racing gets through at once",
        ),
        Reason::Blackhole => (
            "fell back to TCP: SYNs carrying MPTCP got no answer and the kernel's plain TCP SYN \
             did: a firewall on the way drops MPTCP SYNs (a blackhole); the kernel now disables \
             MPTCP in this namespace for net.mptcp.blackhole_timeout",
            "ask the firewall's owner to let TCP option 30 (MPTCP) through; meanwhile \
             MptcpStream::connect_racing gets through in 250 ms",
        ),
        Reason::FallbackServer => (
            "fell back to TCP: the server answered without MPTCP: it does not speak MPTCP, or \
             a box on the way stripped the option from the SYN or the SYN/ACK",
            "mptcpize run SERVER-PROGRAM [ARGS]... on the server, with net.mptcp.enabled=1 there",
        ),
        Reason::FallbackMidStream => (
            "fell back to TCP after the handshake: MPTCP was negotiated, then a box stripped the \
             MPTCP options (third ACK or data) or changed the payload",
            "find the box that rewrites TCP options (a proxy, a NAT, a traffic normaliser)",
        ),
        Reason::JoinRefused => (
            "speaks MPTCP, on one path: extra subflows were tried and not answered (MP_JOIN \
             dropped or reset on the way, or the server refuses joins)",
            "check that the server keeps its listener open and bound to the any address, and \
             that firewalls let MP_JOIN SYNs through",
        ),
        Reason::Limit => (
            "speaks MPTCP, on one path: the path manager's limits allow no extra subflow here",
            "ip mptcp limits set subflows 2 add_addr_accepted 2",
        ),
        Reason::NoEndpoint => (
            "speaks MPTCP, on one path: this host has no subflow endpoint and accepts no \
             announced address",
            "ip mptcp endpoint add ADDRESS dev INTERFACE subflow",
        ),
        Reason::PeerAnnouncedNone => (
            "speaks MPTCP, on one path: this host has no subflow endpoint and the server \
             announced no other address (or a box dropped its ADD_ADDR)",
            "ip mptcp endpoint add ADDRESS dev INTERFACE subflow (here), or a signal endpoint \
             on the server",
        ),
    }
}

/// The `blackhole` finding: whether the kernel has switched MPTCP off for new client
/// connections of this namespace. `before` is a reading of the counters taken before the
/// self-test; when `self_test_ran`, its loopback connection, which the kernel disables too,
/// shows the state now (`MPCapableSYNTXDisabled` counted it). Returns the finding and
/// whether MPTCP is disabled now.
pub fn blackhole_state(before: &MptcpCounters, self_test_ran: bool) -> (Finding, bool) {
    if !before.has("Blackhole") {
        return (
            Finding::new(
                "blackhole",
                Status::Ok,
                "this kernel has no MPTCP blackhole detection (Linux < 6.12): behind a firewall \
                 that drops MPTCP SYNs, connections wait until connect times out",
            )
            .note("MptcpStream::connect_racing gets through such firewalls"),
            false,
        );
    }
    let after = MptcpCounters::read().unwrap_or_else(|_| before.clone());
    let blackhole_timeout = sysctl("blackhole_timeout").unwrap_or_default();
    let retries = sysctl("syn_retrans_before_tcp_fallback").unwrap_or_default();
    let detections = after.get("Blackhole");
    let disabled_now = self_test_ran && after.since(before).get("MPCapableSYNTXDisabled") > 0;
    let data = json!({
        "disabled": if self_test_ran { Some(disabled_now) } else { None },
        "detections": detections,
        "connections_sent_without_mptcp": after.get("MPCapableSYNTXDisabled"),
        "net.mptcp.blackhole_timeout": blackhole_timeout,
        "net.mptcp.syn_retrans_before_tcp_fallback": retries,
    });
    // Writing the sysctl, even its current value, resets the kernel's count of detections
    // (measured on 6.18: the next connection is MPTCP again).
    let reset = format!("sysctl -w net.mptcp.blackhole_timeout={blackhole_timeout}");
    let finding = if disabled_now {
        Finding::new(
            "blackhole",
            Status::Fail,
            format!(
                "MPTCP is disabled for new client connections in this network namespace: the \
                 kernel detected a firewall dropping MPTCP SYNs ({detections} time(s) since the \
                 namespace was created, MPTcpExtBlackhole) and sends every SYN without MPTCP \
                 ({} connection(s) so far, MPTcpExtMPCapableSYNTXDisabled) until \
                 net.mptcp.blackhole_timeout = {blackhole_timeout} s after the last detection, \
                 doubled for each detection in a row (at most 64 times); the kernel does not \
                 say when that was",
                after.get("MPCapableSYNTXDisabled")
            ),
        )
        .fix(reset)
        .note(
            "writing the sysctl (even its current value) re-enables MPTCP at once; the next \
             MPTCP SYN through the same firewall disables it again: find the path with \
             mptcpize check --connect HOST:PORT",
        )
    } else if detections > 0 {
        let state = if self_test_ran {
            format!(
                "MPTCP is enabled again now (the {blackhole_timeout} s passed, or the sysctl was \
                 written)"
            )
        } else {
            "whether MPTCP is still disabled, the self-test would tell (--no-self-test)".into()
        };
        Finding::new(
            "blackhole",
            Status::Warn,
            format!(
                "the kernel detected a firewall dropping MPTCP SYNs {detections} time(s) in this \
                 namespace (MPTcpExtBlackhole); {state}"
            ),
        )
        .fix(reset)
        .note(
            "writing the sysctl (even its current value) re-enables MPTCP at once; the path \
             is probably still blocked: mptcpize check --connect HOST:PORT",
        )
    } else if blackhole_timeout == "0" {
        Finding::new(
            "blackhole",
            Status::Ok,
            "blackhole detection is off (net.mptcp.blackhole_timeout = 0): behind a firewall \
             that drops MPTCP SYNs the kernel still retries without MPTCP, and never disables \
             MPTCP",
        )
    } else {
        Finding::new(
            "blackhole",
            Status::Ok,
            format!(
                "no firewall dropping MPTCP SYNs detected in this namespace (MPTcpExtBlackhole \
                 0); after {retries} unanswered SYN retransmissions the kernel would retry \
                 without MPTCP and disable MPTCP here for {blackhole_timeout} s"
            ),
        )
    };
    (finding.data(data), disabled_now)
}

/// The number of `subflow` endpoints and the limits of the in-kernel path manager (over
/// generic netlink); `(0, None)` where they cannot be read (a userspace path manager, a
/// kernel without it).
pub fn path_manager_view() -> (usize, Option<Limits>) {
    let Ok(pm) = mptcp_socket::pm::PathManager::new() else {
        return (0, None);
    };
    let subflow_endpoints = pm.endpoints().map_or(0, |endpoints| {
        endpoints
            .iter()
            .filter(|e| e.flags.contains(mptcp_socket::pm::EndpointFlags::SUBFLOW))
            .count()
    });
    (subflow_endpoints, pm.limits().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(pairs: &[(&str, u64)]) -> MptcpCounters {
        let names: Vec<&str> = pairs.iter().map(|p| p.0).collect();
        let values: Vec<String> = pairs.iter().map(|p| p.1.to_string()).collect();
        MptcpCounters::parse(&format!(
            "MPTcpExt: {}\nMPTcpExt: {}\n",
            names.join(" "),
            values.join(" ")
        ))
        .unwrap()
    }

    fn evidence(kind_at_connect: ConnectionKind, kind: ConnectionKind) -> Evidence {
        Evidence {
            kind_at_connect,
            kind,
            extra_subflows: 0,
            counters: MptcpCounters::default(),
            subflow_endpoints: 1,
            limits: Some(Limits {
                subflows: 2,
                add_addr_accepted: 2,
            }),
        }
    }

    #[test]
    fn each_reason_from_its_evidence() {
        use ConnectionKind::{FellBack, Mptcp};
        let reason = |e: &Evidence| explain(e).map(|r| r.0);
        let mut e = evidence(FellBack, FellBack);
        e.counters = counters(&[("MPCapableSYNTXDisabled", 1)]);
        assert_eq!(reason(&e), Some(Reason::BlackholeDisabled));
        e.counters = counters(&[("MPCapableSYNTXDrop", 1), ("Blackhole", 1)]);
        assert_eq!(reason(&e), Some(Reason::Blackhole));
        e.counters = counters(&[("MPCapableFallbackSYNACK", 1)]);
        assert_eq!(reason(&e), Some(Reason::FallbackServer));
        let mut e = evidence(Mptcp, FellBack);
        e.counters = counters(&[("MPCapableDataFallback", 1)]);
        assert_eq!(
            explain(&e).unwrap(),
            (
                Reason::FallbackMidStream,
                "MPTcpExtMPCapableDataFallback +1".to_string()
            )
        );
        let mut e = evidence(Mptcp, Mptcp);
        e.counters = counters(&[("MPJoinSynTx", 1)]);
        assert_eq!(reason(&e), Some(Reason::JoinRefused));
        e.counters = counters(&[("MPJoinSynTx", 1), ("MPJoinSynAckRx", 1)]);
        e.extra_subflows = 1;
        assert_eq!(reason(&e), None);
        let mut e = evidence(Mptcp, Mptcp);
        e.limits = Some(Limits {
            subflows: 0,
            add_addr_accepted: 0,
        });
        assert_eq!(reason(&e), Some(Reason::Limit));
        e.subflow_endpoints = 0;
        assert_eq!(reason(&e), Some(Reason::NoEndpoint));
        e.counters = counters(&[("AddAddr", 1)]);
        assert_eq!(reason(&e), Some(Reason::Limit));
        let mut e = evidence(Mptcp, Mptcp);
        e.subflow_endpoints = 0;
        assert_eq!(reason(&e), Some(Reason::PeerAnnouncedNone));
        // Endpoints and room for subflows, but no join attempted: nothing the kernel shows.
        assert_eq!(reason(&evidence(Mptcp, Mptcp)), None);
        // A fallback's sentence says so: `--connect` puts it after "connected, but".
        for r in [
            Reason::BlackholeDisabled,
            Reason::Blackhole,
            Reason::FallbackServer,
            Reason::FallbackMidStream,
        ] {
            assert!(describe(r).0.starts_with("fell back to TCP"), "{r:?}");
        }
        for r in [
            Reason::JoinRefused,
            Reason::Limit,
            Reason::NoEndpoint,
            Reason::PeerAnnouncedNone,
        ] {
            assert!(
                describe(r).0.starts_with("speaks MPTCP, on one path"),
                "{r:?}"
            );
        }
    }
}
