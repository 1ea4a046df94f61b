//! The MPTCP "hello" server: listens over MPTCP and tells each client whether its
//! connection really uses MPTCP (the idea of check.mptcp.dev, working offline).
//!
//! ```text
//! cargo run -p mptcp-examples --bin hello-server -- 127.0.0.1:7777
//! ```
//!
//! Where the kernel has no MPTCP (e.g. `net.mptcp.enabled=0`) it says why and serves over
//! plain TCP. This example uses the blocking API (`MptcpListener`), one thread per client.

use mptcp_examples::outln;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use mptcp_socket::{available, Availability, ConnectionKind, MptcpExt, MptcpListener, MptcpStream};

/// Listens over MPTCP and tells every client whether it really uses MPTCP.
#[derive(Parser)]
struct Args {
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(default_value = "127.0.0.1:7777")]
    listen: SocketAddr,
    /// Exit after this many clients (default: serve forever).
    #[arg(long)]
    count: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Default policy (Fallback::Tcp): plain TCP where the kernel has no MPTCP.
    let listener = match MptcpListener::bind(args.listen) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("hello-server: cannot listen on {}: {err}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let local = listener
        .local_addr()
        .expect("getsockname on a bound socket");
    let server_mptcp = listener
        .connection_kind()
        .is_ok_and(ConnectionKind::is_mptcp);
    if server_mptcp {
        outln!("hello-server: listening on {local} over MPTCP");
    } else {
        let why = match available() {
            Ok(Availability::Unavailable(reason)) => reason.to_string(),
            _ => "the kernel refused an MPTCP socket".to_string(),
        };
        outln!("hello-server: MPTCP is not available ({why}); listening on {local} over plain TCP");
    }

    let mut clients = Vec::new();
    for stream in listener.incoming().take(args.count.unwrap_or(usize::MAX)) {
        match stream {
            Ok(stream) => clients.push(std::thread::spawn(move || greet(stream, server_mptcp))),
            Err(err) => eprintln!("hello-server: accept: {err}"),
        }
    }
    for client in clients {
        let _ = client.join();
    }
    ExitCode::SUCCESS
}

/// Says hello, and what the connection really is, seen from the server's side.
fn greet(stream: MptcpStream, server_mptcp: bool) {
    let peer = match stream.peer_addr() {
        Ok(peer) => peer,
        Err(err) => return eprintln!("hello-server: getpeername: {err}"),
    };
    let (log, answer) = match stream.connection_kind() {
        Ok(ConnectionKind::Mptcp) => ("MPTCP", "You are using MPTCP.".to_string()),
        Ok(ConnectionKind::FellBack) => (
            "MPTCP that fell back to TCP",
            "You are not using MPTCP: the connection fell back to TCP \
             (something on the path does not speak MPTCP)."
                .to_string(),
        ),
        Ok(ConnectionKind::Tcp) if !server_mptcp => (
            "plain TCP",
            "You are not using MPTCP: MPTCP is not available on this server.".to_string(),
        ),
        Ok(ConnectionKind::Tcp) => (
            "plain TCP",
            "You are not using MPTCP: your client opened a plain TCP connection.".to_string(),
        ),
        Err(err) => (
            "an unknown kind",
            format!("I cannot tell whether you use MPTCP ({err})."),
        ),
    };
    outln!("hello-server: {peer} connected over {log}");
    let mut out = BufWriter::new(&stream);
    if let Err(err) = writeln!(out, "Hello {peer}! {answer}").and_then(|()| out.flush()) {
        eprintln!("hello-server: writing to {peer}: {err}");
    }
}
