//! Every example binary, run for real as the README shows, with its output checked: on
//! loopback, in a namespace where the kernel counts the MPTCP handshakes, and in one with
//! MPTCP disabled.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mptcp_tests::Netns;
use serde_json::Value;

const HELLO_SERVER: &str = env!("CARGO_BIN_EXE_hello-server");
const HELLO_CLIENT: &str = env!("CARGO_BIN_EXE_hello-client");
const HTTP_SERVER: &str = env!("CARGO_BIN_EXE_http-server");
const HTTP_CLIENT: &str = env!("CARGO_BIN_EXE_http-client");
const MPTCP_INFO: &str = env!("CARGO_BIN_EXE_mptcp-info");
const ECHO_SERVER: &str = env!("CARGO_BIN_EXE_echo-server");
const ECHO_CLIENT: &str = env!("CARGO_BIN_EXE_echo-client");
const ECHO_BENCH: &str = env!("CARGO_BIN_EXE_echo-bench");

/// A server example running in the background; killed (by its pid) when dropped.
struct Server {
    child: Child,
    stdout: BufReader<ChildStdout>,
    /// Its first line of output.
    banner: String,
}

impl Server {
    /// Starts `cmd` and waits for its first line (the address it listens on).
    fn start(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut banner = String::new();
        stdout.read_line(&mut banner).unwrap();
        assert!(!banner.is_empty(), "{cmd:?} exited without a word");
        Server {
            child,
            stdout,
            banner,
        }
    }

    /// The `host:port` in the banner, right after `prefix` (e.g. "on ").
    fn addr(&self, prefix: &str) -> String {
        let start = self.banner.find(prefix).expect("address in banner") + prefix.len();
        let word = self.banner[start..].split_whitespace().next().unwrap();
        word.trim_end_matches('/').to_string()
    }

    /// Waits for the server to exit by itself; returns the rest of its output.
    fn finish(mut self) -> String {
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "server exited with {status}: {rest}");
        rest
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cmd(program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args);
    cmd
}

fn ns_cmd(ns: &Netns, program: &str, args: &[&str]) -> Command {
    let mut cmd = ns.command(program);
    cmd.args(args);
    cmd
}

/// Runs to completion; returns (success, stdout, stderr).
fn run(mut cmd: Command) -> (bool, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    );
    (status.success(), stdout, stderr)
}

fn run_ok(cmd: Command) -> String {
    let what = format!("{cmd:?}");
    let (ok, stdout, stderr) = run(cmd);
    assert!(ok, "{what} failed:\n{stdout}\n{stderr}");
    stdout
}

#[test]
fn hello_pair_on_loopback() {
    let server = Server::start(cmd(HELLO_SERVER, &["127.0.0.1:0", "--count", "2"]));
    assert!(server.banner.ends_with("over MPTCP\n"), "{}", server.banner);
    let addr = server.addr("on ");

    let out = run_ok(cmd(HELLO_CLIENT, &[&addr]));
    assert!(
        out.contains(&format!("hello-client: connected to {addr} over MPTCP\n")),
        "{out}"
    );
    assert!(out.contains("server says: Hello 127.0.0.1:"), "{out}");
    assert!(out.ends_with("! You are using MPTCP.\n"), "{out}");

    // The server tells a plain TCP client apart.
    let out = run_ok(cmd(HELLO_CLIENT, &["--plain-tcp", &addr]));
    assert!(out.contains("over plain TCP (--plain-tcp)"), "{out}");
    assert!(
        out.ends_with("! You are not using MPTCP: your client opened a plain TCP connection.\n"),
        "{out}"
    );

    let log = server.finish();
    assert!(log.contains("connected over MPTCP\n"), "{log}");
    assert!(log.contains("connected over plain TCP\n"), "{log}");
}

/// The kernel agrees with the server's verdicts: one MPTCP handshake for the MPTCP client,
/// none for the plain one.
#[mptcp_tests::needs(privileged)]
#[test]
fn hello_pair_checked_by_the_kernel() {
    let ns = Netns::new("hello").unwrap();
    let server = Server::start(ns_cmd(&ns, HELLO_SERVER, &["127.0.0.1:0", "--count", "2"]));
    let addr = server.addr("on ");
    let before = ns.counter("MPTcpExtMPCapableSYNRX");
    let out = run_ok(ns_cmd(&ns, HELLO_CLIENT, &[&addr]));
    assert!(out.ends_with("You are using MPTCP.\n"), "{out}");
    assert_eq!(ns.counter("MPTcpExtMPCapableSYNRX"), before + 1);
    let out = run_ok(ns_cmd(&ns, HELLO_CLIENT, &["--plain-tcp", &addr]));
    assert!(out.contains("You are not using MPTCP"), "{out}");
    assert_eq!(ns.counter("MPTcpExtMPCapableSYNRX"), before + 1);
    server.finish();
}

#[mptcp_tests::needs(privileged)]
#[test]
fn hello_pair_where_mptcp_is_disabled() {
    let ns = Netns::new("hellooff").unwrap();
    ns.sysctl("net.mptcp.enabled", "0").unwrap();
    let server = Server::start(ns_cmd(&ns, HELLO_SERVER, &["127.0.0.1:0", "--count", "1"]));
    assert!(
        server.banner.starts_with(
            "hello-server: MPTCP is not available (MPTCP is disabled in this network namespace: \
             run `sysctl -w net.mptcp.enabled=1`); listening on 127.0.0.1:"
        ),
        "{}",
        server.banner
    );
    assert!(
        server.banner.ends_with(" over plain TCP\n"),
        "{}",
        server.banner
    );
    let addr = server.addr("listening on ");

    let out = run_ok(ns_cmd(&ns, HELLO_CLIENT, &[&addr]));
    assert!(
        out.starts_with(&format!(
            "hello-client: MPTCP is not available (MPTCP is disabled in this network namespace: \
             run `sysctl -w net.mptcp.enabled=1`); connected to {addr} over plain TCP\n"
        )),
        "{out}"
    );
    assert!(
        out.ends_with("! You are not using MPTCP: MPTCP is not available on this server.\n"),
        "{out}"
    );

    // Strict: a clear error and a failing exit status, not a silent TCP connection.
    let (ok, stdout, stderr) = run(ns_cmd(&ns, HELLO_CLIENT, &["--require-mptcp", &addr]));
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("MPTCP is disabled in this network namespace")
            && stderr.contains("(os error 92)"),
        "{stderr}"
    );
    assert!(server.finish().contains("connected over plain TCP"));
}

fn http_round(listen: &str) {
    let server = Server::start(cmd(HTTP_SERVER, &[listen]));
    assert!(server.banner.ends_with("/ (MPTCP)\n"), "{}", server.banner);
    let addr = server.addr("http://");
    let url = format!("http://{addr}/");

    let out = run_ok(cmd(HTTP_CLIENT, &[&url]));
    assert!(
        out.contains(&format!("http-client: connected to {addr} over MPTCP\n")),
        "{out}"
    );
    assert!(out.contains(&format!("GET {url}: 200 OK\n")), "{out}");
    assert!(out.contains("\nconnection: MPTCP\n"), "{out}");
    assert!(out.contains("\nsubflows: 1\n"), "{out}");
    assert!(out.contains(&format!("  {addr} <-> ")), "{out}");
    assert!(out.contains("mptcp token: "), "{out}");

    // curl does not ask for MPTCP: the server says so.
    let out = run_ok(cmd("curl", &["-sS", "-g", &url]));
    assert!(out.contains("\nconnection: TCP\n"), "{out}");
    assert!(out.contains("your client did not use MPTCP"), "{out}");
}

#[mptcp_tests::needs("curl")]
#[test]
fn http_server_and_client_ipv4() {
    http_round("127.0.0.1:0");
}

#[mptcp_tests::needs("curl")]
#[test]
fn http_server_and_client_ipv6() {
    http_round("[::1]:0");
}

#[test]
fn mptcp_info_reports_what_was_sent() {
    let server = Server::start(cmd(ECHO_SERVER, &["127.0.0.1:0"]));
    let addr = server.addr("on ");
    let out = run_ok(cmd(
        MPTCP_INFO,
        &[&addr, "--send", "100000", "--wait", "500", "--json"],
    ));
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(report["kind"], "MPTCP", "{out}");
    assert_eq!(report["peer"], addr.as_str());
    // The echo server returned every byte; the kernel's MPTCP counters agree.
    assert_eq!(report["bytes_read_while_waiting"], 100_000, "{out}");
    let info = &report["mptcp_info"];
    assert!(info["kernel_struct_bytes"].as_u64().unwrap() >= 80, "{out}");
    assert_eq!(info["bytes_sent"], 100_000, "{out}");
    assert_eq!(info["bytes_acked"], 100_000, "{out}");
    // mptcpi_bytes_received was measured counting some duplicate data twice under load
    // (e.g. 3,150,592 for 3,145,728 bytes read): a lower bound. The sender's counters and
    // the bytes the program read are exact.
    assert!(info["bytes_received"].as_u64().unwrap() >= 100_000, "{out}");
    assert_eq!(info["flag_remote_key_received"], true, "{out}");
    assert_eq!(info["subflows_total"], 1, "{out}");
    let subflows = report["subflows"].as_array().expect("subflows");
    assert_eq!(subflows.len(), 1, "{out}");
    assert_eq!(subflows[0]["local"], report["local"]);
    assert_eq!(subflows[0]["remote"], addr.as_str());
    let tcp = &subflows[0]["tcp_info"];
    assert_eq!(tcp["state"], "ESTAB", "{out}");
    assert!(tcp["rtt_ms"].as_f64().unwrap() > 0.0, "{out}");
    assert!(tcp["snd_cwnd"].as_u64().unwrap() > 0, "{out}");
    // TCP-level: data MPTCP sent again on the same subflow counts twice here (measured
    // 101,024 for 100,000 on a loaded machine), so this is a lower bound.
    assert!(tcp["bytes_received"].as_u64().unwrap() >= 100_000, "{out}");

    // The text form prints every field.
    let text = run_ok(cmd(MPTCP_INFO, &[&addr, "--wait", "50"]));
    assert!(text.starts_with("connection 127.0.0.1:"), "{text}");
    for field in [
        "subflows",
        "add_addr_signal",
        "token",
        "write_seq",
        "snd_una",
        "rcv_nxt",
        "csum_enabled",
        "retransmits",
        "bytes_retrans",
        "bytes_sent",
        "bytes_received",
        "bytes_acked",
        "subflows_total",
        "last_ack_recv_ms",
    ] {
        assert!(
            text.contains(&format!("\n  {field} ")),
            "no {field}: {text}"
        );
    }
    assert!(text.contains("\nsubflows: 1\n"), "{text}");
    assert!(text.contains("rtt_ms "), "{text}");
}

#[mptcp_tests::needs(privileged)]
#[test]
fn mptcp_info_where_mptcp_is_disabled() {
    let ns = Netns::new("infooff").unwrap();
    ns.sysctl("net.mptcp.enabled", "0").unwrap();
    let server = Server::start(ns_cmd(&ns, ECHO_SERVER, &["127.0.0.1:0"]));
    assert!(server.banner.ends_with("(TCP)\n"), "{}", server.banner);
    let addr = server.addr("on ");
    let out = run_ok(ns_cmd(&ns, MPTCP_INFO, &[&addr, "--wait", "50"]));
    assert!(out.contains(": TCP\n"), "{out}");
    assert!(
        out.contains("no mptcp_info: the connection is not MPTCP"),
        "{out}"
    );
    let (ok, _, stderr) = run(ns_cmd(&ns, MPTCP_INFO, &[&addr, "--require-mptcp"]));
    assert!(!ok && stderr.contains("net.mptcp.enabled=1"), "{stderr}");
}

#[test]
fn echo_server_and_client() {
    let mut server = Server::start(cmd(ECHO_SERVER, &["127.0.0.1:0"]));
    assert!(server.banner.ends_with("(MPTCP)\n"), "{}", server.banner);
    let addr = server.addr("on ");
    let out = run_ok(cmd(
        ECHO_CLIENT,
        &[
            &addr,
            "--connections",
            "300",
            "--rounds",
            "20",
            "--size",
            "200",
        ],
    ));
    assert!(
        out.starts_with(
            "echo-client: 300 connections (300 MPTCP), 6000 round trips verified, 0 failed"
        ),
        "{out}"
    );
    // Its once-a-second report saw them (read as it prints it, for up to 10 s).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut log = String::new();
    while !log.contains(", 300 since start") && Instant::now() < deadline {
        if server.stdout.read_line(&mut log).unwrap() == 0 {
            break;
        }
    }
    assert!(log.contains(", 300 since start"), "{log}");
}

#[test]
fn echo_bench_small() {
    let out = run_ok(cmd(
        ECHO_BENCH,
        &[
            "--connections",
            "500",
            "--rounds",
            "3",
            "--concurrency",
            "64",
        ],
    ));
    for mode in ["tcp", "mptcp", "raw-mptcp"] {
        let row = out
            .lines()
            .find(|l| l.starts_with(&format!("{mode} ")))
            .unwrap_or_else(|| panic!("no {mode} row: {out}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        // mode conns conn/s cpu/c verified rt/s cpu/rt srv cli slab kind-ok failed
        assert_eq!(cols[1], "500", "{row}");
        assert_eq!(cols[4], "1500", "{row}");
        assert_eq!(cols[10], "500", "{row}");
        assert_eq!(cols[11], "0", "{row}");
    }
    assert!(
        out.ends_with("every connection established, every echo verified, none lost\n"),
        "{out}"
    );
}

/// What `ss -Mni` (the kernel's diag interface, outside the program) shows for the
/// connection while `mptcp-info` holds it open: the same token and data sequence numbers.
#[mptcp_tests::needs("ss")]
#[test]
fn mptcp_info_agrees_with_ss() {
    let server = Server::start(cmd(ECHO_SERVER, &["127.0.0.1:0"]));
    let addr = server.addr("on ");
    let info = cmd(
        MPTCP_INFO,
        &[&addr, "--send", "5000", "--wait", "1500", "--json"],
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    // Once its subflow has received the 5000 bytes echoed back, the data sequence numbers
    // are final; mptcp-info holds the connection for 1.5 s more.
    let echoed = mptcp_tests::wait_until(Instant::now() + Duration::from_secs(10), || {
        run_ok(cmd("ss", &["-tniH", "dst", &addr])).contains("bytes_received:5000")
    });
    assert!(
        echoed,
        "the echo did not come back: {}",
        run_ok(cmd("ss", &["-tni"]))
    );
    let ss = run_ok(cmd("ss", &["-Mni"]));
    let report: Value = serde_json::from_slice(&info.wait_with_output().unwrap().stdout).unwrap();
    // The client's line has the server as its peer; its details follow on the next line.
    let lines: Vec<&str> = ss.lines().collect();
    let at = lines
        .iter()
        .position(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.len() >= 5 && cols[3] == report["local"] && cols[4] == addr
        })
        .unwrap_or_else(|| {
            panic!(
                "no MPTCP socket {} -> {addr} in ss -Mni:\n{ss}",
                report["local"]
            )
        });
    let details = lines[at + 1];
    let field = |name: &str| {
        details
            .split_whitespace()
            .find_map(|f| f.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in {details}"))
            .to_string()
    };
    let info = &report["mptcp_info"];
    // ss prints the token without leading zeros, mptcp-info with 8 digits: compare values.
    let token = |t: &str| u32::from_str_radix(t, 16).unwrap_or_else(|e| panic!("{t}: {e}"));
    assert_eq!(
        token(&field("token")),
        token(info["token"].as_str().unwrap()),
        "{details}"
    );
    let hex = |v: &Value| format!("{:x}", v.as_u64().unwrap());
    assert_eq!(field("write_seq"), hex(&info["write_seq"]), "{details}");
    assert_eq!(field("rcv_nxt"), hex(&info["rcv_nxt"]), "{details}");
    assert_eq!(field("subflows_max"), info["subflows_max"].to_string());
}

/// A pipe whose reading end is already closed, as `| head -1` leaves it once head has its
/// line: every write to it fails with EPIPE (SIGPIPE is ignored in a Rust program).
fn closed_pipe() -> Stdio {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both are ours: the reading end is closed, the writing end owned from here.
    unsafe { libc::close(fds[0]) };
    Stdio::from(unsafe { OwnedFd::from_raw_fd(fds[1]) })
}

/// Runs `cmd` with its stdout a closed pipe: it must end by itself, with status 0 and
/// nothing on stderr (no panic, no "Broken pipe" message).
fn assert_quiet_on_closed_stdout(mut cmd: Command) {
    let what = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.code() == Some(0) && out.stderr.is_empty(),
        "{what} | head -1: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Each example that prints, with its stdout closed (`… | head -1` once head is done): it
/// ends quietly, as `ls` does, instead of panicking on EPIPE. Servers too (their banner is
/// their first write), and a real `| head -1` of mptcp-info's text.
#[test]
fn printing_examples_end_quietly_on_a_closed_pipe() {
    let echo = Server::start(cmd(ECHO_SERVER, &["127.0.0.1:0"]));
    let echo_addr = echo.addr("on ");
    let http = Server::start(cmd(HTTP_SERVER, &["127.0.0.1:0"]));
    let url = format!("http://{}/", http.addr("http://"));
    for command in [
        cmd(MPTCP_INFO, &[&echo_addr, "--wait", "50"]),
        cmd(MPTCP_INFO, &[&echo_addr, "--json"]),
        cmd(
            ECHO_CLIENT,
            &[&echo_addr, "--connections", "2", "--rounds", "2"],
        ),
        cmd(
            ECHO_BENCH,
            &["--connections", "20", "--rounds", "1", "--concurrency", "4"],
        ),
        cmd(HTTP_CLIENT, &[&url]),
        cmd(HELLO_SERVER, &["127.0.0.1:0"]),
        cmd(ECHO_SERVER, &["127.0.0.1:0"]),
        cmd(HTTP_SERVER, &["127.0.0.1:0"]),
    ] {
        assert_quiet_on_closed_stdout(command);
    }
    let hello = Server::start(cmd(HELLO_SERVER, &["127.0.0.1:0", "--count", "1"]));
    assert_quiet_on_closed_stdout(cmd(HELLO_CLIENT, &[&hello.addr("on ")]));

    let out = Command::new("sh")
        .args([
            "-c",
            "\"$0\" \"$1\" --wait 50 | head -1",
            MPTCP_INFO,
            &echo_addr,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "mptcp-info | head -1: {out:?}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("connection 127.0.0.1:"),
        "{out:?}"
    );
}
