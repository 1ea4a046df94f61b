//! Giving a socket the shim made MPTCP plain TCP again, in place.
//!
//! MPTCP refuses some options TCP has (`TCP_USER_TIMEOUT`, `TCP_MD5SIG`, `TCP_ULP`, `IP_TTL`,
//! `IPV6_TCLASS`, … — see `setsockopt` in the `hooks` module). A program that sets one
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
use mptcp_policy::{plain_tcp, IPPROTO_MPTCP};

use mptcpize_preload_support::errno::errno;
use mptcpize_preload_support::sys;

use crate::{made_mptcp, real};

/// True when the MPTCP socket at `fd` has never started a connection and is not listening
/// (`mptcp_policy::plain_tcp::never_connected`, from its first subflow's `tcpi_state` and
/// its `mptcpi_token`). Where `MPTCP_INFO` is missing (Linux < 5.16), or the socket fell
/// back to TCP, this says no: the socket is left as it is.
fn never_connected(fd: c_int) -> bool {
    plain_tcp::socket_never_connected(|level, name, buf| {
        let mut len = buf.len() as socklen_t;
        // SAFETY: a buffer of `len` bytes; the kernel copies at most that many.
        let r = unsafe { sys::getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut len) };
        (r == 0).then_some(len as usize)
    })
}

/// True when `fd` holds an MPTCP socket (`SO_PROTOCOL`). errno is unspecified afterwards.
pub fn is_mptcp_socket(fd: c_int) -> bool {
    get_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL) == Some(IPPROTO_MPTCP)
}

/// A plain TCP socket made to take the place of an MPTCP one, not installed yet: the
/// caller first tries the refused option on it, and installs it only if TCP accepts what
/// MPTCP refused (an IPv6 option on an IPv4 socket fails on both, and must not cost the
/// socket its MPTCP). Dropping it closes the new socket.
pub struct Candidate {
    /// The new socket's own fd.
    pub tcp: c_int,
    fd_flags: c_int,
}

impl Drop for Candidate {
    fn drop(&mut self) {
        if self.tcp >= 0 {
            // SAFETY: the candidate owns this fd.
            sys::close(self.tcp);
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

/// Prepares a plain TCP socket to replace the MPTCP socket at `fd`, if that is still an
/// MPTCP socket that has neither connected nor listened; returns why not otherwise. errno
/// is unspecified afterwards (the caller sets it).
pub fn prepare(fd: c_int) -> Result<Candidate, &'static str> {
    if !is_mptcp_socket(fd) {
        // The fd number was reused for something else.
        made_mptcp::clear(fd);
        return Err("not an MPTCP socket");
    }
    let domain = get_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN).ok_or("SO_DOMAIN unreadable")?;
    if !never_connected(fd) {
        return Err("it has connected or listened already");
    }
    let mut peer = MaybeUninit::<sockaddr_storage>::zeroed();
    let mut peer_len = size_of::<sockaddr_storage>() as socklen_t;
    // SAFETY: a sockaddr_storage-sized buffer.
    if unsafe { sys::getpeername(fd, peer.as_mut_ptr().cast(), &mut peer_len) } == 0
        || errno() != libc::ENOTCONN
    {
        return Err("already connected");
    }

    // SAFETY: fcntl on an fd the caller holds.
    let status = sys::fcntl_get(fd, libc::F_GETFL);
    let fd_flags = sys::fcntl_get(fd, libc::F_GETFD);
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
    let tcp = unsafe { real::socket()(domain, ty, libc::IPPROTO_TCP) };
    if tcp < 0 {
        return Err("socket(IPPROTO_TCP) failed");
    }
    let candidate = Candidate { tcp, fd_flags };
    let set = real::setsockopt();
    plain_tcp::carry_options(
        domain == libc::AF_INET6,
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
    Ok(candidate)
}

impl Candidate {
    /// Puts the TCP socket at `fd` in place of the MPTCP one (closing it), and binds it
    /// where the MPTCP socket was bound.
    pub fn install(mut self, fd: c_int) -> Result<Replaced, &'static str> {
        let cloexec = if self.fd_flags & libc::FD_CLOEXEC != 0 {
            libc::O_CLOEXEC
        } else {
            0
        };
        // Read here rather than kept in the candidate from `prepare`: a candidate that
        // held a `sockaddr_storage` is moved by `memcpy`, a libc import the dynamic loader
        // would look up in every program at load.
        let local = bound_address(fd);
        // Atomically closes the MPTCP socket and puts the TCP one at its number.
        // SAFETY: both fds are open.
        if sys::dup3(self.tcp, fd, cloexec) < 0 {
            return Err("dup3 failed");
        }
        // It is plain TCP now.
        made_mptcp::clear(fd);
        // SAFETY: the candidate's own fd; the socket stays open at `fd`.
        sys::close(self.tcp);
        self.tcp = -1;
        // The address was held by the MPTCP socket until dup3 closed it: only now can it
        // be bound again.
        let mut rebind_errno = None;
        if let Some((addr, len)) = &local {
            // SAFETY: the address the kernel returned, with its length.
            if unsafe {
                sys::bind(
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
    if unsafe { sys::getsockname(fd, local.as_mut_ptr().cast(), &mut len) } != 0 {
        return None;
    }
    // SAFETY: zero-initialised, and filled by the kernel up to `len`.
    let local = unsafe { local.assume_init() };
    plain_tcp::is_bound(&local).then_some((local, len))
}

fn get_int(fd: c_int, level: c_int, name: c_int) -> Option<c_int> {
    let mut value: c_int = 0;
    let mut len = size_of::<c_int>() as socklen_t;
    // SAFETY: an int-sized buffer.
    let r =
        unsafe { sys::getsockopt(fd, level, name, (&mut value as *mut c_int).cast(), &mut len) };
    (r == 0).then_some(value)
}

/// Reads an option into a 16-byte buffer; returns the length the kernel wrote.
fn get_bytes(fd: c_int, level: c_int, name: c_int, buf: &mut [u8; 16]) -> Option<usize> {
    let mut len = buf.len() as socklen_t;
    // SAFETY: a 16-byte buffer; the kernel writes at most `len`.
    let r = unsafe { sys::getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut len) };
    (r == 0).then_some(len as usize)
}
