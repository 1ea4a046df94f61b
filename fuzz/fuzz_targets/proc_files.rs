//! The `/proc` files the tools read, whose contents other users control in part (a
//! process's command name, set with `PR_SET_NAME`, holds any byte but NUL and `/`):
//! `/proc/PID/stat` (`watch --pid`'s process tree), `/proc/TID/status` (the seccomp
//! supervisor's view of a caller's credentials), `/proc/net/route` and
//! `/proc/net/ipv6_route` (`check`'s default-route interfaces), the targets of the
//! `/proc/PID/fd/N` links (`watch`'s socket owners), `/proc/net/netstat`
//! (`mptcp_socket::MptcpCounters`, `check`'s blackhole and `--connect` evidence). The first
//! input byte picks the file.
//! Property: nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mptcpize::untrusted_input::{
    default_route_interfaces_in, parent_pid_in_stat, proc_status_credentials,
};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match which % 5 {
        0 => {
            let _ = parent_pid_in_stat(&text);
        }
        1 => {
            let _ = proc_status_credentials(&text);
        }
        3 => {
            let _ = mptcp_socket::diag::socket_inode(rest);
        }
        4 => {
            if let Some(counters) = mptcp_socket::MptcpCounters::parse(&text) {
                let _ = counters.since(&counters).nonzero().count();
            }
        }
        _ => {
            // The two tables, separated by a NUL (which neither file contains).
            let (route, ipv6_route) = text.split_once('\0').unwrap_or((&text, ""));
            let _ = default_route_interfaces_in(route, ipv6_route);
        }
    }
});
