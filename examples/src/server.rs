//! The start of the async servers (`echo-server`, `http-server`): an MPTCP listener, or the
//! reason there is none.

use std::net::SocketAddr;

use mptcp_socket::MptcpExt;
use tokio::net::TcpListener;

/// A tokio listener on `addr` made by `mptcp_socket::tokio::bind` (MPTCP, or plain TCP
/// where the kernel has none), with its local address (the port chosen for port 0) and
/// its connection kind in words, for the server's first line. When binding fails, prints
/// `NAME: cannot listen on ADDR: ERROR` and returns None: the server exits with failure.
pub async fn listen(name: &str, addr: SocketAddr) -> Option<(TcpListener, SocketAddr, String)> {
    let listener = match mptcp_socket::tokio::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("{name}: cannot listen on {addr}: {err}");
            return None;
        }
    };
    let local = listener
        .local_addr()
        .expect("getsockname on a bound socket");
    let kind = listener
        .connection_kind()
        .map_or_else(|e| e.to_string(), |k| k.to_string());
    Some((listener, local, kind))
}
