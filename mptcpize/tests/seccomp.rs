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
use mptcp_tests::{require_privileges, require_program, Netns};

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

/// Common preconditions; false (with a printed reason) when the test must skip.
fn ready(test: &str) -> bool {
    require_privileges(test) && require_program(test, "gcc")
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

/// The `MPTcp*` counters of the namespace (`nstat -asz`), by name.
fn nstat(ns: &Netns, counter: &str) -> u64 {
    let text = ns.run("nstat", &["-asz", "MPTcp*"]).unwrap();
    text.lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some(counter)).then(|| f.next().unwrap().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("{counter} not in nstat output:\n{text}"))
}

/// Both ends negotiated MPTCP: the server received an MP_CAPABLE SYN and the client an
/// MP_CAPABLE SYN-ACK (counters of this namespace only).
fn assert_both_ends_mptcp(ns: &Netns) {
    assert!(nstat(ns, "MPTcpExtMPCapableSYNRX") >= 1);
    assert!(nstat(ns, "MPTcpExtMPCapableSYNACKRX") >= 1);
}

/// Waits until an MPTCP socket listens on `port` (`ss -M` lists MPTCP sockets only: the
/// listener itself is MPTCP).
fn wait_mptcp_listener(ns: &Netns, port: u16) {
    let filter = format!("sport = :{port}");
    let shown = format!(":{port}");
    wait_for(&format!("the MPTCP listener on port {port}"), || {
        ns.run("ss", &["-HMln", &filter])
            .is_ok_and(|s| s.contains(&shown))
    });
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a process, failing the test instead of hanging.
fn wait_child(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process {} did not exit", child.id());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on a child we have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("seccomp-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg_attr(
    not(all(mptcp_privileged, has_gcc, has_busybox)),
    ignore = "needs root, netns, MPTCP, gcc, busybox"
)]
#[test]
fn static_busybox_server_and_client_use_mptcp() {
    busybox_http_transfer(
        "static_busybox_server_and_client_use_mptcp",
        "127.0.0.1:8080",
        "http://127.0.0.1:8080/data",
        "AF_INET",
    );
}

#[cfg_attr(
    not(all(mptcp_privileged, has_gcc, has_busybox)),
    ignore = "needs root, netns, MPTCP, gcc, busybox"
)]
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
fn busybox_http_transfer(test: &str, listen: &str, url: &str, family: &str) {
    if !ready(test) || !require_program(test, "busybox") {
        return;
    }
    let ns = Netns::new("sc-http").unwrap();
    let dir = temp_dir(&format!("http-{family}"));
    let data = pattern_bytes(3 << 20, 0);
    std::fs::write(dir.join("data"), &data).unwrap();
    assert_eq!(nstat(&ns, "MPTcpExtMPCapableSYNRX"), 0);

    let mut server = seccomp_command(&ns, &[], "busybox", &["httpd", "-f", "-p", listen, "-h"]);
    server.arg(&dir).stdin(Stdio::null());
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
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg_attr(
    not(all(mptcp_privileged, has_gcc, has_busybox)),
    ignore = "needs root, netns, MPTCP, gcc, busybox"
)]
#[test]
fn static_nc_pair_exchanges_data_over_mptcp() {
    let test = "static_nc_pair_exchanges_data_over_mptcp";
    if !ready(test) || !require_program(test, "busybox") {
        return;
    }
    let ns = Netns::new("sc-nc").unwrap();
    let dir = temp_dir("nc");
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
    wait_for("all the data at the server", || {
        std::fs::metadata(&received).is_ok_and(|m| m.len() >= data.len() as u64)
    });
    drop(server.stdin.take());
    assert!(wait_child(&mut server).success());
    assert_same_bytes("nc -l", &std::fs::read(&received).unwrap(), &data);
    assert_both_ends_mptcp(&ns);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every row of the socket() table, run by the kernel under the real filter: TCP stream
/// requests (as `mptcp_policy::is_tcp_stream_request` defines them) come back as MPTCP with
/// their SOCK_NONBLOCK/SOCK_CLOEXEC flags, every other row exactly as without mptcpize.
#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn kernel_filter_agrees_with_the_policy_table() {
    if !ready("kernel_filter_agrees_with_the_policy_table") {
        return;
    }
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

#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn raw_syscall_is_intercepted() {
    if !ready("raw_syscall_is_intercepted") {
        return;
    }
    let ns = Netns::new("sc-raw").unwrap();
    let out = seccomp_run(&ns, &[], sockets_program(), &["raw"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "raw proto=262\nraw-high-bits proto=262\n");
}

#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn sockets_from_many_threads_are_all_mptcp() {
    if !ready("sockets_from_many_threads_are_all_mptcp") {
        return;
    }
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
#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn debug_log_to_a_closed_pipe_is_harmless() {
    if !ready("debug_log_to_a_closed_pipe_is_harmless") {
        return;
    }
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
#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn refused_socket_options_give_plain_tcp_like_the_shim() {
    if !ready("refused_socket_options_give_plain_tcp_like_the_shim") {
        return;
    }
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

#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn forked_and_execd_children_are_covered() {
    if !ready("forked_and_execd_children_are_covered") {
        return;
    }
    let ns = Netns::new("sc-fork").unwrap();
    let out = seccomp_run(&ns, &[], sockets_program(), &["fork-exec"]);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        "parent proto=262\nforked proto=262\nlibc proto=262\n"
    );
}

#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn falls_back_to_tcp_when_mptcp_is_disabled() {
    if !ready("falls_back_to_tcp_when_mptcp_is_disabled") {
        return;
    }
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

#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn udp_unix_and_explicit_mptcp_are_untouched() {
    if !ready("udp_unix_and_explicit_mptcp_are_untouched") {
        return;
    }
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
#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn sockets_are_created_in_the_callers_namespace() {
    if !ready("sockets_are_created_in_the_callers_namespace") {
        return;
    }
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

#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn exit_status_and_death_by_signal_are_reproduced() {
    if !ready("exit_status_and_death_by_signal_are_reproduced") {
        return;
    }
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
    let dir = temp_dir("noexec");
    let not_executable = dir.join("data");
    std::fs::write(&not_executable, "not a program\n").unwrap();
    std::fs::set_permissions(&not_executable, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        seccomp_run(&ns, &[], &not_executable, &[]).status.code(),
        Some(126)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn signals_sent_to_the_launcher_reach_the_program() {
    if !ready("signals_sent_to_the_launcher_reach_the_program") {
        return;
    }
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
#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn terminal_ctrl_c_reaches_the_program_once() {
    if !ready("terminal_ctrl_c_reaches_the_program_once") {
        return;
    }
    let ns = Netns::new("sc-tty").unwrap();
    let (mut master, slave) = support::open_pty();
    let mut cmd = seccomp_command(&ns, &["-d"], sockets_program(), &["wait"]);
    // The launcher leads a session with the pty as its controlling terminal.
    support::with_controlling_terminal(&mut cmd, slave);
    let mut child = cmd.spawn().unwrap();
    drop(cmd); // closes the parent's copies of the pty's slave side
    let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let mut master = master.try_clone().unwrap();
        let output = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            // Ends with EIO once every process holding the slave side has exited.
            while let Ok(n @ 1..) = master.read(&mut buf) {
                output
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let count = |what: &str| output.lock().unwrap().matches(what).count();
    wait_for("the program to start", || count("ready pid=") == 1);
    std::io::Write::write_all(&mut master, b"\x03").unwrap(); // Ctrl-C
    wait_for("SIGINT in the program", || count("got SIGINT") >= 1);
    // The program decides what Ctrl-C does (this one goes on); its end is its own.
    assert!(child.try_wait().unwrap().is_none());
    signal(&child, libc::SIGTERM);
    assert_eq!(wait_child(&mut child).signal(), Some(libc::SIGTERM));
    drop(master);
    reader.join().unwrap();
    let text = output.lock().unwrap().clone();
    assert_eq!(count("got SIGINT"), 1, "{text}");
    assert!(!text.contains("forwarded"), "{text}");
}

/// A child that outlives the program still gets MPTCP, the launcher returns when the
/// program exits, and the supervisors go away with the last child.
#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn children_outliving_the_program_are_still_served() {
    if !ready("children_outliving_the_program_are_still_served") {
        return;
    }
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
    wait_for("the supervisors to exit", || ns.pids().is_empty());
}

#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn a_second_supervisor_is_refused_with_a_clear_error() {
    if !ready("a_second_supervisor_is_refused_with_a_clear_error") {
        return;
    }
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
#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn a_refused_filter_is_a_clear_error() {
    if !ready("a_refused_filter_is_a_clear_error") {
        return;
    }
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

#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn static_and_setuid_programs_choose_seccomp_mode_automatically() {
    if !ready("static_and_setuid_programs_choose_seccomp_mode_automatically") {
        return;
    }
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
    let dir = temp_dir("setuid");
    let setuid = dir.join("sockets-setuid");
    std::fs::copy(sockets_program(), &setuid).unwrap();
    std::fs::set_permissions(&setuid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let mut cmd = ns.command(MPTCPIZE);
    cmd.arg("run").arg(&setuid).arg("libc");
    let out = output(cmd);
    assert_eq!(stdout(&out), "libc proto=262\n");
    assert!(stderr(&out).contains("setuid"), "one line says why");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Without CAP_SYS_ADMIN the filter is installed with no_new_privs, and works the same.
#[cfg_attr(
    not(all(mptcp_privileged, has_gcc, has_setpriv)),
    ignore = "needs root, netns, MPTCP, gcc, setpriv"
)]
#[test]
fn works_for_an_unprivileged_user() {
    let test = "works_for_an_unprivileged_user";
    if !ready(test) || !require_program(test, "setpriv") {
        return;
    }
    let ns = Netns::new("sc-user").unwrap();
    // Copies in a directory anyone can reach: the checkout may live under a home directory
    // that user 65534 cannot enter.
    let dir = std::env::temp_dir().join(format!("mptcpize-seccomp-user-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (launcher, program) = (dir.join("mptcpize"), dir.join("sockets"));
    std::fs::copy(MPTCPIZE, &launcher).unwrap();
    std::fs::copy(sockets_program(), &program).unwrap();
    let mut cmd = ns.command("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
    ])
    .arg(&launcher)
    .args(["run", "--seccomp"])
    .arg(&program)
    .arg("options")
    .current_dir(&dir);
    let out = output(cmd);
    std::fs::remove_dir_all(&dir).unwrap();
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
    wait_for("a serving and a standby supervisor", || {
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
#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn a_killed_supervisor_is_replaced_without_failing_the_program() {
    let test = "a_killed_supervisor_is_replaced_without_failing_the_program";
    if !ready(test) {
        return;
    }
    let ns = Netns::new("sc-kill").unwrap();
    let dir = support::TempDir::new("sc-kill");
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
    wait_for("both supervisors to end", || supervisors(&tag).is_empty());
}

/// The serving supervisor killed again and again while the program and its child create
/// sockets in a loop, so that a kill often lands while a call is being answered: every
/// call succeeds, MPTCP, or plain TCP for a call the dead supervisor had received and not
/// answered (its survivor lets it run as the program made it); none fails.
#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn calls_in_flight_when_a_supervisor_is_killed_still_succeed() {
    let test = "calls_in_flight_when_a_supervisor_is_killed_still_succeed";
    if !ready(test) {
        return;
    }
    let ns = Netns::new("sc-churn").unwrap();
    let dir = support::TempDir::new("sc-churn");
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
        wait_for("the standby to serve", || {
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
    wait_for("both supervisors to end", || supervisors(&tag).is_empty());
}
