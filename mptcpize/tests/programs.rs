//! Real programs under `mptcpize run`, each in a network namespace of its own: the data
//! arrives intact, and the namespace's `MPTcp*` counters (read with `nstat`, outside the
//! programs) show that both ends spoke MPTCP — or, with `net.mptcp.enabled=0`, that the
//! programs still work, over TCP.

mod support;

use std::collections::BTreeMap;
use std::process::Stdio;

use mptcp_tests::lab::{assert_same_bytes, pattern_bytes};
use mptcp_tests::sshd::Sshd;
use mptcp_tests::temp_dir;
use mptcp_tests::Netns;
use support::*;

/// Serves `data` as `/data.bin` with `python3 -m http.server` under mptcpize, bound to
/// `bind`; returns the server and its directory.
fn http_server(ns: &Netns, bind: &str, port: u16, data: &[u8]) -> (Background, TempDir) {
    let dir = temp_dir("www");
    std::fs::write(dir.path().join("data.bin"), data).unwrap();
    let server = spawn(mptcpized(
        ns,
        "python3",
        &[
            "-m",
            "http.server",
            "--bind",
            bind,
            "--directory",
            dir.path().to_str().unwrap(),
            &port.to_string(),
        ],
    ));
    wait_listening(ns, port);
    (server, dir)
}

fn http_case(tag: &str, bind: &str, url_host: &str, client: &str) {
    let test = format!("{client} from http.server over {bind}");
    let ns = Netns::new(tag).unwrap();
    let data = pattern_bytes(3 << 20, 7);
    let (_server, _dir) = http_server(&ns, bind, 8000, &data);
    let url = format!("http://{url_host}:8000/data.bin");
    let args: Vec<&str> = match client {
        "curl" => vec!["-sS", "--fail", "-o", "-", &url],
        "wget" => vec!["-q", "-O", "-", &url],
        _ => unreachable!(),
    };
    let out = output_ok(&mut mptcpized(&ns, client, &args), &test);
    assert_same_bytes(&test, &out.stdout, &data);
    assert_mptcp_used(&ns, 1, &test);
}

#[mptcp_tests::needs(privileged, "python3", "curl")]
#[test]
fn curl_and_http_server_ipv4() {
    http_case("curl4", "127.0.0.1", "127.0.0.1", "curl");
}

#[mptcp_tests::needs(privileged, "python3", "curl")]
#[test]
fn curl_and_http_server_ipv6() {
    http_case("curl6", "::1", "[::1]", "curl");
}

#[mptcp_tests::needs(privileged, "python3", "wget")]
#[test]
fn wget_and_http_server() {
    http_case("wget", "127.0.0.1", "127.0.0.1", "wget");
}

/// iperf3 does not check payload; what it can vouch for: data went both out and in during
/// a one-second test. (Its receive count is taken when the client announces the end, so a
/// byte-count transfer (`-n`) of a few megabytes on loopback is sometimes reported as
/// partly or not received, over plain TCP as well: a timed test avoids that.)
fn assert_iperf3_transfer(json: &str, test: &str) {
    let sent = json_bytes_after(json, "\"sum_sent\"");
    let received = json_bytes_after(json, "\"sum_received\"");
    assert!(
        sent.is_some_and(|s| s > 1 << 20) && received.is_some_and(|r| r > 1 << 20),
        "{test}: sent {sent:?}, received {received:?}:\n{json}"
    );
}

#[mptcp_tests::needs(privileged, "iperf3")]
#[test]
fn iperf3_client_and_server() {
    let test = "iperf3 -s / iperf3 -c";
    let ns = Netns::new("iperf").unwrap();
    let _server = spawn(mptcpized(&ns, "iperf3", &["-s", "-1", "-p", "5201"]));
    wait_listening(&ns, 5201);
    let (out, during) = std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            output_ok(
                &mut mptcpized(
                    &ns,
                    "iperf3",
                    &["-c", "127.0.0.1", "-p", "5201", "-t", "1", "-J"],
                ),
                test,
            )
        });
        // While it runs: `ss -M` lists MPTCP sockets only. Both ends of the control and
        // the data connection must be there, established.
        let mut during = String::new();
        for _ in 0..100 {
            during = ns.run("ss", &["-MHn", "state", "established"]).unwrap();
            if during.lines().filter(|l| l.contains(":5201")).count() >= 4 || client.is_finished() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        (client.join().unwrap(), during)
    });
    assert_eq!(
        during.lines().filter(|l| l.contains(":5201")).count(),
        4,
        "{test}: MPTCP sockets during the transfer (ss -M):\n{during}"
    );
    assert_iperf3_transfer(&String::from_utf8_lossy(&out.stdout), test);
    // The control connection and the data connection.
    assert_mptcp_used(&ns, 2, test);
}

/// `nc -l SERVER_ARGS` and `nc -N CLIENT_ARGS < data`, both under `mptcpize run -d`, in
/// `ns`; returns what the server printed (the data it received) and the client's stderr
/// (the shim's log).
fn nc_transfer(
    ns: &Netns,
    server_args: &[&str],
    client_args: &[&str],
    port: u16,
    data: &[u8],
) -> (Vec<u8>, String) {
    let client: Vec<&str> = ["-N"].iter().chain(client_args).copied().collect();
    let (received, out) = transfer(ns, server_args, &[], "nc.openbsd", &client, port, data);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "nc {client_args:?}: {}\n{log}",
        out.status
    );
    (received, log)
}

/// `nc -l SERVER_ARGS` under `mptcpize run -d`, and `CLIENT CLIENT_ARGS < data` under
/// `mptcpize run -d LAUNCHER_ARGS`, in `ns`; returns what the server printed (the data it
/// received) and the client's output (its stderr has the shim's log).
fn transfer(
    ns: &Netns,
    server_args: &[&str],
    launcher_args: &[&str],
    client: &str,
    client_args: &[&str],
    port: u16,
    data: &[u8],
) -> (Vec<u8>, std::process::Output) {
    let dir = temp_dir("nc");
    let input = dir.path().join("in");
    std::fs::write(&input, data).unwrap();
    std::thread::scope(|scope| {
        let server = scope.spawn(|| {
            let mut cmd = ns.command(mptcpize());
            cmd.args(["run", "-d", "nc.openbsd", "-l"])
                .args(server_args);
            output_ok(&mut cmd, "nc -l")
        });
        wait_listening(ns, port);
        let mut cmd = ns.command(mptcpize());
        cmd.args(["run", "-d"])
            .args(launcher_args)
            .arg("--")
            .arg(client)
            .args(client_args);
        cmd.stdin(Stdio::from(std::fs::File::open(&input).unwrap()));
        let out = cmd.output().unwrap();
        if !out.status.success() {
            // Let the server go: it waits for a connection that will not come.
            // (SERVER_ARGS end with its address and port.)
            let host = server_args[server_args.len() - 2];
            let _ = ns.run("nc.openbsd", &["-z", host, &port.to_string()]);
        }
        (server.join().unwrap().stdout, out)
    })
}

/// The namespace's MPTCP handshakes since `before` (counters from [`mptcp_counters`]): MP_CAPABLE
/// SYNs a listener received, MP_CAPABLE SYN-ACKs a client received, and fallbacks of either.
fn handshakes_since(ns: &Netns, before: &BTreeMap<String, u64>) -> (u64, u64, u64) {
    let now = mptcp_counters(ns);
    let delta = |name: &str| counter(&now, name) - counter(before, name);
    (
        delta("MPTcpExtMPCapableSYNRX"),
        delta("MPTcpExtMPCapableSYNACKRX"),
        delta("MPTcpExtMPCapableFallbackACK") + delta("MPTcpExtMPCapableFallbackSYNACK"),
    )
}

/// Both ends of `connections` new connections spoke MPTCP, none fell back.
fn assert_mptcp_both_ends(
    ns: &Netns,
    before: &BTreeMap<String, u64>,
    connections: u64,
    what: &str,
) {
    let (syn, synack, fallback) = handshakes_since(ns, before);
    assert!(
        syn >= connections && synack >= connections && fallback == 0,
        "{what}: MP_CAPABLE SYNs received {syn}, SYN-ACKs received {synack}, fallbacks \
         {fallback}; expected {connections} MPTCP connection(s)"
    );
}

/// No new MPTCP connection: the client was plain TCP (the listener, MPTCP, accepted it as
/// TCP).
fn assert_client_plain_tcp(ns: &Netns, before: &BTreeMap<String, u64>, what: &str) {
    let (syn, synack, _) = handshakes_since(ns, before);
    assert_eq!(
        (syn, synack),
        (0, 0),
        "{what}: the client was not plain TCP"
    );
}

#[mptcp_tests::needs(privileged, "nc.openbsd")]
#[test]
fn netcat_listen_and_connect() {
    let test = "nc -l / nc";
    let ns = Netns::new("nc").unwrap();
    let data = pattern_bytes(1 << 20, 11);
    let (received, _) = nc_transfer(
        &ns,
        &["127.0.0.1", "9000"],
        &["127.0.0.1", "9000"],
        9000,
        &data,
    );
    assert_same_bytes(test, &received, &data);
    assert_mptcp_used(&ns, 1, test);
}

/// netcat with the options it sets before connecting, under the default
/// `--refused-options=auto`:
/// - `nc -M 5` sets IP_TTL, which MPTCP refuses and nc needs (it exits when it fails; under
///   Debian's shim: "set IP TTL: Operation not supported"): the socket becomes plain TCP
///   and the transfer works;
/// - `nc -T af41` over IPv4 sets IP_TOS, which MPTCP accepts: MPTCP on both ends;
/// - `nc -6 -T af41` sets IPV6_TCLASS, which MPTCP refuses and nc exits on (as under
///   Debian's shim): under `auto` the call succeeds with IP_TOS set instead, the socket keeps
///   MPTCP and the transfer works, over MPTCP on both ends; `--refused-options=swap` gives it
///   plain TCP.
#[mptcp_tests::needs(privileged, "nc.openbsd")]
#[test]
fn netcat_with_options_mptcp_refuses() {
    let ns = Netns::new("ncopt").unwrap();
    let data = pattern_bytes(256 << 10, 13);

    let before = mptcp_counters(&ns);
    let (received, log) = nc_transfer(
        &ns,
        &["127.0.0.1", "9002"],
        &["-M", "5", "127.0.0.1", "9002"],
        9002,
        &data,
    );
    assert_same_bytes("nc -M 5", &received, &data);
    assert!(
        log.contains("IP_TTL) on an MPTCP socket failed with EOPNOTSUPP (95): the socket is now plain TCP, option set (--refused-options=auto; rule: needed option with a real effect; client socket)"),
        "{log}"
    );
    assert_client_plain_tcp(&ns, &before, "nc -M 5");

    let before = mptcp_counters(&ns);
    let (received, log) = nc_transfer(
        &ns,
        &["127.0.0.1", "9003"],
        &["-T", "af41", "127.0.0.1", "9003"],
        9003,
        &data,
    );
    assert_same_bytes("nc -T af41 (IPv4)", &received, &data);
    assert!(!log.contains("failed with"), "{log}");
    assert_mptcp_both_ends(&ns, &before, 1, "nc -T af41 (IPv4)");

    // Under auto nc's traffic class succeeds (IP_TOS instead) and the socket keeps MPTCP.
    let before = mptcp_counters(&ns);
    let (received, out) = transfer(
        &ns,
        &["-6", "::1", "9004"],
        &[],
        "nc.openbsd",
        &["-N", "-6", "-T", "af41", "::1", "9004"],
        9004,
        &data,
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "nc -6 -T af41: {}\n{log}", out.status);
    assert_same_bytes("nc -6 -T af41", &received, &data);
    assert!(
        log.contains("IPV6_TCLASS) on an MPTCP socket failed with EOPNOTSUPP (95): kept MPTCP, the call succeeds, IP_TOS set instead"),
        "{log}"
    );
    assert!(
        !log.contains("traffic class"),
        "nc reported an error: {log}"
    );
    assert_mptcp_both_ends(&ns, &before, 1, "nc -6 -T af41");

    let before = mptcp_counters(&ns);
    let (received, out) = transfer(
        &ns,
        &["-6", "::1", "9005"],
        &["--refused-options=swap"],
        "nc.openbsd",
        &["-N", "-6", "-T", "af41", "::1", "9005"],
        9005,
        &data,
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "nc -6 -T with swap: {}\n{log}",
        out.status
    );
    assert_same_bytes("nc -6 -T af41, swap", &received, &data);
    assert!(
        log.contains("IPV6_TCLASS) on an MPTCP socket failed with EOPNOTSUPP (95): the socket is now plain TCP, option set (--refused-options=swap;"),
        "{log}"
    );
    assert_client_plain_tcp(&ns, &before, "nc -6 -T af41, swap");
}

/// A gRPC-like client (`tests/refused-options/user_timeout_client.c`): it sets
/// TCP_USER_TIMEOUT before connecting and goes on with a warning when that fails. The
/// option is needed (it decides when a dead peer is noticed), so `auto` gives the client
/// plain TCP with the option; `--refused-options=keep` keeps MPTCP on both ends and the
/// client gets the error.
#[mptcp_tests::needs(privileged, "nc.openbsd", "gcc")]
#[test]
fn user_timeout_client() {
    let dir = temp_dir("utc");
    let client = dir.path().join("user_timeout_client");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/refused-options/user_timeout_client.c");
    let status = std::process::Command::new("gcc")
        .args(["-O2", "-Wall", "-Werror", "-o"])
        .arg(&client)
        .arg(&src)
        .status()
        .unwrap();
    assert!(status.success(), "gcc failed");
    let client = client.to_str().unwrap();
    let ns = Netns::new("utc").unwrap();
    let data = pattern_bytes(512 << 10, 17);
    for (choice, port) in [("auto", "9010"), ("keep", "9011")] {
        let what = format!("TCP_USER_TIMEOUT client, {choice}");
        let before = mptcp_counters(&ns);
        let flag = format!("--refused-options={choice}");
        let (received, out) = transfer(
            &ns,
            &["127.0.0.1", port],
            &[&flag],
            client,
            &["127.0.0.1", port],
            port.parse().unwrap(),
            &data,
        );
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{what}: {}\n{log}", out.status);
        assert_same_bytes(&what, &received, &data);
        if choice == "auto" {
            assert!(log.contains("SO_PROTOCOL 6"), "{what}: {log}");
            assert!(!log.contains("warning"), "{what}: {log}");
            assert_client_plain_tcp(&ns, &before, &what);
        } else {
            assert!(
                log.contains("warning: setsockopt(TCP_USER_TIMEOUT): Protocol not available"),
                "{what}: {log}"
            );
            assert!(log.contains("SO_PROTOCOL 262"), "{what}: {log}");
            assert_mptcp_both_ends(&ns, &before, 1, &what);
        }
    }
}

/// `iperf3 --set-mss` sets TCP_MAXSEG before connecting, which MPTCP accepts (Linux 5.16+):
/// the transfer runs over MPTCP on both ends (control and data connections).
#[mptcp_tests::needs(privileged, "iperf3")]
#[test]
fn iperf3_set_mss() {
    let test = "iperf3 --set-mss";
    let ns = Netns::new("mss").unwrap();
    let _server = spawn(mptcpized(&ns, "iperf3", &["-s", "-1", "-p", "5202"]));
    wait_listening(&ns, 5202);
    let before = mptcp_counters(&ns);
    let mut cmd = ns.command(mptcpize());
    cmd.args(["run", "-d", "iperf3", "-c", "127.0.0.1", "-p", "5202"])
        .args(["--set-mss", "1000", "-t", "1", "-J"]);
    let out = output_ok(&mut cmd, test);
    let json = String::from_utf8_lossy(&out.stdout);
    assert_iperf3_transfer(&json, test);
    assert!(json.contains("\"tcp_mss\":\t1000"), "{test}: {json}");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains("failed with"), "{test}: {log}");
    assert_mptcp_both_ends(&ns, &before, 2, test);
}

/// A Python client that sets IPV6_TCLASS and TCP_QUICKACK before `connect()` (Python
/// raises on any failed `setsockopt`), under the default `--refused-options=auto`: both calls
/// succeed (IP_TOS set instead of the traffic class; TCP_QUICKACK 1 changes nothing), and the
/// connection is MPTCP on both ends.
#[mptcp_tests::needs(privileged, "python3", "nc.openbsd")]
#[test]
fn python_client_sets_traffic_class_and_quickack() {
    let test = "python client with IPV6_TCLASS and TCP_QUICKACK";
    let ns = Netns::new("pytclass").unwrap();
    let data = pattern_bytes(256 << 10, 23);
    let script = "import socket, sys\n\
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)\n\
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, 0x10)\n\
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)\n\
        s.connect(('::1', int(sys.argv[1])))\n\
        s.sendall(sys.stdin.buffer.read())\n\
        print('SO_PROTOCOL', s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL), file=sys.stderr)\n\
        s.close()\n";
    let before = mptcp_counters(&ns);
    let (received, out) = transfer(
        &ns,
        &["-6", "::1", "9020"],
        &[],
        "python3",
        &["-c", script, "9020"],
        9020,
        &data,
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{test}: {}\n{log}", out.status);
    assert_same_bytes(test, &received, &data);
    assert!(log.contains("SO_PROTOCOL 262"), "{test}: {log}");
    assert!(!log.contains("Error"), "{test}: {log}");
    assert_mptcp_both_ends(&ns, &before, 1, test);
}

/// HAProxy 2.6 in TCP mode, in front of an HTTP server, all under `mptcpize run`: HAProxy
/// resets TCP_USER_TIMEOUT to 0 on its listener (no `tcp-ut`), which MPTCP refuses; the
/// value changes nothing, so the listener keeps MPTCP, and both hops (client to HAProxy,
/// HAProxy to the server) are MPTCP on both ends.
#[mptcp_tests::needs(privileged, "haproxy", "python3", "curl")]
#[test]
fn haproxy_listener_and_backend_keep_mptcp() {
    let test = "haproxy";
    let ns = Netns::new("haproxy").unwrap();
    let data = pattern_bytes(1 << 20, 29);
    let (_server, dir) = http_server(&ns, "127.0.0.1", 8000, &data);
    let config = dir.path().join("haproxy.cfg");
    std::fs::write(
        &config,
        "global\n    nbthread 1\n\
         defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\
         frontend front\n    bind 127.0.0.1:8443\n    default_backend back\n\
         backend back\n    server origin 127.0.0.1:8000\n",
    )
    .unwrap();
    let log_path = dir.path().join("haproxy.log");
    let mut cmd = ns.command(mptcpize());
    cmd.args(["run", "-d", "--", "haproxy", "-db", "-f"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()));
    let _haproxy = Background::from_child(cmd.spawn().expect("start haproxy"));
    // The listener, MPTCP (`ss -M` lists MPTCP sockets only).
    wait_until("haproxy's MPTCP listener on 127.0.0.1:8443", || {
        ns.run("ss", &["-MHln"])
            .unwrap_or_default()
            .contains("127.0.0.1:8443")
    });
    let before = mptcp_counters(&ns);
    let out = output_ok(
        &mut mptcpized(
            &ns,
            "curl",
            &["-sS", "--fail", "-o", "-", "http://127.0.0.1:8443/data.bin"],
        ),
        test,
    );
    assert_same_bytes(test, &out.stdout, &data);
    // Client to HAProxy, HAProxy to the server.
    assert_mptcp_both_ends(&ns, &before, 2, test);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("TCP_USER_TIMEOUT) on an MPTCP socket failed with ENOPROTOOPT (92): kept MPTCP, the call succeeds without effect (--refused-options=auto; rule: the value changes nothing"),
        "{test}: {log}"
    );
    assert!(!log.contains("now plain TCP"), "{test}: {log}");
}

/// BIND's `dig +tcp` sets TCP_USER_TIMEOUT to 120000 before connecting and aborts when that
/// fails (exit 134 under Debian's shim). The value is real, so under `auto` the socket
/// becomes plain TCP with the option set, and the query is answered (by a small DNS server
/// over TCP under mptcpize, `tests/refused-options/dns_tcp_server.py`).
#[mptcp_tests::needs(privileged, "dig", "python3")]
#[test]
fn dig_tcp_sets_a_user_timeout() {
    let test = "dig +tcp";
    let ns = Netns::new("dig").unwrap();
    let server_script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/refused-options/dns_tcp_server.py"
    );
    let _server = spawn(mptcpized(&ns, "python3", &[server_script, "5353"]));
    wait_listening(&ns, 5353);
    let before = mptcp_counters(&ns);
    let mut cmd = ns.command(mptcpize());
    cmd.args([
        "run",
        "-d",
        "--",
        "dig",
        "+tcp",
        "+tries=1",
        "@127.0.0.1",
        "-p",
        "5353",
    ])
    .args(["example.test", "A", "+short"]);
    let out = output_ok(&mut cmd, test);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "127.0.0.1",
        "{test}"
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("TCP_USER_TIMEOUT) on an MPTCP socket failed with ENOPROTOOPT (92): the socket is now plain TCP, option set (--refused-options=auto; rule: needed option with a real effect; client socket)"),
        "{test}: {log}"
    );
    assert_client_plain_tcp(&ns, &before, test);
}

/// ssh and sshd, both under the default `--refused-options=auto`, over IPv4 and IPv6: ssh
/// runs `cat FILE` on the server and the bytes arrive intact, over MPTCP on both ends. Over
/// IPv6 ssh sets IPV6_TCLASS before connecting, which MPTCP refuses: the call succeeds with
/// IP_TOS set instead, the socket keeps MPTCP, and ssh has no error to report (under Debian's
/// shim it prints one).
#[mptcp_tests::needs(privileged, "ssh", "ssh-keygen", "sshd")]
#[test]
fn ssh_and_sshd_keep_mptcp() {
    let ns = Netns::new("ssh").unwrap();
    let server = Sshd::start(&ns, &mptcpize(), &["127.0.0.1", "::1"], 2222);
    let data = pattern_bytes(1 << 20, 19);
    let file = server.dir().join("data");
    std::fs::write(&file, &data).unwrap();
    for (family, host) in [("-4", "127.0.0.1"), ("-6", "::1")] {
        let what = format!("ssh {family}");
        let before = mptcp_counters(&ns);
        // One shell word for the remote shell (the directory's name has parentheses).
        let remote = format!("cat '{}'", file.display());
        let mut cmd = server.ssh(&ns, &["-d"], &[family], host, &remote);
        let out = output_ok(&mut cmd, &what);
        assert_same_bytes(&what, &out.stdout, &data);
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(log.contains("rewritten to IPPROTO_MPTCP"), "{what}: {log}");
        assert!(!log.contains("now plain TCP"), "{what}: {log}");
        if family == "-6" {
            assert!(
                log.contains(
                    "IPV6_TCLASS) on an MPTCP socket failed with EOPNOTSUPP (95): kept MPTCP, the call succeeds, IP_TOS set instead"
                ),
                "{what}: {log}"
            );
        }
        // No warning of ssh's own (its report of a failed setsockopt).
        assert!(
            log.lines()
                .all(|l| l.starts_with("mptcpize:") || !l.contains("setsockopt")),
            "{what}: {log}"
        );
        assert_mptcp_both_ends(&ns, &before, 1, &what);
    }
}

#[mptcp_tests::needs(privileged, "python3", "curl", "wget", "iperf3", "nc.openbsd")]
#[test]
fn programs_still_work_with_mptcp_disabled() {
    let test = "fallback to TCP with net.mptcp.enabled=0";
    let ns = Netns::new("off").unwrap();
    ns.sysctl("net.mptcp.enabled", "0").unwrap();
    let data = pattern_bytes(1 << 20, 3);
    let (_server, _dir) = http_server(&ns, "127.0.0.1", 8000, &data);
    let mut curl = ns.command(mptcpize());
    curl.args([
        "run",
        "-d",
        "curl",
        "-sS",
        "--fail",
        "-o",
        "-",
        "http://127.0.0.1:8000/data.bin",
    ]);
    let out = output_ok(&mut curl, test);
    assert_same_bytes(&format!("{test}: curl"), &out.stdout, &data);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("fell back to TCP, MPTCP refused with ENOPROTOOPT"),
        "{test}: the debug log does not report the fallback:\n{log}"
    );

    let _iperf = spawn(mptcpized(&ns, "iperf3", &["-s", "-1", "-p", "5201"]));
    wait_listening(&ns, 5201);
    let out = output_ok(
        &mut mptcpized(
            &ns,
            "iperf3",
            &["-c", "127.0.0.1", "-p", "5201", "-t", "1", "-J"],
        ),
        test,
    );
    assert_iperf3_transfer(&String::from_utf8_lossy(&out.stdout), test);
    let out = output_ok(
        &mut mptcpized(
            &ns,
            "wget",
            &["-q", "-O", "-", "http://127.0.0.1:8000/data.bin"],
        ),
        test,
    );
    assert_same_bytes(&format!("{test}: wget"), &out.stdout, &data);
    let (received, log) = nc_transfer(
        &ns,
        &["127.0.0.1", "9000"],
        &["127.0.0.1", "9000"],
        9000,
        &data,
    );
    assert_same_bytes(&format!("{test}: nc"), &received, &data);
    assert!(log.contains("fell back to TCP"), "{log}");
    assert_no_mptcp(&ns, test);
}

#[mptcp_tests::needs(privileged, "nc.openbsd")]
#[test]
fn udp_is_untouched() {
    let ns = Netns::new("udp").unwrap();
    let message = b"one datagram, not MPTCP\n";
    let server = std::thread::scope(|scope| {
        let server = scope.spawn(|| {
            let mut cmd = ns.command(mptcpize());
            cmd.args([
                "run",
                "-d",
                "nc.openbsd",
                "-u",
                "-l",
                "-W",
                "1",
                "127.0.0.1",
                "9001",
            ]);
            output_ok(&mut cmd, "nc -u -l")
        });
        // UDP has no listen state to wait for: send until the server has its datagram.
        let dir = temp_dir("udp");
        let input = dir.path().join("in");
        std::fs::write(&input, message).unwrap();
        let mut client_log = String::new();
        while !server.is_finished() {
            let mut client = ns.command(mptcpize());
            client.args([
                "run",
                "-d",
                "nc.openbsd",
                "-u",
                "-w",
                "0",
                "127.0.0.1",
                "9001",
            ]);
            client.stdin(Stdio::from(std::fs::File::open(&input).unwrap()));
            let out = client.output().unwrap();
            client_log = String::from_utf8_lossy(&out.stderr).into_owned();
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(client_log.contains("SOCK_DGRAM"), "{client_log}");
        assert!(!client_log.contains("rewritten"), "{client_log}");
        server.join().unwrap()
    });
    assert_eq!(server.stdout, message);
    let log = String::from_utf8_lossy(&server.stderr);
    assert!(
        log.contains("socket(AF_INET, SOCK_DGRAM") && log.contains("passed through"),
        "{log}"
    );
    assert!(!log.contains("rewritten"), "{log}");
}

#[mptcp_tests::needs("nc.openbsd")]
#[test]
fn unix_sockets_are_untouched() {
    let dir = temp_dir("unix");
    let path = dir.path().join("sock");
    let path = path.to_str().unwrap();
    let data = pattern_bytes(64 << 10, 5);
    let input = dir.path().join("in");
    std::fs::write(&input, &data).unwrap();
    let server = std::thread::scope(|scope| {
        let server = scope.spawn(|| {
            let mut cmd = std::process::Command::new(mptcpize());
            cmd.args(["run", "-d", "nc.openbsd", "-U", "-l", path]);
            output_ok(&mut cmd, "nc -U -l")
        });
        while !std::path::Path::new(path).exists() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let mut client = std::process::Command::new(mptcpize());
        client.args(["run", "-d", "nc.openbsd", "-N", "-U", path]);
        client.stdin(Stdio::from(std::fs::File::open(&input).unwrap()));
        let out = client.output().unwrap();
        assert!(out.status.success());
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(
            log.contains("socket(AF_UNIX, SOCK_STREAM") && !log.contains("rewritten"),
            "{log}"
        );
        server.join().unwrap()
    });
    assert_same_bytes("server", &server.stdout, &data);
}
