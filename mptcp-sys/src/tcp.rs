//! `include/uapi/linux/tcp.h`: `struct tcp_info`, the per-subflow element of
//! `MPTCP_TCPINFO` and `MPTCP_FULL_INFO` answers.
//!
//! Only the part of `linux/tcp.h` those answers carry lives here; everything else about TCP
//! is in `libc`.

use core::mem::{offset_of, size_of};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `tcpi_state` of a connect whose SYN is not answered yet (`include/net/tcp_states.h`): an
/// MPTCP join whose MP_JOIN SYN is dropped stays here.
pub const TCP_SYN_SENT: u8 = 2;
/// `tcpi_state` of a passive open between SYN/ACK and the handshake's ACK.
pub const TCP_SYN_RECV: u8 = 3;
/// `tcpi_state` values the kernel reports once the peer's FIN has arrived (`enum` in
/// `include/net/tcp_states.h`; `tcpi_state` carries them to user space, and libc has no
/// names for them).
pub const TCP_TIME_WAIT: u8 = 6;
/// `tcpi_state` of a socket with no connection left: closed after both FINs (the kernel
/// moved the connection to a time-wait socket), reset, or never connected.
pub const TCP_CLOSE: u8 = 7;
/// See [`TCP_TIME_WAIT`].
pub const TCP_CLOSE_WAIT: u8 = 8;
/// See [`TCP_TIME_WAIT`].
pub const TCP_LAST_ACK: u8 = 9;
/// See [`TCP_TIME_WAIT`].
pub const TCP_CLOSING: u8 = 11;

/// `struct tcp_info` up to `tcpi_total_rto_time` (Linux 6.7; 248 bytes).
///
/// The kernel's struct grows over time: an `MPTCP_TCPINFO` answer says how many bytes of
/// each element the kernel knows (`mptcp_subflow_data.size_kernel`), and only that many are
/// valid. Newer kernels may know more fields than this struct has; they are not copied.
#[repr(C)]
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct tcp_info {
    /// TCP state (`TCP_ESTABLISHED` = 1, …).
    pub tcpi_state: u8,
    /// Congestion-avoidance state.
    pub tcpi_ca_state: u8,
    /// Unrecovered RTO timeouts.
    pub tcpi_retransmits: u8,
    /// Unanswered zero-window probes.
    pub tcpi_probes: u8,
    /// Back-off of the retransmission timer.
    pub tcpi_backoff: u8,
    /// `TCPI_OPT_*` options negotiated.
    pub tcpi_options: u8,
    /// Send (low 4 bits) and receive (high 4 bits) window scale.
    pub tcpi_wscale: u8,
    /// Bit 0: delivery rate app-limited; bits 1–2: fastopen client failure.
    pub tcpi_app_limited_fastopen: u8,
    /// Retransmission timeout, µs.
    pub tcpi_rto: u32,
    /// Delayed-ACK timeout, µs.
    pub tcpi_ato: u32,
    /// Send MSS.
    pub tcpi_snd_mss: u32,
    /// Receive MSS estimate.
    pub tcpi_rcv_mss: u32,
    /// Unacknowledged segments.
    pub tcpi_unacked: u32,
    /// SACKed segments.
    pub tcpi_sacked: u32,
    /// Lost segments.
    pub tcpi_lost: u32,
    /// Retransmitted segments in flight.
    pub tcpi_retrans: u32,
    /// Unused (always 0).
    pub tcpi_fackets: u32,
    /// ms since data was last sent.
    pub tcpi_last_data_sent: u32,
    /// Unused (always 0).
    pub tcpi_last_ack_sent: u32,
    /// ms since data was last received.
    pub tcpi_last_data_recv: u32,
    /// ms since an ACK was last received.
    pub tcpi_last_ack_recv: u32,
    /// Path MTU.
    pub tcpi_pmtu: u32,
    /// Receive slow-start threshold.
    pub tcpi_rcv_ssthresh: u32,
    /// Smoothed RTT, µs.
    pub tcpi_rtt: u32,
    /// RTT variance, µs.
    pub tcpi_rttvar: u32,
    /// Send slow-start threshold.
    pub tcpi_snd_ssthresh: u32,
    /// Congestion window, segments.
    pub tcpi_snd_cwnd: u32,
    /// Advertised MSS.
    pub tcpi_advmss: u32,
    /// Reordering metric.
    pub tcpi_reordering: u32,
    /// Receiver-side RTT estimate, µs.
    pub tcpi_rcv_rtt: u32,
    /// Receive buffer space.
    pub tcpi_rcv_space: u32,
    /// Total retransmitted segments.
    pub tcpi_total_retrans: u32,
    /// Pacing rate, bytes/s.
    pub tcpi_pacing_rate: u64,
    /// Maximum pacing rate, bytes/s.
    pub tcpi_max_pacing_rate: u64,
    /// Bytes acknowledged by the peer (Linux 4.1+).
    pub tcpi_bytes_acked: u64,
    /// Bytes received (Linux 4.1+).
    pub tcpi_bytes_received: u64,
    /// Segments sent (Linux 4.2+).
    pub tcpi_segs_out: u32,
    /// Segments received (Linux 4.2+).
    pub tcpi_segs_in: u32,
    /// Bytes not yet sent (Linux 4.6+).
    pub tcpi_notsent_bytes: u32,
    /// Minimum RTT seen, µs (Linux 4.6+).
    pub tcpi_min_rtt: u32,
    /// Data segments received (Linux 4.6+).
    pub tcpi_data_segs_in: u32,
    /// Data segments sent (Linux 4.6+).
    pub tcpi_data_segs_out: u32,
    /// Delivery rate, bytes/s (Linux 4.9+).
    pub tcpi_delivery_rate: u64,
    /// µs busy sending data (Linux 4.10+).
    pub tcpi_busy_time: u64,
    /// µs limited by the receive window (Linux 4.10+).
    pub tcpi_rwnd_limited: u64,
    /// µs limited by the send buffer (Linux 4.10+).
    pub tcpi_sndbuf_limited: u64,
    /// Segments delivered (Linux 4.18+).
    pub tcpi_delivered: u32,
    /// Segments delivered with CE marks (Linux 4.18+).
    pub tcpi_delivered_ce: u32,
    /// Bytes sent, retransmissions included (Linux 4.19+).
    pub tcpi_bytes_sent: u64,
    /// Bytes retransmitted (Linux 4.19+).
    pub tcpi_bytes_retrans: u64,
    /// DSACK duplicates (Linux 4.19+).
    pub tcpi_dsack_dups: u32,
    /// Reordering events seen (Linux 4.19+).
    pub tcpi_reord_seen: u32,
    /// Out-of-order packets received (Linux 5.4+).
    pub tcpi_rcv_ooopack: u32,
    /// Peer's advertised receive window, bytes (Linux 5.4+).
    pub tcpi_snd_wnd: u32,
    /// Local advertised receive window, bytes (Linux 6.2+).
    pub tcpi_rcv_wnd: u32,
    /// PLB or timeout triggered rehash attempts (Linux 6.2+).
    pub tcpi_rehash: u32,
    /// RTO timeouts (Linux 6.7+).
    pub tcpi_total_rto: u16,
    /// RTO recoveries (Linux 6.7+).
    pub tcpi_total_rto_recoveries: u16,
    /// ms spent in RTO recovery (Linux 6.7+).
    pub tcpi_total_rto_time: u32,
}

const _: () = {
    assert!(size_of::<tcp_info>() == 248);
    assert!(offset_of!(tcp_info, tcpi_rto) == 8);
    assert!(offset_of!(tcp_info, tcpi_snd_mss) == 16);
    assert!(offset_of!(tcp_info, tcpi_unacked) == 24);
    assert!(offset_of!(tcp_info, tcpi_last_data_sent) == 44);
    assert!(offset_of!(tcp_info, tcpi_last_data_recv) == 52);
    assert!(offset_of!(tcp_info, tcpi_pmtu) == 60);
    assert!(offset_of!(tcp_info, tcpi_rtt) == 68);
    assert!(offset_of!(tcp_info, tcpi_rttvar) == 72);
    assert!(offset_of!(tcp_info, tcpi_snd_cwnd) == 80);
    assert!(offset_of!(tcp_info, tcpi_rcv_space) == 96);
    assert!(offset_of!(tcp_info, tcpi_total_retrans) == 100);
    assert!(offset_of!(tcp_info, tcpi_pacing_rate) == 104);
    assert!(offset_of!(tcp_info, tcpi_bytes_acked) == 120);
    assert!(offset_of!(tcp_info, tcpi_bytes_received) == 128);
    assert!(offset_of!(tcp_info, tcpi_segs_out) == 136);
    assert!(offset_of!(tcp_info, tcpi_notsent_bytes) == 144);
    assert!(offset_of!(tcp_info, tcpi_min_rtt) == 148);
    assert!(offset_of!(tcp_info, tcpi_delivery_rate) == 160);
    assert!(offset_of!(tcp_info, tcpi_busy_time) == 168);
    assert!(offset_of!(tcp_info, tcpi_delivered) == 192);
    assert!(offset_of!(tcp_info, tcpi_bytes_sent) == 200);
    assert!(offset_of!(tcp_info, tcpi_bytes_retrans) == 208);
    assert!(offset_of!(tcp_info, tcpi_dsack_dups) == 216);
    assert!(offset_of!(tcp_info, tcpi_rcv_ooopack) == 224);
    assert!(offset_of!(tcp_info, tcpi_snd_wnd) == 228);
    assert!(offset_of!(tcp_info, tcpi_rcv_wnd) == 232);
    assert!(offset_of!(tcp_info, tcpi_rehash) == 236);
    assert!(offset_of!(tcp_info, tcpi_total_rto) == 240);
    assert!(offset_of!(tcp_info, tcpi_total_rto_recoveries) == 242);
    assert!(offset_of!(tcp_info, tcpi_total_rto_time) == 244);
};
