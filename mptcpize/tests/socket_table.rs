//! What a program sees under the shim, asked from inside the program: this test binary
//! runs itself under `mptcpize run` (the `probe_*` tests below are ignored on their own and
//! do nothing unless `MPTCPIZE_PROBE` says which probe to run) and reports what `socket()`, `getsockopt()` and
//! `setsockopt()` returned, as the program saw it.
//!
//! - the `SO_PROTOCOL` of every family × type × protocol combination, with and without
//!   `SOCK_NONBLOCK | SOCK_CLOEXEC`, compared with the same program run without the shim:
//!   only TCP stream requests change (to 262), flags are kept, and every other row —
//!   including errno — is identical; with `net.mptcp.enabled=0` every row is identical;
//! - sockets created from many threads at once, and after `fork`;
//! - options MPTCP refuses (`TCP_USER_TIMEOUT`, `IP_TTL`, `IPV6_UNICAST_HOPS`) set before
//!   `connect`: they succeed, on a plain TCP socket at the same fd with the same flags,
//!   options and bound address, and the connection carries the data.

mod support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::mem::size_of;

use libc::{c_int, socklen_t};
use mptcp_policy::{is_tcp_stream_request, IPPROTO_MPTCP};
use mptcp_tests::lab::{assert_same_bytes, pattern_bytes};
use mptcp_tests::Netns;
use support::{mptcpize, output_ok};

const PROBE_ENV: &str = "MPTCPIZE_PROBE";

/// Runs this test binary's probe `name` in `ns`, under the shim or not; returns its `ROW`
/// lines.
fn probe(ns: &Netns, name: &str, shim: bool) -> Vec<String> {
    probe_with(ns, name, shim, false)
}

/// [`probe`], with the shim's debug log on (`mptcpize run -d`) when `debug`.
fn probe_with(ns: &Netns, name: &str, shim: bool, debug: bool) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = if shim {
        let mut cmd = ns.command(mptcpize());
        cmd.arg("run");
        if debug {
            cmd.arg("-d");
        }
        cmd.arg(&exe);
        cmd
    } else {
        ns.command(&exe)
    };
    // The probe runs inside the test that asked for it: this binary, started again with only
    // that test and PROBE_ENV naming the probe.
    cmd.args([
        probe_parent(name),
        "--exact",
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(PROBE_ENV, name);
    let out = output_ok(&mut cmd, &format!("probe {name} (shim: {shim})"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("PROBE DONE"),
        "probe {name} did not finish:\n{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        debug && shim,
        stderr.contains("mptcpize: socket("),
        "debug log (debug: {debug}):\n{stderr}"
    );
    stdout
        .lines()
        // The harness prints `test NAME ... ` without a newline before the first row.
        .filter_map(|l| l.find("ROW ").map(|i| l[i + 4..].to_owned()))
        .collect()
}

/// The test that runs probe `name` (in a child process of itself, see [`probe_with`]).
fn probe_parent(name: &str) -> &'static str {
    match name {
        "table" => "so_protocol_table",
        "threads" => "sockets_from_threads_and_forks",
        "refused" => "refused_options_before_connect_give_plain_tcp",
        _ => panic!("no probe {name}"),
    }
}

/// Whether this process is the child started to run probe `name`.
fn probing(name: &str) -> bool {
    std::env::var_os(PROBE_ENV).as_deref() == Some(OsStr::new(name))
}

fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap()
}

fn get_int(fd: c_int, level: c_int, name: c_int) -> Result<c_int, c_int> {
    let mut v: c_int = 0;
    let mut len = size_of::<c_int>() as socklen_t;
    // SAFETY: an int-sized buffer.
    let r = unsafe { libc::getsockopt(fd, level, name, (&mut v as *mut c_int).cast(), &mut len) };
    if r == 0 {
        Ok(v)
    } else {
        Err(errno())
    }
}

fn set_int(fd: c_int, level: c_int, name: c_int, v: c_int) -> Result<(), c_int> {
    // SAFETY: an int-sized value.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const c_int).cast(),
            size_of::<c_int>() as socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

fn flags(fd: c_int) -> (bool, bool) {
    // SAFETY: fcntl on an open fd.
    let (fl, fd_fl) = unsafe {
        (
            libc::fcntl(fd, libc::F_GETFL),
            libc::fcntl(fd, libc::F_GETFD),
        )
    };
    (fl & libc::O_NONBLOCK != 0, fd_fl & libc::FD_CLOEXEC != 0)
}

const DOMAINS: [c_int; 4] = [
    libc::AF_INET,
    libc::AF_INET6,
    libc::AF_UNIX,
    libc::AF_NETLINK,
];
const TYPES: [c_int; 4] = [
    libc::SOCK_STREAM,
    libc::SOCK_DGRAM,
    libc::SOCK_SEQPACKET,
    libc::SOCK_RAW,
];
const FLAGS: [c_int; 4] = [
    0,
    libc::SOCK_NONBLOCK,
    libc::SOCK_CLOEXEC,
    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
];
/// No SCTP: creating one would load the kernel module on the test machine.
const PROTOCOLS: [c_int; 5] = [
    0,
    libc::IPPROTO_TCP,
    libc::IPPROTO_UDP,
    IPPROTO_MPTCP,
    libc::IPPROTO_ICMP,
];

/// The table probe: one `ROW domain type protocol = result` line per combination.
fn probe_table() {
    for domain in DOMAINS {
        for ty in TYPES {
            for flag in FLAGS {
                for proto in PROTOCOLS {
                    // SAFETY: socket(2) with integers.
                    let fd = unsafe { libc::socket(domain, ty | flag, proto) };
                    let result = if fd < 0 {
                        format!("errno {}", errno())
                    } else {
                        let protocol = get_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL);
                        let (nonblock, cloexec) = flags(fd);
                        // SAFETY: our fd.
                        unsafe { libc::close(fd) };
                        format!("protocol {protocol:?} nonblock {nonblock} cloexec {cloexec}")
                    };
                    println!("ROW {domain} {} {proto} = {result}", ty | flag);
                }
            }
        }
    }
    // Out of file descriptors: the MPTCP call fails with EMFILE, which a TCP call would
    // repeat, so the program sees exactly that (row key -1 -1 -1: not a socket() row).
    let mut held = Vec::new();
    // SAFETY: dup(2) of stdin until the table is full; all closed below.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        let saved = limit;
        limit.rlim_cur = 64;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        loop {
            let fd = libc::dup(0);
            if fd < 0 {
                break;
            }
            held.push(fd);
        }
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        println!("ROW -1 -1 -1 = fd {fd} errno {}", errno());
        for fd in held {
            libc::close(fd);
        }
        libc::setrlimit(libc::RLIMIT_NOFILE, &saved);
    }
    println!("PROBE DONE");
}

fn table(rows: &[String]) -> BTreeMap<(c_int, c_int, c_int), String> {
    rows.iter()
        .map(|row| {
            let (key, result) = row.split_once(" = ").unwrap();
            let k: Vec<c_int> = key.split(' ').map(|n| n.parse().unwrap()).collect();
            ((k[0], k[1], k[2]), result.to_owned())
        })
        .collect()
}

#[mptcp_tests::needs(privileged)]
#[test]
fn so_protocol_table() {
    if probing("table") {
        return probe_table();
    }
    let ns = Netns::new("table").unwrap();
    let plain = table(&probe(&ns, "table", false));
    let shimmed = table(&probe(&ns, "table", true));
    assert_eq!(
        plain.len(),
        DOMAINS.len() * TYPES.len() * FLAGS.len() * PROTOCOLS.len() + 1
    );
    assert_eq!(
        plain[&(-1, -1, -1)],
        format!("fd -1 errno {}", libc::EMFILE)
    );
    assert_eq!(
        plain.keys().collect::<Vec<_>>(),
        shimmed.keys().collect::<Vec<_>>()
    );
    let mut rewritten = 0;
    for (&(domain, ty, proto), without) in &plain {
        let with = &shimmed[&(domain, ty, proto)];
        if is_tcp_stream_request(domain, ty, proto) {
            // Same result, but MPTCP.
            let expected =
                without.replace("protocol Ok(6)", &format!("protocol Ok({IPPROTO_MPTCP})"));
            assert_ne!(
                &expected, without,
                "TCP row {domain} {ty} {proto}: {without}"
            );
            assert_eq!(with, &expected, "row {domain} {ty} {proto}");
            rewritten += 1;
        } else {
            assert_eq!(with, without, "row {domain} {ty} {proto} must be untouched");
        }
    }
    assert_eq!(rewritten, 2 * FLAGS.len() * 2);

    // Logging every decision changes no result and no errno.
    assert_eq!(table(&probe_with(&ns, "table", true, true)), shimmed);

    // With MPTCP disabled, the shim is invisible: every row, errno included, also while it
    // logs its fallbacks.
    ns.sysctl("net.mptcp.enabled", "0").unwrap();
    let plain = table(&probe(&ns, "table", false));
    let shimmed = table(&probe(&ns, "table", true));
    assert_eq!(plain, shimmed);
    assert_eq!(table(&probe_with(&ns, "table", true, true)), plain);
    assert!(plain[&(libc::AF_INET, libc::SOCK_STREAM, IPPROTO_MPTCP)]
        .contains(&format!("errno {}", libc::ENOPROTOOPT)));
}

/// Many threads create sockets at once; a forked child creates one too.
fn probe_threads() {
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(|| {
                let mut counts = BTreeMap::new();
                for _ in 0..2000 {
                    // SAFETY: socket(2) with integers.
                    let fd = unsafe {
                        libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0)
                    };
                    *counts
                        .entry(get_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL))
                        .or_insert(0) += 1;
                    // SAFETY: our fd.
                    unsafe { libc::close(fd) };
                }
                counts
            })
        })
        .collect();
    for t in threads {
        println!("ROW thread {:?}", t.join().unwrap());
    }
    // SAFETY: the child only makes async-signal-safe calls before _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_STREAM, 0) };
        let ok = get_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL) == Ok(IPPROTO_MPTCP);
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    println!("ROW fork child exit {}", libc::WEXITSTATUS(status));
    println!("PROBE DONE");
}

#[mptcp_tests::needs(privileged)]
#[test]
fn sockets_from_threads_and_forks() {
    if probing("threads") {
        return probe_threads();
    }
    let ns = Netns::new("threads").unwrap();
    let rows = probe(&ns, "threads", true);
    let expected_thread = format!("thread {{Ok({IPPROTO_MPTCP}): 2000}}");
    assert_eq!(
        rows.iter().filter(|r| **r == expected_thread).count(),
        8,
        "{rows:?}"
    );
    assert!(rows.contains(&"fork child exit 0".to_owned()), "{rows:?}");
}

/// A loopback TCP/MPTCP listener on `family`, with its port.
fn listener(family: c_int) -> (c_int, u16) {
    let addr = sockaddr(family, 0);
    // SAFETY: plain socket calls on our own fds and buffers.
    unsafe {
        let fd = libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        assert_eq!(
            libc::bind(fd, addr.0.as_ptr().cast(), addr.1),
            0,
            "bind {}",
            errno()
        );
        assert_eq!(libc::listen(fd, 8), 0);
        (fd, local_port(fd))
    }
}

fn sockaddr(family: c_int, port: u16) -> (Vec<u8>, socklen_t) {
    if family == libc::AF_INET {
        let mut a: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        a.sin_family = libc::AF_INET as _;
        a.sin_port = port.to_be();
        a.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&a as *const libc::sockaddr_in).cast::<u8>(),
                size_of::<libc::sockaddr_in>(),
            )
        };
        (bytes.to_vec(), size_of::<libc::sockaddr_in>() as socklen_t)
    } else {
        let mut a: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        a.sin6_family = libc::AF_INET6 as _;
        a.sin6_port = port.to_be();
        a.sin6_addr.s6_addr[15] = 1;
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&a as *const libc::sockaddr_in6).cast::<u8>(),
                size_of::<libc::sockaddr_in6>(),
            )
        };
        (bytes.to_vec(), size_of::<libc::sockaddr_in6>() as socklen_t)
    }
}

fn local_port(fd: c_int) -> u16 {
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as socklen_t;
    // SAFETY: a sockaddr_storage buffer.
    assert_eq!(
        unsafe {
            libc::getsockname(
                fd,
                (&mut storage as *mut libc::sockaddr_storage).cast(),
                &mut len,
            )
        },
        0
    );
    // Both sockaddr_in and sockaddr_in6 keep the port at offset 2.
    let bytes = unsafe {
        std::slice::from_raw_parts((&storage as *const libc::sockaddr_storage).cast::<u8>(), 4)
    };
    u16::from_be_bytes([bytes[2], bytes[3]])
}

/// Connects `fd` (blocking or not) to `port` on loopback, sends `data`, and checks that the
/// listener's accepted socket receives exactly that.
fn exchange(fd: c_int, family: c_int, listener: c_int, port: u16, data: &[u8]) {
    let addr = sockaddr(family, port);
    // SAFETY: plain socket calls on our own fds and buffers.
    unsafe {
        let r = libc::connect(fd, addr.0.as_ptr().cast(), addr.1);
        if r != 0 {
            assert_eq!(errno(), libc::EINPROGRESS, "connect");
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            assert_eq!(libc::poll(&mut pfd, 1, 5000), 1);
            assert_eq!(get_int(fd, libc::SOL_SOCKET, libc::SO_ERROR), Ok(0));
        }
        let conn = libc::accept(listener, std::ptr::null_mut(), std::ptr::null_mut());
        assert!(conn >= 0);
        let mut sent = 0;
        while sent < data.len() {
            let n = libc::send(fd, data[sent..].as_ptr().cast(), data.len() - sent, 0);
            if n < 0 && errno() == libc::EAGAIN {
                let mut pfd = libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                libc::poll(&mut pfd, 1, 5000);
                continue;
            }
            assert!(n > 0, "send: {}", errno());
            sent += n as usize;
        }
        libc::shutdown(fd, libc::SHUT_WR);
        let mut received = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            let n = libc::recv(conn, buf.as_mut_ptr().cast(), buf.len(), 0);
            assert!(n >= 0, "recv: {}", errno());
            if n == 0 {
                break;
            }
            received.extend_from_slice(&buf[..n as usize]);
        }
        assert_same_bytes("the server", &received, data);
        libc::close(conn);
    }
}

/// Sets options MPTCP refuses on sockets the shim made MPTCP, and reports what happened.
fn probe_refused() {
    let data = pattern_bytes(256 << 10, 9);
    let proto = |fd| get_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL);
    // SAFETY (whole block): plain socket calls on our own fds.
    unsafe {
        // 1. TCP_USER_TIMEOUT on a non-blocking, close-on-exec IPv4 client with options set.
        let (l4, port4) = listener(libc::AF_INET);
        let fd = libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        );
        println!("ROW user_timeout before {:?}", proto(fd));
        set_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1).unwrap();
        set_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1).unwrap();
        set_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 77).unwrap();
        let r = set_int(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, 5000);
        println!(
            "ROW user_timeout set {r:?} after {:?} flags {:?}",
            proto(fd),
            flags(fd)
        );
        println!(
            "ROW user_timeout kept {:?} {:?} {:?} {:?}",
            get_int(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT),
            get_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE),
            get_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY),
            get_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
        );
        exchange(fd, libc::AF_INET, l4, port4, &data);
        println!("ROW user_timeout exchanged");
        libc::close(fd);

        // 2. IP_TTL on a blocking client bound to an address and port before.
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        set_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1).unwrap();
        let local = sockaddr(libc::AF_INET, 0);
        assert_eq!(libc::bind(fd, local.0.as_ptr().cast(), local.1), 0);
        let bound_port = local_port(fd);
        let r = set_int(fd, libc::IPPROTO_IP, libc::IP_TTL, 7);
        println!(
            "ROW ttl set {r:?} after {:?} flags {:?} same_port {} ttl {:?} reuseaddr {:?}",
            proto(fd),
            flags(fd),
            local_port(fd) == bound_port,
            get_int(fd, libc::IPPROTO_IP, libc::IP_TTL),
            get_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR),
        );
        exchange(fd, libc::AF_INET, l4, port4, &data);
        println!("ROW ttl exchanged");
        libc::close(fd);

        // 3. IPV6_UNICAST_HOPS (the IPv6 twin of `nc -M`'s IP_TTL) on an IPv6 client.
        //    (IPV6_TCLASS is advisory and keeps MPTCP: tests/refused_options.rs.)
        let (l6, port6) = listener(libc::AF_INET6);
        let fd = libc::socket(libc::AF_INET6, libc::SOCK_STREAM, libc::IPPROTO_TCP);
        set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1).unwrap();
        let r = set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, 9);
        println!(
            "ROW hops set {r:?} after {:?} v6only {:?}",
            proto(fd),
            get_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY)
        );
        exchange(fd, libc::AF_INET6, l6, port6, &data);
        println!("ROW hops exchanged");
        libc::close(fd);

        // 4. An option plain TCP refuses too (IPv6 on an IPv4 socket): MPTCP is kept and
        //    errno is the original one.
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        let r = set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 0);
        println!("ROW v6only_on_v4 set {r:?} after {:?}", proto(fd));
        libc::close(fd);

        // 5. Already connected: too late to change the socket; the error is the program's.
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        exchange(fd, libc::AF_INET, l4, port4, b"x");
        let r = set_int(fd, libc::IPPROTO_IP, libc::IP_TTL, 7);
        println!("ROW connected set {r:?} after {:?}", proto(fd));
        libc::close(fd);

        // 6. A socket the program asked MPTCP for itself is not the shim's to change.
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, IPPROTO_MPTCP);
        let r = set_int(fd, libc::IPPROTO_IP, libc::IP_TTL, 7);
        println!("ROW explicit set {r:?} after {:?}", proto(fd));
        libc::close(fd);
    }
    println!("PROBE DONE");
}

#[mptcp_tests::needs(privileged)]
#[test]
fn refused_options_before_connect_give_plain_tcp() {
    if probing("refused") {
        return probe_refused();
    }
    let ns = Netns::new("sockopt").unwrap();
    let rows = probe(&ns, "refused", true);
    let mptcp = IPPROTO_MPTCP;
    let expected = [
        format!("user_timeout before Ok({mptcp})"),
        "user_timeout set Ok(()) after Ok(6) flags (true, true)".to_owned(),
        "user_timeout kept Ok(5000) Ok(1) Ok(1) Ok(77)".to_owned(),
        "user_timeout exchanged".to_owned(),
        "ttl set Ok(()) after Ok(6) flags (false, false) same_port true ttl Ok(7) reuseaddr Ok(1)"
            .to_owned(),
        "ttl exchanged".to_owned(),
        "hops set Ok(()) after Ok(6) v6only Ok(1)".to_owned(),
        "hops exchanged".to_owned(),
        format!(
            "v6only_on_v4 set Err({}) after Ok({mptcp})",
            libc::ENOPROTOOPT
        ),
        format!("connected set Err({}) after Ok({mptcp})", libc::EOPNOTSUPP),
        format!("explicit set Err({}) after Ok({mptcp})", libc::EOPNOTSUPP),
    ];
    assert_eq!(rows, expected);
}
