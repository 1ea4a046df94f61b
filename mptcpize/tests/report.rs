//! `mptcpize run --report`: real programs in network namespaces, their report lines checked
//! against what was transferred (curl's and iperf3's own byte counts), against the kernel
//! seen from outside the programs (`ss -Mni` while the connection is open, `nstat`), and
//! against the other end's report. Also: the fallback against a plain TCP server, plain
//! TCP when MPTCP is disabled, a connection still open at exit, a forked child, and that a
//! program run without `--report` gets no report library at all.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mptcp_tests::lab::{self, pattern_bytes, Lab};
use mptcp_tests::temp_dir;
use mptcp_tests::Netns;
use support::*;

/// One report line, parsed: `key=value` fields, the connect/accept word, the paths.
#[derive(Debug, Clone)]
struct ReportLine {
    fields: BTreeMap<String, String>,
    accepted: bool,
    /// (local>remote, sent, received) per `path=`.
    paths: Vec<(String, Option<u64>, Option<u64>)>,
    text: String,
}

impl ReportLine {
    fn get(&self, key: &str) -> &str {
        self.fields
            .get(key)
            .unwrap_or_else(|| panic!("no {key}= in {:?}", self.text))
    }

    fn num(&self, key: &str) -> u64 {
        self.get(key)
            .parse()
            .unwrap_or_else(|_| panic!("{key}= is not a number in {:?}", self.text))
    }
}

/// The report lines in `text` (other lines, the program's own, are ignored).
fn report_lines(text: &str) -> Vec<ReportLine> {
    text.lines()
        .filter_map(|l| l.strip_prefix("mptcpize report: "))
        .filter(|l| l.contains(" peer="))
        .map(|l| {
            let mut fields = BTreeMap::new();
            let mut paths = Vec::new();
            let mut accepted = false;
            for word in l.split(' ') {
                match word {
                    "accept" => accepted = true,
                    "connect" => {}
                    _ => {
                        let (k, v) = word
                            .split_once('=')
                            .unwrap_or_else(|| panic!("{word:?} in {l:?}"));
                        if k == "path" {
                            let mut parts = v.split(',');
                            let addrs = parts.next().unwrap().to_string();
                            let mut sent = None;
                            let mut received = None;
                            for p in parts {
                                match p.split_once('=') {
                                    Some(("sent", n)) => sent = n.parse().ok(),
                                    Some(("received", n)) => received = n.parse().ok(),
                                    _ => panic!("{p:?} in {l:?}"),
                                }
                            }
                            paths.push((addrs, sent, received));
                        } else {
                            fields.insert(k.to_string(), v.to_string());
                        }
                    }
                }
            }
            ReportLine {
                fields,
                accepted,
                paths,
                text: l.to_string(),
            }
        })
        .collect()
}

/// `ip netns exec NS mptcpize run [--report | --report-file FILE] -- PROGRAM ARGS…`.
fn reported(ns: &Netns, report: Option<&Path>, program: &str, args: &[&str]) -> Command {
    let mut cmd = ns.command(mptcpize());
    cmd.arg("run");
    match report {
        Some(file) => {
            cmd.arg("--report-file").arg(file);
        }
        None => {
            cmd.arg("--report");
        }
    }
    cmd.arg("--").arg(program).args(args);
    cmd
}

/// The port every test's `python3 -m http.server` listens on (each in a namespace of its own).
const HTTP_PORT: u16 = 8000;

/// `python3 -m http.server` on [`HTTP_PORT`] of `bind` in a namespace, serving a directory of
/// its own, under `mptcpize run --report-file DIR/server.report` or plain (no mptcpize at
/// all); stopped, and the directory removed, when dropped.
struct HttpServer {
    _server: Background,
    report: Option<PathBuf>,
    dir: TempDir,
}

impl HttpServer {
    /// Serves `dir` (see [`data_dir`], [`pattern_dir`]), under `--report-file` when
    /// `reporting`; returns once it listens.
    fn start(ns: &Netns, bind: &str, dir: TempDir, reporting: bool) -> HttpServer {
        let report = reporting.then(|| dir.path().join("server.report"));
        let port = HTTP_PORT.to_string();
        let args = [
            "-m",
            "http.server",
            &port,
            "--bind",
            bind,
            "--directory",
            dir.path().to_str().unwrap(),
        ];
        let cmd = match &report {
            Some(file) => reported(ns, Some(file), "python3", &args),
            None => {
                let mut cmd = ns.command("python3");
                cmd.args(args);
                cmd
            }
        };
        let server = spawn(cmd);
        wait_listening(ns, HTTP_PORT);
        HttpServer {
            _server: server,
            report,
            dir,
        }
    }

    /// The directory it serves.
    fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's report lines, once at least `n` are written ([`wait_report_lines`]).
    fn report_lines(&self, n: usize) -> Vec<ReportLine> {
        let file = self
            .report
            .as_deref()
            .expect("a server run under --report-file");
        wait_report_lines(file, n)
    }
}

/// curl's `-w` numbers: request bytes, header bytes, body bytes.
const CURL_SIZES: &str = "%{size_request} %{size_header} %{size_download}";

/// curl's arguments to download `url` to /dev/null and print its byte counts (see
/// [`curl_sizes`]).
fn curl_get(url: &str) -> [&str; 6] {
    ["-sS", "-w", CURL_SIZES, "-o", "/dev/null", url]
}

/// A fresh directory (see `mptcp_tests::temp_dir`) holding `data.bin`, for [`HttpServer`].
fn data_dir(tag: &str, data: &[u8]) -> TempDir {
    let dir = temp_dir(tag);
    std::fs::write(dir.path().join("data.bin"), data).unwrap();
    dir
}

/// A new namespace `tag` whose [`HttpServer`] on `bind` (under `--report-file` when
/// `reporting`) serves `data` from a directory `report-TAG`.
fn served_in_netns(tag: &str, bind: &str, data: &[u8], reporting: bool) -> (Netns, HttpServer) {
    let ns = Netns::new(tag).unwrap();
    let server = HttpServer::start(
        &ns,
        bind,
        data_dir(&format!("report-{tag}"), data),
        reporting,
    );
    (ns, server)
}

/// [`data_dir`] with `len` bytes of the lab's pattern (`lab::verify_file` checks a copy).
fn pattern_dir(tag: &str, len: u64) -> TempDir {
    let dir = temp_dir(tag);
    lab::write_pattern_file(&dir.path().join("data.bin"), len).unwrap();
    dir
}

/// `mptcpize run --report curl` downloading `url` in `ns` ([`curl_get`]), which must
/// succeed: (request, header, body) bytes as curl counted them, and its report lines.
fn reported_curl(ns: &Netns, url: &str, test: &str) -> ((u64, u64, u64), Vec<ReportLine>) {
    let out = output_ok(&mut reported(ns, None, "curl", &curl_get(url)), test);
    let lines = report_lines(&String::from_utf8_lossy(&out.stderr));
    (curl_sizes(&out), lines)
}

/// Asserts that `line` reports a connection of `kind` that sent and received these bytes.
fn assert_counts(line: &ReportLine, kind: &str, sent: u64, received: u64) {
    assert_eq!(line.get("kind"), kind, "{}", line.text);
    assert_eq!(line.num("sent"), sent, "sent: {}", line.text);
    assert_eq!(line.num("received"), received, "received: {}", line.text);
}

fn curl_sizes(out: &Output) -> (u64, u64, u64) {
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<u64> = text
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    (v[0], v[1], v[2])
}

/// Waits until `file` holds at least `n` report lines (a server writes its line when it
/// closes the connection, after the client may already have finished).
fn wait_report_lines(file: &Path, n: usize) -> Vec<ReportLine> {
    let start = Instant::now();
    loop {
        let lines = report_lines(&std::fs::read_to_string(file).unwrap_or_default());
        if lines.len() >= n || start.elapsed() > Duration::from_secs(10) {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `ss -Mni` in `ns` until a connection satisfies `wanted` (the state a test observes
/// while its transfer runs), for at most 20 s, and returns it.
fn wait_mptcp_connection(
    ns: &Netns,
    what: &str,
    wanted: impl Fn(&lab::SsMptcp) -> bool,
) -> lab::SsMptcp {
    let start = Instant::now();
    loop {
        let listing = ns.mptcp_connections().unwrap();
        if let Some(found) = listing.iter().find(|c| wanted(c)) {
            return found.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what}: not in ss -Mni after 20 s: {listing:#?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The one line for the connection to/from `peer_prefix`.
fn only_line<'a>(lines: &'a [ReportLine], what: &str) -> &'a ReportLine {
    assert_eq!(
        lines.len(),
        1,
        "{what}: expected one report line: {lines:#?}"
    );
    &lines[0]
}

/// curl downloads a file across the two-path lab from `python3 -m http.server`, both under
/// `mptcpize run --report`: each side reports one MPTCP connection with 2 subflows, one on
/// each path, and the bytes curl and the server counted; `ss -Mni` taken during the
/// transfer agrees on the subflows.
#[mptcp_tests::needs(privileged, "python3", "curl")]
#[test]
fn curl_across_two_paths_reports_two_subflows_and_the_bytes() {
    let lab = Lab::builder().paths([50, 50]).build().unwrap();
    let len: u64 = 24 << 20;
    // Bound to the any address: the joins arrive at the listener on the second address.
    let server = HttpServer::start(
        lab.server(),
        "0.0.0.0",
        pattern_dir("report-lab", len),
        true,
    );
    let out_file = server.dir().join("received.bin");
    let url = format!("http://{}:8000/data.bin", lab.server_addr(1));
    let mut curl = reported(
        lab.client(),
        None,
        "curl",
        &["-sS", "--max-time", "60", "-w", CURL_SIZES, "-o"],
    );
    curl.arg(&out_file)
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = curl.spawn().unwrap();
    let peer = format!("{}:8000", lab.server_addr(1));
    // During the transfer (24 MiB at ~95 Mbit/s: ~2 s), from outside curl: the connection
    // with its extra subflow.
    let during = wait_mptcp_connection(lab.client(), "curl's connection with 2 subflows", |c| {
        c.peer == peer && c.extra_subflows >= 1
    });
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "curl failed: {stderr}");
    lab::verify_file(&out_file, len).unwrap();
    let (request, header, body) = curl_sizes(&out);
    assert_eq!(body, len);

    let client_lines = report_lines(&stderr);
    let c = only_line(&client_lines, "curl");
    eprintln!("{}", c.text);
    assert!(!c.accepted);
    assert_eq!(c.get("peer"), peer);
    assert_eq!(c.get("kind"), "mptcp", "{}", c.text);
    assert_eq!(c.num("subflows"), 2, "{}", c.text);
    assert_eq!(
        c.num("subflows"),
        u64::from(during.extra_subflows) + 1,
        "report vs ss -Mni ({})",
        during.detail
    );
    assert_eq!(c.num("sent"), request, "{}", c.text);
    assert_eq!(c.num("received"), header + body, "{}", c.text);
    assert_eq!(c.get("end"), "close");
    // One subflow per path, each from the client's address on that path; together they
    // carried at least the whole response, and each a fair share of it.
    let mut locals: Vec<String> = c
        .paths
        .iter()
        .map(|(addrs, _, _)| addrs.split(':').next().unwrap().to_string())
        .collect();
    locals.sort();
    assert_eq!(
        locals,
        [
            lab.client_addr(1).to_string(),
            lab.client_addr(2).to_string()
        ],
        "{}",
        c.text
    );
    let per_path: Vec<u64> = c.paths.iter().map(|p| p.2.unwrap()).collect();
    assert!(per_path.iter().sum::<u64>() >= header + body, "{}", c.text);
    assert!(
        per_path.iter().all(|&b| b > body / 5),
        "a path carried less than a fifth: {}",
        c.text
    );

    let server_lines = server.report_lines(1);
    let s = only_line(&server_lines, "http.server");
    eprintln!("{}", s.text);
    assert!(s.accepted);
    assert_eq!(s.get("kind"), "mptcp", "{}", s.text);
    assert_eq!(s.num("subflows"), 2, "{}", s.text);
    assert_eq!(
        s.num("sent"),
        c.num("received"),
        "server sent vs curl received"
    );
    assert_eq!(
        s.num("received"),
        c.num("sent"),
        "server received vs curl sent"
    );
    assert!(
        s.get("peer")
            .starts_with(&format!("{}:", lab.client_addr(1))),
        "{}",
        s.text
    );
}

/// Many downloads at once across the two-path lab while every CPU is busy and the second
/// path goes down and up: the conditions under which MPTCP sends data again on the other
/// path and the receiver gets duplicates (the kernel's `mptcpi_bytes_received` was measured
/// counting them twice). Every line, client and server, must equal what curl counted to
/// the byte.
#[mptcp_tests::needs(privileged, "python3", "curl")]
#[test]
fn parallel_downloads_under_load_are_reported_byte_exact() {
    const DOWNLOADS: usize = 12;
    let lab = Lab::builder().paths([50, 50]).build().unwrap();
    let len: u64 = 3 << 20;
    let server = HttpServer::start(
        lab.server(),
        "0.0.0.0",
        pattern_dir("report-load", len),
        true,
    );
    // One spinning process per CPU, and one more: the program, its report library and the
    // kernel's softirqs compete for every core.
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let _spinners: Vec<Background> = (0..=cpus)
        .map(|_| {
            let mut cmd = Command::new("sh");
            cmd.args(["-c", "while :; do :; done"]);
            spawn(cmd)
        })
        .collect();
    let duplicates_before = counter(&mptcp_counters(lab.client()), "MPTcpExtDuplicateData");
    let url = format!("http://{}:8000/data.bin", lab.server_addr(1));
    let sizes = "%{size_request} %{size_header} %{size_download} %{local_port}";
    let children: Vec<_> = (0..DOWNLOADS)
        .map(|_| {
            let args = [
                "-sS",
                "--max-time",
                "120",
                "-w",
                sizes,
                "-o",
                "/dev/null",
                &url,
            ];
            reported(lab.client(), None, "curl", &args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Data in flight on a path that goes down is sent again on the other one; the copies
    // that still arrive are duplicates. (Whether the downloads are still running by then
    // changes how many duplicates there are, not what the report must say.)
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(400));
        lab.path_down(2).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        lab.path_up(2).unwrap();
    }
    let mut expected = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "curl failed: {stderr}");
        let v: Vec<u64> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        let (request, header, body, port) = (v[0], v[1], v[2], v[3]);
        assert_eq!(body, len, "curl's download");
        let lines = report_lines(&stderr);
        let c = only_line(&lines, "curl");
        assert_eq!(c.get("kind"), "mptcp", "{}", c.text);
        assert_eq!(c.num("sent"), request, "curl sent: {}", c.text);
        assert_eq!(
            c.num("received"),
            header + body,
            "curl received: {}",
            c.text
        );
        expected.push((
            format!("{}:{port}", lab.client_addr(1)),
            request,
            header + body,
        ));
    }
    let duplicates = counter(&mptcp_counters(lab.client()), "MPTcpExtDuplicateData")
        .saturating_sub(duplicates_before);
    eprintln!("{DOWNLOADS} downloads; MPTcpExtDuplicateData on the client side: +{duplicates}");

    let server_lines = server.report_lines(DOWNLOADS);
    assert_eq!(server_lines.len(), DOWNLOADS, "{server_lines:#?}");
    for (peer, request, response) in expected {
        let s = server_lines
            .iter()
            .find(|l| l.get("peer") == peer)
            .unwrap_or_else(|| panic!("no server line for {peer}: {server_lines:#?}"));
        assert_eq!(s.get("kind"), "mptcp", "{}", s.text);
        assert_eq!(s.num("sent"), response, "server sent: {}", s.text);
        assert_eq!(s.num("received"), request, "server received: {}", s.text);
    }
}

/// iperf3 across the two-path lab: the data connection is reported as MPTCP with 2
/// subflows, the bytes sent are what iperf3 counted (plus the 37-byte cookie iperf3 sends
/// first on every stream), and the server's report of the same connection agrees as far as
/// iperf3 lets it (see below); both sides' `ss -Mni` showed the extra subflow while it ran.
#[mptcp_tests::needs(privileged, "iperf3")]
#[test]
fn iperf3_across_two_paths_reports_the_bytes_iperf3_counted() {
    /// iperf3's COOKIE_SIZE: the test's id, sent on each stream before the data.
    const COOKIE: u64 = 37;
    let lab = Lab::builder().paths([50, 50]).build().unwrap();
    let dir = temp_dir("report-iperf");
    let server_report = dir.path().join("server.report");
    let _server = spawn(reported(
        lab.server(),
        Some(&server_report),
        "iperf3",
        &["-s", "-1", "-p", "5201"],
    ));
    wait_listening(lab.server(), 5201);
    let server = lab.server_addr(1).to_string();
    let mut client = reported(
        lab.client(),
        None,
        "iperf3",
        &["-c", &server, "-p", "5201", "-t", "3", "-J"],
    );
    client
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = client.spawn().unwrap();
    let peer = format!("{server}:5201");
    // While iperf3 runs (3 s): each side's data connection with its extra subflow.
    wait_mptcp_connection(lab.client(), "the client's 2-subflow connection", |c| {
        c.peer == peer && c.extra_subflows == 1
    });
    wait_mptcp_connection(lab.server(), "the server's 2-subflow connection", |c| {
        c.state == "ESTAB" && c.extra_subflows == 1
    });
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "iperf3 -c failed: {stderr}");
    let json = String::from_utf8_lossy(&out.stdout);
    let sent_by_iperf3 = json_bytes_after(&json, "\"sum_sent\"").expect("sum_sent");

    let lines = report_lines(&stderr);
    // The control connection and the data connection.
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let data = lines.iter().max_by_key(|l| l.num("sent")).unwrap();
    eprintln!("{}", data.text);
    assert_eq!(data.get("kind"), "mptcp", "{}", data.text);
    assert_eq!(data.num("subflows"), 2, "{}", data.text);
    assert_eq!(data.num("sent"), sent_by_iperf3 + COOKIE, "{}", data.text);
    // iperf3's server closes first (see below): the client's subflows may be gone, or
    // going, by the time it closes; the count includes them (see the report's doc).
    assert!(!data.paths.is_empty(), "{}", data.text);
    for line in &lines {
        assert_eq!(line.get("kind"), "mptcp", "{}", line.text);
    }

    let server_lines = wait_report_lines(&server_report, 2);
    assert_eq!(server_lines.len(), 2, "{server_lines:#?}");
    let received = server_lines
        .iter()
        .max_by_key(|l| l.num("received"))
        .unwrap();
    eprintln!("{}", received.text);
    assert_eq!(received.num("subflows"), 2, "{}", received.text);
    // iperf3's server closes the data connection as soon as the client says the test is
    // over, with data still in flight: what its kernel received by then lies between what
    // the server read (iperf3's sum_received, plus the cookie) and what the client wrote.
    let read_by_iperf3 = json_bytes_after(&json, "\"sum_received\"").expect("sum_received");
    assert!(
        (read_by_iperf3 + COOKIE..=data.num("sent")).contains(&received.num("received")),
        "server received {} (iperf3 server read {read_by_iperf3} + {COOKIE}, client sent {})",
        received.num("received"),
        data.num("sent")
    );
    assert!(received.accepted);
    // Both paths carried data: the server received a fair share on each of its addresses.
    assert_eq!(received.paths.len(), 2, "{}", received.text);
    for (addrs, _, r) in &received.paths {
        assert!(
            r.unwrap() > sent_by_iperf3 / 5,
            "path {addrs} received {r:?} of {sent_by_iperf3}: {}",
            received.text
        );
    }
}

/// Against a plain TCP server (`python3 -m http.server` without mptcpize), curl's MPTCP
/// socket falls back: reported as `fallback`, with the bytes curl counted; the kernel's
/// counters show the MPTCP SYN and the SYN-ACK without MPTCP.
#[mptcp_tests::needs(privileged, "python3", "curl")]
#[test]
fn plain_tcp_server_is_reported_as_fallback() {
    let test = "report: fallback against a plain TCP server";
    let data = pattern_bytes(2 << 20, 5);
    let (ns, _server) = served_in_netns("rfall", "127.0.0.1", &data, false);
    let ((request, header, body), lines) =
        reported_curl(&ns, "http://127.0.0.1:8000/data.bin", test);
    assert_eq!(body, data.len() as u64);
    let c = only_line(&lines, test);
    eprintln!("{}", c.text);
    assert_counts(c, "fallback", request, header + body);
    assert_eq!(c.num("subflows"), 1);
    assert_eq!(c.get("peer"), "127.0.0.1:8000");
    assert!(c.paths.is_empty(), "{}", c.text);
    let counters = mptcp_counters(&ns);
    assert!(
        counter(&counters, "MPTcpExtMPCapableSYNTX") >= 1
            && counter(&counters, "MPTcpExtMPCapableFallbackSYNACK") >= 1
            && counter(&counters, "MPTcpExtMPCapableSYNACKRX") == 0,
        "{counters:?}"
    );
}

/// With `net.mptcp.enabled=0` the shim passes sockets through as TCP: both ends report
/// `tcp`, with the same byte counts, and no MPTCP counter moves.
#[mptcp_tests::needs(privileged, "python3", "curl")]
#[test]
fn mptcp_disabled_is_reported_as_tcp() {
    let test = "report: MPTCP disabled";
    let ns = Netns::new("rtcp").unwrap();
    ns.sysctl("net.mptcp.enabled", "0").unwrap();
    let dir = data_dir("report-tcp", &pattern_bytes(1 << 20, 9));
    let server = HttpServer::start(&ns, "127.0.0.1", dir, true);
    let ((request, header, body), lines) =
        reported_curl(&ns, "http://127.0.0.1:8000/data.bin", test);
    assert_counts(only_line(&lines, "curl"), "tcp", request, header + body);
    let server_lines = server.report_lines(1);
    let s = only_line(&server_lines, "http.server");
    assert_counts(s, "tcp", header + body, request);
    assert_no_mptcp(&ns, test);
}

/// A connection the program never closes is reported when it exits (`end=exit`); a child
/// that inherited a connection over `fork()` and closed it does not report it (the parent
/// does, once).
#[mptcp_tests::needs(privileged, "python3", "bash")]
#[test]
fn open_at_exit_and_forked_children() {
    let test = "report: at exit, fork";
    let (ns, _server) = served_in_netns("rexit", "127.0.0.1", &pattern_bytes(100_000, 1), false);
    // bash's /dev/tcp: connect() through libc, and the descriptor stays open until exit.
    let script = "exec 3<>/dev/tcp/127.0.0.1/8000; \
                  printf 'GET /data.bin HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3 >/dev/null";
    let out = output_ok(&mut reported(&ns, None, "bash", &["-c", script]), test);
    let lines = report_lines(&String::from_utf8_lossy(&out.stderr));
    let l = only_line(&lines, "bash");
    eprintln!("{}", l.text);
    assert_eq!(l.get("end"), "exit", "{}", l.text);
    assert_eq!(l.get("kind"), "fallback", "{}", l.text);
    assert_eq!(l.get("fd"), "3");
    assert!(l.num("received") > 100_000, "{}", l.text);

    let py = "import os, socket\n\
              s = socket.create_connection(('127.0.0.1', 8000))\n\
              pid = os.fork()\n\
              if pid == 0:\n    s.close()\n    raise SystemExit(0)\n\
              os.waitpid(pid, 0)\n\
              s.sendall(b'GET /data.bin HTTP/1.0\\r\\n\\r\\n')\n\
              while s.recv(65536): pass\n\
              s.close()\n\
              print(os.getpid())\n";
    let out = output_ok(&mut reported(&ns, None, "python3", &["-c", py]), test);
    let parent = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let lines = report_lines(&String::from_utf8_lossy(&out.stderr));
    let l = only_line(&lines, "python3 fork");
    assert_eq!(l.get("pid"), parent, "{}", l.text);
    assert_eq!(l.get("end"), "close");
    assert!(l.num("received") > 100_000, "{}", l.text);
}

/// The `--report` library is loaded only when asked for: a program run with plain
/// `mptcpize run` has neither the library mapped nor `MPTCPIZE_REPORT` set, and prints no
/// report line for its connections; the same program with `--report` has both.
#[mptcp_tests::needs(privileged, "python3")]
#[test]
fn without_report_no_library_and_no_line() {
    let test = "report: not loaded unless asked";
    let (ns, _server) = served_in_netns("rnone", "127.0.0.1", b"hello", false);
    // Connects, then prints its own maps and environment (read from /proc, outside the
    // program's view of itself).
    let py = "import os, socket\n\
              s = socket.create_connection(('127.0.0.1', 8000))\n\
              s.sendall(b'GET /data.bin HTTP/1.0\\r\\n\\r\\n')\n\
              while s.recv(65536): pass\n\
              s.close()\n\
              maps = open('/proc/%d/maps' % os.getpid()).read()\n\
              env = open('/proc/%d/environ' % os.getpid(), 'rb').read().split(b'\\0')\n\
              print('mapped' if 'libmptcpize_report' in maps else 'not-mapped')\n\
              print('shim' if 'libmptcpize_preload' in maps else 'no-shim')\n\
              print('env' if any(v.startswith(b'MPTCPIZE_REPORT=') for v in env) else 'no-env')\n";
    let mut plain = ns.command(mptcpize());
    plain
        .args(["run", "python3", "-c", py])
        .env_remove("MPTCPIZE_REPORT");
    let out = output_ok(&mut plain, test);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.split_whitespace().collect::<Vec<_>>(),
        ["not-mapped", "shim", "no-env"]
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("mptcpize report"), "{stderr}");

    let out = output_ok(&mut reported(&ns, None, "python3", &["-c", py]), test);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.split_whitespace().collect::<Vec<_>>(),
        ["mapped", "shim", "env"]
    );
    let lines = report_lines(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(only_line(&lines, test).get("kind"), "fallback");
}

/// `--report-file` appends to the file (made absolute, created if missing), not to stderr;
/// a file that cannot be opened is the launcher's error (125), before the program runs.
#[mptcp_tests::needs(privileged, "python3", "curl")]
#[test]
fn report_file_is_appended_and_checked() {
    let test = "report: --report-file";
    let (ns, server) = served_in_netns("rfile", "127.0.0.1", b"hello", false);
    let file = server.dir().join("curl.report");
    for _ in 0..2 {
        let mut cmd = reported(
            &ns,
            Some(Path::new("curl.report")),
            "curl",
            &["-sS", "-o", "/dev/null", "http://127.0.0.1:8000/data.bin"],
        );
        cmd.current_dir(server.dir());
        let out = output_ok(&mut cmd, test);
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("mptcpize report"),
            "the report went to stderr"
        );
    }
    let lines = report_lines(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines.iter().all(|l| l.get("peer") == "127.0.0.1:8000"));

    let out = Command::new(mptcpize())
        .args(["run", "--report-file", "/nonexistent-dir/r", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("report file") && err.contains("/nonexistent-dir/r"),
        "{err}"
    );
    // Seccomp mode has no LD_PRELOAD to load the report library with.
    let out = Command::new(mptcpize())
        .args(["run", "--report", "--seccomp", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--report needs LD_PRELOAD"));
}

/// A program that closed its stderr and got descriptor 2 back for a file of its own never
/// finds a report line in that file; with `--report-file` the line still arrives.
#[mptcp_tests::needs(privileged, "python3")]
#[test]
fn report_never_lands_in_the_programs_own_files() {
    let test = "report: stderr taken over by the program";
    let (ns, server) = served_in_netns("rfd2", "127.0.0.1", b"hello", false);
    let own = server.dir().join("own.txt");
    let py = format!(
        "import os, socket\n\
         os.close(2)\n\
         f = open({own:?}, 'w')\n\
         assert f.fileno() == 2\n\
         s = socket.create_connection(('127.0.0.1', 8000))\n\
         s.sendall(b'GET /data.bin HTTP/1.0\\r\\n\\r\\n')\n\
         while s.recv(65536): pass\n\
         s.close()\n\
         f.write('program data\\n')\n\
         f.close()\n"
    );
    output_ok(&mut reported(&ns, None, "python3", &["-c", &py]), test);
    assert_eq!(std::fs::read_to_string(&own).unwrap(), "program data\n");

    let report = server.dir().join("r.report");
    output_ok(
        &mut reported(&ns, Some(&report), "python3", &["-c", &py]),
        test,
    );
    assert_eq!(std::fs::read_to_string(&own).unwrap(), "program data\n");
    let lines = report_lines(&std::fs::read_to_string(&report).unwrap());
    assert_eq!(only_line(&lines, test).get("peer"), "127.0.0.1:8000");
}

/// A plain TCP client (curl without mptcpize) of a server run under `--report`: the kernel
/// hands the server a plain TCP socket, and the server reports the fallback.
#[mptcp_tests::needs(privileged, "python3", "curl")]
#[test]
fn plain_tcp_client_is_reported_as_fallback_by_the_server() {
    let test = "report: fallback seen by the server";
    let data = pattern_bytes(1 << 20, 13);
    let (ns, server) = served_in_netns("rsfall", "127.0.0.1", &data, true);
    let mut curl = ns.command("curl");
    curl.args(curl_get("http://127.0.0.1:8000/data.bin"));
    let out = output_ok(&mut curl, test);
    let (request, header, body) = curl_sizes(&out);
    assert_eq!(body, data.len() as u64);
    let lines = server.report_lines(1);
    let s = only_line(&lines, test);
    assert!(s.accepted);
    assert_counts(s, "fallback", header + body, request);
    let counters = mptcp_counters(&ns);
    assert!(
        counter(&counters, "MPTcpExtMPCapableSYNRX") == 0,
        "the client sent MP_CAPABLE: {counters:?}"
    );
}

/// IPv6: both ends under `--report` over `::1` report the same MPTCP connection, with the
/// peer and the subflow's addresses in IPv6 notation and the bytes curl counted.
#[mptcp_tests::needs(privileged, "python3", "curl")]
#[test]
fn ipv6_connection_is_reported_by_both_ends() {
    let test = "report: IPv6";
    let data = pattern_bytes(1 << 20, 17);
    let (ns, server) = served_in_netns("rv6", "::1", &data, true);
    let ((request, header, body), lines) = reported_curl(&ns, "http://[::1]:8000/data.bin", test);
    assert_eq!(body, data.len() as u64);
    let c = only_line(&lines, "curl");
    assert_eq!(c.get("peer"), "[::1]:8000");
    assert_counts(c, "mptcp", request, header + body);
    assert_eq!(c.paths.len(), 1, "{}", c.text);
    assert!(
        c.paths[0].0.starts_with("[::1]:") && c.paths[0].0.ends_with(">[::1]:8000"),
        "{}",
        c.text
    );
    let server_lines = server.report_lines(1);
    let s = only_line(&server_lines, "http.server");
    assert!(s.get("peer").starts_with("[::1]:"), "{}", s.text);
    assert_counts(s, "mptcp", header + body, request);
}

/// What each new process of the program finds at the report path when it loads the report
/// library, planted there after the launcher checked it: a FIFO without a reader (its open
/// used to wait forever, stopping the process at its start), a symbolic link (followed, and
/// the file it names created), a directory of the path swapped for a link. Each process
/// starts at once, creates nothing, and says once on stderr that it writes no report lines.
#[test]
fn report_path_replaced_after_the_check_never_blocks_nor_follows_links() {
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    let dir = temp_dir("report-planted");
    let sub = dir.path().join("sub");
    let report = sub.join("r.report");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let victim = dir.path().join("victim");
    let plants: [(&str, &dyn Fn()); 3] = [
        ("a FIFO", &|| {
            std::fs::remove_file(&report).unwrap();
            let path = std::ffi::CString::new(report.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: a NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o666) }, 0);
        }),
        ("a symbolic link", &|| {
            std::fs::remove_file(&report).unwrap();
            std::os::unix::fs::symlink(&victim, &report).unwrap();
        }),
        ("a directory swapped for a link", &|| {
            std::fs::remove_dir_all(&sub).unwrap();
            std::os::unix::fs::symlink(&elsewhere, &sub).unwrap();
        }),
    ];
    for (what, plant) in plants {
        if sub.is_symlink() {
            std::fs::remove_file(&sub).unwrap();
        }
        let _ = std::fs::remove_dir_all(&sub);
        std::fs::create_dir(&sub).unwrap();
        // The launcher checks (and creates) the file, the program waits for a line; the
        // trap is planted; the program starts a new process, which loads the report
        // library and opens the path again.
        let mut child = Command::new(mptcpize())
            .arg("run")
            .arg("--report-file")
            .arg(&report)
            .args(["--", "sh", "-c", "read go; sh -c 'echo started'"])
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        support::wait_until("the launcher to create the report file", || {
            report.is_file()
        });
        plant();
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let pid = child.id() as i32;
        let watchdog = std::thread::spawn(move || {
            let start = Instant::now();
            // SAFETY: signal 0 only checks that our child still runs.
            while unsafe { libc::kill(pid, 0) } == 0 {
                if start.elapsed() > Duration::from_secs(20) {
                    // SAFETY: our own child's process group, hung.
                    unsafe { libc::kill(-pid, libc::SIGKILL) };
                    return true;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            false
        });
        let out = child.wait_with_output().unwrap();
        let hung = watchdog.join().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !hung && out.status.success() && String::from_utf8_lossy(&out.stdout) == "started\n",
            "{what}: the new process did not start ({}, hung: {hung}): {stderr}",
            out.status
        );
        assert!(
            stderr.contains("is not a regular file, or is reached through a symbolic link"),
            "{what}: {stderr}"
        );
        assert!(!victim.exists(), "{what}: the link was followed");
        assert!(
            !elsewhere.join("r.report").exists(),
            "{what}: the directory link was followed"
        );
    }
}
