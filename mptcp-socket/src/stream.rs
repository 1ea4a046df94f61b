//! [`MptcpStream`]: a connected MPTCP socket with the shape of `std::net::TcpStream`.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket};

use crate::fallback::{new_socket, Fallback};

/// A connected Multipath TCP stream: `socket(…, IPPROTO_MPTCP)` + `connect(2)`.
///
/// It behaves like [`std::net::TcpStream`] (it is one inside, and converts to and from it
/// for free), so code written for TCP keeps working. With the default policy
/// ([`Fallback::Tcp`]) the socket is plain TCP where the kernel has no MPTCP; and a peer
/// that does not speak MPTCP makes the connection fall back to TCP. Ask
/// [`MptcpExt::connection_kind`](crate::MptcpExt::connection_kind) what you got.
#[derive(Debug)]
pub struct MptcpStream {
    inner: TcpStream,
}

/// Resolves `addr` and calls `f` on each address until one succeeds, like std does;
/// the last error is returned when all fail.
pub(crate) fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last_err = None;
    for addr in addr.to_socket_addrs()? {
        match f(&addr) {
            Ok(value) => return Ok(value),
            Err(err) => last_err = Some(err),
        }
    }
    Err(last_err.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

impl MptcpStream {
    /// Opens an MPTCP connection to `addr` (`socket(2)` with `IPPROTO_MPTCP`, then
    /// `connect(2)`), falling back to a TCP socket where the kernel has no MPTCP
    /// ([`Fallback::Tcp`]). Each resolved address is tried in turn, as std does.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<MptcpStream> {
        MptcpStream::connect_with(addr, Fallback::Tcp)
    }

    /// Like [`MptcpStream::connect`], with the caller's [`Fallback`] policy.
    pub fn connect_with<A: ToSocketAddrs>(addr: A, fallback: Fallback) -> io::Result<MptcpStream> {
        each_addr(addr, |addr| {
            let socket = new_socket(Domain::for_address(*addr), fallback)?;
            socket.connect(&SockAddr::from(*addr))?;
            Ok(MptcpStream::from(socket))
        })
    }

    /// Opens an MPTCP connection to `addr`, waiting at most `timeout` for `connect(2)`
    /// (non-blocking connect, `poll(2)`, then `SO_ERROR`), with [`Fallback::Tcp`].
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<MptcpStream> {
        MptcpStream::connect_timeout_with(addr, timeout, Fallback::Tcp)
    }

    /// Like [`MptcpStream::connect_timeout`], with the caller's [`Fallback`] policy.
    pub fn connect_timeout_with(
        addr: &SocketAddr,
        timeout: Duration,
        fallback: Fallback,
    ) -> io::Result<MptcpStream> {
        let socket = new_socket(Domain::for_address(*addr), fallback)?;
        socket.connect_timeout(&SockAddr::from(*addr), timeout)?;
        Ok(MptcpStream::from(socket))
    }

    /// The local address (`getsockname(2)`).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The peer's address (`getpeername(2)`).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// Shuts down the read, write, or both halves (`shutdown(2)`). On an MPTCP connection a
    /// write shutdown sends DATA_FIN, which ends the data stream on every subflow.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// Sets `TCP_NODELAY` (MPTCP passes it on to every subflow).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_nodelay(nodelay)
    }

    /// Reads `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.nodelay()
    }

    /// Sets `SO_RCVTIMEO` (`None`: block forever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(timeout)
    }

    /// Reads `SO_RCVTIMEO`.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.read_timeout()
    }

    /// Sets `SO_SNDTIMEO` (`None`: block forever).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_write_timeout(timeout)
    }

    /// Reads `SO_SNDTIMEO`.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        self.inner.write_timeout()
    }

    /// Sets `O_NONBLOCK` (`fcntl(2)`/`ioctl(FIONBIO)`).
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking)
    }

    /// Sets `IP_TTL`. MPTCP sockets refuse it (`EOPNOTSUPP`, Linux 6.18) — it is here so
    /// that code written for `TcpStream` compiles and learns that at run time.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.set_ttl(ttl)
    }

    /// Reads `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.ttl()
    }

    /// Takes the pending socket error (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    /// Receives data without removing it from the queue (`recv(2)` with `MSG_PEEK`).
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.peek(buf)
    }

    /// A second handle to the same connection (`fcntl(F_DUPFD_CLOEXEC)`).
    pub fn try_clone(&self) -> io::Result<MptcpStream> {
        Ok(MptcpStream {
            inner: self.inner.try_clone()?,
        })
    }

    /// Borrows the socket as a [`socket2::SockRef`], for every option socket2 knows.
    pub fn as_socket(&self) -> socket2::SockRef<'_> {
        socket2::SockRef::from(&self.inner)
    }

    /// Borrows the inner `std::net::TcpStream`.
    pub fn as_std(&self) -> &TcpStream {
        &self.inner
    }

    /// The inner `std::net::TcpStream` (the same socket, still MPTCP).
    pub fn into_std(self) -> TcpStream {
        self.inner
    }
}

impl Read for MptcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.inner.read_vectored(bufs)
    }
}

impl Read for &MptcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.inner).read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&self.inner).read_vectored(bufs)
    }
}

impl Write for MptcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.inner.write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Write for &MptcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&self.inner).write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&self.inner).write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&self.inner).flush()
    }
}

impl AsFd for MptcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for MptcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl IntoRawFd for MptcpStream {
    fn into_raw_fd(self) -> RawFd {
        self.inner.into_raw_fd()
    }
}

impl FromRawFd for MptcpStream {
    /// Takes ownership of a connected stream socket.
    ///
    /// # Safety
    /// `fd` must be an open, owned, connected `SOCK_STREAM` socket.
    unsafe fn from_raw_fd(fd: RawFd) -> MptcpStream {
        MptcpStream {
            inner: unsafe { TcpStream::from_raw_fd(fd) },
        }
    }
}

impl From<OwnedFd> for MptcpStream {
    fn from(fd: OwnedFd) -> MptcpStream {
        MptcpStream {
            inner: TcpStream::from(fd),
        }
    }
}

impl From<MptcpStream> for OwnedFd {
    fn from(stream: MptcpStream) -> OwnedFd {
        stream.inner.into()
    }
}

impl From<TcpStream> for MptcpStream {
    /// Wraps a std stream (no syscall). It may be plain TCP: ask
    /// [`MptcpExt::connection_kind`](crate::MptcpExt::connection_kind).
    fn from(inner: TcpStream) -> MptcpStream {
        MptcpStream { inner }
    }
}

impl From<MptcpStream> for TcpStream {
    fn from(stream: MptcpStream) -> TcpStream {
        stream.inner
    }
}

impl From<Socket> for MptcpStream {
    /// Wraps a connected socket2 socket (no syscall).
    fn from(socket: Socket) -> MptcpStream {
        MptcpStream {
            inner: socket.into(),
        }
    }
}

impl From<MptcpStream> for Socket {
    fn from(stream: MptcpStream) -> Socket {
        stream.inner.into()
    }
}
