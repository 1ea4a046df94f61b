//! Giving a socket the supervisor made MPTCP plain TCP again, inside the program, when
//! `setsockopt` fails on an option MPTCP refuses: the seccomp-mode counterpart of the shim's
//! swap to plain TCP, with the same rules (the socket must never have connected or
//! listened; the options the program set that can be read back are carried, as are
//! `O_NONBLOCK`, `FD_CLOEXEC` and the bound address).
//!
//! The supervisor reaches the program's socket with `pidfd_getfd(2)` and the option's value
//! with `process_vm_readv(2)`; both need ptrace access to the program: root always has it,
//! a user for its own (dumpable) processes where Yama's `kernel.yama.ptrace_scope` is 0 (the
//! supervisor is not the program's ancestor). Where it is refused, the call runs unchanged
//! and the program sees MPTCP's error, as it would without this.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use libc::{c_int, pid_t, socklen_t};
use rustix::fs::OFlags;
use rustix::io::Errno;
use rustix::net::{ipproto, sockopt, AddressFamily, SocketFlags, SocketType};
use rustix::process::PidfdGetfdFlags;

use mptcp_policy::refused_options::{self, Role};

use super::identity::pidfd_open;

/// Largest option value read from the program (`TCP_MD5SIG`'s struct is 216 bytes).
pub(super) const MAX_VALUE: usize = 1024;

/// A pidfd for the calling thread `tid` of a notification: `pidfd_open(tid, PIDFD_THREAD)`
/// (Linux 6.9), or else a pidfd for its process, found through `Tgid:` in
/// `/proc/TID/status` (older kernels open process ids only).
pub(super) fn pidfd_of_thread(tid: u32) -> io::Result<OwnedFd> {
    match pidfd_open(tid, true) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            let tgid = std::fs::read_to_string(format!("/proc/{tid}/status"))?
                .lines()
                .find_map(|l| l.strip_prefix("Tgid:"))
                .and_then(|t| t.trim().parse().ok())
                .ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))?;
            pidfd_open(tgid, false)
        }
        other => other,
    }
}

/// `pidfd_getfd(2)`: a duplicate of the program's `fd`, in the supervisor.
pub(super) fn pidfd_getfd(pidfd: &OwnedFd, fd: c_int) -> io::Result<OwnedFd> {
    Ok(rustix::process::pidfd_getfd(
        pidfd,
        fd,
        PidfdGetfdFlags::empty(),
    )?)
}

/// `len` bytes at `addr` in the memory of thread or process `pid` (`process_vm_readv(2)`,
/// which rustix does not wrap).
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
    // SAFETY: the local iovec covers `buf` (`len` writable bytes), which outlives the
    // call; the remote one is an address in the other process, which the kernel checks
    // (EFAULT) and only reads.
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

/// `setsockopt(2)` with the program's bytes, whatever the option (rustix and socket2 set
/// only the options they know, each with its own type).
pub(super) fn set_option(fd: impl AsFd, level: c_int, name: c_int, value: &[u8]) -> io::Result<()> {
    // SAFETY: `value` is readable for its length, which is the length passed; the kernel
    // only reads it.
    let r = unsafe {
        libc::setsockopt(
            fd.as_fd().as_raw_fd(),
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

/// `getsockopt(2)` into `buf`, whatever the option; the length the kernel wrote.
pub(super) fn get_option(
    fd: impl AsFd,
    level: c_int,
    name: c_int,
    buf: &mut [u8],
) -> Option<usize> {
    let mut len = buf.len() as socklen_t;
    // SAFETY: `buf` is writable for `len` bytes, and the kernel writes at most `len`.
    let r = unsafe {
        libc::getsockopt(
            fd.as_fd().as_raw_fd(),
            level,
            name,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    (r == 0).then_some(len as usize)
}

/// The role of the MPTCP socket (`mptcp_policy::refused_options::Role`): connected, listening,
/// bound to a port (a listener to be) or a client socket, from its first subflow's
/// `tcpi_state`, its `mptcpi_token`, `getpeername` and `getsockname`. Where `MPTCP_INFO` is
/// missing (Linux < 5.16) it counts as connected: never swapped.
pub(super) fn role(fd: &OwnedFd) -> Role {
    let has_peer = !matches!(rustix::net::getpeername(fd), Err(Errno::NOTCONN));
    let port = bound_address(fd).map_or(0, |addr| addr.port());
    refused_options::socket_role(
        |level, name, buf| get_option(fd, level, name, buf),
        has_peer,
        port,
    )
}

/// A plain TCP socket prepared to take the MPTCP socket's place in the program.
pub(super) struct Candidate {
    /// The new socket (close-on-exec in the supervisor).
    pub tcp: OwnedFd,
    /// The MPTCP socket's address, when it was bound: bound again once the MPTCP socket
    /// has been closed.
    local: Option<SocketAddr>,
}

/// A TCP socket of the same family and `O_NONBLOCK` as `mptcp`, with the options the
/// program set on it, and listening (on an ephemeral port) when `role` is `Listening`, so
/// that its answer to an option is TCP's for a listening socket. Creates the socket in the
/// calling thread's network namespace.
pub(super) fn prepare(mptcp: &OwnedFd, role: Role) -> io::Result<Candidate> {
    let domain = sockopt::socket_domain(mptcp)?;
    let mut flags = SocketFlags::CLOEXEC;
    if rustix::fs::fcntl_getfl(mptcp).is_ok_and(|status| status.contains(OFlags::NONBLOCK)) {
        flags |= SocketFlags::NONBLOCK;
    }
    let tcp = rustix::net::socket_with(domain, SocketType::STREAM, flags, Some(ipproto::TCP))?;
    refused_options::carry_options(
        domain == AddressFamily::INET6,
        |level, name, buf| get_option(mptcp, level, name, buf),
        |level, name, buf| get_option(&tcp, level, name, buf),
        // Best effort: an option the new socket refuses is left at its default.
        |level, name, value| drop(set_option(&tcp, level, name, value)),
    );
    // listen() on an unbound socket binds it to an ephemeral port first.
    if role == Role::Listening {
        rustix::net::listen(&tcp, 1)?;
    }
    Ok(Candidate {
        tcp,
        local: bound_address(mptcp),
    })
}

impl Candidate {
    /// Binds the new socket where the MPTCP one was bound; call once the MPTCP socket is
    /// closed (it held the address). Returns the errno when that fails.
    pub(super) fn bind_again(&self) -> Option<c_int> {
        let addr = self.local.as_ref()?;
        rustix::net::bind(&self.tcp, addr)
            .err()
            .map(|e| e.raw_os_error())
    }
}

/// The address `fd` is bound to, if it is bound: a port, or a specific address
/// (`IP_BIND_ADDRESS_NO_PORT` binds an address without a port). The rule of
/// `mptcp_policy::refused_options::is_bound`, which reads the shim's `sockaddr_storage`, on
/// std's address (a test checks that they agree).
fn bound_address(fd: &OwnedFd) -> Option<SocketAddr> {
    let local = SocketAddr::try_from(rustix::net::getsockname(fd).ok()?).ok()?;
    (local.port() != 0 || !local.ip().is_unspecified()).then_some(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `getsockname(2)` as the shim reads it, for `mptcp_policy::refused_options`'s functions.
    fn shim_view(fd: &OwnedFd) -> libc::sockaddr_storage {
        // SAFETY: all-zero is a valid sockaddr_storage; getsockname writes at most `len`
        // bytes into it.
        unsafe {
            let mut storage: libc::sockaddr_storage = std::mem::zeroed();
            let mut len = size_of::<libc::sockaddr_storage>() as socklen_t;
            libc::getsockname(
                fd.as_raw_fd(),
                (&mut storage as *mut libc::sockaddr_storage).cast(),
                &mut len,
            );
            storage
        }
    }

    /// Unbound, bound to a port, to an address without a port, in both families: the
    /// bound address and port read here are the shim's (`mptcp_policy::refused_options`).
    #[test]
    fn bound_addresses_are_read_as_the_shim_reads_them() {
        let socket = |family| {
            rustix::net::socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)
                .unwrap()
        };
        let mut cases = Vec::new();
        for (family, any, lo) in [
            (AddressFamily::INET, "0.0.0.0:0", "127.0.0.1:0"),
            (AddressFamily::INET6, "[::]:0", "[::1]:0"),
        ] {
            // Unbound.
            cases.push(socket(family));
            // An address and a port.
            let s = socket(family);
            rustix::net::bind(&s, &lo.parse::<SocketAddr>().unwrap()).unwrap();
            cases.push(s);
            // The wildcard address, a port.
            let s = socket(family);
            rustix::net::bind(&s, &any.parse::<SocketAddr>().unwrap()).unwrap();
            cases.push(s);
            // An address without a port (IP_BIND_ADDRESS_NO_PORT).
            let s = socket(family);
            set_option(
                &s,
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                &1i32.to_ne_bytes(),
            )
            .unwrap();
            rustix::net::bind(&s, &lo.parse::<SocketAddr>().unwrap()).unwrap();
            cases.push(s);
        }
        let mut bound = 0;
        for s in &cases {
            let shim = shim_view(s);
            let ours = bound_address(s);
            assert_eq!(ours.is_some(), refused_options::is_bound(&shim), "{ours:?}");
            assert_eq!(
                ours.map_or(0, |a| a.port()),
                refused_options::port_of(&shim),
                "{ours:?}"
            );
            bound += usize::from(ours.is_some());
        }
        assert_eq!(
            bound, 6,
            "three of the four sockets of each family are bound"
        );
    }
}
