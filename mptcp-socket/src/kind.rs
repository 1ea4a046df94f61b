//! What a connection really is: MPTCP, MPTCP that fell back to TCP, or plain TCP; and
//! whether the kernel has the `SOL_MPTCP` options the answer needs on older kernels.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use mptcp_sys::{IPPROTO_MPTCP, TCP_IS_MPTCP};

use crate::info::{mptcp_info_of, MptcpInfo};
use crate::sys::getsockopt_int;

/// What a TCP-like socket really is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ConnectionKind {
    /// An MPTCP socket that speaks MPTCP (or a listener / not-yet-connected MPTCP socket).
    Mptcp,
    /// An MPTCP socket whose connection fell back to plain TCP: the peer, or a middlebox on
    /// the path, does not speak MPTCP. One path only.
    FellBack,
    /// A plain TCP socket (`SO_PROTOCOL` is `IPPROTO_TCP`): the kernel had no MPTCP and
    /// [`Fallback::Tcp`](crate::Fallback::Tcp) applied, or the socket never was MPTCP. An
    /// MPTCP listener also hands out plain TCP sockets for clients that did not ask for
    /// MPTCP (measured on Linux 6.18): the peer's choice, seen from the server.
    Tcp,
}

impl ConnectionKind {
    /// True for [`ConnectionKind::Mptcp`].
    pub fn is_mptcp(self) -> bool {
        self == ConnectionKind::Mptcp
    }
}

impl std::fmt::Display for ConnectionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConnectionKind::Mptcp => "MPTCP",
            ConnectionKind::FellBack => "MPTCP fell back to TCP",
            ConnectionKind::Tcp => "TCP",
        })
    }
}

pub(crate) fn connection_kind(fd: BorrowedFd<'_>) -> io::Result<ConnectionKind> {
    let domain = getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_DOMAIN)?;
    let kind = getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE)?;
    let protocol = getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL)?;
    if tcp_like(domain, kind, protocol)? == ConnectionKind::Tcp {
        return Ok(ConnectionKind::Tcp);
    }
    let is_mptcp = getsockopt_int(fd, libc::SOL_TCP, TCP_IS_MPTCP);
    // MPTCP_INFO is only asked where TCP_IS_MPTCP (6.10+) gave no answer.
    let info = match &is_mptcp {
        Err(err) if err.raw_os_error() == Some(libc::ENOPROTOOPT) => Some(mptcp_info_of(fd)),
        _ => None,
    };
    decide_kind(is_mptcp, info, kernel_has_mptcp_sockopts)
}

/// Sorts a socket by `SO_DOMAIN`, `SO_TYPE` and `SO_PROTOCOL`: [`ConnectionKind::Tcp`] for
/// an IPv4/IPv6 stream socket of protocol TCP, [`ConnectionKind::Mptcp`] (to be refined)
/// for one of protocol MPTCP, and an `InvalidInput` error for anything else (UDP, UNIX,
/// raw, SCTP…), which no MPTCP question applies to.
fn tcp_like(
    domain: libc::c_int,
    kind: libc::c_int,
    protocol: libc::c_int,
) -> io::Result<ConnectionKind> {
    let inet = matches!(domain, libc::AF_INET | libc::AF_INET6);
    match (inet, kind, protocol) {
        (true, libc::SOCK_STREAM, libc::IPPROTO_TCP) => Ok(ConnectionKind::Tcp),
        (true, libc::SOCK_STREAM, IPPROTO_MPTCP) => Ok(ConnectionKind::Mptcp),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "not a TCP or MPTCP socket (SO_DOMAIN {domain}, SO_TYPE {kind}, SO_PROTOCOL \
                 {protocol}): only an AF_INET/AF_INET6 SOCK_STREAM socket has a connection kind"
            ),
        )),
    }
}

/// The decision of [`MptcpExt::connection_kind`] for an MPTCP socket (`SO_PROTOCOL` 262),
/// from the answers of `TCP_IS_MPTCP` and, where that is unknown, `MPTCP_INFO`.
///
/// `MPTCP_INFO` failing with `EOPNOTSUPP`/`ENOPROTOOPT` means "fell back" only on kernels
/// that have the `SOL_MPTCP` options at all (5.16+); before, it fails on every MPTCP
/// socket and nothing available to a program tells fallback apart: that is an error, not a
/// guess. `has_sockopts` is only called in that case; its error (no probe socket) is the
/// answer's.
#[doc(hidden)]
pub fn decide_kind(
    is_mptcp: io::Result<libc::c_int>,
    info: Option<io::Result<MptcpInfo>>,
    has_sockopts: impl FnOnce() -> io::Result<bool>,
) -> io::Result<ConnectionKind> {
    match is_mptcp {
        Ok(0) => return Ok(ConnectionKind::FellBack),
        Ok(_) => return Ok(ConnectionKind::Mptcp),
        // Linux < 6.10 does not know TCP_IS_MPTCP: MPTCP_INFO decides.
        Err(err) if err.raw_os_error() == Some(libc::ENOPROTOOPT) => {}
        Err(err) => return Err(err),
    }
    match info {
        Some(Ok(info)) if info.fell_back() => Ok(ConnectionKind::FellBack),
        Some(Ok(_)) => Ok(ConnectionKind::Mptcp),
        Some(Err(err)) if is_not_mptcp_errno(&err) => {
            if has_sockopts()? {
                Ok(ConnectionKind::FellBack)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "this kernel (Linux < 5.16) has no SOL_MPTCP socket options: an MPTCP \
                     socket cannot tell whether its connection fell back to TCP",
                ))
            }
        }
        Some(Err(err)) => Err(err),
        None => Err(io::Error::other("TCP_IS_MPTCP gave no answer")),
    }
}

/// Whether this kernel answers `SOL_MPTCP` socket options (Linux 5.16+): `MPTCP_INFO` on a
/// fresh MPTCP socket (which has not fallen back, so the option succeeds where it exists).
///
/// What the kernel was built with does not change while a program runs, so an answer from
/// a probe socket is kept. Whether a probe socket can be made does change: `socket(2)`
/// refuses `IPPROTO_MPTCP` in a network namespace with `net.mptcp.enabled=0`, and the
/// sysctl can be switched at any time. Then the answer is an error naming the cause, and
/// nothing is kept: the next call probes again.
#[doc(hidden)]
pub fn kernel_has_mptcp_sockopts() -> io::Result<bool> {
    static ANSWER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if let Some(answer) = ANSWER.get() {
        return Ok(*answer);
    }
    let probe = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::from(IPPROTO_MPTCP)),
    )
    .map_err(|err| {
        io::Error::new(
            err.kind(),
            format!(
                "cannot tell whether this kernel has the SOL_MPTCP socket options: no MPTCP \
                 probe socket ({err}); where net.mptcp.enabled=0 in this network namespace, \
                 `sysctl -w net.mptcp.enabled=1` allows it"
            ),
        )
    })?;
    Ok(*ANSWER.get_or_init(|| mptcp_info_of(probe.as_fd()).is_ok()))
}

/// `MPTCP_INFO` & co. on a fallen-back socket: `EOPNOTSUPP` (IPv4) or `ENOPROTOOPT` (IPv6).
pub(crate) fn is_not_mptcp_errno(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EOPNOTSUPP) | Some(libc::ENOPROTOOPT)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use mptcp_sys::{mptcp_info, MPTCP_INFO_FLAG_FALLBACK};
    use zerocopy::IntoBytes;

    #[test]
    fn connection_kind_decisions() {
        fn errno<T>(e: i32) -> io::Result<T> {
            Err(io::Error::from_raw_os_error(e))
        }
        let info = |flags| {
            let raw = mptcp_info {
                mptcpi_flags: flags,
                ..Default::default()
            };
            Some(Ok(MptcpInfo::from_bytes(raw.as_bytes()).unwrap()))
        };
        let never = || -> io::Result<bool> { panic!("the probe is not needed here") };
        use ConnectionKind::*;
        // Linux 6.10+: TCP_IS_MPTCP answers.
        assert_eq!(decide_kind(Ok(1), None, never).unwrap(), Mptcp);
        assert_eq!(decide_kind(Ok(0), None, never).unwrap(), FellBack);
        // 5.16–6.9: MPTCP_INFO answers, or fails once fallen back (IPv4 / IPv6 errnos).
        let old = || errno::<libc::c_int>(libc::ENOPROTOOPT);
        assert_eq!(decide_kind(old(), info(0), never).unwrap(), Mptcp);
        assert_eq!(
            decide_kind(old(), info(MPTCP_INFO_FLAG_FALLBACK), never).unwrap(),
            FellBack
        );
        for e in [libc::EOPNOTSUPP, libc::ENOPROTOOPT] {
            assert_eq!(
                decide_kind(old(), Some(errno(e)), || Ok(true)).unwrap(),
                FellBack
            );
            // 5.6–5.15: no SOL_MPTCP options at all: no guess.
            let err = decide_kind(old(), Some(errno(e)), || Ok(false)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::Unsupported);
            // No probe socket (MPTCP disabled in this namespace): that error, not a guess.
            let err = decide_kind(old(), Some(errno(e)), || errno(libc::ENOPROTOOPT)).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ENOPROTOOPT));
        }
        // Other errors are the caller's.
        assert_eq!(
            decide_kind(errno::<libc::c_int>(libc::EBADF), None, never)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::EBADF)
        );
        assert_eq!(
            decide_kind(old(), Some(errno(libc::EFAULT)), never)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::EFAULT)
        );
    }

    #[test]
    fn only_inet_stream_sockets_have_a_kind() {
        use libc::{AF_INET, AF_INET6, AF_UNIX, IPPROTO_TCP, IPPROTO_UDP, SOCK_DGRAM, SOCK_STREAM};
        for domain in [AF_INET, AF_INET6] {
            assert_eq!(
                tcp_like(domain, SOCK_STREAM, IPPROTO_TCP).unwrap(),
                ConnectionKind::Tcp
            );
            assert_eq!(
                tcp_like(domain, SOCK_STREAM, IPPROTO_MPTCP).unwrap(),
                ConnectionKind::Mptcp
            );
            assert!(tcp_like(domain, SOCK_DGRAM, IPPROTO_UDP).is_err());
            assert!(tcp_like(domain, libc::SOCK_SEQPACKET, libc::IPPROTO_SCTP).is_err());
        }
        let err = tcp_like(AF_UNIX, SOCK_STREAM, 0).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("SO_DOMAIN 1"), "{err}");
    }

    #[mptcp_tests::needs(mptcp_enabled)]
    #[test]
    #[cfg_attr(miri, ignore = "opens a socket and reads /proc")]
    fn this_kernel_has_mptcp_sockopts() {
        assert!(
            kernel_has_mptcp_sockopts().unwrap(),
            "Linux 5.16+ expected here"
        );
    }
}
