//! Why a connection is not MPTCP, or uses one path: the reasons, their short words (one
//! spelling for `mptcpize check`, `watch` and `run --report`), and the decision from one
//! connection's own kernel state ([`one_connection`]).
//!
//! Two reasons, [`Reason::Blackhole`] and [`Reason::BlackholeDisabled`], are not visible in a
//! connection's own state (such a connection looks like one the server answered without
//! MPTCP): only the network namespace's counters around the connection show them, which is
//! what `mptcpize check --connect` reads. [`Reason::MptcpRefused`] leaves no connection at
//! all: `check --connect` finds it by trying plain TCP after the refusal.

/// Why a connection is not MPTCP, or has one path only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The SYN went out without MPTCP because the kernel disabled MPTCP for new client
    /// connections of the namespace after a blackhole (`MPCapableSYNTXDisabled`).
    BlackholeDisabled,
    /// SYNs carrying MP_CAPABLE went unanswered and the kernel's plain TCP SYN was answered:
    /// a firewall drops MPTCP SYNs (`MPCapableSYNTXDrop`, `Blackhole`).
    Blackhole,
    /// The MPTCP SYN was answered with a reset while a plain TCP SYN is accepted: a firewall
    /// rejects MPTCP. The kernel does not retry without MPTCP: `connect` fails with
    /// `ECONNREFUSED` (a racing connect gets through).
    MptcpRefused,
    /// Fell back at the handshake: the SYN/ACK carried no MP_CAPABLE (the server does not
    /// speak MPTCP, or a box stripped the option from the SYN or the SYN/ACK); the
    /// connection never received the peer's key (`MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED`
    /// clear).
    FallbackServer,
    /// Fell back after the handshake: the peer's key was received, then MPTCP was lost
    /// (options stripped from the third ACK or from data, payload changed).
    FallbackMidStream,
    /// Extra subflows were tried and none is established: MP_JOIN SYNs dropped or reset, or
    /// the peer refuses joins.
    JoinRefused,
    /// The path manager's limits allow no extra subflow (`subflows` 0), or refuse the
    /// peer's announced address (`add_addr_accepted` 0).
    Limit,
    /// No `subflow` endpoint on this host and no announced address accepted
    /// (`add_addr_accepted` limit 0): nothing here opens a second path.
    NoEndpoint,
    /// No `subflow` endpoint on this host, so extra paths depend on the peer's ADD_ADDR,
    /// and none was accepted: the peer announced nothing (or a box dropped it).
    PeerAnnouncedNone,
}

impl Reason {
    /// Every reason, in the order the README lists them.
    pub const ALL: [Reason; 9] = [
        Reason::Blackhole,
        Reason::BlackholeDisabled,
        Reason::MptcpRefused,
        Reason::FallbackServer,
        Reason::FallbackMidStream,
        Reason::JoinRefused,
        Reason::Limit,
        Reason::NoEndpoint,
        Reason::PeerAnnouncedNone,
    ];

    /// The short word (`--json` field `reason`, report lines, narrow columns).
    pub const fn word(self) -> &'static str {
        match self {
            Reason::BlackholeDisabled => "blackhole-disabled",
            Reason::Blackhole => "blackhole",
            Reason::MptcpRefused => "mptcp-refused",
            Reason::FallbackServer => "fallback:server",
            Reason::FallbackMidStream => "fallback:mid-stream",
            Reason::JoinRefused => "join-refused",
            Reason::Limit => "limit",
            Reason::NoEndpoint => "no-endpoint",
            Reason::PeerAnnouncedNone => "peer-announced-none",
        }
    }

    /// True for the reasons that mean "not MPTCP" (the others: MPTCP on one path).
    pub const fn is_fallback(self) -> bool {
        matches!(
            self,
            Reason::BlackholeDisabled
                | Reason::Blackhole
                | Reason::MptcpRefused
                | Reason::FallbackServer
                | Reason::FallbackMidStream
        )
    }
}

/// One MPTCP socket's own state, as `struct mptcp_info` (getsockopt `MPTCP_INFO`, or
/// sock_diag's `MPTCP_INFO` attribute, which also carries the fallback flag) and its subflow
/// list give it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionState {
    /// `MPTCP_INFO_FLAG_FALLBACK`, or `TCP_IS_MPTCP` 0 on an MPTCP socket.
    pub fell_back: bool,
    /// `MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED`: the MPTCP handshake delivered the peer's key.
    pub remote_key_received: bool,
    /// The first subflow is fully established (`MPTCP_SUBFLOW_FLAG_FULLY_ESTABLISHED`), or
    /// data has flowed: the path manager only adds subflows after that.
    pub fully_established: bool,
    /// Extra subflows in state ESTABLISHED (`mptcpi_subflows` also counts joins still in
    /// SYN_SENT, so it cannot tell a dropped MP_JOIN from a working one).
    pub established_extra_subflows: u8,
    /// `mptcpi_subflows_max`: the `subflows` limit.
    pub subflows_max: u8,
    /// `mptcpi_local_addr_used`: local endpoints this connection opened subflows from.
    pub local_addr_used: u8,
    /// `mptcpi_local_addr_max`: `subflow` endpoints the path manager may use.
    pub local_addr_max: u8,
    /// `mptcpi_add_addr_accepted`: the peer's announced addresses acted on.
    pub add_addr_accepted: u8,
    /// `mptcpi_add_addr_accepted_max`: the `add_addr_accepted` limit.
    pub add_addr_accepted_max: u8,
}

/// Why the connection of `state` is not MPTCP or has one path, from its own state alone;
/// `None` when it has extra subflows, or when nothing has been exchanged yet (the path
/// manager waits for that before it adds subflows).
///
/// Measured on Linux 6.18 in the lab: a reset MP_JOIN leaves `local_addr_used` 1 and no
/// extra subflow; a dropped one leaves a subflow in SYN_SENT; a dropped ADD_ADDR leaves
/// `add_addr_accepted` 0.
pub fn one_connection(state: &ConnectionState) -> Option<Reason> {
    if state.fell_back {
        return Some(if state.remote_key_received {
            Reason::FallbackMidStream
        } else {
            Reason::FallbackServer
        });
    }
    if state.established_extra_subflows > 0 {
        return None;
    }
    if state.subflows_max == 0 {
        return Some(Reason::Limit);
    }
    if state.local_addr_used > 0 || state.add_addr_accepted > 0 {
        return Some(Reason::JoinRefused);
    }
    if !state.fully_established {
        return None;
    }
    if state.local_addr_max == 0 {
        return Some(if state.add_addr_accepted_max == 0 {
            Reason::NoEndpoint
        } else {
            Reason::PeerAnnouncedNone
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_from_the_lab_measurements() {
        // The client's mptcp_info in each lab case (Linux 6.18, after data flowed).
        let base = ConnectionState {
            fully_established: true,
            subflows_max: 2,
            add_addr_accepted_max: 2,
            local_addr_max: 1,
            ..ConnectionState::default()
        };
        let clean = ConnectionState {
            established_extra_subflows: 1,
            local_addr_used: 1,
            ..base
        };
        assert_eq!(one_connection(&clean), None);
        let join_reset = ConnectionState {
            local_addr_used: 1,
            ..base
        };
        assert_eq!(one_connection(&join_reset), Some(Reason::JoinRefused));
        let add_addr_dropped = ConnectionState {
            local_addr_max: 0,
            ..base
        };
        assert_eq!(
            one_connection(&add_addr_dropped),
            Some(Reason::PeerAnnouncedNone)
        );
        let refuses_announcements = ConnectionState {
            add_addr_accepted_max: 0,
            ..add_addr_dropped
        };
        assert_eq!(
            one_connection(&refuses_announcements),
            Some(Reason::NoEndpoint)
        );
        let limit = ConnectionState {
            subflows_max: 0,
            ..base
        };
        assert_eq!(one_connection(&limit), Some(Reason::Limit));
        // Nothing exchanged yet: the path manager has not started.
        let idle = ConnectionState {
            fully_established: false,
            ..add_addr_dropped
        };
        assert_eq!(one_connection(&idle), None);
        let stripped_syn_ack = ConnectionState {
            fell_back: true,
            ..base
        };
        assert_eq!(
            one_connection(&stripped_syn_ack),
            Some(Reason::FallbackServer)
        );
        let stripped_later = ConnectionState {
            remote_key_received: true,
            ..stripped_syn_ack
        };
        assert_eq!(
            one_connection(&stripped_later),
            Some(Reason::FallbackMidStream)
        );
        for reason in Reason::ALL {
            assert_eq!(
                reason.is_fallback(),
                reason.word().starts_with("fallback")
                    || reason.word().starts_with("blackhole")
                    || reason == Reason::MptcpRefused
            );
        }
    }
}
