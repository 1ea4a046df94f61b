//! `mptcpize check`, the real binary, in network namespaces of its own: a broken setup
//! (sysctl 0, limits 0, no endpoints; then broken endpoints) reports each problem with its
//! fix, the printed fixes repair it, and a working setup passes the self-test; `--connect`
//! tells an MPTCP server, a plain TCP server and a closed port apart. Checked from outside
//! with `nstat` and `ip mptcp`.

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mptcp_socket::{Fallback, MptcpListener};
use mptcp_tests::Netns;
use serde_json::Value;

fn mptcpize() -> &'static str {
    env!("CARGO_BIN_EXE_mptcpize")
}

/// Runs `cmd`, killing it after 60 s.
fn output(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{cmd:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `mptcpize check ARGS` in `ns`: exit status and stdout.
fn check(ns: &Netns, args: &[&str]) -> (i32, String) {
    let out = output(ns.command(mptcpize()).arg("check").args(args));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().expect("exit status"), stdout)
}

/// `mptcpize check --json ARGS` in `ns`: exit status and the parsed report, whose
/// `exit_status` must be the process's.
fn check_json(ns: &Netns, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (status, stdout) = check(ns, &all);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(report["exit_status"], status, "{report:#}");
    (status, report)
}

/// The findings of `check` in a JSON report.
fn findings<'a>(report: &'a Value, check: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == check)
        .collect()
}

/// The one finding of `check` with `status`, its summary containing `text`.
fn finding<'a>(report: &'a Value, check: &str, status: &str, text: &str) -> &'a Value {
    let all = findings(report, check);
    all.iter()
        .copied()
        .find(|f| f["status"] == status && f["summary"].as_str().unwrap().contains(text))
        .unwrap_or_else(|| panic!("no {status} `{check}` finding with {text:?}: {all:#?}"))
}

/// `--no-self-test` and a `--connect TARGET` per target: `check`'s arguments to judge
/// connections only.
fn connecting<'a>(targets: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--no-self-test"];
    for target in targets {
        args.extend(["--connect", target]);
    }
    args
}

/// Runs every fix of the report's problems in `ns`, as a user would paste them.
fn apply_fixes(ns: &Netns, report: &Value) -> Vec<String> {
    let mut applied = Vec::new();
    for f in report["findings"].as_array().unwrap() {
        if f["status"] != "fail" && f["status"] != "warn" {
            continue;
        }
        let fix = f["fix"]
            .as_str()
            .unwrap_or_else(|| panic!("a problem without a fix: {f:#}"));
        let out = output(ns.command("sh").args(["-c", fix]));
        assert!(
            out.status.success(),
            "the fix `{fix}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        applied.push(fix.to_string());
    }
    applied
}

/// A namespace with a veth pair `v0`/`v1` inside it, both up, then the command lines of
/// `setup` run in it (addresses, neighbours).
fn veth_pair(tag: &str, setup: &[&str]) -> Netns {
    let ns = Netns::new(tag).unwrap();
    ns.run_lines(&[
        "ip link add v0 type veth peer name v1",
        "ip link set v0 up",
        "ip link set v1 up",
    ])
    .unwrap();
    ns.run_lines(setup).unwrap();
    ns
}

/// A [`veth_pair`] with an address on each end (10.50.0.1/24, 10.50.1.1/24): two
/// interfaces, so a second path exists.
fn two_interfaces(tag: &str) -> Netns {
    veth_pair(
        tag,
        &[
            "ip addr add 10.50.0.1/24 dev v0",
            "ip addr add 10.50.1.1/24 dev v1",
        ],
    )
}

#[mptcp_tests::needs(privileged)]
#[test]
fn broken_setup_reports_each_problem_and_the_printed_fixes_repair_it() {
    let ns = two_interfaces("chkb");
    ns.sysctl("net.mptcp.enabled", "0").unwrap();
    ns.run_line("ip mptcp limits set subflows 0 add_addr_accepted 0")
        .unwrap();

    // For a person: each problem on a line, its fix under it, the verdict last.
    let (status, human) = check(&ns, &[]);
    assert_eq!(status, 2, "{human}");
    for expected in [
        " FAIL  sysctl: net.mptcp.enabled = 0: MPTCP is disabled in this network namespace",
        "       fix: sysctl -w net.mptcp.enabled=1\n",
        " WARN  limits: add_addr_accepted 0 subflows 0: subflows 0 allows no extra subflow",
        "       fix: ip mptcp limits set subflows 2 add_addr_accepted 2\n",
        " WARN  endpoints: none: only one path will be used",
        "       fix: ip mptcp endpoint add 10.50.",
        " skip  self_test: not run: MPTCP sockets cannot be created here",
        "Verdict: broken: MPTCP does not work (here, or on the connection tested); fix: sysctl; \
         then: limits, endpoints (exit status 2).\n",
    ] {
        assert!(
            human.contains(expected),
            "missing {expected:?} in:\n{human}"
        );
    }

    // For a script: the same, and the fixes are commands that work.
    let (status, report) = check_json(&ns, &[]);
    assert_eq!(status, 2);
    assert_eq!(report["verdict"], "broken");
    finding(&report, "kernel", "ok", "the kernel has MPTCP");
    finding(&report, "sysctl", "fail", "net.mptcp.enabled = 0");
    finding(&report, "limits", "warn", "subflows 0");
    let endpoints = finding(&report, "endpoints", "warn", "none");
    let fix = endpoints["fix"].as_str().unwrap();
    assert!(
        fix == "ip mptcp endpoint add 10.50.0.1 dev v0 subflow"
            || fix == "ip mptcp endpoint add 10.50.1.1 dev v1 subflow",
        "{fix}"
    );
    finding(&report, "self_test", "skip", "not run");
    let applied = apply_fixes(&ns, &report);
    assert_eq!(applied.len(), 3, "{applied:?}");

    // Fixed: the sysctl, the limits and the endpoint are what the fixes said.
    assert_eq!(
        ns.run("sysctl", &["-n", "net.mptcp.enabled"])
            .unwrap()
            .trim(),
        "1"
    );
    assert_eq!(
        ns.run("ip", &["mptcp", "limits", "show"]).unwrap().trim(),
        "add_addr_accepted 2 subflows 2"
    );
    let shown = ns.run("ip", &["mptcp", "endpoint", "show"]).unwrap();
    assert!(shown.contains(" subflow dev v"), "{shown}");

    // Now it works, and the self-test really negotiated MPTCP (counted by the kernel).
    assert_eq!(ns.counter("MPTcpExtMPCapableSYNRX"), 0);
    let (status, human) = check(&ns, &[]);
    assert_eq!(status, 0, "{human}");
    assert!(
        human.contains(
            "  ok   self_test: an MPTCP connection over loopback negotiated MPTCP on both ends"
        ),
        "{human}"
    );
    assert!(
        human.contains("Verdict: works: MPTCP works here (exit status 0).\n"),
        "{human}"
    );
    assert!(!human.contains("fix:"), "{human}");
    assert_eq!(ns.counter("MPTcpExtMPCapableSYNRX"), 1);
    assert_eq!(ns.counter("MPTcpExtMPCapableFallbackSYNACK"), 0);
}

#[mptcp_tests::needs(privileged)]
#[test]
fn broken_endpoints_are_reported_one_by_one_and_the_fixes_repair_them() {
    let ns = two_interfaces("chke");
    ns.run_lines(&[
        "ip mptcp limits set subflows 1 add_addr_accepted 0",
        "ip mptcp endpoint add 10.50.1.1 id 1 dev v1 subflow",
        "ip mptcp endpoint add 10.50.9.9 id 2 dev v0 subflow",
        "ip mptcp endpoint add 10.50.8.8 id 3 signal",
        "ip link set v1 down",
    ])
    .unwrap();
    let (status, report) = check_json(&ns, &[]);
    assert_eq!(status, 1, "{report:#}");
    assert_eq!(report["verdict"], "limited");
    // (check, the warning's summary, its fix), one per broken thing.
    for (check, summary, fix) in [
        ("endpoints", "interface v1 is down", "ip link set v1 up"),
        (
            "endpoints",
            "interface v0 does not have the address 10.50.9.9",
            "ip mptcp endpoint delete id 2 && ip mptcp endpoint add 10.50.0.1 dev v0 subflow",
        ),
        (
            "endpoints",
            "no interface has the address 10.50.8.8",
            "ip mptcp endpoint delete id 3",
        ),
        (
            "limits",
            "2 `subflow` endpoints but only 1 extra subflow",
            "ip mptcp limits set subflows 2 add_addr_accepted 2",
        ),
    ] {
        assert_eq!(finding(&report, check, "warn", summary)["fix"], fix);
    }
    finding(&report, "self_test", "ok", "negotiated MPTCP");

    apply_fixes(&ns, &report);
    // The veth needs a moment for its carrier after `ip link set up`.
    let deadline = Instant::now() + Duration::from_secs(5);
    let (status, human) = loop {
        let (status, human) = check(&ns, &[]);
        if status == 0 || Instant::now() > deadline {
            break (status, human);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status, 0, "{human}");
    assert!(human.contains("  ok   endpoints: 2 `subflow` endpoints (up to 2 extra subflows per connection), 0 `signal`"), "{human}");
    let shown = ns.run("ip", &["mptcp", "endpoint", "show"]).unwrap();
    assert!(shown.contains("10.50.1.1 id 1 subflow dev v1"), "{shown}");
    assert!(
        shown.contains("10.50.0.1 id ") && shown.contains(" subflow dev v0"),
        "{shown}"
    );
    assert!(
        !shown.contains("10.50.9.9") && !shown.contains("10.50.8.8"),
        "{shown}"
    );
}

#[mptcp_tests::needs(privileged)]
#[test]
fn connect_tells_mptcp_fallback_and_failure_apart() {
    // A working setup, so that the connections alone decide the verdict.
    let ns = two_interfaces("chkc");
    ns.run_line("ip mptcp endpoint add 10.50.1.1 dev v1 subflow")
        .unwrap();
    // Both servers only listen: the kernel answers the handshake, which is all that
    // decides MPTCP or fallback.
    let (mptcp_server, tcp_server, closed_port) = ns
        .enter(|| {
            let mptcp = MptcpListener::bind_with("127.0.0.1:0", Fallback::Never).unwrap();
            let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
            let closed = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap();
            (mptcp, tcp, closed)
        })
        .unwrap();
    let mptcp_target = mptcp_server.local_addr().unwrap().to_string();
    let tcp_target = tcp_server.local_addr().unwrap().to_string();
    let closed_target = closed_port.to_string();

    let (status, report) = check_json(
        &ns,
        &connecting(&[&mptcp_target, &tcp_target, &closed_target]),
    );
    assert_eq!(status, 2, "{report:#}");
    let connects = findings(&report, "connect");
    assert_eq!(connects.len(), 3, "{connects:#?}");
    // (status, result, part of the summary), in the order of the targets.
    let expected = [
        ("ok", "mptcp", "speaks MPTCP"),
        ("warn", "fell_back", "fell back to TCP"),
        ("fail", "failed", "Connection refused"),
    ];
    for (connect, (status, result, summary)) in connects.iter().zip(expected) {
        assert_eq!(connect["status"], status, "{connect:#}");
        assert_eq!(connect["data"]["result"], result, "{connect:#}");
        assert!(
            connect["summary"].as_str().unwrap().contains(summary),
            "{connect:#}"
        );
    }
    assert_eq!(connects[0]["data"]["address"], mptcp_target.as_str());
    // The kernel saw one MP_CAPABLE handshake answered, and one SYN-ACK without it.
    assert_eq!(ns.counter("MPTcpExtMPCapableSYNRX"), 1);
    assert_eq!(ns.counter("MPTcpExtMPCapableFallbackSYNACK"), 1);

    // Without the closed port the verdict is "limited": MPTCP works, one path fell back.
    let (status, human) = check(&ns, &connecting(&[&mptcp_target, &tcp_target]));
    assert_eq!(status, 1, "{human}");
    assert!(
        human.contains(&format!(
            "  ok   connect: {mptcp_target} ({mptcp_target}): speaks MPTCP"
        )),
        "{human}"
    );
    assert!(
        human.contains(&format!(
            " WARN  connect: {tcp_target} ({tcp_target}): connected, but fell back to TCP"
        )),
        "{human}"
    );
    let (status, human) = check(&ns, &connecting(&[&mptcp_target]));
    assert_eq!(status, 0, "{human}");
    drop((mptcp_server, tcp_server));
}

#[mptcp_tests::needs(privileged)]
#[test]
fn userspace_path_manager_is_reported_with_its_fix() {
    let ns = two_interfaces("chkp");
    // Linux 6.15+ has the named sysctl; older kernels only the number.
    let named = ns.sysctl("net.mptcp.path_manager", "userspace").is_ok();
    if !named {
        ns.sysctl("net.mptcp.pm_type", "1").unwrap();
    }
    let (status, report) = check_json(&ns, &["--no-self-test"]);
    assert_eq!(status, 1, "{report:#}");
    let pm = finding(
        &report,
        "path_manager",
        "warn",
        "userspace: a user-space daemon must create the extra subflows",
    );
    let expected = if named {
        "sysctl -w net.mptcp.path_manager=kernel"
    } else {
        "sysctl -w net.mptcp.pm_type=0"
    };
    assert_eq!(pm["fix"], expected);
    // The in-kernel path manager's limits and endpoints do not apply, so are not judged.
    assert!(findings(&report, "endpoints").is_empty(), "{report:#}");
    assert!(findings(&report, "limits").is_empty(), "{report:#}");

    apply_fixes(&ns, &report);
    let (_, report) = check_json(&ns, &["--no-self-test"]);
    finding(&report, "path_manager", "ok", "kernel");
    finding(&report, "endpoints", "warn", "none");
}

#[test]
fn timeout_zero_is_a_usage_error() {
    let out = output(Command::new(mptcpize()).args(["check", "--timeout", "0"]));
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'--timeout <SECONDS>'") && err.contains("1..="),
        "{err}"
    );
}

#[mptcp_tests::needs(privileged)]
#[test]
fn connect_fixes_are_shell_command_lines_that_run_nothing_else() {
    // In a namespace of its own whose resolver asks 127.0.0.1, where nothing answers: the
    // name fails at once, and no query leaves this machine.
    let ns = Netns::new("chkfix").unwrap();
    let _etc = NetnsEtc::new(&ns, "nameserver 127.0.0.1\n");
    let dir = std::env::temp_dir().join(format!("mptcpize-check-fix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let marker = dir.join("touched");
    let evil = format!("x;touch${{IFS}}{};#:80", marker.display());
    // Nothing listens on port 9 of ::1 in the new namespace.
    let (status, report) = check_json(&ns, &connecting(&[&evil, "[::1]:9"]));
    assert_eq!(status, 2, "{report:#}");
    let connects = findings(&report, "connect");
    assert_eq!(connects.len(), 2, "{report:#}");
    assert_eq!(connects[0]["status"], "fail", "{report:#}");
    assert_eq!(
        connects[0]["fix"],
        format!("getent ahosts 'x;touch${{IFS}}{};#'", marker.display()),
        "{report:#}"
    );
    assert_eq!(connects[1]["fix"], "nc -vz ::1 9", "{report:#}");
    // Pasted into a shell, each fix runs its one command (which may fail) and nothing else.
    for f in &connects {
        let fix = f["fix"].as_str().unwrap();
        let _ = output(ns.command("sh").args(["-c", fix]));
        assert!(!marker.exists(), "`{fix}` ran another command");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `/etc/netns/NAME/`, which `ip netns exec NAME` bind-mounts over `/etc` files; removed
/// when dropped.
struct NetnsEtc(std::path::PathBuf);

impl NetnsEtc {
    fn new(ns: &Netns, resolv_conf: &str) -> NetnsEtc {
        let dir = std::path::Path::new("/etc/netns").join(ns.name());
        std::fs::create_dir_all(&dir).unwrap();
        let etc = NetnsEtc(dir);
        std::fs::write(etc.0.join("resolv.conf"), resolv_conf).unwrap();
        etc
    }
}

impl Drop for NetnsEtc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[mptcp_tests::needs(privileged)]
#[test]
fn name_resolution_is_bounded_by_the_timeout() {
    let test = "name_resolution_is_bounded_by_the_timeout";
    // A name server behind a veth whose other end drops everything (the frames go to a MAC
    // address nobody has): queries leave, and nothing ever answers, not even an error.
    let ns = veth_pair(
        "chkdns",
        &[
            "ip addr add 10.77.0.1/24 dev v0",
            "ip neigh replace 10.77.0.2 lladdr 02:00:00:00:77:02 dev v0 nud permanent",
        ],
    );
    let _etc = NetnsEtc::new(&ns, "nameserver 10.77.0.2\noptions timeout:5 attempts:3\n");
    let name = "mptcp-check-unanswered.example";
    // The resolver itself waits far longer than the deadline below (15 s here).
    let started = Instant::now();
    let getent = output(ns.command("timeout").args(["4", "getent", "ahosts", name]));
    let black_holed =
        getent.status.code() == Some(124) && started.elapsed() >= Duration::from_secs(4);
    let reason = (!black_holed).then(|| {
        format!(
            "the resolver does not use the namespace's resolv.conf here (getent: {:?})",
            getent.status
        )
    });
    if !mptcp_tests::skip_unless(test, reason.as_deref()) {
        return;
    }
    let target = format!("{name}:80");
    let started = Instant::now();
    let (status, report) = check_json(
        &ns,
        &["--no-self-test", "--timeout", "1", "--connect", &target],
    );
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "check took {took:?} with --timeout 1: {report:#}"
    );
    assert_eq!(status, 2, "{report:#}");
    let connect = finding(
        &report,
        "connect",
        "fail",
        "the name resolver did not answer within 1 s",
    );
    assert_eq!(connect["fix"], format!("getent ahosts {name}"));
}

#[mptcp_tests::needs(privileged)]
#[test]
fn zoned_link_local_targets_connect_with_and_without_brackets() {
    let ns = veth_pair("chkzone", &["ip addr add fe80::1/64 dev v0 nodad"]);
    let server = ns
        .enter(|| MptcpListener::bind_with("[::]:0", Fallback::Never).unwrap())
        .unwrap();
    let port = server.local_addr().unwrap().port();
    let bracketed = format!("[fe80::1%v0]:{port}");
    let bare = format!("fe80::1%v0:{port}");
    let (status, report) = check_json(&ns, &connecting(&[&bracketed, &bare]));
    let connects = findings(&report, "connect");
    assert_eq!(connects.len(), 2, "{report:#}");
    for c in &connects {
        assert_eq!(c["status"], "ok", "{report:#}");
        assert_eq!(c["data"]["result"], "mptcp", "{report:#}");
        assert!(
            c["data"]["address"]
                .as_str()
                .unwrap()
                .starts_with("[fe80::1%"),
            "{report:#}"
        );
    }
    assert_eq!(
        connects[0]["data"]["address"],
        connects[1]["data"]["address"]
    );
    assert_ne!(status, 2, "{report:#}");
    drop(server);
}

/// One interface with an address (and one without): no second path exists, so no
/// `ip mptcp endpoint add` can help. The fix says so in words (as for a kernel without
/// MPTCP) instead of a template (`ADDR dev IF`) that does not run as is; with an endpoint
/// that is neither `subflow` nor `signal`, the same.
#[mptcp_tests::needs(privileged)]
#[test]
fn one_interface_gets_a_reason_not_a_template() {
    let ns = veth_pair("chk1if", &["ip addr add 10.51.0.1/24 dev v0"]);
    let reason = "no command can add a second path here";
    let (_, report) = check_json(&ns, &["--no-self-test"]);
    let warn = finding(&report, "endpoints", "warn", "only v0 has an address");
    let fix = warn["fix"].as_str().unwrap_or_default();
    assert!(fix.starts_with(reason) && !fix.contains("ADDR"), "{warn:#}");
    assert_eq!(warn["data"]["suggestions"], serde_json::json!([]));
    let (_, human) = check(&ns, &["--no-self-test"]);
    assert!(human.contains(&format!("       fix: {reason}")), "{human}");
    assert!(!human.contains("ADDR dev IF"), "{human}");

    // An endpoint that creates no subflow, on the one interface: still no template.
    ns.run_line("ip mptcp endpoint add 10.51.0.1 dev v0")
        .unwrap();
    let (_, report) = check_json(&ns, &["--no-self-test"]);
    let warn = finding(
        &report,
        "endpoints",
        "warn",
        "no `subflow` or `signal` endpoint",
    );
    assert!(
        warn["fix"].as_str().unwrap_or_default().starts_with(reason),
        "{warn:#}"
    );
    let (_, human) = check(&ns, &["--no-self-test"]);
    assert!(!human.contains("ADDR dev IF"), "{human}");
}
