//! Real programs under `mptcpize run`, each in a network namespace of its own: the data
//! arrives intact, and the namespace's `MPTcp*` counters (read with `nstat`, outside the
//! programs) show that both ends spoke MPTCP — or, with `net.mptcp.enabled=0`, that the
//! programs still work, over TCP.

mod support;

use std::process::Stdio;

use mptcp_tests::lab::{assert_same_bytes, pattern_bytes};
use mptcp_tests::{require_privileges, require_program, Netns};
use support::*;

/// Serves `data` as `/data.bin` with `python3 -m http.server` under mptcpize, bound to
/// `bind`; returns the server and its directory.
fn http_server(ns: &Netns, bind: &str, port: u16, data: &[u8]) -> (Background, TempDir) {
    let dir = TempDir::new("www");
    std::fs::write(dir.0.join("data.bin"), data).unwrap();
    let server = spawn(mptcpized(
        ns,
        "python3",
        &[
            "-m",
            "http.server",
            "--bind",
            bind,
            "--directory",
            dir.0.to_str().unwrap(),
            &port.to_string(),
        ],
    ));
    wait_listening(ns, port);
    (server, dir)
}

fn programs_present(test: &str, programs: &[&str]) -> bool {
    programs.iter().all(|p| require_program(test, p))
}

fn http_case(tag: &str, bind: &str, url_host: &str, client: &str) {
    let test = format!("{client} from http.server over {bind}");
    if !require_privileges(&test) || !programs_present(&test, &["python3", client, "nstat"]) {
        return;
    }
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

#[cfg_attr(
    not(all(mptcp_privileged, has_python3, has_curl)),
    ignore = "needs root, netns, MPTCP, python3, curl"
)]
#[test]
fn curl_and_http_server_ipv4() {
    http_case("curl4", "127.0.0.1", "127.0.0.1", "curl");
}

#[cfg_attr(
    not(all(mptcp_privileged, has_python3, has_curl)),
    ignore = "needs root, netns, MPTCP, python3, curl"
)]
#[test]
fn curl_and_http_server_ipv6() {
    http_case("curl6", "::1", "[::1]", "curl");
}

#[cfg_attr(
    not(all(mptcp_privileged, has_python3, has_wget)),
    ignore = "needs root, netns, MPTCP, python3, wget"
)]
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

#[cfg_attr(
    not(all(mptcp_privileged, has_iperf3)),
    ignore = "needs root, netns, MPTCP, iperf3"
)]
#[test]
fn iperf3_client_and_server() {
    let test = "iperf3 -s / iperf3 -c";
    if !require_privileges(test) || !programs_present(test, &["iperf3", "nstat"]) {
        return;
    }
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
    let dir = TempDir::new("nc");
    let input = dir.0.join("in");
    std::fs::write(&input, data).unwrap();
    std::thread::scope(|scope| {
        let server = scope.spawn(|| {
            let mut cmd = ns.command(mptcpize());
            cmd.args(["run", "-d", "nc.openbsd", "-l"])
                .args(server_args);
            output_ok(&mut cmd, "nc -l")
        });
        wait_listening(ns, port);
        let mut client = ns.command(mptcpize());
        client
            .args(["run", "-d", "nc.openbsd", "-N"])
            .args(client_args);
        client.stdin(Stdio::from(std::fs::File::open(&input).unwrap()));
        let out = client.output().unwrap();
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "nc {client_args:?}: {}\n{log}",
            out.status
        );
        (server.join().unwrap().stdout, log)
    })
}

#[cfg_attr(
    not(all(mptcp_privileged, has_nc_openbsd)),
    ignore = "needs root, netns, MPTCP, nc.openbsd"
)]
#[test]
fn netcat_listen_and_connect() {
    let test = "nc -l / nc";
    if !require_privileges(test) || !programs_present(test, &["nc.openbsd", "nstat"]) {
        return;
    }
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

/// `nc -M ttl` sets IP_TTL and `nc -T tos` sets IPV6_TCLASS on IPv6 before connecting; MPTCP
/// refuses both (EOPNOTSUPP), and under Debian's shim nc exits with "set IP TTL: Operation
/// not supported". Under ours the socket becomes plain TCP and the transfer works.
#[cfg_attr(
    not(all(mptcp_privileged, has_nc_openbsd)),
    ignore = "needs root, netns, MPTCP, nc.openbsd"
)]
#[test]
fn netcat_with_options_mptcp_refuses() {
    let test = "nc -M / nc -T";
    if !require_privileges(test) || !programs_present(test, &["nc.openbsd", "nstat"]) {
        return;
    }
    let ns = Netns::new("ncopt").unwrap();
    let data = pattern_bytes(256 << 10, 13);
    for (server, client, port) in [
        (
            &["127.0.0.1", "9002"][..],
            &["-M", "5", "127.0.0.1", "9002"][..],
            9002,
        ),
        (
            &["-6", "::1", "9003"][..],
            &["-6", "-T", "af41", "::1", "9003"][..],
            9003,
        ),
    ] {
        let (received, log) = nc_transfer(&ns, server, client, port, &data);
        assert_same_bytes(&format!("{client:?}"), &received, &data);
        assert!(log.contains("rewritten to IPPROTO_MPTCP"), "{log}");
        assert!(log.contains("on an MPTCP socket failed with EOPNOTSUPP (95): the socket is now plain TCP, option set"), "{log}");
    }
    // The listeners were MPTCP, the clients plain TCP: no MPTCP connection was made.
    let c = mptcp_counters(&ns);
    assert_eq!(counter(&c, "MPTcpExtMPCapableSYNRX"), 0, "{c:?}");
    assert_eq!(counter(&c, "MPTcpExtMPCapableSYNTX"), 0, "{c:?}");
}

#[cfg_attr(
    not(all(
        mptcp_privileged,
        has_python3,
        has_curl,
        has_wget,
        has_iperf3,
        has_nc_openbsd
    )),
    ignore = "needs root, netns, MPTCP, python3, curl, wget, iperf3, nc.openbsd"
)]
#[test]
fn programs_still_work_with_mptcp_disabled() {
    let test = "fallback to TCP with net.mptcp.enabled=0";
    if !require_privileges(test)
        || !programs_present(
            test,
            &["python3", "curl", "wget", "iperf3", "nc.openbsd", "nstat"],
        )
    {
        return;
    }
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

#[cfg_attr(
    not(all(mptcp_privileged, has_nc_openbsd)),
    ignore = "needs root, netns, MPTCP, nc.openbsd"
)]
#[test]
fn udp_is_untouched() {
    let test = "nc -u";
    if !require_privileges(test) || !programs_present(test, &["nc.openbsd"]) {
        return;
    }
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
        let dir = TempDir::new("udp");
        let input = dir.0.join("in");
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

#[cfg_attr(not(has_nc_openbsd), ignore = "needs nc.openbsd")]
#[test]
fn unix_sockets_are_untouched() {
    let test = "nc -U";
    if !programs_present(test, &["nc.openbsd"]) {
        return;
    }
    let dir = TempDir::new("unix");
    let path = dir.0.join("sock");
    let path = path.to_str().unwrap();
    let data = pattern_bytes(64 << 10, 5);
    let input = dir.0.join("in");
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
