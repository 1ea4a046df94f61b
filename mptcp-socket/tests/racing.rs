//! `MptcpStream::connect_racing` without a lab: over loopback it is MPTCP and never races;
//! a refused port is refused over both protocols, and the error says so; where the
//! namespace has no MPTCP it is one plain TCP connect.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use mptcp_socket::{ConnectionKind, MptcpExt, MptcpListener, MptcpStream, DEFAULT_RACE_DELAY};
use mptcp_tests::Netns;

#[mptcp_tests::needs(mptcp_enabled)]
#[test]
fn racing_connect_over_loopback_is_mptcp_and_does_not_wait() {
    let listener = MptcpListener::bind("127.0.0.1:0").unwrap();
    let start = Instant::now();
    let mut client =
        MptcpStream::connect_racing(listener.local_addr().unwrap(), DEFAULT_RACE_DELAY).unwrap();
    assert!(
        start.elapsed() < DEFAULT_RACE_DELAY,
        "{:?}",
        start.elapsed()
    );
    let (mut server, _) = listener.accept().unwrap();
    assert_eq!(client.connection_kind().unwrap(), ConnectionKind::Mptcp);
    // Blocking again, as std's streams are.
    client.write_all(b"ping").unwrap();
    let mut buf = [0; 4];
    server.read_exact(&mut buf).unwrap();
    server.write_all(&buf).unwrap();
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
}

#[mptcp_tests::needs(mptcp_enabled)]
#[test]
fn racing_connect_to_a_closed_port_is_refused_over_both() {
    let closed = mptcp_tests::ClosedPort::new("127.0.0.1");
    let start = Instant::now();
    let err = MptcpStream::connect_racing(closed.addr, Duration::from_secs(5)).unwrap_err();
    // The MPTCP refusal starts the TCP attempt at once, not after the delay.
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("over MPTCP") && text.contains("over plain TCP"),
        "{text}"
    );
}

#[mptcp_tests::needs(privileged)]
#[test]
fn racing_connect_without_mptcp_in_the_namespace_is_plain_tcp() {
    let ns = Netns::new("raceoff").unwrap();
    ns.sysctl("net.mptcp.enabled", "0").unwrap();
    ns.enter(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client =
            MptcpStream::connect_racing(listener.local_addr().unwrap(), DEFAULT_RACE_DELAY)
                .unwrap();
        assert_eq!(client.connection_kind().unwrap(), ConnectionKind::Tcp);
    })
    .unwrap();
}
