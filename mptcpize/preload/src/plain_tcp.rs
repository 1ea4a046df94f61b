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
use mptcp_policy::IPPROTO_MPTCP;

use crate::debug_log::errno;
use crate::{explicit_mptcp, real, sys};

/// `TCP_CLOSE` in `tcp_info.tcpi_state`: neither connecting, connected nor listening.
const TCP_CLOSE: u8 = 7;

/// True when the MPTCP socket at `fd` has never started a connection and is not listening:
/// the first subflow's `tcpi_state` is `TCP_CLOSE`, and the connection has no token yet
/// (`mptcp_info.mptcpi_token`, set by `connect()`, cleared again when a connect fails). The
/// state alone is not enough: a connection the peer has closed is `TCP_CLOSE` too, and may
/// still hold data the program has to read. Where `MPTCP_INFO` is missing (Linux < 5.16),
/// or the socket fell back to TCP, this says no: the socket is left as it is.
fn never_connected(fd: c_int) -> bool {
    let mut info = [0u8; 8];
    let mut len = info.len() as socklen_t;
    // SAFETY: a buffer of `len` bytes; the kernel copies at most that many.
    let r = unsafe {
        sys::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if r != 0 || len < 1 || info[0] != TCP_CLOSE {
        return false;
    }
    const TOKEN: usize = core::mem::offset_of!(mptcp_sys::mptcp_info, mptcpi_token);
    let mut mptcp = [0u8; TOKEN + 4];
    let mut len = mptcp.len() as socklen_t;
    // SAFETY: as above; the kernel copies min(len, sizeof(struct mptcp_info)) bytes.
    let r = unsafe {
        sys::getsockopt(
            fd,
            mptcp_sys::SOL_MPTCP,
            mptcp_sys::MPTCP_INFO,
            mptcp.as_mut_ptr().cast(),
            &mut len,
        )
    };
    r == 0 && len as usize >= mptcp.len() && mptcp[TOKEN..TOKEN + 4] == [0; 4]
}

/// How an option's value is carried over.
#[derive(Copy, Clone)]
enum Value {
    /// An `int`, set as read.
    Int,
    /// A buffer size: the kernel reports twice what was set, so half is set back.
    BufferSize,
    /// Bytes (a struct or a string) of at most 16 bytes, set as read.
    Bytes,
}

/// Options read from the MPTCP socket and set on the TCP one when they differ from the new
/// socket's default (so nothing the program did not set is forced, e.g. buffer autotuning).
const CARRIED: [(c_int, c_int, Value); 22] = [
    (libc::SOL_SOCKET, libc::SO_REUSEADDR, Value::Int),
    (libc::SOL_SOCKET, libc::SO_REUSEPORT, Value::Int),
    (libc::SOL_SOCKET, libc::SO_KEEPALIVE, Value::Int),
    (libc::SOL_SOCKET, libc::SO_PRIORITY, Value::Int),
    (libc::SOL_SOCKET, libc::SO_MARK, Value::Int),
    (libc::SOL_SOCKET, libc::SO_RCVLOWAT, Value::Int),
    (libc::SOL_SOCKET, libc::SO_RCVBUF, Value::BufferSize),
    (libc::SOL_SOCKET, libc::SO_SNDBUF, Value::BufferSize),
    (libc::SOL_SOCKET, libc::SO_LINGER, Value::Bytes),
    (libc::SOL_SOCKET, libc::SO_RCVTIMEO, Value::Bytes),
    (libc::SOL_SOCKET, libc::SO_SNDTIMEO, Value::Bytes),
    (libc::SOL_SOCKET, libc::SO_BINDTODEVICE, Value::Bytes),
    (libc::IPPROTO_TCP, libc::TCP_NODELAY, Value::Int),
    (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, Value::Int),
    (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, Value::Int),
    (libc::IPPROTO_TCP, libc::TCP_KEEPCNT, Value::Int),
    (libc::IPPROTO_TCP, libc::TCP_NOTSENT_LOWAT, Value::Int),
    (libc::IPPROTO_TCP, libc::TCP_CONGESTION, Value::Bytes),
    (libc::IPPROTO_IP, libc::IP_TOS, Value::Int),
    (libc::IPPROTO_IP, libc::IP_FREEBIND, Value::Int),
    (libc::IPPROTO_IP, libc::IP_TRANSPARENT, Value::Int),
    (libc::IPPROTO_IP, libc::IP_BIND_ADDRESS_NO_PORT, Value::Int),
];

/// `IPV6_V6ONLY` decides which connections a dual-stack listener accepts: carried on IPv6
/// sockets.
const CARRIED_V6: [(c_int, c_int, Value); 1] =
    [(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, Value::Int)];

/// A plain TCP socket made to take the place of an MPTCP one, not installed yet: the
/// caller first tries the refused option on it, and installs it only if TCP accepts what
/// MPTCP refused (an IPv6 option on an IPv4 socket fails on both, and must not cost the
/// socket its MPTCP). Dropping it closes the new socket.
pub struct Candidate {
    /// The new socket's own fd.
    pub tcp: c_int,
    fd_flags: c_int,
    local: Option<(sockaddr_storage, socklen_t)>,
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
    if get_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL) != Some(IPPROTO_MPTCP) {
        // The fd number was reused for something else.
        explicit_mptcp::unmark(fd);
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
    let candidate = Candidate {
        tcp,
        fd_flags,
        local: bound_address(fd),
    };
    copy_options(fd, tcp, &CARRIED);
    if domain == libc::AF_INET6 {
        copy_options(fd, tcp, &CARRIED_V6);
    }
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
        // Atomically closes the MPTCP socket and puts the TCP one at its number.
        // SAFETY: both fds are open.
        if sys::dup3(self.tcp, fd, cloexec) < 0 {
            return Err("dup3 failed");
        }
        explicit_mptcp::unmark(fd);
        // SAFETY: the candidate's own fd; the socket stays open at `fd`.
        sys::close(self.tcp);
        self.tcp = -1;
        // The address was held by the MPTCP socket until dup3 closed it: only now can it
        // be bound again.
        let mut rebind_errno = None;
        if let Some((addr, len)) = &self.local {
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
    is_bound(&local).then_some((local, len))
}

/// True when `addr` (from `getsockname`) names a bound socket: a port, or a specific
/// address (`IP_BIND_ADDRESS_NO_PORT` binds an address without a port).
fn is_bound(addr: &sockaddr_storage) -> bool {
    match c_int::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in, which fits in the storage.
            let a = unsafe { &*(addr as *const sockaddr_storage).cast::<libc::sockaddr_in>() };
            a.sin_port != 0 || a.sin_addr.s_addr != 0
        }
        libc::AF_INET6 => {
            // SAFETY: as above, sockaddr_in6.
            let a = unsafe { &*(addr as *const sockaddr_storage).cast::<libc::sockaddr_in6>() };
            a.sin6_port != 0 || a.sin6_addr.s6_addr != [0; 16]
        }
        _ => false,
    }
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
fn get_bytes(fd: c_int, level: c_int, name: c_int, buf: &mut [u8; 16]) -> Option<socklen_t> {
    let mut len = buf.len() as socklen_t;
    // SAFETY: a 16-byte buffer; the kernel writes at most `len`.
    let r = unsafe { sys::getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut len) };
    (r == 0).then_some(len)
}

fn copy_options(from: c_int, to: c_int, options: &[(c_int, c_int, Value)]) {
    let set = real::setsockopt();
    for &(level, name, kind) in options {
        let (mut old, mut new) = ([0u8; 16], [0u8; 16]);
        let (Some(old_len), Some(new_len)) = (
            get_bytes(from, level, name, &mut old),
            get_bytes(to, level, name, &mut new),
        ) else {
            continue;
        };
        if old_len == new_len && old == new {
            continue;
        }
        let mut len = old_len;
        if let Value::Int | Value::BufferSize = kind {
            if old_len as usize != size_of::<c_int>() {
                continue;
            }
            let mut v = c_int::from_ne_bytes([old[0], old[1], old[2], old[3]]);
            if let Value::BufferSize = kind {
                v /= 2;
            }
            old[..4].copy_from_slice(&v.to_ne_bytes());
            len = size_of::<c_int>() as socklen_t;
        }
        if name == libc::TCP_CONGESTION && level == libc::IPPROTO_TCP {
            // The name without its NUL padding.
            len = old.iter().position(|&b| b == 0).unwrap_or(old.len()) as socklen_t;
        }
        // Best effort: an option the new socket refuses is left at its default.
        // SAFETY: `len` bytes of `old` are initialised.
        unsafe { set(to, level, name, old.as_ptr().cast::<c_void>(), len) };
    }
}
