//! Threaded servers under every mode of `mptcpize run`, loaded by parallel MPTCP clients and
//! stopped by SIGINT or SIGTERM at a random point: the program never crashes and never hangs.
//!
//! A library loaded into every program must not take one down, however rarely. Each run
//! starts a server under the launcher in a network namespace of its own, has [`CLIENTS`]
//! MPTCP clients download from it in a loop while [`IDLE_CLIENTS`] more connect and send
//! nothing, sends the signal after a random delay (clients mid-transfer), and then
//! requires:
//!
//! - the program ended within [`EXIT_DEADLINE`] (a hang is a failure too), or, where Python
//!   printed that it discarded the KeyboardInterrupt (CPython does, see
//!   [`discarded_interrupt`]), within that time of a second SIGINT, as after a user's second
//!   Ctrl-C;
//! - it ended by the signal it was sent, or exited with 0 (Python's `http.server` catches
//!   SIGINT and exits normally), never by SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS or
//!   SIGTRAP, nor with an error of the launcher;
//! - its stderr carries no crash report (`Fatal Python error`, a Rust panic, a Go `fatal
//!   error`/`unexpected signal`, `Segmentation fault`);
//! - the kernel log (`/dev/kmsg`) has no segfault, trap or general-protection line naming one
//!   of our libraries or one of the programs started here.
//!
//! Servers:
//! - Python's `http.server` (`ThreadingHTTPServer`: a daemon thread per request; at exit the
//!   interpreter ends the daemon threads that are still running with `pthread_exit`, which
//!   unwinds through every frame on their stacks);
//! - a Rust thread-per-connection server (this test binary started again with
//!   [`SERVE_ENV`]), whose threads also fork and exec `true`, set `IP_TTL` on accepted MPTCP
//!   sockets (refused by MPTCP), and open client sockets that set `IP_TTL` before connecting
//!   (the shim's swap to plain TCP, under concurrency);
//! - a Go `net/http` server (`tests/runtimes/http.go`, built with cgo): a Go 1.21+ program
//!   is run directly with `GODEBUG=multipathtcp=1` by `run`, `-d` and `--report` (Go makes
//!   its own system calls: the shim would see nothing), and under the seccomp supervisor by
//!   `--seccomp`.
//!
//! Modes: without mptcpize (the control: what the program does on its own), the shim
//! (`run`), `run -d`, `run --report-file`, `run --seccomp`. A hang is ended with the signal
//! that makes the program's runtime print every thread's stack (see [`hang`]).
//!
//! A crash or hang in the control is the program's own: it is printed with the summary and
//! counted, and fails nothing, since it says nothing about mptcpize (Debian's Python 3.11
//! died of SIGSEGV at exit in 3 of 3,111 control runs, its daemon threads still serving
//! while the interpreter finalized: BENCHMARKS.md). The same failure under mptcpize fails
//! the test: the control's count is what to compare it with.
//!
//! Bounded in CI: [`ITERATIONS_ENV`] runs per server and mode (default 20, so 300 runs, the
//! three servers in parallel); [`SECONDS_ENV`] runs the same loop for that long instead
//! (BENCHMARKS.md records the long run). [`SEED_ENV`] replays the random delays and signals
//! of a failed run (its seed is in the failure message).

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mptcp_tests::temp_dir;
use mptcp_tests::Netns;
use support::*;

const TEST: &str = "threaded_servers_never_crash_when_stopped_mid_load";
/// Set (to a port) in the environment of this test binary started again as the Rust server.
const SERVE_ENV: &str = "MPTCPIZE_STRESS_SERVE";
/// Runs per server and mode.
const ITERATIONS_ENV: &str = "MPTCPIZE_STRESS_ITERATIONS";
/// Run for this many seconds instead of a number of runs.
const SECONDS_ENV: &str = "MPTCPIZE_STRESS_SECONDS";
/// The seed of the random delays and signals.
const SEED_ENV: &str = "MPTCPIZE_STRESS_SEED";
/// Only these combinations, e.g. `Python/Seccomp,Rust/Shim` (all when unset).
const ONLY_ENV: &str = "MPTCPIZE_STRESS_ONLY";
const DEFAULT_ITERATIONS: u64 = 20;
/// Parallel clients per run.
const CLIENTS: usize = 8;
/// Of which this many send their request a byte at a time, 10 ms apart, as a browser's
/// idle and slow connections do: the server's threads for them wake up again and again,
/// also while the program is ending (Python ends such daemon threads with `pthread_exit`).
const SLOW_CLIENTS: usize = 2;
/// And beside them, this many connections that send nothing, as a browser's preconnected
/// sockets: the server's threads for them are blocked in a read when the program ends.
const IDLE_CLIENTS: usize = 2;
/// The size of each response.
const BODY_LEN: usize = 256 * 1024;
/// How long a stopped program may take to end.
const EXIT_DEADLINE: Duration = Duration::from_secs(30);
/// The signal comes this long after the server listens, at most.
const MAX_DELAY_MS: u64 = 1200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    Python,
    Rust,
    Go,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The program started without mptcpize: the control. A crash or a hang here is the
    /// program's own (or its runtime's), and says how often it happens without us.
    Without,
    Shim,
    Debug,
    Report,
    Seccomp,
}

const MODES: [Mode; 5] = [
    Mode::Without,
    Mode::Shim,
    Mode::Debug,
    Mode::Report,
    Mode::Seccomp,
];

/// What a run of one server in one mode needs.
struct Setup {
    dir: PathBuf,
    go_server: PathBuf,
    /// A copy of this test binary.
    rust_server: PathBuf,
}

/// A small deterministic generator (xorshift64*), so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Totals per server and mode, for the summary and for the check that every combination
/// was stopped mid-load at least once.
#[derive(Default)]
struct Tally {
    runs: u64,
    responses: u64,
    /// Runs in which at least one client was mid-transfer when the signal was sent.
    mid_transfer: u64,
    /// Runs that crashed or hung in the control ([`Mode::Without`]).
    own_failures: u64,
    /// Runs in which the program discarded the first SIGINT and ended at the second.
    discarded_interrupts: u64,
}

#[mptcp_tests::needs(privileged, "python3", "gcc", "ss")]
#[test]
fn threaded_servers_never_crash_when_stopped_mid_load() {
    if let Ok(port) = std::env::var(SERVE_ENV) {
        rust_server(port.parse().expect("a port number"));
    }
    let Some(goroot) = go::go_toolchain_or_skip(TEST) else {
        return;
    };
    let go_server = go::go_program_linked(goroot, go::native_goarch(), "", true);

    let dir = temp_dir("stress");
    std::fs::write(dir.path().join("body"), vec![b'm'; BODY_LEN]).unwrap();
    // The Rust server runs from a copy: a long run outlives a rebuild of this binary.
    let rust_server = dir.path().join("rust-server");
    std::fs::copy(std::env::current_exe().unwrap(), &rust_server).unwrap();
    let setup = Setup {
        dir: dir.path().to_path_buf(),
        go_server,
        rust_server,
    };
    let seed = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let budget = match std::env::var(SECONDS_ENV).ok().and_then(|s| s.parse().ok()) {
        Some(seconds) => Budget::Time(Instant::now() + Duration::from_secs(seconds)),
        None => Budget::Runs(
            std::env::var(ITERATIONS_ENV)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(DEFAULT_ITERATIONS),
        ),
    };
    let kernel_log = KernelLog::open();
    let failures = Mutex::new(Vec::new());
    let own_failures = Mutex::new(Vec::new());
    let started_pids = Mutex::new(Vec::new());
    let tallies = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for (n, server) in [Server::Python, Server::Rust, Server::Go]
            .into_iter()
            .enumerate()
        {
            let (setup, failures, own_failures, started_pids, tallies) =
                (&setup, &failures, &own_failures, &started_pids, &tallies);
            scope.spawn(move || {
                let ns = Netns::new("stress").expect("create a network namespace");
                let mut rng = Rng(seed.wrapping_add(n as u64).max(1));
                let mut port = 20000 + 1000 * n as u16;
                let mut tally: Vec<(Mode, Tally)> =
                    MODES.iter().map(|&m| (m, Tally::default())).collect();
                let mut round = 0;
                while budget.more(round) {
                    for (mode, t) in tally.iter_mut() {
                        if !selected(server, *mode) {
                            continue;
                        }
                        port += 1;
                        match stop_mid_load(&ns, setup, server, *mode, port, &mut rng) {
                            Ok(run) => {
                                started_pids.lock().unwrap().push(run.pid);
                                t.runs += 1;
                                t.responses += run.responses;
                                t.mid_transfer += u64::from(run.in_flight > 0);
                                t.discarded_interrupts += u64::from(run.discarded_interrupt);
                            }
                            Err(e) => {
                                let failure =
                                    format!("{server:?} under {mode:?} on port {port}: {e}");
                                if *mode == Mode::Without {
                                    t.runs += 1;
                                    t.own_failures += 1;
                                    own_failures.lock().unwrap().push(failure);
                                } else {
                                    failures.lock().unwrap().push(failure);
                                }
                            }
                        }
                    }
                    round += 1;
                }
                tallies
                    .lock()
                    .unwrap()
                    .extend(tally.into_iter().map(|(m, t)| (server, m, t)));
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    let pids = started_pids.into_inner().unwrap();
    failures.extend(kernel_log.crashes(&pids));
    let tallies = tallies.into_inner().unwrap();
    let mut summary = String::new();
    let mut total = 0;
    for (server, mode, t) in &tallies {
        total += t.runs;
        summary += &format!(
            "{server:?}/{mode:?}: {} runs, {} responses, {} stopped mid-transfer{}{}\n",
            t.runs,
            t.responses,
            t.mid_transfer,
            match t.discarded_interrupts {
                0 => String::new(),
                n => format!(", {n} SIGINT(s) discarded by the program and sent again"),
            },
            match t.own_failures {
                0 => String::new(),
                n => format!(", {n} crash(es) or hang(s) of the program on its own"),
            }
        );
    }
    let own_failures = own_failures.into_inner().unwrap();
    if !own_failures.is_empty() {
        summary += &format!(
            "The programs' own failures, without mptcpize (the control; not ours):\n{}\n",
            own_failures.join("\n")
        );
    }
    // Past the harness's capture: the figures are wanted from a passing run too.
    let _ = std::io::stderr()
        .write_all(format!("{TEST}: {total} runs, seed {seed}\n{summary}").as_bytes());
    assert!(
        failures.is_empty(),
        "{} of {total} runs failed (replay with {SEED_ENV}={seed}):\n{}\n{summary}",
        failures.len(),
        failures.join("\n")
    );
    for (server, mode, t) in &tallies {
        assert!(
            t.runs == t.own_failures || t.mid_transfer > 0,
            "{server:?} under {mode:?} was never stopped while a client was mid-transfer: \
             the test did not load it\n{summary}"
        );
    }
}

/// Whether [`ONLY_ENV`] lets `server` under `mode` run.
fn selected(server: Server, mode: Mode) -> bool {
    std::env::var(ONLY_ENV).map_or(true, |only| {
        only.split(',')
            .any(|pair| pair.trim() == format!("{server:?}/{mode:?}"))
    })
}

/// How long the loop goes on.
#[derive(Clone, Copy)]
enum Budget {
    Runs(u64),
    Time(Instant),
}

impl Budget {
    fn more(self, round: u64) -> bool {
        match self {
            Budget::Runs(n) => round < n,
            Budget::Time(end) => Instant::now() < end,
        }
    }
}

/// What one run showed.
struct Run {
    pid: i32,
    responses: u64,
    in_flight: usize,
    /// The program discarded the first SIGINT (see [`discarded_interrupt`]) and ended at
    /// the second.
    discarded_interrupt: bool,
}

/// Starts `server` under `mode`, loads it, stops it with SIGINT or SIGTERM at a random point
/// and checks how it ended.
fn stop_mid_load(
    ns: &Netns,
    setup: &Setup,
    server: Server,
    mode: Mode,
    port: u16,
    rng: &mut Rng,
) -> Result<Run, String> {
    let stderr_path = setup.dir.join(format!("stderr-{port}"));
    let report_path = setup.dir.join(format!("report-{port}"));
    let (program, path): (&std::ffi::OsStr, _) = match server {
        Server::Python => (python3().as_ref(), "/body"),
        Server::Rust => (setup.rust_server.as_os_str(), "/"),
        Server::Go => (setup.go_server.as_os_str(), "/data"),
    };
    let mut cmd = match mode {
        Mode::Without => ns.command(program),
        _ => {
            let mut cmd = ns.command(mptcpize());
            cmd.arg("run");
            match mode {
                Mode::Debug => {
                    cmd.arg("-d");
                }
                Mode::Report => {
                    cmd.arg("--report-file").arg(&report_path);
                }
                Mode::Seccomp => {
                    cmd.arg("--seccomp");
                }
                Mode::Without | Mode::Shim => {}
            }
            cmd.arg("--").arg(program);
            cmd
        }
    };
    match server {
        Server::Python => {
            cmd.args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(&setup.dir)
            // Every thread's Python stack on SIGABRT, SIGSEGV, SIGBUS, SIGILL and SIGFPE:
            // a crash says where each thread was, and a hang is ended with SIGABRT to ask.
            .env("PYTHONFAULTHANDLER", "1");
        }
        Server::Rust => {
            cmd.args(["--exact", TEST, "--nocapture", "--test-threads=1"])
                .env(SERVE_ENV, port.to_string());
        }
        Server::Go => {
            cmd.arg("serve")
                .arg(format!("127.0.0.1:{port}"))
                .arg(setup.dir.join("body"))
                // Every goroutine's stack on a crash and on SIGQUIT (how a hang is ended).
                .env("GOTRACEBACK", "all");
        }
    }
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    // SIGINT and SIGTERM as a shell gives a foreground job: a test run from a background
    // job or a service inherits SIGINT ignored, and the program would not see the signal.
    // SAFETY: signal(2) is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
            Ok(())
        });
    }
    let mut child = Background::from_child(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start: {e}"))?,
    );
    // `ip netns exec` and the launcher exec the program: it keeps this pid.
    let pid = child.id() as i32;
    wait_serving(ns, child.child_mut(), port)?;

    let stop = Arc::new(AtomicBool::new(false));
    let responses = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let slow = n < SLOW_CLIENTS;
            let (stop, responses, in_flight) = (stop.clone(), responses.clone(), in_flight.clone());
            let ns_name = ns.name().to_owned();
            std::thread::spawn(move || {
                in_netns(&ns_name);
                while !stop.load(Ordering::Relaxed) {
                    in_flight.fetch_add(1, Ordering::SeqCst);
                    let done = download(port, path, slow);
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    match done {
                        Ok(len) if len >= BODY_LEN as u64 => {
                            responses.fetch_add(1, Ordering::Relaxed);
                        }
                        // Cut by the signal, or refused once the server is gone.
                        _ => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        })
        .collect();
    let idle: Vec<_> = (0..IDLE_CLIENTS)
        .map(|_| {
            let stop = stop.clone();
            let ns_name = ns.name().to_owned();
            std::thread::spawn(move || {
                in_netns(&ns_name);
                while !stop.load(Ordering::Relaxed) {
                    hold_idle(port, &stop);
                }
            })
        })
        .collect();
    // The random point at which the program is stopped (not a wait for a state: any
    // point is a valid test).
    std::thread::sleep(Duration::from_millis(50 + rng.below(MAX_DELAY_MS)));
    let signal = if rng.below(2) == 0 {
        libc::SIGINT
    } else {
        libc::SIGTERM
    };
    let busy = in_flight.load(Ordering::SeqCst);
    // SAFETY: our child (still ours: it is reaped below, not before).
    unsafe { libc::kill(pid, signal) };
    let deadline = Instant::now() + EXIT_DEADLINE;
    let mut ended_in_time =
        mptcp_tests::wait_until(deadline, || child.child_mut().try_wait().unwrap().is_some());
    // Python runs a signal's handler in whatever Python code the main thread is executing,
    // and the KeyboardInterrupt raised in a weakref callback or a finalizer is discarded
    // ("Exception ignored in: ..."). CPython does this on its own (BENCHMARKS.md: a loop
    // that starts threads, without mptcpize or MPTCP); a user presses Ctrl-C again, and so
    // does the test, once, only when the program said it discarded the first one.
    let discarded = (!ended_in_time && signal == libc::SIGINT)
        .then(|| discarded_interrupt(&String::from_utf8_lossy(&read_all(&stderr_path))))
        .flatten();
    if discarded.is_some() {
        // SAFETY: our child, not reaped yet.
        unsafe { libc::kill(pid, signal) };
        let deadline = Instant::now() + EXIT_DEADLINE;
        ended_in_time =
            mptcp_tests::wait_until(deadline, || child.child_mut().try_wait().unwrap().is_some());
    }
    // A hang is reported (and the program ended) before the clients are stopped: they
    // keep the program's threads as busy as they were.
    let hung = (!ended_in_time).then(|| hang(ns, child.child_mut(), server, signal, &stderr_path));
    let ended = wait_child_within(child.child_mut(), Duration::ZERO);
    stop.store(true, Ordering::Relaxed);
    for client in clients.into_iter().chain(idle) {
        client.join().unwrap();
    }
    let stderr = read_all(&stderr_path);
    let _ = std::fs::remove_file(&stderr_path);
    let _ = std::fs::remove_file(&report_path);
    if let Some(report) = hung {
        return Err(report);
    }
    let stderr = String::from_utf8_lossy(&stderr);
    let status = ended.ok_or("ended, then could not be reaped")?;
    check_ending(status, signal, &stderr)?;
    Ok(Run {
        pid,
        responses: responses.load(Ordering::Relaxed),
        in_flight: busy,
        discarded_interrupt: discarded.is_some(),
    })
}

/// The report of a hang: what every thread of every process of the namespace (the program,
/// and in seccomp mode its supervisors) is blocked in, in the kernel; then the program's own
/// view, asked for with the signal that makes its runtime print every thread's stack and
/// end (Python with `PYTHONFAULTHANDLER`: SIGABRT; Go: SIGQUIT; the Rust server has no
/// such signal); then its stderr. The program is ended (killed if the dump signal did
/// not end it) when this returns.
fn hang(ns: &Netns, child: &mut Child, server: Server, signal: i32, stderr_path: &Path) -> String {
    let blocked: String = ns.pids().into_iter().map(thread_states).collect();
    let dump = match server {
        Server::Python => Some(libc::SIGABRT),
        Server::Go => Some(libc::SIGQUIT),
        Server::Rust => None,
    };
    if let Some(dump) = dump {
        // SAFETY: our child, not reaped yet.
        unsafe { libc::kill(child.id() as i32, dump) };
    }
    // Until it has written its stacks and ended by that signal; killed after that.
    let dump_time = Duration::from_secs(if dump.is_some() { 10 } else { 0 });
    wait_child_within(child, dump_time);
    let stderr = String::from_utf8_lossy(&read_all(stderr_path)).into_owned();
    let discarded = discarded_interrupt(&stderr).map_or(String::new(), |report| {
        format!("the program printed that it discarded a KeyboardInterrupt:\n{report}\n")
    });
    format!(
        "still running {} s after {}: a hang\n{blocked}{discarded}stderr tail (after {}):\n{}",
        EXIT_DEADLINE.as_secs(),
        signal_name(signal),
        dump.map_or("no dump signal".into(), signal_name),
        tail_lines(&stderr, 400)
    )
}

/// The whole of a program's stderr file (empty if it cannot be read).
fn read_all(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

/// Python's report that it discarded a KeyboardInterrupt (raised by its SIGINT handler in a
/// weakref callback or a finalizer, where exceptions are printed and dropped): an
/// "Exception ignored in" block whose traceback ends in `KeyboardInterrupt`.
fn discarded_interrupt(stderr: &str) -> Option<String> {
    // The block is a few lines (the callback, "Traceback", a frame or two, the exception),
    // written in several pieces: another thread's log line may fall in between.
    const BLOCK_LINES: usize = 10;
    let lines: Vec<&str> = stderr.lines().collect();
    lines.iter().enumerate().find_map(|(start, line)| {
        if !line.starts_with("Exception ignored in") {
            return None;
        }
        let block = &lines[start..lines.len().min(start + BLOCK_LINES)];
        let end = block
            .iter()
            .position(|l| l.starts_with("KeyboardInterrupt"))?;
        Some(block[..=end].join("\n"))
    })
}

/// Python from Debian when installed (what `apt install python3` gives a user), else the
/// first on `PATH`.
fn python3() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// Waits until the server accepts a connection on `port`, failing if it ends first.
fn wait_serving(ns: &Netns, child: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!("ended before it listened: {status}"));
        }
        if ns
            .enter(|| TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok())
            .unwrap()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("not listening after 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Moves the calling thread into the namespace `name` (`setns(2)` affects this thread only).
fn in_netns(name: &str) {
    let file = std::fs::File::open(format!("/run/netns/{name}")).unwrap();
    // SAFETY: a namespace fd; this thread only.
    let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
}

/// `GET path` (a byte at a time when `slow`) over an MPTCP connection to `127.0.0.1:port`; the bytes of the body read.
fn download(port: u16, path: &str, slow: bool) -> std::io::Result<u64> {
    let mut stream = mptcp_connect(port)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: stress\r\n\r\n");
    if slow {
        for byte in request.as_bytes() {
            stream.write_all(std::slice::from_ref(byte))?;
            std::thread::sleep(Duration::from_millis(10));
        }
    } else {
        stream.write_all(request.as_bytes())?;
    }
    let mut response = Vec::with_capacity(BODY_LEN + 512);
    stream.read_to_end(&mut response)?;
    let body = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |head| response.len() - head - 4);
    Ok(body as u64)
}

/// An MPTCP connection to `127.0.0.1:port` that sends nothing, held until the server closes
/// it or `stop` is set (then a short pause, as after a failed download).
fn hold_idle(port: u16, stop: &AtomicBool) {
    let held = mptcp_connect(port).and_then(|mut stream| {
        stream.set_read_timeout(Some(Duration::from_millis(50)))?;
        let mut byte = [0u8; 1];
        while !stop.load(Ordering::Relaxed) {
            match stream.read(&mut byte) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    if held.is_err() || !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// An MPTCP socket (asked for explicitly: the clients are not under the shim) connected to
/// `127.0.0.1:port`.
fn mptcp_connect(port: u16) -> std::io::Result<TcpStream> {
    let stream = tcp_socket(mptcp_policy::IPPROTO_MPTCP)?;
    connect_localhost(&stream, port)?;
    Ok(stream)
}

/// `socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, protocol)`, not connected yet.
fn tcp_socket(protocol: libc::c_int) -> std::io::Result<TcpStream> {
    // SAFETY: plain integers.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { TcpStream::from_raw_fd(fd) })
}

/// `connect(2)` of a socket made by [`tcp_socket`] to `127.0.0.1:port`.
fn connect_localhost(stream: &TcpStream, port: u16) -> std::io::Result<()> {
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(Ipv4Addr::LOCALHOST).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: a sockaddr_in of its own size.
    let r = unsafe {
        libc::connect(
            stream.as_raw_fd(),
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Ok when the program ended as a program does when sent `signal`: by that signal, or by a
/// normal exit with 0; an error naming the crash otherwise.
fn check_ending(status: ExitStatus, signal: i32, stderr: &str) -> Result<(), String> {
    // (The launcher's own errors end it with 125, 126 or 127: caught by the status.)
    const CRASH_MARKS: [&str; 6] = [
        "Fatal Python error",
        "Segmentation fault",
        "panicked at",
        "fatal error:",
        "unexpected signal",
        "SIGSEGV",
    ];
    let ended_well = match (status.signal(), status.code()) {
        (Some(s), _) => s == signal,
        (None, Some(code)) => code == 0,
        _ => false,
    };
    let mark = CRASH_MARKS.iter().find(|m| stderr.contains(*m));
    if ended_well && mark.is_none() {
        return Ok(());
    }
    let how = match status.signal() {
        Some(s) => format!("killed by {}", signal_name(s)),
        None => format!("exited with {status}"),
    };
    Err(format!(
        "sent {}, {how}{}\nstderr tail: {}",
        signal_name(signal),
        mark.map_or(String::new(), |m| format!(", stderr says {m:?}")),
        tail(stderr)
    ))
}

fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGBUS => "SIGBUS".into(),
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGILL => "SIGILL".into(),
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGQUIT => "SIGQUIT".into(),
        libc::SIGHUP => "SIGHUP".into(),
        libc::SIGPIPE => "SIGPIPE".into(),
        libc::SIGCHLD => "SIGCHLD".into(),
        other => format!("signal {other}"),
    }
}

/// One line per thread of process `pid`: its name, state, the kernel function it waits in
/// and its system call (`/proc/PID/task/TID/{comm,stat,wchan,syscall}`), the signals it
/// blocks and has pending, then its kernel stack (`/proc/PID/task/TID/stack`, root only:
/// empty otherwise), which tells a wait in the program's own code from one inside the
/// kernel (a socket's lock, a seccomp reply). First, the process's signal dispositions and
/// pending signals: whether a stop signal that had no effect was ignored, blocked, still
/// pending, or taken by a handler.
fn thread_states(pid: i32) -> String {
    let read = |path: std::path::PathBuf| {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let mut text = String::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return text;
    };
    let status = read(format!("/proc/{pid}/status").into());
    text += &format!(
        "  pid {pid} signals: {}\n",
        signal_masks(&status, &["ShdPnd", "SigIgn", "SigCgt"])
    );
    for task in tasks.flatten() {
        let dir = task.path();
        let stat = read(dir.join("stat"));
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split(' ').next())
            .unwrap_or("?")
            .to_owned();
        let syscall = read(dir.join("syscall"));
        let number = syscall.split(' ').next().unwrap_or("?");
        text += &format!(
            "  pid {pid} tid {} {:?} state {state} wchan {} syscall {number} {}\n",
            task.file_name().to_string_lossy(),
            read(dir.join("comm")),
            read(dir.join("wchan")),
            signal_masks(&read(dir.join("status")), &["SigBlk", "SigPnd"]),
        );
        for frame in read(dir.join("stack")).lines() {
            text += &format!("      {frame}\n");
        }
    }
    text
}

/// The signal sets named by `fields` in a `/proc/.../status` text, as names
/// (`SigIgn=[SIGPIPE]`): of the standard signals, those that stop or end a program.
fn signal_masks(status: &str, fields: &[&str]) -> String {
    const SHOWN: [i32; 7] = [
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGABRT,
        libc::SIGPIPE,
        libc::SIGTERM,
        libc::SIGCHLD,
    ];
    let mask = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
    };
    fields
        .iter()
        .map(|field| match mask(field) {
            Some(bits) => {
                let names: Vec<String> = SHOWN
                    .iter()
                    .filter(|&&signal| bits >> (signal - 1) & 1 == 1)
                    .map(|&signal| signal_name(signal))
                    .collect();
                format!("{field}=[{}]", names.join(","))
            }
            None => format!("{field}=?"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last lines of a program's stderr, for a failure message.
fn tail(text: &str) -> String {
    tail_lines(text, 8)
}

/// The last `n` lines of `text`.
fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The kernel log from the test's start on: where the kernel reports a segfault or a trap.
struct KernelLog(Option<std::fs::File>);

impl KernelLog {
    /// Opens `/dev/kmsg` positioned after the last record (read without blocking).
    fn open() -> KernelLog {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg");
        let file = file.ok().filter(|f| {
            // SAFETY: lseek on an fd we own.
            unsafe { libc::lseek(f.as_raw_fd(), 0, libc::SEEK_END) >= 0 }
        });
        assert!(
            file.is_some() || !mptcp_tests::environment::no_skip(),
            "cannot read /dev/kmsg: the kernel's crash lines cannot be checked"
        );
        KernelLog(file)
    }

    /// The records since [`KernelLog::open`] that report a crash of one of `pids` or in one
    /// of our libraries.
    fn crashes(self, pids: &[i32]) -> Vec<String> {
        let Some(mut file) = self.0 else {
            return Vec::new();
        };
        let mut found = Vec::new();
        let mut record = vec![0u8; 8192];
        // One record per read; EAGAIN at the end, EPIPE when records were overwritten.
        loop {
            match file.read(&mut record) {
                Ok(0) => break,
                Ok(n) => {
                    let text = String::from_utf8_lossy(&record[..n]);
                    let message = text.split_once(';').map_or(&*text, |(_, m)| m).trim();
                    if is_crash_line(message, pids) {
                        found.push(format!("kernel: {message}"));
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(_) => break,
            }
        }
        found
    }
}

/// True for a kernel line about a crash (`segfault at`, `traps:`, `general protection`)
/// that names one of our libraries or a process started here.
fn is_crash_line(message: &str, pids: &[i32]) -> bool {
    let crash = [
        "segfault at",
        "traps:",
        "general protection",
        "trap invalid opcode",
    ]
    .iter()
    .any(|m| message.contains(m));
    if !crash {
        return false;
    }
    // "python3[7352]: segfault at …": the number is the thread's id, which is the
    // process's for its main thread; our libraries are named wherever the address is.
    message.contains("libmptcpize")
        || pids
            .iter()
            .any(|pid| message.contains(&format!("[{pid}]: ")))
}

/// The Rust server: a thread per connection, answering any request with [`BODY_LEN`] bytes,
/// until a signal ends the process. Runs under the launcher (this test binary started again).
fn rust_server(port: u16) -> ! {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("bind");
    let body: Arc<[u8]> = vec![b'r'; BODY_LEN].into();
    // Client sockets the shim makes MPTCP and then swaps to plain TCP (IP_TTL before
    // connect), from a thread of their own while the others serve.
    std::thread::spawn(move || loop {
        swapped_client(port);
        std::thread::sleep(Duration::from_millis(2));
    });
    for (n, conn) in listener.incoming().enumerate() {
        let Ok(mut conn) = conn else { continue };
        let body = body.clone();
        std::thread::spawn(move || {
            let _ = conn.set_nodelay(true);
            // Refused on an MPTCP socket: the program sees the error, nothing else.
            let _ = conn.set_ttl(32);
            if n % 16 == 0 {
                // fork and exec from one thread while the others run.
                let _ = Command::new("true").status();
            }
            let mut request = [0u8; 2048];
            let mut len = 0;
            while !request[..len].windows(4).any(|w| w == b"\r\n\r\n") && len < request.len() {
                match conn.read(&mut request[len..]) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => len += n,
                }
            }
            let head = format!(
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            if conn.write_all(head.as_bytes()).is_ok() {
                let _ = conn.write_all(&body);
            }
        });
    }
    unreachable!("incoming() never ends");
}

/// `socket(AF_INET, SOCK_STREAM, 0)` (made MPTCP by the shim), `IP_TTL` before `connect`
/// (refused by MPTCP: the shim gives the socket plain TCP), a connection to our own
/// listener, `close`.
fn swapped_client(port: u16) {
    let Ok(stream) = tcp_socket(0) else {
        return;
    };
    let ttl: libc::c_int = 16;
    // SAFETY: an int option of its own size.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_TTL,
            (&ttl as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if connect_localhost(&stream, port).is_ok() {
        let _ = (&stream).write_all(b"GET / HTTP/1.0\r\n\r\n");
    }
}

#[test]
fn signal_masks_name_the_signals_of_a_status_file() {
    let status = "Name:\tpython3\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000002\n\
                  SigBlk:\t0000000000000000\nSigIgn:\t0000000001001000\nSigCgt:\t0000000180004002\n";
    assert_eq!(
        signal_masks(status, &["ShdPnd", "SigIgn", "SigCgt", "SigBlk", "Missing"]),
        "ShdPnd=[SIGINT] SigIgn=[SIGPIPE] SigCgt=[SIGINT,SIGTERM] SigBlk=[] Missing=?"
    );
}

#[test]
fn a_discarded_keyboard_interrupt_is_recognised() {
    // CPython 3.11's own words (a loop starting threads, SIGINT in a weakref callback), with
    // a log line of another thread in between.
    let stderr = "127.0.0.1 - - [07/Dec/2026 08:12:22] \"GET /body HTTP/1.0\" 200 -\n\
        Exception ignored in: <function WeakSet.__init__.<locals>._remove at 0x7f5009cb11c0>\n\
        Traceback (most recent call last):\n\
        \x20 File \"/usr/lib/python3.11/_weakrefset.py\", line 39, in _remove\n\
        127.0.0.1 - - [07/Dec/2026 08:12:22] \"GET /body HTTP/1.0\" 200 -\n\
        \x20   def _remove(item, selfref=ref(self)):\n\
        \n\
        KeyboardInterrupt: \n\
        127.0.0.1 - - [07/Dec/2026 08:12:23] \"GET /body HTTP/1.0\" 200 -\n";
    let block = discarded_interrupt(stderr).expect("recognised");
    assert!(
        block.starts_with("Exception ignored in: <function WeakSet"),
        "{block}"
    );
    assert!(block.ends_with("KeyboardInterrupt: "), "{block}");
    // Another exception ignored is not a discarded SIGINT.
    let other = "Exception ignored in: <socket.socket fd=5>\nResourceWarning: unclosed\n";
    assert_eq!(discarded_interrupt(other), None);
    assert_eq!(discarded_interrupt(""), None);
}
