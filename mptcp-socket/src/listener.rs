//! [`MptcpListener`]: an MPTCP listening socket with the shape of `std::net::TcpListener`.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use socket2::{Domain, SockAddr, Socket};

use crate::fallback::{new_socket, Fallback};
use crate::stream::{each_addr, MptcpStream};

/// Listen backlog, as tokio uses: std's 128 is short for servers with bursts of connects.
const BACKLOG: i32 = 1024;

/// A Multipath TCP listening socket: `socket(…, IPPROTO_MPTCP)`, `SO_REUSEADDR`, `bind(2)`,
/// `listen(2)`.
///
/// Accepted connections are MPTCP when the client spoke MPTCP, and plain TCP (a fallen-back
/// MPTCP socket) otherwise — plain TCP clients keep working.
///
/// Keep the listener open while connections run: the peer's extra subflows (MP_JOIN)
/// arrive on it, and a closed listener refuses them, leaving the connection on one path.
#[derive(Debug)]
pub struct MptcpListener {
    inner: TcpListener,
}

impl MptcpListener {
    /// Binds an MPTCP listener to `addr`, falling back to TCP where the kernel has no MPTCP
    /// ([`Fallback::Tcp`]). Each resolved address is tried in turn, as std does.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<MptcpListener> {
        MptcpListener::bind_with(addr, Fallback::Tcp)
    }

    /// Like [`MptcpListener::bind`], with the caller's [`Fallback`] policy.
    pub fn bind_with<A: ToSocketAddrs>(addr: A, fallback: Fallback) -> io::Result<MptcpListener> {
        each_addr(addr, |addr| {
            let socket = new_socket(Domain::for_address(*addr), fallback)?;
            // As std does on Unix: a restarted server can bind while old connections linger
            // in TIME_WAIT.
            socket.set_reuse_address(true)?;
            socket.bind(&SockAddr::from(*addr))?;
            socket.listen(BACKLOG)?;
            Ok(MptcpListener::from(socket))
        })
    }

    /// Accepts a connection (`accept4(2)` with `SOCK_CLOEXEC`).
    pub fn accept(&self) -> io::Result<(MptcpStream, SocketAddr)> {
        let (stream, addr) = self.inner.accept()?;
        Ok((MptcpStream::from(stream), addr))
    }

    /// An endless iterator over accepted connections, like `TcpListener::incoming`.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The local address (`getsockname(2)`), e.g. to learn the port after binding port 0.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Sets `O_NONBLOCK`.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.inner.set_nonblocking(nonblocking)
    }

    /// Takes the pending socket error (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    /// A second handle to the same listener (`fcntl(F_DUPFD_CLOEXEC)`).
    pub fn try_clone(&self) -> io::Result<MptcpListener> {
        Ok(MptcpListener {
            inner: self.inner.try_clone()?,
        })
    }

    /// Borrows the socket as a [`socket2::SockRef`], for every option socket2 knows.
    pub fn as_socket(&self) -> socket2::SockRef<'_> {
        socket2::SockRef::from(&self.inner)
    }

    /// Borrows the inner `std::net::TcpListener`.
    pub fn as_std(&self) -> &TcpListener {
        &self.inner
    }

    /// The inner `std::net::TcpListener` (the same socket, still MPTCP).
    pub fn into_std(self) -> TcpListener {
        self.inner
    }
}

/// Iterator returned by [`MptcpListener::incoming`]: each item is `accept(2)`'s result.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a MptcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<MptcpStream>;
    fn next(&mut self) -> Option<io::Result<MptcpStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

impl AsFd for MptcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for MptcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl IntoRawFd for MptcpListener {
    fn into_raw_fd(self) -> RawFd {
        self.inner.into_raw_fd()
    }
}

impl FromRawFd for MptcpListener {
    /// Takes ownership of a listening socket.
    ///
    /// # Safety
    /// `fd` must be an open, owned, listening `SOCK_STREAM` socket.
    unsafe fn from_raw_fd(fd: RawFd) -> MptcpListener {
        MptcpListener {
            inner: unsafe { TcpListener::from_raw_fd(fd) },
        }
    }
}

impl From<OwnedFd> for MptcpListener {
    fn from(fd: OwnedFd) -> MptcpListener {
        MptcpListener {
            inner: TcpListener::from(fd),
        }
    }
}

impl From<MptcpListener> for OwnedFd {
    fn from(listener: MptcpListener) -> OwnedFd {
        listener.inner.into()
    }
}

impl From<TcpListener> for MptcpListener {
    /// Wraps a std listener (no syscall); it may be plain TCP.
    fn from(inner: TcpListener) -> MptcpListener {
        MptcpListener { inner }
    }
}

impl From<MptcpListener> for TcpListener {
    fn from(listener: MptcpListener) -> TcpListener {
        listener.inner
    }
}

impl From<Socket> for MptcpListener {
    /// Wraps a listening socket2 socket (no syscall).
    fn from(socket: Socket) -> MptcpListener {
        MptcpListener {
            inner: socket.into(),
        }
    }
}

impl From<MptcpListener> for Socket {
    fn from(listener: MptcpListener) -> Socket {
        listener.inner.into()
    }
}
