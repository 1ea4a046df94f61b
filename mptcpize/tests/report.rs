//! `mptcpize run --report`: real programs in network namespaces, their report lines checked
//! against what was transferred (curl's and iperf3's own byte counts), against the kernel
//! seen from outside the programs (`ss -Mni` while the connection is open, `nstat`), and
//! against the other end's report. Also: the fallback against a plain TCP server, plain
//! TCP when MPTCP is disabled, a connection still open at exit, a forked child, and that a
//! program run without `--report` gets no report library at all.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mptcp_tests::lab::{self, pattern_bytes, Lab};
use mptcp_tests::{require_privileges, require_program, Netns};
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

/// `python3 -m http.server PORT --bind BIND --directory DIR`, under `mptcpize run
/// --report-file REPORT` when a report file is given, else plain (no mptcpize at all).
fn http_server(ns: &Netns, bind: &str, port: u16, dir: &Path, report: Option<&Path>) -> Background {
    let port_s = port.to_string();
    let args = [
        "-m",
        "http.server",
        &port_s,
        "--bind",
        bind,
        "--directory",
        dir.to_str().unwrap(),
    ];
    let cmd = match report {
        Some(file) => reported(ns, Some(file), "python3", &args),
        None => {
            let mut cmd = ns.command("python3");
            cmd.args(args);
            cmd
        }
    };
    let server = spawn(cmd);
    wait_listening(ns, port);
    server
}

/// curl's `-w` numbers: request bytes, header bytes, body bytes.
const CURL_SIZES: &str = "%{size_request} %{size_header} %{size_download}";

/// curl's arguments to download `url` to /dev/null and print its byte counts (see
/// [`curl_sizes`]).
fn curl_get(url: &str) -> [&str; 6] {
    ["-sS", "-w", CURL_SIZES, "-o", "/dev/null", url]
}

/// A fresh directory (see [`TempDir::new`]) holding `data.bin`, for [`http_server`].
fn data_dir(tag: &str, data: &[u8]) -> TempDir {
    let dir = TempDir::new(tag);
    std::fs::write(dir.0.join("data.bin"), data).unwrap();
    dir
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

fn present(test: &str, programs: &[&str]) -> bool {
    require_privileges(test) && programs.iter().all(|p| require_program(test, p))
}

/// curl downloads a file across the two-path lab from `python3 -m http.server`, both under
/// `mptcpize run --report`: each side reports one MPTCP connection with 2 subflows, one on
/// each path, and the bytes curl and the server counted; `ss -Mni` taken during the
/// transfer agrees on the subflows.
#[cfg_attr(
    not(all(mptcp_privileged, has_python3, has_curl)),
    ignore = "needs root, netns, MPTCP, python3, curl"
)]
#[test]
fn curl_across_two_paths_reports_two_subflows_and_the_bytes() {
    let test = "report: curl across two paths";
    if !present(test, &["python3", "curl", "ss"]) {
        return;
    }
    let lab = Lab::builder().paths([50, 50]).build().unwrap();
    let dir = TempDir::new("report-lab");
    let len: u64 = 24 << 20;
    lab::write_pattern_file(&dir.0.join("data.bin"), len).unwrap();
    let server_report = dir.0.join("server.report");
    // Bound to the any address: the joins arrive at the listener on the second address.
    let _server = http_server(lab.server(), "0.0.0.0", 8000, &dir.0, Some(&server_report));
    let out_file = dir.0.join("received.bin");
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

    let server_lines = wait_report_lines(&server_report, 1);
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
#[cfg_attr(
    not(all(mptcp_privileged, has_python3, has_curl)),
    ignore = "needs root, netns, MPTCP, python3, curl"
)]
#[test]
fn parallel_downloads_under_load_are_reported_byte_exact() {
    let test = "report: parallel downloads under load";
    if !present(test, &["python3", "curl", "nstat"]) {
        return;
    }
    const DOWNLOADS: usize = 12;
    let lab = Lab::builder().paths([50, 50]).build().unwrap();
    let dir = TempDir::new("report-load");
    let len: u64 = 3 << 20;
    lab::write_pattern_file(&dir.0.join("data.bin"), len).unwrap();
    let server_report = dir.0.join("server.report");
    let _server = http_server(lab.server(), "0.0.0.0", 8000, &dir.0, Some(&server_report));
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

    let server_lines = wait_report_lines(&server_report, DOWNLOADS);
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
#[cfg_attr(
    not(all(mptcp_privileged, has_iperf3)),
    ignore = "needs root, netns, MPTCP, iperf3"
)]
#[test]
fn iperf3_across_two_paths_reports_the_bytes_iperf3_counted() {
    let test = "report: iperf3 across two paths";
    if !present(test, &["iperf3", "ss"]) {
        return;
    }
    /// iperf3's COOKIE_SIZE: the test's id, sent on each stream before the data.
    const COOKIE: u64 = 37;
    let lab = Lab::builder().paths([50, 50]).build().unwrap();
    let dir = TempDir::new("report-iperf");
    let server_report = dir.0.join("server.report");
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
#[cfg_attr(
    not(all(mptcp_privileged, has_python3, has_curl)),
    ignore = "needs root, netns, MPTCP, python3, curl"
)]
#[test]
fn plain_tcp_server_is_reported_as_fallback() {
    let test = "report: fallback against a plain TCP server";
    if !present(test, &["python3", "curl", "nstat"]) {
        return;
    }
    let ns = Netns::new("rfall").unwrap();
    let data = pattern_bytes(2 << 20, 5);
    let dir = data_dir("report-fallback", &data);
    let _server = http_server(&ns, "127.0.0.1", 8000, &dir.0, None);
    let out = output_ok(
        &mut reported(
            &ns,
            None,
            "curl",
            &curl_get("http://127.0.0.1:8000/data.bin"),
        ),
        test,
    );
    let (request, header, body) = curl_sizes(&out);
    assert_eq!(body, data.len() as u64);
    let lines = report_lines(&String::from_utf8_lossy(&out.stderr));
    let c = only_line(&lines, test);
    eprintln!("{}", c.text);
    assert_eq!(c.get("kind"), "fallback", "{}", c.text);
    assert_eq!(c.num("subflows"), 1);
    assert_eq!(c.get("peer"), "127.0.0.1:8000");
    assert_eq!(c.num("sent"), request, "{}", c.text);
    assert_eq!(c.num("received"), header + body, "{}", c.text);
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
#[cfg_attr(
    not(all(mptcp_privileged, has_python3, has_curl)),
    ignore = "needs root, netns, MPTCP, python3, curl"
)]
#[test]
fn mptcp_disabled_is_reported_as_tcp() {
    let test = "report: MPTCP disabled";
    if !present(test, &["python3", "curl", "nstat"]) {
        return;
    }
    let ns = Netns::new("rtcp").unwrap();
    ns.sysctl("net.mptcp.enabled", "0").unwrap();
    let dir = data_dir("report-tcp", &pattern_bytes(1 << 20, 9));
    let server_report = dir.0.join("server.report");
    let _server = http_server(&ns, "127.0.0.1", 8000, &dir.0, Some(&server_report));
    let out = output_ok(
        &mut reported(
            &ns,
            None,
            "curl",
            &curl_get("http://127.0.0.1:8000/data.bin"),
        ),
        test,
    );
    let (request, header, body) = curl_sizes(&out);
    let lines = report_lines(&String::from_utf8_lossy(&out.stderr));
    let c = only_line(&lines, "curl");
    assert_eq!(c.get("kind"), "tcp", "{}", c.text);
    assert_eq!(c.num("sent"), request);
    assert_eq!(c.num("received"), header + body);
    let server_lines = wait_report_lines(&server_report, 1);
    let s = only_line(&server_lines, "http.server");
    assert_eq!(s.get("kind"), "tcp", "{}", s.text);
    assert_eq!(s.num("sent"), header + body, "{}", s.text);
    assert_eq!(s.num("received"), request, "{}", s.text);
    assert_no_mptcp(&ns, test);
}

/// A connection the program never closes is reported when it exits (`end=exit`); a child
/// that inherited a connection over `fork()` and closed it does not report it (the parent
/// does, once).
#[cfg_attr(
    not(all(mptcp_privileged, has_python3, has_bash)),
    ignore = "needs root, netns, MPTCP, python3, bash"
)]
#[test]
fn open_at_exit_and_forked_children() {
    let test = "report: at exit, fork";
    if !present(test, &["python3", "bash"]) {
        return;
    }
    let ns = Netns::new("rexit").unwrap();
    let dir = data_dir("report-exit", &pattern_bytes(100_000, 1));
    let _server = http_server(&ns, "127.0.0.1", 8000, &dir.0, None);
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
#[cfg_attr(
    not(all(mptcp_privileged, has_python3)),
    ignore = "needs root, netns, MPTCP, python3"
)]
#[test]
fn without_report_no_library_and_no_line() {
    let test = "report: not loaded unless asked";
    if !present(test, &["python3"]) {
        return;
    }
    let ns = Netns::new("rnone").unwrap();
    let dir = data_dir("report-none", b"hello");
    let _server = http_server(&ns, "127.0.0.1", 8000, &dir.0, None);
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
#[cfg_attr(
    not(all(mptcp_privileged, has_python3, has_curl)),
    ignore = "needs root, netns, MPTCP, python3, curl"
)]
#[test]
fn report_file_is_appended_and_checked() {
    let test = "report: --report-file";
    if !present(test, &["python3", "curl"]) {
        return;
    }
    let ns = Netns::new("rfile").unwrap();
    let dir = data_dir("report-file", b"hello");
    let _server = http_server(&ns, "127.0.0.1", 8000, &dir.0, None);
    let file = dir.0.join("curl.report");
    for _ in 0..2 {
        let mut cmd = reported(
            &ns,
            Some(Path::new("curl.report")),
            "curl",
            &["-sS", "-o", "/dev/null", "http://127.0.0.1:8000/data.bin"],
        );
        cmd.current_dir(&dir.0);
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
#[cfg_attr(
    not(all(mptcp_privileged, has_python3)),
    ignore = "needs root, netns, MPTCP, python3"
)]
#[test]
fn report_never_lands_in_the_programs_own_files() {
    let test = "report: stderr taken over by the program";
    if !present(test, &["python3"]) {
        return;
    }
    let ns = Netns::new("rfd2").unwrap();
    let dir = data_dir("report-fd2", b"hello");
    let _server = http_server(&ns, "127.0.0.1", 8000, &dir.0, None);
    let own = dir.0.join("own.txt");
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

    let report = dir.0.join("r.report");
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
#[cfg_attr(
    not(all(mptcp_privileged, has_python3, has_curl)),
    ignore = "needs root, netns, MPTCP, python3, curl"
)]
#[test]
fn plain_tcp_client_is_reported_as_fallback_by_the_server() {
    let test = "report: fallback seen by the server";
    if !present(test, &["python3", "curl"]) {
        return;
    }
    let ns = Netns::new("rsfall").unwrap();
    let data = pattern_bytes(1 << 20, 13);
    let dir = data_dir("report-sfallback", &data);
    let server_report = dir.0.join("server.report");
    let _server = http_server(&ns, "127.0.0.1", 8000, &dir.0, Some(&server_report));
    let mut curl = ns.command("curl");
    curl.args(curl_get("http://127.0.0.1:8000/data.bin"));
    let out = output_ok(&mut curl, test);
    let (request, header, body) = curl_sizes(&out);
    assert_eq!(body, data.len() as u64);
    let lines = wait_report_lines(&server_report, 1);
    let s = only_line(&lines, test);
    assert!(s.accepted);
    assert_eq!(s.get("kind"), "fallback", "{}", s.text);
    assert_eq!(s.num("sent"), header + body, "{}", s.text);
    assert_eq!(s.num("received"), request, "{}", s.text);
    let counters = mptcp_counters(&ns);
    assert!(
        counter(&counters, "MPTcpExtMPCapableSYNRX") == 0,
        "the client sent MP_CAPABLE: {counters:?}"
    );
}

/// IPv6: both ends under `--report` over `::1` report the same MPTCP connection, with the
/// peer and the subflow's addresses in IPv6 notation and the bytes curl counted.
#[cfg_attr(
    not(all(mptcp_privileged, has_python3, has_curl)),
    ignore = "needs root, netns, MPTCP, python3, curl"
)]
#[test]
fn ipv6_connection_is_reported_by_both_ends() {
    let test = "report: IPv6";
    if !present(test, &["python3", "curl"]) {
        return;
    }
    let ns = Netns::new("rv6").unwrap();
    let data = pattern_bytes(1 << 20, 17);
    let dir = data_dir("report-v6", &data);
    let server_report = dir.0.join("server.report");
    let _server = http_server(&ns, "::1", 8000, &dir.0, Some(&server_report));
    let out = output_ok(
        &mut reported(&ns, None, "curl", &curl_get("http://[::1]:8000/data.bin")),
        test,
    );
    let (request, header, body) = curl_sizes(&out);
    assert_eq!(body, data.len() as u64);
    let lines = report_lines(&String::from_utf8_lossy(&out.stderr));
    let c = only_line(&lines, "curl");
    assert_eq!(c.get("peer"), "[::1]:8000");
    assert_eq!(c.get("kind"), "mptcp", "{}", c.text);
    assert_eq!(c.num("sent"), request);
    assert_eq!(c.num("received"), header + body);
    assert_eq!(c.paths.len(), 1, "{}", c.text);
    assert!(
        c.paths[0].0.starts_with("[::1]:") && c.paths[0].0.ends_with(">[::1]:8000"),
        "{}",
        c.text
    );
    let server_lines = wait_report_lines(&server_report, 1);
    let s = only_line(&server_lines, "http.server");
    assert!(s.get("peer").starts_with("[::1]:"), "{}", s.text);
    assert_eq!(s.get("kind"), "mptcp", "{}", s.text);
    assert_eq!(s.num("sent"), header + body);
    assert_eq!(s.num("received"), request);
}
