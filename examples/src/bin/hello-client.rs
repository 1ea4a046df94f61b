//! The MPTCP "hello" client: connects over MPTCP, says what it got, and prints the
//! server's verdict on the connection.
//!
//! ```text
//! cargo run -p mptcp-examples --bin hello-client -- 127.0.0.1:7777
//! ```
//!
//! Where the kernel has no MPTCP it says why and connects over plain TCP (unless
//! `--require-mptcp`). This example uses the blocking API (`MptcpStream`).

use mptcp_examples::outln;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::ExitCode;

use clap::Parser;
use mptcp_socket::{available, Availability, ConnectionKind, Fallback, MptcpExt, MptcpStream};

/// Connects over MPTCP and prints what the server says about the connection.
#[derive(Parser)]
struct Args {
    /// The hello-server's address (host:port).
    #[arg(default_value = "127.0.0.1:7777")]
    server: String,
    /// Fail instead of falling back to TCP where the kernel has no MPTCP.
    #[arg(long, conflicts_with = "plain_tcp")]
    require_mptcp: bool,
    /// Connect with a plain TCP socket, to see the server notice it.
    #[arg(long)]
    plain_tcp: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let fallback = if args.require_mptcp {
        Fallback::Never
    } else {
        Fallback::Tcp
    };
    let connected = if args.plain_tcp {
        TcpStream::connect(&args.server).map(MptcpStream::from)
    } else {
        MptcpStream::connect_with(&args.server, fallback)
    };
    let stream = match connected {
        Ok(stream) => stream,
        Err(err) => {
            eprintln!("hello-client: cannot connect to {}: {err}", args.server);
            return ExitCode::FAILURE;
        }
    };
    match stream.connection_kind() {
        Ok(ConnectionKind::Mptcp) => {
            outln!("hello-client: connected to {} over MPTCP", args.server)
        }
        Ok(ConnectionKind::FellBack) => outln!(
            "hello-client: connected to {}, but the connection fell back to TCP \
             (the server or the path does not speak MPTCP)",
            args.server
        ),
        Ok(ConnectionKind::Tcp) if args.plain_tcp => {
            outln!(
                "hello-client: connected to {} over plain TCP (--plain-tcp)",
                args.server
            )
        }
        Ok(ConnectionKind::Tcp) => {
            let why = match available() {
                Ok(Availability::Unavailable(reason)) => reason.to_string(),
                _ => "the kernel refused an MPTCP socket".to_string(),
            };
            outln!(
                "hello-client: MPTCP is not available ({why}); connected to {} over plain TCP",
                args.server
            );
        }
        Err(err) => eprintln!("hello-client: cannot tell the connection's kind: {err}"),
    }
    let mut line = String::new();
    match BufReader::new(&stream).read_line(&mut line) {
        Ok(0) => {
            eprintln!("hello-client: the server closed the connection without a word");
            ExitCode::FAILURE
        }
        Ok(_) => {
            outln!("server says: {}", line.trim_end());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("hello-client: reading the server's answer: {err}");
            ExitCode::FAILURE
        }
    }
}
