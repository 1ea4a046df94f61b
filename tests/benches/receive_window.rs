//! MPTCP's stalls when a busy receiver reads in small pieces: a measured kernel behaviour,
//! not a defect of ours (no mptcpize in the loop: both ends ask for `IPPROTO_MPTCP`
//! themselves). Prints markdown tables for BENCHMARKS.md.
//!
//! What happens (Linux 6.18, seen in packet captures): the receiver's subflow acknowledges
//! data at the TCP level while the MPTCP-level DATA_ACK stays behind, and the sender fills
//! the MPTCP-level window. When
//! the program then reads the data in small pieces, the receiver sends no new DATA_ACK
//! until its window has grown a lot (or its queue is empty), so the sender hears nothing,
//! and after its MPTCP-level retransmission timer (200 ms at least) it sends the data
//! again (`MPTcpExtMPTCPRetrans`, and `MPTcpExtDuplicateData` at the receiver). Plain TCP
//! sends a window update on such reads. It takes parallel transfers competing for the CPU
//! (the receiver falls behind) and reads of less than about 64 KiB (curl reads 16 KiB,
//! Rust's `read_to_end` starts at 8 KiB). Each row also tries what might help: a sysctl (in
//! both namespaces), or `TCP_NODELAY` on the sending socket.
//!
//! ```text
//! cargo bench -p mptcp-tests --bench receive_window              # both sections (~1 minute, root)
//! cargo bench -p mptcp-tests --bench receive_window -- loopback  # only sections whose name matches
//! ```
//! Sections: `loopback` (one namespace), `veth` (two namespaces joined by the lab's one
//! veth path, MTU 1500, its tbf at 40 Gbit/s so that it never limits). Needs root (network
//! namespaces).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use mptcp_tests::bench::{read_trimmed, require_root, Sections};
use mptcp_tests::lab::{Endpoints, Lab};
use mptcp_tests::Netns;

const PORT: u16 = 5000;
/// Parallel client threads, each making [`TRANSFERS`] downloads one after the other.
const CLIENTS: usize = 6;
const TRANSFERS: usize = 40;
/// A transfer slower than this counts as stalled (the MPTCP-level retransmission timer is
/// 200 ms at least; a transfer here takes a few ms otherwise).
const STALL: Duration = Duration::from_millis(100);
/// The lab's path rate for the `veth` section: far above what two CPUs move, so the path
/// never limits the sender.
const FAST_PATH_MBIT: u32 = 40_000;

fn main() {
    let sections = Sections::from_args();
    let wanted = |name: &str| sections.wanted(name);
    require_root("receive-window");
    println!(
        "# receive-window benchmarks; kernel {}; {CLIENTS} clients × {TRANSFERS} transfers per row; stalled = over {} ms",
        read_trimmed("/proc/sys/kernel/osrelease"),
        STALL.as_millis()
    );
    if wanted("loopback") {
        let ns = Netns::new("rwin").expect("a network namespace");
        section("loopback (one namespace)", &ns, &ns, Ipv4Addr::LOCALHOST);
    }
    if wanted("veth") {
        let lab = Lab::builder()
            .paths([FAST_PATH_MBIT])
            .endpoints(Endpoints::None)
            .build()
            .expect("a one-path lab");
        section(
            "veth (two namespaces, one path, MTU 1500)",
            lab.client(),
            lab.server(),
            lab.server_addr(1),
        );
    }
}

/// One table: each protocol, response size, read size and receive-buffer setting.
fn section(title: &str, client: &Netns, server: &Netns, addr: Ipv4Addr) {
    println!("\n## {title}\n");
    println!("| protocol | response | read size | setting | median | p90 | stalled | MPTCP-level retransmissions | duplicate data at the receiver |");
    println!("|---|---:|---:|---|---:|---:|---:|---:|---:|");
    let rows = [
        Case::defaults(Protocol::Tcp, 1 << 20, 8 << 10),
        Case::defaults(Protocol::Mptcp, 1 << 20, 8 << 10),
        Case::defaults(Protocol::Mptcp, 1 << 20, 16 << 10),
        Case::defaults(Protocol::Mptcp, 1 << 20, 64 << 10),
        Case::defaults(Protocol::Mptcp, 1 << 20, 256 << 10),
        Case::defaults(Protocol::Mptcp, 256 << 10, 8 << 10),
        // The two settings measured as workarounds: a larger initial receive buffer (the
        // receiver's window closes later), and a shorter minimum retransmission timeout
        // (in case the sender's MPTCP-level timer, which ends each stall, followed it).
        Case {
            setting: Some(("net.ipv4.tcp_rmem", "4096 1048576 6291456")),
            ..Case::defaults(Protocol::Mptcp, 1 << 20, 8 << 10)
        },
        Case {
            setting: Some(("net.ipv4.tcp_rto_min_us", "5000")),
            ..Case::defaults(Protocol::Mptcp, 1 << 20, 8 << 10)
        },
        // And what a program can do: a sender with Nagle's algorithm off (Go's default).
        Case {
            sender_nodelay: true,
            ..Case::defaults(Protocol::Mptcp, 1 << 20, 8 << 10)
        },
    ];
    for (port, case) in (PORT..).zip(rows) {
        let Case {
            protocol,
            response,
            read_size,
            setting,
            sender_nodelay,
        } = case;
        let namespaces = if client.name() == server.name() {
            vec![client]
        } else {
            vec![client, server]
        };
        let saved: Vec<String> = match setting {
            Some((key, value)) => namespaces
                .iter()
                .map(|ns| {
                    let old = ns.run("sysctl", &["-n", key]).expect("sysctl");
                    ns.sysctl(key, value).expect("sysctl");
                    old.trim().to_string()
                })
                .collect(),
            None => Vec::new(),
        };
        let row = measure(client, server, addr, port, case);
        if let Some((key, _)) = setting {
            for (ns, old) in namespaces.iter().zip(&saved) {
                ns.sysctl(key, old).expect("sysctl");
            }
        }
        println!(
            "| {} | {} KiB | {} KiB | {} | {:.1} ms | {:.1} ms | {} of {} | {} | {} |",
            protocol.name(),
            response >> 10,
            read_size >> 10,
            match (setting, sender_nodelay) {
                (Some((k, v)), _) => format!("`{k}={v}`"),
                (None, true) => "`TCP_NODELAY` on the sender".to_string(),
                (None, false) => "defaults".to_string(),
            },
            ms(row.median),
            ms(row.p90),
            row.stalled,
            row.transfers,
            row.retransmissions,
            row.duplicate_data,
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One row: both ends use `protocol`; the server sends `response` bytes, the client reads
/// `read_size` bytes at a time; `setting`, a sysctl, is set in both namespaces for the row;
/// the server sets `TCP_NODELAY` on each connection when `sender_nodelay`.
#[derive(Debug, Clone, Copy)]
struct Case {
    protocol: Protocol,
    response: usize,
    read_size: usize,
    setting: Option<(&'static str, &'static str)>,
    sender_nodelay: bool,
}

impl Case {
    fn defaults(protocol: Protocol, response: usize, read_size: usize) -> Case {
        Case {
            protocol,
            response,
            read_size,
            setting: None,
            sender_nodelay: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Tcp,
    Mptcp,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Mptcp => "MPTCP",
        }
    }

    fn number(self) -> libc::c_int {
        match self {
            Protocol::Tcp => libc::IPPROTO_TCP,
            Protocol::Mptcp => libc::IPPROTO_MPTCP,
        }
    }
}

/// What one row measured.
struct Row {
    transfers: usize,
    median: Duration,
    p90: Duration,
    stalled: usize,
    /// `MPTcpExtMPTCPRetrans` of the server's namespace during the row.
    retransmissions: u64,
    /// `MPTcpExtDuplicateData` of the client's namespace during the row.
    duplicate_data: u64,
}

/// [`CLIENTS`] threads in `client` download [`TRANSFERS`] times each from a
/// thread-per-connection server in `server`, as `case` says.
fn measure(client: &Netns, server: &Netns, addr: Ipv4Addr, port: u16, case: Case) -> Row {
    let Case {
        protocol,
        response,
        read_size,
        sender_nodelay,
        ..
    } = case;
    let listener = server
        .enter(|| listen(protocol, port))
        .expect("enter")
        .expect("listen");
    let target = SocketAddr::from((addr, port));
    let retrans_before = server.counter("MPTcpExtMPTCPRetrans");
    let dup_before = client.counter("MPTcpExtDuplicateData");
    let mut times: Vec<Duration> = std::thread::scope(|scope| {
        scope.spawn(|| serve(listener, CLIENTS * TRANSFERS, response, sender_nodelay));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                scope.spawn(|| {
                    client
                        .enter(|| {
                            (0..TRANSFERS)
                                .map(|_| download(protocol, target, response, read_size))
                                .collect::<Vec<_>>()
                        })
                        .expect("enter the client namespace")
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|c| c.join().expect("a client thread"))
            .collect()
    });
    times.sort();
    Row {
        transfers: times.len(),
        median: times[times.len() / 2],
        p90: times[times.len() * 9 / 10],
        stalled: times.iter().filter(|t| **t > STALL).count(),
        retransmissions: server.counter("MPTcpExtMPTCPRetrans") - retrans_before,
        duplicate_data: client.counter("MPTcpExtDuplicateData") - dup_before,
    }
}

/// A listening socket of `protocol` on every address, `port`.
fn listen(protocol: Protocol, port: u16) -> io::Result<TcpListener> {
    let socket = socket(protocol)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    socket.listen(128)?;
    Ok(socket.into())
}

/// `socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, protocol)`.
fn socket(protocol: Protocol) -> io::Result<socket2::Socket> {
    socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::from(protocol.number())),
    )
}

/// A thread per connection, for `connections` connections: reads the request, writes
/// `response` bytes in 64 KiB writes, closes.
fn serve(listener: TcpListener, connections: usize, response: usize, nodelay: bool) {
    for stream in listener.incoming().take(connections) {
        let Ok(mut stream) = stream else { return };
        if nodelay && stream.set_nodelay(true).is_err() {
            return;
        }
        std::thread::spawn(move || {
            let mut request = [0u8; 64];
            if stream.read(&mut request).is_err() {
                return;
            }
            let chunk = vec![b'm'; 64 << 10];
            let mut left = response;
            while left > 0 {
                let n = left.min(chunk.len());
                if stream.write_all(&chunk[..n]).is_err() {
                    return;
                }
                left -= n;
            }
        });
    }
}

/// One download: connect, ask, read until the server closes, `read_size` bytes at a time.
fn download(protocol: Protocol, target: SocketAddr, response: usize, read_size: usize) -> Duration {
    let started = Instant::now();
    let socket = socket(protocol).expect("socket");
    socket.connect(&target.into()).expect("connect");
    let mut stream: TcpStream = socket.into();
    stream.write_all(b"GET\n").expect("request");
    let mut buf = vec![0u8; read_size];
    let mut got = 0;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    assert_eq!(got, response, "a whole response");
    started.elapsed()
}
