//! `mptcpize run --seccomp`, run as a user would: the real binary, static targets (Debian's
//! busybox-static and a static C program built here with `gcc -static`), each test in its
//! own network namespace, MPTCP checked from outside the program where a connection is
//! made (`nstat` counters, `ss -M`), and with `SO_PROTOCOL` (262) inside it otherwise.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod support;

use mptcp_policy::is_tcp_stream_request;
use mptcp_tests::lab::{assert_same_bytes, pattern_bytes};
use mptcp_tests::Netns;
use support::{wait_child_within, wait_until};

const MPTCPIZE: &str = env!("CARGO_BIN_EXE_mptcpize");

/// The static test program (`tests/seccomp-programs/sockets.c`), built once per run.
fn sockets_program() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/seccomp-programs/sockets.c");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("seccomp-sockets");
        let status = Command::new("gcc")
            .args(["-static", "-pthread", "-O2", "-Wall", "-Werror", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("run gcc");
        assert!(
            status.success(),
            "gcc -static failed: install gcc and libc6-dev"
        );
        out
    })
}

fn output(mut cmd: Command) -> Output {
    let out = cmd.output().expect("spawn");
    eprintln!(
        "{cmd:?}: {}\nstdout:\n{}stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `ip netns exec NS mptcpize run --seccomp [extra…] PROGRAM ARGS…`.
fn seccomp_command(
    ns: &Netns,
    extra: &[&str],
    program: impl AsRef<OsStr>,
    args: &[&str],
) -> Command {
    let mut cmd = ns.command(MPTCPIZE);
    cmd.args(["run", "--seccomp"])
        .args(extra)
        .arg(program)
        .args(args);
    cmd
}

/// [`seccomp_command`], run to completion.
fn seccomp_run(ns: &Netns, extra: &[&str], program: impl AsRef<OsStr>, args: &[&str]) -> Output {
    output(seccomp_command(ns, extra, program, args))
}

/// All of a child's stdout (a pipe), up to its end.
fn read_stdout(child: &mut Child) -> String {
    let mut text = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Both ends negotiated MPTCP: the server received an MP_CAPABLE SYN and the client an
/// MP_CAPABLE SYN-ACK (counters of this namespace only).
fn assert_both_ends_mptcp(ns: &Netns) {
    assert!(ns.counter("MPTcpExtMPCapableSYNRX") >= 1);
    assert!(ns.counter("MPTcpExtMPCapableSYNACKRX") >= 1);
}

/// Waits until an MPTCP socket listens on `port` (`ss -M` lists MPTCP sockets only: the
/// listener itself is MPTCP).
fn wait_mptcp_listener(ns: &Netns, port: u16) {
    let filter = format!("sport = :{port}");
    let shown = format!(":{port}");
    wait_until(&format!("the MPTCP listener on port {port}"), || {
        ns.run("ss", &["-HMln", &filter])
            .is_ok_and(|s| s.contains(&shown))
    });
}

/// Waits for a process, failing the test instead of hanging.
fn wait_child(child: &mut Child) -> ExitStatus {
    let pid = child.id();
    wait_child_within(child, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("process {pid} did not exit"))
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on a child we have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

#[mptcp_tests::needs(privileged, "gcc", "busybox")]
#[test]
fn static_busybox_server_and_client_use_mptcp() {
    busybox_http_transfer(
        "static_busybox_server_and_client_use_mptcp",
        "127.0.0.1:8080",
        "http://127.0.0.1:8080/data",
        "AF_INET",
    );
}

#[mptcp_tests::needs(privileged, "gcc", "busybox")]
#[test]
fn static_busybox_server_and_client_use_mptcp_over_ipv6() {
    busybox_http_transfer(
        "static_busybox_server_and_client_use_mptcp_over_ipv6",
        "[::1]:8080",
        "http://[::1]:8080/data",
        "AF_INET6",
    );
}

/// busybox httpd serves a file to busybox wget, both statically linked and both under the
/// supervisor; the bytes and the namespace's MPTCP counters are checked.
fn busybox_http_transfer(_test: &str, listen: &str, url: &str, family: &str) {
    let ns = Netns::new("sc-http").unwrap();
    let scratch = mptcp_tests::temp_dir(&format!("http-{family}"));
    let dir = scratch.path();
    let data = pattern_bytes(3 << 20, 0);
    std::fs::write(dir.join("data"), &data).unwrap();
    assert_eq!(ns.counter("MPTcpExtMPCapableSYNRX"), 0);

    let mut server = seccomp_command(&ns, &[], "busybox", &["httpd", "-f", "-p", listen, "-h"]);
    server.arg(dir).stdin(Stdio::null());
    let mut server = server.spawn().unwrap();
    wait_mptcp_listener(&ns, 8080);

    let received = dir.join("received");
    let out = seccomp_run(
        &ns,
        &["-d"],
        "busybox",
        &["wget", "-q", "-O", received.to_str().unwrap(), url],
    );
    assert!(out.status.success());
    let log = stderr(&out);
    let decision = format!("mptcpize: socket({family}, SOCK_STREAM, 0) = ");
    assert!(
        log.lines()
            .any(|l| l.starts_with(&decision) && l.contains(": rewritten to IPPROTO_MPTCP (pid ")),
        "debug log of the decision"
    );
    assert_same_bytes("wget", &std::fs::read(&received).unwrap(), &data);

    assert_both_ends_mptcp(&ns);

    // SIGTERM to the launcher reaches httpd, and the launcher dies of it too.
    signal(&server, libc::SIGTERM);
    assert_eq!(wait_child(&mut server).signal(), Some(libc::SIGTERM));
}

#[mptcp_tests::needs(privileged, "gcc", "busybox")]
#[test]
fn static_nc_pair_exchanges_data_over_mptcp() {
    let ns = Netns::new("sc-nc").unwrap();
    let scratch = mptcp_tests::temp_dir("nc");
    let dir = scratch.path();
    let data = pattern_bytes(1 << 20, 0);
    std::fs::write(dir.join("data"), &data).unwrap();
    let received = dir.join("received");
    // busybox nc quits as soon as its stdin ends, so the server's stdin stays open (a
    // pipe) until all the data has arrived.
    let mut server = seccomp_command(&ns, &[], "busybox", &["nc", "-l", "-p", "9000"]);
    server
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&received).unwrap());
    let mut server = server.spawn().unwrap();
    wait_mptcp_listener(&ns, 9000);
    let mut client = seccomp_command(&ns, &[], "busybox", &["nc", "127.0.0.1", "9000"]);
    client.stdin(std::fs::File::open(dir.join("data")).unwrap());
    let mut client = client.spawn().unwrap();
    assert!(wait_child(&mut client).success());
    wait_until("all the data at the server", || {
        std::fs::metadata(&received).is_ok_and(|m| m.len() >= data.len() as u64)
    });
    drop(server.stdin.take());
    assert!(wait_child(&mut server).success());
    assert_same_bytes("nc -l", &std::fs::read(&received).unwrap(), &data);
    assert_both_ends_mptcp(&ns);
}

/// Every row of the socket() table, run by the kernel under the real filter: TCP stream
/// requests (as `mptcp_policy::is_tcp_stream_request` defines them) come back as MPTCP with
/// their SOCK_NONBLOCK/SOCK_CLOEXEC flags, every other row exactly as without mptcpize.
#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn kernel_filter_agrees_with_the_policy_table() {
    let ns = Netns::new("sc-table").unwrap();
    let plain = output({
        let mut c = ns.command(sockets_program());
        c.arg("table");
        c
    });
    let supervised = seccomp_run(&ns, &[], sockets_program(), &["table"]);
    assert!(plain.status.success() && supervised.status.success());
    let (plain, supervised) = (stdout(&plain), stdout(&supervised));
    assert_eq!(plain.lines().count(), 6 * 4 * 4 * 6);
    let mut converted = 0;
    for (p, s) in plain.lines().zip(supervised.lines()) {
        let call = p.split_whitespace().next().unwrap();
        let nums: Vec<i32> = call
            .trim_start_matches("socket(")
            .trim_end_matches(')')
            .split(',')
            .map(|n| n.parse().unwrap())
            .collect();
        if is_tcp_stream_request(nums[0], nums[1], nums[2]) {
            assert!(p.ends_with("proto=6"), "{p}");
            assert_eq!(s, p.replace("proto=6", "proto=262"), "TCP row");
            converted += 1;
        } else {
            assert_eq!(s, p, "a row mptcpize must not touch");
        }
    }
    assert_eq!(converted, 2 * 4 * 2);
}

#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn raw_syscall_is_intercepted() {
    let ns = Netns::new("sc-raw").unwrap();
    let out = seccomp_run(&ns, &[], sockets_program(), &["raw"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "raw proto=262\nraw-high-bits proto=262\n");
}

#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn sockets_from_many_threads_are_all_mptcp() {
    let ns = Netns::new("sc-thr").unwrap();
    let out = seccomp_run(&ns, &[], sockets_program(), &["threads", "8"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 8 * 50);
    for t in 0..8 {
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with(&format!("thread{t} ")))
                .count(),
            50
        );
    }
    assert!(text.lines().all(|l| l.ends_with(" proto=262")), "{text}");
}

/// The supervisor's debug log going to a closed pipe costs it nothing but the log: the
/// program still gets MPTCP for every socket and the launcher reports its exit.
#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn debug_log_to_a_closed_pipe_is_harmless() {
    let ns = Netns::new("sc-pipe").unwrap();
    let mut child = seccomp_command(&ns, &["-d"], sockets_program(), &["threads", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take()); // the reader of the log goes away at once
    let text = read_stdout(&mut child);
    assert_eq!(wait_child(&mut child).code(), Some(0));
    assert_eq!(text.lines().count(), 2 * 50);
    assert!(text.lines().all(|l| l.ends_with(" proto=262")), "{text}");
}

/// An option MPTCP refuses, set before connecting on a socket mptcpize made MPTCP, turns it
/// back into the plain TCP socket the program asked for (bound address, flags and options
/// kept), as the shim does; a socket the program asked MPTCP for itself stays MPTCP, and
/// other sockets are untouched.
#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn refused_socket_options_give_plain_tcp_like_the_shim() {
    let ns = Netns::new("sc-opt").unwrap();
    let out = seccomp_run(&ns, &["-d"], sockets_program(), &["options"]);
    assert!(out.status.success());
    let text = stdout(&out);
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} line in {text}"))
            .to_string()
    };
    assert_eq!(
        line("before-connect"),
        "before-connect rc=0 errno=0 proto=6 timeout=12345 reuseaddr=1 same-address=1 cloexec=1 nonblock=1"
    );
    // The swapped socket listens, and the client (made MPTCP) connects to it.
    assert_eq!(
        line("listen-connect"),
        "listen-connect connected=1 client-proto=262"
    );
    // Once connected a socket is never swapped.
    assert!(line("after-connect").ends_with(" proto=262"), "{text}");
    // MPTCP asked for by the program: its error, unchanged (ENOPROTOOPT).
    assert_eq!(
        line("explicit-mptcp"),
        "explicit-mptcp rc=-1 errno=92 proto=262"
    );
    assert_eq!(line("udp-ttl"), "udp-ttl rc=0 ttl=7 proto=17");
    assert!(
        stderr(&out)
            .contains("failed with ENOPROTOOPT (92): the socket is now plain TCP, option set"),
        "{}",
        stderr(&out)
    );
}

#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn forked_and_execd_children_are_covered() {
    let ns = Netns::new("sc-fork").unwrap();
    let out = seccomp_run(&ns, &[], sockets_program(), &["fork-exec"]);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        "parent proto=262\nforked proto=262\nlibc proto=262\n"
    );
}

#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn falls_back_to_tcp_when_mptcp_is_disabled() {
    let ns = Netns::new("sc-off").unwrap();
    ns.sysctl("net.mptcp.enabled", "0").unwrap();
    let out = seccomp_run(&ns, &["-d"], sockets_program(), &["libc"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "libc proto=6\n");
    assert!(
        stderr(&out)
            .contains("fell back to TCP, MPTCP refused with ENOPROTOOPT (92): MPTCP is disabled"),
        "the fallback is logged with its reason"
    );
    // The sysctl is read at every call, not once: enabling it again takes effect.
    ns.sysctl("net.mptcp.enabled", "1").unwrap();
    let out = seccomp_run(&ns, &[], sockets_program(), &["libc"]);
    assert_eq!(stdout(&out), "libc proto=262\n");
}

#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn udp_unix_and_explicit_mptcp_are_untouched() {
    let ns = Netns::new("sc-udp").unwrap();
    let out = seccomp_run(&ns, &["-d"], sockets_program(), &["udp-unix"]);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        "udp proto=17\nunix proto=0\nmptcp proto=262\n"
    );
    // Not one of them reached the supervisor.
    assert!(!stderr(&out).contains("socket("), "{}", stderr(&out));
}

/// The socket is created in the network namespace of the calling process, which is not
/// the launcher's when the program moved (here `ip netns exec` inside the target).
#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn sockets_are_created_in_the_callers_namespace() {
    let off = Netns::new("sc-nsoff").unwrap();
    off.sysctl("net.mptcp.enabled", "0").unwrap();
    let on = Netns::new("sc-nson").unwrap();
    // Launcher where MPTCP is off, program moved to where it is on: MPTCP.
    let moved = |launcher_ns: &Netns, target_ns: &Netns| {
        let mut cmd = seccomp_command(launcher_ns, &[], "ip", &["netns", "exec", target_ns.name()]);
        cmd.arg(sockets_program()).arg("libc");
        stdout(&output(cmd))
    };
    assert_eq!(moved(&off, &on), "libc proto=262\n");
    // And the other way round: TCP, because MPTCP is off where the program is.
    assert_eq!(moved(&on, &off), "libc proto=6\n");
}

#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn exit_status_and_death_by_signal_are_reproduced() {
    let ns = Netns::new("sc-exit").unwrap();
    let prog = sockets_program();
    assert_eq!(
        seccomp_run(&ns, &[], prog, &["exit", "0"]).status.code(),
        Some(0)
    );
    assert_eq!(
        seccomp_run(&ns, &[], prog, &["exit", "42"]).status.code(),
        Some(42)
    );
    let killed = seccomp_run(&ns, &[], prog, &["raise", "15"]).status;
    assert_eq!(killed.signal(), Some(libc::SIGTERM), "{killed:?}");
    let segv = seccomp_run(&ns, &[], prog, &["raise", "11"]).status;
    assert_eq!(segv.signal(), Some(libc::SIGSEGV), "{segv:?}");
    // Launcher errors follow env(1): 127 not found, 126 not executable.
    assert_eq!(
        seccomp_run(&ns, &[], "/nonexistent/program", &[])
            .status
            .code(),
        Some(127)
    );
    let scratch = mptcp_tests::temp_dir("noexec");
    let dir = scratch.path();
    let not_executable = dir.join("data");
    std::fs::write(&not_executable, "not a program\n").unwrap();
    std::fs::set_permissions(&not_executable, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        seccomp_run(&ns, &[], &not_executable, &[]).status.code(),
        Some(126)
    );
}

#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn signals_sent_to_the_launcher_reach_the_program() {
    let ns = Netns::new("sc-sig").unwrap();
    let mut child = seccomp_command(&ns, &[], sockets_program(), &["wait"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.next().unwrap().unwrap();
    assert!(ready.starts_with("ready pid="), "{ready}");
    // The launcher execs the program, which keeps its process id (systemd's MainPID).
    assert_eq!(ready, format!("ready pid={}", child.id()));
    signal(&child, libc::SIGUSR1);
    assert_eq!(lines.next().unwrap().unwrap(), "got SIGUSR1");
    signal(&child, libc::SIGUSR1);
    assert_eq!(lines.next().unwrap().unwrap(), "got SIGUSR1");
    signal(&child, libc::SIGTERM);
    assert_eq!(wait_child(&mut child).signal(), Some(libc::SIGTERM));
}

/// Ctrl-C on the terminal reaches the program once: the terminal signals the foreground
/// process group, which is the program's, and the supervisor lives in a process group of its own
/// (it gets no terminal signal and forwards none).
#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn terminal_ctrl_c_reaches_the_program_once() {
    let ns = Netns::new("sc-tty").unwrap();
    let cmd = seccomp_command(&ns, &["-d"], sockets_program(), &["wait"]);
    // The launcher leads a session with the pty as its controlling terminal.
    let (mut child, terminal) = support::spawn_on_terminal(cmd);
    let count = |what: &str| terminal.output().matches(what).count();
    wait_until("the program to start", || count("ready pid=") == 1);
    terminal.type_keys(b"\x03"); // Ctrl-C
    wait_until("SIGINT in the program", || count("got SIGINT") >= 1);
    // The program decides what Ctrl-C does (this one goes on); its end is its own.
    assert!(child.try_wait().unwrap().is_none());
    signal(&child, libc::SIGTERM);
    assert_eq!(wait_child(&mut child).signal(), Some(libc::SIGTERM));
    let text = terminal.close();
    assert_eq!(text.matches("got SIGINT").count(), 1, "{text}");
    assert!(!text.contains("forwarded"), "{text}");
}

/// A child that outlives the program still gets MPTCP, the launcher returns when the
/// program exits, and the supervisors go away with the last child.
#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn children_outliving_the_program_are_still_served() {
    let ns = Netns::new("sc-orph").unwrap();
    let mut child = seccomp_command(&ns, &[], sockets_program(), &["orphan"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = wait_child(&mut child);
    assert!(status.success());
    // The orphan sleeps 2 s before its socket(): the launcher did not wait for it.
    assert!(
        started.elapsed() < Duration::from_millis(1800),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(read_stdout(&mut child), "orphan proto=262\n");
    wait_until("the supervisors to exit", || ns.pids().is_empty());
}

#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn a_second_supervisor_is_refused_with_a_clear_error() {
    let ns = Netns::new("sc-nest").unwrap();
    let inner = [
        OsStr::new("run"),
        OsStr::new("--seccomp"),
        sockets_program().as_os_str(),
        OsStr::new("libc"),
    ];
    let mut cmd = ns.command(MPTCPIZE);
    cmd.args(["run", "--seccomp", MPTCPIZE]).args(inner);
    let out = output(cmd);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("another seccomp supervisor already watches"));
    // Never silently on TCP: the program did not run at all.
    assert_eq!(stdout(&out), "");
}

/// Where seccomp(2) is refused (a container profile, an old kernel, a kernel without
/// filters), the launcher says why and does not run the program at all: never silently on
/// TCP.
#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn a_refused_filter_is_a_clear_error() {
    let ns = Netns::new("sc-deny").unwrap();
    for (errno, why) in [
        (libc::EPERM, "forbids installing another filter"),
        (libc::ENOSYS, "built without seccomp filters"),
        (libc::EINVAL, "does not support seccomp user notification"),
    ] {
        for forced in [true, false] {
            let mut cmd = ns.command(sockets_program());
            cmd.args(["deny-seccomp", &errno.to_string(), MPTCPIZE, "run"]);
            if forced {
                cmd.arg("--seccomp");
            }
            cmd.arg(sockets_program()).arg("libc");
            let out = output(cmd);
            assert_eq!(out.status.code(), Some(125));
            let err = stderr(&out);
            assert!(
                err.contains("cannot intercept socket() with seccomp"),
                "{err}"
            );
            assert!(err.contains(why), "{err}");
            assert!(err.contains("the program was not started"), "{err}");
            assert_eq!(stdout(&out), "");
        }
    }
}

#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn static_and_setuid_programs_choose_seccomp_mode_automatically() {
    let ns = Netns::new("sc-auto").unwrap();
    let mut cmd = ns.command(MPTCPIZE);
    cmd.arg("run").arg(sockets_program()).arg("libc");
    let out = output(cmd);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "libc proto=262\n");
    assert!(
        stderr(&out).contains("statically linked"),
        "one line says why"
    );

    // A setuid copy, run by root (CAP_SYS_ADMIN: no no_new_privs, privileges kept).
    let scratch = mptcp_tests::temp_dir("setuid");
    let dir = scratch.path();
    let setuid = dir.join("sockets-setuid");
    std::fs::copy(sockets_program(), &setuid).unwrap();
    std::fs::set_permissions(&setuid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let mut cmd = ns.command(MPTCPIZE);
    cmd.arg("run").arg(&setuid).arg("libc");
    let out = output(cmd);
    assert_eq!(stdout(&out), "libc proto=262\n");
    assert!(stderr(&out).contains("setuid"), "one line says why");
}

/// `setpriv` to user and group 65534, no supplementary groups, no inheritable
/// capabilities: from root, the uid change clears every capability.
const AS_NOBODY: [&str; 5] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--inh-caps=-all",
];

/// The launcher and `program` copied into a 0755 directory anyone can reach (the checkout
/// may live under a home directory that user 65534 cannot enter): (dir, launcher, program).
fn reachable_copies(tag: &str, program: &Path) -> (support::TempDir, PathBuf, PathBuf) {
    let dir = mptcp_tests::temp_dir(tag);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let (launcher, copy) = (dir.path().join("mptcpize"), dir.path().join("sockets"));
    std::fs::copy(MPTCPIZE, &launcher).unwrap();
    std::fs::copy(program, &copy).unwrap();
    for file in [&launcher, &copy] {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (dir, launcher, copy)
}

/// The line the launcher prints whenever seccomp mode sets no_new_privs.
const NO_NEW_PRIVS_WARNING: &str = "seccomp mode without CAP_SYS_ADMIN sets no_new_privs";

/// Without CAP_SYS_ADMIN the filter is installed with no_new_privs, and works the same; the
/// launcher says, forced (`--seccomp`) or chosen automatically (a static program), that the
/// programs it starts lose what setuid bits and file capabilities would give them. Root
/// (CAP_SYS_ADMIN, no no_new_privs) is not warned.
#[mptcp_tests::needs(privileged, "gcc", "setpriv")]
#[test]
fn works_for_an_unprivileged_user_and_says_what_no_new_privs_costs() {
    let ns = Netns::new("sc-user").unwrap();
    let (dir, launcher, program) = reachable_copies("seccomp-user", sockets_program());
    let as_nobody = |run_args: &[&str], mode: &str| {
        let mut cmd = ns.command(AS_NOBODY[0]);
        cmd.args(&AS_NOBODY[1..])
            .arg(&launcher)
            .args(run_args)
            .arg(&program)
            .arg(mode)
            .current_dir(dir.path());
        output(cmd)
    };
    let out = as_nobody(&["run", "--seccomp"], "options");
    assert!(out.status.success());
    let text = stdout(&out);
    // Sockets made MPTCP, and (ptrace access to a process of the same user: no Yama
    // restriction on Debian) the swap to plain TCP for a refused option works as well.
    assert!(
        text.contains("listen-connect connected=1 client-proto=262\n"),
        "{text}"
    );
    assert!(
        text.starts_with("before-connect rc=0 errno=0 proto=6 timeout=12345"),
        "{text}"
    );
    let forced = stderr(&out);
    assert!(forced.contains(NO_NEW_PRIVS_WARNING), "{forced}");
    assert!(forced.contains("setuid") && forced.contains("file capabilities"));
    // Chosen automatically for the static program: the same warning.
    let out = as_nobody(&["run"], "libc");
    assert_eq!(stdout(&out), "libc proto=262\n");
    let automatic = stderr(&out);
    assert!(automatic.contains("statically linked"), "{automatic}");
    assert!(automatic.contains(NO_NEW_PRIVS_WARNING), "{automatic}");
    // Root keeps setuid and file capabilities working: nothing to warn about.
    let mut cmd = ns.command(&launcher);
    cmd.arg("run").arg(&program).arg("libc");
    let out = output(cmd);
    assert_eq!(stdout(&out), "libc proto=262\n");
    assert!(!stderr(&out).contains("no_new_privs"), "{}", stderr(&out));
}

/// A program with file capabilities (`security.capability`, as `setcap cap_net_raw+ep`
/// writes it) is out of the shim's reach like a setuid one (the loader's secure mode):
/// root runs it in seccomp mode; a user without CAP_SYS_ADMIN is told that seccomp mode
/// would drop its capabilities, and it runs unchanged.
#[mptcp_tests::needs(privileged, "gcc", "setpriv")]
#[test]
fn file_capabilities_are_detected_like_setuid() {
    let ns = Netns::new("sc-fcaps").unwrap();
    let (_dir, launcher, program) = reachable_copies("seccomp-fcaps", sockets_program());
    // struct vfs_cap_data, revision 2: magic_etc (VFS_CAP_REVISION_2 |
    // VFS_CAP_FLAGS_EFFECTIVE), then permitted/inheritable for capabilities 0-31 and
    // 32-63: CAP_NET_RAW (13) permitted.
    let mut caps = Vec::new();
    for word in [0x0200_0001u32, 1 << 13, 0, 0, 0] {
        caps.extend_from_slice(&word.to_le_bytes());
    }
    let path = std::ffi::CString::new(program.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: NUL-terminated strings and a buffer of caps.len() bytes.
    let set = unsafe {
        libc::setxattr(
            path.as_ptr(),
            c"security.capability".as_ptr(),
            caps.as_ptr().cast(),
            caps.len(),
            0,
        )
    };
    assert_eq!(set, 0, "setxattr: {}", std::io::Error::last_os_error());

    let mut cmd = ns.command(&launcher);
    cmd.arg("run").arg(&program).arg("libc");
    let out = output(cmd);
    assert_eq!(stdout(&out), "libc proto=262\n");
    assert!(
        stderr(&out).contains(
            "has file capabilities (the loader ignores LD_PRELOAD for it): using seccomp mode"
        ),
        "{}",
        stderr(&out)
    );

    let mut cmd = ns.command(AS_NOBODY[0]);
    cmd.args(&AS_NOBODY[1..])
        .arg(&launcher)
        .arg("run")
        .arg(&program)
        .arg("libc");
    let out = output(cmd);
    assert_eq!(stdout(&out), "libc proto=6\n", "unchanged, on TCP");
    let text = stderr(&out);
    assert!(
        text.contains("has file capabilities: the loader ignores LD_PRELOAD for it, and seccomp mode without CAP_SYS_ADMIN would strip them"),
        "{text}"
    );
    assert!(!text.contains(NO_NEW_PRIVS_WARNING), "{text}");
}

/// The live supervisors of the run whose launcher had `MPTCPIZE_TEST_TAG=tag` in its
/// environment (they are forked from it, not exec'd): (pid, `mptcpize-serve` or
/// `mptcpize-spare`).
fn supervisors(tag: &str) -> Vec<(i32, String)> {
    let marker = format!("MPTCPIZE_TEST_TAG={tag}\0");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if !comm.starts_with("mptcpize-") {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'));
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if !zombie && String::from_utf8_lossy(&environ).contains(&marker) {
            found.push((pid, comm.trim().to_owned()));
        }
    }
    found
}

/// Waits for one serving and one standby supervisor, none of them in `killed` (a process
/// killed a moment ago may still be listed while it ends); returns (serving, standby).
fn supervisor_pair(tag: &str, killed: &[i32]) -> (i32, i32) {
    let mut pair = (0, 0);
    wait_until("a serving and a standby supervisor", || {
        let mut found = supervisors(tag);
        found.retain(|(pid, _)| !killed.contains(pid));
        let pid = |name: &str| found.iter().find(|(_, c)| c == name).map(|(p, _)| *p);
        match (pid("mptcpize-serve"), pid("mptcpize-spare"), found.len()) {
            (Some(serve), Some(spare), 2) => {
                pair = (serve, spare);
                true
            }
            _ => false,
        }
    });
    pair
}

/// Starts `identity.c MODE` (static) under `mptcpize run -d --seccomp` in `ns`, in a process
/// group of its own, its supervisors named by a tag (`MPTCPIZE_TEST_TAG`, see
/// [`supervisors`]); returns the tag, the launcher (the program, at the same pid) and its
/// output lines.
fn start_watched_program(
    ns: &Netns,
    dir: &support::TempDir,
    tag: &str,
    mode: &str,
) -> (
    String,
    std::process::Child,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
) {
    let program = support::build_c_program(dir, "identity.c", support::Linking::Static);
    let tag = format!("{tag}-{}", std::process::id());
    let mut child = seccomp_command(ns, &["-d"], &program, &[mode])
        .env("MPTCPIZE_TEST_TAG", &tag)
        .process_group(0)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (tag, child, lines)
}

/// A supervisor killed with SIGKILL (the serving one, the standby, the serving one again)
/// while the program and its child run: their next socket() calls are answered, MPTCP, by
/// the survivor, which starts a new standby; never ENOSYS. When the program ends, both
/// supervisors end.
#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn a_killed_supervisor_is_replaced_without_failing_the_program() {
    let ns = Netns::new("sc-kill").unwrap();
    let dir = mptcp_tests::temp_dir("sc-kill");
    let (tag, mut child, mut lines) = start_watched_program(&ns, &dir, "kill", "family");
    let group = child.id() as i32;
    let mut next_two = || {
        let mut two = [lines.next(), lines.next()]
            .map(|l| l.expect("program output").expect("program output"));
        two.sort();
        two
    };
    assert_eq!(next_two(), ["ready child", "ready parent"]);
    // Each of the two processes makes one TCP socket().
    let mut round = |what: &str| {
        // SAFETY: kill(2) of the program's process group.
        assert_eq!(unsafe { libc::kill(-group, libc::SIGUSR1) }, 0);
        assert_eq!(
            next_two(),
            ["child proto=262", "parent proto=262"],
            "{what}"
        );
    };
    let kill9 = |pid: i32| {
        // SAFETY: kill(2) of a supervisor of this test's run.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    };
    round("both supervisors alive");
    let (serving, standby) = supervisor_pair(&tag, &[]);
    // Both stay in the program's cgroup (a service manager stopping the unit stops them),
    // and ask the OOM killer to spare them where allowed (CAP_SYS_RESOURCE, bit 24: root
    // has it, unless a container took it away).
    let read =
        |pid: i32, what: &str| std::fs::read_to_string(format!("/proc/{pid}/{what}")).unwrap();
    let may_lower_oom_score = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 24) != 0);
    for pid in [serving, standby] {
        assert_eq!(read(pid, "cgroup"), read(group, "cgroup"));
        if may_lower_oom_score {
            assert_eq!(read(pid, "oom_score_adj").trim(), "-1000");
        }
    }
    kill9(serving);
    round("the serving supervisor just killed");
    let (serving, new_standby) = supervisor_pair(&tag, &[serving]);
    assert_eq!(serving, standby, "the standby took over");
    kill9(new_standby);
    round("the standby just killed");
    // Killed before the replacement standby exists, the serving one would leave nobody:
    // that is the "both at once" case the documentation describes.
    let (serving, _) = supervisor_pair(&tag, &[new_standby]);
    kill9(serving);
    round("the new serving supervisor just killed");
    supervisor_pair(&tag, &[serving]);
    // SAFETY: kill(2) of the program's process group.
    assert_eq!(unsafe { libc::kill(-group, libc::SIGTERM) }, 0);
    assert!(wait_child(&mut child).success());
    wait_until("both supervisors to end", || supervisors(&tag).is_empty());
}

/// The serving supervisor killed again and again while the program and its child create
/// sockets in a loop, so that a kill often lands while a call is being answered: every
/// call succeeds, MPTCP, or plain TCP for a call the dead supervisor had received and not
/// answered (its survivor lets it run as the program made it); none fails.
#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn calls_in_flight_when_a_supervisor_is_killed_still_succeed() {
    let ns = Netns::new("sc-churn").unwrap();
    let dir = mptcp_tests::temp_dir("sc-churn");
    let (tag, mut child, mut lines) = start_watched_program(&ns, &dir, "churn", "churn");
    let group = child.id() as i32;
    for _ in 0..2 {
        assert!(lines.next().unwrap().unwrap().starts_with("ready "));
    }
    let mut killed = Vec::new();
    for _ in 0..10 {
        let (serving, standby) = supervisor_pair(&tag, &killed);
        killed.push(serving);
        // SAFETY: kill(2) of a supervisor of this test's run.
        assert_eq!(unsafe { libc::kill(serving, libc::SIGKILL) }, 0);
        wait_until("the standby to serve", || {
            supervisors(&tag)
                .iter()
                .any(|(pid, comm)| *pid == standby && comm == "mptcpize-serve")
        });
    }
    // SAFETY: kill(2) of the program's process group.
    assert_eq!(unsafe { libc::kill(-group, libc::SIGTERM) }, 0);
    let mut results: Vec<String> = lines.map(|l| l.unwrap()).collect();
    results.sort();
    assert!(wait_child(&mut child).success());
    assert_eq!(results.len(), 2, "{results:?}");
    for line in &results {
        assert!(line.contains(" failed=0 "), "{results:?}");
        let mptcp: u64 = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("mptcp="))
            .unwrap()
            .parse()
            .unwrap();
        assert!(mptcp > 0, "{results:?}");
    }
    wait_until("both supervisors to end", || supervisors(&tag).is_empty());
}

/// `struct ptrace_syscall_info` (linux/ptrace.h): the op (1 entry, 2 exit), then for an
/// entry the number and six arguments, for an exit the return value.
#[repr(C)]
#[derive(Default)]
struct PtraceSyscallInfo {
    op: u8,
    pad: [u8; 3],
    arch: u32,
    instruction_pointer: u64,
    stack_pointer: u64,
    data: [u64; 8],
}

/// `PTRACE_GET_SYSCALL_INFO` (Linux 5.3).
const PTRACE_GET_SYSCALL_INFO: libc::c_uint = 0x420e;

/// Traces `pid` (`PTRACE_SEIZE`) and lets it run until it returns from a successful
/// `ioctl(SECCOMP_IOCTL_NOTIF_RECV)`, stopped there, before it runs another instruction;
/// `trigger` is called once the trace is in place. Panics after 30 s.
fn stop_after_notification_received(pid: i32, trigger: impl FnOnce()) {
    let deadline = Instant::now() + Duration::from_secs(30);
    // SAFETY: ptrace(2) requests on a process of this test's run, which root may trace.
    unsafe {
        assert_eq!(
            libc::ptrace(libc::PTRACE_SEIZE, pid, 0, libc::PTRACE_O_TRACESYSGOOD),
            0,
            "PTRACE_SEIZE: {}",
            std::io::Error::last_os_error()
        );
        assert_eq!(libc::ptrace(libc::PTRACE_INTERRUPT, pid, 0, 0), 0);
    }
    let wait_stop = || loop {
        let mut status = 0;
        // SAFETY: waitpid on a tracee of this thread.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL | libc::WNOHANG) };
        assert!(r >= 0, "waitpid: {}", std::io::Error::last_os_error());
        if r == pid {
            assert!(libc::WIFSTOPPED(status), "tracee ended: {status:#x}");
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the supervisor never received a call"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    wait_stop();
    let mut trigger = Some(trigger);
    let mut inject = 0;
    let mut last_entry = (u64::MAX, 0u64);
    loop {
        // SAFETY: resume the stopped tracee up to its next system-call stop.
        assert_eq!(
            unsafe { libc::ptrace(libc::PTRACE_SYSCALL, pid, 0, inject) },
            0
        );
        if let Some(trigger) = trigger.take() {
            trigger();
        }
        let status = wait_stop();
        let sig = libc::WSTOPSIG(status);
        inject = 0;
        if sig != (libc::SIGTRAP | 0x80) {
            // A signal-delivery stop (or the event stop): pass real signals on.
            if status >> 16 == 0 && sig != libc::SIGTRAP {
                inject = sig;
            }
            continue;
        }
        let mut info = PtraceSyscallInfo::default();
        // SAFETY: the kernel writes at most size_of::<PtraceSyscallInfo>() bytes.
        let n = unsafe {
            libc::ptrace(
                PTRACE_GET_SYSCALL_INFO,
                pid,
                size_of::<PtraceSyscallInfo>(),
                &mut info as *mut PtraceSyscallInfo,
            )
        };
        assert!(
            n > 0,
            "PTRACE_GET_SYSCALL_INFO: {}",
            std::io::Error::last_os_error()
        );
        match info.op {
            1 => last_entry = (info.data[0], info.data[2]),
            2 if last_entry == (libc::SYS_ioctl as u64, libc::SECCOMP_IOCTL_NOTIF_RECV)
                && info.data[0] == 0 =>
            {
                return
            }
            _ => {}
        }
    }
}

/// The serving supervisor killed right after it received the program's very first call,
/// before it could record that call's id for its standby (stopped there with ptrace): the
/// standby still finds the call (the launcher's probe call gave it a first id before the
/// program started) and lets it run as plain TCP; the other process's call is served,
/// MPTCP. Neither caller waits forever.
#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn serving_supervisor_killed_after_its_first_receive_leaves_no_caller_blocked() {
    let ns = Netns::new("sc-first").unwrap();
    let dir = mptcp_tests::temp_dir("sc-first");
    let (tag, mut child, lines) = start_watched_program(&ns, &dir, "first", "family");
    let group = child.id() as i32;
    // The program's lines, read on a thread so that a blocked caller is a timeout here.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let next = || {
        rx.recv_timeout(Duration::from_secs(30))
            .expect("a socket() call of the program never returned")
    };
    let mut ready = [next(), next()];
    ready.sort();
    assert_eq!(ready, ["ready child", "ready parent"]);
    let (serving, standby) = supervisor_pair(&tag, &[]);
    stop_after_notification_received(serving, || {
        // SAFETY: kill(2) of the program's process group: each process makes one socket().
        assert_eq!(unsafe { libc::kill(-group, libc::SIGUSR1) }, 0);
    });
    // SAFETY: kill(2) of the traced supervisor, stopped after its RECV.
    assert_eq!(unsafe { libc::kill(serving, libc::SIGKILL) }, 0);
    // SAFETY: reap the tracee's end as its tracer.
    unsafe { libc::waitpid(serving, std::ptr::null_mut(), libc::__WALL) };
    let mut answers = [next(), next()];
    answers.sort();
    let protos: Vec<&str> = answers
        .iter()
        .map(|l| l.split_once(' ').map_or("", |(_, proto)| proto))
        .collect();
    let mut sorted = protos.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["proto=262", "proto=6"],
        "the received call runs as TCP, the other is served: {answers:?}"
    );
    let (new_serving, _) = supervisor_pair(&tag, &[serving]);
    assert_eq!(new_serving, standby, "the standby took over");
    // SAFETY: kill(2) of the program's process group.
    assert_eq!(unsafe { libc::kill(-group, libc::SIGTERM) }, 0);
    assert!(wait_child(&mut child).success());
    wait_until("both supervisors to end", || supervisors(&tag).is_empty());
}

/// A program in a network namespace of its own (`unshare(CLONE_NEWUSER | CLONE_NEWNET)`,
/// which any user may do), run by an unprivileged user: its socket is never made in the
/// supervisor's namespace, dumpable or not (a non-dumpable caller's /proc/PID/ns/net is
/// EACCES to the supervisor, which used to count as "ours"). A non-dumpable program in the
/// launcher's own namespace still gets MPTCP.
#[mptcp_tests::needs(privileged, "gcc", "setpriv")]
#[test]
fn sockets_of_a_non_dumpable_caller_are_made_in_its_own_namespace_or_not_at_all() {
    let ns = Netns::new("sc-dump").unwrap();
    let dir = mptcp_tests::temp_dir("sc-dump");
    let program = support::build_c_program(&dir, "private_netns.c", support::Linking::Static);
    let launcher = dir.path().join("mptcpize");
    std::fs::copy(MPTCPIZE, &launcher).unwrap();
    let run = |namespace: &str, dumpable: &str| {
        let mut cmd = ns.command(AS_NOBODY[0]);
        cmd.args(&AS_NOBODY[1..])
            .arg(&launcher)
            .args(["run", "--seccomp"])
            .arg(&program)
            .args([namespace, dumpable]);
        let out = output(cmd);
        assert!(out.status.success(), "{namespace} {dumpable}");
        stdout(&out)
    };
    let unreachable = format!("connect errno={} ", libc::ENETUNREACH);
    for dumpable in ["dumpable", "nondumpable"] {
        let line = run("private", dumpable);
        assert!(
            line.starts_with(&unreachable),
            "{dumpable}: the socket must live in the program's own namespace: {line}"
        );
    }
    assert_eq!(
        run("shared", "nondumpable"),
        format!("connect errno={} proto=262\n", libc::ECONNREFUSED)
    );
}
