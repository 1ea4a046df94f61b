//! The multipath lab's benchmarks (not timed tests): aggregation efficiency, failover, and
//! the library's overhead over loopback. Prints markdown tables for BENCHMARKS.md.
//!
//! ```text
//! cargo bench -p mptcp-tests --bench lab                 # everything (~3 minutes, root)
//! cargo bench -p mptcp-tests --bench lab -- overhead     # only sections whose name matches
//! ```
//! Sections: `aggregation`, `failover`, `overhead`. Needs root (network namespaces) and
//! valgrind (user-space instruction counts with callgrind).
#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::time::{Duration, Instant};

use mptcp_socket::{ConnectionKind, Fallback, MptcpExt, MptcpListener, MptcpStream};
use mptcp_tests::bench::{read_trimmed, require_root, Sections};
use mptcp_tests::lab::{self, Amount, Lab};
use mptcp_tests::Netns;
use socket2::{Domain, SockAddr};

const PORT: u16 = 5000;
/// Runs per figure; the tables give the median and the range.
const RUNS: usize = 3;

fn main() {
    let sections = Sections::from_args();
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        callgrind_child(&spec);
        return;
    }
    let wanted = |name: &str| sections.wanted(name);
    require_root("lab");
    println!(
        "# lab benchmarks; kernel {}; default congestion control {}",
        read_trimmed("/proc/sys/kernel/osrelease"),
        read_trimmed("/proc/sys/net/ipv4/tcp_congestion_control"),
    );
    if wanted("aggregation") {
        aggregation();
    }
    if wanted("failover") {
        failover();
    }
    if wanted("overhead") {
        overhead();
    }
}

/// (median, min, max)
fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn fmt_range(v: &[f64], digits: usize) -> String {
    let (m, lo, hi) = stats(v.to_vec());
    format!("{m:.digits$} ({lo:.digits$}–{hi:.digits$})")
}

// ---- aggregation ----

/// Steady-state goodput (Mbit/s, after `skip`) of one `secs`-long transfer client → server
/// in a fresh lab. `mptcp`: MptcpStream from path 1's address (joins over the others);
/// else plain std TCP over path 1. `cc`: a congestion control for the sending socket.
fn lab_goodput(rates: &[u32], mptcp: bool, cc: Option<&str>, secs: u64, skip: Duration) -> f64 {
    let lab = Lab::builder().paths(rates.to_vec()).build().unwrap();
    let t = if mptcp {
        let (_listener, client, server) = common::mptcp_connection(&lab, PORT, None);
        if let Some(cc) = cc {
            client
                .as_socket()
                .set_tcp_congestion(cc.as_bytes())
                .unwrap();
        }
        let t = lab::transfer(
            &client,
            server,
            Amount::For(Duration::from_secs(secs)),
            |_| {},
        )
        .unwrap();
        assert_eq!(client.subflows().unwrap().len(), rates.len());
        t
    } else {
        let listener = lab
            .server()
            .enter(|| TcpListener::bind(("0.0.0.0", PORT)))
            .unwrap()
            .unwrap();
        let client = lab
            .client()
            .enter(|| TcpStream::connect(lab.server_sockaddr(1, PORT)))
            .unwrap()
            .unwrap();
        if let Some(cc) = cc {
            socket2::SockRef::from(&client)
                .set_tcp_congestion(cc.as_bytes())
                .unwrap();
        }
        let (server, _) = listener.accept().unwrap();
        lab::transfer(
            &client,
            server,
            Amount::For(Duration::from_secs(secs)),
            |_| {},
        )
        .unwrap()
    };
    t.received.steady_mbit(skip)
}

fn aggregation() {
    println!("\n## aggregation: goodput / sum of path rates (steady state: 5 s runs, first 1 s skipped)\n");
    println!("| paths (Mbit/s) | congestion control | MPTCP Mbit/s | MPTCP / sum | TCP on path 1 Mbit/s | TCP / path 1 |");
    println!("|---|---|---|---|---|---|");
    let skip = Duration::from_secs(1);
    for rates in [[50u32, 50], [80, 20]] {
        let sum: u32 = rates.iter().sum();
        for cc in [None, Some("cubic")] {
            let m: Vec<f64> = (0..RUNS)
                .map(|_| lab_goodput(&rates, true, cc, 5, skip))
                .collect();
            let t: Vec<f64> = (0..RUNS)
                .map(|_| lab_goodput(&rates, false, cc, 5, skip))
                .collect();
            let eff: Vec<f64> = m.iter().map(|x| x / sum as f64).collect();
            let teff: Vec<f64> = t.iter().map(|x| x / rates[0] as f64).collect();
            println!(
                "| {} + {} | {} | {} | {} | {} | {} |",
                rates[0],
                rates[1],
                cc.unwrap_or("default"),
                fmt_range(&m, 1),
                fmt_range(&eff, 3),
                fmt_range(&t, 1),
                fmt_range(&teff, 3)
            );
        }
    }
}

// ---- failover ----

fn failover() {
    println!("\n## failover: 2 x 50 Mbit/s, 40 MB, path 1 (initial subflow) cut at 2 s\n");
    println!("| congestion control | longest gap without a byte (s) | time lost to the cut (s) | goodput before (Mbit/s) | goodput, last second (Mbit/s) | total (s) |");
    println!("|---|---|---|---|---|---|");
    for cc in [None, Some("cubic")] {
        let mut rows: Vec<[f64; 5]> = Vec::new();
        for _ in 0..RUNS {
            let lab = Lab::builder().paths([50, 50]).build().unwrap();
            let (_listener, client, server) =
                common::mptcp_connection(&lab, PORT, Some(Duration::from_secs(30)));
            if let Some(cc) = cc {
                client
                    .as_socket()
                    .set_tcp_congestion(cc.as_bytes())
                    .unwrap();
            }
            let cut_at = std::sync::Mutex::new(None);
            let t = lab::transfer(&client, server, Amount::Bytes(40_000_000), |start| {
                std::thread::sleep(Duration::from_secs(2).saturating_sub(start.elapsed()));
                lab.path_down(1).unwrap();
                *cut_at.lock().unwrap() = Some(Instant::now());
            })
            .unwrap();
            let r = t.received;
            let cut = cut_at.into_inner().unwrap().unwrap() - r.start;
            let end = r.elapsed();
            let rest = r.bytes - r.bytes_at(cut);
            let lost = (end - cut).as_secs_f64() - rest as f64 * 8.0 / (50e6 * 1448.0 / 1514.0);
            rows.push([
                r.longest_stall_after(cut).0.as_secs_f64(),
                lost,
                r.mbit_between(r.first_byte() + Duration::from_millis(500), cut),
                r.mbit_between(end - Duration::from_secs(1), end),
                end.as_secs_f64(),
            ]);
        }
        let col = |i: usize, d: usize| fmt_range(&rows.iter().map(|r| r[i]).collect::<Vec<_>>(), d);
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            cc.unwrap_or("default"),
            col(0, 2),
            col(1, 2),
            col(2, 1),
            col(3, 1),
            col(4, 2)
        );
    }
}

// ---- library overhead over loopback ----

#[derive(Clone, Copy, Debug)]
enum Variant {
    /// `MptcpListener` / `MptcpStream`.
    Ours,
    /// The same MPTCP sockets (`mptcp_socket::new_socket`), driven as std's
    /// `TcpListener`/`TcpStream` through `from_raw_fd`.
    RawMptcp,
    /// std's `TcpListener`/`TcpStream`: plain TCP.
    Tcp,
}

const VARIANTS: [Variant; 3] = [Variant::Ours, Variant::RawMptcp, Variant::Tcp];

/// What a workload cost: wall time, and CPU time of this process (all threads, user and
/// system: `getrusage(RUSAGE_SELF)`). Loopback's receive work runs in softirq context on
/// the sending thread's CPU and is charged to it, so CPU time covers both ends; unlike wall
/// time it does not grow while other programs on the machine hold the CPU.
#[derive(Clone, Copy, Debug)]
struct Cost {
    wall: Duration,
    cpu: Duration,
}

fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Measures `f`.
fn cost(f: impl FnOnce()) -> Cost {
    let (wall, cpu) = (Instant::now(), cpu_time());
    f();
    Cost {
        wall: wall.elapsed(),
        cpu: cpu_time() - cpu,
    }
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Ours => "MptcpStream",
            Variant::RawMptcp => "MPTCP socket as std TcpStream (from_raw_fd)",
            Variant::Tcp => "plain TCP (std TcpStream)",
        }
    }
}

fn raw_mptcp_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let s = mptcp_socket::new_socket(Domain::IPV4, Fallback::Never)?;
    s.set_reuse_address(true)?;
    s.bind(&SockAddr::from(addr))?;
    s.listen(128)?;
    // SAFETY: a listening socket we own, handed over whole.
    Ok(unsafe { TcpListener::from_raw_fd(s.into_raw_fd()) })
}

fn raw_mptcp_connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = mptcp_socket::new_socket(Domain::IPV4, Fallback::Never)?;
    s.connect(&SockAddr::from(addr))?;
    // SAFETY: a connected socket we own, handed over whole.
    Ok(unsafe { TcpStream::from_raw_fd(s.into_raw_fd()) })
}

/// Moves `bytes` from client to server over loopback (128 KiB writes and reads, no
/// checking: only the sockets' cost counts here).
fn throughput<L, S>(listener: L, accept: impl Fn(&L) -> S + Send, client: S, bytes: u64) -> Cost
where
    L: Send,
    S: Read + Write + Send,
{
    let buf = vec![0x5au8; 128 * 1024];
    let mut client = client;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut s = accept(&listener);
            tx.send(()).unwrap();
            let mut buf = vec![0u8; 128 * 1024];
            let mut got = 0u64;
            loop {
                match s.read(&mut buf).unwrap() {
                    0 => break,
                    n => got += n as u64,
                }
            }
            got
        });
        rx.recv().unwrap();
        let mut got = 0;
        let c = cost(|| {
            let mut sent = 0u64;
            while sent < bytes {
                sent += client.write(&buf).unwrap() as u64;
            }
            drop(client);
            got = reader.join().unwrap();
            assert_eq!(got, sent);
        });
        assert!(got >= bytes);
        c
    })
}

/// [`throughput`] with variant `v`, over the loopback of the calling thread's namespace.
fn run_throughput(v: Variant, bytes: u64) -> Cost {
    let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    match v {
        Variant::Ours => {
            let l = MptcpListener::bind_with(any, Fallback::Never).unwrap();
            let c = MptcpStream::connect_with(l.local_addr().unwrap(), Fallback::Never).unwrap();
            assert_eq!(c.connection_kind().unwrap(), ConnectionKind::Mptcp);
            throughput(l, |l| l.accept().unwrap().0, c, bytes)
        }
        Variant::RawMptcp => {
            let l = raw_mptcp_listener(any).unwrap();
            let c = raw_mptcp_connect(l.local_addr().unwrap()).unwrap();
            assert_eq!(c.connection_kind().unwrap(), ConnectionKind::Mptcp);
            throughput(l, |l| l.accept().unwrap().0, c, bytes)
        }
        Variant::Tcp => {
            let l = TcpListener::bind(any).unwrap();
            let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            throughput(l, |l| l.accept().unwrap().0, c, bytes)
        }
    }
}

/// `n` connections in lock step: connect, 1-byte request, 1-byte answer, close on both
/// ends.
fn connection_rate<L, S>(
    listener: L,
    accept: impl Fn(&L) -> S + Send,
    connect: impl Fn() -> S,
    n: usize,
) -> Cost
where
    L: Send,
    S: Read + Write + Send,
{
    std::thread::scope(|scope| {
        cost(|| {
            let server = scope.spawn(move || {
                for _ in 0..n {
                    let mut s = accept(&listener);
                    let mut b = [0u8; 1];
                    s.read_exact(&mut b).unwrap();
                    s.write_all(&b).unwrap();
                }
            });
            for _ in 0..n {
                let mut c = connect();
                c.write_all(b"x").unwrap();
                let mut b = [0u8; 1];
                c.read_exact(&mut b).unwrap();
            }
            server.join().unwrap();
        })
    })
}

/// [`connection_rate`] with variant `v`, over the loopback of the calling thread's namespace.
fn run_connection_rate(v: Variant, n: usize) -> Cost {
    let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    match v {
        Variant::Ours => {
            let l = MptcpListener::bind_with(any, Fallback::Never).unwrap();
            let a = l.local_addr().unwrap();
            connection_rate(
                l,
                |l| l.accept().unwrap().0,
                || MptcpStream::connect_with(a, Fallback::Never).unwrap(),
                n,
            )
        }
        Variant::RawMptcp => {
            let l = raw_mptcp_listener(any).unwrap();
            let a = l.local_addr().unwrap();
            connection_rate(
                l,
                |l| l.accept().unwrap().0,
                || raw_mptcp_connect(a).unwrap(),
                n,
            )
        }
        Variant::Tcp => {
            let l = TcpListener::bind(any).unwrap();
            let a = l.local_addr().unwrap();
            connection_rate(
                l,
                |l| l.accept().unwrap().0,
                || TcpStream::connect(a).unwrap(),
                n,
            )
        }
    }
}

fn overhead() {
    // Loopback of a namespace of our own per round (no other traffic, no TIME_WAIT sockets
    // from earlier rounds); the variants take turns within each round, in a rotating
    // order, so that a busy moment of the shared machine hits all of them alike, and each
    // round gives a paired ratio (variant / raw MPTCP in the same round).
    const ROUNDS: usize = 15;
    const BYTES: u64 = 1 << 30;
    const CONNS: usize = 500;
    // All threads on one CPU (threads inherit the mask): whether client and server happen
    // to share a CPU changed connections/s by 2x from one round to the next otherwise.
    pin_to_one_cpu();
    let mut bulk: Vec<Vec<Cost>> = vec![Vec::new(); VARIANTS.len()];
    let mut conn: Vec<Vec<Cost>> = vec![Vec::new(); VARIANTS.len()];
    for round in 0..ROUNDS {
        let ns = Netns::new("bench").unwrap();
        for k in 0..VARIANTS.len() {
            let i = (round + k) % VARIANTS.len();
            let v = VARIANTS[i];
            let (b, c) = ns
                .enter(|| (run_throughput(v, BYTES), run_connection_rate(v, CONNS)))
                .unwrap();
            bulk[i].push(b);
            conn[i].push(c);
        }
    }
    let gbit = |c: &Cost| BYTES as f64 * 8.0 / c.wall.as_secs_f64() / 1e9;
    let gbit_per_cpu_s = |c: &Cost| BYTES as f64 * 8.0 / c.cpu.as_secs_f64() / 1e9;
    let per_s = |c: &Cost| CONNS as f64 / c.wall.as_secs_f64();
    let per_cpu_s = |c: &Cost| CONNS as f64 / c.cpu.as_secs_f64();
    // Figures of merit, higher is better; ratios per round against raw MPTCP (index 1).
    let column = |m: &Vec<Vec<Cost>>, f: &dyn Fn(&Cost) -> f64, i: usize| -> (String, String) {
        let values: Vec<f64> = m[i].iter().map(f).collect();
        let ratios: Vec<f64> = m[i].iter().zip(&m[1]).map(|(a, b)| f(a) / f(b)).collect();
        (fmt_range(&values, 2), fmt_range(&ratios, 3))
    };
    println!(
        "\n## library overhead over loopback ({ROUNDS} rounds; median (min–max); ratios per round against raw MPTCP)\n"
    );
    println!("| sockets | Gbit/s, wall (1 GiB in 128 KiB writes) | ratio | Gbit per CPU second | ratio | connections/s, wall ({CONNS} × connect, 1-byte request and answer, close) | ratio | connections per CPU second | ratio |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (i, v) in VARIANTS.iter().enumerate() {
        let (a, ar) = column(&bulk, &gbit, i);
        let (b, br) = column(&bulk, &gbit_per_cpu_s, i);
        let (c, cr) = column(&conn, &per_s, i);
        let (d, dr) = column(&conn, &per_cpu_s, i);
        println!(
            "| {} | {a} | {ar} | {b} | {br} | {c} | {cr} | {d} | {dr} |",
            v.name()
        );
    }
    callgrind();
}

/// Restricts the calling thread, and the threads it starts later, to the CPU it is on.
fn pin_to_one_cpu() {
    // SAFETY: plain libc calls on a zeroed cpu_set_t of our own.
    unsafe {
        let cpu = libc::sched_getcpu().max(0) as usize;
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            eprintln!("sched_setaffinity: {}", io::Error::last_os_error());
        }
    }
}

// ---- user-space instructions (callgrind): deterministic where wall clock is noisy ----

/// Environment variable that makes this program a callgrind child: `conn|bytes VARIANT N`.
const CHILD_ENV: &str = "LAB_BENCH_CALLGRIND_CHILD";

fn variant_named(name: &str) -> Variant {
    match name {
        "ours" => Variant::Ours,
        "raw" => Variant::RawMptcp,
        "tcp" => Variant::Tcp,
        _ => panic!("unknown variant {name}"),
    }
}

/// In a callgrind child: run the workload over the root namespace's loopback.
fn callgrind_child(spec: &str) {
    let f: Vec<&str> = spec.split_whitespace().collect();
    let (what, v, n): (&str, Variant, u64) = (f[0], variant_named(f[1]), f[2].parse().unwrap());
    match what {
        "conn" => {
            run_connection_rate(v, n as usize);
        }
        "bytes" => {
            run_throughput(v, n * 128 * 1024);
        }
        _ => panic!("unknown workload {what}"),
    }
}

/// Total instructions (user space, all threads) of this program run as `spec` under
/// callgrind.
fn instructions(spec: &str) -> u64 {
    let out = std::env::temp_dir().join(format!("lab-bench-callgrind-{}.out", std::process::id()));
    let status = std::process::Command::new("valgrind")
        .args(["--tool=callgrind", "-q"])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(std::env::current_exe().unwrap())
        .env(CHILD_ENV, spec)
        .status()
        .expect("valgrind (apt-get install valgrind)");
    assert!(status.success(), "callgrind child {spec}: {status}");
    let text = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("callgrind output without totals")
}

fn callgrind() {
    // Instructions per operation = (I(2N) - I(N)) / N: start-up and set-up cancel out.
    // Three measurements each: how many read() calls 128 KiB takes depends on timing.
    println!("\n## library overhead over loopback, user-space instructions (callgrind, client + server threads; 3 runs: median (min–max))\n");
    println!("| sockets | per connection (connect, 1-byte request and answer, close; accept on the other side) | per 128 KiB moved (write + reads) |");
    println!("|---|---|---|");
    for (v, name) in [
        (Variant::Ours, "ours"),
        (Variant::RawMptcp, "raw"),
        (Variant::Tcp, "tcp"),
    ] {
        let per = |what: &str, n: u64| {
            let runs: Vec<f64> = (0..3)
                .map(|_| {
                    let a = instructions(&format!("{what} {name} {n}"));
                    let b = instructions(&format!("{what} {name} {}", 2 * n));
                    (b as f64 - a as f64) / n as f64
                })
                .collect();
            fmt_range(&runs, 0)
        };
        println!(
            "| {} | {} | {} |",
            v.name(),
            per("conn", 200),
            per("bytes", 2000)
        );
    }
}
