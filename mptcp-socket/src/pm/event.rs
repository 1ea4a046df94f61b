//! Path-manager events: the `mptcp_pm_events` multicast group (`ip mptcp monitor`).

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_generic::GenlMessage;
use netlink_sys::Socket;

use mptcp_sys::{
    MPTCP_ATTR_BACKUP, MPTCP_ATTR_DADDR4, MPTCP_ATTR_DADDR6, MPTCP_ATTR_DPORT, MPTCP_ATTR_ERROR,
    MPTCP_ATTR_FLAGS, MPTCP_ATTR_IF_IDX, MPTCP_ATTR_LOC_ID, MPTCP_ATTR_REM_ID,
    MPTCP_ATTR_RESET_FLAGS, MPTCP_ATTR_RESET_REASON, MPTCP_ATTR_SADDR4, MPTCP_ATTR_SADDR6,
    MPTCP_ATTR_SERVER_SIDE, MPTCP_ATTR_SPORT, MPTCP_ATTR_TOKEN, MPTCP_EVENT_ANNOUNCED,
    MPTCP_EVENT_CLOSED, MPTCP_EVENT_CREATED, MPTCP_EVENT_ESTABLISHED, MPTCP_EVENT_LISTENER_CLOSED,
    MPTCP_EVENT_LISTENER_CREATED, MPTCP_EVENT_REMOVED, MPTCP_EVENT_SUB_CLOSED,
    MPTCP_EVENT_SUB_ESTABLISHED, MPTCP_EVENT_SUB_PRIORITY, MPTCP_PM_EV_FLAG_SERVER_SIDE,
};

use super::error::{Error, Operation, Result};
use super::netlink::{
    attrs, value_be16, value_i32, value_ipv4, value_ipv6, value_u16, value_u32, value_u8,
    GenlSocket, Reply,
};

/// An MPTCP connection as the `CREATED` and `ESTABLISHED` events describe it (addresses of
/// its initial subflow).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Connection {
    /// The connection's token (the id every other event of it carries).
    pub token: u32,
    /// This side's address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// True on the side that accepted the connection.
    pub server_side: bool,
}

/// A subflow, as the `SUB_ESTABLISHED`, `SUB_CLOSED` and `SUB_PRIORITY` events describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Subflow {
    /// The connection's token.
    pub token: u32,
    /// The local address id (the endpoint id, or 0 for the initial subflow's address).
    pub local_id: u8,
    /// The remote address id.
    pub remote_id: u8,
    /// This side's address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// True when the peer marked the subflow as a backup (the B flag of its MP_JOIN, or its
    /// MP_PRIO): a backup this side asks for (a `backup` endpoint) shows in the peer's events.
    pub backup: bool,
    /// The interface the subflow is bound to, when it is bound.
    pub interface: Option<u32>,
    /// The subflow's socket error (an errno, e.g. 111 `ECONNREFUSED` for a refused join).
    pub error: Option<i32>,
    /// The MP_TCPRST reason (`MPTCP_RST_*`) when the peer reset it.
    pub reset_reason: Option<u32>,
    /// The MP_TCPRST flags when the peer reset it.
    pub reset_flags: Option<u32>,
}

/// One event of the in-kernel path manager.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// `MPTCP_EVENT_CREATED`: a connection was created (its first subflow's handshake is
    /// under way or done).
    Created(Connection),
    /// `MPTCP_EVENT_ESTABLISHED`: the connection is established (MPTCP was negotiated).
    Established(Connection),
    /// `MPTCP_EVENT_CLOSED`: the connection closed.
    Closed {
        /// The connection's token.
        token: u32,
    },
    /// `MPTCP_EVENT_ANNOUNCED`: the peer announced an address (ADD_ADDR).
    Announced {
        /// The connection's token.
        token: u32,
        /// The id the peer gave the address.
        remote_id: u8,
        /// The announced address.
        address: IpAddr,
        /// The port to reach it at: the one the peer announced, else (as Linux 6.x
        /// reports it) the connection's own port.
        port: Option<u16>,
    },
    /// `MPTCP_EVENT_REMOVED`: the peer withdrew an address (RM_ADDR).
    Removed {
        /// The connection's token.
        token: u32,
        /// The id of the withdrawn address.
        remote_id: u8,
    },
    /// `MPTCP_EVENT_SUB_ESTABLISHED`: an extra subflow is established.
    SubflowEstablished(Subflow),
    /// `MPTCP_EVENT_SUB_CLOSED`: a subflow closed (or a join failed).
    SubflowClosed(Subflow),
    /// `MPTCP_EVENT_SUB_PRIORITY`: a subflow's backup flag changed (MP_PRIO).
    SubflowPriority(Subflow),
    /// `MPTCP_EVENT_LISTENER_CREATED`: an MPTCP listener started listening.
    ListenerCreated {
        /// The address and port it listens on.
        local: SocketAddr,
    },
    /// `MPTCP_EVENT_LISTENER_CLOSED`: an MPTCP listener closed.
    ListenerClosed {
        /// The address and port it listened on.
        local: SocketAddr,
    },
    /// An event this crate does not know (a newer kernel's), with its number.
    Other {
        /// The `MPTCP_EVENT_*` number.
        kind: u8,
    },
}

impl Event {
    /// The connection the event belongs to; `None` for listener and unknown events.
    pub fn token(&self) -> Option<u32> {
        match self {
            Event::Created(c) | Event::Established(c) => Some(c.token),
            Event::Closed { token }
            | Event::Announced { token, .. }
            | Event::Removed { token, .. } => Some(*token),
            Event::SubflowEstablished(s) | Event::SubflowClosed(s) | Event::SubflowPriority(s) => {
                Some(s.token)
            }
            Event::ListenerCreated { .. } | Event::ListenerClosed { .. } | Event::Other { .. } => {
                None
            }
        }
    }

    /// Decodes an event from its genl command and attributes.
    pub(crate) fn decode(kind: u8, buf: &[u8]) -> std::result::Result<Event, String> {
        let f = Fields::parse(buf)?;
        let event = match kind {
            MPTCP_EVENT_CREATED => Event::Created(f.connection()?),
            MPTCP_EVENT_ESTABLISHED => Event::Established(f.connection()?),
            MPTCP_EVENT_CLOSED => Event::Closed { token: f.token()? },
            MPTCP_EVENT_ANNOUNCED => Event::Announced {
                token: f.token()?,
                remote_id: f.rem_id.ok_or("ANNOUNCED without a remote id")?,
                address: f.daddr.ok_or("ANNOUNCED without an address")?,
                port: f.dport.filter(|p| *p != 0),
            },
            MPTCP_EVENT_REMOVED => Event::Removed {
                token: f.token()?,
                remote_id: f.rem_id.ok_or("REMOVED without a remote id")?,
            },
            MPTCP_EVENT_SUB_ESTABLISHED => Event::SubflowEstablished(f.subflow()?),
            MPTCP_EVENT_SUB_CLOSED => Event::SubflowClosed(f.subflow()?),
            MPTCP_EVENT_SUB_PRIORITY => Event::SubflowPriority(f.subflow()?),
            MPTCP_EVENT_LISTENER_CREATED => Event::ListenerCreated { local: f.local()? },
            MPTCP_EVENT_LISTENER_CLOSED => Event::ListenerClosed { local: f.local()? },
            kind => Event::Other { kind },
        };
        Ok(event)
    }
}

/// One line, close to `ip mptcp monitor`'s:
/// `SF_ESTABLISHED token=… 10.0.0.1:40000 -> 10.0.0.2:80 locid=1 remid=0 backup=0`.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let connection = |f: &mut fmt::Formatter<'_>, name: &str, c: &Connection| {
            write!(
                f,
                "{name} token={:08x} {} -> {}{}",
                c.token,
                c.local,
                c.remote,
                if c.server_side { " server_side" } else { "" }
            )
        };
        let subflow = |f: &mut fmt::Formatter<'_>, name: &str, s: &Subflow| {
            write!(
                f,
                "{name} token={:08x} {} -> {} locid={} remid={} backup={}",
                s.token, s.local, s.remote, s.local_id, s.remote_id, s.backup as u8
            )?;
            if let Some(index) = s.interface {
                write!(f, " ifindex={index}")?;
            }
            if let Some(error) = s.error {
                write!(f, " error={error}")?;
            }
            if let Some(reason) = s.reset_reason {
                write!(f, " reset_reason={reason}")?;
            }
            Ok(())
        };
        match self {
            Event::Created(c) => connection(f, "CREATED", c),
            Event::Established(c) => connection(f, "ESTABLISHED", c),
            Event::Closed { token } => write!(f, "CLOSED token={token:08x}"),
            Event::Announced {
                token,
                remote_id,
                address,
                port,
            } => {
                write!(f, "ANNOUNCED token={token:08x} remid={remote_id} {address}")?;
                match port {
                    Some(port) => write!(f, " port {port}"),
                    None => Ok(()),
                }
            }
            Event::Removed { token, remote_id } => {
                write!(f, "REMOVED token={token:08x} remid={remote_id}")
            }
            Event::SubflowEstablished(s) => subflow(f, "SF_ESTABLISHED", s),
            Event::SubflowClosed(s) => subflow(f, "SF_CLOSED", s),
            Event::SubflowPriority(s) => subflow(f, "SF_PRIORITY", s),
            Event::ListenerCreated { local } => write!(f, "LISTENER_CREATED {local}"),
            Event::ListenerClosed { local } => write!(f, "LISTENER_CLOSED {local}"),
            Event::Other { kind } => write!(f, "EVENT {kind}"),
        }
    }
}

/// The attributes an event may carry (`MPTCP_ATTR_*`).
#[derive(Default)]
struct Fields {
    token: Option<u32>,
    loc_id: Option<u8>,
    rem_id: Option<u8>,
    saddr: Option<IpAddr>,
    daddr: Option<IpAddr>,
    sport: Option<u16>,
    dport: Option<u16>,
    backup: Option<u8>,
    error: Option<u8>,
    flags: Option<u16>,
    server_side: Option<u8>,
    if_idx: Option<i32>,
    reset_reason: Option<u32>,
    reset_flags: Option<u32>,
}

impl Fields {
    fn parse(buf: &[u8]) -> std::result::Result<Fields, String> {
        let mut f = Fields::default();
        for attr in attrs(buf) {
            let (kind, v) = attr.map_err(|e| e.to_string())?;
            match kind {
                MPTCP_ATTR_TOKEN => f.token = value_u32(v),
                MPTCP_ATTR_LOC_ID => f.loc_id = value_u8(v),
                MPTCP_ATTR_REM_ID => f.rem_id = value_u8(v),
                MPTCP_ATTR_SADDR4 => f.saddr = value_ipv4(v),
                MPTCP_ATTR_SADDR6 => f.saddr = value_ipv6(v),
                MPTCP_ATTR_DADDR4 => f.daddr = value_ipv4(v),
                MPTCP_ATTR_DADDR6 => f.daddr = value_ipv6(v),
                // Ports are in network byte order here (nla_put_be16), unlike the endpoint
                // attributes.
                MPTCP_ATTR_SPORT => f.sport = value_be16(v),
                MPTCP_ATTR_DPORT => f.dport = value_be16(v),
                MPTCP_ATTR_BACKUP => f.backup = value_u8(v),
                MPTCP_ATTR_ERROR => f.error = value_u8(v),
                MPTCP_ATTR_FLAGS => f.flags = value_u16(v),
                MPTCP_ATTR_SERVER_SIDE => f.server_side = value_u8(v),
                MPTCP_ATTR_IF_IDX => f.if_idx = value_i32(v),
                MPTCP_ATTR_RESET_REASON => f.reset_reason = value_u32(v),
                MPTCP_ATTR_RESET_FLAGS => f.reset_flags = value_u32(v),
                _ => {}
            }
        }
        Ok(f)
    }

    fn token(&self) -> std::result::Result<u32, String> {
        self.token
            .ok_or_else(|| "event without a token".to_string())
    }

    fn local(&self) -> std::result::Result<SocketAddr, String> {
        let address = self.saddr.ok_or("event without a local address")?;
        Ok(SocketAddr::new(address, self.sport.unwrap_or_default()))
    }

    fn remote(&self) -> std::result::Result<SocketAddr, String> {
        let address = self.daddr.ok_or("event without a remote address")?;
        Ok(SocketAddr::new(address, self.dport.unwrap_or_default()))
    }

    fn connection(&self) -> std::result::Result<Connection, String> {
        // Linux 6.7–6.16 send MPTCP_ATTR_SERVER_SIDE, 6.17+ a bit of MPTCP_ATTR_FLAGS.
        let server_side = self.server_side.is_some_and(|s| s != 0)
            || self
                .flags
                .is_some_and(|f| f & MPTCP_PM_EV_FLAG_SERVER_SIDE != 0);
        Ok(Connection {
            token: self.token()?,
            local: self.local()?,
            remote: self.remote()?,
            server_side,
        })
    }

    fn subflow(&self) -> std::result::Result<Subflow, String> {
        Ok(Subflow {
            token: self.token()?,
            local_id: self.loc_id.unwrap_or_default(),
            remote_id: self.rem_id.unwrap_or_default(),
            local: self.local()?,
            remote: self.remote()?,
            backup: self.backup.is_some_and(|b| b != 0),
            interface: self.if_idx.filter(|i| *i > 0).map(|i| i as u32),
            error: self.error.filter(|e| *e != 0).map(i32::from),
            reset_reason: self.reset_reason,
            reset_flags: self.reset_flags,
        })
    }
}

/// A stream of path-manager events of this network namespace, from a generic netlink
/// socket that joined the `mptcp_pm_events` group. Iterating blocks until the next event;
/// [`recv_timeout`](Self::recv_timeout) bounds the wait and [`try_recv`](Self::try_recv)
/// never waits (for use with an event loop: the stream is [`AsFd`]).
///
/// Events that happened before the stream was created are not seen.
///
/// With an async runtime, wait for readability of the fd and call `try_recv` (for tokio:
/// `AsyncFd::new(events)?`, then `readable_mut().await` and `try_recv()` until it returns
/// `Ok(None)`, then `clear_ready()`).
#[derive(Debug)]
pub struct Events {
    socket: Socket,
    family_id: u16,
    buf: Vec<u8>,
    pending: std::collections::VecDeque<Event>,
}

impl Events {
    pub(crate) fn subscribe(family_id: u16, group: Option<u32>) -> Result<Events> {
        let group = group.ok_or_else(|| {
            Error::decode(
                Operation::Subscribe,
                "the `mptcp_pm` family has no `mptcp_pm_events` group (Linux >= 5.12 has it)",
            )
        })?;
        let socket = GenlSocket::open(Operation::Subscribe)?.into_socket();
        socket
            .add_membership(group)
            .map_err(|e| Error::io(Operation::Subscribe, &e))?;
        Ok(Events {
            socket,
            family_id,
            buf: vec![0; 64 * 1024],
            pending: Default::default(),
        })
    }

    /// Waits for the next event (`recv(2)` on the netlink socket).
    ///
    /// An error with errno `ENOBUFS` means events were lost (the socket's receive queue
    /// overflowed because they were not read fast enough); the stream goes on after it.
    pub fn recv(&mut self) -> Result<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            self.fill(0)?;
        }
    }

    /// Like [`recv`](Self::recv), waiting at most `timeout` (`poll(2)`); `Ok(None)` when
    /// no event came in time.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Event>> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let mut pollfd = libc::pollfd {
                fd: self.socket.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let millis = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut pollfd, 1, millis) };
            if ready < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::io(Operation::ReceiveEvent, &err));
            }
            if ready == 0 {
                return Ok(None);
            }
            self.fill(libc::MSG_DONTWAIT)?;
        }
    }

    /// The next event if one is queued, without waiting (`MSG_DONTWAIT`).
    pub fn try_recv(&mut self) -> Result<Option<Event>> {
        if self.pending.is_empty() {
            self.fill(libc::MSG_DONTWAIT)?;
        }
        Ok(self.pending.pop_front())
    }

    /// Reads one datagram and queues the events in it.
    fn fill(&mut self, flags: libc::c_int) -> Result<()> {
        let op = || Operation::ReceiveEvent;
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe {
            libc::recv(
                self.socket.as_raw_fd(),
                self.buf.as_mut_ptr().cast(),
                self.buf.len(),
                flags,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(()),
                _ => Err(Error::io(op(), &err)),
            };
        }
        let data = &self.buf[..n as usize];
        decode_datagram(data, self.family_id, |event| self.pending.push_back(event))
    }
}

/// Decodes the events in one datagram of the `mptcp_pm` family's multicast group
/// (`family_id`): calls `each` for each event, in order; messages of other families are
/// skipped.
pub(crate) fn decode_datagram(
    data: &[u8],
    family_id: u16,
    mut each: impl FnMut(Event),
) -> Result<()> {
    let op = || Operation::ReceiveEvent;
    let mut offset = 0;
    while offset < data.len() {
        let message = NetlinkMessage::<GenlMessage<Reply>>::deserialize(&data[offset..])
            .map_err(|e| Error::decode(op(), e.to_string()))?;
        let length = message.header.length as usize;
        if length == 0 {
            return Err(Error::decode(op(), "netlink message of length 0"));
        }
        offset += (length + 3) & !3;
        if message.header.message_type != family_id {
            continue;
        }
        if let NetlinkPayload::InnerMessage(genl) = message.payload {
            each(
                Event::decode(genl.payload.cmd, &genl.payload.attrs)
                    .map_err(|e| Error::decode(op(), e))?,
            );
        }
    }
    Ok(())
}

/// Blocks for each next event; never ends by itself.
impl Iterator for Events {
    type Item = Result<Event>;
    fn next(&mut self) -> Option<Result<Event>> {
        Some(self.recv())
    }
}

impl AsFd for Events {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the socket's fd lives as long as `self`.
        unsafe { BorrowedFd::borrow_raw(self.socket.as_raw_fd()) }
    }
}

impl AsRawFd for Events {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::super::netlink::Attr;
    use super::*;
    use netlink_packet_core::Emitable;

    fn emit(attrs: Vec<Attr>) -> Vec<u8> {
        let mut buf = vec![0; attrs.as_slice().buffer_len()];
        attrs.as_slice().emit(&mut buf);
        buf
    }

    #[test]
    fn subflow_event_decodes_ports_in_network_order() {
        let buf = emit(vec![
            Attr::U32(MPTCP_ATTR_TOKEN, 0xdead_beef),
            Attr::U16(mptcp_sys::MPTCP_ATTR_FAMILY, libc::AF_INET as u16),
            Attr::Bytes(MPTCP_ATTR_SADDR4, vec![10, 0, 1, 1]),
            Attr::Bytes(MPTCP_ATTR_DADDR4, vec![10, 0, 0, 2]),
            Attr::Bytes(MPTCP_ATTR_SPORT, 40000u16.to_be_bytes().to_vec()),
            Attr::Bytes(MPTCP_ATTR_DPORT, 8080u16.to_be_bytes().to_vec()),
            Attr::U8(MPTCP_ATTR_LOC_ID, 2),
            Attr::U8(MPTCP_ATTR_REM_ID, 0),
            Attr::U8(MPTCP_ATTR_BACKUP, 1),
            Attr::U8(MPTCP_ATTR_ERROR, 111),
        ]);
        let event = Event::decode(MPTCP_EVENT_SUB_CLOSED, &buf).unwrap();
        let Event::SubflowClosed(s) = &event else {
            panic!("{event:?}")
        };
        assert_eq!(s.token, 0xdead_beef);
        assert_eq!(s.local, "10.0.1.1:40000".parse().unwrap());
        assert_eq!(s.remote, "10.0.0.2:8080".parse().unwrap());
        assert_eq!(
            (s.local_id, s.remote_id, s.backup, s.error),
            (2, 0, true, Some(111))
        );
        assert_eq!(
            event.to_string(),
            "SF_CLOSED token=deadbeef 10.0.1.1:40000 -> 10.0.0.2:8080 locid=2 remid=0 backup=1 error=111"
        );
    }

    #[test]
    fn server_side_comes_from_either_attribute() {
        let base = vec![
            Attr::U32(MPTCP_ATTR_TOKEN, 1),
            Attr::Bytes(
                MPTCP_ATTR_SADDR6,
                "fd00::1"
                    .parse::<std::net::Ipv6Addr>()
                    .unwrap()
                    .octets()
                    .to_vec(),
            ),
            Attr::Bytes(
                MPTCP_ATTR_DADDR6,
                "fd00::2"
                    .parse::<std::net::Ipv6Addr>()
                    .unwrap()
                    .octets()
                    .to_vec(),
            ),
        ];
        let mut old = base.clone();
        old.push(Attr::U8(MPTCP_ATTR_SERVER_SIDE, 1));
        let mut new = base.clone();
        new.push(Attr::U16(MPTCP_ATTR_FLAGS, MPTCP_PM_EV_FLAG_SERVER_SIDE));
        for (buf, server) in [(emit(old), true), (emit(new), true), (emit(base), false)] {
            let Event::Created(c) = Event::decode(MPTCP_EVENT_CREATED, &buf).unwrap() else {
                panic!()
            };
            assert_eq!(c.server_side, server);
            assert_eq!(c.local.ip(), "fd00::1".parse::<IpAddr>().unwrap());
        }
    }

    #[test]
    fn unknown_events_and_missing_fields() {
        assert_eq!(Event::decode(200, &[]).unwrap(), Event::Other { kind: 200 });
        assert!(Event::decode(MPTCP_EVENT_CLOSED, &[]).is_err());
    }
}
