//! Unmodified programs under the workspace's `mptcpize run` across the multipath lab:
//! `python3 -m http.server` serves a file that `curl` downloads. Both paths carry it
//! (`ss -Mni`, the interfaces' counters, `nstat`), the file arrives byte for byte, and with
//! MPTCP disabled in the client's namespace the same pair still works, over TCP, and
//! `mptcpize run -d` says so.
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use mptcp_tests::lab::{self, Background, Lab, Side};
use mptcp_tests::{require_privileges, require_program, workspace_bin};

const PORT: u16 = 8000;
const FILE_LEN: u64 = 32 << 20;

/// A directory of the test's own under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        // Tests in this file run in parallel: the tag keeps them apart, the pid apart
        // from other runs.
        let dir = std::env::temp_dir().join(format!("mptcp-lab-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mptcpize() -> PathBuf {
    workspace_bin("mptcpize")
}

/// `mptcpize run python3 -m http.server` in the server namespace, serving `dir`, bound to
/// `bind`, an any address (joins and announced addresses arrive there); returns once it
/// listens. `0.0.0.0` gives an AF_INET socket, on which python's `IPV6_V6ONLY` setsockopt
/// fails (for TCP as well) and must leave the socket MPTCP; `::` a dual-stack one (IPv4
/// clients as `::ffff:10.31.1.1`), python's default where IPv6 is configured.
fn http_server(lab: &Lab, dir: &Path, bind: &str) -> Background {
    let mut cmd = lab.server().command(mptcpize());
    cmd.args(["run", "python3", "-m", "http.server"])
        .arg(PORT.to_string())
        .args(["--bind", bind, "--directory"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut server = Background::spawn(&mut cmd).unwrap();
    let start = Instant::now();
    loop {
        let listening = lab.server().run("ss", &["-Hltn"]).unwrap();
        if listening.contains(&format!(":{PORT} ")) {
            return server;
        }
        server.check_running().unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "http.server did not listen within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts `mptcpize run [-d] curl` in the client namespace, downloading the file to `out`;
/// `curl -w` prints size, total time and time to the first byte.
fn curl(lab: &Lab, debug: bool, out: &Path) -> std::process::Child {
    let mut cmd = lab.client().command(mptcpize());
    cmd.arg("run");
    if debug {
        cmd.arg("-d");
    }
    cmd.args(["curl", "-sS", "--max-time", "30", "-w"])
        .arg("%{size_download} %{time_total} %{time_starttransfer}")
        .arg("-o")
        .arg(out)
        .arg(format!("http://{}:{PORT}/data.bin", lab.server_addr(1)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

/// (bytes, Mbit/s from the first byte to the last) from curl's `-w` line; panics with
/// curl's stderr when it failed.
fn curl_result(out: &Output) -> (u64, f64) {
    assert!(
        out.status.success(),
        "curl under mptcpize failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = text.split_whitespace().collect();
    let size: u64 = f[0].parse().unwrap();
    let total: f64 = f[1].parse().unwrap();
    let first: f64 = f[2].parse().unwrap();
    (size, size as f64 * 8.0 / (total - first) / 1e6)
}

#[cfg_attr(
    not(all(mptcp_privileged, has_python3, has_curl)),
    ignore = "needs root, netns, MPTCP, python3, curl"
)]
#[test]
fn aggregation_under_mptcpize_http_server_and_curl() {
    if !require_privileges("aggregation_under_mptcpize_http_server_and_curl")
        || !require_program("aggregation_under_mptcpize_http_server_and_curl", "curl")
        || !require_program("aggregation_under_mptcpize_http_server_and_curl", "python3")
    {
        return;
    }
    let lab = Lab::builder().paths([50, 50]).build().unwrap();
    let dir = TempDir::new("agg");
    lab::write_pattern_file(&dir.0.join("data.bin"), FILE_LEN).unwrap();
    let _server = http_server(&lab, &dir.0, "0.0.0.0");
    let before: Vec<_> = (1..=2)
        .map(|p| lab.link_stats(Side::Server, p).unwrap())
        .collect();
    let out_file = dir.0.join("received.bin");
    let mut child = curl(&lab, false, &out_file);

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
    lab::verify_file(&out_file, FILE_LEN).unwrap();
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

#[cfg_attr(
    not(all(mptcp_privileged, has_python3, has_curl)),
    ignore = "needs root, netns, MPTCP, python3, curl"
)]
#[test]
fn mptcpize_on_a_client_without_mptcp_falls_back_to_tcp() {
    if !require_privileges("mptcpize_on_a_client_without_mptcp_falls_back_to_tcp")
        || !require_program(
            "mptcpize_on_a_client_without_mptcp_falls_back_to_tcp",
            "curl",
        )
        || !require_program(
            "mptcpize_on_a_client_without_mptcp_falls_back_to_tcp",
            "python3",
        )
    {
        return;
    }
    let lab = Lab::builder()
        .paths([50, 50])
        .client_mptcp(false)
        .build()
        .unwrap();
    let dir = TempDir::new("dis");
    let len = 4 << 20;
    lab::write_pattern_file(&dir.0.join("data.bin"), len).unwrap();
    let _server = http_server(&lab, &dir.0, "::");
    let out_file = dir.0.join("received.bin");
    let out = curl(&lab, true, &out_file).wait_with_output().unwrap();
    let (size, _) = curl_result(&out);
    assert_eq!(size, len);
    lab::verify_file(&out_file, len).unwrap();
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
