//! The in-kernel MPTCP path manager, from Rust: endpoints, limits and events — what
//! `ip mptcp endpoint|limits|monitor` does, over the `mptcp_pm` generic netlink family.
//!
//! Enabled by the `pm` feature. Everything applies to the network namespace of the thread
//! that creates the [`PathManager`] (or [`Events`]); changing anything needs
//! `CAP_NET_ADMIN` there, reading does not.
//!
//! ```no_run
//! use mptcp_socket::pm::{Limits, NewEndpoint, PathManager};
//!
//! # fn main() -> Result<(), mptcp_socket::pm::Error> {
//! let pm = PathManager::new()?;
//! // A client with a second interface: open an extra subflow from it to every server.
//! let endpoint = pm.add_endpoint(&NewEndpoint::new("10.0.1.2".parse().unwrap())
//!     .interface("eth1")
//!     .subflow())?;
//! println!("added {endpoint}");
//! pm.set_limits(Limits { subflows: 2, add_addr_accepted: 2 })?;
//! for endpoint in pm.endpoints()? {
//!     println!("{endpoint}");
//! }
//! for event in pm.events()? {
//!     println!("{}", event?);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Errors keep the kernel's errno ([`Error::raw_os_error`]) and its extended-ACK message,
//! and say what to do ([`Error::hint`]: `EPERM` → needs `CAP_NET_ADMIN`, …).

mod endpoint;
mod error;
mod event;
mod netlink;

/// The decoders of the kernel's path-manager answers and events, public for the fuzz
/// targets (`fuzz/`) only: each takes bytes as the kernel sends them.
#[doc(hidden)]
pub mod decode {
    use super::{Endpoint, Event, Limits, Operation, Result};

    /// The attributes of a `GET_ADDR` answer as an endpoint.
    pub fn endpoint(attrs: &[u8]) -> std::result::Result<Endpoint, String> {
        Endpoint::from_reply(attrs)
    }

    /// The attributes of a `GET_LIMITS` answer as limits.
    pub fn limits(attrs: &[u8]) -> std::result::Result<Limits, String> {
        Limits::from_reply(attrs)
    }

    /// An event of command `cmd` from its attributes.
    pub fn event(cmd: u8, attrs: &[u8]) -> std::result::Result<Event, String> {
        Event::decode(cmd, attrs)
    }

    /// The events of one multicast datagram of family `family_id`.
    pub fn events(datagram: &[u8], family_id: u16) -> Result<Vec<Event>> {
        let mut events = Vec::new();
        super::event::decode_datagram(datagram, family_id, |e| events.push(e))?;
        Ok(events)
    }

    /// One answer message: its command and its attributes.
    pub type Answer = (u8, Vec<u8>);

    /// The answer messages in one `recv` of the answer to request `seq`, and whether the
    /// answer is complete.
    pub fn answers(buf: &[u8], seq: u32) -> Result<(bool, Vec<Answer>)> {
        let mut answers: Vec<netlink_packet_generic::GenlMessage<super::netlink::Reply>> =
            Vec::new();
        let done = super::netlink::read_answers(buf, seq, &Operation::ListEndpoints, &mut answers)?;
        Ok((
            done,
            answers
                .into_iter()
                .map(|a| (a.payload.cmd, a.payload.attrs))
                .collect(),
        ))
    }

    /// The extended-ACK message in an `NLMSG_ERROR` payload after its errno.
    pub fn extended_ack_message(flags: u16, echoed: &[u8]) -> Option<String> {
        super::netlink::extended_ack_message(flags, echoed)
    }
}

pub use endpoint::{Endpoint, EndpointFlags, NewEndpoint};
pub use error::{Error, Operation, Result};
pub use event::{Connection, Event, Events, Subflow};

use std::fmt;

use mptcp_sys::{
    MPTCP_PM_ATTR_RCV_ADD_ADDRS, MPTCP_PM_ATTR_SUBFLOWS, MPTCP_PM_CMD_ADD_ADDR,
    MPTCP_PM_CMD_DEL_ADDR, MPTCP_PM_CMD_FLUSH_ADDRS, MPTCP_PM_CMD_GET_ADDR,
    MPTCP_PM_CMD_GET_LIMITS, MPTCP_PM_CMD_SET_FLAGS, MPTCP_PM_CMD_SET_LIMITS,
};

use endpoint::address_attr;
use netlink::{attrs, value_u32, Attr, Family, GenlSocket, Request};

/// The path manager's limits per connection (`ip mptcp limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Extra subflows a connection may have (`subflows`); 0 keeps every connection on one
    /// path.
    pub subflows: u32,
    /// Addresses announced by the peer (ADD_ADDR) a connection may use (`add_addr_accepted`).
    pub add_addr_accepted: u32,
}

impl Limits {
    /// The largest value the kernel accepts for each limit (`MPTCP_PM_ADDR_MAX` in
    /// `net/mptcp/pm_kernel.c`, not part of the UAPI).
    pub const MAX: u32 = 8;
}

/// As `ip mptcp limits show` prints them: `add_addr_accepted 0 subflows 2`.
impl Limits {
    /// Decodes the attributes of a `GET_LIMITS` answer.
    fn from_reply(reply: &[u8]) -> std::result::Result<Limits, String> {
        let mut subflows = None;
        let mut add_addr_accepted = None;
        for attr in attrs(reply) {
            let (kind, value) = attr.map_err(|e| e.to_string())?;
            match kind {
                MPTCP_PM_ATTR_SUBFLOWS => subflows = value_u32(value),
                MPTCP_PM_ATTR_RCV_ADD_ADDRS => add_addr_accepted = value_u32(value),
                _ => {}
            }
        }
        Ok(Limits {
            subflows: subflows.ok_or("no subflows limit")?,
            add_addr_accepted: add_addr_accepted.ok_or("no add_addr_accepted limit")?,
        })
    }
}

impl fmt::Display for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "add_addr_accepted {} subflows {}",
            self.add_addr_accepted, self.subflows
        )
    }
}

/// A handle on the in-kernel path manager of the calling thread's network namespace: a
/// generic netlink socket with the `mptcp_pm` family resolved. Each call is one blocking
/// request and its answer.
#[derive(Debug)]
pub struct PathManager {
    socket: GenlSocket,
    family: Family,
}

impl PathManager {
    /// Opens a `NETLINK_GENERIC` socket and resolves the `mptcp_pm` family
    /// (`CTRL_CMD_GETFAMILY`). Fails with `ENOENT` when the kernel has no MPTCP.
    pub fn new() -> Result<PathManager> {
        let socket = GenlSocket::open(Operation::Open)?;
        let family = socket.resolve_family()?;
        Ok(PathManager { socket, family })
    }

    fn request(
        &self,
        operation: &Operation,
        cmd: u8,
        attrs: Vec<Attr>,
        dump: bool,
    ) -> Result<Vec<netlink::Reply>> {
        self.socket
            .request(operation, self.family.id, Request { cmd, attrs }, dump)
    }

    /// Every endpoint (`MPTCP_PM_CMD_GET_ADDR` dump; `ip mptcp endpoint show`).
    pub fn endpoints(&self) -> Result<Vec<Endpoint>> {
        let operation = Operation::ListEndpoints;
        self.request(&operation, MPTCP_PM_CMD_GET_ADDR, Vec::new(), true)?
            .iter()
            .map(|reply| {
                Endpoint::from_reply(&reply.attrs).map_err(|e| Error::decode(operation.clone(), e))
            })
            .collect()
    }

    /// The endpoint with this id (`MPTCP_PM_CMD_GET_ADDR`; `ip mptcp endpoint show id ID`).
    pub fn endpoint(&self, id: u8) -> Result<Endpoint> {
        let operation = Operation::GetEndpoint(id);
        let attr = address_attr(Some(id), None, None, None, None);
        let replies = self.request(&operation, MPTCP_PM_CMD_GET_ADDR, vec![attr], false)?;
        let reply = replies
            .first()
            .ok_or_else(|| Error::decode(operation.clone(), "no answer"))?;
        Endpoint::from_reply(&reply.attrs).map_err(|e| Error::decode(operation, e))
    }

    /// Adds an endpoint (`MPTCP_PM_CMD_ADD_ADDR`; `ip mptcp endpoint add …`) and returns it
    /// as the kernel now lists it, with the id the kernel chose when none was asked for.
    pub fn add_endpoint(&self, endpoint: &NewEndpoint) -> Result<Endpoint> {
        let operation = Operation::AddEndpoint(endpoint.to_string());
        let interface = endpoint.interface_index_resolved().map_err(|name| {
            Error::os(
                operation.clone(),
                libc::ENODEV,
                Some(format!(
                    "no interface named `{name}` in this network namespace (see `ip link show`)"
                )),
            )
        })?;
        let attr = address_attr(
            endpoint.requested_id(),
            Some(endpoint.address()),
            endpoint.requested_port(),
            interface,
            Some(endpoint.requested_flags()),
        );
        self.request(&operation, MPTCP_PM_CMD_ADD_ADDR, vec![attr], false)?;
        // The kernel's ACK does not say which id it chose: find the endpoint again. Its
        // address and port are unique among endpoints (the kernel refuses duplicates).
        if let Some(id) = endpoint.requested_id() {
            return self.endpoint(id);
        }
        self.endpoints()?
            .into_iter()
            .find(|e| e.address == endpoint.address() && e.port == endpoint.requested_port())
            .ok_or_else(|| Error::decode(operation, "the added endpoint is not listed"))
    }

    /// Deletes the endpoint with this id (`MPTCP_PM_CMD_DEL_ADDR`; `ip mptcp endpoint
    /// delete id ID`). Subflows using it are closed and peers told (RM_ADDR).
    pub fn delete_endpoint(&self, id: u8) -> Result<()> {
        let operation = Operation::DeleteEndpoint(id);
        let attr = address_attr(Some(id), None, None, None, None);
        self.request(&operation, MPTCP_PM_CMD_DEL_ADDR, vec![attr], false)
            .map(drop)
    }

    /// Sets the changeable flags of an endpoint (`MPTCP_PM_CMD_SET_FLAGS`; `ip mptcp
    /// endpoint change id ID [no]backup [no]fullmesh`): `backup` and `fullmesh` are both set
    /// to what `flags` says (other flags are ignored). Existing subflows from the endpoint
    /// change priority (MP_PRIO) at once.
    pub fn set_endpoint_flags(&self, id: u8, flags: EndpointFlags) -> Result<()> {
        let operation = Operation::SetEndpointFlags(id);
        let attr = address_attr(Some(id), None, None, None, Some(flags));
        self.request(&operation, MPTCP_PM_CMD_SET_FLAGS, vec![attr], false)
            .map(drop)
    }

    /// Turns the `backup` flag of an endpoint on or off, keeping `fullmesh` as it is.
    pub fn set_backup(&self, id: u8, backup: bool) -> Result<()> {
        let mut flags = self.endpoint(id)?.flags;
        flags.set(EndpointFlags::BACKUP, backup);
        self.set_endpoint_flags(id, flags)
    }

    /// Turns the `fullmesh` flag of an endpoint on or off, keeping `backup` as it is.
    pub fn set_fullmesh(&self, id: u8, fullmesh: bool) -> Result<()> {
        let mut flags = self.endpoint(id)?.flags;
        flags.set(EndpointFlags::FULLMESH, fullmesh);
        self.set_endpoint_flags(id, flags)
    }

    /// Deletes every endpoint (`MPTCP_PM_CMD_FLUSH_ADDRS`; `ip mptcp endpoint flush`).
    pub fn flush_endpoints(&self) -> Result<()> {
        self.request(
            &Operation::FlushEndpoints,
            MPTCP_PM_CMD_FLUSH_ADDRS,
            Vec::new(),
            false,
        )
        .map(drop)
    }

    /// The limits (`MPTCP_PM_CMD_GET_LIMITS`; `ip mptcp limits show`).
    pub fn limits(&self) -> Result<Limits> {
        let operation = Operation::GetLimits;
        let replies = self.request(&operation, MPTCP_PM_CMD_GET_LIMITS, Vec::new(), false)?;
        let reply = replies
            .first()
            .ok_or_else(|| Error::decode(operation.clone(), "no answer"))?;
        Limits::from_reply(&reply.attrs).map_err(|e| Error::decode(operation, e))
    }

    /// Sets both limits (`MPTCP_PM_CMD_SET_LIMITS`; `ip mptcp limits set subflows N
    /// add_addr_accepted M`). Each is at most [`Limits::MAX`].
    pub fn set_limits(&self, limits: Limits) -> Result<()> {
        let attrs = vec![
            Attr::U32(MPTCP_PM_ATTR_RCV_ADD_ADDRS, limits.add_addr_accepted),
            Attr::U32(MPTCP_PM_ATTR_SUBFLOWS, limits.subflows),
        ];
        self.request(&Operation::SetLimits, MPTCP_PM_CMD_SET_LIMITS, attrs, false)
            .map(drop)
    }

    /// A new stream of this namespace's path-manager events (`ip mptcp monitor`), on a
    /// socket of its own that joined the `mptcp_pm_events` multicast group.
    pub fn events(&self) -> Result<Events> {
        Events::subscribe(self.family.id, self.family.events_group)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn handles_move_to_other_threads_and_errors_into_io_errors() {
        fn send<T: Send>() {}
        fn send_sync<T: Send + Sync>() {}
        send::<super::PathManager>();
        send::<super::Events>();
        send_sync::<super::Error>();
    }
}
