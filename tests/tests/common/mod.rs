//! What the lab's integration tests and its benchmark (`benches/lab.rs`) share.
#![allow(dead_code)] // Each user takes a part.

use std::time::Duration;

use mptcp_socket::{ConnectionKind, Fallback, MptcpExt, MptcpListener, MptcpStream};
use mptcp_tests::lab::Lab;

/// An MPTCP connection across `lab`, both ends with `Fallback::Never`, so that a missing
/// MPTCP is an error here, not a silently slower run: (listener, client, server).
///
/// The listener is bound to the server's any address and must stay open for the whole
/// transfer: joins for extra subflows arrive on it, and without them the connection would
/// hang when its only path is cut. The client connects to the server's path-1 address. The
/// server side's reads time out after `read_timeout` if given, so that a hung connection
/// fails instead of hanging (the sender is bounded by its socket buffer, the receiver by
/// this).
pub fn mptcp_connection(
    lab: &Lab,
    port: u16,
    read_timeout: Option<Duration>,
) -> (MptcpListener, MptcpStream, MptcpStream) {
    let listener = lab
        .server()
        .enter(|| MptcpListener::bind_with(("0.0.0.0", port), Fallback::Never))
        .unwrap()
        .expect("MPTCP listener in the server namespace");
    let client = lab
        .client()
        .enter(|| MptcpStream::connect_with(lab.server_sockaddr(1, port), Fallback::Never))
        .unwrap()
        .expect("MPTCP connection from the client namespace");
    let (server, _) = listener.accept().unwrap();
    server.set_read_timeout(read_timeout).unwrap();
    assert_eq!(client.connection_kind().unwrap(), ConnectionKind::Mptcp);
    (listener, client, server)
}

/// An MPTCP listener (the library's default policy) on the lab server's any address,
/// `port`: joins and announced addresses arrive there.
pub fn listen(lab: &Lab, port: u16) -> MptcpListener {
    lab.server()
        .enter(|| MptcpListener::bind(("0.0.0.0", port)))
        .unwrap()
        .expect("listen in the server namespace")
}

/// `MptcpStream::connect` (the library's default policy) from the client namespace to the
/// lab server's path-1 address, `port`.
pub fn connect(lab: &Lab, port: u16) -> MptcpStream {
    lab.client()
        .enter(|| MptcpStream::connect(lab.server_sockaddr(1, port)))
        .unwrap()
        .expect("connect to the lab server")
}
