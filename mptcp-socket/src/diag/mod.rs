//! Every MPTCP connection of this network namespace and its subflows, read from the
//! kernel's socket tables over sock_diag netlink, whichever program owns them (cargo
//! feature `diag`).
//!
//! What `ss -Mni` and `ss -tni` show, joined: the MPTCP sockets (`SOCK_DIAG_BY_FAMILY`
//! with protocol `IPPROTO_MPTCP`, each with its `struct mptcp_info` in `INET_DIAG_INFO`),
//! and the TCP sockets, among them the subflows (`INET_DIAG_ULP_INFO` names the ULP
//! `"mptcp"` and carries the `MPTCP_SUBFLOW_ATTR_*`, among them the connection's token),
//! matched by token. No preload, no restart: it covers native, shimmed, seccomp-mode, Go
//! and static programs alike.
//!
//! ```no_run
//! use mptcp_socket::diag::{SockDiag, Sockets};
//! let mut diag = SockDiag::new()?;
//! for conn in diag.snapshot(Sockets::Mptcp)?.connections {
//!     println!("{} -> {} {:?}", conn.local, conn.remote, conn.kind);
//!     for sf in &conn.subflows {
//!         println!("  {} -> {} backup={}", sf.local, sf.remote, sf.backup());
//!     }
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Kernel requirements: MPTCP sockets in sock_diag need `mptcp_diag` (Linux 5.9+,
//! `CONFIG_INET_MPTCP_DIAG`); the subflow data (`INET_ULP_INFO_MPTCP`) exists since 5.7,
//! and kernels whose `tcp_diag` gives ULP data only to `CAP_NET_ADMIN` callers leave the
//! others without it (Linux 6.18 gives it to everyone, measured): subflows are then seen
//! as MPTCP subflows but not which connection they belong to ([`Snapshot::subflows_matched`]).
//! `mptcp_info` in the diag answer grew with the kernel as the getsockopt one did.

mod process;
// Public for the fuzz targets (`fuzz/`) only.
#[doc(hidden)]
pub mod wire;

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;

use mptcp_sys::{
    IPPROTO_MPTCP, MPTCP_SUBFLOW_FLAG_BKUP_LOC, MPTCP_SUBFLOW_FLAG_BKUP_REM,
    MPTCP_SUBFLOW_FLAG_FULLY_ESTABLISHED, MPTCP_SUBFLOW_FLAG_JOIN_LOC, MPTCP_SUBFLOW_FLAG_JOIN_REM,
};
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr as NetlinkAddr};

use crate::{ConnectionKind, MptcpInfo, TcpInfo};

pub use process::{Process, ProcessTable};
// Public for the fuzz targets (`fuzz/`) only.
#[doc(hidden)]
pub use process::socket_inode;

/// Which sockets a [`SockDiag::snapshot`] lists.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Sockets {
    /// MPTCP connections (also those that fell back to TCP), with their subflows.
    Mptcp,
    /// MPTCP connections and the plain TCP connections (`ConnectionKind::Tcp`).
    All,
}

/// One connection as the kernel's socket table has it.
#[derive(Clone, Debug)]
pub struct Connection {
    /// MPTCP, MPTCP fallen back to TCP (`MPTCP_INFO_FLAG_FALLBACK`), or plain TCP.
    pub kind: ConnectionKind,
    /// The socket's TCP state (`TCP_ESTABLISHED` = 1, … as in `include/net/tcp_states.h`).
    pub state: u8,
    /// Local address and port (IPv4-mapped IPv6 addresses shown as IPv4).
    pub local: SocketAddr,
    /// Remote address and port.
    pub remote: SocketAddr,
    /// The socket's inode: `socket:[INODE]` in its owner's `/proc/PID/fd`.
    pub inode: u32,
    /// The socket's owner uid (the fsuid of the task that created it).
    pub uid: u32,
    /// The kernel's socket cookie (`SO_COOKIE`): unique while the machine runs.
    pub cookie: u64,
    /// `struct mptcp_info` for MPTCP sockets (`INET_DIAG_INFO` of `mptcp_diag`).
    pub mptcp: Option<MptcpInfo>,
    /// `struct tcp_info` for plain TCP connections.
    pub tcp: Option<TcpInfo>,
    /// The MPTCP connection's subflows (empty for plain TCP, and without `CAP_NET_ADMIN`).
    pub subflows: Vec<Subflow>,
}

impl Connection {
    /// The connection's local MPTCP token (`mptcpi_token`), which its subflows carry.
    pub fn token(&self) -> Option<u32> {
        self.mptcp.as_ref().map(MptcpInfo::token)
    }
}

/// One TCP subflow of an MPTCP connection.
#[derive(Clone, Debug)]
pub struct Subflow {
    /// Local address and port of this path.
    pub local: SocketAddr,
    /// Remote address and port of this path.
    pub remote: SocketAddr,
    /// The interface the subflow is bound to (`sk_bound_dev_if`; 0 when unbound, e.g. a
    /// subflow endpoint without `dev`).
    pub interface: u32,
    /// The subflow's TCP state.
    pub state: u8,
    /// The kernel's socket cookie of the subflow.
    pub cookie: u64,
    /// Its `struct tcp_info` (`INET_DIAG_INFO`).
    pub tcp: Option<TcpInfo>,
    /// `MPTCP_SUBFLOW_ATTR_TOKEN_LOC`: the local token of the connection it belongs to.
    pub token_local: Option<u32>,
    /// `MPTCP_SUBFLOW_ATTR_TOKEN_REM`: the peer's token.
    pub token_remote: Option<u32>,
    /// `MPTCP_SUBFLOW_ATTR_FLAGS`: `MPTCP_SUBFLOW_FLAG_*`.
    pub flags: u32,
    /// `MPTCP_SUBFLOW_ATTR_ID_LOC`: the local address id.
    pub id_local: Option<u8>,
    /// `MPTCP_SUBFLOW_ATTR_ID_REM`: the remote address id.
    pub id_remote: Option<u8>,
}

impl Subflow {
    /// A backup path: marked backup locally (`MPTCP_SUBFLOW_FLAG_BKUP_LOC`, e.g. an
    /// endpoint with the `backup` flag) or by the peer (`MPTCP_SUBFLOW_FLAG_BKUP_REM`).
    pub fn backup(&self) -> bool {
        self.flags & (MPTCP_SUBFLOW_FLAG_BKUP_LOC | MPTCP_SUBFLOW_FLAG_BKUP_REM) != 0
    }

    /// An additional subflow (MP_JOIN), not the connection's first one (MP_CAPABLE).
    pub fn joined(&self) -> bool {
        self.flags & (MPTCP_SUBFLOW_FLAG_JOIN_LOC | MPTCP_SUBFLOW_FLAG_JOIN_REM) != 0
    }

    /// The MPTCP handshake of this subflow is complete (`MPTCP_SUBFLOW_FLAG_FULLY_ESTABLISHED`).
    pub fn fully_established(&self) -> bool {
        self.flags & MPTCP_SUBFLOW_FLAG_FULLY_ESTABLISHED != 0
    }
}

/// One reading of the socket tables.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The connections, MPTCP ones first, each with its subflows.
    pub connections: Vec<Connection>,
    /// False when the kernel did not say which connection the subflows belong to: a
    /// kernel older than 5.7, or one that gives subflow data only to `CAP_NET_ADMIN`. The subflows are
    /// then in [`Snapshot::unmatched_subflows`].
    pub subflows_matched: bool,
    /// MPTCP subflows whose connection is not known: no token (see above), or one whose
    /// MPTCP socket was not in the table (closing).
    pub unmatched_subflows: Vec<Subflow>,
}

/// A sock_diag netlink socket (`socket(AF_NETLINK, SOCK_DGRAM, NETLINK_SOCK_DIAG)`), kept
/// open across snapshots, with its receive buffer.
pub struct SockDiag {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

/// The receive buffer: large enough that the kernel fills each dump message to its
/// maximum (it sizes them from the reader's largest recvmsg).
const RECV_BUF: usize = 64 * 1024;

impl SockDiag {
    /// Opens the sock_diag netlink socket (`NETLINK_SOCK_DIAG`). Needs no privilege.
    pub fn new() -> io::Result<SockDiag> {
        let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
        socket.bind_auto()?;
        socket.connect(&NetlinkAddr::new(0, 0))?;
        Ok(SockDiag {
            socket,
            seq: 0,
            buf: vec![0; RECV_BUF],
        })
    }

    /// Reads the socket tables: four `SOCK_DIAG_BY_FAMILY` dumps with `INET_DIAG_INFO`
    /// (`AF_INET` and `AF_INET6`; `IPPROTO_MPTCP` through `INET_DIAG_REQ_PROTOCOL`, then
    /// `IPPROTO_TCP`), and joins the subflows to their connection by token
    /// (`MPTCP_SUBFLOW_ATTR_TOKEN_LOC` = `mptcpi_token`). Listening and TIME_WAIT sockets
    /// are not listed.
    ///
    /// Fails with an error naming the kernel requirement when the kernel has no MPTCP
    /// socket diagnostics (`mptcp_diag`, Linux 5.9+).
    pub fn snapshot(&mut self, sockets: Sockets) -> io::Result<Snapshot> {
        let mut snapshot = Snapshot {
            subflows_matched: true,
            ..Snapshot::default()
        };
        let mut by_token: HashMap<u32, usize> = HashMap::new();
        let mut seen = HashSet::new();
        for family in [libc::AF_INET, libc::AF_INET6] {
            let result = self.dump(family as u8, IPPROTO_MPTCP as u32, |msg| {
                // Each socket once, whichever family's table the kernel listed it in.
                if !seen.insert(msg.cookie) {
                    return;
                }
                let mptcp = msg.info.and_then(MptcpInfo::from_bytes);
                let kind = match &mptcp {
                    Some(info) if info.fell_back() => ConnectionKind::FellBack,
                    _ => ConnectionKind::Mptcp,
                };
                if let Some(info) = &mptcp {
                    by_token.insert(info.token(), snapshot.connections.len());
                }
                snapshot.connections.push(Connection {
                    kind,
                    state: msg.state,
                    local: msg.local,
                    remote: msg.remote,
                    inode: msg.inode,
                    uid: msg.uid,
                    cookie: msg.cookie,
                    mptcp,
                    tcp: None,
                    subflows: Vec::new(),
                });
            });
            match result {
                Ok(()) => {}
                Err(err) if err.raw_os_error() == Some(libc::ENOENT) => {
                    return Err(no_mptcp_diag());
                }
                // A kernel without IPv6 has no AF_INET6 table: nothing to list there.
                Err(err) if family == libc::AF_INET6 && is_no_family(&err) => {}
                Err(err) => return Err(err),
            }
        }
        let mut plain = Vec::new();
        for family in [libc::AF_INET, libc::AF_INET6] {
            let result = self.dump(family as u8, libc::IPPROTO_TCP as u32, |msg| {
                let tcp = msg.info.and_then(TcpInfo::from_bytes);
                if msg.ulp_name != Some(b"mptcp".as_slice()) {
                    if sockets == Sockets::All {
                        plain.push(Connection {
                            kind: ConnectionKind::Tcp,
                            state: msg.state,
                            local: msg.local,
                            remote: msg.remote,
                            inode: msg.inode,
                            uid: msg.uid,
                            cookie: msg.cookie,
                            mptcp: None,
                            tcp,
                            subflows: Vec::new(),
                        });
                    }
                    return;
                }
                let attrs = msg
                    .ulp_mptcp
                    .map(wire::parse_subflow_attrs)
                    .unwrap_or_default();
                let subflow = Subflow {
                    local: msg.local,
                    remote: msg.remote,
                    interface: msg.interface,
                    state: msg.state,
                    cookie: msg.cookie,
                    tcp,
                    token_local: attrs.token_local,
                    token_remote: attrs.token_remote,
                    flags: attrs.flags,
                    id_local: attrs.id_local,
                    id_remote: attrs.id_remote,
                };
                match attrs.token_local.and_then(|t| by_token.get(&t)) {
                    Some(&at) => snapshot.connections[at].subflows.push(subflow),
                    None => {
                        if msg.ulp_mptcp.is_none() {
                            snapshot.subflows_matched = false;
                        }
                        snapshot.unmatched_subflows.push(subflow);
                    }
                }
            });
            match result {
                Ok(()) => {}
                Err(err) if family == libc::AF_INET6 && is_no_family(&err) => {}
                Err(err) => return Err(err),
            }
        }
        snapshot.connections.append(&mut plain);
        Ok(snapshot)
    }

    /// Sends one dump request and calls `each` for every socket of the answer.
    fn dump(
        &mut self,
        family: u8,
        protocol: u32,
        mut each: impl FnMut(&wire::DiagMessage<'_>),
    ) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let request = wire::dump_request(family, protocol, self.seq);
        self.socket.send(&request, 0)?;
        loop {
            let mut space = &mut self.buf[..];
            let len = self.socket.recv(&mut space, 0)?;
            if wire::read_dump_answer(&self.buf[..len], self.seq, &mut each)? {
                return Ok(());
            }
        }
    }
}

/// The error for a kernel whose sock_diag has no MPTCP handler (`ENOENT` from
/// `inet_diag_lock_handler()`).
fn no_mptcp_diag() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "this kernel has no MPTCP socket diagnostics: listing MPTCP connections needs \
         Linux 5.9 or later built with CONFIG_INET_MPTCP_DIAG (module mptcp_diag: try \
         `modprobe mptcp_diag`)",
    )
}

fn is_no_family(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::ENOENT) | Some(libc::EAFNOSUPPORT) | Some(libc::EINVAL)
    )
}

/// One snapshot with a fresh [`SockDiag`]; for repeated readings keep a `SockDiag`.
pub fn connections(sockets: Sockets) -> io::Result<Snapshot> {
    SockDiag::new()?.snapshot(sockets)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a kernel without `mptcp_diag` answers, shown with a protocol that has no diag
    /// handler on any kernel (UDP-Lite's 136 has one, 253 is for experiments): ENOENT,
    /// which [`SockDiag::snapshot`] turns into [`no_mptcp_diag`]. The wide-protocol form
    /// (attribute, sdiag_protocol 0) too.
    #[mptcp_tests::needs(mptcp_enabled)]
    #[test]
    fn protocol_without_handler_is_enoent() {
        let mut diag = SockDiag::new().unwrap();
        for protocol in [253, 263] {
            let err = diag
                .dump(libc::AF_INET as u8, protocol, |_| {})
                .unwrap_err();
            assert_eq!(
                err.raw_os_error(),
                Some(libc::ENOENT),
                "protocol {protocol}"
            );
        }
        // The socket stays usable after an error answer.
        diag.snapshot(Sockets::Mptcp).unwrap();
        let msg = no_mptcp_diag().to_string();
        assert!(
            msg.contains("Linux 5.9") && msg.contains("mptcp_diag"),
            "{msg}"
        );
    }
}
