//! Generic netlink plumbing for the `mptcp_pm` family: messages, attributes, family and
//! multicast-group resolution, and one blocking request/answer exchange.
//!
//! Built on rust-netlink's packet crates (`netlink-packet-core` for the netlink header,
//! ACK/error/done messages and attributes; `netlink-packet-generic` for the genl header and
//! the `nlctrl` family lookup) and `netlink-sys`'s blocking socket: no runtime, no thread.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{
    DecodeError, Emitable, NetlinkDeserializable, NetlinkHeader, NetlinkMessage, NetlinkPayload,
    NetlinkSerializable, Nla, NlasIterator, ParseableParametrized, NLA_F_NESTED, NLA_HEADER_SIZE,
    NLA_TYPE_MASK, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_generic::ctrl::nlas::{GenlCtrlAttrs, McastGrpAttrs};
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};
use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};

use super::error::{Error, Operation, Result};

/// `NLMSGERR_ATTR_MSG` (`linux/netlink.h`): the extended ACK's human-readable message.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// Size of `struct nlmsghdr`.
const NLMSG_HDRLEN: usize = std::mem::size_of::<libc::nlmsghdr>();

/// One attribute of a request, with the kernel's attribute number.
#[derive(Debug, Clone)]
pub(crate) enum Attr {
    U8(u16, u8),
    U16(u16, u16),
    U32(u16, u32),
    I32(u16, i32),
    Bytes(u16, Vec<u8>),
    Nested(u16, Vec<Attr>),
}

impl Nla for Attr {
    fn value_len(&self) -> usize {
        match self {
            Attr::U8(..) => 1,
            Attr::U16(..) => 2,
            Attr::U32(..) | Attr::I32(..) => 4,
            Attr::Bytes(_, bytes) => bytes.len(),
            Attr::Nested(_, attrs) => attrs.as_slice().buffer_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Attr::U8(kind, _)
            | Attr::U16(kind, _)
            | Attr::U32(kind, _)
            | Attr::I32(kind, _)
            | Attr::Bytes(kind, _) => *kind,
            Attr::Nested(kind, _) => *kind | NLA_F_NESTED,
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        // Generic netlink integers are in host byte order.
        match self {
            Attr::U8(_, v) => buffer[0] = *v,
            Attr::U16(_, v) => buffer.copy_from_slice(&v.to_ne_bytes()),
            Attr::U32(_, v) => buffer.copy_from_slice(&v.to_ne_bytes()),
            Attr::I32(_, v) => buffer.copy_from_slice(&v.to_ne_bytes()),
            Attr::Bytes(_, bytes) => buffer.copy_from_slice(bytes),
            Attr::Nested(_, attrs) => attrs.as_slice().emit(buffer),
        }
    }
}

/// A request to the `mptcp_pm` family: a command and its attributes.
#[derive(Debug)]
pub(crate) struct Request {
    pub cmd: u8,
    pub attrs: Vec<Attr>,
}

impl GenlFamily for Request {
    fn family_name() -> &'static str {
        mptcp_sys::MPTCP_PM_NAME
    }
    fn command(&self) -> u8 {
        self.cmd
    }
    fn version(&self) -> u8 {
        mptcp_sys::MPTCP_PM_VER
    }
}

impl Emitable for Request {
    fn buffer_len(&self) -> usize {
        self.attrs.as_slice().buffer_len()
    }
    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.as_slice().emit(buffer)
    }
}

/// An answer or event from the `mptcp_pm` family: the command and its raw attributes,
/// decoded later with [`attrs`].
#[derive(Debug)]
pub(crate) struct Reply {
    pub cmd: u8,
    pub attrs: Vec<u8>,
}

impl ParseableParametrized<[u8], GenlHeader> for Reply {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        Ok(Reply {
            cmd: header.cmd,
            attrs: buf.to_vec(),
        })
    }
}

/// Iterates over the attributes in `buf`: (kind without the nested/byte-order flags, value).
pub(crate) fn attrs(buf: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), DecodeError>> {
    NlasIterator::new(buf).map(|nla| {
        let nla = nla?;
        let kind = nla.kind() & NLA_TYPE_MASK;
        let length = nla.length() as usize;
        // `into_inner` keeps the caller's lifetime, which `value()` would not.
        Ok((kind, &nla.into_inner()[NLA_HEADER_SIZE..length]))
    })
}

/// Typed readers for attribute values, each checking the length.
pub(crate) fn value_u8(v: &[u8]) -> Option<u8> {
    v.first().copied()
}
pub(crate) fn value_u16(v: &[u8]) -> Option<u16> {
    Some(u16::from_ne_bytes(v.get(..2)?.try_into().ok()?))
}
pub(crate) fn value_be16(v: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(v.get(..2)?.try_into().ok()?))
}
pub(crate) fn value_u32(v: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(v.get(..4)?.try_into().ok()?))
}
pub(crate) fn value_i32(v: &[u8]) -> Option<i32> {
    Some(i32::from_ne_bytes(v.get(..4)?.try_into().ok()?))
}
/// `struct in_addr` (network byte order).
pub(crate) fn value_ipv4(v: &[u8]) -> Option<IpAddr> {
    let octets: [u8; 4] = v.get(..4)?.try_into().ok()?;
    Some(IpAddr::V4(Ipv4Addr::from(octets)))
}
/// `struct in6_addr`.
pub(crate) fn value_ipv6(v: &[u8]) -> Option<IpAddr> {
    let octets: [u8; 16] = v.get(..16)?.try_into().ok()?;
    Some(IpAddr::V6(Ipv6Addr::from(octets)))
}

/// The ids the kernel gave the `mptcp_pm` family and its event group in this namespace.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Family {
    pub id: u16,
    pub events_group: Option<u32>,
}

/// A blocking generic netlink socket that talks to the kernel (port 0).
#[derive(Debug)]
pub(crate) struct GenlSocket {
    socket: Socket,
    seq: std::cell::Cell<u32>,
}

impl GenlSocket {
    /// `socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC)`, bound to a kernel-chosen port, with
    /// extended ACKs on so errors carry the kernel's message.
    pub fn open(operation: Operation) -> Result<GenlSocket> {
        let io = |e: std::io::Error| Error::io(operation.clone(), &e);
        let mut socket = Socket::new(NETLINK_GENERIC).map_err(io)?;
        socket.bind_auto().map_err(io)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(io)?;
        // Both are best effort: kernels without them still answer, only less helpfully.
        let _ = socket.set_ext_ack(true);
        let _ = socket.set_cap_ack(true);
        Ok(GenlSocket {
            socket,
            seq: Default::default(),
        })
    }

    /// The socket, for joining multicast groups and receiving events.
    pub fn into_socket(self) -> Socket {
        self.socket
    }

    /// Asks `nlctrl` (`CTRL_CMD_GETFAMILY`) for the ids of `mptcp_pm` and its event group.
    pub fn resolve_family(&self) -> Result<Family> {
        let request = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(
                mptcp_sys::MPTCP_PM_NAME.to_string(),
            )],
        });
        let answers: Vec<GenlMessage<GenlCtrl>> =
            self.exchange(&Operation::Open, request, false)?;
        let mut family = Family {
            id: 0,
            events_group: None,
        };
        for attr in answers.iter().flat_map(|m| m.payload.nlas.iter()) {
            match attr {
                GenlCtrlAttrs::FamilyId(id) => family.id = *id,
                GenlCtrlAttrs::McastGroups(groups) => {
                    for group in groups {
                        let name = group.iter().find_map(|a| match a {
                            McastGrpAttrs::Name(name) => Some(name.as_str()),
                            _ => None,
                        });
                        let id = group.iter().find_map(|a| match a {
                            McastGrpAttrs::Id(id) => Some(*id),
                            _ => None,
                        });
                        if name == Some(mptcp_sys::MPTCP_PM_EV_GRP_NAME) {
                            family.events_group = id;
                        }
                    }
                }
                _ => {}
            }
        }
        if family.id == 0 {
            return Err(Error::decode(
                Operation::Open,
                "nlctrl answered without a family id",
            ));
        }
        Ok(family)
    }

    /// Sends `request` to family `family_id` and collects the answers; a dump reads until
    /// `NLMSG_DONE`, anything else until the ACK. An `NLMSG_ERROR` becomes an [`Error`] with
    /// the errno and the kernel's extended-ACK message.
    pub fn request(
        &self,
        operation: &Operation,
        family_id: u16,
        request: Request,
        dump: bool,
    ) -> Result<Vec<Reply>> {
        let mut message = GenlMessage::from_payload(request);
        message.set_resolved_family_id(family_id);
        let answers: Vec<GenlMessage<Reply>> = self.exchange(operation, message, dump)?;
        Ok(answers.into_iter().map(|answer| answer.payload).collect())
    }

    fn exchange<Q, A>(&self, operation: &Operation, payload: Q, dump: bool) -> Result<Vec<A>>
    where
        Q: NetlinkSerializable + std::fmt::Debug,
        A: NetlinkDeserializable + std::fmt::Debug,
        NetlinkPayload<Q>: From<Q>,
    {
        let io = |e: std::io::Error| Error::io(operation.clone(), &e);

        let seq = self.seq.get().wrapping_add(1);
        self.seq.set(seq);
        let mut header = NetlinkHeader::default();
        // A dump ends with NLMSG_DONE; asking for an ACK as well would only add a message.
        header.flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { NLM_F_ACK };
        header.sequence_number = seq;
        let mut message = NetlinkMessage::new(header, NetlinkPayload::from(payload));
        message.finalize();
        let mut buf = vec![0; message.buffer_len()];
        message.serialize(&mut buf);
        self.socket.send(&buf, 0).map_err(io)?;

        let mut answers = Vec::new();
        loop {
            let (buf, _) = self.socket.recv_from_full().map_err(io)?;
            if read_answers(&buf, seq, operation, &mut answers)? {
                return Ok(answers);
            }
        }
    }
}

/// Reads what one `recv(2)` of the answer to request `seq` holds: appends each answer
/// message to `answers` and returns `Ok(true)` when the answer is complete (the ACK, or
/// `NLMSG_DONE` of a dump), `Ok(false)` when more is to come, or the kernel's error (with
/// its extended-ACK message), or a decoding error for a malformed message.
pub(crate) fn read_answers<A>(
    buf: &[u8],
    seq: u32,
    operation: &Operation,
    answers: &mut Vec<A>,
) -> Result<bool>
where
    A: NetlinkDeserializable + std::fmt::Debug,
{
    let mut offset = 0;
    while offset < buf.len() {
        let message = NetlinkMessage::<A>::deserialize(&buf[offset..])
            .map_err(|e| Error::decode(operation.clone(), e.to_string()))?;
        let length = message.header.length as usize;
        if length == 0 {
            return Err(Error::decode(
                operation.clone(),
                "netlink message of length 0",
            ));
        }
        offset += (length + 3) & !3;
        if message.header.sequence_number != seq {
            // An answer to an earlier request that was abandoned: not ours.
            continue;
        }
        match message.payload {
            NetlinkPayload::InnerMessage(answer) => answers.push(answer),
            NetlinkPayload::Error(error) => match error.code {
                None => return Ok(true),
                Some(code) => {
                    let text = extended_ack_message(message.header.flags, &error.header);
                    return Err(kernel_error(operation, code.get(), text));
                }
            },
            NetlinkPayload::Done(done) => {
                if done.code != 0 {
                    return Err(kernel_error(operation, done.code, None));
                }
                return Ok(true);
            }
            NetlinkPayload::Overrun(_) => {
                return Err(Error::os(operation.clone(), libc::ENOBUFS, None))
            }
            _ => {}
        }
    }
    Ok(false)
}

/// The error for an `NLMSG_ERROR` or `NLMSG_DONE` code: a negative errno from the kernel.
/// Anything else is a malformed answer, not an errno (`i32::MIN` has no negation: found by
/// the `path_manager` fuzz target).
fn kernel_error(operation: &Operation, code: i32, kernel_message: Option<String>) -> Error {
    match code.checked_neg() {
        Some(errno) if errno > 0 => Error::os(operation.clone(), errno, kernel_message),
        _ => Error::decode(
            operation.clone(),
            format!("netlink error code {code} is not a negative errno"),
        ),
    }
}

/// The kernel's extended-ACK message (`NLMSGERR_ATTR_MSG`) in the payload of an
/// `NLMSG_ERROR` after its errno: the echoed request (only its header when capped), then the
/// attributes.
pub(crate) fn extended_ack_message(flags: u16, echoed: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 || echoed.len() < NLMSG_HDRLEN {
        return None;
    }
    let echoed_len = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        u32::from_ne_bytes(echoed[..4].try_into().ok()?) as usize
    };
    let tlvs = echoed.get((echoed_len + 3) & !3..)?;
    attrs(tlvs)
        .filter_map(|a| a.ok())
        .find_map(|(kind, value)| {
            (kind == NLMSGERR_ATTR_MSG).then(|| {
                let text = value.split(|b| *b == 0).next().unwrap_or_default();
                String::from_utf8_lossy(text).into_owned()
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One netlink message: header (type, flags, sequence number 7) and payload.
    fn message(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        buf.extend_from_slice(&(16 + payload.len() as u32).to_ne_bytes());
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&0u16.to_ne_bytes());
        buf.extend_from_slice(&7u32.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(payload);
        buf
    }

    #[test]
    fn error_codes_that_are_no_errno_are_decoding_errors() {
        let read = |buf: &[u8]| {
            let mut answers: Vec<GenlMessage<Reply>> = Vec::new();
            read_answers(buf, 7, &Operation::GetLimits, &mut answers)
        };
        // Found by the `path_manager` fuzz target: NLMSG_DONE with code i32::MIN panicked
        // (negation overflow) instead of failing.
        for kind in [libc::NLMSG_DONE, libc::NLMSG_ERROR] {
            let mut payload = i32::MIN.to_ne_bytes().to_vec();
            payload.extend_from_slice(&[0; 16]);
            let err = read(&message(kind as u16, &payload)).unwrap_err();
            assert_eq!(err.raw_os_error(), None, "{err}");
            assert!(err.to_string().contains("not a negative errno"), "{err}");
        }
        // A positive NLMSG_DONE code is no errno either; a negative one is.
        let err = read(&message(libc::NLMSG_DONE as u16, &5i32.to_ne_bytes())).unwrap_err();
        assert_eq!(err.raw_os_error(), None, "{err}");
        let err = read(&message(
            libc::NLMSG_DONE as u16,
            &(-libc::ENOENT).to_ne_bytes(),
        ));
        assert_eq!(err.unwrap_err().raw_os_error(), Some(libc::ENOENT));
        assert!(read(&message(libc::NLMSG_DONE as u16, &0i32.to_ne_bytes())).unwrap());
    }

    #[test]
    fn nested_attribute_layout_matches_the_kernel() {
        // MPTCP_PM_ATTR_ADDR { FAMILY=AF_INET, ADDR4=10.0.0.1, FLAGS=SUBFLOW }
        let attr = Attr::Nested(
            mptcp_sys::MPTCP_PM_ATTR_ADDR,
            vec![
                Attr::U16(mptcp_sys::MPTCP_PM_ADDR_ATTR_FAMILY, libc::AF_INET as u16),
                Attr::Bytes(mptcp_sys::MPTCP_PM_ADDR_ATTR_ADDR4, vec![10, 0, 0, 1]),
                Attr::U32(
                    mptcp_sys::MPTCP_PM_ADDR_ATTR_FLAGS,
                    mptcp_sys::MPTCP_PM_ADDR_FLAG_SUBFLOW,
                ),
            ],
        );
        let mut buf = vec![0; attr.buffer_len()];
        attr.emit(&mut buf);
        let mut expected = Vec::new();
        expected.extend_from_slice(&(4u16 + 8 + 8 + 8).to_ne_bytes());
        expected.extend_from_slice(&(mptcp_sys::MPTCP_PM_ATTR_ADDR | NLA_F_NESTED).to_ne_bytes());
        expected.extend_from_slice(&6u16.to_ne_bytes());
        expected.extend_from_slice(&mptcp_sys::MPTCP_PM_ADDR_ATTR_FAMILY.to_ne_bytes());
        expected.extend_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        expected.extend_from_slice(&[0, 0]);
        expected.extend_from_slice(&8u16.to_ne_bytes());
        expected.extend_from_slice(&mptcp_sys::MPTCP_PM_ADDR_ATTR_ADDR4.to_ne_bytes());
        expected.extend_from_slice(&[10, 0, 0, 1]);
        expected.extend_from_slice(&8u16.to_ne_bytes());
        expected.extend_from_slice(&mptcp_sys::MPTCP_PM_ADDR_ATTR_FLAGS.to_ne_bytes());
        expected.extend_from_slice(&mptcp_sys::MPTCP_PM_ADDR_FLAG_SUBFLOW.to_ne_bytes());
        assert_eq!(buf, expected);

        let outer: Vec<_> = attrs(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(outer.len(), 1);
        assert_eq!(outer[0].0, mptcp_sys::MPTCP_PM_ATTR_ADDR);
        let inner: Vec<_> = attrs(outer[0].1).collect::<Result<_, _>>().unwrap();
        assert_eq!(inner.len(), 3);
        assert_eq!(value_u16(inner[0].1), Some(libc::AF_INET as u16));
        assert_eq!(value_ipv4(inner[1].1), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(
            value_u32(inner[2].1),
            Some(mptcp_sys::MPTCP_PM_ADDR_FLAG_SUBFLOW)
        );
    }

    #[test]
    fn extended_ack_message_is_found_after_a_capped_header() {
        let mut payload = vec![0u8; NLMSG_HDRLEN];
        let text = b"address not found\0";
        payload.extend_from_slice(&((4 + text.len()) as u16).to_ne_bytes());
        payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        payload.extend_from_slice(text);
        payload.resize((payload.len() + 3) & !3, 0);
        assert_eq!(
            extended_ack_message(NLM_F_CAPPED | NLM_F_ACK_TLVS, &payload).as_deref(),
            Some("address not found")
        );
        assert_eq!(extended_ack_message(NLM_F_CAPPED, &payload), None);
        assert_eq!(
            extended_ack_message(NLM_F_CAPPED | NLM_F_ACK_TLVS, &[]),
            None
        );
    }

    #[test]
    fn short_values_are_refused() {
        assert_eq!(value_u32(&[1, 2, 3]), None);
        assert_eq!(value_ipv6(&[0; 15]), None);
        assert_eq!(value_be16(&[0x1f, 0x90]), Some(8080));
    }
}
