//! Benchmark: the async echo server with 10,000 concurrent connections on loopback, over
//! plain TCP, over MPTCP through `mptcp_socket::tokio`, and over raw MPTCP sockets
//! (socket2 with `IPPROTO_MPTCP` handed to tokio, no library) — the kernel's own cost of
//! MPTCP, which the library should add nothing to.
//!
//! ```text
//! cargo run --release -p mptcp-examples --bin echo-bench
//! ```
//!
//! Each mode runs as a fresh server process and a fresh client process of this program (so
//! that one mode's freed memory does not hide the next one's, and each needs only one
//! descriptor per connection), all in the same private network namespace when run as root
//! (`unshare`: nothing in the host's namespace is changed; in it the ephemeral port range is
//! widened to 1024–65535 and `somaxconn` raised). `RLIMIT_NOFILE` is raised as needed.
//!
//! Per mode: connections per second to establish them all (at most `--concurrency` connects
//! in flight) and the CPU time (client + server) per connection; verified round trips per
//! second with every connection busy at once, and CPU time per round trip; memory per
//! connection — the server's and the client's RSS growth, and the kernel's slab growth
//! (system-wide, so other activity on the machine adds noise). Every echo is checked byte
//! for byte; any failure, missing echo or accept-queue overflow is reported, and failures
//! make the exit status non-zero.

use mptcp_examples::outln;
use std::io;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use mptcp_socket::{ConnectionKind, Fallback, MptcpExt};
use serde_json::{json, Value};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Echo server benchmark: MPTCP vs TCP vs raw MPTCP sockets.
#[derive(Parser, Clone)]
struct Args {
    /// Concurrent connections, all held open during the round trips.
    #[arg(long, default_value_t = 10_000)]
    connections: u64,
    /// Round trips per connection.
    #[arg(long, default_value_t = 10)]
    rounds: u64,
    /// Bytes per message.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Connects in flight at once while establishing (below the listen backlog of 1024).
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Listen backlog (default: --connections, so that it holds every connection).
    #[arg(long)]
    backlog: Option<u32>,
    /// Runs of each mode (interleaved: tcp, mptcp, raw, tcp, …).
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// Modes to run.
    #[arg(long, value_delimiter = ',', default_value = "tcp,mptcp,raw-mptcp")]
    modes: Vec<Mode>,
    /// Stay in the current network namespace (the default, as root, is a private one).
    #[arg(long)]
    no_netns: bool,
    /// Internal: be the echo server of this mode.
    #[arg(long, hide = true)]
    serve: Option<Mode>,
    /// Internal: be the client of this mode (with --server and --server-pid).
    #[arg(long, hide = true)]
    drive: Option<Mode>,
    /// Internal: the server's address, for --drive.
    #[arg(long, hide = true)]
    server: Option<SocketAddr>,
    /// Internal: the server's process id, for --drive.
    #[arg(long, hide = true)]
    server_pid: Option<u32>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// tokio's own TcpListener::bind / TcpStream::connect.
    Tcp,
    /// mptcp_socket::tokio::bind_with / connect_with, Fallback::Never.
    Mptcp,
    /// socket2 sockets with IPPROTO_MPTCP handed to tokio (no library).
    RawMptcp,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Tcp => "tcp",
            Mode::Mptcp => "mptcp",
            Mode::RawMptcp => "raw-mptcp",
        }
    }

    fn expected_kind(self) -> ConnectionKind {
        match self {
            Mode::Tcp => ConnectionKind::Tcp,
            Mode::Mptcp | Mode::RawMptcp => ConnectionKind::Mptcp,
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(mode) = args.serve.or(args.drive) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let result = match (args.serve, args.server, args.server_pid) {
            (Some(_), _, _) => runtime.block_on(serve(mode, args.connections, backlog(&args))),
            (None, Some(addr), Some(pid)) => runtime.block_on(drive(mode, addr, pid, &args)),
            _ => Err(io::Error::other("--drive needs --server and --server-pid")),
        };
        return match result {
            Ok(result) => {
                outln!("{result}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("echo-bench: {}: {err}", mode.name());
                ExitCode::FAILURE
            }
        };
    }

    // The server and the client are separate processes: one descriptor per connection
    // each, plus slack. (Children inherit the limit.)
    if let Err(err) = raise_nofile(args.connections + 64) {
        eprintln!("echo-bench: {err}");
        return ExitCode::FAILURE;
    }
    match prepare_network(&args) {
        Ok(note) => outln!("echo-bench: {note}"),
        Err(err) => {
            eprintln!("echo-bench: {err}");
            return ExitCode::FAILURE;
        }
    }
    outln!(
        "echo-bench: {} connections, {} round trips of {} bytes each, {} connects in flight",
        args.connections,
        args.rounds,
        args.size,
        args.concurrency
    );
    outln!(
        "{:<10} {:>6} {:>7} {:>8} {:>7} {:>7} {:>6} {:>9} {:>9} {:>7} {:>7} {:>6}",
        "mode",
        "conns",
        "conn/s",
        "cpu µs/c",
        "rt",
        "rt/s",
        "µs/rt",
        "srvRSS/c",
        "cliRSS/c",
        "slab/c",
        "kind ok",
        "failed"
    );
    let mut all_ok = true;
    // Per mode, each run's row of figures, for the medians.
    let mut runs: Vec<(Mode, [f64; 7])> = Vec::new();
    for _ in 0..args.repeat {
        for &mode in &args.modes {
            let r = match run_child(mode, &args) {
                Ok(r) => r,
                Err(err) => {
                    all_ok = false;
                    eprintln!("echo-bench: {}: {err}", mode.name());
                    continue;
                }
            };
            let n = args.connections;
            let int = |v: &Value| v.as_u64().unwrap_or(0);
            let float = |v: &Value| v.as_f64().unwrap_or(0.0);
            let verified = int(&r["round_trips_verified"]);
            let server = &r["server"];
            // Every byte the clients verified went through the server once, and nothing else.
            let bytes_ok = int(&server["echoed_bytes"]) == verified * args.size.max(16) as u64;
            let failed = int(&r["failures"])
                + int(&server["errors"])
                + u64::from(int(&server["accepted"]) != n)
                + u64::from(!bytes_ok)
                + (n * args.rounds - verified.min(n * args.rounds));
            let kinds = int(&r["client_expected_kind"]).min(int(&server["expected_kind"]));
            all_ok &= failed == 0 && kinds == n;
            let figures = [
                float(&r["connections_per_s"]),
                float(&r["cpu_us_per_connection"]),
                float(&r["round_trips_per_s"]),
                float(&r["cpu_us_per_round_trip"]),
                float(&r["server_rss_bytes_per_connection"]),
                float(&r["client_rss_bytes_per_connection"]),
                float(&r["slab_bytes_per_connection"]),
            ];
            runs.push((mode, figures));
            let overflows = int(&r["listen_overflows"]);
            if overflows > 0 {
                outln!(
                    "  ({}: the accept queue overflowed {overflows} times: SYNs were dropped \
                     and retransmitted after 1 s; raise --backlog)",
                    mode.name()
                );
            }
            outln!(
                "{:<10} {:>6} {:>7.0} {:>8.1} {:>7} {:>7.0} {:>6.1} {:>9.0} {:>9.0} {:>7.0} {:>7} {:>6}",
                mode.name(),
                n,
                figures[0],
                figures[1],
                verified,
                figures[2],
                figures[3],
                figures[4],
                figures[5],
                figures[6],
                kinds,
                failed,
            );
        }
    }
    if args.repeat > 1 {
        outln!("median of {} runs:", args.repeat);
        for &mode in &args.modes {
            let median = |i: usize| {
                let mut v: Vec<f64> = runs
                    .iter()
                    .filter(|(m, _)| *m == mode)
                    .map(|(_, f)| f[i])
                    .collect();
                v.sort_by(f64::total_cmp);
                v.get(v.len() / 2).copied().unwrap_or(0.0)
            };
            outln!(
                "{:<10} {:>6} {:>7.0} {:>8.1} {:>7} {:>7.0} {:>6.1} {:>9.0} {:>9.0} {:>7.0}",
                mode.name(),
                args.connections,
                median(0),
                median(1),
                "",
                median(2),
                median(3),
                median(4),
                median(5),
                median(6),
            );
        }
    }
    if all_ok {
        outln!("echo-bench: every connection established, every echo verified, none lost");
        ExitCode::SUCCESS
    } else {
        outln!("echo-bench: FAILURES (see above)");
        ExitCode::FAILURE
    }
}

/// Runs one mode: a fresh server process and a fresh client process of this program (same
/// namespace, same limits); returns the client's and the server's counts merged.
fn run_child(mode: Mode, args: &Args) -> io::Result<Value> {
    let exe = std::env::current_exe()?;
    let common = [
        "--connections".to_string(),
        args.connections.to_string(),
        "--rounds".to_string(),
        args.rounds.to_string(),
        "--size".to_string(),
        args.size.to_string(),
        "--concurrency".to_string(),
        args.concurrency.to_string(),
        "--backlog".to_string(),
        backlog(args).to_string(),
    ];
    let mut server = Command::new(&exe)
        .args(["--serve", mode.name()])
        .args(&common)
        .stdout(Stdio::piped())
        .spawn()?;
    let mut server_out = BufReader::new(server.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    server_out.read_line(&mut line)?;
    let Some(addr) = line.trim().strip_prefix("listening ") else {
        let _ = server.kill();
        let _ = server.wait();
        return Err(io::Error::other(format!("the server said {line:?}")));
    };
    let client = Command::new(&exe)
        .args(["--drive", mode.name(), "--server", addr])
        .args(["--server-pid", &server.id().to_string()])
        .args(&common)
        .stderr(Stdio::inherit())
        .output()?;
    if !client.status.success() {
        let _ = server.kill();
        let _ = server.wait();
        return Err(io::Error::other(format!(
            "client exited with {}",
            client.status
        )));
    }
    let mut result: Value = serde_json::from_slice(&client.stdout).map_err(io::Error::other)?;
    // The server ends once every connection has closed.
    let mut rest = String::new();
    server_out.read_to_string(&mut rest)?;
    let status = server.wait()?;
    if !status.success() {
        return Err(io::Error::other(format!("server exited with {status}")));
    }
    result["server"] = serde_json::from_str(rest.trim()).map_err(io::Error::other)?;
    Ok(result)
}

/// Raises `RLIMIT_NOFILE` to at least `needed` (beyond the hard limit: CAP_SYS_RESOURCE).
fn raise_nofile(needed: u64) -> io::Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(io::Error::last_os_error());
        }
        if lim.rlim_cur >= needed {
            return Ok(());
        }
        // Within the hard limit any process may raise its soft limit; beyond it needs
        // CAP_SYS_RESOURCE.
        let new = libc::rlimit {
            rlim_cur: needed,
            rlim_max: lim.rlim_max.max(needed),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &new) != 0 {
            let err = io::Error::last_os_error();
            return Err(io::Error::new(
                err.kind(),
                format!(
                    "cannot raise RLIMIT_NOFILE to {needed} (hard limit {}): {err}; \
                     raise the hard limit (CAP_SYS_RESOURCE) or lower --connections",
                    lim.rlim_max
                ),
            ));
        }
    }
    Ok(())
}

/// As root: a private network namespace (the host's sysctls stay untouched) with `lo` up
/// and the ephemeral port range widened. Otherwise: checks the port range is wide enough.
fn prepare_network(args: &Args) -> io::Result<String> {
    const RANGE: &str = "/proc/sys/net/ipv4/ip_local_port_range";
    const SOMAXCONN: &str = "/proc/sys/net/core/somaxconn";
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root && !args.no_netns {
        // Before any thread exists: the new namespace is the whole process's, and the
        // children's.
        // SAFETY: unshare with a valid flag.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let status = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()?;
        if !status.success() {
            return Err(io::Error::other("`ip link set lo up` failed"));
        }
        // /proc/sys/net belongs to the opener's namespace: this is the new one.
        std::fs::write(RANGE, "1024 65535")?;
        // The listen backlog is capped by somaxconn (4096 by default).
        std::fs::write(SOMAXCONN, args.connections.max(4096).to_string())?;
        return Ok(format!(
            "private network namespace (unshare), lo up, ip_local_port_range 1024 65535, \
             somaxconn {}",
            args.connections.max(4096)
        ));
    }
    let range = std::fs::read_to_string(RANGE)?;
    let ports: Vec<u64> = range
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    let available = ports
        .get(1)
        .zip(ports.first())
        .map_or(0, |(hi, lo)| hi - lo + 1);
    if available < args.connections {
        return Err(io::Error::other(format!(
            "{RANGE} gives {available} ports, fewer than {} connections: run as root (the \
             bench then uses a private namespace) or lower --connections",
            args.connections
        )));
    }
    Ok(format!(
        "current network namespace, {RANGE} = {}",
        range.trim()
    ))
}

/// `VmRSS` of this process, bytes.
fn rss() -> io::Result<u64> {
    proc_kb("/proc/self/status", "VmRSS:")
}

/// Bytes held in the kernel's slab caches: the sum over `/proc/slabinfo` of active objects
/// times object size (root only), else `Slab:` from /proc/meminfo. System-wide.
fn slab() -> io::Result<u64> {
    let Ok(text) = std::fs::read_to_string("/proc/slabinfo") else {
        return proc_kb("/proc/meminfo", "Slab:");
    };
    Ok(text
        .lines()
        .skip(2)
        .filter_map(|line| {
            let mut cols = line.split_whitespace().skip(1);
            let active: u64 = cols.next()?.parse().ok()?;
            let _total = cols.next()?;
            let size: u64 = cols.next()?.parse().ok()?;
            Some(active * size)
        })
        .sum())
}

/// CPU time (user + system, all threads) of the process whose `/proc/PID/stat` is `path`,
/// in seconds (clock-tick resolution). Less disturbed than wall time by other work on a
/// shared machine.
fn cpu_s(path: &str) -> io::Result<f64> {
    let text = std::fs::read_to_string(path)?;
    // Fields after the command name, which is in parentheses and may contain spaces:
    // utime and stime are the 14th and 15th fields of the line, the 12th and 13th here.
    let after = text.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    if fields.len() != 2 {
        return Err(io::Error::other(format!("cannot parse {path}")));
    }
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok((fields[0] + fields[1]) as f64 / ticks)
}

fn proc_kb(path: &str, key: &str) -> io::Result<u64> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| io::Error::other(format!("no {key} in {path}")))
}

/// The listener of `mode`, with a backlog that holds every connection: the clients' connects
/// complete before the server accepts them, and an overflowing accept queue drops SYNs,
/// which then wait out a 1 s retransmission (measured: TCP fell to ~1,000 connections/s
/// with tokio's backlog of 1024).
async fn listen(mode: Mode, backlog: u32) -> io::Result<TcpListener> {
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let socket = match mode {
        Mode::Tcp => TcpSocket::new_v4()?,
        Mode::Mptcp => mptcp_socket::tokio::socket(Domain::IPV4, Fallback::Never)?,
        Mode::RawMptcp => {
            let socket = raw_mptcp_socket()?;
            socket.set_nonblocking(true)?;
            TcpSocket::from_std_stream(socket.into())
        }
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// `socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP)` with socket2, no fallback, no library.
fn raw_mptcp_socket() -> io::Result<Socket> {
    Socket::new(
        Domain::IPV4,
        Type::STREAM,
        Some(Protocol::from(mptcp_socket::sys_uapi::IPPROTO_MPTCP)),
    )
}

async fn connect(mode: Mode, addr: SocketAddr) -> io::Result<TcpStream> {
    match mode {
        Mode::Tcp => TcpStream::connect(addr).await,
        Mode::Mptcp => mptcp_socket::tokio::connect_with(addr, Fallback::Never).await,
        Mode::RawMptcp => {
            let socket = raw_mptcp_socket()?;
            socket.set_nonblocking(true)?;
            TcpSocket::from_std_stream(socket.into())
                .connect(addr)
                .await
        }
    }
}

/// The server process: accepts `n` connections, echoes on each until the client closes,
/// then prints what it counted as JSON and exits. Its first line gives its address.
fn backlog(args: &Args) -> u32 {
    args.backlog
        .unwrap_or_else(|| u32::try_from(args.connections).unwrap_or(u32::MAX))
}

/// `TcpExt: ListenOverflows` of this network namespace (/proc/net/netstat): connections
/// the kernel dropped because an accept queue was full.
fn listen_overflows() -> io::Result<u64> {
    let text = std::fs::read_to_string("/proc/net/netstat")?;
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "ListenOverflows")
        .and_then(|(_, value)| value.parse().ok())
        .ok_or_else(|| io::Error::other("no TcpExt ListenOverflows in /proc/net/netstat"))
}

async fn serve(mode: Mode, n: u64, backlog: u32) -> io::Result<Value> {
    let listener = listen(mode, backlog).await?;
    outln!("listening {}", listener.local_addr()?);
    let (mut accepted, mut expected_kind, mut errors) = (0u64, 0u64, 0u64);
    let mut echoes = JoinSet::new();
    while accepted < n {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                eprintln!("echo-bench: accept: {err}");
                errors += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        accepted += 1;
        if stream.connection_kind().ok() == Some(mode.expected_kind()) {
            expected_kind += 1;
        }
        echoes.spawn(mptcp_examples::echo::echo(stream));
    }
    // The listener stays open until every connection is done, as MPTCP servers should
    // (extra subflows would arrive on it).
    let mut echoed_bytes = 0;
    while let Some(joined) = echoes.join_next().await {
        match joined.expect("echo task") {
            Ok(bytes) => echoed_bytes += bytes,
            Err(_) => errors += 1,
        }
    }
    drop(listener);
    Ok(json!({
        "accepted": accepted,
        "expected_kind": expected_kind,
        "echoed_bytes": echoed_bytes,
        "errors": errors,
    }))
}

/// The client process: establishes every connection, runs the round trips, closes; measures
/// its own and the server's memory around the establishment.
async fn drive(mode: Mode, addr: SocketAddr, server_pid: u32, args: &Args) -> io::Result<Value> {
    let n = args.connections;
    let server_status = format!("/proc/{server_pid}/status");
    // The previous mode's sockets are freed after an RCU grace period and in batches: let
    // that settle before the kernel's memory is measured.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let server_stat = format!("/proc/{server_pid}/stat");
    let cpu = || -> io::Result<f64> { Ok(cpu_s("/proc/self/stat")? + cpu_s(&server_stat)?) };
    let (rss0, server0, slab0) = (rss()?, proc_kb(&server_status, "VmRSS:")?, slab()?);
    let cpu0 = cpu()?;
    let overflows0 = listen_overflows()?;

    // Phase 1: establish every connection, at most `concurrency` connects in flight.
    let start = Instant::now();
    let permits = Arc::new(Semaphore::new(args.concurrency));
    let mut connecting = JoinSet::new();
    for id in 0..n {
        let permits = permits.clone();
        connecting.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore");
            (id, connect(mode, addr).await)
        });
    }
    let mut streams = Vec::with_capacity(n as usize);
    let mut failures = 0u64;
    while let Some(joined) = connecting.join_next().await {
        match joined.expect("connect task") {
            (id, Ok(stream)) => streams.push((id, stream)),
            (id, Err(err)) => {
                failures += 1;
                if failures <= 5 {
                    eprintln!("echo-bench: connection {id}: {err}");
                }
            }
        }
    }
    let establish = start.elapsed();
    // Let the server finish accepting (it may lag the last handshakes) before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss1, server1, slab1) = (rss()?, proc_kb(&server_status, "VmRSS:")?, slab()?);
    let cpu1 = cpu()?;
    let overflows = listen_overflows()? - overflows0;
    let client_kind_ok = streams
        .iter()
        .filter(|(_, s)| s.connection_kind().ok() == Some(mode.expected_kind()))
        .count() as u64;

    // Phase 2: every connection does its round trips at once, each echo verified.
    let start = Instant::now();
    let mut talking = JoinSet::new();
    let (rounds, size) = (args.rounds, args.size);
    for (id, mut stream) in streams {
        talking.spawn(async move {
            let result = mptcp_examples::echo::round_trips(&mut stream, id, rounds, size).await;
            (stream, result)
        });
    }
    let mut verified = 0u64;
    let mut streams = Vec::with_capacity(n as usize);
    while let Some(joined) = talking.join_next().await {
        let (stream, result) = joined.expect("round-trip task");
        match result {
            Ok(done) => verified += done,
            Err(err) => {
                failures += 1;
                if failures <= 5 {
                    eprintln!("echo-bench: {err}");
                }
            }
        }
        streams.push(stream);
    }
    let talk = start.elapsed();
    let cpu2 = cpu()?;

    // Phase 3: close; the server sees EOF on each connection and finishes.
    for mut stream in streams {
        let _ = stream.shutdown().await;
    }
    let per_conn = |before: u64, after: u64| after.saturating_sub(before) as f64 / n as f64;
    Ok(json!({
        "connections": n,
        "establish_s": establish.as_secs_f64(),
        "connections_per_s": n as f64 / establish.as_secs_f64(),
        "round_trips_verified": verified,
        "round_trips_s": talk.as_secs_f64(),
        "round_trips_per_s": verified as f64 / talk.as_secs_f64(),
        "client_rss_bytes_per_connection": per_conn(rss0, rss1),
        "server_rss_bytes_per_connection": per_conn(server0, server1),
        "slab_bytes_per_connection": per_conn(slab0, slab1),
        "client_expected_kind": client_kind_ok,
        "cpu_us_per_connection": (cpu1 - cpu0) * 1e6 / n as f64,
        "listen_overflows": overflows,
        "cpu_us_per_round_trip": (cpu2 - cpu1) * 1e6 / verified.max(1) as f64,
        "failures": failures,
    }))
}
