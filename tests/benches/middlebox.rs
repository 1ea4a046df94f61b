//! Time to first byte through the lab's middleboxes: a SYN blackhole (a firewall dropping
//! SYNs that carry MP_CAPABLE) with the kernel's own fallback, the library's racing connect,
//! and plain TCP; and the racing connect's cost on a clean path. Prints markdown tables for
//! BENCHMARKS.md.
//!
//! ```text
//! cargo bench -p mptcp-tests --bench middlebox              # both sections (~1 minute, root)
//! cargo bench -p mptcp-tests --bench middlebox -- clean     # only sections whose name matches
//! ```
//! Sections: `blackhole`, `clean`. Needs root (network namespaces) and `nft`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use mptcp_socket::{ConnectionKind, MptcpExt, MptcpListener, MptcpStream, DEFAULT_RACE_DELAY};
use mptcp_tests::bench::{read_trimmed, require_root, Sections};
use mptcp_tests::lab::{Endpoints, Lab};
use mptcp_tests::middlebox::Middlebox;

const PORT: u16 = 5000;
/// Fresh labs per figure through the blackhole (the kernel's way takes seconds each).
const BLACKHOLE_RUNS: usize = 5;
/// Connections per method on the clean path.
const CLEAN_RUNS: usize = 300;

fn main() {
    let sections = Sections::from_args();
    let wanted = |name: &str| sections.wanted(name);
    require_root("middlebox");
    println!(
        "# middlebox benchmarks; kernel {}; net.mptcp.syn_retrans_before_tcp_fallback {}",
        read_trimmed("/proc/sys/kernel/osrelease"),
        read_trimmed("/proc/sys/net/mptcp/syn_retrans_before_tcp_fallback"),
    );
    if wanted("blackhole") {
        blackhole();
    }
    if wanted("clean") {
        clean();
    }
}

/// How the client connects.
#[derive(Debug, Clone, Copy)]
enum Method {
    /// `MptcpStream::connect`: the kernel's own blackhole fallback.
    Kernel,
    /// `MptcpStream::connect_racing(addr, DEFAULT_RACE_DELAY)`.
    Racing,
    /// `std::net::TcpStream::connect`: plain TCP, never MPTCP.
    Tcp,
}

impl Method {
    fn label(self) -> &'static str {
        match self {
            Method::Kernel => "`MptcpStream::connect` (the kernel's fallback)",
            Method::Racing => "`MptcpStream::connect_racing`, 250 ms",
            Method::Tcp => "plain TCP (`std::net::TcpStream::connect`)",
        }
    }
}

/// A server in the lab's server namespace: accepts and writes one byte per connection.
struct OneByteServer {
    addr: SocketAddr,
    _listener: std::sync::Arc<MptcpListener>,
}

impl OneByteServer {
    fn start(lab: &Lab) -> OneByteServer {
        let listener = lab
            .server()
            .enter(|| MptcpListener::bind(("0.0.0.0", PORT)))
            .unwrap()
            .unwrap();
        let listener = std::sync::Arc::new(listener);
        let accepting = listener.clone();
        // Detached: it ends with an error when the lab (and the socket's namespace) goes.
        std::thread::spawn(move || {
            while let Ok((mut s, _)) = accepting.accept() {
                let _ = s.write_all(b"x");
            }
        });
        OneByteServer {
            addr: lab.server_sockaddr(1, PORT),
            _listener: listener,
        }
    }
}

/// Connects with `method` from the client namespace and reads the first byte: (time to
/// first byte, connection kind).
fn first_byte(lab: &Lab, addr: SocketAddr, method: Method) -> (Duration, ConnectionKind) {
    lab.client()
        .enter(|| {
            let start = Instant::now();
            let mut stream: TcpStream = match method {
                Method::Kernel => MptcpStream::connect(addr).unwrap().into(),
                Method::Racing => MptcpStream::connect_racing(addr, DEFAULT_RACE_DELAY)
                    .unwrap()
                    .into(),
                Method::Tcp => TcpStream::connect(addr).unwrap(),
            };
            let mut byte = [0u8];
            stream.read_exact(&mut byte).unwrap();
            (start.elapsed(), stream.connection_kind().unwrap())
        })
        .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn blackhole() {
    println!("\n## Time to first byte through a SYN blackhole\n");
    println!(
        "A fresh lab per connection (one 100 Mbit/s path, `Middlebox::DropMpCapableSyn`); \
         {BLACKHOLE_RUNS} runs each; the server writes one byte on accept.\n"
    );
    println!("| client | kind | median ms | min | max | MPTCP disabled in the namespace after |");
    println!("|---|---|---|---|---|---|");
    for method in [Method::Kernel, Method::Racing, Method::Tcp] {
        let mut times = Vec::new();
        let mut kinds = Vec::new();
        let mut disabled = 0;
        for _ in 0..BLACKHOLE_RUNS {
            let lab = Lab::builder()
                .paths([100])
                .endpoints(Endpoints::None)
                .build()
                .unwrap();
            lab.add_middlebox(1, Middlebox::DropMpCapableSyn).unwrap();
            let server = OneByteServer::start(&lab);
            let (t, kind) = first_byte(&lab, server.addr, method);
            times.push(t);
            kinds.push(kind);
            let c = lab.client().mptcp_counters().unwrap();
            disabled += usize::from(c.get("MPTcpExtBlackhole").copied().unwrap_or(0) > 0);
        }
        times.sort();
        kinds.dedup();
        let kinds: Vec<String> = kinds.iter().map(ToString::to_string).collect();
        println!(
            "| {} | {} | {} | {} | {} | {disabled} of {BLACKHOLE_RUNS} runs |",
            method.label(),
            kinds.join(", "),
            ms(percentile(&times, 0.5)),
            ms(times[0]),
            ms(*times.last().unwrap()),
        );
    }
}

fn clean() {
    println!("\n## Racing connect on a clean path\n");
    println!(
        "One lab (one 100 Mbit/s path, no middlebox), {CLEAN_RUNS} connections per client, \
         interleaved; time from `connect` to the server's first byte.\n"
    );
    let lab = Lab::builder()
        .paths([100])
        .endpoints(Endpoints::None)
        .build()
        .unwrap();
    let server = OneByteServer::start(&lab);
    let methods = [Method::Kernel, Method::Racing, Method::Tcp];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); methods.len()];
    let mut kinds: Vec<Vec<ConnectionKind>> = vec![Vec::new(); methods.len()];
    for _ in 0..CLEAN_RUNS {
        for (i, method) in methods.iter().enumerate() {
            let (t, kind) = first_byte(&lab, server.addr, *method);
            times[i].push(t);
            if !kinds[i].contains(&kind) {
                kinds[i].push(kind);
            }
        }
    }
    println!("| client | kind | median µs | p10 | p90 |");
    println!("|---|---|---|---|---|");
    for (i, method) in methods.iter().enumerate() {
        times[i].sort();
        let us = |d: Duration| format!("{:.0}", d.as_secs_f64() * 1e6);
        let k: Vec<String> = kinds[i].iter().map(ToString::to_string).collect();
        println!(
            "| {} | {} | {} | {} | {} |",
            method.label(),
            k.join(", "),
            us(percentile(&times[i], 0.5)),
            us(percentile(&times[i], 0.1)),
            us(percentile(&times[i], 0.9)),
        );
    }
}
