//! An async echo server on an MPTCP listener that holds many connections (one tokio task
//! each, on the multi-threaded runtime).
//!
//! ```text
//! cargo run -p mptcp-examples --bin echo-server -- 127.0.0.1:7007
//! ```
//!
//! Prints a line per second while connections come and go: how many are open, and how many
//! of them use MPTCP.

use mptcp_examples::outln;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use mptcp_socket::MptcpExt;

/// Echoes every byte back, over MPTCP (or TCP for clients that do not speak it).
#[derive(Parser)]
struct Args {
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(default_value = "127.0.0.1:7007")]
    listen: SocketAddr,
}

/// Connection counters, printed while they change.
#[derive(Default)]
struct Counters {
    open: AtomicU64,
    mptcp: AtomicU64,
    total: AtomicU64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let Some((listener, local, kind)) =
        mptcp_examples::server::listen("echo-server", args.listen).await
    else {
        return ExitCode::FAILURE;
    };
    outln!("echo-server: listening on {local} ({kind})");

    let counters = Arc::new(Counters::default());
    tokio::spawn(report(counters.clone()));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // EMFILE and friends: wait for connections to close instead of spinning.
                eprintln!("echo-server: accept: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let counters = counters.clone();
        tokio::spawn(async move {
            let mptcp = stream.connection_kind().is_ok_and(|k| k.is_mptcp());
            counters.open.fetch_add(1, Relaxed);
            counters.total.fetch_add(1, Relaxed);
            if mptcp {
                counters.mptcp.fetch_add(1, Relaxed);
            }
            if let Err(err) = mptcp_examples::echo::echo(stream).await {
                eprintln!("echo-server: {peer}: {err}");
            }
            counters.open.fetch_sub(1, Relaxed);
            if mptcp {
                counters.mptcp.fetch_sub(1, Relaxed);
            }
        });
    }
}

async fn report(counters: Arc<Counters>) {
    let mut last = (u64::MAX, u64::MAX);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = (counters.open.load(Relaxed), counters.total.load(Relaxed));
        if now != last {
            outln!(
                "echo-server: {} open connections ({} MPTCP), {} since start",
                now.0,
                counters.mptcp.load(Relaxed),
                now.1
            );
            last = now;
        }
    }
}
