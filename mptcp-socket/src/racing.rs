//! Racing connect: MPTCP first, plain TCP after a short delay, the first to complete wins
//! (Happy Eyeballs, RFC 8305, with "MPTCP" and "TCP" in place of IPv6 and IPv4).
//!
//! Why: a firewall that drops SYNs carrying an unknown TCP option (an MPTCP "blackhole")
//! makes a plain MPTCP `connect(2)` wait for the kernel. Linux 6.12+ retries without MPTCP
//! after `net.mptcp.syn_retrans_before_tcp_fallback` SYN retransmissions (2 by default:
//! ~3 s, measured in the lab, BENCHMARKS.md) and then disables MPTCP for every new client
//! socket of the network namespace for `net.mptcp.blackhole_timeout` (1 h); older kernels
//! never retry and the connect times out after minutes. Racing gets through in the delay
//! plus one round trip, and leaves the namespace's MPTCP alone: the losing MPTCP socket is
//! closed before the kernel counts its SYN retransmissions as a blackhole.
//!
//! On a path that answers within the delay, the race never starts: one socket, one SYN,
//! the same cost as [`MptcpStream::connect`].

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::fallback::{new_nonblocking_socket, Fallback};
use crate::stream::{each_addr, MptcpStream};

/// The delay before plain TCP joins the race: 250 ms, RFC 8305's recommended "Connection
/// Attempt Delay" (section 5; at least 100 ms, at most 2 s). It is longer than the round
/// trip of almost every terrestrial path, so on a path that answers the race never starts,
/// and far shorter than the kernel's own blackhole fallback (the first SYN retransmission
/// alone comes after the initial RTO, 1 s). On a path slower than the delay both SYNs go
/// out and the MPTCP one, sent first, normally completes first: the cost is one extra SYN.
pub const DEFAULT_RACE_DELAY: Duration = Duration::from_millis(250);

/// True when `socket` is an MPTCP socket (`SO_PROTOCOL` is `IPPROTO_MPTCP`); false for the
/// plain TCP socket [`Fallback::Tcp`] gives where the kernel has no MPTCP.
pub(crate) fn is_mptcp_socket(socket: &Socket) -> io::Result<bool> {
    Ok(socket.protocol()? == Some(Protocol::from(mptcp_sys::IPPROTO_MPTCP)))
}

/// Both attempts failed: one error naming each, of the kind of the TCP attempt's (the
/// answer a plain `connect` would have given).
pub(crate) fn both_failed(addr: SocketAddr, mptcp: io::Error, tcp: io::Error) -> io::Error {
    io::Error::new(
        tcp.kind(),
        format!("connect to {addr} failed over MPTCP ({mptcp}) and over plain TCP ({tcp})"),
    )
}

/// One connection attempt: a non-blocking socket whose `connect(2)` is in progress.
struct Attempt {
    socket: Socket,
}

impl Attempt {
    /// `connect(2)` on a non-blocking socket: `Ok(Some)` still in progress (`EINPROGRESS`),
    /// `Ok(None)` connected at once (the socket is returned through `connected`).
    fn start(socket: Socket, addr: SocketAddr) -> io::Result<Result<Attempt, Socket>> {
        match socket.connect(&SockAddr::from(addr)) {
            Ok(()) => Ok(Err(socket)),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(Ok(Attempt { socket })),
            Err(e) => Err(e),
        }
    }

    /// The outcome once `poll(2)` reported the socket writable or in error: `SO_ERROR`
    /// (tokio's check; without it a refused connect would look connected).
    fn finish(self) -> io::Result<Socket> {
        match self.socket.take_error()? {
            Some(err) => Err(err),
            None => Ok(self.socket),
        }
    }
}

/// Waits with `poll(2)` until one of `attempts` (`None` entries skipped) is writable or in
/// error, or `timeout` (`None`: no limit) passes; returns which one, or `None` on timeout.
fn wait_any(
    attempts: [Option<&Attempt>; 2],
    timeout: Option<Duration>,
) -> io::Result<Option<usize>> {
    let (which, mut fds): (Vec<usize>, Vec<libc::pollfd>) = attempts
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            let fd = (*a)?.socket.as_raw_fd();
            Some((
                i,
                libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                },
            ))
        })
        .unzip();
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let ms = match deadline {
            None => -1,
            // Rounded up: poll(2) must not return before the deadline and spin.
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .as_micros()
                .div_ceil(1000)
                .min(i32::MAX as u128) as libc::c_int,
        };
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs for the whole call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if let Some(pos) = fds.iter().position(|p| p.revents != 0) {
            return Ok(Some(which[pos]));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
    }
}

/// A plain TCP socket, non-blocking (`socket(2)` with `IPPROTO_TCP`).
fn plain_tcp_socket(domain: Domain) -> io::Result<Socket> {
    Socket::new(domain, Type::STREAM.nonblocking(), Some(Protocol::TCP))
}

/// The race for one address; see [`MptcpStream::connect_racing`].
fn race(addr: SocketAddr, delay: Duration) -> io::Result<Socket> {
    let domain = Domain::for_address(addr);
    let first = new_nonblocking_socket(domain, Fallback::Tcp)?;
    if !is_mptcp_socket(&first)? {
        // No MPTCP in this kernel or namespace: nothing to race.
        first.set_nonblocking(false)?;
        first.connect(&SockAddr::from(addr))?;
        return Ok(first);
    }
    let started = Instant::now();
    // [MPTCP, TCP]: in progress, or `None` once finished (failed) or not started.
    let mut attempts: [Option<Attempt>; 2] = [None, None];
    let mut errors: [Option<io::Error>; 2] = [None, None];
    match Attempt::start(first, addr) {
        Ok(Ok(attempt)) => attempts[0] = Some(attempt),
        Ok(Err(connected)) => return Ok(connected),
        Err(e) => errors[0] = Some(e),
    }
    loop {
        let tcp_due = attempts[1].is_none()
            && errors[1].is_none()
            && (attempts[0].is_none() || started.elapsed() >= delay);
        if tcp_due {
            // The MPTCP SYN got no answer within the delay, or was refused (a box may
            // answer MPTCP SYNs with a reset): plain TCP joins.
            match plain_tcp_socket(domain).and_then(|s| Attempt::start(s, addr)) {
                Ok(Ok(attempt)) => attempts[1] = Some(attempt),
                Ok(Err(connected)) => return Ok(connected),
                Err(e) => errors[1] = Some(e),
            }
        }
        if attempts.iter().all(Option::is_none) {
            let [mptcp, tcp] = errors;
            return Err(match (mptcp, tcp) {
                (Some(m), Some(t)) => both_failed(addr, m, t),
                (Some(e), None) | (None, Some(e)) => e,
                (None, None) => unreachable!("an attempt ended without success or error"),
            });
        }
        let timeout = if attempts[1].is_none() && errors[1].is_none() {
            Some(delay.saturating_sub(started.elapsed()))
        } else {
            None
        };
        let Some(ready) = wait_any([attempts[0].as_ref(), attempts[1].as_ref()], timeout)? else {
            continue; // The delay passed: TCP is due.
        };
        let attempt = attempts[ready]
            .take()
            .expect("poll reported a live attempt");
        match attempt.finish() {
            // The other attempt, if any, is dropped here: close(2) aborts its handshake.
            Ok(socket) => return Ok(socket),
            Err(e) => errors[ready] = Some(e),
        }
    }
}

impl MptcpStream {
    /// Connects to `addr` like [`MptcpStream::connect`], but if the MPTCP SYN gets no answer
    /// within `delay` ([`DEFAULT_RACE_DELAY`] is RFC 8305's 250 ms), also starts a plain
    /// TCP connection, and returns whichever completes first; the other socket is closed.
    /// A refused MPTCP attempt starts the TCP one at once. Each resolved address is tried
    /// in turn, as std does.
    ///
    /// Made of non-blocking `socket(2)` (`IPPROTO_MPTCP`, then `IPPROTO_TCP`), `connect(2)`,
    /// `poll(2)` and `SO_ERROR`; the returned stream is blocking again. Through a firewall
    /// that drops MPTCP SYNs it connects in `delay` plus one round trip instead of the
    /// kernel's seconds, and does not trigger the kernel's blackhole detection (which
    /// would turn MPTCP off for the whole network namespace). When TCP won,
    /// [`MptcpExt::connection_kind`](crate::MptcpExt::connection_kind) says
    /// [`ConnectionKind::Tcp`](crate::ConnectionKind::Tcp).
    ///
    /// Nothing is remembered between calls: each one races anew (the cost through a
    /// blackhole is `delay` per connection).
    pub fn connect_racing<A: ToSocketAddrs>(addr: A, delay: Duration) -> io::Result<MptcpStream> {
        each_addr(addr, |addr| {
            let socket = race(*addr, delay)?;
            socket.set_nonblocking(false)?;
            Ok(MptcpStream::from(socket))
        })
    }
}
