//! Async MPTCP for [tokio](https://docs.rs/tokio): bind and connect with the same
//! [`Fallback`] policy as the blocking API, returning **tokio's own**
//! [`TcpListener`](::tokio::net::TcpListener) and [`TcpStream`](::tokio::net::TcpStream).
//!
//! Available with the cargo feature `tokio` (it enables only tokio's `net` feature; the
//! runtime is the application's choice). Because the results are tokio's types, axum,
//! hyper, tonic, tokio-util and everything else written for tokio keep working unchanged,
//! and [`MptcpExt`](crate::MptcpExt) answers questions about them (it works on any `AsFd`).
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use mptcp_socket::MptcpExt;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let listener = mptcp_socket::tokio::bind("127.0.0.1:0").await?;
//! let mut client = mptcp_socket::tokio::connect(listener.local_addr()?).await?;
//! let (mut server, _) = listener.accept().await?; // tokio's own accept
//! client.write_all(b"hello").await?;
//! let mut buf = [0; 5];
//! server.read_exact(&mut buf).await?;
//! println!("{}", server.connection_kind()?); // "MPTCP"
//! # Ok(())
//! # }
//! ```
//!
//! Connect is non-blocking from start to end: the socket is created non-blocking, then
//! [`TcpSocket::connect`](::tokio::net::TcpSocket::connect) waits for writability and takes `SO_ERROR`, so a refused or
//! unreachable peer is an error (`ECONNREFUSED`, …), never a "connected" socket that fails
//! on first use. Connection errors are returned as they are, under either policy: only the
//! kernel's "MPTCP is unavailable" answer to `socket(2)` ever leads to plain TCP.
//!
//! Every function must be called (and its future polled) inside a tokio runtime, the
//! multi-threaded one included: all futures are `Send`.

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::task::Poll;
use std::time::Duration;

use ::tokio::net::{lookup_host, TcpListener, TcpSocket, TcpStream, ToSocketAddrs};
use socket2::Domain;

use crate::fallback::{new_nonblocking_socket, Fallback};
use crate::racing::{both_failed, is_mptcp_socket};

/// Listen backlog, the same as tokio's `TcpListener::bind` and this crate's blocking
/// listener; use [`socket`] and `TcpSocket::listen` to choose another.
const BACKLOG: u32 = 1024;

/// Creates an unconnected MPTCP [`TcpSocket`] for `domain` (`Domain::IPV4` or
/// `Domain::IPV6`): `socket(2)` with `IPPROTO_MPTCP` and the caller's [`Fallback`] policy,
/// as [`new_socket`](crate::new_socket()) does, created with `SOCK_NONBLOCK`.
///
/// Use it to set options before `connect`/`bind`, or to choose the listen backlog; then
/// call tokio's [`TcpSocket::connect`] or [`TcpSocket::bind`] + [`TcpSocket::listen`].
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use mptcp_socket::{tokio::socket, Fallback};
/// let addr: std::net::SocketAddr = "192.0.2.1:443".parse().unwrap();
/// let socket = socket(socket2::Domain::for_address(addr), Fallback::Tcp)?;
/// socket.set_nodelay(true)?;
/// let _stream = socket.connect(addr).await?;
/// # Ok(())
/// # }
/// ```
pub fn socket(domain: Domain, fallback: Fallback) -> io::Result<TcpSocket> {
    // tokio's reactor needs O_NONBLOCK (`from_std_stream` leaves it to the caller): set by
    // socket(2) itself, no extra fcntl(2).
    let socket = new_nonblocking_socket(domain, fallback)?;
    Ok(TcpSocket::from_std_stream(socket.into()))
}

/// Opens an MPTCP connection to `addr`, falling back to a TCP socket where the kernel has
/// no MPTCP ([`Fallback::Tcp`]). Each resolved address is tried in turn, as tokio's
/// `TcpStream::connect` does; the last error is returned when all fail.
///
/// The peer may still not speak MPTCP: then the connection falls back to TCP inside the
/// kernel. Ask [`MptcpExt::connection_kind`](crate::MptcpExt::connection_kind).
pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
    connect_with(addr, Fallback::Tcp).await
}

/// Like [`connect`], with the caller's [`Fallback`] policy ([`Fallback::Never`]: fail with
/// an [`UnavailableError`](crate::UnavailableError) where the kernel has no MPTCP).
pub async fn connect_with<A: ToSocketAddrs>(addr: A, fallback: Fallback) -> io::Result<TcpStream> {
    each_addr(addr, |addr| async move {
        socket(Domain::for_address(addr), fallback)?
            .connect(addr)
            .await
    })
    .await
}

/// Connects like [`connect`], but if the MPTCP SYN gets no answer within `delay`
/// ([`DEFAULT_RACE_DELAY`](crate::DEFAULT_RACE_DELAY), RFC 8305's 250 ms), also starts a
/// plain TCP connection and returns whichever completes first; the other is dropped (its
/// socket closed, which aborts its handshake). A refused MPTCP attempt starts the TCP one
/// at once. The async form of
/// [`MptcpStream::connect_racing`](crate::MptcpStream::connect_racing): see there why, and
/// what it costs. Each resolved address is tried in turn.
///
/// The delay is a tokio timer: the runtime needs its time driver (`#[tokio::main]` and
/// `Builder::enable_all` turn it on).
pub async fn connect_racing<A: ToSocketAddrs>(addr: A, delay: Duration) -> io::Result<TcpStream> {
    each_addr(addr, |addr| race(addr, delay)).await
}

/// The race for one address; see [`connect_racing`].
async fn race(addr: SocketAddr, delay: Duration) -> io::Result<TcpStream> {
    let domain = Domain::for_address(addr);
    let first = new_nonblocking_socket(domain, Fallback::Tcp)?;
    let is_mptcp = is_mptcp_socket(&first)?;
    let first = TcpSocket::from_std_stream(first.into());
    if !is_mptcp {
        // No MPTCP in this kernel or namespace: nothing to race.
        return first.connect(addr).await;
    }
    let mptcp = first.connect(addr);
    let timer = ::tokio::time::sleep(delay);
    let mut mptcp = std::pin::pin!(mptcp);
    let mut timer = std::pin::pin!(timer);
    // Phase 1: MPTCP alone until the delay passes.
    let mptcp_err = poll_fn(|cx| match mptcp.as_mut().poll(cx) {
        Poll::Ready(Ok(stream)) => Poll::Ready(Ok(stream)),
        Poll::Ready(Err(e)) => Poll::Ready(Err(Some(e))),
        Poll::Pending => timer.as_mut().poll(cx).map(|()| Err(None)),
    })
    .await;
    let mptcp_err = match mptcp_err {
        Ok(stream) => return Ok(stream),
        Err(err) => err,
    };
    // Phase 2: plain TCP joins (or runs alone if MPTCP was refused).
    let plain = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    let tcp = plain.connect(addr);
    let mut tcp = std::pin::pin!(tcp);
    let mut errors: [Option<io::Error>; 2] = [mptcp_err, None];
    // The MPTCP attempt is polled only while it has not finished (an async fn must not be
    // polled again after it returned).
    poll_fn(|cx| {
        if errors[0].is_none() {
            match mptcp.as_mut().poll(cx) {
                Poll::Ready(Ok(stream)) => return Poll::Ready(Ok(stream)),
                Poll::Ready(Err(e)) => errors[0] = Some(e),
                Poll::Pending => {}
            }
        }
        if errors[1].is_none() {
            match tcp.as_mut().poll(cx) {
                Poll::Ready(Ok(stream)) => return Poll::Ready(Ok(stream)),
                Poll::Ready(Err(e)) => errors[1] = Some(e),
                Poll::Pending => {}
            }
        }
        if errors.iter().all(Option::is_some) {
            let [m, t] = std::mem::take(&mut errors).map(Option::unwrap);
            return Poll::Ready(Err(both_failed(addr, m, t)));
        }
        Poll::Pending
    })
    .await
}

/// Binds an MPTCP listener to `addr` (`socket(2)` with `IPPROTO_MPTCP`, `SO_REUSEADDR`,
/// `bind(2)`, `listen(2)` with a backlog of 1024), falling back to TCP where the kernel
/// has no MPTCP ([`Fallback::Tcp`]). Each resolved address is tried in turn.
///
/// The listener accepts MPTCP clients over MPTCP and plain TCP clients over TCP. Keep it
/// open while connections run: the peer's extra subflows (MP_JOIN) arrive on it.
pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
    bind_with(addr, Fallback::Tcp).await
}

/// Like [`bind`], with the caller's [`Fallback`] policy.
pub async fn bind_with<A: ToSocketAddrs>(addr: A, fallback: Fallback) -> io::Result<TcpListener> {
    each_addr(addr, |addr| async move {
        let socket = socket(Domain::for_address(addr), fallback)?;
        // As tokio and std do on Unix: a restarted server can bind while old connections
        // linger in TIME_WAIT.
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(BACKLOG)
    })
    .await
}

/// Resolves `addr` (without blocking the runtime: tokio's `lookup_host`) and runs `f` on
/// each address until one succeeds.
async fn each_addr<A, T, F, Fut>(addr: A, mut f: F) -> io::Result<T>
where
    A: ToSocketAddrs,
    F: FnMut(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last_err = None;
    for addr in lookup_host(addr).await? {
        match f(addr).await {
            Ok(value) => return Ok(value),
            Err(err) => last_err = Some(err),
        }
    }
    Err(last_err.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// The futures run on the multi-threaded runtime: they must be `Send` (compile-time
    /// check; the futures are never polled).
    #[test]
    fn futures_are_send() {
        assert_send(&connect("127.0.0.1:1"));
        assert_send(&connect(String::from("localhost:1")));
        assert_send(&connect_with(("::1", 1), Fallback::Never));
        assert_send(&bind("127.0.0.1:0"));
        assert_send(&connect_racing("127.0.0.1:1", crate::DEFAULT_RACE_DELAY));
        assert_send(&bind_with(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Fallback::Tcp,
        ));
    }
}
