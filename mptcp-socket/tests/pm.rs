//! The path manager (`mptcp_socket::pm`) against the kernel, each test in network
//! namespaces of its own, checked from outside with `ip mptcp endpoint|limits|monitor` and
//! `ss -Mni`.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::time::{Duration, Instant};

use mptcp_socket::pm::{
    Endpoint, EndpointFlags, Event, Events, Limits, NewEndpoint, Operation, PathManager,
};
use mptcp_socket::{ConnectionKind, MptcpExt, MptcpListener, MptcpStream};
use mptcp_tests::lab::{assert_same_bytes, Endpoints, Lab};
use mptcp_tests::Netns;

/// A namespace with a veth pair `v0`/`v1` (both ends inside), `v0` up with 10.40.0.1/24,
/// 10.40.0.2/24 and fd40::1/64.
fn netns_with_addresses(tag: &str) -> Netns {
    let ns = Netns::new(tag).expect("create namespace");
    for line in [
        "ip link add v0 type veth peer name v1",
        "ip link set v0 up",
        "ip link set v1 up",
        "ip addr add 10.40.0.1/24 dev v0",
        "ip addr add 10.40.0.2/24 dev v0",
        "ip addr add fd40::1/64 dev v0 nodad",
    ] {
        ns.run_line(line).unwrap();
    }
    ns
}

/// `add_endpoint(endpoint)` fails with `errno`, and its message says what to do
/// (contains `hint`).
fn add_refused(pm: &PathManager, endpoint: &NewEndpoint, errno: i32, hint: &str) {
    let err = pm.add_endpoint(endpoint).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(errno), "{err}");
    assert!(err.to_string().contains(hint), "{err}");
}

/// `ip mptcp ARGS` in `ns`, one trimmed string per output line.
fn ip_mptcp(ns: &Netns, args: &[&str]) -> Vec<String> {
    let mut full = vec!["mptcp"];
    full.extend_from_slice(args);
    ns.run("ip", &full)
        .unwrap()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// `if_nametoindex(3)` in the calling thread's namespace (`/sys/class/net` shows the
/// namespace sysfs was mounted in, not the thread's).
fn if_index(name: &str) -> u32 {
    let name = std::ffi::CString::new(name).unwrap();
    // SAFETY: a NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert_ne!(index, 0, "no interface {name:?}");
    index
}

fn lines(endpoints: &[Endpoint]) -> Vec<String> {
    endpoints.iter().map(ToString::to_string).collect()
}

#[mptcp_tests::needs(privileged)]
#[test]
fn endpoints_agree_with_ip_mptcp() {
    let ns = netns_with_addresses("pmep");
    ns.enter(|| {
        let pm = PathManager::new().expect("open the path manager");
        pm.flush_endpoints().unwrap();
        assert_eq!(pm.endpoints().unwrap(), vec![]);
        assert!(ip_mptcp(&ns, &["endpoint", "show"]).is_empty());

        // Added through the API: the kernel lists exactly what was asked for.
        let a = pm
            .add_endpoint(
                &NewEndpoint::new("10.40.0.1".parse().unwrap())
                    .interface("v0")
                    .subflow(),
            )
            .unwrap();
        assert_eq!(a.address, "10.40.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(a.interface, Some(if_index("v0")));
        assert_eq!(a.interface_name().as_deref(), Some("v0"));
        assert_eq!(a.flags, EndpointFlags::SUBFLOW);
        assert_eq!(a.port, None);
        let b = pm
            .add_endpoint(
                &NewEndpoint::new("10.40.0.2".parse().unwrap())
                    .id(9)
                    .port(1000)
                    .signal()
                    .backup(),
            )
            .unwrap();
        assert_eq!((b.id, b.port, b.interface), (9, Some(1000), None));
        assert_eq!(b.flags, EndpointFlags::SIGNAL | EndpointFlags::BACKUP);
        let c = pm
            .add_endpoint(
                &NewEndpoint::new("fd40::1".parse().unwrap())
                    .subflow()
                    .fullmesh(),
            )
            .unwrap();
        assert_eq!(c.flags, EndpointFlags::SUBFLOW | EndpointFlags::FULLMESH);
        assert!(
            c.id != a.id && c.id != b.id && a.id != b.id,
            "{a:?} {b:?} {c:?}"
        );

        // The listing prints exactly as `ip mptcp endpoint show` does, in the same order.
        let listed = pm.endpoints().unwrap();
        assert_eq!(listed.len(), 3);
        assert_eq!(lines(&listed), ip_mptcp(&ns, &["endpoint", "show"]));
        for e in [&a, &b, &c] {
            assert_eq!(&pm.endpoint(e.id).unwrap(), e);
            assert_eq!(
                vec![e.to_string()],
                ip_mptcp(&ns, &["endpoint", "show", "id", &e.id.to_string()])
            );
        }

        // Added by `ip`: read back field by field.
        ns.run_line("ip mptcp endpoint add 10.40.0.3 id 20 dev v1 subflow backup")
            .unwrap();
        let d = pm.endpoint(20).unwrap();
        assert_eq!(d.address, "10.40.0.3".parse::<IpAddr>().unwrap());
        assert_eq!(d.interface_name().as_deref(), Some("v1"));
        assert_eq!(d.flags, EndpointFlags::SUBFLOW | EndpointFlags::BACKUP);

        // Flags: set_backup/set_fullmesh keep the other flag; set_endpoint_flags sets both.
        pm.set_backup(a.id, true).unwrap();
        assert_eq!(
            pm.endpoint(a.id).unwrap().flags,
            EndpointFlags::SUBFLOW | EndpointFlags::BACKUP
        );
        pm.set_fullmesh(a.id, true).unwrap();
        pm.set_backup(a.id, false).unwrap();
        assert_eq!(
            pm.endpoint(a.id).unwrap().flags,
            EndpointFlags::SUBFLOW | EndpointFlags::FULLMESH
        );
        pm.set_endpoint_flags(a.id, EndpointFlags::BACKUP).unwrap();
        assert_eq!(
            pm.endpoint(a.id).unwrap().flags,
            EndpointFlags::SUBFLOW | EndpointFlags::BACKUP
        );
        pm.set_fullmesh(c.id, false).unwrap();
        assert_eq!(
            ip_mptcp(&ns, &["endpoint", "show", "id", &c.id.to_string()]),
            vec![format!("fd40::1 id {} subflow", c.id)]
        );
        assert_eq!(
            lines(&pm.endpoints().unwrap()),
            ip_mptcp(&ns, &["endpoint", "show"])
        );

        // Errors keep the errno and say what to do.
        let new = |addr: &str| NewEndpoint::new(addr.parse().unwrap());
        add_refused(
            &pm,
            &new("10.40.0.1").subflow(),
            libc::EEXIST,
            "ip mptcp endpoint show",
        );
        // With a port the kernel first tries to listen on it.
        let in_use = new("10.40.0.2").port(1000).signal();
        add_refused(&pm, &in_use, libc::EADDRINUSE, "ip mptcp endpoint show");
        let not_here = new("10.40.0.77").port(1000).signal();
        add_refused(&pm, &not_here, libc::EADDRNOTAVAIL, "ip address add");
        let no_dev = new("10.40.0.9").interface("nosuchif").subflow();
        add_refused(&pm, &no_dev, libc::ENODEV, "nosuchif");
        let err = pm.delete_endpoint(200).unwrap_err();
        assert!(matches!(err.operation(), Operation::DeleteEndpoint(200)));
        assert!(err.raw_os_error().is_some(), "{err}");
        assert!(err.to_string().contains("no endpoint has id 200"), "{err}");
        let err = pm.endpoint(200).unwrap_err();
        assert!(err.to_string().contains("no endpoint has id 200"), "{err}");
        let io: std::io::Error = err.into();
        assert!(io.raw_os_error().is_none() && io.to_string().contains("200"));

        // Delete one, then flush.
        pm.delete_endpoint(b.id).unwrap();
        let shown = ip_mptcp(&ns, &["endpoint", "show"]);
        assert_eq!(shown.len(), 3);
        assert!(
            !shown.iter().any(|l| l.starts_with("10.40.0.2 ")),
            "{shown:?}"
        );
        assert_eq!(lines(&pm.endpoints().unwrap()), shown);
        pm.flush_endpoints().unwrap();
        assert!(pm.endpoints().unwrap().is_empty());
        assert!(ip_mptcp(&ns, &["endpoint", "show"]).is_empty());
    })
    .unwrap();
}

#[mptcp_tests::needs(privileged)]
#[test]
fn limits_agree_with_ip_mptcp() {
    let ns = Netns::new("pmlim").unwrap();
    ns.enter(|| {
        let pm = PathManager::new().unwrap();
        let before = pm.limits().unwrap();
        assert_eq!(vec![before.to_string()], ip_mptcp(&ns, &["limits", "show"]));

        pm.set_limits(Limits {
            subflows: 3,
            add_addr_accepted: 5,
        })
        .unwrap();
        assert_eq!(
            ip_mptcp(&ns, &["limits", "show"]),
            vec!["add_addr_accepted 5 subflows 3"]
        );
        assert_eq!(
            pm.limits().unwrap(),
            Limits {
                subflows: 3,
                add_addr_accepted: 5
            }
        );

        ns.run_line("ip mptcp limits set subflows 1 add_addr_accepted 0")
            .unwrap();
        assert_eq!(
            pm.limits().unwrap(),
            Limits {
                subflows: 1,
                add_addr_accepted: 0
            }
        );

        pm.set_limits(Limits {
            subflows: Limits::MAX,
            add_addr_accepted: Limits::MAX,
        })
        .unwrap();
        let err = pm
            .set_limits(Limits {
                subflows: Limits::MAX + 1,
                add_addr_accepted: 0,
            })
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
        assert!(err.to_string().contains("at most 8"), "{err}");
        assert_eq!(
            pm.limits().unwrap(),
            Limits {
                subflows: Limits::MAX,
                add_addr_accepted: Limits::MAX
            }
        );
    })
    .unwrap();
}

/// Drops every capability of the calling thread (`capset(2)`; capabilities are per thread).
fn drop_capabilities() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: header and two data elements, as _LINUX_CAPABILITY_VERSION_3 requires.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    assert_eq!(rc, 0, "capset: {}", std::io::Error::last_os_error());
}

#[mptcp_tests::needs(privileged)]
#[test]
fn changes_without_cap_net_admin_fail_with_a_hint() {
    let ns = Netns::new("pmperm").unwrap();
    ns.enter(|| {
        drop_capabilities();
        let pm = PathManager::new().expect("reading needs no capability");
        pm.limits().expect("reading the limits needs no capability");
        pm.endpoints()
            .expect("listing endpoints needs no capability");
        let err = pm
            .set_limits(Limits {
                subflows: 1,
                add_addr_accepted: 1,
            })
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
        assert!(err.to_string().contains("CAP_NET_ADMIN"), "{err}");
        let err = pm
            .add_endpoint(&NewEndpoint::new("10.40.0.1".parse().unwrap()).subflow())
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{err}");
        let io: std::io::Error = err.into();
        assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);
    })
    .unwrap();
}

/// The next event of `events` accepted by `keep`, within 10 s; the events skipped are
/// returned too, for the failure message.
fn next_event(events: &mut Events, what: &str, keep: impl Fn(&Event) -> bool) -> Event {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut skipped = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left).expect("receive event") {
            Some(event) if keep(&event) => return event,
            Some(event) => skipped.push(event),
            None => panic!("no {what} event within 10 s; other events: {skipped:#?}"),
        }
    }
}

/// In the calling thread's namespace: the path manager with limits `subflows 2
/// add_addr_accepted 0` and `endpoint` added, and its event stream.
fn path_manager_with(endpoint: &NewEndpoint) -> (PathManager, Events, Endpoint) {
    let pm = PathManager::new().unwrap();
    pm.set_limits(Limits {
        subflows: 2,
        add_addr_accepted: 0,
    })
    .unwrap();
    let endpoint = pm.add_endpoint(endpoint).unwrap();
    let events = pm.events().unwrap();
    (pm, events, endpoint)
}

#[mptcp_tests::needs(privileged)]
#[test]
fn events_of_a_connection_with_two_subflows() {
    // Two paths between a client and a server namespace, no endpoints yet.
    let lab = Lab::builder()
        .paths([50, 50])
        .endpoints(Endpoints::None)
        .build()
        .unwrap();
    let (client_ns, server_ns) = (lab.client(), lab.server());
    let port = 8471;
    let server_addr = lab.server_sockaddr(1, port);

    // The client opens an extra subflow from path 2's address, bound to path 2's interface.
    let (client_pm, mut client_events, endpoint, p2c_index) = client_ns
        .enter(|| {
            let (pm, events, endpoint) = path_manager_with(
                &NewEndpoint::new(IpAddr::V4(lab.client_addr(2)))
                    .interface(lab.client_if(2))
                    .subflow(),
            );
            (pm, events, endpoint, if_index(&lab.client_if(2)))
        })
        .unwrap();
    assert_eq!(
        ip_mptcp(client_ns, &["endpoint", "show"]),
        vec![format!(
            "{} id {} subflow dev {}",
            lab.client_addr(2),
            endpoint.id,
            lab.client_if(2)
        )]
    );
    // The server announces path 2's address (ADD_ADDR); the client's add_addr_accepted 0
    // keeps it from opening a subflow to it, but the announcement is an event all the same.
    let (server_pm, mut server_events, signal) = server_ns
        .enter(|| {
            path_manager_with(
                &NewEndpoint::new(IpAddr::V4(lab.server_addr(2)))
                    .interface(lab.server_if(2))
                    .signal(),
            )
        })
        .unwrap();

    // `ip mptcp monitor` in the client namespace sees the same events from outside.
    let mut monitor = client_ns
        .command("ip")
        .args(["mptcp", "monitor"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // What it prints, collected as it prints it.
    let printed = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let printed = printed.clone();
        let mut out = monitor.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = out.read(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                printed.lock().unwrap().push_str(&text);
            }
        })
    };
    // It has subscribed once it prints the events of a listener opened and closed here
    // (a line each, named or `[UNKNOWN 15]` by an older iproute2).
    let subscribed = mptcp_tests::wait_until(Instant::now() + Duration::from_secs(10), || {
        client_ns
            .enter(|| MptcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).map(drop))
            .unwrap()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20));
        !printed.lock().unwrap().is_empty()
    });
    assert!(
        subscribed,
        "`ip mptcp monitor` printed no event within 10 s"
    );

    // The listener stays open for the joins (MP_JOIN SYNs arrive on it) and is bound to
    // the any address so the join to the server's initial address from path 2 is accepted.
    let listener = server_ns
        .enter(|| MptcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))))
        .unwrap()
        .unwrap();
    let listening = next_event(&mut server_events, "LISTENER_CREATED", |e| {
        matches!(e, Event::ListenerCreated { .. })
    });
    assert_eq!(
        listening,
        Event::ListenerCreated {
            local: SocketAddr::from(([0, 0, 0, 0], port))
        }
    );

    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i * 7 + i / 251) as u8).collect();
    let server = std::thread::scope(|scope| {
        let server = scope.spawn(|| {
            let (mut stream, peer) = listener.accept().unwrap();
            let mut received = Vec::new();
            stream.read_to_end(&mut received).unwrap();
            stream.write_all(b"done").unwrap();
            (peer, received)
        });

        let mut stream = client_ns
            .enter(|| MptcpStream::connect(server_addr))
            .unwrap()
            .unwrap();
        let local = stream.local_addr().unwrap();
        assert_eq!(stream.connection_kind().unwrap(), ConnectionKind::Mptcp);

        let created = next_event(&mut client_events, "CREATED", |e| {
            matches!(e, Event::Created(_))
        });
        let Event::Created(connection) = &created else {
            unreachable!()
        };
        let token = connection.token;
        assert_eq!(
            (connection.local, connection.remote),
            (local, server_addr),
            "{created}"
        );
        assert!(!connection.server_side, "{created}");
        // The client is fully established (and opens extra subflows) only once data flows.
        stream.write_all(&data).unwrap();
        let established = next_event(&mut client_events, "ESTABLISHED", |e| {
            matches!(e, Event::Established(_))
        });
        let Event::Established(c) = &established else {
            unreachable!()
        };
        assert_eq!((c.token, c.local, c.remote), (token, local, server_addr));
        let announced = next_event(&mut client_events, "ANNOUNCED", |e| {
            matches!(e, Event::Announced { .. })
        });
        assert_eq!(
            announced,
            Event::Announced {
                token,
                remote_id: signal.id,
                address: IpAddr::V4(lab.server_addr(2)),
                // The kernel fills in the connection's port when the peer announced none.
                port: Some(port)
            }
        );

        let sub = next_event(&mut client_events, "SUB_ESTABLISHED", |e| {
            matches!(e, Event::SubflowEstablished(_))
        });
        let Event::SubflowEstablished(subflow) = &sub else {
            unreachable!()
        };
        assert_eq!(subflow.token, token, "{sub}");
        assert_eq!(subflow.local.ip(), IpAddr::V4(lab.client_addr(2)), "{sub}");
        assert_eq!(subflow.remote, server_addr, "{sub}");
        assert_eq!(subflow.local_id, endpoint.id, "{sub}");
        assert_eq!(subflow.remote_id, 0, "{sub}");
        assert_eq!(subflow.interface, Some(p2c_index), "{sub}");
        assert!(!subflow.backup && subflow.error.is_none(), "{sub}");

        // The socket and `ss` agree: two subflows, the second from path 2's address.
        let subflows = stream.subflows().unwrap();
        assert_eq!(subflows.len(), 2, "{subflows:?}");
        assert!(
            subflows.iter().any(|s| s.local == subflow.local),
            "{subflows:?}"
        );
        let ss = client_ns.run("ss", &["-Mni"]).unwrap();
        assert!(ss.contains("subflows:1"), "ss -Mni: {ss}");

        // The client makes its endpoint a backup (MP_PRIO, seen by the server below), and
        // the server withdraws its announced address (RM_ADDR, seen by the client).
        client_pm.set_backup(endpoint.id, true).unwrap();
        // The server must have received the MP_PRIO before the subflow goes away below
        // (its SUB_PRIORITY event is checked later): wait for the kernel's count of it.
        assert!(
            mptcp_tests::wait_until(Instant::now() + Duration::from_secs(10), || {
                server_ns
                    .mptcp_counters()
                    .is_ok_and(|c| c.get("MPTcpExtMPPrioRx").is_some_and(|&n| n >= 1))
            }),
            "the server did not receive the MP_PRIO: {:?}",
            server_ns.mptcp_counters()
        );
        server_pm.delete_endpoint(signal.id).unwrap();
        let removed = next_event(&mut client_events, "REMOVED", |e| {
            matches!(e, Event::Removed { .. })
        });
        assert_eq!(
            removed,
            Event::Removed {
                token,
                remote_id: signal.id
            }
        );
        // Deleting the client's endpoint closes the subflow it created.
        client_pm.delete_endpoint(endpoint.id).unwrap();
        let closed = next_event(&mut client_events, "SUB_CLOSED", |e| {
            matches!(e, Event::SubflowClosed(_))
        });
        let Event::SubflowClosed(gone) = &closed else {
            unreachable!()
        };
        assert_eq!(gone.token, token, "{closed}");
        assert_eq!(
            (gone.local, gone.remote),
            (subflow.local, subflow.remote),
            "{closed}"
        );
        assert_eq!(gone.local_id, endpoint.id, "{closed}");
        // `backup` is the peer's flag for the subflow: this side's MP_PRIO shows on the server.
        assert!(!gone.backup, "{closed}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while stream.subflows().unwrap().len() != 1 {
            assert!(Instant::now() < deadline, "{:?}", stream.subflows());
            std::thread::sleep(Duration::from_millis(20));
        }

        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut done = Vec::new();
        stream.read_to_end(&mut done).unwrap();
        assert_eq!(done, b"done");
        drop(stream);
        let closed = next_event(&mut client_events, "CLOSED", |e| {
            matches!(e, Event::Closed { .. })
        });
        assert_eq!(closed, Event::Closed { token });

        let (peer, received) = server.join().unwrap();
        assert_eq!(peer, local);
        assert_same_bytes("the server", &received, &data);
        (token, local, subflow.clone())
    });
    let (client_token, client_local, client_subflow) = server;

    // The server side saw the same connection, from its side.
    let created = next_event(&mut server_events, "CREATED", |e| {
        matches!(e, Event::Created(_))
    });
    let Event::Created(c) = &created else {
        unreachable!()
    };
    assert!(c.server_side, "{created}");
    assert_eq!(
        (c.local, c.remote),
        (server_addr, client_local),
        "{created}"
    );
    let server_token = c.token;
    let sub = next_event(&mut server_events, "SUB_ESTABLISHED", |e| {
        matches!(e, Event::SubflowEstablished(_))
    });
    let Event::SubflowEstablished(s) = &sub else {
        unreachable!()
    };
    assert_eq!(s.token, server_token);
    assert_eq!(
        (s.local, s.remote),
        (client_subflow.remote, client_subflow.local),
        "{sub}"
    );
    let priority = next_event(&mut server_events, "SUB_PRIORITY", |e| {
        matches!(e, Event::SubflowPriority(_))
    });
    let Event::SubflowPriority(p) = &priority else {
        unreachable!()
    };
    assert_eq!(p.token, server_token, "{priority}");
    assert_eq!((p.local, p.remote), (s.local, s.remote), "{priority}");
    assert!(p.backup, "{priority}");
    next_event(&mut server_events, "CLOSED", |e| {
        *e == Event::Closed {
            token: server_token,
        }
    });
    drop(listener);
    let closed = next_event(&mut server_events, "LISTENER_CLOSED", |e| {
        matches!(e, Event::ListenerClosed { .. })
    });
    assert_eq!(
        closed,
        Event::ListenerClosed {
            local: SocketAddr::from(([0, 0, 0, 0], port))
        }
    );

    // `ip mptcp monitor` printed the same token for the same four events (waited for, as
    // it prints them when the kernel sends them).
    let token = format!("token={client_token:08x}");
    let names = ["CREATED", "ESTABLISHED", "SF_ESTABLISHED", "CLOSED"];
    let sport = format!("sport={}", client_subflow.local.port());
    let has = |printed: &str, name: &str| {
        printed
            .lines()
            .any(|l| l.contains(&format!("{name}]")) && l.contains(&token))
    };
    mptcp_tests::wait_until(Instant::now() + Duration::from_secs(10), || {
        let printed = printed.lock().unwrap();
        names.iter().all(|name| has(&printed, name)) && printed.contains(&sport)
    });
    let _ = monitor.kill();
    let _ = monitor.wait();
    reader.join().unwrap();
    let printed = printed.lock().unwrap().clone();
    for name in names {
        assert!(
            has(&printed, name),
            "`ip mptcp monitor` did not print {name} with {token}:\n{printed}"
        );
    }
    assert!(
        printed.contains(&sport),
        "`ip mptcp monitor` did not print the subflow's port:\n{printed}"
    );
}
