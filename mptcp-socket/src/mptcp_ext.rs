//! [`MptcpExt`]: the questions about a connection, for any socket that implements `AsFd`.

use std::io;
use std::os::fd::AsFd;

use crate::info::{mptcp_info_of, MptcpInfo};
use crate::kind::{connection_kind, ConnectionKind};
use crate::subflows::{subflows_of, SubflowInfo};

/// Questions about the MPTCP state of any socket that implements [`AsFd`]:
/// [`MptcpStream`](crate::MptcpStream), `std::net::TcpStream`, `socket2::Socket`,
/// tokio's `TcpStream`, …
///
/// ```no_run
/// use mptcp_socket::{MptcpExt, MptcpStream};
/// let stream = MptcpStream::connect("127.0.0.1:8080")?;
/// println!("{}", stream.connection_kind()?);
/// for subflow in stream.subflows()? {
///     println!("{} -> {}", subflow.local, subflow.remote);
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait MptcpExt: AsFd {
    /// What the connection really is: MPTCP, MPTCP that fell back to TCP, or plain TCP.
    ///
    /// Uses `getsockopt(SO_PROTOCOL)` (262 on MPTCP sockets, fallen back or not), then
    /// `getsockopt(SOL_TCP, TCP_IS_MPTCP)` (Linux 6.10+), and on older kernels whether
    /// `getsockopt(SOL_MPTCP, MPTCP_INFO)` succeeds (it fails with `EOPNOTSUPP` or
    /// `ENOPROTOOPT` once the connection fell back). On Linux 5.6–5.15, which has neither,
    /// an MPTCP socket's answer is an error of kind `Unsupported` rather than a guess.
    ///
    /// A socket that is not an `AF_INET`/`AF_INET6` stream socket of protocol TCP or MPTCP
    /// (`SO_DOMAIN`, `SO_TYPE`, `SO_PROTOCOL`: UDP, UNIX, raw…) is an error of kind
    /// `InvalidInput`.
    fn connection_kind(&self) -> io::Result<ConnectionKind> {
        connection_kind(self.as_fd())
    }

    /// The connection's `struct mptcp_info` (`getsockopt(SOL_MPTCP, MPTCP_INFO)`, Linux 5.16+).
    ///
    /// Fails with `EOPNOTSUPP` or `ENOPROTOOPT` when the connection is not MPTCP (plain TCP,
    /// or fell back).
    fn mptcp_info(&self) -> io::Result<MptcpInfo> {
        mptcp_info_of(self.as_fd())
    }

    /// Every subflow with its addresses and `tcp_info`: one `MPTCP_FULL_INFO` call where the
    /// kernel has it (6.5+, a consistent snapshot), else `MPTCP_SUBFLOW_ADDRS` and
    /// `MPTCP_TCPINFO` (5.16+).
    ///
    /// Fails with `EOPNOTSUPP` or `ENOPROTOOPT` when the connection is not MPTCP.
    fn subflows(&self) -> io::Result<Vec<SubflowInfo>> {
        subflows_of(self.as_fd())
    }
}

impl<T: AsFd + ?Sized> MptcpExt for T {}
