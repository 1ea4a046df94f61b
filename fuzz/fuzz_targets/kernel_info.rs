//! The kernel's `getsockopt` answers of every size (older kernels give shorter structs,
//! newer ones longer): `mptcp_info`, `tcp_info`, the `MPTCP_FULL_INFO` header and arrays
//! with the kernel's element sizes, the `MPTCP_SUBFLOW_ADDRS`/`MPTCP_TCPINFO` answers, and
//! the connection-kind decision from `TCP_IS_MPTCP`/`MPTCP_INFO`. The first input byte
//! picks the decoder, two more bytes give lengths where the input is split in parts.
//! Property: nothing panics; every accessor answers.
#![no_main]

use std::io;

use libfuzzer_sys::fuzz_target;
use mptcp_socket::{decide_kind, subflow_decode, MptcpInfo, TcpInfo};

fn mptcp_info(bytes: &[u8]) {
    let Some(i) = MptcpInfo::from_bytes(bytes) else {
        return;
    };
    let _ = (
        i.len(),
        i.is_empty(),
        i.subflows(),
        i.subflows_total(),
        i.fell_back(),
    );
    let _ = (
        i.add_addr_signal(),
        i.add_addr_accepted(),
        i.subflows_max(),
        i.flags(),
    );
    let _ = (
        i.add_addr_signal_max(),
        i.add_addr_accepted_max(),
        i.token(),
    );
    let _ = (
        i.remote_key_received(),
        i.write_seq(),
        i.snd_una(),
        i.rcv_nxt(),
    );
    let _ = (
        i.local_addr_used(),
        i.local_addr_max(),
        i.csum_enabled(),
        i.retransmits(),
    );
    let _ = (
        i.bytes_retrans(),
        i.bytes_sent(),
        i.bytes_received(),
        i.bytes_acked(),
    );
    let _ = (i.last_data_sent(), i.last_data_recv(), i.last_ack_recv());
}

fn tcp_info(bytes: &[u8]) {
    let Some(t) = TcpInfo::from_bytes(bytes) else {
        return;
    };
    let _ = (
        t.len(),
        t.is_empty(),
        t.state(),
        t.rtt(),
        t.rtt_var(),
        t.min_rtt(),
        t.rto(),
    );
    let _ = (
        t.snd_cwnd(),
        t.snd_mss(),
        t.pmtu(),
        t.total_retrans(),
        t.unacked(),
    );
    let _ = (
        t.bytes_sent(),
        t.bytes_acked(),
        t.bytes_received(),
        t.bytes_retrans(),
    );
    let _ = (t.delivery_rate(), t.pacing_rate(), t.notsent_bytes());
    let _ = (t.last_data_sent(), t.last_data_recv());
}

/// `data` cut at the lengths in its first two bytes (scaled to the input).
fn three_parts(data: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (lens, rest) = data.split_first_chunk::<2>()?;
    let first = usize::from(lens[0]) * rest.len() / 256;
    let second = first + (usize::from(lens[1]) * (rest.len() - first)) / 256;
    Some((&rest[..first], &rest[first..second], &rest[second..]))
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 5 {
        0 => mptcp_info(rest),
        1 => tcp_info(rest),
        2 => {
            if let Some((full, subflows, tcp)) = three_parts(rest) {
                for sf in subflow_decode::full_info(full, subflows, tcp) {
                    let _ = format!("{sf:?}");
                }
            }
        }
        3 => {
            if let Some((capacity, parts)) = rest.split_first() {
                if let Some((addrs, tcp, _)) = three_parts(parts) {
                    let _ = subflow_decode::split(addrs, tcp, usize::from(*capacity));
                }
            }
        }
        _ => {
            let Some((head, info)) = rest.split_first_chunk::<5>() else {
                return;
            };
            let is_mptcp = match head[0] % 3 {
                0 => Ok(i32::from(head[1])),
                1 => Err(io::Error::from_raw_os_error(libc_errno(head[1]))),
                _ => Err(io::Error::from_raw_os_error(92)), // ENOPROTOOPT
            };
            let answer = match head[2] % 3 {
                0 => None,
                1 => Some(MptcpInfo::from_bytes(info).ok_or_else(|| io::Error::other("short"))),
                _ => Some(Err(io::Error::from_raw_os_error(libc_errno(head[3])))),
            };
            let has_sockopts = head[4] % 3;
            let _ = decide_kind(is_mptcp, answer, || match has_sockopts {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(io::Error::from_raw_os_error(97)), // EAFNOSUPPORT
            });
        }
    }
});

/// An errno from a byte: the ones the decision knows (EOPNOTSUPP, ENOPROTOOPT, EINVAL)
/// and others.
fn libc_errno(b: u8) -> i32 {
    [95, 92, 22, 1, 9, 88][usize::from(b) % 6]
}
