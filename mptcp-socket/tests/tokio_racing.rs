//! `mptcp_socket::tokio::connect_racing` across the lab: through a firewall that drops MPTCP
//! SYNs it connects over plain TCP after the race delay, without tripping the kernel's
//! blackhole detection; on a clean path it is MPTCP and the race never starts.

use std::time::{Duration, Instant};

use mptcp_socket::tokio::connect_racing;
use mptcp_socket::{ConnectionKind, MptcpExt, MptcpListener, DEFAULT_RACE_DELAY};
use mptcp_tests::lab::{Endpoints, Lab};
use mptcp_tests::middlebox::Middlebox;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PORT: u16 = 5000;

/// Connects with `connect_racing` from the client namespace on a multi-threaded runtime,
/// exchanges a message, and returns (time to connect, the client's connection kind).
fn race_once(lab: &Lab) -> (Duration, ConnectionKind) {
    let listener = lab
        .server()
        .enter(|| MptcpListener::bind(("0.0.0.0", PORT)))
        .unwrap()
        .unwrap();
    let addr = lab.server_sockaddr(1, PORT);
    std::thread::scope(|scope| {
        let server = scope.spawn(|| {
            use std::io::{Read, Write};
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0; 5];
            s.read_exact(&mut buf).unwrap();
            s.write_all(&buf).unwrap();
        });
        let result = lab
            .client()
            .block_on(async {
                let start = Instant::now();
                let mut stream = connect_racing(addr, DEFAULT_RACE_DELAY).await.unwrap();
                let took = start.elapsed();
                stream.write_all(b"hello").await.unwrap();
                let mut buf = [0; 5];
                stream.read_exact(&mut buf).await.unwrap();
                assert_eq!(&buf, b"hello");
                (took, stream.connection_kind().unwrap())
            })
            .unwrap();
        server.join().unwrap();
        result
    })
}

#[mptcp_tests::needs(privileged, "nft")]
#[test]
fn tokio_racing_connect_through_a_syn_blackhole() {
    let name = "tokio_racing_connect_through_a_syn_blackhole";
    let lab = Lab::builder()
        .paths([50])
        .endpoints(Endpoints::None)
        .build()
        .unwrap();
    let blackhole = lab.add_middlebox(1, Middlebox::DropMpCapableSyn).unwrap();
    let (took, kind) = race_once(&lab);
    let c = lab.client().mptcp_counters().unwrap();
    assert_eq!(kind, ConnectionKind::Tcp, "{c:?}");
    // The delay plus a round trip, far below the kernel's first SYN retransmission (1 s).
    assert!(
        took >= DEFAULT_RACE_DELAY && took < Duration::from_secs(1),
        "connected after {took:?}"
    );
    assert_eq!(blackhole.packets().unwrap(), 1, "one MPTCP SYN, dropped");
    // The MPTCP attempt was closed before the kernel concluded "blackhole".
    assert_eq!(c["MPTcpExtBlackhole"], 0, "{c:?}");
    assert_eq!(c["MPTcpExtMPCapableSYNTXDrop"], 0, "{c:?}");
    eprintln!("{name}: connected over TCP after {took:?}");
}

#[mptcp_tests::needs(privileged, "nft")]
#[test]
fn tokio_racing_connect_on_a_clean_path_is_mptcp() {
    let lab = Lab::builder()
        .paths([50])
        .endpoints(Endpoints::None)
        .build()
        .unwrap();
    let (took, kind) = race_once(&lab);
    let c = lab.client().mptcp_counters().unwrap();
    assert_eq!(kind, ConnectionKind::Mptcp, "{c:?}");
    // Connected before the delay: the plain TCP attempt, which starts only then, never did.
    assert!(took < DEFAULT_RACE_DELAY, "connected after {took:?}");
    assert_eq!(c["MPTcpExtMPCapableSYNTX"], 1, "{c:?}");
    let s = lab.server().mptcp_counters().unwrap();
    assert_eq!(s["MPTcpExtMPCapableSYNRX"], 1, "{s:?}");
}
