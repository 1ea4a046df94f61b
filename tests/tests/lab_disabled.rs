//! MPTCP disabled in the client's namespace (`net.mptcp.enabled=0`) while the server has
//! it: the library's default policy (`Fallback::Tcp`) still transfers every byte, over TCP,
//! and says so (`ConnectionKind::Tcp`); `Fallback::Never` refuses with the cause. The
//! kernel's counters confirm that no MPTCP handshake was tried. (The same case for programs
//! under `mptcpize run` is in `lab_mptcpize.rs`.)
use std::time::Duration;

use mptcp_socket::{ConnectionKind, Fallback, MptcpExt, MptcpListener, MptcpStream};
use mptcp_tests::lab::{self, Amount, Lab};

const PORT: u16 = 5000;

#[mptcp_tests::needs(privileged)]
#[test]
fn library_default_policy_falls_back_to_tcp_on_a_client_without_mptcp() {
    let lab = Lab::builder()
        .paths([50, 50])
        .client_mptcp(false)
        .build()
        .unwrap();
    let listener = lab
        .server()
        .enter(|| MptcpListener::bind(("0.0.0.0", PORT)))
        .unwrap()
        .unwrap();
    assert_eq!(listener.connection_kind().unwrap(), ConnectionKind::Mptcp);

    // Fallback::Never: an error that names the cause, not a TCP socket.
    let refused = lab
        .client()
        .enter(|| MptcpStream::connect_with(lab.server_sockaddr(1, PORT), Fallback::Never))
        .unwrap()
        .expect_err("Fallback::Never must refuse where MPTCP is disabled");
    assert_eq!(refused.raw_os_error(), None, "{refused:?}");
    let cause = mptcp_socket::UnavailableError::from_io(&refused)
        .unwrap_or_else(|| panic!("not an UnavailableError: {refused:?}"));
    // What socket(…, IPPROTO_MPTCP) fails with when net.mptcp.enabled=0.
    assert_eq!(cause.raw_os_error(), libc::ENOPROTOOPT, "{refused}");

    // The default policy: plain TCP, and the connection says so on both ends.
    let client = lab
        .client()
        .enter(|| MptcpStream::connect(lab.server_sockaddr(1, PORT)))
        .unwrap()
        .expect("the default policy connects over TCP");
    let (server, _) = listener.accept().unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(client.connection_kind().unwrap(), ConnectionKind::Tcp);
    // An MPTCP listener hands out a plain TCP socket to a client that did not ask for
    // MPTCP.
    assert_eq!(server.connection_kind().unwrap(), ConnectionKind::Tcp);
    assert!(client.subflows().is_err(), "a TCP socket has no subflows");

    let t = lab::transfer(&client, server, Amount::Bytes(4 << 20), |_| {}).unwrap();
    assert_eq!(t.received.bytes, 4 << 20);
    // One path's rate at most: TCP, one path.
    let mbit = t.received.mbit();
    assert!(mbit < 50.0, "{mbit:.1} Mbit/s over one 50 Mbit/s path?");

    // From outside: no MPTCP socket in the client's namespace, no MP_CAPABLE sent or seen.
    assert!(lab.client().mptcp_connections().unwrap().is_empty());
    let c = lab.client().mptcp_counters().unwrap();
    assert_eq!(c["MPTcpExtMPCapableSYNTX"], 0, "{c:?}");
    let s = lab.server().mptcp_counters().unwrap();
    assert_eq!(s["MPTcpExtMPCapableSYNRX"], 0, "{s:?}");
    assert_eq!(s["MPTcpExtMPJoinSynRx"], 0, "{s:?}");
}
