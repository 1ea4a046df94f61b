//! The sock_diag wire format for inet sockets (`include/uapi/linux/inet_diag.h`,
//! `linux/sock_diag.h`): building a `SOCK_DIAG_BY_FAMILY` dump request and reading one
//! `struct inet_diag_msg` with its attributes.
//!
//! These are the generic inet_diag numbers, not MPTCP's (those live in `mptcp-sys`); the
//! rust-netlink crate for sock_diag (`netlink-packet-sock-diag` 0.4) has neither the
//! `INET_DIAG_REQ_PROTOCOL` request attribute that protocols above 255 (MPTCP is 262) need,
//! nor `INET_DIAG_ULP_INFO`, so the two structs are read here and the attributes with
//! `netlink-packet-core`'s iterator.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use std::io;

use netlink_packet_core::{NetlinkBuffer, NlasIterator};

/// `SOCK_DIAG_BY_FAMILY` (`linux/sock_diag.h`).
pub const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `INET_DIAG_INFO`: `tcp_info` for TCP, `mptcp_info` for MPTCP.
pub const INET_DIAG_INFO: u16 = 2;
/// `INET_DIAG_ULP_INFO`: nested, the upper-layer protocol's name and data.
pub const INET_DIAG_ULP_INFO: u16 = 19;
/// `INET_DIAG_REQ_PROTOCOL`: u32 request attribute, for protocols that do not fit in
/// `sdiag_protocol` (u8).
pub const INET_DIAG_REQ_PROTOCOL: u16 = 3;
/// `INET_ULP_INFO_NAME`: the ULP's name, NUL-terminated (`"mptcp"` on subflows).
pub const INET_ULP_INFO_NAME: u16 = 1;
/// `INET_ULP_INFO_MPTCP`: nested `MPTCP_SUBFLOW_ATTR_*` (only for `CAP_NET_ADMIN`).
pub const INET_ULP_INFO_MPTCP: u16 = 3;

const NLMSG_HDRLEN: usize = 16;
const REQ_V2_LEN: usize = 56;
const DIAG_MSG_LEN: usize = 72;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
/// `NLMSG_ERROR` and `NLMSG_DONE` (`linux/netlink.h`).
pub const NLMSG_ERROR: u16 = 2;
/// End of a multi-part dump.
pub const NLMSG_DONE: u16 = 3;

/// TCP states asked for: every state of a connection (not LISTEN, not TIME_WAIT, whose
/// sockets are no longer a program's, nor NEW_SYN_RECV request sockets).
/// `include/net/tcp_states.h`: ESTABLISHED 1 … CLOSING 11, LISTEN 10, TIME_WAIT 6.
pub const CONNECTION_STATES: u32 = (1 << 1) // ESTABLISHED
    | (1 << 2) // SYN_SENT
    | (1 << 3) // SYN_RECV
    | (1 << 4) // FIN_WAIT1
    | (1 << 5) // FIN_WAIT2
    | (1 << 7) // CLOSE
    | (1 << 8) // CLOSE_WAIT
    | (1 << 9) // LAST_ACK
    | (1 << 11); // CLOSING

/// A `SOCK_DIAG_BY_FAMILY` dump request for `family` (`AF_INET`/`AF_INET6`) and
/// `protocol`, asking for `INET_DIAG_INFO` (which also brings the ULP info).
pub fn dump_request(family: u8, protocol: u32, seq: u32) -> Vec<u8> {
    let wide = protocol > u8::MAX as u32;
    let len = NLMSG_HDRLEN + REQ_V2_LEN + if wide { 8 } else { 0 };
    let mut req = Vec::with_capacity(len);
    req.extend_from_slice(&(len as u32).to_ne_bytes());
    req.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&seq.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    // struct inet_diag_req_v2. A protocol above 255 goes in INET_DIAG_REQ_PROTOCOL, which
    // the kernel prefers over sdiag_protocol (inet_diag_get_protocol()). sdiag_protocol is
    // then 0, not the low byte: a kernel without the attribute (before 5.9) reads 0, has no
    // handler for it and answers ENOENT, where 262's low byte (6) would dump TCP sockets.
    req.push(family);
    req.push(if wide { 0 } else { protocol as u8 });
    req.push(1 << (INET_DIAG_INFO - 1));
    req.push(0);
    req.extend_from_slice(&CONNECTION_STATES.to_ne_bytes());
    req.extend_from_slice(&[0u8; 48]);
    if wide {
        req.extend_from_slice(&8u16.to_ne_bytes());
        req.extend_from_slice(&INET_DIAG_REQ_PROTOCOL.to_ne_bytes());
        req.extend_from_slice(&protocol.to_ne_bytes());
    }
    debug_assert_eq!(req.len(), len);
    req
}

/// One `struct inet_diag_msg` and the attributes that matter here, borrowed from the
/// receive buffer.
#[derive(Debug)]
pub struct DiagMessage<'a> {
    pub state: u8,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub interface: u32,
    pub cookie: u64,
    pub uid: u32,
    pub inode: u32,
    /// `INET_DIAG_INFO`'s payload.
    pub info: Option<&'a [u8]>,
    /// `INET_ULP_INFO_NAME`, without its NUL.
    pub ulp_name: Option<&'a [u8]>,
    /// `INET_ULP_INFO_MPTCP`'s nested attributes.
    pub ulp_mptcp: Option<&'a [u8]>,
}

/// Reads one `inet_diag_msg` payload (after the netlink header). `None` when it is too
/// short or of an unknown family.
pub fn parse_diag_message(payload: &[u8]) -> Option<DiagMessage<'_>> {
    if payload.len() < DIAG_MSG_LEN {
        return None;
    }
    let family = payload[0];
    let state = payload[1];
    // struct inet_diag_sockid at offset 4; ports and addresses in network byte order.
    let sport = u16::from_be_bytes([payload[4], payload[5]]);
    let dport = u16::from_be_bytes([payload[6], payload[7]]);
    let src: [u8; 16] = payload[8..24].try_into().ok()?;
    let dst: [u8; 16] = payload[24..40].try_into().ok()?;
    let ip = |raw: [u8; 16]| -> Option<IpAddr> {
        match family as i32 {
            libc::AF_INET => Some(IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))),
            libc::AF_INET6 => Some(canonical(Ipv6Addr::from(raw))),
            _ => None,
        }
    };
    let local = SocketAddr::new(ip(src)?, sport);
    let remote = SocketAddr::new(ip(dst)?, dport);
    let interface = u32_at(payload, 40);
    let cookie = u64::from(u32_at(payload, 44)) | (u64::from(u32_at(payload, 48)) << 32);
    let uid = u32_at(payload, 64);
    let inode = u32_at(payload, 68);
    let mut msg = DiagMessage {
        state,
        local,
        remote,
        interface,
        cookie,
        uid,
        inode,
        info: None,
        ulp_name: None,
        ulp_mptcp: None,
    };
    for (kind, value) in attributes(&payload[DIAG_MSG_LEN..]) {
        match kind {
            INET_DIAG_INFO => msg.info = Some(value),
            INET_DIAG_ULP_INFO => {
                for (kind, value) in attributes(value) {
                    match kind {
                        INET_ULP_INFO_NAME => {
                            let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
                            msg.ulp_name = Some(&value[..end]);
                        }
                        INET_ULP_INFO_MPTCP => msg.ulp_mptcp = Some(value),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some(msg)
}

/// Reads what one `recv(2)` of a dump's answer to request `seq` holds: calls `each` for every
/// socket (`SOCK_DIAG_BY_FAMILY` message) and returns `Ok(true)` when the dump is done
/// (`NLMSG_DONE`), `Ok(false)` when more is to come, or the dump's error (`NLMSG_ERROR`,
/// or a negative errno in `NLMSG_DONE`), or `InvalidData` for a malformed message.
pub fn read_dump_answer(
    buf: &[u8],
    seq: u32,
    mut each: impl FnMut(&DiagMessage<'_>),
) -> io::Result<bool> {
    let mut at = 0;
    while at < buf.len() {
        let msg = NetlinkBuffer::new_checked(&buf[at..])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let msg_len = msg.length() as usize;
        at += (msg_len + 3) & !3;
        if msg.sequence_number() != seq {
            // The answer to an earlier dump that was abandoned by an error.
            continue;
        }
        match msg.message_type() {
            // A dump's error (no handler for the protocol: ENOENT) comes either as
            // NLMSG_ERROR or in NLMSG_DONE's payload (netlink_dump_done()).
            NLMSG_DONE | NLMSG_ERROR => {
                let code = msg
                    .payload()
                    .get(..4)
                    .map(|b| i32::from_ne_bytes(b.try_into().expect("4 bytes")))
                    .unwrap_or(0);
                return match code {
                    0.. => Ok(true),
                    // `i32::MIN` has no negation, and is no errno.
                    i32::MIN => Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "sock_diag answered error code i32::MIN, which is not an errno",
                    )),
                    _ => Err(io::Error::from_raw_os_error(-code)),
                };
            }
            SOCK_DIAG_BY_FAMILY => {
                if let Some(diag) = parse_diag_message(msg.payload()) {
                    each(&diag);
                }
            }
            _ => {}
        }
    }
    Ok(false)
}

/// Each attribute of `bytes` as (type, payload), the payload borrowed from `bytes`
/// (`NlaBuffer::value` borrows the wrapper instead). Stops at the first malformed one.
fn attributes(bytes: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    NlasIterator::new(bytes).map_while(Result::ok).map(|nla| {
        let (kind, len) = (nla.kind(), nla.value_length());
        let raw: &[u8] = nla.into_inner();
        (kind, raw.get(4..4 + len).unwrap_or_default())
    })
}

/// Reads a native-endian u32 at `at` (bounds checked by the caller's length check).
pub fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// IPv4-mapped IPv6 addresses (a dual-stack socket talking IPv4) shown as IPv4, as ss does.
fn canonical(addr: Ipv6Addr) -> IpAddr {
    match addr.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(addr),
    }
}

/// The `MPTCP_SUBFLOW_ATTR_*` of one subflow (`net/mptcp/diag.c`, `subflow_get_info()`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SubflowAttrs {
    pub token_local: Option<u32>,
    pub token_remote: Option<u32>,
    pub flags: u32,
    pub id_local: Option<u8>,
    pub id_remote: Option<u8>,
}

/// Reads the nested `INET_ULP_INFO_MPTCP` attributes.
pub fn parse_subflow_attrs(bytes: &[u8]) -> SubflowAttrs {
    use mptcp_sys::{
        MPTCP_SUBFLOW_ATTR_FLAGS, MPTCP_SUBFLOW_ATTR_ID_LOC, MPTCP_SUBFLOW_ATTR_ID_REM,
        MPTCP_SUBFLOW_ATTR_TOKEN_LOC, MPTCP_SUBFLOW_ATTR_TOKEN_REM,
    };
    let u32_of = |v: &[u8]| v.get(..4).map(|b| u32_at(b, 0));
    let mut attrs = SubflowAttrs::default();
    for (kind, value) in attributes(bytes) {
        match kind {
            MPTCP_SUBFLOW_ATTR_TOKEN_LOC => attrs.token_local = u32_of(value),
            MPTCP_SUBFLOW_ATTR_TOKEN_REM => attrs.token_remote = u32_of(value),
            MPTCP_SUBFLOW_ATTR_FLAGS => attrs.flags = u32_of(value).unwrap_or(0),
            MPTCP_SUBFLOW_ATTR_ID_LOC => attrs.id_local = value.first().copied(),
            MPTCP_SUBFLOW_ATTR_ID_REM => attrs.id_remote = value.first().copied(),
            _ => {}
        }
    }
    attrs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(value);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }

    /// An AF_INET6 `inet_diag_msg` with an IPv4-mapped local address, `INET_DIAG_INFO` and
    /// `INET_DIAG_ULP_INFO` { NAME "mptcp", MPTCP { TOKEN_LOC, FLAGS, ID_LOC } }.
    fn message() -> Vec<u8> {
        let mut msg = vec![0u8; DIAG_MSG_LEN];
        msg[0] = libc::AF_INET6 as u8;
        msg[1] = 1; // ESTABLISHED
        msg[4..6].copy_from_slice(&5201u16.to_be_bytes());
        msg[6..8].copy_from_slice(&40000u16.to_be_bytes());
        let mapped: Ipv6Addr = "::ffff:10.31.1.1".parse().unwrap();
        msg[8..24].copy_from_slice(&mapped.octets());
        let remote: Ipv6Addr = "2001:db8::2".parse().unwrap();
        msg[24..40].copy_from_slice(&remote.octets());
        msg[40..44].copy_from_slice(&7u32.to_ne_bytes());
        msg[44..48].copy_from_slice(&0x1234u32.to_ne_bytes());
        msg[48..52].copy_from_slice(&1u32.to_ne_bytes());
        msg[64..68].copy_from_slice(&1000u32.to_ne_bytes());
        msg[68..72].copy_from_slice(&4242u32.to_ne_bytes());
        msg.extend(nla(INET_DIAG_INFO, &[9; 10]));
        let mut mptcp = nla(
            mptcp_sys::MPTCP_SUBFLOW_ATTR_TOKEN_LOC,
            &0xabcdu32.to_ne_bytes(),
        );
        mptcp.extend(nla(
            mptcp_sys::MPTCP_SUBFLOW_ATTR_FLAGS,
            &mptcp_sys::MPTCP_SUBFLOW_FLAG_BKUP_LOC.to_ne_bytes(),
        ));
        mptcp.extend(nla(mptcp_sys::MPTCP_SUBFLOW_ATTR_ID_LOC, &[2]));
        let mut ulp = nla(INET_ULP_INFO_NAME, b"mptcp\0");
        ulp.extend(nla(INET_ULP_INFO_MPTCP, &mptcp));
        msg.extend(nla(INET_DIAG_ULP_INFO, &ulp));
        msg
    }

    #[test]
    fn parses_a_subflow_message() {
        let bytes = message();
        let msg = parse_diag_message(&bytes).unwrap();
        assert_eq!(msg.state, 1);
        assert_eq!(msg.local, "10.31.1.1:5201".parse().unwrap());
        assert_eq!(msg.remote, "[2001:db8::2]:40000".parse().unwrap());
        assert_eq!(msg.interface, 7);
        assert_eq!(msg.cookie, 0x1_0000_1234);
        assert_eq!((msg.uid, msg.inode), (1000, 4242));
        assert_eq!(msg.info, Some(&[9u8; 10][..]));
        assert_eq!(msg.ulp_name, Some(&b"mptcp"[..]));
        let attrs = parse_subflow_attrs(msg.ulp_mptcp.unwrap());
        assert_eq!(attrs.token_local, Some(0xabcd));
        assert_eq!(attrs.token_remote, None);
        assert_eq!(attrs.flags, mptcp_sys::MPTCP_SUBFLOW_FLAG_BKUP_LOC);
        assert_eq!(attrs.id_local, Some(2));
    }

    #[test]
    fn short_or_malformed_input_is_not_a_panic() {
        let bytes = message();
        for len in 0..bytes.len() {
            let _ = parse_diag_message(&bytes[..len]);
        }
        assert!(parse_diag_message(&bytes[..DIAG_MSG_LEN - 1]).is_none());
        let mut unknown = bytes.clone();
        unknown[0] = 99;
        assert!(parse_diag_message(&unknown).is_none());
        // An attribute claiming more bytes than there are ends the attributes, quietly.
        let mut bad = bytes[..DIAG_MSG_LEN].to_vec();
        bad.extend_from_slice(&200u16.to_ne_bytes());
        bad.extend_from_slice(&INET_DIAG_INFO.to_ne_bytes());
        assert!(parse_diag_message(&bad).unwrap().info.is_none());
    }

    #[test]
    fn dump_answers_end_with_done_or_an_errno() {
        let done = |code: i32, seq: u32| {
            let mut buf = Vec::new();
            buf.extend_from_slice(&20u32.to_ne_bytes());
            buf.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
            buf.extend_from_slice(&2u16.to_ne_bytes());
            buf.extend_from_slice(&seq.to_ne_bytes());
            buf.extend_from_slice(&0u32.to_ne_bytes());
            buf.extend_from_slice(&code.to_ne_bytes());
            buf
        };
        let read = |buf: &[u8]| read_dump_answer(buf, 4, |_| panic!("no socket in the answer"));
        assert!(read(&done(0, 4)).unwrap());
        // Another request's answer is skipped; more is to come.
        assert!(!read(&done(0, 3)).unwrap());
        let err = read(&done(-libc::ENOENT, 4)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
        // Found by the `sock_diag` fuzz target: the code i32::MIN panicked (negation
        // overflow) instead of failing.
        let err = read(&done(i32::MIN, 4)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        // A length that runs past the buffer is malformed, not a panic.
        let mut long = done(0, 4);
        long[0] = 200;
        assert_eq!(read(&long).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn request_layout() {
        let req = dump_request(libc::AF_INET as u8, 262, 7);
        assert_eq!(req.len(), NLMSG_HDRLEN + REQ_V2_LEN + 8);
        assert_eq!(u32_at(&req, 0) as usize, req.len());
        assert_eq!(req[16], libc::AF_INET as u8);
        assert_eq!(req[17], 0, "wide protocols go in the attribute only");
        assert_eq!(req[18], 1 << (INET_DIAG_INFO - 1));
        assert_eq!(u32_at(&req, 20), CONNECTION_STATES);
        assert_eq!(u32_at(&req, NLMSG_HDRLEN + REQ_V2_LEN + 4), 262);
        let tcp = dump_request(libc::AF_INET6 as u8, 6, 8);
        assert_eq!(tcp.len(), NLMSG_HDRLEN + REQ_V2_LEN);
        assert_eq!(tcp[17], 6);
    }
}
