//! `mptcp_socket::tokio` inside a network namespace with `net.mptcp.enabled=0`, on the
//! multi-threaded runtime: the default policy works over plain TCP and says so; the strict
//! policy fails with the `UnavailableError`; connection errors stay what they are.

use std::io;

use mptcp_socket::tokio::{bind, bind_with, connect, connect_with, socket};
use mptcp_socket::{ConnectionKind, Fallback, MptcpExt, Unavailable, UnavailableError};
use mptcp_tests::lab::assert_same_bytes;
use mptcp_tests::Netns;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn assert_unavailable(err: io::Error) {
    assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
    let cause = UnavailableError::from_io(&err).expect("an UnavailableError");
    assert_eq!(cause.reason(), Unavailable::DisabledBySysctl);
    assert_eq!(cause.raw_os_error(), libc::ENOPROTOOPT);
    assert!(err.to_string().contains("net.mptcp.enabled=1"), "{err}");
}

#[mptcp_tests::needs(privileged)]
#[test]
fn tokio_in_namespace_with_mptcp_disabled() {
    let ns = Netns::new("tkoff").unwrap();
    ns.sysctl("net.mptcp.enabled", "0").unwrap();
    ns.block_on(async {
        // Strict: refused, with the errno and the fix.
        assert_unavailable(bind_with("127.0.0.1:0", Fallback::Never).await.unwrap_err());
        assert_unavailable(connect_with("[::1]:9", Fallback::Never).await.unwrap_err());
        assert_unavailable(socket(socket2::Domain::IPV6, Fallback::Never).unwrap_err());

        // Default policy: works over TCP, both ends say so, data arrives intact.
        for addr in ["127.0.0.1:0", "[::1]:0"] {
            let listener = bind(addr).await.unwrap();
            assert_eq!(listener.connection_kind().unwrap(), ConnectionKind::Tcp);
            let addr = listener.local_addr().unwrap();
            let server = tokio::spawn(async move {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut buf = vec![0; 100_000];
                stream.read_exact(&mut buf).await.unwrap();
                stream.write_all(&buf).await.unwrap();
                stream.connection_kind().unwrap()
            });
            let mut client = connect(addr).await.unwrap();
            assert_eq!(client.connection_kind().unwrap(), ConnectionKind::Tcp);
            let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
            client.write_all(&data).await.unwrap();
            let mut echo = vec![0; data.len()];
            client.read_exact(&mut echo).await.unwrap();
            assert_same_bytes("the echo", &echo, &data);
            assert_eq!(server.await.unwrap(), ConnectionKind::Tcp);

            // A refused connect is refused under the fallback too.
            drop(client);
            let closed = std::net::TcpListener::bind((addr.ip(), 0))
                .unwrap()
                .local_addr()
                .unwrap();
            let err = connect(closed).await.unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED), "{err}");
        }
    })
    .unwrap();
}
