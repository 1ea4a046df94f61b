//! What the lab's integration tests and its benchmark (`benches/lab.rs`) share.
#![allow(dead_code)] // Each user takes a part.

use std::time::{Duration, Instant};

use mptcp_socket::{ConnectionKind, Fallback, MptcpExt, MptcpListener, MptcpStream, SubflowInfo};
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

/// How long [`wait_for_subflows`] waits. The in-kernel path manager opens a join once the
/// connection is fully established (the server's first DATA_ACK), and the library lists it
/// from SYN_SENT on, so a lost SYN (sent again 1, 3 and 7 s later) does not delay it. With
/// the three tests of `lab_aggregation` in parallel on 2 CPUs beside another test suite
/// (load 8-14), the joins were listed a median 10 ms after the transfer began, 121 ms at
/// the 99th percentile, 1.8 s at most (1,196 waits, 2026-12-07). Every wait that ran out
/// followed the kernel's skipped bytes (README, "Known kernel behaviour"): a join the
/// server had reset (`DSSNotMatching`), which the path manager never opens again, or a
/// connection torn down once the receiver failed. No longer wait would have seen more.
pub const SUBFLOWS_WITHIN: Duration = Duration::from_secs(5);

/// Waits (up to [`SUBFLOWS_WITHIN`]) until `stream` has one subflow per path of `lab`, as
/// the library lists them, and returns them. When they do not come, fails with the
/// subflows there are and what became of the joins ([`Lab::join_counters`]).
pub fn wait_for_subflows(lab: &Lab, stream: &MptcpStream) -> Vec<SubflowInfo> {
    let paths = lab.paths();
    mptcp_tests::wait_until(Instant::now() + SUBFLOWS_WITHIN, || {
        stream.subflows().is_ok_and(|s| s.len() == paths)
    });
    let subflows = stream.subflows().unwrap();
    assert_eq!(
        subflows.len(),
        paths,
        "{} subflows after {SUBFLOWS_WITHIN:?} for {paths} paths: {subflows:#?}\n\
         joins (read with mptcp_tests::observe::JOIN_COUNTERS): {}",
        subflows.len(),
        lab.join_counters()
    );
    subflows
}

/// Fails a test whose transfer failed, with the error and what became of the joins
/// ([`Lab::join_counters`]): a connection the kernel got wrong shows there too (a join the
/// server reset after `DSSNotMatching`).
pub fn failed_transfer(lab: &Lab, e: std::io::Error) -> ! {
    panic!(
        "transfer: {e}\njoins (read with mptcp_tests::observe::JOIN_COUNTERS): {}",
        lab.join_counters()
    )
}
