//! The kernel's sock_diag answers as `mptcpize watch` and `mptcp_socket::diag` read them:
//! netlink messages (`SOCK_DIAG_BY_FAMILY`, `NLMSG_DONE`, `NLMSG_ERROR`) with their
//! `inet_diag_msg` and attributes (`INET_DIAG_INFO` holding `mptcp_info` or `tcp_info`,
//! `INET_DIAG_ULP_INFO` with the subflow attributes). Input: the request's sequence number
//! (4 bytes), then one `recv` buffer. Property: nothing panics, whatever the lengths.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mptcp_socket::diag::wire::{parse_subflow_attrs, read_dump_answer};
use mptcp_socket::{MptcpInfo, TcpInfo};

fuzz_target!(|data: &[u8]| {
    let Some((seq, buf)) = data.split_first_chunk::<4>() else {
        return;
    };
    let _ = read_dump_answer(buf, u32::from_ne_bytes(*seq), |msg| {
        if let Some(info) = msg.info {
            let _ = format!("{:?}", MptcpInfo::from_bytes(info));
            let _ = format!("{:?}", TcpInfo::from_bytes(info));
        }
        if let Some(attrs) = msg.ulp_mptcp {
            let _ = parse_subflow_attrs(attrs);
        }
        let _ = format!("{msg:?}");
    });
});
