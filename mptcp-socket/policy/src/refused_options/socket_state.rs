//! What the kernel says about the MPTCP socket whose option was refused: its [`Role`], whether
//! it ever started a connection ([`never_connected`]), and the address it is bound to.

use libc::c_int;

/// `TCP_LISTEN` in `tcp_info.tcpi_state`.
pub const TCP_STATE_LISTEN: u8 = 10;

/// What an MPTCP socket is for, as far as losing MPTCP costs: its role when the option is
/// set.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Neither bound to a port nor connected: most likely about to `connect()`. Plain TCP
    /// costs one connection its MPTCP.
    Client,
    /// Bound to a port, not connected: about to `listen()`. Plain TCP would cost every
    /// connection it accepts its MPTCP.
    Listener,
    /// Listening already: too late to swap (accepted connections are MPTCP).
    Listening,
    /// Connected, connecting or closed after a connection: too late to swap.
    Connected,
}

impl Role {
    /// The role of an MPTCP socket from what the kernel says about it: its first subflow's
    /// `tcpi_state` and its `mptcpi_token` (see [`never_connected`]), whether it has a peer
    /// (`getpeername`), and the port it is bound to (0 if none).
    pub const fn of_socket(
        tcp_state: u8,
        token: Option<u32>,
        has_peer: bool,
        local_port: u16,
    ) -> Role {
        if has_peer {
            Role::Connected
        } else if tcp_state == TCP_STATE_LISTEN {
            Role::Listening
        } else if !never_connected(tcp_state, token) {
            Role::Connected
        } else if local_port != 0 {
            Role::Listener
        } else {
            Role::Client
        }
    }

    /// True when the socket has done nothing on the wire yet, so plain TCP can take its
    /// place.
    pub const fn can_swap(self) -> bool {
        matches!(self, Role::Client | Role::Listener)
    }

    /// For log lines: `client socket`, `socket bound to a port (a listener to be)`, ….
    pub const fn describe(self) -> &'static str {
        match self {
            Role::Client => "client socket",
            Role::Listener => "listener to be (bound to a port)",
            Role::Listening => "listening socket",
            Role::Connected => "connected socket",
        }
    }
}

/// `TCP_CLOSE` in `tcp_info.tcpi_state`: neither connecting, connected nor listening.
pub const TCP_STATE_CLOSE: u8 = 7;

/// True when an MPTCP socket has never started a connection and is not listening, so that
/// swapping it for TCP changes nothing on the wire: its first subflow's `tcpi_state`
/// (`TCP_INFO`) is `TCP_CLOSE` *and* its `mptcpi_token` (`MPTCP_INFO`) is 0 — `connect()`
/// sets the token (and a failed one clears it again). The state alone is not enough: a
/// connection the peer closed is `TCP_CLOSE` too, and may hold data still to be read.
/// `token` is `None` where `MPTCP_INFO` could not be read (Linux < 5.16, or fell back):
/// then the answer is no.
pub const fn never_connected(tcp_state: u8, token: Option<u32>) -> bool {
    matches!(token, Some(0)) && tcp_state == TCP_STATE_CLOSE
}

/// [`never_connected`] for a socket, read through the caller's `getsockopt` (the shim must
/// bypass its own hooks; the supervisor reads a socket taken from another process):
/// `getsockopt(level, name, buf)` fills `buf` and returns the length the kernel wrote, or
/// `None` when the call failed.
///
/// Reads the first byte of `TCP_INFO` (`tcpi_state`) and `mptcpi_token` of `MPTCP_INFO`.
pub fn socket_never_connected(
    getsockopt: impl FnMut(c_int, c_int, &mut [u8]) -> Option<usize>,
) -> bool {
    match state_and_token(getsockopt) {
        Some((state, token)) => never_connected(state, token),
        None => false,
    }
}

/// The first subflow's `tcpi_state` and the connection's `mptcpi_token` (`None` where
/// `MPTCP_INFO` cannot be read), through the caller's `getsockopt`; `None` when `TCP_INFO`
/// cannot be read.
fn state_and_token(
    mut getsockopt: impl FnMut(c_int, c_int, &mut [u8]) -> Option<usize>,
) -> Option<(u8, Option<u32>)> {
    let mut tcp_info = [0u8; 8];
    match getsockopt(libc::IPPROTO_TCP, libc::TCP_INFO, &mut tcp_info) {
        Some(len) if len >= 1 => {}
        _ => return None,
    }
    const TOKEN: usize = core::mem::offset_of!(mptcp_sys::mptcp_info, mptcpi_token);
    let mut info = [0u8; TOKEN + 4];
    let token = match getsockopt(mptcp_sys::SOL_MPTCP, mptcp_sys::MPTCP_INFO, &mut info) {
        Some(len) if len >= info.len() => Some(u32::from_ne_bytes([
            info[TOKEN],
            info[TOKEN + 1],
            info[TOKEN + 2],
            info[TOKEN + 3],
        ])),
        _ => None,
    };
    Some((tcp_info[0], token))
}

/// [`Role::of_socket`] for a socket, read through the caller's `getsockopt` (as
/// [`socket_never_connected`]), with whether it has a peer (`getpeername`) and the port it
/// is bound to (`getsockname`, [`port_of`]). A socket whose `TCP_INFO` cannot be read
/// counts as connected (never swapped).
pub fn socket_role(
    getsockopt: impl FnMut(c_int, c_int, &mut [u8]) -> Option<usize>,
    has_peer: bool,
    local_port: u16,
) -> Role {
    match state_and_token(getsockopt) {
        Some((state, token)) => Role::of_socket(state, token, has_peer, local_port),
        None => Role::Connected,
    }
}

/// True when `addr` (from `getsockname(2)`) names a bound socket: a port, or a specific
/// address (`IP_BIND_ADDRESS_NO_PORT` binds an address without a port). The replacement
/// must then be bound to the same address.
pub fn is_bound(addr: &libc::sockaddr_storage) -> bool {
    match c_int::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in, which fits in the storage.
            let a =
                unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            a.sin_port != 0 || a.sin_addr.s_addr != 0
        }
        libc::AF_INET6 => {
            // SAFETY: as above, sockaddr_in6.
            let a =
                unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            a.sin6_port != 0 || a.sin6_addr.s6_addr != [0; 16]
        }
        _ => false,
    }
}

/// The port `addr` (from `getsockname(2)`) is bound to, in host order; 0 when it has none
/// or is not an IPv4 or IPv6 address.
pub fn port_of(addr: &libc::sockaddr_storage) -> u16 {
    match c_int::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in, which fits in the storage.
            let a =
                unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            u16::from_be(a.sin_port)
        }
        libc::AF_INET6 => {
            // SAFETY: as above, sockaddr_in6.
            let a =
                unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            u16::from_be(a.sin6_port)
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles() {
        let close = TCP_STATE_CLOSE;
        // (tcpi_state, mptcpi_token, has a peer, bound port, role)
        let cases = [
            (close, Some(0), false, 0, Role::Client),
            (close, Some(0), false, 8080, Role::Listener),
            (TCP_STATE_LISTEN, Some(0), false, 8080, Role::Listening),
            (1, Some(9), true, 40000, Role::Connected),
            // Closed by the peer: the token stays.
            (close, Some(9), false, 40000, Role::Connected),
            // No MPTCP_INFO: never swapped.
            (close, None, false, 0, Role::Connected),
        ];
        for (state, token, has_peer, port, role) in cases {
            assert_eq!(
                Role::of_socket(state, token, has_peer, port),
                role,
                "state {state}, token {token:?}, peer {has_peer}, port {port}"
            );
        }
        assert!(Role::Client.can_swap() && Role::Listener.can_swap());
        assert!(!Role::Listening.can_swap() && !Role::Connected.can_swap());
    }

    #[test]
    fn never_connected_needs_both_facts() {
        assert!(never_connected(TCP_STATE_CLOSE, Some(0)));
        assert!(
            !never_connected(TCP_STATE_CLOSE, Some(0x1234)),
            "closed by the peer"
        );
        assert!(!never_connected(TCP_STATE_CLOSE, None), "no MPTCP_INFO");
        assert!(!never_connected(10, Some(0)), "listening");
    }

    #[test]
    fn socket_never_connected_reads_state_and_token() {
        let answer = |state: u8, token: Option<u32>| {
            move |level: c_int, name: c_int, buf: &mut [u8]| -> Option<usize> {
                if (level, name) == (libc::IPPROTO_TCP, libc::TCP_INFO) {
                    buf[0] = state;
                    return Some(buf.len());
                }
                assert_eq!((level, name), (mptcp_sys::SOL_MPTCP, mptcp_sys::MPTCP_INFO));
                let token = token?;
                let at = core::mem::offset_of!(mptcp_sys::mptcp_info, mptcpi_token);
                buf[at..at + 4].copy_from_slice(&token.to_ne_bytes());
                Some(buf.len())
            }
        };
        assert!(socket_never_connected(answer(TCP_STATE_CLOSE, Some(0))));
        assert!(!socket_never_connected(answer(TCP_STATE_CLOSE, Some(7))));
        assert!(!socket_never_connected(answer(TCP_STATE_CLOSE, None)));
        assert!(!socket_never_connected(answer(1, Some(0))));
        assert!(!socket_never_connected(|_, _, _| None));
    }
}
