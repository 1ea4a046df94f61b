//! Load generator for `echo-server`: opens many concurrent MPTCP connections, sends numbered
//! messages on each and checks every echo byte for byte.
//!
//! ```text
//! cargo run -p mptcp-examples --bin echo-client -- 127.0.0.1:7007 --connections 100 --rounds 10
//! ```

use mptcp_examples::outln;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use mptcp_socket::{ConnectionKind, MptcpExt};
use tokio::task::JoinSet;

/// Opens connections to an echo server and verifies the echoes.
#[derive(Parser)]
struct Args {
    /// The echo server's address (host:port).
    #[arg(default_value = "127.0.0.1:7007")]
    server: String,
    /// Concurrent connections.
    #[arg(long, default_value_t = 100)]
    connections: u64,
    /// Round trips per connection.
    #[arg(long, default_value_t = 10)]
    rounds: u64,
    /// Bytes per message (at least 16).
    #[arg(long, default_value_t = 64)]
    size: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for conn in 0..args.connections {
        let (server, rounds, size) = (args.server.clone(), args.rounds, args.size);
        tasks.spawn(async move {
            let mut stream = mptcp_socket::tokio::connect(server).await?;
            let kind = stream.connection_kind()?;
            let done = mptcp_examples::echo::round_trips(&mut stream, conn, rounds, size).await?;
            Ok::<_, std::io::Error>((kind, done))
        });
    }
    let (mut mptcp, mut round_trips, mut failures) = (0, 0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.expect("connection task panicked") {
            Ok((kind, done)) => {
                mptcp += u64::from(kind == ConnectionKind::Mptcp);
                round_trips += done;
            }
            Err(err) => {
                failures += 1;
                eprintln!("echo-client: {err}");
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    outln!(
        "echo-client: {} connections ({mptcp} MPTCP), {round_trips} round trips verified, \
         {failures} failed, in {secs:.2} s",
        args.connections
    );
    if failures == 0 && round_trips == args.connections * args.rounds {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
