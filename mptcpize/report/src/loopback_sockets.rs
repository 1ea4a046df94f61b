//! Loopback sockets for the library's unit tests: a listener, and a connected pair.

use libc::c_int;
use socket2::{Domain, Protocol, Socket, Type};

/// A socket of `protocol` (`IPPROTO_TCP` or `IPPROTO_MPTCP`) listening on an ephemeral port
/// of 127.0.0.1, or None when the kernel refuses the protocol (`net.mptcp.enabled=0`).
pub fn listener(protocol: c_int) -> Option<Socket> {
    let listener = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::from(protocol))).ok()?;
    let any_port: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    listener.bind(&any_port.into()).unwrap();
    listener.listen(1).unwrap();
    Some(listener)
}

/// A connected (client, server) pair over loopback with `protocol`, or None when the
/// kernel refuses it.
pub fn pair(protocol: c_int) -> Option<(Socket, Socket)> {
    let listener = listener(protocol)?;
    let client = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::from(protocol))).unwrap();
    client.connect(&listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    Some((client, server))
}
