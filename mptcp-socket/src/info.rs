//! `struct mptcp_info` and `struct tcp_info` as typed copies whose fields newer than the
//! running kernel are `None`, decided by the length of its answer.

use std::io;
use std::mem::{offset_of, size_of};
use std::os::fd::BorrowedFd;
use std::time::Duration;

use mptcp_sys::{
    mptcp_info, tcp_info, MPTCP_INFO, MPTCP_INFO_FLAG_FALLBACK,
    MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED, MPTCP_INFO_SIZE_V1, MPTCP_INFO_SIZE_V2,
    MPTCP_INFO_SIZE_V3, MPTCP_INFO_SIZE_V4, SOL_MPTCP,
};

use crate::sys::{getsockopt_bytes, read_prefix};

// The crate-internal paths these items had when this file also held them, so code written
// against `crate::info::…` keeps building.
#[allow(unused_imports)]
pub(crate) use crate::kind::ConnectionKind;
#[allow(unused_imports)]
pub(crate) use crate::mptcp_ext::MptcpExt;
#[allow(unused_imports)]
pub(crate) use crate::subflows::SubflowInfo;

/// A typed copy of the kernel's `struct mptcp_info` (`getsockopt(SOL_MPTCP, MPTCP_INFO)`).
///
/// Fields that the running kernel does not have are `None`. That is decided from the
/// length of the kernel's answer (48 bytes on Linux 5.16–6.4, 80 on 6.5–6.7, 88 on
/// 6.8–6.9, 96 since 6.10), never from zero values.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MptcpInfo {
    raw: mptcp_info,
    len: usize,
}

/// Reads `$field` if the kernel's answer is at least `$since` bytes long: the size of the
/// first `struct mptcp_info` that had the field. (Not the field's end offset: Linux 6.5's
/// `mptcpi_retransmits` sits where 5.16's struct had padding, inside its 48 bytes.)
macro_rules! present {
    ($self: ident, $field: ident, $since: expr) => {
        if $self.len >= $since {
            Some($self.raw.$field)
        } else {
            None
        }
    };
}

impl MptcpInfo {
    /// Parses a `MPTCP_INFO` answer: the bytes the kernel wrote (`optlen` of them).
    ///
    /// Returns `None` when `bytes` is shorter than the 48 bytes every kernel since 5.16
    /// writes. Bytes past the size this crate knows (a newer kernel) are ignored.
    pub fn from_bytes(bytes: &[u8]) -> Option<MptcpInfo> {
        if bytes.len() < MPTCP_INFO_SIZE_V1 {
            return None;
        }
        Some(MptcpInfo {
            raw: read_prefix(bytes),
            len: bytes.len().min(size_of::<mptcp_info>()),
        })
    }

    /// The raw struct; fields past [`MptcpInfo::len`] are zero, not kernel data.
    pub fn raw(&self) -> &mptcp_info {
        &self.raw
    }

    /// How many bytes of `struct mptcp_info` the kernel filled.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: an answer has at least 48 bytes. (Here for clippy's `len` rule.)
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Extra subflows, not counting the initial one (`mptcpi_subflows`).
    pub fn subflows(&self) -> u8 {
        self.raw.mptcpi_subflows
    }

    /// All subflows, the initial one included (`mptcpi_subflows_total`, Linux 6.8+).
    pub fn subflows_total(&self) -> Option<u8> {
        present!(self, mptcpi_subflows_total, MPTCP_INFO_SIZE_V3)
    }

    /// ADD_ADDRs sent (`mptcpi_add_addr_signal`).
    pub fn add_addr_signal(&self) -> u8 {
        self.raw.mptcpi_add_addr_signal
    }

    /// ADD_ADDRs accepted (`mptcpi_add_addr_accepted`).
    pub fn add_addr_accepted(&self) -> u8 {
        self.raw.mptcpi_add_addr_accepted
    }

    /// Limit on extra subflows (`mptcpi_subflows_max`).
    pub fn subflows_max(&self) -> u8 {
        self.raw.mptcpi_subflows_max
    }

    /// Limit on ADD_ADDRs sent (`mptcpi_add_addr_signal_max`).
    pub fn add_addr_signal_max(&self) -> u8 {
        self.raw.mptcpi_add_addr_signal_max
    }

    /// Limit on ADD_ADDRs accepted (`mptcpi_add_addr_accepted_max`).
    pub fn add_addr_accepted_max(&self) -> u8 {
        self.raw.mptcpi_add_addr_accepted_max
    }

    /// `MPTCP_INFO_FLAG_*` bits (`mptcpi_flags`).
    pub fn flags(&self) -> u32 {
        self.raw.mptcpi_flags
    }

    /// `MPTCP_INFO_FLAG_FALLBACK`: the connection fell back to TCP.
    pub fn fell_back(&self) -> bool {
        self.raw.mptcpi_flags & MPTCP_INFO_FLAG_FALLBACK != 0
    }

    /// `MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED`: the MPTCP handshake completed.
    pub fn remote_key_received(&self) -> bool {
        self.raw.mptcpi_flags & MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED != 0
    }

    /// The local connection token (`mptcpi_token`), as `ip mptcp monitor` prints it.
    pub fn token(&self) -> u32 {
        self.raw.mptcpi_token
    }

    /// Next data sequence number to write (`mptcpi_write_seq`).
    pub fn write_seq(&self) -> u64 {
        self.raw.mptcpi_write_seq
    }

    /// Oldest unacknowledged data sequence number (`mptcpi_snd_una`).
    pub fn snd_una(&self) -> u64 {
        self.raw.mptcpi_snd_una
    }

    /// Next data sequence number expected (`mptcpi_rcv_nxt`).
    pub fn rcv_nxt(&self) -> u64 {
        self.raw.mptcpi_rcv_nxt
    }

    /// Local addresses in use (`mptcpi_local_addr_used`).
    pub fn local_addr_used(&self) -> u8 {
        self.raw.mptcpi_local_addr_used
    }

    /// Limit on local addresses (`mptcpi_local_addr_max`).
    pub fn local_addr_max(&self) -> u8 {
        self.raw.mptcpi_local_addr_max
    }

    /// DSS checksums in use (`mptcpi_csum_enabled`).
    pub fn csum_enabled(&self) -> bool {
        self.raw.mptcpi_csum_enabled != 0
    }

    /// MPTCP-level retransmissions (`mptcpi_retransmits`, Linux 6.5+).
    pub fn retransmits(&self) -> Option<u32> {
        present!(self, mptcpi_retransmits, MPTCP_INFO_SIZE_V2)
    }

    /// Bytes retransmitted at the MPTCP level (`mptcpi_bytes_retrans`, Linux 6.5+).
    pub fn bytes_retrans(&self) -> Option<u64> {
        present!(self, mptcpi_bytes_retrans, MPTCP_INFO_SIZE_V2)
    }

    /// Bytes sent over all subflows, retransmissions included (`mptcpi_bytes_sent`,
    /// Linux 6.5+).
    pub fn bytes_sent(&self) -> Option<u64> {
        present!(self, mptcpi_bytes_sent, MPTCP_INFO_SIZE_V2)
    }

    /// Bytes received at the MPTCP level (`mptcpi_bytes_received`, Linux 6.5+).
    pub fn bytes_received(&self) -> Option<u64> {
        present!(self, mptcpi_bytes_received, MPTCP_INFO_SIZE_V2)
    }

    /// Bytes the peer acknowledged at the MPTCP level (`mptcpi_bytes_acked`, Linux 6.5+).
    pub fn bytes_acked(&self) -> Option<u64> {
        present!(self, mptcpi_bytes_acked, MPTCP_INFO_SIZE_V2)
    }

    /// Time since data was last sent (`mptcpi_last_data_sent`, Linux 6.8+).
    pub fn last_data_sent(&self) -> Option<Duration> {
        present!(self, mptcpi_last_data_sent, MPTCP_INFO_SIZE_V3)
            .map(|ms| Duration::from_millis(ms.into()))
    }

    /// Time since data was last received (`mptcpi_last_data_recv`, Linux 6.10+).
    pub fn last_data_recv(&self) -> Option<Duration> {
        present!(self, mptcpi_last_data_recv, MPTCP_INFO_SIZE_V4)
            .map(|ms| Duration::from_millis(ms.into()))
    }

    /// Time since an ACK was last received (`mptcpi_last_ack_recv`, Linux 6.10+).
    pub fn last_ack_recv(&self) -> Option<Duration> {
        present!(self, mptcpi_last_ack_recv, MPTCP_INFO_SIZE_V4)
            .map(|ms| Duration::from_millis(ms.into()))
    }
}

/// A typed copy of one subflow's `struct tcp_info`.
///
/// Fields that the running kernel does not have are `None`, decided from the element size
/// the kernel reports.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct TcpInfo {
    raw: tcp_info,
    len: usize,
}

macro_rules! tcp_present {
    ($self: ident, $field: ident) => {
        if $self.len >= offset_of!(tcp_info, $field) + size_of_val(&$self.raw.$field) {
            Some($self.raw.$field)
        } else {
            None
        }
    };
}

impl TcpInfo {
    /// Parses one `struct tcp_info` element of `bytes.len()` valid bytes. `None` when it is
    /// shorter than the 104 bytes (up to `tcpi_total_retrans`) every MPTCP kernel writes.
    pub fn from_bytes(bytes: &[u8]) -> Option<TcpInfo> {
        if bytes.len() < offset_of!(tcp_info, tcpi_pacing_rate) {
            return None;
        }
        Some(TcpInfo {
            raw: read_prefix(bytes),
            len: bytes.len().min(size_of::<tcp_info>()),
        })
    }

    /// The raw struct; fields past [`TcpInfo::len`] are zero, not kernel data.
    pub fn raw(&self) -> &tcp_info {
        &self.raw
    }

    /// How many bytes of `struct tcp_info` the kernel filled.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a parsed element has at least 104 bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// TCP state (`tcpi_state`: 1 = `TCP_ESTABLISHED`, …).
    pub fn state(&self) -> u8 {
        self.raw.tcpi_state
    }

    /// Smoothed round-trip time (`tcpi_rtt`).
    pub fn rtt(&self) -> Duration {
        Duration::from_micros(self.raw.tcpi_rtt.into())
    }

    /// Round-trip time variance (`tcpi_rttvar`).
    pub fn rtt_var(&self) -> Duration {
        Duration::from_micros(self.raw.tcpi_rttvar.into())
    }

    /// Minimum round-trip time seen (`tcpi_min_rtt`).
    pub fn min_rtt(&self) -> Option<Duration> {
        tcp_present!(self, tcpi_min_rtt).map(|us| Duration::from_micros(us.into()))
    }

    /// Retransmission timeout (`tcpi_rto`).
    pub fn rto(&self) -> Duration {
        Duration::from_micros(self.raw.tcpi_rto.into())
    }

    /// Congestion window in segments (`tcpi_snd_cwnd`).
    pub fn snd_cwnd(&self) -> u32 {
        self.raw.tcpi_snd_cwnd
    }

    /// Send MSS (`tcpi_snd_mss`).
    pub fn snd_mss(&self) -> u32 {
        self.raw.tcpi_snd_mss
    }

    /// Path MTU (`tcpi_pmtu`).
    pub fn pmtu(&self) -> u32 {
        self.raw.tcpi_pmtu
    }

    /// Segments retransmitted over the subflow's life (`tcpi_total_retrans`).
    pub fn total_retrans(&self) -> u32 {
        self.raw.tcpi_total_retrans
    }

    /// Unacknowledged segments (`tcpi_unacked`).
    pub fn unacked(&self) -> u32 {
        self.raw.tcpi_unacked
    }

    /// Bytes sent on this subflow, retransmissions included (`tcpi_bytes_sent`).
    pub fn bytes_sent(&self) -> Option<u64> {
        tcp_present!(self, tcpi_bytes_sent)
    }

    /// Bytes the peer acknowledged on this subflow (`tcpi_bytes_acked`).
    pub fn bytes_acked(&self) -> Option<u64> {
        tcp_present!(self, tcpi_bytes_acked)
    }

    /// Bytes received on this subflow (`tcpi_bytes_received`).
    pub fn bytes_received(&self) -> Option<u64> {
        tcp_present!(self, tcpi_bytes_received)
    }

    /// Bytes retransmitted on this subflow (`tcpi_bytes_retrans`).
    pub fn bytes_retrans(&self) -> Option<u64> {
        tcp_present!(self, tcpi_bytes_retrans)
    }

    /// Delivery rate estimate, bytes per second (`tcpi_delivery_rate`).
    pub fn delivery_rate(&self) -> Option<u64> {
        tcp_present!(self, tcpi_delivery_rate)
    }

    /// Pacing rate, bytes per second (`tcpi_pacing_rate`).
    pub fn pacing_rate(&self) -> Option<u64> {
        tcp_present!(self, tcpi_pacing_rate)
    }

    /// Bytes written but not yet sent (`tcpi_notsent_bytes`).
    pub fn notsent_bytes(&self) -> Option<u32> {
        tcp_present!(self, tcpi_notsent_bytes)
    }

    /// Time since data was last sent on this subflow (`tcpi_last_data_sent`).
    pub fn last_data_sent(&self) -> Duration {
        Duration::from_millis(self.raw.tcpi_last_data_sent.into())
    }

    /// Time since data was last received on this subflow (`tcpi_last_data_recv`).
    pub fn last_data_recv(&self) -> Duration {
        Duration::from_millis(self.raw.tcpi_last_data_recv.into())
    }
}

pub(crate) fn mptcp_info_of(fd: BorrowedFd<'_>) -> io::Result<MptcpInfo> {
    let mut buf = [0u8; size_of::<mptcp_info>()];
    let len = getsockopt_bytes(fd, SOL_MPTCP, MPTCP_INFO, &mut buf)?;
    MptcpInfo::from_bytes(&buf[..len]).ok_or_else(|| short_answer("MPTCP_INFO", len))
}

pub(crate) fn short_answer(what: &str, len: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("getsockopt({what}) answered {len} bytes, fewer than any kernel writes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::IntoBytes;

    fn sample() -> mptcp_info {
        mptcp_info {
            mptcpi_subflows: 1,
            mptcpi_subflows_max: 2,
            mptcpi_flags: MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED,
            mptcpi_token: 0xdead_beef,
            mptcpi_write_seq: 1000,
            mptcpi_csum_enabled: 1,
            mptcpi_retransmits: 3,
            mptcpi_bytes_sent: 4096,
            mptcpi_bytes_received: 8192,
            mptcpi_bytes_acked: 4000,
            mptcpi_subflows_total: 2,
            mptcpi_last_data_sent: 7,
            mptcpi_last_data_recv: 8,
            mptcpi_last_ack_recv: 9,
            ..Default::default()
        }
    }

    #[test]
    fn truncated_answers_give_none_for_newer_fields() {
        let raw = sample();
        let bytes = raw.as_bytes();
        for (len, v2, v3, v4) in [
            (48, false, false, false),
            (80, true, false, false),
            (88, true, true, false),
            (96, true, true, true),
        ] {
            let info = MptcpInfo::from_bytes(&bytes[..len]).unwrap();
            assert_eq!(info.len(), len);
            assert_eq!(info.subflows(), 1);
            assert_eq!(info.token(), 0xdead_beef);
            assert_eq!(info.write_seq(), 1000);
            assert!(info.csum_enabled());
            assert!(info.remote_key_received());
            assert!(!info.fell_back());
            assert_eq!(info.retransmits(), v2.then_some(3), "len {len}");
            assert_eq!(info.bytes_sent(), v2.then_some(4096), "len {len}");
            assert_eq!(info.bytes_received(), v2.then_some(8192), "len {len}");
            assert_eq!(info.bytes_acked(), v2.then_some(4000), "len {len}");
            assert_eq!(info.subflows_total(), v3.then_some(2), "len {len}");
            assert_eq!(
                info.last_data_sent(),
                v3.then_some(Duration::from_millis(7))
            );
            assert_eq!(
                info.last_data_recv(),
                v4.then_some(Duration::from_millis(8))
            );
            assert_eq!(info.last_ack_recv(), v4.then_some(Duration::from_millis(9)));
        }
    }

    #[test]
    fn zero_values_in_a_full_answer_are_present() {
        let raw = mptcp_info::default();
        let info = MptcpInfo::from_bytes(raw.as_bytes()).unwrap();
        assert_eq!(info.bytes_sent(), Some(0));
        assert_eq!(info.subflows_total(), Some(0));
    }

    #[test]
    fn short_or_long_answers_never_panic() {
        let raw = sample();
        for len in 0..48 {
            assert!(MptcpInfo::from_bytes(&raw.as_bytes()[..len]).is_none());
        }
        // A newer kernel may answer with more bytes than this crate knows.
        let mut longer = raw.as_bytes().to_vec();
        longer.extend_from_slice(&[0xff; 40]);
        let info = MptcpInfo::from_bytes(&longer).unwrap();
        assert_eq!(info.len(), 96);
        assert_eq!(info.last_ack_recv(), Some(Duration::from_millis(9)));
        for len in 0..104 {
            assert!(TcpInfo::from_bytes(&vec![0; len]).is_none());
        }
        let tcp = TcpInfo::from_bytes(&[0; 120]).unwrap();
        assert_eq!(tcp.bytes_acked(), None);
        assert_eq!(tcp.pacing_rate(), Some(0));
    }
}
