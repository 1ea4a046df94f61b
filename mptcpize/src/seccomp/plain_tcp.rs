//! Giving a socket the supervisor made MPTCP plain TCP again, inside the program, when
//! `setsockopt` fails on an option MPTCP refuses: the seccomp-mode counterpart of the shim's
//! `plain_tcp` module, with the same rules (the socket must never have connected or
//! listened; the options the program set that can be read back are carried, as are
//! `O_NONBLOCK`, `FD_CLOEXEC` and the bound address).
//!
//! The supervisor reaches the program's socket with `pidfd_getfd(2)` and the option's value
//! with `process_vm_readv(2)`; both need ptrace access to the program: root always has it,
//! a user for its own (dumpable) processes where Yama's `kernel.yama.ptrace_scope` is 0 (the
//! supervisor is not the program's ancestor). Where it is refused, the call runs unchanged
//! and the program sees MPTCP's error, as it would without this.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use libc::{c_int, pid_t, sockaddr_storage, socklen_t};

use mptcp_policy::plain_tcp;

/// Largest option value read from the program (`TCP_MD5SIG`'s struct is 216 bytes).
pub(super) const MAX_VALUE: usize = 1024;

/// A pidfd for the calling thread `tid` of a notification: `pidfd_open(tid, PIDFD_THREAD)`
/// (Linux 6.9), or else a pidfd for its process, found through `Tgid:` in
/// `/proc/TID/status` (older kernels open process ids only).
pub(super) fn pidfd_of_thread(tid: u32) -> io::Result<OwnedFd> {
    const PIDFD_THREAD: c_int = libc::O_EXCL;
    match pidfd_open(tid as pid_t, PIDFD_THREAD) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            let tgid = std::fs::read_to_string(format!("/proc/{tid}/status"))?
                .lines()
                .find_map(|l| l.strip_prefix("Tgid:"))
                .and_then(|t| t.trim().parse().ok())
                .ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))?;
            pidfd_open(tgid, 0)
        }
        other => other,
    }
}

/// `pidfd_open(2)`.
fn pidfd_open(pid: pid_t, flags: c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain system call with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_getfd(2)`: a duplicate of the program's `fd`, in the supervisor.
pub(super) fn pidfd_getfd(pidfd: &OwnedFd, fd: c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain system call with integer arguments.
    let dup = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if dup < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(dup as RawFd) })
}

/// `len` bytes at `addr` in the memory of thread or process `pid` (`process_vm_readv(2)`).
pub(super) fn read_memory(pid: pid_t, addr: u64, len: usize) -> io::Result<Vec<u8>> {
    if len > MAX_VALUE {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut buf = vec![0u8; len];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: len,
    };
    // SAFETY: the local iovec covers `buf`; the remote one is only read by the kernel.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n as usize != len {
        return Err(io::Error::from_raw_os_error(libc::EFAULT));
    }
    Ok(buf)
}

/// Whether the program's `fd` is close-on-exec (`flags:` in `/proc/PID/fdinfo/FD`, octal;
/// a thread id works as well).
pub(super) fn is_cloexec(pid: pid_t, fd: c_int) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
        .ok()
        .and_then(|info| {
            let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?;
            i64::from_str_radix(flags.trim(), 8).ok()
        })
        .is_some_and(|flags| flags & i64::from(libc::O_CLOEXEC) != 0)
}

/// `setsockopt(2)` with the program's bytes.
pub(super) fn set_option(fd: &OwnedFd, level: c_int, name: c_int, value: &[u8]) -> io::Result<()> {
    // SAFETY: `value` is readable for its length.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value.as_ptr().cast(),
            value.len() as socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(super) fn get_int(fd: &OwnedFd, level: c_int, name: c_int) -> Option<c_int> {
    let mut value: c_int = 0;
    let mut len = size_of::<c_int>() as socklen_t;
    // SAFETY: an int-sized buffer.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut value as *mut c_int).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(value)
}

/// True when the MPTCP socket has never started a connection and is not listening
/// (`mptcp_policy::plain_tcp::never_connected`: its first subflow is `TCP_CLOSE` and its
/// connection has no token), and it has no peer. Where `MPTCP_INFO` is missing (Linux < 5.16) this says no.
pub(super) fn never_connected(fd: &OwnedFd) -> bool {
    let unused = plain_tcp::socket_never_connected(|level, name, buf| {
        let mut len = buf.len() as socklen_t;
        // SAFETY: a buffer of `len` bytes; the kernel copies at most that many.
        let r = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                level,
                name,
                buf.as_mut_ptr().cast(),
                &mut len,
            )
        };
        (r == 0).then_some(len as usize)
    });
    if !unused {
        return false;
    }
    let mut peer = MaybeUninit::<sockaddr_storage>::zeroed();
    let mut peer_len = size_of::<sockaddr_storage>() as socklen_t;
    // SAFETY: a sockaddr_storage-sized buffer.
    let r = unsafe { libc::getpeername(fd.as_raw_fd(), peer.as_mut_ptr().cast(), &mut peer_len) };
    r != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOTCONN)
}

/// A plain TCP socket prepared to take the MPTCP socket's place in the program.
pub(super) struct Candidate {
    /// The new socket (close-on-exec in the supervisor).
    pub tcp: OwnedFd,
    /// The MPTCP socket's address, when it was bound: bound again once the MPTCP socket
    /// has been closed.
    local: Option<(sockaddr_storage, socklen_t)>,
}

/// A TCP socket of the same family and `O_NONBLOCK` as `mptcp`, with the options the
/// program set on it. Creates the socket in the calling thread's network namespace.
pub(super) fn prepare(mptcp: &OwnedFd) -> io::Result<Candidate> {
    let domain = get_int(mptcp, libc::SOL_SOCKET, libc::SO_DOMAIN)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: fcntl on an fd we hold.
    let status = unsafe { libc::fcntl(mptcp.as_raw_fd(), libc::F_GETFL) };
    let mut ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    if status >= 0 && status & libc::O_NONBLOCK != 0 {
        ty |= libc::SOCK_NONBLOCK;
    }
    // SAFETY: socket(2) with integers.
    let tcp = unsafe { libc::socket(domain, ty, libc::IPPROTO_TCP) };
    if tcp < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd owned by nobody else.
    let tcp = unsafe { OwnedFd::from_raw_fd(tcp) };
    plain_tcp::carry_options(
        domain == libc::AF_INET6,
        |level, name, buf| get_bytes(mptcp, level, name, buf),
        |level, name, buf| get_bytes(&tcp, level, name, buf),
        // Best effort: an option the new socket refuses is left at its default.
        |level, name, value| drop(set_option(&tcp, level, name, value)),
    );
    Ok(Candidate {
        tcp,
        local: bound_address(mptcp),
    })
}

impl Candidate {
    /// Binds the new socket where the MPTCP one was bound; call once the MPTCP socket is
    /// closed (it held the address). Returns the errno when that fails.
    pub(super) fn bind_again(&self) -> Option<c_int> {
        let (addr, len) = self.local.as_ref()?;
        // SAFETY: the address the kernel returned, with its length.
        let r = unsafe {
            libc::bind(
                self.tcp.as_raw_fd(),
                (addr as *const sockaddr_storage).cast(),
                *len,
            )
        };
        (r != 0).then(|| {
            io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO)
        })
    }
}

/// The address `fd` is bound to, if it is bound (a port, or a specific address).
fn bound_address(fd: &OwnedFd) -> Option<(sockaddr_storage, socklen_t)> {
    let mut local = MaybeUninit::<sockaddr_storage>::zeroed();
    let mut len = size_of::<sockaddr_storage>() as socklen_t;
    // SAFETY: a sockaddr_storage-sized buffer.
    if unsafe { libc::getsockname(fd.as_raw_fd(), local.as_mut_ptr().cast(), &mut len) } != 0 {
        return None;
    }
    // SAFETY: zero-initialised, and filled by the kernel up to `len`.
    let local = unsafe { local.assume_init() };
    plain_tcp::is_bound(&local).then_some((local, len))
}

/// Reads an option into a 16-byte buffer; returns the length the kernel wrote.
fn get_bytes(fd: &OwnedFd, level: c_int, name: c_int, buf: &mut [u8; 16]) -> Option<usize> {
    let mut len = buf.len() as socklen_t;
    // SAFETY: a 16-byte buffer; the kernel writes at most `len`.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    (r == 0).then_some(len as usize)
}
