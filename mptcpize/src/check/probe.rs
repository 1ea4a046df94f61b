//! Connections that test MPTCP for real: the loopback self-test and `--connect HOST:PORT`.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV6, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use mptcp_socket::{ConnectionKind, Fallback, MptcpExt, MptcpListener, MptcpStream};
use serde_json::json;

use super::report::{command_line, Finding, Status};

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
                Err(_) => {
                    let name = std::ffi::CString::new(zone).unwrap_or_default();
                    // SAFETY: a NUL-terminated string.
                    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
                        0 => {
                            return Some(Err(format!(
                                "no interface {zone:?} here for the zone of {}",
                                self.host
                            )))
                        }
                        index => index,
                    }
                }
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
    let mut errors = Vec::new();
    for address in &addresses {
        let started = Instant::now();
        let stream = match MptcpStream::connect_timeout_with(address, timeout, Fallback::Never) {
            Ok(stream) => stream,
            Err(err) => {
                errors.push(format!("{address}: {err}"));
                continue;
            }
        };
        let millis = started.elapsed().as_millis() as u64;
        let kind = match stream.connection_kind() {
            Ok(kind) => kind,
            Err(err) => {
                errors.push(format!(
                    "{address}: cannot read the connection's kind: {err}"
                ));
                continue;
            }
        };
        let data = |result: &str| json!({ "target": target, "address": address.to_string(), "result": result, "connect_ms": millis });
        return match kind {
            ConnectionKind::Mptcp => Finding::new(
                "connect",
                Status::Ok,
                format!("{target} ({address}): speaks MPTCP (MP_CAPABLE answered), connected in {millis} ms"),
            )
            .data(data("mptcp")),
            ConnectionKind::FellBack | ConnectionKind::Tcp => Finding::new(
                "connect",
                Status::Warn,
                format!(
                    "{target} ({address}): connected, but fell back to TCP: the server does not \
                     speak MPTCP, or a middlebox on the path stripped the MPTCP option"
                ),
            )
            .fix("mptcpize run SERVER-PROGRAM [ARGS]...")
            .note(format!(
                "on the server, if it is yours, with net.mptcp.enabled=1 there; if the server \
                 does speak MPTCP, a middlebox strips it: compare the SYN-ACK's options on both \
                 ends with tcpdump -ni any 'tcp port {}'",
                address.port()
            ))
            .data(data("fell_back")),
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
        // SAFETY: a NUL-terminated string.
        let lo = unsafe { libc::if_nametoindex(c"lo".as_ptr()) };
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
