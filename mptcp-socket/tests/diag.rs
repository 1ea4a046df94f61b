//! `mptcp_socket::diag` against real connections over loopback: the MPTCP connection with
//! its subflow matched by token and the bytes really sent, a connection that fell back, a
//! plain TCP one, and the owning process.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::thread;
use std::time::{Duration, Instant};

use mptcp_socket::diag::{Connection, ProcessTable, Snapshot, SockDiag, Sockets};
use mptcp_socket::{ConnectionKind, MptcpExt, MptcpListener, MptcpStream};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Snapshots until `pred` holds or 5 s pass (ACKs settle asynchronously).
fn snapshot_until(
    diag: &mut SockDiag,
    sockets: Sockets,
    what: &str,
    mut pred: impl FnMut(&Snapshot) -> bool,
) -> Snapshot {
    let start = Instant::now();
    loop {
        let snap = diag.snapshot(sockets).expect("sock_diag snapshot");
        if pred(&snap) {
            return snap;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out waiting for {what}: {snap:#?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn find(snap: &Snapshot, local: SocketAddr, remote: SocketAddr) -> Option<&Connection> {
    snap.connections
        .iter()
        .find(|c| c.local == local && c.remote == remote)
}

fn inode_of(fd: &impl AsRawFd) -> u32 {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    std::fs::metadata(path).unwrap().ino() as u32
}

#[mptcp_tests::needs(mptcp_enabled)]
#[test]
fn mptcp_connection_with_its_subflow_and_bytes() {
    let listener = MptcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = 3 << 20;
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut got = vec![0; sent];
        stream.read_exact(&mut got).unwrap();
        stream.write_all(b"done").unwrap();
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
    });
    let mut client = MptcpStream::connect(addr).unwrap();
    client.write_all(&vec![7u8; sent]).unwrap();
    let mut done = [0; 4];
    client.read_exact(&mut done).unwrap();
    assert_eq!(client.connection_kind().unwrap(), ConnectionKind::Mptcp);
    let local = client.local_addr().unwrap();
    let token = client.mptcp_info().unwrap().token();

    let mut diag = SockDiag::new().unwrap();
    let snap = snapshot_until(&mut diag, Sockets::Mptcp, "the client's subflow", |s| {
        let Some(conn) = find(s, local, addr) else {
            return false;
        };
        if !s.subflows_matched {
            return true;
        }
        conn.subflows.iter().any(|sf| {
            sf.tcp
                .and_then(|t| t.bytes_acked())
                .is_some_and(|b| b > sent as u64)
        })
    });
    let conn = find(&snap, local, addr).expect("client connection listed");
    assert_eq!(conn.kind, ConnectionKind::Mptcp);
    assert_eq!(conn.token(), Some(token), "token from mptcp_info");
    assert_eq!(conn.inode, inode_of(&client), "inode of the client socket");
    assert!(conn.mptcp.unwrap().bytes_sent().unwrap_or(u64::MAX) >= sent as u64);
    // The server's side of the same connection is there too.
    let server_side = find(&snap, addr, local).expect("server connection listed");
    assert_eq!(server_side.kind, ConnectionKind::Mptcp);

    if is_root() {
        assert!(snap.subflows_matched, "CAP_NET_ADMIN gives subflow tokens");
    }
    if snap.subflows_matched {
        assert_eq!(conn.subflows.len(), 1, "{conn:#?}");
        let sf = &conn.subflows[0];
        assert_eq!((sf.local, sf.remote), (local, addr));
        assert_eq!(sf.token_local, Some(token));
        assert!(!sf.backup() && !sf.joined() && sf.fully_established());
        let tcp = sf.tcp.expect("subflow tcp_info");
        // bytes_acked counts the SYN too (1 + data), never less than the data sent.
        assert!(tcp.bytes_acked().unwrap() > sent as u64, "{tcp:?}");
        assert_eq!(server_side.subflows.len(), 1);
        assert!(
            server_side.subflows[0]
                .tcp
                .unwrap()
                .bytes_received()
                .unwrap()
                >= sent as u64
        );
    } else {
        // Kernels that give the subflow token only to CAP_NET_ADMIN (Linux 6.18 gives it
        // to everyone, measured): the subflows are known as MPTCP subflows, not placed.
        assert!(conn.subflows.is_empty());
        assert!(snap
            .unmatched_subflows
            .iter()
            .any(|sf| (sf.local, sf.remote) == (local, addr)));
    }

    let table = ProcessTable::scan().unwrap();
    let me = table.owner(conn.inode).expect("owner of the client socket");
    assert_eq!(me.pid, std::process::id());
    assert!(!me.comm.is_empty());
    drop(client);
    server.join().unwrap();
}

#[mptcp_tests::needs(mptcp_enabled)]
#[test]
fn fallback_and_plain_tcp() {
    // An MPTCP client to a plain TCP server falls back.
    let tcp_server = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = tcp_server.local_addr().unwrap();
    let fell_back = MptcpStream::connect(addr).unwrap();
    let (_accepted, _) = tcp_server.accept().unwrap();
    let fb_local = fell_back.local_addr().unwrap();
    // And a plain TCP connection.
    let plain = TcpStream::connect(addr).unwrap();
    let (_accepted2, _) = tcp_server.accept().unwrap();
    let plain_local = plain.local_addr().unwrap();

    let mut diag = SockDiag::new().unwrap();
    let snap = snapshot_until(&mut diag, Sockets::All, "both connections", |s| {
        find(s, fb_local, addr).is_some() && find(s, plain_local, addr).is_some()
    });
    let fb = find(&snap, fb_local, addr).unwrap();
    assert_eq!(fb.kind, ConnectionKind::FellBack, "{fb:#?}");
    let tcp = find(&snap, plain_local, addr).unwrap();
    assert_eq!(tcp.kind, ConnectionKind::Tcp);
    assert!(tcp.tcp.is_some() && tcp.mptcp.is_none() && tcp.subflows.is_empty());
    assert_eq!(tcp.inode, inode_of(&plain));

    // Plain TCP is only listed when asked for.
    let mptcp_only = diag.snapshot(Sockets::Mptcp).unwrap();
    assert!(find(&mptcp_only, plain_local, addr).is_none());
    assert!(find(&mptcp_only, fb_local, addr).is_some());
}

#[mptcp_tests::needs(mptcp_enabled)]
#[test]
fn ipv6_connections_are_listed() {
    let test = "ipv6_connections_are_listed";
    let listener = MptcpListener::bind("[::1]:0");
    let no_ipv6 = listener
        .as_ref()
        .err()
        .map(|e| format!("no IPv6 loopback ([::1]: {e})"));
    if !mptcp_tests::skip_unless(test, no_ipv6.as_deref()) {
        return;
    }
    let listener = listener.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = MptcpStream::connect(addr).unwrap();
    let (_server, _) = listener.accept().unwrap();
    let local = client.local_addr().unwrap();
    let mut diag = SockDiag::new().unwrap();
    let snap = snapshot_until(&mut diag, Sockets::Mptcp, "the IPv6 connection", |s| {
        find(s, local, addr).is_some()
    });
    let conn = find(&snap, local, addr).unwrap();
    assert_eq!(conn.kind, ConnectionKind::Mptcp);
    // Listed once, although both family tables were asked.
    let count = snap
        .connections
        .iter()
        .filter(|c| c.cookie == conn.cookie)
        .count();
    assert_eq!(count, 1);
    if snap.subflows_matched {
        assert_eq!(conn.subflows.len(), 1);
        assert_eq!(conn.subflows[0].local, local);
    }
}
