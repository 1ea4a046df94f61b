//! Connections that test MPTCP for real: the loopback self-test and `--connect HOST:PORT`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use mptcp_socket::{ConnectionKind, Fallback, MptcpExt, MptcpListener, MptcpStream};
use serde_json::json;

use super::report::{Finding, Status};

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

/// `--connect HOST:PORT`: whether that path speaks MPTCP, fell back to TCP, or failed.
pub fn connect(target: &str, timeout: Duration, mptcp_available: bool) -> Finding {
    let addresses: Vec<SocketAddr> = match target.to_socket_addrs() {
        Ok(addresses) => addresses.collect(),
        Err(err) => {
            return Finding::new(
                "connect",
                Status::Fail,
                format!("{target}: cannot resolve: {err}"),
            )
            .fix(format!(
                "getent ahosts {}",
                target.rsplit_once(':').map(|(h, _)| h).unwrap_or(target)
            ))
            .data(json!({ "target": target, "result": "failed", "error": err.to_string() }));
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
    .fix(format!(
        "check that something listens there and is reachable: nc -vz {}",
        target.replace(':', " ")
    ))
    .data(json!({ "target": target, "result": "failed", "error": errors.join("; ") }))
}
