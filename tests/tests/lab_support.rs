//! The lab's own checks: it builds what it says (namespaces, shaped paths, limits,
//! endpoints), shapes to the rate it was given, can cut a path, runs beside another lab,
//! and leaves nothing behind, also when the test panics. Plain TCP only: these hold
//! whatever the MPTCP library does.
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use mptcp_tests::lab::{self, Amount, Endpoints, Lab, Side};

/// Names of the root namespace's interfaces.
fn root_interfaces() -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| Some(l.split(':').nth(1)?.trim().split('@').next()?.to_string()))
        .collect()
}

/// The lab's interface names that are in the root namespace now but were not `before`.
/// (Other programs on the machine may add interfaces of their own meanwhile.)
fn lab_names_in_root(before: &[String]) -> Vec<String> {
    root_interfaces()
        .into_iter()
        .filter(|n| !before.contains(n))
        .filter(|n| n.len() == 3 && n.starts_with('p') && (n.ends_with('c') || n.ends_with('s')))
        .collect()
}

fn ns_exists(name: &str) -> bool {
    std::path::Path::new(&format!("/run/netns/{name}")).exists()
}

/// A plain TCP transfer from client to server over `path` for `secs`, verified; returns
/// the steady goodput in Mbit/s.
fn tcp_goodput(lab: &Lab, path: usize, secs: f64) -> f64 {
    let listener = lab
        .server()
        .enter(|| TcpListener::bind((lab.server_addr(path), 0)))
        .unwrap()
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        lab::receive_pattern(&mut s, None).unwrap()
    });
    let mut c = lab
        .client()
        .enter(|| TcpStream::connect(addr))
        .unwrap()
        .unwrap();
    lab::send_pattern(
        &mut c,
        Amount::For(Duration::from_secs_f64(secs)),
        128 * 1024,
    )
    .unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let r = server.join().unwrap();
    r.steady_mbit(Duration::from_millis(300))
}

#[mptcp_tests::needs(privileged)]
#[test]
fn lab_builds_shapes_and_cleans_up() {
    let root_before = root_interfaces();
    let root_mptcp = std::fs::read_to_string("/proc/sys/net/mptcp/enabled").unwrap();
    let (cli, srv);
    {
        let lab = Lab::builder().paths([40, 20]).backup(2).build().unwrap();
        cli = lab.client().name().to_string();
        srv = lab.server().name().to_string();
        assert!(ns_exists(&cli) && ns_exists(&srv));

        // Addresses, tbf on both ends, limits, endpoints.
        let addrs = lab.client().run("ip", &["-br", "addr"]).unwrap();
        assert!(
            addrs.contains("10.31.1.1/24") && addrs.contains("10.31.2.1/24"),
            "{addrs}"
        );
        for side in [Side::Client, Side::Server] {
            let q = lab.ns(side).run("tc", &["qdisc", "show"]).unwrap();
            assert!(q.contains("tbf") && q.contains("rate 40Mbit"), "{q}");
            assert!(q.contains("rate 20Mbit"), "{q}");
            let limits = lab.ns(side).run("ip", &["mptcp", "limits"]).unwrap();
            assert!(limits.contains("subflows 2"), "{limits}");
            assert_eq!(
                lab.ns(side)
                    .run("sysctl", &["-n", "net.mptcp.enabled"])
                    .unwrap()
                    .trim(),
                "1"
            );
        }
        let ep = lab.client().run("ip", &["mptcp", "endpoint"]).unwrap();
        assert!(
            ep.contains("10.31.2.1 id 2 subflow backup dev p2c"),
            "endpoint 2 should be a backup subflow endpoint:\n{ep}"
        );
        lab.set_backup(2, false).unwrap();
        let ep = lab.client().run("ip", &["mptcp", "endpoint"]).unwrap();
        assert!(ep.contains("10.31.2.1 id 2 subflow dev p2c"), "{ep}");

        // Nothing appeared in, or changed in, the root namespace.
        assert_eq!(lab_names_in_root(&root_before), Vec::<String>::new());
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/mptcp/enabled").unwrap(),
            root_mptcp
        );

        // The shaping holds: plain TCP gets ~0.956 of the rate (1448 payload bytes per
        // 1514-byte frame) and never more than the rate.
        for (path, rate) in [(1, 40.0), (2, 20.0)] {
            let before = lab.link_stats(Side::Client, path).unwrap();
            let mbit = tcp_goodput(&lab, path, 1.5);
            assert!(
                mbit > 0.85 * rate && mbit < 1.0 * rate,
                "path {path} shaped to {rate} Mbit/s carried {mbit:.1} Mbit/s"
            );
            // The counters saw the data leave on this path's interface.
            let sent = (lab.link_stats(Side::Client, path).unwrap() - before).tx_bytes;
            assert!(
                sent > 1_000_000,
                "path {path}: only {sent} bytes on the interface"
            );
        }

        // A cut path carries nothing; it works again once restored.
        lab.path_down(1).unwrap();
        let link = lab
            .client()
            .run("ip", &["-o", "link", "show", "p1c"])
            .unwrap();
        assert!(link.contains("state DOWN"), "{link}");
        let r = lab.client().enter(|| {
            TcpStream::connect_timeout(&lab.server_sockaddr(1, 9), Duration::from_millis(300))
        });
        assert!(r.unwrap().is_err(), "connect over a cut path must fail");
        lab.path_up(1).unwrap();
        assert!(tcp_goodput(&lab, 1, 0.6) > 30.0);
    }
    assert!(
        !ns_exists(&cli) && !ns_exists(&srv),
        "namespaces left behind"
    );
    assert_eq!(root_interfaces(), root_before);
}

#[mptcp_tests::needs(privileged)]
#[test]
fn two_labs_run_side_by_side() {
    // Same interface names and addresses in both, built at the same time.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Lab::builder().build().unwrap());
        let b = s.spawn(|| Lab::builder().paths([30, 30, 30]).build().unwrap());
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.client().name(), b.client().name());
    assert_eq!(b.paths(), 3);
    // Each lab's traffic stays in it: cutting a's path 1 leaves b's working.
    a.path_down(1).unwrap();
    assert!(tcp_goodput(&b, 1, 0.6) > 20.0);
    let ep = b.client().run("ip", &["mptcp", "endpoint"]).unwrap();
    assert_eq!(ep.lines().count(), 3, "{ep}");
}

#[mptcp_tests::needs(privileged)]
#[test]
fn lab_is_removed_when_the_test_panics() {
    let mut names = Vec::new();
    let mut sleeper_started = false;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lab = Lab::builder()
            .endpoints(Endpoints::ServerSignal)
            .build()
            .unwrap();
        names.push(lab.client().name().to_string());
        names.push(lab.server().name().to_string());
        // A process left running inside must not keep anything alive.
        let mut sleeper = lab.server().command("sleep");
        sleeper.arg("30");
        // Forgotten on purpose: the lab itself must stop what runs inside it.
        std::mem::forget(lab::Background::spawn(&mut sleeper).unwrap());
        // Running inside before the panic (checked after it: a panic here would be caught).
        sleeper_started = mptcp_tests::wait_until(Instant::now() + Duration::from_secs(5), || {
            !lab.server().pids().is_empty()
        });
        panic!("test failure inside a lab");
    }));
    assert!(result.is_err());
    assert!(sleeper_started, "the process left inside did not start");
    assert_eq!(names.len(), 2);
    for n in &names {
        assert!(!ns_exists(n), "{n} left behind after a panic");
    }
}

#[test]
fn bad_lab_specs_are_refused() {
    // No privileges needed: these fail before anything is created.
    assert!(Lab::builder().paths([50]).build().is_err());
    assert!(Lab::builder().paths([50, 0]).build().is_err());
    assert!(Lab::builder().backup(3).build().is_err());
    let e = Lab::builder()
        .endpoints(Endpoints::ServerSignal)
        .backup(2)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("ClientSubflow"), "{e}");
    let _ = std::io::stderr().flush();
}
