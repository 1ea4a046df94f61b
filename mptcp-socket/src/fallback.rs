//! Creating MPTCP sockets, and the caller's policy for when the kernel cannot.

use std::fmt;
use std::io;

use mptcp_policy::Unavailable;
use socket2::{Domain, Protocol, Socket, Type};

/// What to do when the kernel cannot create an MPTCP socket.
///
/// Only the kernel's "MPTCP is unavailable" answers to `socket(2)` count
/// ([`Unavailable`]: `ENOPROTOOPT`, `EPROTONOSUPPORT`, `EINVAL`). Connection errors such as
/// `ECONNREFUSED` or a timeout are returned as they are under either policy: retrying them
/// over TCP would only double the wait.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Fallback {
    /// Use a plain TCP socket instead (the default): the program works everywhere, and
    /// [`MptcpExt::connection_kind`](crate::MptcpExt::connection_kind) tells what it got.
    #[default]
    Tcp,
    /// Never use plain TCP: fail with an [`UnavailableError`] that names the cause and the
    /// fix.
    Never,
}

/// The error of [`Fallback::Never`] when the kernel cannot create an MPTCP socket.
///
/// It reaches the caller inside an [`io::Error`] (kind [`io::ErrorKind::Unsupported`]);
/// [`UnavailableError::from_io`] finds it again, and [`UnavailableError::raw_os_error`]
/// gives the kernel's errno.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct UnavailableError {
    reason: Unavailable,
}

impl UnavailableError {
    /// Why MPTCP is unavailable.
    pub fn reason(&self) -> Unavailable {
        self.reason
    }

    /// The errno `socket(…, IPPROTO_MPTCP)` failed with.
    pub fn raw_os_error(&self) -> i32 {
        self.reason.errno()
    }

    /// The `UnavailableError` inside `err`, if that is what it carries.
    pub fn from_io(err: &io::Error) -> Option<&UnavailableError> {
        err.get_ref()?.downcast_ref()
    }
}

impl fmt::Display for UnavailableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({})",
            self.reason.message(),
            io::Error::from_raw_os_error(self.reason.errno())
        )
    }
}

impl std::error::Error for UnavailableError {}

impl From<UnavailableError> for io::Error {
    fn from(err: UnavailableError) -> io::Error {
        io::Error::new(io::ErrorKind::Unsupported, err)
    }
}

/// Creates a stream socket for `domain` (`Domain::IPV4` or `Domain::IPV6`) with
/// `socket(domain, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_MPTCP)`, applying `fallback` when the
/// kernel cannot give MPTCP.
///
/// Use it when you need to set socket options before `connect(2)`/`bind(2)`; then turn the
/// socket into an [`MptcpStream`](crate::MptcpStream) or
/// [`MptcpListener`](crate::MptcpListener) with `From`.
pub fn new_socket(domain: Domain, fallback: Fallback) -> io::Result<Socket> {
    socket_of_type(domain, Type::STREAM, fallback)
}

/// Like [`new_socket`], with `SOCK_NONBLOCK` set by the same `socket(2)` call (no extra
/// `fcntl(2)`), as event loops such as tokio's need.
pub fn new_nonblocking_socket(domain: Domain, fallback: Fallback) -> io::Result<Socket> {
    socket_of_type(domain, Type::STREAM.nonblocking(), fallback)
}

fn socket_of_type(domain: Domain, ty: Type, fallback: Fallback) -> io::Result<Socket> {
    match Socket::new(domain, ty, Some(Protocol::from(mptcp_sys::IPPROTO_MPTCP))) {
        Ok(socket) => Ok(socket),
        Err(err) => match (
            err.raw_os_error().and_then(Unavailable::from_errno),
            fallback,
        ) {
            (Some(_), Fallback::Tcp) => Socket::new(domain, ty, Some(Protocol::TCP)),
            (Some(reason), Fallback::Never) => Err(UnavailableError { reason }.into()),
            (None, _) => Err(err),
        },
    }
}

/// Whether MPTCP can be used in this network namespace right now.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Availability {
    /// `socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP)` succeeds.
    Available,
    /// The kernel refuses MPTCP sockets, for this reason.
    Unavailable(Unavailable),
}

impl Availability {
    /// True for [`Availability::Available`].
    pub fn is_available(self) -> bool {
        self == Availability::Available
    }
}

/// Asks the kernel whether MPTCP sockets can be created in the calling thread's network
/// namespace now, by creating and closing one (`socket(2)` + `close(2)`, a few µs).
///
/// The answer is not cached: `net.mptcp.enabled` can change while a program runs. Errors
/// other than the three "unavailable" errnos (e.g. `EMFILE`) are returned as errors.
pub fn available() -> io::Result<Availability> {
    match Socket::new(
        Domain::IPV4,
        Type::STREAM,
        Some(Protocol::from(mptcp_sys::IPPROTO_MPTCP)),
    ) {
        Ok(_socket) => Ok(Availability::Available),
        Err(err) => match err.raw_os_error().and_then(Unavailable::from_errno) {
            Some(reason) => Ok(Availability::Unavailable(reason)),
            None => Err(err),
        },
    }
}
