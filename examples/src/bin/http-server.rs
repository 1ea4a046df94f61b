//! An HTTP server (axum) on an MPTCP listener; every response reports the MPTCP state of
//! the connection it travels on.
//!
//! ```text
//! cargo run -p mptcp-examples --bin http-server -- 127.0.0.1:8080
//! curl http://127.0.0.1:8080/          # plain TCP: curl does not ask for MPTCP
//! cargo run -p mptcp-examples --bin http-client -- http://127.0.0.1:8080/
//! ```
//!
//! The listener is tokio's own `TcpListener` (from `mptcp_socket::tokio::bind`), so
//! `axum::serve` takes it unchanged. The connection's socket is reached through axum's
//! connect-info hook: at accept time it keeps a duplicate of the socket's descriptor, and
//! each request asks the kernel about the connection then (`MptcpExt` works on any fd).

use mptcp_examples::outln;
use std::fmt::Write;
use std::net::SocketAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::process::ExitCode;
use std::sync::Arc;

use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::routing::get;
use axum::serve::IncomingStream;
use axum::Router;
use clap::Parser;
use mptcp_socket::{ConnectionKind, MptcpExt};
use tokio::net::TcpListener;

/// Serves HTTP over MPTCP; `GET /` describes the caller's connection.
#[derive(Parser)]
struct Args {
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
}

/// What a handler knows about the connection its request came on.
#[derive(Clone, Debug)]
struct Connection {
    peer: SocketAddr,
    /// A duplicate (`dup(2)`) of the connection's socket: the same kernel socket, so the
    /// MPTCP questions answered on it are about this connection, now.
    socket: Option<Arc<OwnedFd>>,
}

impl Connected<IncomingStream<'_, TcpListener>> for Connection {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Connection {
        Connection {
            peer: *stream.remote_addr(),
            socket: stream.io().as_fd().try_clone_to_owned().ok().map(Arc::new),
        }
    }
}

async fn describe(ConnectInfo(conn): ConnectInfo<Connection>) -> String {
    let mut out = format!("peer: {}\n", conn.peer);
    let Some(socket) = conn.socket else {
        out.push_str("connection: unknown (could not duplicate the socket)\n");
        return out;
    };
    let kind = socket.connection_kind();
    match &kind {
        Ok(kind) => writeln!(out, "connection: {kind}").unwrap(),
        Err(err) => writeln!(out, "connection: unknown ({err})").unwrap(),
    }
    if kind.is_ok_and(|k| k == ConnectionKind::Mptcp) {
        if let Ok(info) = socket.mptcp_info() {
            writeln!(out, "mptcp token: {:08x}", info.token()).unwrap();
            writeln!(
                out,
                "mptcp bytes received: {}",
                info.bytes_received().unwrap_or(0)
            )
            .unwrap();
        }
        if let Ok(subflows) = socket.subflows() {
            writeln!(out, "subflows: {}", subflows.len()).unwrap();
            for sf in subflows {
                let rtt = sf.tcp.map_or(String::from("?"), |t| {
                    format!("{:.3} ms", t.rtt().as_secs_f64() * 1e3)
                });
                writeln!(out, "  {} <-> {} rtt {rtt}", sf.local, sf.remote).unwrap();
            }
        }
    } else {
        out.push_str("your client did not use MPTCP: try `mptcpize run curl …`\n");
    }
    out
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let Some((listener, local, kind)) =
        mptcp_examples::server::listen("http-server", args.listen).await
    else {
        return ExitCode::FAILURE;
    };
    outln!("http-server: listening on http://{local}/ ({kind})");

    let app = Router::new().route("/", get(describe));
    let service = app.into_make_service_with_connect_info::<Connection>();
    if let Err(err) = axum::serve(listener, service).await {
        eprintln!("http-server: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
