//! `mptcp-info HOST:PORT`: connect over MPTCP and print everything the kernel tells about the
//! connection: its kind, every `struct mptcp_info` field, and each subflow's addresses, RTT,
//! congestion window and byte counters — like `ss -Mni`, for one connection.
//!
//! ```text
//! cargo run -p mptcp-examples --bin mptcp-info -- 127.0.0.1:7007 --send 100000
//! cargo run -p mptcp-examples --bin mptcp-info -- 127.0.0.1:7007 --json
//! ```
//!
//! While it waits (`--wait`), it reads and discards what the server sends, so an echo or a
//! hello server gives non-zero counters.

use mptcp_examples::outln;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mptcp_socket::{ConnectionKind, Fallback, MptcpExt, MptcpInfo, SubflowInfo, TcpInfo};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connects to HOST:PORT over MPTCP and prints the connection's MPTCP state.
#[derive(Parser)]
struct Args {
    /// Where to connect (host:port).
    target: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Send this many bytes first (to see the byte counters move).
    #[arg(long, default_value_t = 0)]
    send: usize,
    /// Milliseconds to wait (reading what the server sends) before asking the kernel.
    #[arg(long, default_value_t = 200)]
    wait: u64,
    /// Fail instead of falling back to TCP where the kernel has no MPTCP.
    #[arg(long)]
    require_mptcp: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let fallback = if args.require_mptcp {
        Fallback::Never
    } else {
        Fallback::Tcp
    };
    let mut stream = match mptcp_socket::tokio::connect_with(&args.target, fallback).await {
        Ok(stream) => stream,
        Err(err) => {
            eprintln!("mptcp-info: cannot connect to {}: {err}", args.target);
            return ExitCode::FAILURE;
        }
    };
    if args.send > 0 {
        let data: Vec<u8> = (0..args.send).map(|i| (i % 251) as u8).collect();
        if let Err(err) = stream.write_all(&data).await {
            eprintln!("mptcp-info: sending {} bytes: {err}", args.send);
            return ExitCode::FAILURE;
        }
    }
    let received = drain(&mut stream, Duration::from_millis(args.wait)).await;

    let report = match report(&stream, received) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("mptcp-info: asking the kernel about the connection: {err}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report).expect("JSON"));
    } else {
        print_text(&report);
    }
    ExitCode::SUCCESS
}

/// Reads (and drops) whatever arrives for `wait`; returns how many bytes that was.
async fn drain(stream: &mut TcpStream, wait: Duration) -> u64 {
    let mut buf = vec![0; 64 << 10];
    let mut total = 0;
    let _ = tokio::time::timeout(wait, async {
        while let Ok(n @ 1..) = stream.read(&mut buf).await {
            total += n as u64;
        }
        // EOF or error: nothing more will come; wait out the rest of the time anyway, so
        // that the counters the kernel reports have settled.
        std::future::pending::<()>().await
    })
    .await;
    total
}

/// Everything the library can tell, as one JSON value (also the source of the text form).
fn report(stream: &TcpStream, received: u64) -> std::io::Result<Value> {
    let kind = stream.connection_kind()?;
    let mut report = json!({
        "local": stream.local_addr()?.to_string(),
        "peer": stream.peer_addr()?.to_string(),
        "kind": kind.to_string(),
        "is_mptcp": kind == ConnectionKind::Mptcp,
        "bytes_read_while_waiting": received,
    });
    if kind == ConnectionKind::Mptcp {
        let info = stream.mptcp_info()?;
        report["mptcp_info"] = mptcp_info_json(&info);
        report["subflows"] = stream
            .subflows()?
            .iter()
            .map(subflow_json)
            .collect::<Vec<_>>()
            .into();
    }
    Ok(report)
}

fn ms(d: Option<Duration>) -> Value {
    d.map_or(Value::Null, |d| json!(d.as_secs_f64() * 1e3))
}

/// Every `struct mptcp_info` field, in the kernel's order; `null` where the running kernel's
/// struct is too short to have it.
fn mptcp_info_json(info: &MptcpInfo) -> Value {
    json!({
        "kernel_struct_bytes": info.len(),
        "subflows": info.subflows(),
        "add_addr_signal": info.add_addr_signal(),
        "add_addr_accepted": info.add_addr_accepted(),
        "subflows_max": info.subflows_max(),
        "add_addr_signal_max": info.add_addr_signal_max(),
        "add_addr_accepted_max": info.add_addr_accepted_max(),
        "flags": info.flags(),
        "flag_fallback": info.fell_back(),
        "flag_remote_key_received": info.remote_key_received(),
        "token": format!("{:08x}", info.token()),
        "write_seq": info.write_seq(),
        "snd_una": info.snd_una(),
        "rcv_nxt": info.rcv_nxt(),
        "local_addr_used": info.local_addr_used(),
        "local_addr_max": info.local_addr_max(),
        "csum_enabled": info.csum_enabled(),
        "retransmits": info.retransmits(),
        "bytes_retrans": info.bytes_retrans(),
        "bytes_sent": info.bytes_sent(),
        "bytes_received": info.bytes_received(),
        "bytes_acked": info.bytes_acked(),
        "subflows_total": info.subflows_total(),
        // Reserved (zero) before Linux 6.18; present in every struct of 88+ bytes.
        "endp_laminar_max": (info.len() >= 88).then_some(info.raw().mptcpi_endp_laminar_max),
        "last_data_sent_ms": info.last_data_sent().map(|d| d.as_millis() as u64),
        "last_data_recv_ms": info.last_data_recv().map(|d| d.as_millis() as u64),
        "last_ack_recv_ms": info.last_ack_recv().map(|d| d.as_millis() as u64),
    })
}

/// TCP states as `ss` names them (`tcpi_state`).
fn tcp_state(state: u8) -> &'static str {
    const NAMES: [&str; 13] = [
        "?",
        "ESTAB",
        "SYN-SENT",
        "SYN-RECV",
        "FIN-WAIT-1",
        "FIN-WAIT-2",
        "TIME-WAIT",
        "UNCONN",
        "CLOSE-WAIT",
        "LAST-ACK",
        "LISTEN",
        "CLOSING",
        "NEW-SYN-RECV",
    ];
    NAMES.get(usize::from(state)).copied().unwrap_or("?")
}

fn tcp_json(tcp: &TcpInfo) -> Value {
    json!({
        "state": tcp_state(tcp.state()),
        "rtt_ms": tcp.rtt().as_secs_f64() * 1e3,
        "rttvar_ms": tcp.rtt_var().as_secs_f64() * 1e3,
        "min_rtt_ms": ms(tcp.min_rtt()),
        "rto_ms": tcp.rto().as_secs_f64() * 1e3,
        "snd_cwnd": tcp.snd_cwnd(),
        "snd_mss": tcp.snd_mss(),
        "pmtu": tcp.pmtu(),
        "unacked": tcp.unacked(),
        "total_retrans": tcp.total_retrans(),
        "bytes_sent": tcp.bytes_sent(),
        "bytes_acked": tcp.bytes_acked(),
        "bytes_received": tcp.bytes_received(),
        "bytes_retrans": tcp.bytes_retrans(),
        "delivery_rate": tcp.delivery_rate(),
        "pacing_rate": tcp.pacing_rate(),
        "notsent_bytes": tcp.notsent_bytes(),
        "last_data_sent_ms": tcp.last_data_sent().as_millis() as u64,
        "last_data_recv_ms": tcp.last_data_recv().as_millis() as u64,
    })
}

fn subflow_json(sf: &SubflowInfo) -> Value {
    json!({
        "id": sf.id,
        "local": sf.local.to_string(),
        "remote": sf.remote.to_string(),
        "tcp_info": sf.tcp.as_ref().map_or(Value::Null, tcp_json),
    })
}

/// `null` as "n/a", numbers as they are, strings without quotes.
fn show(value: &Value) -> String {
    match value {
        Value::Null => "n/a (not in this kernel)".to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_f64() => format!("{:.3}", n.as_f64().unwrap_or_default()),
        other => other.to_string(),
    }
}

fn print_text(report: &Value) {
    outln!(
        "connection {} -> {}: {}",
        show(&report["local"]),
        show(&report["peer"]),
        show(&report["kind"])
    );
    outln!(
        "read {} bytes from the server while waiting",
        report["bytes_read_while_waiting"]
    );
    let Some(info) = report["mptcp_info"].as_object() else {
        outln!("no mptcp_info: the connection is not MPTCP");
        return;
    };
    outln!("mptcp_info:");
    for (name, value) in info {
        outln!("  {name:<26} {}", show(value));
    }
    let subflows = report["subflows"].as_array().map_or(&[][..], Vec::as_slice);
    outln!("subflows: {}", subflows.len());
    for (n, sf) in subflows.iter().enumerate() {
        outln!(
            "  [{n}] id {} {} -> {}",
            show(&sf["id"]),
            show(&sf["local"]),
            show(&sf["remote"])
        );
        if let Some(tcp) = sf["tcp_info"].as_object() {
            let line: Vec<String> = tcp
                .iter()
                .map(|(name, value)| format!("{name} {}", show(value)))
                .collect();
            for chunk in line.chunks(5) {
                outln!("      {}", chunk.join("  "));
            }
        }
    }
}
