//! Giving a socket the shim made MPTCP plain TCP again, in place.
//!
//! MPTCP refuses some options TCP has (`TCP_USER_TIMEOUT`, `TCP_MD5SIG`, `TCP_ULP`, `IP_TTL`,
//! `IPV6_TCLASS`, … — see `setsockopt` in the `socket_hooks` module). A program that sets one
//! before connecting would be broken by the shim (gRPC, BGP daemons and kTLS users fail on
//! the error). As long as the socket has not connected or listened, nothing has happened on
//! the wire yet, so the shim swaps it for the TCP socket the program asked for: a new socket
//! of the same family, given the options the program already set that can be read back
//! (table below), the same `O_NONBLOCK`, put at the same fd number with `dup3(2)` (keeping
//! `FD_CLOEXEC`), and bound to the same address if it was bound.
//!
//! What cannot be carried: options that cannot be read back, and other references to the
//! old socket (a `dup`ed fd, an epoll registration made before the swap).

use core::mem::{size_of, MaybeUninit};
use libc::{c_int, c_void, sockaddr, sockaddr_storage, socklen_t};
use mptcp_policy::refused_options::{self, Role};
use mptcp_policy::IPPROTO_MPTCP;

use mptcpize_preload_support::errno::errno;
use mptcpize_preload_support::raw_syscall;

use crate::{made_mptcp, next_socket_fns};

/// The role of the MPTCP socket at `fd` (`mptcp_policy::refused_options::Role`): connected,
/// listening, bound to a port (a listener to be) or a client socket, from its first
/// subflow's `tcpi_state`, its `mptcpi_token`, `getpeername` and `getsockname`. Where
/// `MPTCP_INFO` is missing (Linux < 5.16), or the socket fell back to TCP, it counts as
/// connected: never swapped.
pub fn role(fd: c_int) -> Role {
    let mut peer = MaybeUninit::<sockaddr_storage>::zeroed();
    let mut peer_len = size_of::<sockaddr_storage>() as socklen_t;
    // SAFETY: a sockaddr_storage-sized buffer.
    let has_peer = unsafe { raw_syscall::getpeername(fd, peer.as_mut_ptr().cast(), &mut peer_len) }
        == 0
        || errno() != libc::ENOTCONN;
    let port = bound_address(fd).map_or(0, |(addr, _)| refused_options::port_of(&addr));
    refused_options::socket_role(
        |level, name, buf| {
            let mut len = buf.len() as socklen_t;
            // SAFETY: a buffer of `len` bytes; the kernel copies at most that many.
            let r = unsafe {
                raw_syscall::getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut len)
            };
            (r == 0).then_some(len as usize)
        },
        has_peer,
        port,
    )
}

/// True when `fd` holds an MPTCP socket (`SO_PROTOCOL`). errno is unspecified afterwards.
pub fn is_mptcp_socket(fd: c_int) -> bool {
    get_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL) == Some(IPPROTO_MPTCP)
}

/// A plain TCP socket of the MPTCP socket's family, made to ask TCP about a refused option
/// and, if the decision is to swap, to take the MPTCP socket's place: the caller tries the
/// option on it first (an IPv6 option on an IPv4 socket fails on both, and must not cost
/// the socket its MPTCP). Dropping it closes the new socket.
pub struct Candidate {
    /// The new socket's own fd.
    pub tcp: c_int,
    fd_flags: c_int,
}

impl Drop for Candidate {
    fn drop(&mut self) {
        if self.tcp >= 0 {
            // SAFETY: the candidate owns this fd.
            raw_syscall::close(self.tcp);
        }
    }
}

/// An installed replacement.
#[derive(Copy, Clone, Debug)]
pub struct Replaced {
    /// The old socket was bound, and binding the new one to the same address failed with
    /// this errno (the fd is plain TCP, but unbound).
    pub rebind_errno: Option<c_int>,
}

impl Candidate {
    /// A plain TCP socket like the MPTCP socket at `fd`: same family, same `O_NONBLOCK`,
    /// and listening (on an ephemeral port) when `role` is `Listening`, so that its answer
    /// to an option is TCP's answer for a listening socket (`TCP_WINDOW_CLAMP` 0 is refused
    /// there); or why not. errno is unspecified afterwards (the caller sets it).
    pub fn new(fd: c_int, role: Role) -> Result<Candidate, &'static str> {
        if !is_mptcp_socket(fd) {
            return Err("not an MPTCP socket");
        }
        let domain =
            get_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN).ok_or("SO_DOMAIN unreadable")?;
        let status = raw_syscall::fcntl_get(fd, libc::F_GETFL);
        let fd_flags = raw_syscall::fcntl_get(fd, libc::F_GETFD);
        if status < 0 || fd_flags < 0 {
            return Err("fcntl failed");
        }
        // The candidate is close-on-exec until it is installed, so a concurrent fork+exec in
        // another thread cannot inherit it.
        let mut ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
        if status & libc::O_NONBLOCK != 0 {
            ty |= libc::SOCK_NONBLOCK;
        }
        // SAFETY: socket(2) with plain integers; the real one, so this shim is not re-entered.
        let tcp = unsafe { next_socket_fns::socket()(domain, ty, libc::IPPROTO_TCP) };
        if tcp < 0 {
            return Err("socket(IPPROTO_TCP) failed");
        }
        let candidate = Candidate { tcp, fd_flags };
        // listen() on an unbound socket binds it to an ephemeral port first.
        if role == Role::Listening && raw_syscall::listen(tcp, 1) != 0 {
            return Err("listen() on a TCP socket failed");
        }
        Ok(candidate)
    }

    /// What the TCP socket reports for `(level, name)` (up to 16 bytes), before the
    /// program's value is set on it: the value the socket has, which is also the MPTCP
    /// socket's (it holds none of the options MPTCP refuses).
    pub fn current(&self, level: c_int, name: c_int) -> ([u8; 16], Option<usize>) {
        let mut buf = [0u8; 16];
        let len = get_bytes(self.tcp, level, name, &mut buf);
        (buf, len)
    }

    /// Gives the TCP socket the options the program set on the MPTCP socket at `fd` that
    /// can be read back (`mptcp_policy::refused_options::carry_options`).
    fn carry_options_from(&self, fd: c_int) {
        let tcp = self.tcp;
        let set = next_socket_fns::setsockopt();
        let ipv6 = get_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN) == Some(libc::AF_INET6);
        refused_options::carry_options(
            ipv6,
            |level, name, buf| get_bytes(fd, level, name, buf),
            |level, name, buf| get_bytes(tcp, level, name, buf),
            // Best effort, through the real setsockopt (not this shim's hook).
            // SAFETY: `value` is a live slice of its length.
            |level, name, value| unsafe {
                set(
                    tcp,
                    level,
                    name,
                    value.as_ptr().cast::<c_void>(),
                    value.len() as socklen_t,
                );
            },
        );
    }
}

impl Candidate {
    /// Puts the TCP socket at `fd` in place of the MPTCP one (closing it), with the options
    /// the program set on it that can be read back, and binds it where the MPTCP socket was
    /// bound.
    pub fn install(mut self, fd: c_int) -> Result<Replaced, &'static str> {
        self.carry_options_from(fd);
        let cloexec = if self.fd_flags & libc::FD_CLOEXEC != 0 {
            libc::O_CLOEXEC
        } else {
            0
        };
        // Read here rather than kept in the candidate from `new`: a candidate that
        // held a `sockaddr_storage` is moved by `memcpy`, a libc import the dynamic loader
        // would look up in every program at load.
        let local = bound_address(fd);
        // Atomically closes the MPTCP socket and puts the TCP one at its number.
        // SAFETY: both fds are open.
        if raw_syscall::dup3(self.tcp, fd, cloexec) < 0 {
            return Err("dup3 failed");
        }
        // It is plain TCP now.
        made_mptcp::clear(fd);
        // SAFETY: the candidate's own fd; the socket stays open at `fd`.
        raw_syscall::close(self.tcp);
        self.tcp = -1;
        // The address was held by the MPTCP socket until dup3 closed it: only now can it
        // be bound again.
        let mut rebind_errno = None;
        if let Some((addr, len)) = &local {
            // SAFETY: the address the kernel returned, with its length.
            if unsafe {
                raw_syscall::bind(
                    fd,
                    (addr as *const sockaddr_storage).cast::<sockaddr>(),
                    *len,
                )
            } != 0
            {
                rebind_errno = Some(errno());
            }
        }
        Ok(Replaced { rebind_errno })
    }
}

/// The address `fd` is bound to, if it is bound.
fn bound_address(fd: c_int) -> Option<(sockaddr_storage, socklen_t)> {
    let mut local = MaybeUninit::<sockaddr_storage>::zeroed();
    let mut len = size_of::<sockaddr_storage>() as socklen_t;
    // SAFETY: a sockaddr_storage-sized buffer.
    if unsafe { raw_syscall::getsockname(fd, local.as_mut_ptr().cast(), &mut len) } != 0 {
        return None;
    }
    // SAFETY: zero-initialised, and filled by the kernel up to `len`.
    let local = unsafe { local.assume_init() };
    refused_options::is_bound(&local).then_some((local, len))
}

fn get_int(fd: c_int, level: c_int, name: c_int) -> Option<c_int> {
    let mut value: c_int = 0;
    let mut len = size_of::<c_int>() as socklen_t;
    // SAFETY: an int-sized buffer.
    let r = unsafe {
        raw_syscall::getsockopt(fd, level, name, (&mut value as *mut c_int).cast(), &mut len)
    };
    (r == 0).then_some(value)
}

/// Reads an option into a 16-byte buffer; returns the length the kernel wrote.
fn get_bytes(fd: c_int, level: c_int, name: c_int, buf: &mut [u8; 16]) -> Option<usize> {
    let mut len = buf.len() as socklen_t;
    // SAFETY: a 16-byte buffer; the kernel writes at most `len`.
    let r = unsafe { raw_syscall::getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut len) };
    (r == 0).then_some(len as usize)
}
