//! `mptcp_socket::tokio` on the multi-threaded runtime: megabytes checked byte for byte over
//! IPv4 and IPv6, MPTCP on both ends (asked of the sockets and counted by the kernel),
//! `ECONNREFUSED` for a closed port, and a failed connect is never retried over TCP.

use std::io;
use std::time::Duration;

use mptcp_socket::tokio::{bind, bind_with, connect, connect_with, socket};
use mptcp_socket::{ConnectionKind, Fallback, MptcpExt};
use mptcp_tests::lab::{assert_same_bytes, pattern_bytes};
use mptcp_tests::{ClosedPort, Netns};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Sends `up` from a client to the server and `down` back, at the same time, through an
/// MPTCP listener and connection; checks every byte and the kinds of both ends.
async fn round_trip(bind_addr: &str, up: usize, down: usize) {
    let listener = bind(bind_addr).await.unwrap();
    assert_eq!(listener.connection_kind().unwrap(), ConnectionKind::Mptcp);
    let addr = listener.local_addr().unwrap();
    let (up_data, down_data) = (pattern_bytes(up, 7), pattern_bytes(down, 8));

    let expected_up = up_data.clone();
    let sent_down = down_data.clone();
    // A spawned task: accept and the server's I/O run on another worker thread.
    let server = tokio::spawn(async move {
        let (stream, peer) = listener.accept().await.unwrap();
        assert_eq!(stream.peer_addr().unwrap(), peer);
        let kind = stream.connection_kind().unwrap();
        let (mut rd, mut wr) = stream.into_split();
        let writer = tokio::spawn(async move {
            wr.write_all(&sent_down).await.unwrap();
            wr.shutdown().await.unwrap();
        });
        let mut got = Vec::with_capacity(expected_up.len());
        rd.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert!(got == expected_up, "server received corrupted data");
        kind
    });

    let client = connect(addr).await.unwrap();
    assert_eq!(client.connection_kind().unwrap(), ConnectionKind::Mptcp);
    assert_eq!(client.peer_addr().unwrap(), addr);
    let info = client.mptcp_info().unwrap();
    // The server's key came in the SYN-ACK: the MPTCP handshake is complete.
    assert!(info.remote_key_received());
    assert_eq!(info.bytes_sent(), Some(0));
    let subflows = client.subflows().unwrap();
    assert_eq!(subflows.len(), 1, "{subflows:?}");
    assert_eq!(subflows[0].remote, addr);

    let (mut rd, mut wr) = client.into_split();
    let writer = tokio::spawn(async move {
        wr.write_all(&up_data).await.unwrap();
        wr.shutdown().await.unwrap();
        wr
    });
    let mut got = Vec::with_capacity(down);
    rd.read_to_end(&mut got).await.unwrap();
    let wr = writer.await.unwrap();
    assert_same_bytes("the client", &got, &down_data);
    assert_eq!(server.await.unwrap(), ConnectionKind::Mptcp);

    // The kernel's MPTCP-level counters saw exactly the bytes of the test.
    let client = rd.reunite(wr).unwrap();
    let info = client.mptcp_info().unwrap();
    assert_eq!(info.bytes_received(), Some(down as u64));
    assert_eq!(info.bytes_sent().map(|b| b >= up as u64), Some(true));
}

#[test]
fn round_trip_ipv4_and_ipv6_multi_thread() {
    runtime().block_on(async {
        // 8 MiB up and 3 MiB down, concurrently, on both families.
        round_trip("127.0.0.1:0", 8 << 20, 3 << 20).await;
        round_trip("[::1]:0", 8 << 20, 3 << 20).await;
    });
}

#[test]
fn many_concurrent_connections() {
    runtime().block_on(async {
        let listener = bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let mut tasks = Vec::new();
            for _ in 0..64 {
                let (mut stream, _) = listener.accept().await.unwrap();
                tasks.push(tokio::spawn(async move {
                    let kind = stream.connection_kind().unwrap();
                    let (mut rd, mut wr) = stream.split();
                    tokio::io::copy(&mut rd, &mut wr).await.unwrap();
                    kind
                }));
            }
            for task in tasks {
                assert_eq!(task.await.unwrap(), ConnectionKind::Mptcp);
            }
        });
        let clients: Vec<_> = (0..64u64)
            .map(|i| {
                tokio::spawn(async move {
                    let mut stream = connect(addr).await.unwrap();
                    let data = pattern_bytes(64 << 10, i);
                    let (mut rd, mut wr) = stream.split();
                    let (_, got) = tokio::join!(
                        async {
                            wr.write_all(&data).await.unwrap();
                            wr.shutdown().await.unwrap();
                        },
                        async {
                            let mut got = Vec::new();
                            rd.read_to_end(&mut got).await.unwrap();
                            got
                        }
                    );
                    assert_same_bytes(&format!("connection {i}: echo"), &got, &data);
                })
            })
            .collect();
        for client in clients {
            client.await.unwrap();
        }
        server.await.unwrap();
    });
}

fn assert_refused(result: io::Result<TcpStream>) {
    let err = result.expect_err("a connect to a closed port must fail");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED), "{err}");
}

#[test]
fn connect_to_closed_port_is_refused() {
    runtime().block_on(async {
        for ip in ["127.0.0.1", "::1"] {
            let closed = ClosedPort::new(ip);
            let addr = closed.addr;
            assert_refused(connect(addr).await);
            assert_refused(connect_with(addr, Fallback::Never).await);
            let sock = socket(socket2::Domain::for_address(addr), Fallback::Tcp).unwrap();
            assert_refused(sock.connect(addr).await);
        }
    });
}

/// The namespace's MPTCP counters `names` (`nstat`, see `Netns::mptcp_counters`).
fn nstat(ns: &Netns, names: &[&str]) -> Vec<u64> {
    names.iter().map(|name| ns.counter(name)).collect()
}

/// In a fresh namespace, so that the kernel's counters belong to this test alone: a refused
/// connect is one MPTCP SYN, never a second attempt over TCP; and the round trips are seen
/// by the kernel as MPTCP handshakes on both ends.
#[mptcp_tests::needs(privileged)]
#[test]
fn kernel_counts_one_attempt_and_mptcp_handshakes() {
    let ns = Netns::new("tokio").unwrap();
    const COUNTERS: [&str; 4] = [
        "TcpActiveOpens",
        "MPTcpExtMPCapableSYNTX",
        "MPTcpExtMPCapableSYNRX",
        "MPTcpExtMPCapableSYNACKRX",
    ];
    let before = nstat(&ns, &COUNTERS);
    ns.enter(|| {
        runtime().block_on(async {
            assert_refused(connect(ClosedPort::new("127.0.0.1").addr).await);
        })
    })
    .unwrap();
    let after_refused = nstat(&ns, &COUNTERS);
    let delta: Vec<u64> = after_refused
        .iter()
        .zip(&before)
        .map(|(a, b)| a - b)
        .collect();
    assert_eq!(
        delta,
        [1, 1, 0, 0],
        "a refused connect must be exactly one MPTCP attempt ({COUNTERS:?})"
    );

    ns.enter(|| {
        runtime().block_on(async {
            round_trip("127.0.0.1:0", 1 << 20, 1 << 20).await;
            round_trip("[::1]:0", 1 << 20, 1 << 20).await;
        })
    })
    .unwrap();
    let after = nstat(&ns, &COUNTERS);
    let delta: Vec<u64> = after
        .iter()
        .zip(&after_refused)
        .map(|(a, b)| a - b)
        .collect();
    assert_eq!(delta, [2, 2, 2, 2], "two MPTCP connections ({COUNTERS:?})");
}

#[test]
fn strict_policy_works_where_mptcp_is_available() {
    runtime().block_on(async {
        let listener = bind_with("127.0.0.1:0", Fallback::Never).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move { listener.accept().await.map(|(s, _)| s) });
        let client = connect_with(addr, Fallback::Never).await.unwrap();
        let server = tokio::time::timeout(Duration::from_secs(5), accept)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(client.connection_kind().unwrap(), ConnectionKind::Mptcp);
        assert_eq!(server.connection_kind().unwrap(), ConnectionKind::Mptcp);
    });
}

/// A plain tokio TCP client against an MPTCP listener from this module: it works, and the
/// server sees plain TCP (the client's choice).
#[test]
fn plain_tcp_client_is_accepted() {
    runtime().block_on(async {
        let listener = bind("[::1]:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move { listener.accept().await.map(|(s, _)| s) });
        let mut client = TcpStream::connect(addr).await.unwrap();
        let mut server = accept.await.unwrap().unwrap();
        assert_eq!(client.connection_kind().unwrap(), ConnectionKind::Tcp);
        assert_eq!(server.connection_kind().unwrap(), ConnectionKind::Tcp);
        client.write_all(b"plain").await.unwrap();
        let mut buf = [0; 5];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"plain");
    });
}
