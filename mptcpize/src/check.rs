//! `mptcpize check`: will MPTCP work on this machine, and what to fix if not.
//!
//! Checks, in this order, each problem with the command that fixes it:
//! kernel support (`socket(…, IPPROTO_MPTCP)`), `net.mptcp.enabled` in this network
//! namespace, the path manager (`net.mptcp.path_manager` / `pm_type`) and scheduler
//! (`net.mptcp.scheduler`, `available_schedulers`), the limits and endpoints of the
//! in-kernel path manager (over generic netlink, `mptcp_socket::pm`), and for each endpoint
//! whether its interface exists, is up and has the address. Then a self-test: an MPTCP
//! connection over loopback, checked end to end, after the kernel's blackhole state (is MPTCP
//! switched off in this namespace after a firewall dropped MPTCP SYNs?, `diagnosis`).
//! `--connect HOST:PORT` tests a real server and says why a connection is not MPTCP or uses
//! one path only, from the namespace's counters around it (`diagnosis::explain`).
//!
//! Exit status: 0 MPTCP works, 1 it works with a limit worth fixing (one path only, a
//! fallback), 2 it does not work; 125 for a usage error (as for `run`).

mod diagnosis;
mod findings;
#[doc(hidden)]
pub mod interfaces;
mod probe;
mod setup;

use std::time::Duration;

use clap::Args;

use findings::{CheckReport, Finding, Status};

/// The options of `mptcpize check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Also connect to HOST:PORT over MPTCP and report whether that path speaks MPTCP, fell
    /// back to TCP (the server or a middlebox stripped it), or failed. May be repeated.
    #[arg(long, value_name = "HOST:PORT")]
    pub connect: Vec<String>,
    /// Print the report as JSON (for scripts); the exit status is the same.
    #[arg(long)]
    pub json: bool,
    /// Skip the loopback self-test.
    #[arg(long)]
    pub no_self_test: bool,
    /// Seconds to wait for each connection of the self-test and of --connect, and for the
    /// name resolver to answer for a --connect host (1 to 86400).
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
}

/// Runs every check, prints the report, and returns the exit status (the verdict).
pub fn run(args: &CheckArgs) -> i32 {
    let report = collect(args);
    let text = if args.json {
        serde_json::to_string_pretty(&report.json()).unwrap_or_default() + "\n"
    } else {
        report.human()
    };
    // A closed pipe (`| head`) is not an error of the check: the exit status still tells.
    crate::messages::print(crate::messages::Stream::Stdout, format_args!("{text}"));
    report.verdict().exit_status()
}

fn collect(args: &CheckArgs) -> CheckReport {
    let timeout = Duration::from_secs(args.timeout);
    let mut report = CheckReport::default();
    report.context.push(("kernel", setup::kernel_release()));
    report.context.push(("netns", network_namespace()));

    let mptcp = setup::check_kernel(&mut report);
    let has_mptcp_sysctls = setup::sysctl("enabled").is_some();
    if has_mptcp_sysctls {
        let kernel_pm = setup::check_path_manager_and_scheduler(&mut report);
        if kernel_pm {
            setup::check_limits_and_endpoints(&mut report);
        }
    }
    // The self-test's connection also tells whether the kernel has MPTCP switched off
    // after a blackhole (it disables loopback connections too): the counters around it.
    let before = mptcp_socket::MptcpCounters::read().ok();
    let self_test = if args.no_self_test {
        Finding::new("self_test", Status::Skip, "not run (--no-self-test)")
    } else if mptcp {
        probe::self_test(timeout)
    } else {
        Finding::new(
            "self_test",
            Status::Skip,
            "not run: MPTCP sockets cannot be created here (see above)",
        )
    };
    let ran = !args.no_self_test && mptcp;
    if let Some(before) = before.filter(|_| mptcp) {
        let (finding, disabled) = diagnosis::blackhole_state(&before, ran);
        report.push(finding);
        if disabled {
            report.push(Finding::new(
                "self_test",
                Status::Fail,
                "the loopback MPTCP connection went out as plain TCP: MPTCP is disabled for new \
                 connections here (see `blackhole` above)",
            ));
        } else {
            report.push(self_test);
        }
    } else {
        report.push(self_test);
    }
    for target in &args.connect {
        report.push(probe::connect(target, timeout, mptcp));
    }
    report
}

/// This process's network namespace, as `ip netns identify` would name it, else its inode.
fn network_namespace() -> String {
    let own = std::fs::metadata("/proc/self/ns/net").map(|m| {
        use std::os::unix::fs::MetadataExt;
        (m.dev(), m.ino())
    });
    let Ok(own) = own else {
        return "unknown".to_string();
    };
    if let Ok(entries) = std::fs::read_dir("/run/netns") {
        for entry in entries.flatten() {
            if let Ok(meta) = entry.metadata() {
                use std::os::unix::fs::MetadataExt;
                if (meta.dev(), meta.ino()) == own {
                    return entry.file_name().to_string_lossy().into_owned();
                }
            }
        }
    }
    if let Ok(init) = std::fs::metadata("/proc/1/ns/net") {
        use std::os::unix::fs::MetadataExt;
        if (init.dev(), init.ino()) == own {
            return "the host's".to_string();
        }
    }
    format!("net:[{}]", own.1)
}
