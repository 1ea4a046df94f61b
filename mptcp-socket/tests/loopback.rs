//! Real MPTCP connections over loopback, IPv4 and IPv6: data, connection kinds,
//! `mptcp_info` counters and subflow addresses checked against what was really sent.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd};
use std::thread;
use std::time::{Duration, Instant};

use mptcp_socket::{ConnectionKind, Fallback, MptcpExt, MptcpListener, MptcpStream};
use mptcp_tests::lab::{assert_same_bytes, pattern_bytes};

const V4: &str = "127.0.0.1:0";
const V6: &str = "[::1]:0";

/// Polls `f` until it returns true or 3 s pass (ACKs and counters settle asynchronously).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "timed out: {what}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

fn round_trip(bind: &str) {
    let listener = MptcpListener::bind(bind).unwrap();
    assert_eq!(listener.connection_kind().unwrap(), ConnectionKind::Mptcp);
    let addr = listener.local_addr().unwrap();
    let up = pattern_bytes(8 << 20, 1);
    let down = pattern_bytes(3 << 20, 2);

    let (up2, down2) = (up.clone(), down.clone());
    let server = thread::spawn(move || {
        let (mut stream, peer) = listener.accept().unwrap();
        assert_eq!(stream.peer_addr().unwrap(), peer);
        let before = stream.mptcp_info().unwrap();
        // Only now may the client start: `before` must precede its data.
        stream.write_all(b"!").unwrap();
        let mut got = vec![0; up2.len()];
        stream.read_exact(&mut got).unwrap();
        assert_same_bytes("the server", &got, &up2);
        stream.write_all(&down2).unwrap();
        let kind = stream.connection_kind().unwrap();
        let info = stream.mptcp_info().unwrap();
        // Every byte the client wrote, and only those, arrived at the MPTCP level.
        assert_eq!(info.rcv_nxt() - before.rcv_nxt(), up2.len() as u64);
        assert_eq!(
            info.write_seq() - before.write_seq(),
            1 + down2.len() as u64
        );
        assert!(info.bytes_received().unwrap() >= up2.len() as u64);
        eventually("server's data acknowledged", || {
            stream.mptcp_info().unwrap().bytes_acked() == Some(1 + down2.len() as u64)
        });
        // Returned, so that no DATA_FIN reaches the client before it has checked.
        (kind, stream, listener)
    });

    let mut client = MptcpStream::connect(addr).unwrap();
    assert_eq!(client.connection_kind().unwrap(), ConnectionKind::Mptcp);
    let mut go = [0; 1];
    client.read_exact(&mut go).unwrap();
    let before = client.mptcp_info().unwrap();
    assert_eq!(before.bytes_sent(), Some(0));
    client.write_all(&up).unwrap();
    let mut got = vec![0; down.len()];
    client.read_exact(&mut got).unwrap();
    assert_same_bytes("the client", &got, &down);
    let (server_kind, _server_stream, _listener) = server.join().unwrap();
    assert_eq!(server_kind, ConnectionKind::Mptcp);

    let info = client.mptcp_info().unwrap();
    assert!(!info.fell_back());
    assert!(info.remote_key_received());
    // Data sequence numbers move by exactly the bytes written and read (the "!" included),
    // and every written byte is acknowledged.
    assert_eq!(info.rcv_nxt() - before.rcv_nxt(), down.len() as u64);
    assert_eq!(info.write_seq() - before.write_seq(), up.len() as u64);
    assert_eq!(info.snd_una(), info.write_seq(), "everything acknowledged");
    assert_eq!(info.bytes_acked(), Some(up.len() as u64));
    assert!(info.bytes_sent().unwrap() >= up.len() as u64);
    // `mptcpi_bytes_received` was measured counting duplicate data twice (3,150,592 for
    // 3,145,728 bytes read, Linux 6.18.44): a lower bound; `rcv_nxt` above is exact.
    // At least the go byte and the data.
    assert!(info.bytes_received().unwrap() > down.len() as u64);
    assert_eq!(
        info.subflows(),
        0,
        "loopback without endpoints: no extra subflow"
    );
    assert_eq!(info.subflows_total(), Some(1));

    let subflows = client.subflows().unwrap();
    assert_eq!(subflows.len(), 1, "{subflows:?}");
    let sf = &subflows[0];
    assert_eq!(sf.local, client.local_addr().unwrap());
    assert_eq!(sf.remote, client.peer_addr().unwrap());
    let tcp = sf.tcp.expect("tcp_info of the subflow");
    assert_eq!(tcp.state(), 1, "TCP_ESTABLISHED");
    // One subflow carried everything: its TCP counters cover the MPTCP-level bytes.
    assert!(tcp.bytes_received().unwrap() > down.len() as u64);
    assert!(tcp.bytes_acked().unwrap() >= up.len() as u64);
    assert!(tcp.rtt() > Duration::ZERO);
    assert!(tcp.snd_cwnd() > 0);
    assert!(
        sf.id.is_some(),
        "MPTCP_FULL_INFO gives subflow ids on Linux 6.5+"
    );

    // The pre-6.5 path (SUBFLOW_ADDRS + TCPINFO) agrees on addresses and counters.
    let legacy = mptcp_socket::subflows_without_full_info(client.as_fd()).unwrap();
    assert_eq!(legacy.len(), 1);
    assert_eq!((legacy[0].local, legacy[0].remote), (sf.local, sf.remote));
    let legacy_tcp = legacy[0].tcp.expect("tcp_info from MPTCP_TCPINFO");
    assert_eq!(legacy_tcp.bytes_received(), tcp.bytes_received());
    assert_eq!(legacy[0].id, None);
}

#[test]
fn round_trip_ipv4() {
    round_trip(V4);
}

#[test]
fn round_trip_ipv6() {
    round_trip(V6);
}

#[test]
fn mptcp_client_to_plain_tcp_server_falls_back() {
    for bind in [V4, V6] {
        let server = TcpListener::bind(bind).unwrap();
        let mut client = MptcpStream::connect(server.local_addr().unwrap()).unwrap();
        let (mut accepted, _) = server.accept().unwrap();
        client.write_all(b"ping").unwrap();
        let mut buf = [0; 4];
        accepted.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
        assert_eq!(
            client.connection_kind().unwrap(),
            ConnectionKind::FellBack,
            "{bind}"
        );
        assert_eq!(accepted.connection_kind().unwrap(), ConnectionKind::Tcp);
        // The MPTCP-only queries say clearly that this is not MPTCP.
        let err = client.mptcp_info().unwrap_err();
        assert!(
            matches!(
                err.raw_os_error(),
                Some(libc::EOPNOTSUPP | libc::ENOPROTOOPT)
            ),
            "{err}"
        );
        assert!(client.subflows().is_err());
    }
}

#[test]
fn plain_tcp_client_to_mptcp_listener_works() {
    for bind in [V4, V6] {
        let listener = MptcpListener::bind(bind).unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut accepted, _) = listener.accept().unwrap();
        client.write_all(b"hello").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut got = String::new();
        accepted.read_to_string(&mut got).unwrap();
        assert_eq!(got, "hello");
        assert_eq!(client.connection_kind().unwrap(), ConnectionKind::Tcp);
        // For a client that did not ask for MPTCP, the kernel's MPTCP listener hands out
        // the plain TCP socket itself (SO_PROTOCOL 6), so this is TCP, not "fell back".
        assert_eq!(
            accepted.connection_kind().unwrap(),
            ConnectionKind::Tcp,
            "{bind}"
        );
        assert!(accepted.mptcp_info().is_err());
    }
}

#[test]
fn connection_errors_are_not_retried_or_hidden() {
    // A port nobody listens on: ECONNREFUSED under either policy, no TCP retry.
    let closed = mptcp_tests::ClosedPort::new("127.0.0.1");
    let port = closed.addr;
    for fallback in [Fallback::Tcp, Fallback::Never] {
        let err = MptcpStream::connect_with(port, fallback).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED));
        let err =
            MptcpStream::connect_timeout_with(&port, Duration::from_secs(2), fallback).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED), "{err}");
    }
}

#[test]
fn conversions_keep_the_socket() {
    let listener = MptcpListener::bind(V4).unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let client = MptcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    let (server, _) = listener.accept().unwrap();
    let fd = client.as_raw_fd();

    // std and back, socket2 and back, raw fd and back: same fd, still MPTCP.
    let std_stream: TcpStream = client.into();
    assert_eq!(std_stream.connection_kind().unwrap(), ConnectionKind::Mptcp);
    let client = MptcpStream::from(std_stream);
    let socket: socket2::Socket = client.into();
    assert_eq!(socket.connection_kind().unwrap(), ConnectionKind::Mptcp);
    assert_eq!(socket.as_raw_fd(), fd);
    let client = MptcpStream::from(socket);
    let raw = client.into_raw_fd();
    let client = unsafe { MptcpStream::from_raw_fd(raw) };
    assert_eq!(client.as_raw_fd(), fd);

    // Reading and writing through shared references, from two threads at once.
    let clone = client.try_clone().unwrap();
    assert_ne!(clone.as_raw_fd(), fd);
    client.set_nodelay(true).unwrap();
    assert!(clone.nodelay().unwrap());
    let writer = thread::spawn(move || {
        (&clone).write_all(b"via a clone").unwrap();
        clone.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = String::new();
    (&server).read_to_string(&mut got).unwrap();
    writer.join().unwrap();
    assert_eq!(got, "via a clone");
    (&server).write_all(b"back").unwrap();
    let mut buf = [0; 4];
    (&client).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"back");

    // The listener converts too, and keeps accepting.
    let listener = MptcpListener::from(TcpListener::from(listener));
    let _c = MptcpStream::connect(addr).unwrap();
    let accepted = listener.incoming().next().unwrap().unwrap();
    assert_eq!(accepted.connection_kind().unwrap(), ConnectionKind::Mptcp);
}

#[test]
fn new_socket_gives_options_before_connect() {
    let listener = MptcpListener::bind(V6).unwrap();
    let socket = mptcp_socket::new_socket(socket2::Domain::IPV6, Fallback::Never).unwrap();
    socket.set_tcp_nodelay(true).unwrap();
    socket.set_keepalive(true).unwrap();
    assert_eq!(
        socket.protocol().unwrap(),
        Some(socket2::Protocol::from(262))
    );
    socket
        .connect(&listener.local_addr().unwrap().into())
        .unwrap();
    let stream = MptcpStream::from(socket);
    assert!(stream.nodelay().unwrap());
    assert!(stream.as_socket().keepalive().unwrap());
    assert_eq!(stream.connection_kind().unwrap(), ConnectionKind::Mptcp);
}

#[test]
fn available_here() {
    // The host this runs on has MPTCP (the namespace tests check the other answers).
    if std::fs::read_to_string("/proc/sys/net/mptcp/enabled").is_ok_and(|v| v.trim() == "1") {
        assert!(mptcp_socket::available().unwrap().is_available());
    }
}

#[test]
fn sockets_that_are_not_tcp_have_no_connection_kind() {
    let udp = std::net::UdpSocket::bind(V4).unwrap();
    let udp6 = std::net::UdpSocket::bind(V6).unwrap();
    let (unix, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let dgram = std::os::unix::net::UnixDatagram::unbound().unwrap();
    for (what, fd) in [
        ("UDP", udp.as_fd()),
        ("UDP over IPv6", udp6.as_fd()),
        ("UNIX stream", unix.as_fd()),
        ("UNIX datagram", dgram.as_fd()),
    ] {
        let err = fd.connection_kind().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{what}: {err}");
        assert!(
            err.to_string().contains("not a TCP or MPTCP socket"),
            "{what}: {err}"
        );
    }
    // A TCP socket of either family still answers.
    let tcp = TcpListener::bind(V6).unwrap();
    assert_eq!(tcp.connection_kind().unwrap(), ConnectionKind::Tcp);
}
