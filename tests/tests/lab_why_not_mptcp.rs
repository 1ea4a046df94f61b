//! "Why not MPTCP, why one path?" through every middlebox of `mptcp_tests::middlebox`:
//! `mptcpize check --connect`, `mptcpize watch --json --once` and `mptcpize run --report`
//! each name the reason the box produces (the README's table of reasons), `check` reports
//! the namespace's blackhole state and the fix it prints ends it, and a silent server or a
//! firewall resetting MPTCP SYNs gets its own answer. Every byte getting through each box
//! is `lab_middlebox.rs`.
//!
//! Every case builds fresh namespaces (a blackhole disables MPTCP in the client's namespace
//! for `net.mptcp.blackhole_timeout`), one at a time
//! (`mptcp_tests::middlebox::one_case_at_a_time`).
mod common;

use std::time::{Duration, Instant};

use common::{connect, listen};
use mptcp_tests::lab::{Endpoints, Lab};
use mptcp_tests::middlebox::{
    lab_with_boxes, one_case_at_a_time, sequential_lab, Direction, Middlebox,
};
use mptcp_tests::served::ServedFile;
use mptcp_tests::{wait_until, workspace_bin};

const PORT: u16 = 5000;
const HTTP_PORT: u16 = 8000;
/// The size of the file `run --report`'s curl downloads.
const LEN: u64 = 2 << 20;

/// An MPTCP server in the lab's server namespace that greets every client with a line (as
/// SSH and SMTP servers do: its DSS mapping is what shows a box stripping options after the
/// handshake) and keeps each connection open until dropped.
struct GreetingServer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GreetingServer {
    fn start(lab: &Lab) -> GreetingServer {
        let listener = listen(lab, PORT);
        listener.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut open = Vec::new();
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        use std::io::Write;
                        s.set_nonblocking(false).unwrap();
                        let _ = s.write_all(b"220 hello from the lab\r\n");
                        open.push(s);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        GreetingServer {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for GreetingServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `mptcpize check --json --no-self-test --connect SERVER:PORT` from the client namespace:
/// (exit status, the report).
fn check_connect(lab: &Lab, self_test: bool) -> (i32, serde_json::Value) {
    let mut cmd = lab.client().command(workspace_bin("mptcpize"));
    cmd.args(["check", "--json", "--connect"])
        .arg(lab.server_sockaddr(1, PORT).to_string());
    if !self_test {
        cmd.arg("--no-self-test");
    }
    let out = cmd.output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check --json printed no JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

/// The one finding named `check` of a report.
fn finding<'a>(report: &'a serde_json::Value, check: &str) -> &'a serde_json::Value {
    let all: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == check)
        .collect();
    assert_eq!(all.len(), 1, "{check}: {report:#}");
    all[0]
}

/// A lab of `endpoints` with `boxes` (and `client_limits`, an `ip mptcp limits set` line
/// for the client, if given): the lab of a [`ReasonCase`].
fn reason_lab(
    endpoints: Endpoints,
    boxes: &[(usize, Middlebox)],
    client_limits: Option<&str>,
) -> Lab {
    let (lab, _) = lab_with_boxes(endpoints, boxes);
    if let Some(line) = client_limits {
        lab.client().run_line(line).unwrap();
    }
    lab
}

/// Runs `test` once per case of [`reason_cases`], one case at a time (see the module
/// documentation), each in a fresh [`reason_lab`]: (what, the lab, the reason expected).
fn each_reason_case(mut test: impl FnMut(&str, &Lab, Option<&str>)) {
    let _one_at_a_time = one_case_at_a_time();
    for (what, endpoints, boxes, limits, want) in reason_cases() {
        let lab = reason_lab(endpoints, &boxes, limits);
        test(what, &lab, want);
    }
}

/// (what, endpoints, middleboxes, client limits, the reason `check --connect` must give).
type ReasonCase<'a> = (
    &'a str,
    Endpoints,
    Vec<(usize, Middlebox)>,
    Option<&'a str>,
    Option<&'a str>,
);

/// The cases every "why" answer is tested with: (what, endpoints, boxes, client limits,
/// the reason): a clean lab (two paths, no reason), and one per reason a connection's own
/// state or `check`'s counters show (the blackhole has a test of its own).
fn reason_cases() -> Vec<ReasonCase<'static>> {
    let none = Endpoints::None;
    vec![
        ("clean", Endpoints::ClientSubflow, vec![], None, None),
        (
            "strip SYN",
            none,
            vec![(1, Middlebox::StripSyn)],
            None,
            Some("fallback:server"),
        ),
        (
            "strip SYN/ACK",
            none,
            vec![(1, Middlebox::StripSynAck)],
            None,
            Some("fallback:server"),
        ),
        (
            "strip third ACK",
            none,
            vec![(1, Middlebox::StripThirdAck)],
            None,
            Some("fallback:mid-stream"),
        ),
        (
            "drop MP_JOIN",
            Endpoints::ClientSubflow,
            vec![(2, Middlebox::DropJoinSyn)],
            None,
            Some("join-refused"),
        ),
        (
            "reset MP_JOIN",
            Endpoints::ClientSubflow,
            vec![(2, Middlebox::ResetJoinSyn)],
            None,
            Some("join-refused"),
        ),
        (
            "drop ADD_ADDR",
            Endpoints::ServerSignal,
            vec![(
                1,
                Middlebox::DropAddAddr {
                    direction: Direction::ToClient,
                },
            )],
            None,
            Some("peer-announced-none"),
        ),
        (
            "no endpoint, announcements refused",
            none,
            vec![],
            Some("ip mptcp limits set subflows 2 add_addr_accepted 0"),
            Some("no-endpoint"),
        ),
        (
            "subflow limit 0",
            Endpoints::ClientSubflow,
            vec![],
            Some("ip mptcp limits set subflows 0 add_addr_accepted 0"),
            Some("limit"),
        ),
    ]
}

#[mptcp_tests::needs(privileged, "nft")]
#[test]
fn check_connect_names_each_middlebox() {
    each_reason_case(|what, lab, want| {
        let server = GreetingServer::start(lab);
        let (_, report) = check_connect(lab, false);
        drop(server);
        let connect = finding(&report, "connect");
        assert_eq!(
            connect["data"]["reason"].as_str(),
            want,
            "{what}: {connect:#}"
        );
        let expected_result = if want.is_some_and(|w| w.starts_with("fallback")) {
            "fell_back"
        } else {
            "mptcp"
        };
        assert_eq!(
            connect["data"]["result"], expected_result,
            "{what}: {connect:#}"
        );
        if want.is_none() {
            assert_eq!(connect["data"]["paths"], 2, "{what}: {connect:#}");
        }
        eprintln!("{what}: {}", connect["summary"].as_str().unwrap());
    });
}

#[mptcp_tests::needs(privileged, "nft")]
#[test]
fn check_reports_the_blackhole_and_its_printed_fix_ends_it() {
    let (_one_at_a_time, lab, boxes) =
        sequential_lab(Endpoints::None, &[(1, Middlebox::DropMpCapableSyn)]);
    let server = GreetingServer::start(&lab);

    // Before: nothing detected.
    let (status, report) = check_connect(&lab, true);
    let _ = status;
    assert_eq!(finding(&report, "blackhole")["status"], "ok", "{report:#}");
    // The check's own connection meets the blackhole: named, and the kernel's reaction.
    let connect = finding(&report, "connect");
    assert_eq!(connect["data"]["reason"], "blackhole", "{connect:#}");
    assert_eq!(connect["data"]["result"], "fell_back");
    assert!(boxes[0].packets().unwrap() >= 2);

    // Now MPTCP is off in the namespace: the next check says so, with the fix, and its
    // connection went out without MPTCP at all.
    let (status, report) = check_connect(&lab, true);
    assert_eq!(status, 2, "{report:#}");
    let blackhole = finding(&report, "blackhole");
    assert_eq!(blackhole["status"], "fail", "{blackhole:#}");
    assert_eq!(blackhole["data"]["disabled"], true);
    assert_eq!(blackhole["data"]["detections"], 1);
    let fix = blackhole["fix"].as_str().unwrap();
    assert_eq!(fix, "sysctl -w net.mptcp.blackhole_timeout=3600");
    assert_eq!(finding(&report, "self_test")["status"], "fail");
    let connect = finding(&report, "connect");
    assert_eq!(
        connect["data"]["reason"], "blackhole-disabled",
        "{connect:#}"
    );
    // The same fix, on the connection that met the disabled state.
    assert_eq!(connect["fix"], fix, "{connect:#}");
    let dropped = boxes[0].packets().unwrap();

    // The printed fix, run in the namespace, re-enables MPTCP (the box is removed so that
    // the check's connection does not trigger it again).
    lab.client().run_line(fix).unwrap();
    boxes[0].remove().unwrap();
    let (status, report) = check_connect(&lab, true);
    let blackhole = finding(&report, "blackhole");
    assert_eq!(blackhole["status"], "warn", "{blackhole:#}");
    assert_eq!(blackhole["data"]["disabled"], false);
    let connect = finding(&report, "connect");
    assert_eq!(connect["data"]["result"], "mptcp", "{connect:#}");
    assert_eq!(
        status, 1,
        "the past detection is worth a warning: {report:#}"
    );
    assert!(dropped >= 3);
    drop(server);
}

/// The `reason` of the client's connection to the lab server in `mptcpize watch --json
/// --once` (run in the client namespace); `Err` with the output when no such connection
/// is listed.
fn watch_reason(lab: &Lab) -> Result<serde_json::Value, String> {
    let out = lab
        .client()
        .command(workspace_bin("mptcpize"))
        .args(["watch", "--json", "--once"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let peer = lab.server_sockaddr(1, PORT).to_string();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|c| c["remote"] == peer.as_str())
        .map(|c| c["reason"].clone())
        .ok_or(text)
}

#[mptcp_tests::needs(privileged, "nft")]
#[test]
fn watch_names_each_middlebox() {
    each_reason_case(|what, lab, want| {
        let server = GreetingServer::start(lab);
        let mut client = connect(lab, PORT);
        // The greeting: data has flowed, so the path manager has done what it will.
        let mut greeting = [0u8; 8];
        std::io::Read::read_exact(&mut client, &mut greeting).unwrap();
        let want = want.map_or(serde_json::Value::Null, |w| w.into());
        let mut seen = Err(String::new());
        let shown = wait_until(Instant::now() + Duration::from_secs(5), || {
            seen = watch_reason(lab);
            seen.as_ref().is_ok_and(|r| *r == want)
        });
        assert!(shown, "{what}: watch showed {seen:?}, expected {want}");
        eprintln!("{what}: watch reason {want}");
        drop(client);
        drop(server);
    });
}

/// `mptcpize run --report curl` downloading from `mptcpize run python3 -m http.server`: the
/// `reason=` of curl's connection in its report line (None when the line has none).
fn report_reason(lab: &Lab, tag: &str) -> Option<String> {
    let file = ServedFile::start(lab, tag, LEN, HTTP_PORT, "0.0.0.0");
    let out = file.curl(lab, &["--report"], None).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "curl under mptcpize --report: {stderr}"
    );
    file.verify_download();
    let peer = format!("peer={}:{HTTP_PORT} ", lab.server_addr(1));
    let line = stderr
        .lines()
        .find(|l| l.starts_with("mptcpize report:") && l.contains(" connect ") && l.contains(&peer))
        .unwrap_or_else(|| panic!("no report line for curl's connection: {stderr}"));
    line.split_whitespace()
        .find_map(|f| f.strip_prefix("reason="))
        .map(str::to_string)
}

#[mptcp_tests::needs(privileged, "nft", "curl", "python3")]
#[test]
fn run_report_names_each_middlebox() {
    each_reason_case(|what, lab, want| {
        let reason = report_reason(lab, "report");
        assert_eq!(reason.as_deref(), want, "{what}");
        eprintln!("{what}: --report reason {reason:?}");
    });
}

#[mptcp_tests::needs(privileged, "nft")]
#[test]
fn check_connect_to_a_silent_server_says_why_one_path() {
    let (_one_at_a_time, lab, _) = sequential_lab(Endpoints::ClientSubflow, &[]);
    // Listens (the kernel completes the handshake) and never sends: the path manager adds
    // subflows only once data has flowed, and `check` sends nothing.
    let _listener = listen(&lab, PORT);
    let (_, report) = check_connect(&lab, false);
    let connect = finding(&report, "connect");
    assert_eq!(connect["data"]["paths"], 1, "{connect:#}");
    assert_eq!(connect["data"]["reason"], serde_json::Value::Null);
    assert!(
        connect["summary"]
            .as_str()
            .unwrap()
            .contains("extra paths open only once data flows"),
        "{connect:#}"
    );
}

#[mptcp_tests::needs(privileged, "nft")]
#[test]
fn check_connect_names_a_firewall_resetting_mptcp_syns() {
    let (_one_at_a_time, lab, boxes) =
        sequential_lab(Endpoints::None, &[(1, Middlebox::ResetMpCapableSyn)]);
    let server = GreetingServer::start(&lab);
    let (status, report) = check_connect(&lab, false);
    let connect = finding(&report, "connect");
    assert_eq!(connect["status"], "fail", "{connect:#}");
    assert_eq!(connect["data"]["result"], "refused_mptcp", "{connect:#}");
    assert_eq!(connect["data"]["reason"], "mptcp-refused", "{connect:#}");
    assert_eq!(status, 2, "{report:#}");
    assert_eq!(boxes[0].packets().unwrap(), 1);
    drop(server);
}
