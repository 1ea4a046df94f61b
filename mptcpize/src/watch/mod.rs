//! `mptcpize watch`: the MPTCP connections of this machine live, per connection and per
//! path, for any program already running (native, shimmed, seccomp-mode, Go, static): read
//! from the kernel's socket tables with sock_diag netlink (`mptcp_socket::diag`), no
//! preload, no restart.
//!
//! In a terminal: the live view (module `live`). Otherwise, or with `--json`/`--once`, text
//! or NDJSON lines (module `script_output`). Every name another process or the kernel chose
//! (command names, interface names) and every message is shown with its control characters
//! escaped (`crate::terminal_text`): a process named `"\x1b[2J\x1b]0;PWN\x07"` cannot
//! clear root's screen or set its window title. Exit status 0, or 1 with one error line (no
//! MPTCP socket diagnostics in this kernel, an unknown unit, …).

#[doc(hidden)]
pub mod connection_filter;
mod live;
mod sample;
mod script_output;

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::Args;

use mptcp_socket::diag::Sockets;

use crate::terminal_text::Escaped;
use connection_filter::Filter;
use sample::Sampler;

/// The options of `mptcpize watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Print one JSON object per connection per refresh (NDJSON): pid, comm, kind
    /// (mptcp/fallback/tcp), local, remote, token, subflows with their bytes, RTT, backup.
    #[arg(long)]
    pub json: bool,
    /// Print one snapshot and exit (with --json, the form for scripts).
    #[arg(long)]
    pub once: bool,
    /// Stop after COUNT refreshes (as `top -n`).
    #[arg(long, value_name = "COUNT", conflicts_with = "once")]
    pub count: Option<u64>,
    /// Seconds between refreshes (fractions allowed, at least 0.05).
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    pub interval: f64,
    /// Only the connections of process PID and its descendants.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// Only the connections whose local or remote port is PORT.
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Only the connections of a systemd unit's processes (its cgroup), e.g. nginx.service.
    #[arg(long, value_name = "NAME.service")]
    pub unit: Option<String>,
    /// Also list plain TCP connections.
    #[arg(long)]
    pub all: bool,
}

/// Runs `watch` and returns the exit status.
pub fn run(args: &WatchArgs) -> i32 {
    match watch(args) {
        Ok(()) => 0,
        Err(err) => {
            // The message may quote a name given on the command line or read from the
            // system: escaped like everything watch shows.
            crate::messages::stderr_line(format_args!(
                "mptcpize watch: {}",
                Escaped(&err.to_string())
            ));
            1
        }
    }
}

fn watch(args: &WatchArgs) -> std::io::Result<()> {
    if !args.interval.is_finite() || args.interval < 0.05 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "--interval {} is too short: give at least 0.05 (seconds)",
                args.interval
            ),
        ));
    }
    let interval = Duration::from_secs_f64(args.interval);
    let filter = Filter {
        pid: args.pid,
        unit: args.unit.clone(),
        port: args.port,
    };
    // An unknown unit is an error now, not an empty screen.
    filter.pids()?;
    let sockets = if args.all {
        Sockets::All
    } else {
        Sockets::Mptcp
    };
    let mut sampler = Sampler::new(sockets, filter)?;
    let first = sampler.refresh()?;
    let live = !args.json && !args.once && args.count.is_none() && std::io::stdout().is_terminal();
    if live {
        return live::run(sampler, first, interval);
    }
    let count = if args.once {
        1
    } else {
        args.count.unwrap_or(u64::MAX)
    };
    let mut refresh = first;
    let mut stdout = std::io::stdout().lock();
    for n in 1..=count {
        let text = if args.json {
            script_output::ndjson(&refresh)
        } else {
            script_output::text(&refresh)
        };
        // A closed pipe (`| head`) ends watching quietly.
        if stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return Ok(());
        }
        if n == count {
            break;
        }
        std::thread::sleep(interval);
        refresh = sampler.refresh()?;
        if !args.json && stdout.write_all(b"\n").is_err() {
            return Ok(());
        }
    }
    Ok(())
}
