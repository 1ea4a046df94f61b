//! Connections that test MPTCP for real: the loopback self-test and `--connect HOST:PORT`.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV6, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use mptcp_socket::{ConnectionKind, Fallback, MptcpCounters, MptcpExt, MptcpListener, MptcpStream};
use serde_json::json;

use super::diagnosis;
use super::findings::{command_line, Finding, Status};

/// Bytes the self-test sends and expects back, byte for byte.
const SELF_TEST_BYTES: usize = 256 * 1024;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ (i >> 8) as u8).collect()
}

/// An MPTCP connection over loopback, checked end to end: MPTCP negotiated on both sides
/// (`TCP_IS_MPTCP` / `MPTCP_INFO`), `mptcp_info` readable, and the bytes echoed intact.
pub fn self_test(timeout: Duration) -> Finding {
    let started = Instant::now();
    match run_self_test(timeout) {
        Ok(outcome) => {
            let data = json!({
                "client_kind": outcome.client.to_string(),
                "server_kind": outcome.server.to_string(),
                "token": outcome.token,
                "bytes_echoed": SELF_TEST_BYTES,
                "bytes_acked_by_peer": outcome.bytes_acked,
                "milliseconds": started.elapsed().as_millis() as u64,
            });
            if outcome.client == ConnectionKind::Mptcp && outcome.server == ConnectionKind::Mptcp {
                Finding::new(
                    "self_test",
                    Status::Ok,
                    format!(
                        "an MPTCP connection over loopback negotiated MPTCP on both ends, \
                         mptcp_info is readable (token {:08x}), {} KiB echoed intact",
                        outcome.token,
                        SELF_TEST_BYTES / 1024
                    ),
                )
                .data(data)
            } else {
                Finding::new(
                    "self_test",
                    Status::Fail,
                    format!(
                        "an MPTCP connection over loopback was not MPTCP end to end (client: {}, \
                         server: {}): something on this host strips MPTCP (a BPF program, \
                         a sockmap, an LSM policy)",
                        outcome.client, outcome.server
                    ),
                )
                .fix("nstat -az 'MPTcp*'")
                .note("MPCapableSYNRX, MPCapableFallbackACK and MPCapableFallbackSYNACK show where MPTCP is lost")
                .data(data)
            }
        }
        Err(err) => Finding::new(
            "self_test",
            Status::Fail,
            format!("the loopback MPTCP connection failed: {err}"),
        )
        .fix("nstat -az 'MPTcp*'")
        .note("and look for MPTCP messages in `dmesg`"),
    }
}

struct SelfTestOutcome {
    client: ConnectionKind,
    server: ConnectionKind,
    token: u32,
    bytes_acked: Option<u64>,
}

fn run_self_test(timeout: Duration) -> io::Result<SelfTestOutcome> {
    let context =
        |what: &'static str| move |e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    // Fallback::Never: a plain TCP socket would prove nothing.
    let listener = MptcpListener::bind_with("127.0.0.1:0", Fallback::Never)
        .map_err(context("listen on 127.0.0.1"))?;
    let address = listener.local_addr()?;
    let data = pattern(SELF_TEST_BYTES);
    std::thread::scope(|scope| {
        let server = scope.spawn(|| -> io::Result<ConnectionKind> {
            let (mut stream, _) = listener.accept().map_err(context("accept"))?;
            stream.set_read_timeout(Some(timeout))?;
            stream.set_write_timeout(Some(timeout))?;
            let kind = stream.connection_kind()?;
            // Echo until the client shuts down its side.
            let mut buf = vec![0; 64 * 1024];
            loop {
                let n = stream.read(&mut buf).map_err(context("server read"))?;
                if n == 0 {
                    break;
                }
                stream
                    .write_all(&buf[..n])
                    .map_err(context("server write"))?;
            }
            Ok(kind)
        });
        let client = (|| -> io::Result<SelfTestOutcome> {
            let mut stream = MptcpStream::connect_timeout_with(&address, timeout, Fallback::Never)
                .map_err(context("connect to 127.0.0.1"))?;
            stream.set_read_timeout(Some(timeout))?;
            stream.set_write_timeout(Some(timeout))?;
            let kind = stream.connection_kind()?;
            let writer = stream.try_clone()?;
            let mut echoed = Vec::with_capacity(data.len());
            std::thread::scope(|inner| -> io::Result<()> {
                // Write and read at once: the echo would otherwise fill both buffers.
                let send = inner.spawn(|| -> io::Result<()> {
                    (&writer)
                        .write_all(&data)
                        .map_err(context("client write"))?;
                    writer.shutdown(Shutdown::Write)
                });
                stream
                    .read_to_end(&mut echoed)
                    .map_err(context("client read"))?;
                send.join()
                    .map_err(|_| io::Error::other("writer thread panicked"))?
            })?;
            if echoed != data {
                return Err(io::Error::other(format!(
                    "the echoed bytes differ from those sent ({} of {} bytes came back)",
                    echoed.len(),
                    data.len()
                )));
            }
            let (token, bytes_acked) = match kind {
                ConnectionKind::Mptcp => {
                    let info = stream
                        .mptcp_info()
                        .map_err(context("getsockopt(MPTCP_INFO)"))?;
                    (info.token(), info.bytes_acked())
                }
                _ => (0, None),
            };
            Ok(SelfTestOutcome {
                client: kind,
                server: ConnectionKind::Tcp,
                token,
                bytes_acked,
            })
        })();
        // The server thread ends when the client's side closes (or times out). A client
        // that never connected leaves it in accept(): wake it with a plain connection that
        // closes at once.
        if client.is_err() {
            let _ = std::net::TcpStream::connect_timeout(&address, timeout);
        }
        let server = server
            .join()
            .map_err(|_| io::Error::other("server thread panicked"))?;
        let mut outcome = client?;
        outcome.server = server?;
        Ok(outcome)
    })
}

/// A `--connect` target split into host and port: `HOST:PORT`, `[IPV6]:PORT`, and either
/// with a `%ZONE` on a link-local address (`fe80::1%eth0:80`, `[fe80::1%eth0]:80`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The host as given, without brackets.
    pub host: String,
    pub port: u16,
}

impl Target {
    /// Parses `target`; the error says what form is expected.
    pub fn parse(target: &str) -> Result<Target, String> {
        let expected = || {
            format!(
                "{target:?} is not HOST:PORT (for IPv6: [ADDRESS]:PORT, e.g. [::1]:8001 or \
                 [fe80::1%eth0]:80)"
            )
        };
        let (host, port) = match target.strip_prefix('[') {
            Some(rest) => {
                let (host, after) = rest.split_once(']').ok_or_else(expected)?;
                (host, after.strip_prefix(':').ok_or_else(expected)?)
            }
            // The last colon: `fe80::1%lo:80` is an address with a zone, then a port.
            None => target.rsplit_once(':').ok_or_else(expected)?,
        };
        let port = port.parse::<u16>().map_err(|_| expected())?;
        if host.is_empty() {
            return Err(expected());
        }
        Ok(Target {
            host: host.to_string(),
            port,
        })
    }

    /// The address when the host is a literal IP address (IPv6 with an optional `%ZONE`,
    /// an interface name or index, as `getaddrinfo(3)` takes it): no resolver is asked.
    fn numeric(&self) -> Option<Result<SocketAddr, String>> {
        if let Ok(v4) = self.host.parse::<Ipv4Addr>() {
            return Some(Ok(SocketAddr::from((v4, self.port))));
        }
        let (address, zone) = match self.host.split_once('%') {
            Some((address, zone)) => (address, Some(zone)),
            None => (self.host.as_str(), None),
        };
        let v6 = address.parse::<Ipv6Addr>().ok()?;
        let scope_id = match zone {
            None => 0,
            Some(zone) => match zone.parse::<u32>() {
                Ok(index) => index,
                Err(_) => match super::interfaces::index_of(zone) {
                    None => {
                        return Some(Err(format!(
                            "no interface {zone:?} here for the zone of {}",
                            self.host
                        )))
                    }
                    Some(index) => index,
                },
            },
        };
        Some(Ok(SocketAddr::V6(SocketAddrV6::new(
            v6, self.port, 0, scope_id,
        ))))
    }
}

/// Why a target has no address.
enum ResolveError {
    /// The resolver answered with an error.
    Failed(String),
    /// The resolver did not answer within the timeout.
    TimedOut,
}

/// The addresses of `target`, asking the resolver (`getaddrinfo(3)`, through std) on a
/// thread of its own so that the answer is waited for at most `timeout`: glibc's resolver
/// retries an unanswering name server for 10 s and more, whatever `--timeout` says. A
/// thread that has not answered is left behind; the process ends soon after.
fn resolve(target: &Target, timeout: Duration) -> Result<Vec<SocketAddr>, ResolveError> {
    if let Some(numeric) = target.numeric() {
        return numeric.map(|a| vec![a]).map_err(ResolveError::Failed);
    }
    // A Mutex and Condvar rather than a channel: std's channels import `sched_yield`, one
    // more symbol the dynamic loader binds at every start of the launcher.
    type Answer = Option<Result<Vec<SocketAddr>, String>>;
    let slot = Arc::new((Mutex::new(Answer::None), Condvar::new()));
    let query = (target.host.clone(), target.port);
    let resolver_slot = Arc::clone(&slot);
    let spawned = std::thread::Builder::new()
        .name("resolve".into())
        .spawn(move || {
            let answer = query
                .to_socket_addrs()
                .map(Iterator::collect::<Vec<_>>)
                .map_err(|e| e.to_string());
            let (answered, ready) = &*resolver_slot;
            *answered.lock().unwrap_or_else(|e| e.into_inner()) = Some(answer);
            ready.notify_one();
        });
    if let Err(e) = spawned {
        return Err(ResolveError::Failed(format!("cannot start a thread: {e}")));
    }
    let (answered, ready) = &*slot;
    let guard = answered.lock().unwrap_or_else(|e| e.into_inner());
    let (mut guard, _) = ready
        .wait_timeout_while(guard, timeout, |answer| answer.is_none())
        .unwrap_or_else(|e| e.into_inner());
    match guard.take() {
        Some(Ok(addresses)) if addresses.is_empty() => {
            Err(ResolveError::Failed("no address".to_string()))
        }
        Some(Ok(addresses)) => Ok(addresses),
        Some(Err(e)) => Err(ResolveError::Failed(e)),
        None => Err(ResolveError::TimedOut),
    }
}

/// `--connect HOST:PORT`: whether that path speaks MPTCP, fell back to TCP, or failed.
/// Resolving the name and each connection attempt are each bounded by `timeout`.
pub fn connect(target: &str, timeout: Duration, mptcp_available: bool) -> Finding {
    let parsed = match Target::parse(target) {
        Ok(parsed) => parsed,
        Err(err) => {
            return Finding::new("connect", Status::Fail, err.clone())
                .fix(command_line([
                    "mptcpize",
                    "check",
                    "--connect",
                    "HOST:PORT",
                ]))
                .note("HOST a name or an address; an IPv6 address in brackets")
                .data(json!({ "target": target, "result": "failed", "error": err }));
        }
    };
    let addresses: Vec<SocketAddr> = match resolve(&parsed, timeout) {
        Ok(addresses) => addresses,
        Err(err) => {
            let (summary, error) = match err {
                ResolveError::Failed(e) => (format!("{target}: cannot resolve: {e}"), e),
                ResolveError::TimedOut => {
                    let e = format!(
                        "the name resolver did not answer within {} s (--timeout)",
                        timeout.as_secs()
                    );
                    (format!("{target}: cannot resolve: {e}"), e)
                }
            };
            return Finding::new("connect", Status::Fail, summary)
                .fix(command_line(["getent", "ahosts", &parsed.host]))
                .note("how this host's resolver answers for the name: /etc/hosts, then the name servers of /etc/resolv.conf")
                .data(json!({ "target": target, "result": "failed", "error": error }));
        }
    };
    if !mptcp_available {
        return Finding::new(
            "connect",
            Status::Skip,
            format!("{target}: not tried, MPTCP sockets cannot be created here (see above)"),
        )
        .data(json!({ "target": target, "result": "skipped" }));
    }
    let (subflow_endpoints, limits) = diagnosis::path_manager_view();
    let mut errors = Vec::new();
    for address in &addresses {
        let before = MptcpCounters::read().unwrap_or_default();
        let started = Instant::now();
        let stream = match MptcpStream::connect_timeout_with(address, timeout, Fallback::Never) {
            Ok(stream) => stream,
            Err(err) => {
                // A reset to the MPTCP SYN: does the same port take plain TCP? Then a box
                // rejects MPTCP (the kernel does not retry without it).
                let plain = (err.kind() == io::ErrorKind::ConnectionRefused)
                    .then(|| std::net::TcpStream::connect_timeout(address, timeout).ok())
                    .flatten();
                if plain.is_some() {
                    let reason = diagnosis::Reason::MptcpRefused;
                    let (sentence, fix) = diagnosis::describe(reason);
                    return Finding::new(
                        "connect",
                        Status::Fail,
                        format!(
                            "{target} ({address}): {sentence} [{}] (MPTCP: {err}; plain TCP: \
                             connected)",
                            reason.word()
                        ),
                    )
                    .fix(fix)
                    .data(json!({
                        "target": target,
                        "address": address.to_string(),
                        "result": "refused_mptcp",
                        "reason": reason.word(),
                        "evidence": format!("MPTCP connect: {err}; plain TCP connect: ok"),
                    }));
                }
                errors.push(format!("{address}: {err}"));
                continue;
            }
        };
        let millis = started.elapsed().as_millis() as u64;
        let kind_at_connect = match stream.connection_kind() {
            Ok(kind) => kind,
            Err(err) => {
                errors.push(format!(
                    "{address}: cannot read the connection's kind: {err}"
                ));
                continue;
            }
        };
        let wanted_subflows = limits.map_or(0, |l| (l.subflows as usize).min(subflow_endpoints));
        let settled = settle(&stream, kind_at_connect, wanted_subflows, timeout);
        let evidence = diagnosis::Evidence {
            kind_at_connect,
            kind: settled.kind,
            extra_subflows: settled.extra_subflows,
            counters: MptcpCounters::read().unwrap_or_default().since(&before),
            subflow_endpoints,
            limits,
        };
        let explained = diagnosis::explain(&evidence);
        let paths = usize::from(settled.extra_subflows) + 1;
        let data = |result: &str| {
            json!({
                "target": target,
                "address": address.to_string(),
                "result": result,
                "connect_ms": millis,
                "paths": if result == "mptcp" { Some(paths) } else { None },
                "reason": explained.as_ref().map(|e| e.0.word()),
                "evidence": explained.as_ref().map(|e| e.1.as_str()),
                "bytes_from_server": settled.bytes_read,
            })
        };
        return match (settled.kind, explained.clone()) {
            (ConnectionKind::Mptcp, None) => {
                // The path manager adds subflows only once data has flowed; --connect sends
                // nothing, so a silent server shows one path for that reason alone.
                let idle = if paths == 1 && settled.bytes_read == 0 {
                    "; extra paths open only once data flows, and the server sent nothing"
                } else {
                    ""
                };
                Finding::new(
                    "connect",
                    Status::Ok,
                    format!(
                        "{target} ({address}): speaks MPTCP (MP_CAPABLE answered), connected in \
                         {millis} ms, {paths} path(s){idle}"
                    ),
                )
                .data(data("mptcp"))
            }
            (ConnectionKind::Mptcp, Some((reason, how))) => {
                let (sentence, fix) = diagnosis::describe(reason);
                Finding::new(
                    "connect",
                    Status::Ok,
                    format!(
                        "{target} ({address}): speaks MPTCP (MP_CAPABLE answered), connected in {millis} ms; {} [{}] ({how})",
                        sentence.trim_start_matches("speaks MPTCP, "),
                        reason.word()
                    ),
                )
                .fix(fix)
                .data(data("mptcp"))
            }
            (_, explained) => {
                let (reason, how) =
                    explained.unwrap_or((diagnosis::Reason::FallbackServer, String::new()));
                let (sentence, fix) = diagnosis::describe(reason);
                // The one reason a command fixes here: the same as the `blackhole` finding's.
                let fix = match (reason, super::setup::sysctl("blackhole_timeout")) {
                    (diagnosis::Reason::BlackholeDisabled, Some(timeout)) => {
                        format!("sysctl -w net.mptcp.blackhole_timeout={timeout}")
                    }
                    _ => fix.to_string(),
                };
                Finding::new(
                    "connect",
                    Status::Warn,
                    format!(
                        "{target} ({address}): connected, but {sentence} [{}] ({how})",
                        reason.word()
                    ),
                )
                .fix(fix)
                .note(format!(
                    "the kernel's counters show each step: nstat -az 'MPTcp*'; the options on \
                     the wire: tcpdump -ni any 'tcp port {}'",
                    address.port()
                ))
                .data(data("fell_back"))
            }
        };
    }
    Finding::new(
        "connect",
        Status::Fail,
        format!("{target}: could not connect: {}", errors.join("; ")),
    )
    .fix(command_line([
        "nc",
        "-vz",
        &parsed.host,
        &parsed.port.to_string(),
    ]))
    .note("whether something listens there and is reachable")
    .data(json!({ "target": target, "result": "failed", "error": errors.join("; ") }))
}

/// How long `--connect` watches a connection after the handshake, at most (and at most
/// `--timeout`): an extra subflow joins within a round trip or two on any real path, and a
/// dropped MP_JOIN SYN is first retransmitted after 1 s (the initial RTO).
const SETTLE: Duration = Duration::from_secs(1);

/// `TCP_ESTABLISHED` (`include/net/tcp_states.h`).
const TCP_ESTABLISHED: u8 = 1;

/// What a connection became while [`settle`] watched it.
struct Settled {
    kind: ConnectionKind,
    extra_subflows: u8,
    bytes_read: u64,
}

/// Watches an MPTCP connection for [`SETTLE`]: reads (and discards) whatever the server
/// sends on its own, a banner such as SSH's or SMTP's (its DSS mapping is what reveals a
/// box stripping options after the handshake; nothing is ever sent to the server), and
/// stops early once `wanted_subflows` extra subflows are up or the connection fell back.
fn settle(
    stream: &MptcpStream,
    kind_at_connect: ConnectionKind,
    wanted_subflows: usize,
    timeout: Duration,
) -> Settled {
    // Established subflows only: mptcpi_subflows also counts a join still in SYN_SENT
    // (one whose MP_JOIN SYN a box drops), measured on 6.18.
    let extra = |s: &MptcpStream| {
        s.subflows().map_or(0, |subflows| {
            let established = subflows
                .iter()
                .filter(|sf| {
                    sf.tcp
                        .as_ref()
                        .is_some_and(|t| t.state() == TCP_ESTABLISHED)
                })
                .count();
            u8::try_from(established.saturating_sub(1)).unwrap_or(u8::MAX)
        })
    };
    let mut settled = Settled {
        kind: kind_at_connect,
        extra_subflows: extra(stream),
        bytes_read: 0,
    };
    if kind_at_connect != ConnectionKind::Mptcp {
        return settled;
    }
    let deadline = Instant::now() + SETTLE.min(timeout);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = vec![0u8; 16 * 1024];
    let mut open = true;
    while Instant::now() < deadline {
        if open {
            match (&*stream).read(&mut buf) {
                Ok(0) => open = false,
                Ok(n) => settled.bytes_read += n as u64,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => open = false,
            }
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
        settled.kind = stream.connection_kind().unwrap_or(settled.kind);
        settled.extra_subflows = extra(stream);
        let enough = wanted_subflows > 0 && usize::from(settled.extra_subflows) >= wanted_subflows;
        if settled.kind != ConnectionKind::Mptcp || enough {
            break;
        }
    }
    settled
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, port: u16) -> Result<Target, String> {
        Ok(Target {
            host: host.to_string(),
            port,
        })
    }

    #[test]
    fn targets_parse_with_and_without_brackets() {
        assert_eq!(Target::parse("example.org:443"), target("example.org", 443));
        assert_eq!(Target::parse("10.0.0.1:80"), target("10.0.0.1", 80));
        assert_eq!(Target::parse("[::1]:8001"), target("::1", 8001));
        assert_eq!(Target::parse("[fe80::1%lo]:80"), target("fe80::1%lo", 80));
        assert_eq!(Target::parse("fe80::1%lo:80"), target("fe80::1%lo", 80));
        for bad in [
            "nocolon",
            "[::1]8001",
            "[::1",
            "host:",
            "host:x",
            ":80",
            "[]:80",
            "h:70000",
        ] {
            let err = Target::parse(bad).unwrap_err();
            assert!(err.contains("is not HOST:PORT"), "{bad}: {err}");
        }
    }

    #[test]
    fn literal_addresses_need_no_resolver() {
        let numeric = |t: &str| Target::parse(t).unwrap().numeric();
        assert_eq!(
            numeric("[::1]:8001").unwrap().unwrap(),
            "[::1]:8001".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            numeric("127.0.0.1:9").unwrap().unwrap(),
            "127.0.0.1:9".parse::<SocketAddr>().unwrap()
        );
        let lo = super::super::interfaces::index_of("lo").expect("lo has an index");
        assert!(lo > 0);
        for form in [
            "[fe80::1%lo]:80",
            "fe80::1%lo:80",
            &format!("[fe80::1%{lo}]:80"),
        ] {
            match numeric(form).unwrap().unwrap() {
                SocketAddr::V6(a) => {
                    assert_eq!((a.scope_id(), a.port()), (lo, 80), "{form}");
                    assert_eq!(a.ip(), &"fe80::1".parse::<Ipv6Addr>().unwrap());
                }
                other => panic!("{form}: {other}"),
            }
        }
        assert!(numeric("[fe80::1%no-such-if0]:80").unwrap().is_err());
        assert!(numeric("example.org:80").is_none());
    }
}
