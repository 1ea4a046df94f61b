//! What a connection really is: MPTCP, fallen back, or plain TCP; `struct mptcp_info`;
//! and its subflows with their addresses and `tcp_info`.

use std::io;
use std::mem::{offset_of, size_of};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use mptcp_sys::{
    mptcp_full_info, mptcp_info, mptcp_subflow_addrs, mptcp_subflow_data, mptcp_subflow_info,
    tcp_info, IPPROTO_MPTCP, MPTCP_FULL_INFO, MPTCP_INFO, MPTCP_INFO_FLAG_FALLBACK,
    MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED, MPTCP_INFO_SIZE_V1, MPTCP_INFO_SIZE_V2,
    MPTCP_INFO_SIZE_V3, MPTCP_INFO_SIZE_V4, MPTCP_SUBFLOW_ADDRS, MPTCP_TCPINFO, SOL_MPTCP,
    TCP_IS_MPTCP,
};

use zerocopy::IntoBytes;

use crate::sys::{getsockopt_bytes, getsockopt_int, read_pod, read_prefix};

/// What a TCP-like socket really is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ConnectionKind {
    /// An MPTCP socket that speaks MPTCP (or a listener / not-yet-connected MPTCP socket).
    Mptcp,
    /// An MPTCP socket whose connection fell back to plain TCP: the peer, or a middlebox on
    /// the path, does not speak MPTCP. One path only.
    FellBack,
    /// A plain TCP socket (`SO_PROTOCOL` is `IPPROTO_TCP`): the kernel had no MPTCP and
    /// [`Fallback::Tcp`](crate::Fallback::Tcp) applied, or the socket never was MPTCP. An
    /// MPTCP listener also hands out plain TCP sockets for clients that did not ask for
    /// MPTCP (measured on Linux 6.18): the peer's choice, seen from the server.
    Tcp,
}

impl ConnectionKind {
    /// True for [`ConnectionKind::Mptcp`].
    pub fn is_mptcp(self) -> bool {
        self == ConnectionKind::Mptcp
    }
}

impl std::fmt::Display for ConnectionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConnectionKind::Mptcp => "MPTCP",
            ConnectionKind::FellBack => "MPTCP fell back to TCP",
            ConnectionKind::Tcp => "TCP",
        })
    }
}

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

/// One subflow of an MPTCP connection: a TCP connection between two addresses.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SubflowInfo {
    /// The subflow's id within the connection (`MPTCP_FULL_INFO`, Linux 6.5+).
    pub id: Option<u32>,
    /// Its local address and port.
    pub local: SocketAddr,
    /// Its remote address and port.
    pub remote: SocketAddr,
    /// Its `tcp_info` (`None` when the kernel gave none for it).
    pub tcp: Option<TcpInfo>,
}

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

fn connection_kind(fd: BorrowedFd<'_>) -> io::Result<ConnectionKind> {
    let domain = getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN)?;
    let kind = getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE)?;
    let protocol = getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL)?;
    if tcp_like(domain, kind, protocol)? == ConnectionKind::Tcp {
        return Ok(ConnectionKind::Tcp);
    }
    let is_mptcp = getsockopt_int(fd, libc::SOL_TCP, TCP_IS_MPTCP);
    // MPTCP_INFO is only asked where TCP_IS_MPTCP (6.10+) gave no answer.
    let info = match &is_mptcp {
        Err(err) if err.raw_os_error() == Some(libc::ENOPROTOOPT) => Some(mptcp_info_of(fd)),
        _ => None,
    };
    decide_kind(is_mptcp, info, kernel_has_mptcp_sockopts)
}

/// Sorts a socket by `SO_DOMAIN`, `SO_TYPE` and `SO_PROTOCOL`: [`ConnectionKind::Tcp`] for
/// an IPv4/IPv6 stream socket of protocol TCP, [`ConnectionKind::Mptcp`] (to be refined)
/// for one of protocol MPTCP, and an `InvalidInput` error for anything else (UDP, UNIX,
/// raw, SCTP…), which no MPTCP question applies to.
fn tcp_like(
    domain: libc::c_int,
    kind: libc::c_int,
    protocol: libc::c_int,
) -> io::Result<ConnectionKind> {
    let inet = matches!(domain, libc::AF_INET | libc::AF_INET6);
    match (inet, kind, protocol) {
        (true, libc::SOCK_STREAM, libc::IPPROTO_TCP) => Ok(ConnectionKind::Tcp),
        (true, libc::SOCK_STREAM, IPPROTO_MPTCP) => Ok(ConnectionKind::Mptcp),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "not a TCP or MPTCP socket (SO_DOMAIN {domain}, SO_TYPE {kind}, SO_PROTOCOL \
                 {protocol}): only an AF_INET/AF_INET6 SOCK_STREAM socket has a connection kind"
            ),
        )),
    }
}

/// The decision of [`MptcpExt::connection_kind`] for an MPTCP socket (`SO_PROTOCOL` 262),
/// from the answers of `TCP_IS_MPTCP` and, where that is unknown, `MPTCP_INFO`.
///
/// `MPTCP_INFO` failing with `EOPNOTSUPP`/`ENOPROTOOPT` means "fell back" only on kernels
/// that have the `SOL_MPTCP` options at all (5.16+); before, it fails on every MPTCP
/// socket and nothing available to a program tells fallback apart: that is an error, not a
/// guess. `has_sockopts` is only called in that case; its error (no probe socket) is the
/// answer's.
fn decide_kind(
    is_mptcp: io::Result<libc::c_int>,
    info: Option<io::Result<MptcpInfo>>,
    has_sockopts: impl FnOnce() -> io::Result<bool>,
) -> io::Result<ConnectionKind> {
    match is_mptcp {
        Ok(0) => return Ok(ConnectionKind::FellBack),
        Ok(_) => return Ok(ConnectionKind::Mptcp),
        // Linux < 6.10 does not know TCP_IS_MPTCP: MPTCP_INFO decides.
        Err(err) if err.raw_os_error() == Some(libc::ENOPROTOOPT) => {}
        Err(err) => return Err(err),
    }
    match info {
        Some(Ok(info)) if info.fell_back() => Ok(ConnectionKind::FellBack),
        Some(Ok(_)) => Ok(ConnectionKind::Mptcp),
        Some(Err(err)) if is_not_mptcp_errno(&err) => {
            if has_sockopts()? {
                Ok(ConnectionKind::FellBack)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "this kernel (Linux < 5.16) has no SOL_MPTCP socket options: an MPTCP \
                     socket cannot tell whether its connection fell back to TCP",
                ))
            }
        }
        Some(Err(err)) => Err(err),
        None => Err(io::Error::other("TCP_IS_MPTCP gave no answer")),
    }
}

/// Whether this kernel answers `SOL_MPTCP` socket options (Linux 5.16+): `MPTCP_INFO` on a
/// fresh MPTCP socket (which has not fallen back, so the option succeeds where it exists).
///
/// What the kernel was built with does not change while a program runs, so an answer from
/// a probe socket is kept. Whether a probe socket can be made does change: `socket(2)`
/// refuses `IPPROTO_MPTCP` in a network namespace with `net.mptcp.enabled=0`, and the
/// sysctl can be switched at any time. Then the answer is an error naming the cause, and
/// nothing is kept: the next call probes again.
#[doc(hidden)]
pub fn kernel_has_mptcp_sockopts() -> io::Result<bool> {
    static ANSWER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if let Some(answer) = ANSWER.get() {
        return Ok(*answer);
    }
    let probe = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::from(IPPROTO_MPTCP)),
    )
    .map_err(|err| {
        io::Error::new(
            err.kind(),
            format!(
                "cannot tell whether this kernel has the SOL_MPTCP socket options: no MPTCP \
                 probe socket ({err}); where net.mptcp.enabled=0 in this network namespace, \
                 `sysctl -w net.mptcp.enabled=1` allows it"
            ),
        )
    })?;
    Ok(*ANSWER.get_or_init(|| mptcp_info_of(probe.as_fd()).is_ok()))
}

/// `MPTCP_INFO` & co. on a fallen-back socket: `EOPNOTSUPP` (IPv4) or `ENOPROTOOPT` (IPv6).
fn is_not_mptcp_errno(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EOPNOTSUPP) | Some(libc::ENOPROTOOPT)
    )
}

fn mptcp_info_of(fd: BorrowedFd<'_>) -> io::Result<MptcpInfo> {
    let mut buf = [0u8; size_of::<mptcp_info>()];
    let len = getsockopt_bytes(fd, SOL_MPTCP, MPTCP_INFO, &mut buf)?;
    MptcpInfo::from_bytes(&buf[..len]).ok_or_else(|| short_answer("MPTCP_INFO", len))
}

fn short_answer(what: &str, len: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("getsockopt({what}) answered {len} bytes, fewer than any kernel writes"),
    )
}

/// Subflows fetched per call before asking again with the kernel's count.
const INITIAL_SUBFLOWS: usize = 8;

fn subflows_of(fd: BorrowedFd<'_>) -> io::Result<Vec<SubflowInfo>> {
    match full_info(fd) {
        Err(err) if is_old_kernel_errno(&err) && !is_not_mptcp(fd) => subflows_split(fd),
        other => other,
    }
}

/// `MPTCP_FULL_INFO` unknown (Linux < 6.5): `EOPNOTSUPP`/`ENOPROTOOPT`; some versions
/// answered `EINVAL` to unknown options.
fn is_old_kernel_errno(err: &io::Error) -> bool {
    is_not_mptcp_errno(err) || err.raw_os_error() == Some(libc::EINVAL)
}

fn is_not_mptcp(fd: BorrowedFd<'_>) -> bool {
    mptcp_info_of(fd).is_err_and(|err| is_not_mptcp_errno(&err))
}

fn full_info(fd: BorrowedFd<'_>) -> io::Result<Vec<SubflowInfo>> {
    let mut capacity = INITIAL_SUBFLOWS;
    loop {
        let mut sf = vec![zeroed_subflow_info(); capacity];
        let mut tcp = vec![tcp_info::default(); capacity];
        let mut full = mptcp_full_info {
            size_tcpinfo_user: size_of::<tcp_info>() as u32,
            size_sfinfo_user: size_of::<mptcp_subflow_info>() as u32,
            size_arrays_user: capacity as u32,
            subflow_info: sf.as_mut_ptr() as u64,
            tcp_info: tcp.as_mut_ptr() as u64,
            ..Default::default()
        };
        // Besides `full`, the kernel writes at most size_arrays_user elements of the given
        // sizes to the two arrays, through the pointers above: they live until after the
        // call, and nothing borrows them meanwhile.
        getsockopt_bytes(fd, SOL_MPTCP, MPTCP_FULL_INFO, full.as_mut_bytes())?;
        let total = full.num_subflows as usize;
        if total > capacity {
            // More subflows appeared than fit: ask again with room for all of them.
            capacity = total;
            continue;
        }
        let sf_len = (full.size_sfinfo_kernel as usize).min(size_of::<mptcp_subflow_info>());
        let tcp_len = (full.size_tcpinfo_kernel as usize).min(size_of::<tcp_info>());
        return Ok(sf[..total]
            .iter()
            .zip(&tcp[..total])
            .filter_map(|(sf, tcp)| {
                let (local, remote) = addrs(&sf.addrs)?;
                Some(SubflowInfo {
                    id: (sf_len >= size_of::<u32>()).then_some(sf.id),
                    local,
                    remote,
                    tcp: TcpInfo::from_bytes(&tcp.as_bytes()[..tcp_len]),
                })
            })
            .collect());
    }
}

fn zeroed_subflow_info() -> mptcp_subflow_info {
    // SAFETY: integers and sockaddr unions: all-zero is valid.
    unsafe { std::mem::zeroed() }
}

/// Runs one `MPTCP_SUBFLOW_ADDRS`/`MPTCP_TCPINFO` query: a `mptcp_subflow_data` header, then
/// elements of `elem` bytes. Returns the raw elements (each `min(size_user, size_kernel)`
/// valid bytes, padded to `elem`) and how many bytes of each are valid.
fn subflow_query(
    fd: BorrowedFd<'_>,
    name: libc::c_int,
    elem: usize,
) -> io::Result<(Vec<Vec<u8>>, usize)> {
    const HEADER: usize = size_of::<mptcp_subflow_data>();
    let mut capacity = INITIAL_SUBFLOWS;
    loop {
        // u64 storage keeps the 8-byte alignment the header and sockaddrs want.
        let mut storage = vec![0u64; (HEADER + capacity * elem).div_ceil(8)];
        let buf = storage.as_mut_bytes();
        let header = mptcp_subflow_data {
            size_subflow_data: HEADER as u32,
            size_user: elem as u32,
            ..Default::default()
        };
        buf[..HEADER].copy_from_slice(header.as_bytes());
        let len = getsockopt_bytes(fd, SOL_MPTCP, name, &mut buf[..HEADER + capacity * elem])?;
        if len < HEADER {
            return Err(short_answer("MPTCP_SUBFLOW_DATA", len));
        }
        let header: mptcp_subflow_data = read_prefix(&buf[..HEADER]);
        let total = header.num_subflows as usize;
        if total > capacity {
            capacity = total;
            continue;
        }
        let valid = (header.size_kernel as usize).min(elem);
        let copied = ((len - HEADER) / elem.max(1)).min(total);
        let elems = (0..copied)
            .map(|i| buf[HEADER + i * elem..HEADER + (i + 1) * elem].to_vec())
            .collect();
        return Ok((elems, valid));
    }
}

/// The subflows from `MPTCP_SUBFLOW_ADDRS` + `MPTCP_TCPINFO` only, as on kernels before
/// 6.5; public so that tests can compare both paths on a new kernel.
#[doc(hidden)]
pub fn subflows_without_full_info(fd: BorrowedFd<'_>) -> io::Result<Vec<SubflowInfo>> {
    subflows_split(fd)
}

fn subflows_split(fd: BorrowedFd<'_>) -> io::Result<Vec<SubflowInfo>> {
    let (addrs_raw, _) = subflow_query(fd, MPTCP_SUBFLOW_ADDRS, size_of::<mptcp_subflow_addrs>())?;
    // TCPINFO is a second call: a subflow may come or go in between, so pair by index and
    // leave tcp_info out where the counts disagree.
    let tcp = subflow_query(fd, MPTCP_TCPINFO, size_of::<tcp_info>()).ok();
    let tcp = tcp.filter(|(elems, _)| elems.len() == addrs_raw.len());
    Ok(addrs_raw
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| {
            // SAFETY: sockaddr unions of integers.
            let sa: mptcp_subflow_addrs = unsafe { read_pod(raw) };
            let (local, remote) = addrs(&sa)?;
            let tcp = tcp
                .as_ref()
                .and_then(|(elems, valid)| TcpInfo::from_bytes(&elems[i][..*valid]));
            Some(SubflowInfo {
                id: None,
                local,
                remote,
                tcp,
            })
        })
        .collect())
}

fn addrs(sa: &mptcp_subflow_addrs) -> Option<(SocketAddr, SocketAddr)> {
    // SAFETY: the kernel wrote a sockaddr_in or sockaddr_in6, whose family field lies at
    // the same offset; every union member is plain data.
    unsafe {
        let local = sockaddr_to_std(
            sa.local.sa_family,
            &sa.local.sin_local,
            &sa.local.sin6_local,
        )?;
        let remote = sockaddr_to_std(
            sa.remote.sa_remote.sa_family,
            &sa.remote.sin_remote,
            &sa.remote.sin6_remote,
        )?;
        Some((local, remote))
    }
}

fn sockaddr_to_std(
    family: libc::sa_family_t,
    sin: &libc::sockaddr_in,
    sin6: &libc::sockaddr_in6,
) -> Option<SocketAddr> {
    match i32::from(family) {
        libc::AF_INET => Some(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
            u16::from_be(sin.sin_port),
        ))),
        libc::AF_INET6 => Some(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(sin6.sin6_addr.s6_addr),
            u16::from_be(sin6.sin6_port),
            sin6.sin6_flowinfo,
            sin6.sin6_scope_id,
        ))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn connection_kind_decisions() {
        fn errno<T>(e: i32) -> io::Result<T> {
            Err(io::Error::from_raw_os_error(e))
        }
        let info = |flags| {
            let raw = mptcp_info {
                mptcpi_flags: flags,
                ..Default::default()
            };
            Some(Ok(MptcpInfo::from_bytes(raw.as_bytes()).unwrap()))
        };
        let never = || -> io::Result<bool> { panic!("the probe is not needed here") };
        use ConnectionKind::*;
        // Linux 6.10+: TCP_IS_MPTCP answers.
        assert_eq!(decide_kind(Ok(1), None, never).unwrap(), Mptcp);
        assert_eq!(decide_kind(Ok(0), None, never).unwrap(), FellBack);
        // 5.16–6.9: MPTCP_INFO answers, or fails once fallen back (IPv4 / IPv6 errnos).
        let old = || errno::<libc::c_int>(libc::ENOPROTOOPT);
        assert_eq!(decide_kind(old(), info(0), never).unwrap(), Mptcp);
        assert_eq!(
            decide_kind(old(), info(MPTCP_INFO_FLAG_FALLBACK), never).unwrap(),
            FellBack
        );
        for e in [libc::EOPNOTSUPP, libc::ENOPROTOOPT] {
            assert_eq!(
                decide_kind(old(), Some(errno(e)), || Ok(true)).unwrap(),
                FellBack
            );
            // 5.6–5.15: no SOL_MPTCP options at all: no guess.
            let err = decide_kind(old(), Some(errno(e)), || Ok(false)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::Unsupported);
            // No probe socket (MPTCP disabled in this namespace): that error, not a guess.
            let err = decide_kind(old(), Some(errno(e)), || errno(libc::ENOPROTOOPT)).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ENOPROTOOPT));
        }
        // Other errors are the caller's.
        assert_eq!(
            decide_kind(errno::<libc::c_int>(libc::EBADF), None, never)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::EBADF)
        );
        assert_eq!(
            decide_kind(old(), Some(errno(libc::EFAULT)), never)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::EFAULT)
        );
    }

    #[test]
    fn only_inet_stream_sockets_have_a_kind() {
        use libc::{AF_INET, AF_INET6, AF_UNIX, IPPROTO_TCP, IPPROTO_UDP, SOCK_DGRAM, SOCK_STREAM};
        for domain in [AF_INET, AF_INET6] {
            assert_eq!(
                tcp_like(domain, SOCK_STREAM, IPPROTO_TCP).unwrap(),
                ConnectionKind::Tcp
            );
            assert_eq!(
                tcp_like(domain, SOCK_STREAM, IPPROTO_MPTCP).unwrap(),
                ConnectionKind::Mptcp
            );
            assert!(tcp_like(domain, SOCK_DGRAM, IPPROTO_UDP).is_err());
            assert!(tcp_like(domain, libc::SOCK_SEQPACKET, libc::IPPROTO_SCTP).is_err());
        }
        let err = tcp_like(AF_UNIX, SOCK_STREAM, 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("SO_DOMAIN 1"), "{err}");
    }

    #[test]
    #[cfg_attr(miri, ignore = "opens a socket and reads /proc")]
    fn this_kernel_has_mptcp_sockopts() {
        let enabled =
            std::fs::read_to_string("/proc/sys/net/mptcp/enabled").is_ok_and(|v| v.trim() == "1");
        let reason = "MPTCP is not enabled here (net.mptcp.enabled)";
        if mptcp_tests::skip_unless(
            "this_kernel_has_mptcp_sockopts",
            (!enabled).then_some(reason),
        ) {
            assert!(
                kernel_has_mptcp_sockopts().unwrap(),
                "Linux 5.16+ expected here"
            );
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
