//! `cargo bench -p mptcpize --bench watch`: the CPU time (user + system) one refresh of
//! `mptcpize watch` costs with 1,000 and 10,000 open MPTCP connections over loopback,
//! against `ss -Mni` (the MPTCP sockets alone) and `ss -Mni` + `ss -tni` (what watch joins)
//! for the same snapshot. Needs root (a network namespace of its own, so that only these
//! connections are in the tables, and a raised RLIMIT_NOFILE); results in BENCHMARKS.md.
//!
//! Each connection has its client end in this process and its server end in a second one
//! (this program again, serving): 2 MPTCP sockets and 2 subflows per connection, and no
//! process needs more than 10,001 descriptors (RLIMIT_NOFILE's hard limit may be 20,000
//! without CAP_SYS_RESOURCE). A refresh's cost
//! is measured inside one `watch` process: (CPU of `--count 21`) − (CPU of `--count 1`),
//! divided by 20, so process start-up and the first `/proc/*/fd` scan are not in it; the
//! first snapshot (`--once`, start-up included) is shown apart. Medians of 3 runs.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use mptcp_socket::{MptcpListener, MptcpStream};
use mptcp_tests::{require, Need, Netns};

const RUNS: usize = 3;
const REFRESHES: u32 = 21;

/// CPU time (user + system) of the children waited for so far.
fn children_cpu() -> Duration {
    // SAFETY: getrusage fills the struct.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU time of one run of `cmd` (stdout discarded), which must succeed.
fn cpu_of(mut cmd: Command) -> Duration {
    let before = children_cpu();
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .expect("run");
    assert!(status.success(), "{cmd:?}: {status}");
    children_cpu() - before
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; fails when that is below `needed`.
fn raise_nofile(needed: u64) {
    // SAFETY: getrlimit/setrlimit fill and read a plain struct.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        assert!(
            limit.rlim_max >= needed,
            "RLIMIT_NOFILE's hard limit {} is below the {needed} descriptors needed",
            limit.rlim_max
        );
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

/// The server process: accepts `count` connections on `PORT`, says `ready`, and holds
/// them until its stdin closes.
const SERVE_ENV: &str = "MPTCPIZE_WATCH_BENCH_SERVE";
const PORT: u16 = 7000;

fn serve(count: usize) {
    raise_nofile(count as u64 + 100);
    let listener = MptcpListener::bind(("127.0.0.1", PORT)).expect("bind");
    println!("listening");
    let held: Vec<_> = (0..count)
        .map(|_| listener.accept().expect("accept").0)
        .collect();
    println!("ready");
    std::io::stdout().flush().unwrap();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(held);
}

fn main() {
    if let Some(count) = std::env::var_os(SERVE_ENV) {
        serve(count.to_str().unwrap().parse().unwrap());
        return;
    }
    // `cargo test --benches` runs this with --bench absent: nothing to measure then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if !require("watch benchmark", &[Need::Privileged]) {
        return;
    }
    let mptcpize = env!("CARGO_BIN_EXE_mptcpize");
    raise_nofile(10_100);
    println!(
        "{:>7} {:>16} {:>16} {:>16} {:>12} {:>16}",
        "conns", "watch --json/ref", "watch text/ref", "watch --once", "ss -Mni", "ss -Mni + -tni"
    );
    for count in [1_000usize, 10_000] {
        let ns = Netns::new("watch-bench").unwrap();
        let mut server = ns
            .command(std::env::current_exe().unwrap())
            .env(SERVE_ENV, count.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut said = BufReader::new(server.stdout.take().unwrap()).lines();
        assert_eq!(said.next().unwrap().unwrap(), "listening");
        let clients = ns
            .enter(|| -> std::io::Result<Vec<MptcpStream>> {
                (0..count)
                    .map(|_| MptcpStream::connect(("127.0.0.1", PORT)))
                    .collect()
            })
            .unwrap()
            .unwrap();
        assert_eq!(said.next().unwrap().unwrap(), "ready");
        let listed = ns.run("ss", &["-MHn"]).unwrap().lines().count();
        assert!(
            listed >= count * 2,
            "ss -M lists {listed} sockets for {count} connections"
        );

        let watch = |json: bool, refreshes: Option<u32>| {
            let mut cmd = ns.command(mptcpize);
            cmd.arg("watch");
            if json {
                cmd.arg("--json");
            }
            match refreshes {
                Some(n) => cmd.args(["--interval", "0.05", "--count", &n.to_string()]),
                None => cmd.arg("--once"),
            };
            cmd
        };
        let per_refresh = |json: bool| {
            median(
                (0..RUNS)
                    .map(|_| {
                        let many = cpu_of(watch(json, Some(REFRESHES)));
                        let one = cpu_of(watch(json, Some(1)));
                        many.saturating_sub(one) / (REFRESHES - 1)
                    })
                    .collect(),
            )
        };
        let json = per_refresh(true);
        let text = per_refresh(false);
        let once = median((0..RUNS).map(|_| cpu_of(watch(true, None))).collect());
        let ss = |args: &[&str]| {
            let mut cmd = ns.command("ss");
            cmd.args(args);
            cmd
        };
        let ss_m = median((0..RUNS).map(|_| cpu_of(ss(&["-Mni"]))).collect());
        let ss_mt = median(
            (0..RUNS)
                .map(|_| cpu_of(ss(&["-Mni"])) + cpu_of(ss(&["-tni"])))
                .collect(),
        );
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
        println!(
            "{count:>7} {:>16} {:>16} {:>16} {:>12} {:>16}",
            ms(json),
            ms(text),
            ms(once),
            ms(ss_m),
            ms(ss_mt)
        );
        drop(clients);
        drop(server.stdin.take());
        server.wait().unwrap();
    }
}
