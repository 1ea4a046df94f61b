//! Unmodified programs under the workspace's `mptcpize run` across the multipath lab:
//! `python3 -m http.server` serves a file that `curl` downloads. Both paths carry it
//! (`ss -Mni`, the interfaces' counters, `nstat`), the file arrives byte for byte, and with
//! MPTCP disabled in the client's namespace the same pair still works, over TCP, and
//! `mptcpize run -d` says so.
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mptcp_tests::lab::{Lab, Side};
use mptcp_tests::served::{curl_write_out, ServedFile};

const PORT: u16 = 8000;
const FILE_LEN: u64 = 32 << 20;

/// Starts `cmd` with its stdout and stderr piped, to read them when it ends.
fn spawn_piped(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

/// curl's `-w` format: size, total time, time to the first byte.
const CURL_TIMES: &str = "%{size_download} %{time_total} %{time_starttransfer}";

/// (bytes, Mbit/s from the first byte to the last) from curl's [`CURL_TIMES`] line; panics
/// with curl's stderr when it failed.
fn curl_result(out: &Output) -> (u64, f64) {
    let f = curl_write_out(out);
    let size: u64 = f[0].parse().unwrap();
    let total: f64 = f[1].parse().unwrap();
    let first: f64 = f[2].parse().unwrap();
    (size, size as f64 * 8.0 / (total - first) / 1e6)
}

#[mptcp_tests::needs(privileged, "python3", "curl")]
#[test]
fn aggregation_under_mptcpize_http_server_and_curl() {
    let lab = Lab::builder().paths([50, 50]).build().unwrap();
    // 0.0.0.0: an AF_INET socket, on which python's `IPV6_V6ONLY` setsockopt fails (for
    // TCP as well) and must leave the socket MPTCP.
    let file = ServedFile::start(&lab, "agg", FILE_LEN, PORT, "0.0.0.0");
    let before: Vec<_> = (1..=2)
        .map(|p| lab.link_stats(Side::Server, p).unwrap())
        .collect();
    let mut child = spawn_piped(file.curl(&lab, &[], Some(CURL_TIMES)));

    // While it runs: one MPTCP connection with one extra subflow, seen from both sides
    // (polled until both show it, or curl has ended).
    let peer = format!("{}:{PORT}", lab.server_addr(1));
    let (mut client_ss, mut server_ss) = (Vec::new(), Vec::new());
    mptcp_tests::wait_until(Instant::now() + Duration::from_secs(10), || {
        client_ss = lab.client().mptcp_connections().unwrap();
        server_ss = lab.server().mptcp_connections().unwrap();
        let seen = client_ss
            .iter()
            .any(|c| c.peer == peer && c.extra_subflows == 1)
            && server_ss
                .iter()
                .any(|c| c.state == "ESTAB" && c.extra_subflows == 1);
        seen || child.try_wait().unwrap().is_some()
    });
    let out = child.wait_with_output().unwrap();
    let (size, mbit) = curl_result(&out);

    let conn: Vec<_> = client_ss.iter().filter(|c| c.peer == peer).collect();
    assert_eq!(
        conn.len(),
        1,
        "curl's connection is not MPTCP (client ss -Mni): {client_ss:#?}"
    );
    assert_eq!(conn[0].extra_subflows, 1, "{}", conn[0].detail);
    assert!(
        server_ss
            .iter()
            .any(|c| c.state == "ESTAB" && c.extra_subflows == 1),
        "the server's accepted socket is not MPTCP with 2 subflows: {server_ss:#?}"
    );
    assert_eq!(size, FILE_LEN);
    file.verify_download();
    eprintln!("mptcpize curl over 2 x 50 Mbit/s: {size} bytes at {mbit:.1} Mbit/s");
    // As for the native test: one 50 Mbit/s path carries at most ~47.9 Mbit/s.
    assert!(
        mbit > 1.5 * 50.0,
        "goodput {mbit:.1} Mbit/s is not above 75"
    );
    for p in 1..=2 {
        let sent = (lab.link_stats(Side::Server, p).unwrap() - before[p - 1]).tx_bytes;
        assert!(
            sent as f64 > 0.3 * FILE_LEN as f64,
            "path {p} carried {sent} of {FILE_LEN} bytes"
        );
    }
    let c = lab.client().mptcp_counters().unwrap();
    assert!(
        c["MPTcpExtMPCapableSYNACKRX"] >= 1 && c["MPTcpExtMPJoinSynAckRx"] >= 1,
        "{c:?}"
    );
}

#[mptcp_tests::needs(privileged, "python3", "curl")]
#[test]
fn mptcpize_on_a_client_without_mptcp_falls_back_to_tcp() {
    let lab = Lab::builder()
        .paths([50, 50])
        .client_mptcp(false)
        .build()
        .unwrap();
    let len = 4 << 20;
    // `::`: a dual-stack socket (IPv4 clients as `::ffff:10.31.1.1`), python's default
    // where IPv6 is configured.
    let file = ServedFile::start(&lab, "dis", len, PORT, "::");
    let out = spawn_piped(file.curl(&lab, &["-d"], Some(CURL_TIMES)))
        .wait_with_output()
        .unwrap();
    let (size, _) = curl_result(&out);
    assert_eq!(size, len);
    file.verify_download();
    // The shim reports the fallback (-d), with the kernel's answer.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("fell back to TCP") && stderr.contains("ENOPROTOOPT"),
        "mptcpize run -d did not report the fallback:\n{stderr}"
    );
    // And the kernel agrees: no MPTCP handshake was even tried from the client, and the
    // server (MPTCP listener) got a plain TCP SYN.
    let c = lab.client().mptcp_counters().unwrap();
    assert_eq!(c["MPTcpExtMPCapableSYNTX"], 0, "{c:?}");
    let s = lab.server().mptcp_counters().unwrap();
    assert_eq!(s["MPTcpExtMPCapableSYNRX"], 0, "{s:?}");
    // The server listens over MPTCP all the same (ss -Mnl lists MPTCP listeners).
    let listeners = lab.server().run("ss", &["-Mnl"]).unwrap();
    assert!(
        listeners.contains(&format!(":{PORT}")),
        "the server's listener is not MPTCP:\n{listeners}"
    );
}
