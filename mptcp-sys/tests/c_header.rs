//! Compares every constant, struct size and field offset of this crate with the system's C
//! headers (`linux/mptcp.h`, `linux/tcp.h` from linux-libc-dev), for every item those
//! headers have. Headers older than the kernel lack newer items: those are listed, not
//! failed; an item whose names the headers all declare but which does not compile (a
//! mistyped name, the wrong struct) fails. Needs a C compiler (`cc`) and the headers; CI
//! installs both.

use std::mem::{offset_of, size_of};
use std::path::Path;
use std::process::Command;

use mptcp_sys::*;

struct Item {
    label: String,
    c_expr: String,
    rust: u64,
    /// The C names the expression uses (a constant; a struct and its field): when the
    /// headers declare them all, the item must compile.
    names: Vec<String>,
}

fn item(label: &str, c_expr: &str, rust: u64, names: &[&str]) -> Item {
    Item {
        label: label.to_string(),
        c_expr: c_expr.to_string(),
        rust,
        names: names.iter().map(|n| n.to_string()).collect(),
    }
}

macro_rules! consts {
    ($items: ident, $($name: ident),* $(,)?) => {
        $( $items.push(item(stringify!($name), stringify!($name), $name as u64, &[stringify!($name)])); )*
    };
}

macro_rules! fields {
    ($items: ident, $c_struct: literal, $ty: ty, $($field: ident),* $(,)?) => {
        $( $items.push(item(
            concat!($c_struct, ".", stringify!($field)),
            concat!("offsetof(struct ", $c_struct, ", ", stringify!($field), ")"),
            offset_of!($ty, $field) as u64,
            &[$c_struct, stringify!($field)],
        )); )*
    };
}

fn items() -> Vec<Item> {
    let mut v = Vec::new();
    consts!(
        v,
        IPPROTO_MPTCP,
        SOL_MPTCP,
        TCP_IS_MPTCP,
        MPTCP_INFO,
        MPTCP_TCPINFO,
        MPTCP_SUBFLOW_ADDRS,
        MPTCP_FULL_INFO,
        MPTCP_INFO_FLAG_FALLBACK,
        MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED,
        MPTCP_SUBFLOW_FLAG_MCAP_REM,
        MPTCP_SUBFLOW_FLAG_MCAP_LOC,
        MPTCP_SUBFLOW_FLAG_JOIN_REM,
        MPTCP_SUBFLOW_FLAG_JOIN_LOC,
        MPTCP_SUBFLOW_FLAG_BKUP_REM,
        MPTCP_SUBFLOW_FLAG_BKUP_LOC,
        MPTCP_SUBFLOW_FLAG_FULLY_ESTABLISHED,
        MPTCP_SUBFLOW_FLAG_CONNECTED,
        MPTCP_SUBFLOW_FLAG_MAPVALID,
        MPTCP_SUBFLOW_ATTR_UNSPEC,
        MPTCP_SUBFLOW_ATTR_TOKEN_REM,
        MPTCP_SUBFLOW_ATTR_TOKEN_LOC,
        MPTCP_SUBFLOW_ATTR_RELWRITE_SEQ,
        MPTCP_SUBFLOW_ATTR_MAP_SEQ,
        MPTCP_SUBFLOW_ATTR_MAP_SFSEQ,
        MPTCP_SUBFLOW_ATTR_SSN_OFFSET,
        MPTCP_SUBFLOW_ATTR_MAP_DATALEN,
        MPTCP_SUBFLOW_ATTR_FLAGS,
        MPTCP_SUBFLOW_ATTR_ID_REM,
        MPTCP_SUBFLOW_ATTR_ID_LOC,
        MPTCP_SUBFLOW_ATTR_PAD,
        MPTCP_RST_EUNSPEC,
        MPTCP_RST_EMPTCP,
        MPTCP_RST_ERESOURCE,
        MPTCP_RST_EPROHIBIT,
        MPTCP_RST_EWQ2BIG,
        MPTCP_RST_EBADPERF,
        MPTCP_RST_EMIDDLEBOX,
        MPTCP_PM_VER,
        MPTCP_PM_CMD_UNSPEC,
        MPTCP_PM_CMD_ADD_ADDR,
        MPTCP_PM_CMD_DEL_ADDR,
        MPTCP_PM_CMD_GET_ADDR,
        MPTCP_PM_CMD_FLUSH_ADDRS,
        MPTCP_PM_CMD_SET_LIMITS,
        MPTCP_PM_CMD_GET_LIMITS,
        MPTCP_PM_CMD_SET_FLAGS,
        MPTCP_PM_CMD_ANNOUNCE,
        MPTCP_PM_CMD_REMOVE,
        MPTCP_PM_CMD_SUBFLOW_CREATE,
        MPTCP_PM_CMD_SUBFLOW_DESTROY,
        MPTCP_PM_ATTR_UNSPEC,
        MPTCP_PM_ATTR_ADDR,
        MPTCP_PM_ATTR_RCV_ADD_ADDRS,
        MPTCP_PM_ATTR_SUBFLOWS,
        MPTCP_PM_ATTR_TOKEN,
        MPTCP_PM_ATTR_LOC_ID,
        MPTCP_PM_ATTR_ADDR_REMOTE,
        MPTCP_PM_ADDR_ATTR_UNSPEC,
        MPTCP_PM_ADDR_ATTR_FAMILY,
        MPTCP_PM_ADDR_ATTR_ID,
        MPTCP_PM_ADDR_ATTR_ADDR4,
        MPTCP_PM_ADDR_ATTR_ADDR6,
        MPTCP_PM_ADDR_ATTR_PORT,
        MPTCP_PM_ADDR_ATTR_FLAGS,
        MPTCP_PM_ADDR_ATTR_IF_IDX,
        MPTCP_PM_ADDR_FLAG_SIGNAL,
        MPTCP_PM_ADDR_FLAG_SUBFLOW,
        MPTCP_PM_ADDR_FLAG_BACKUP,
        MPTCP_PM_ADDR_FLAG_FULLMESH,
        MPTCP_PM_ADDR_FLAG_IMPLICIT,
        MPTCP_PM_ADDR_FLAG_LAMINAR,
        MPTCP_PM_EV_FLAG_DENY_JOIN_ID0,
        MPTCP_PM_EV_FLAG_SERVER_SIDE,
        MPTCP_EVENT_UNSPEC,
        MPTCP_EVENT_CREATED,
        MPTCP_EVENT_ESTABLISHED,
        MPTCP_EVENT_CLOSED,
        MPTCP_EVENT_ANNOUNCED,
        MPTCP_EVENT_REMOVED,
        MPTCP_EVENT_SUB_ESTABLISHED,
        MPTCP_EVENT_SUB_CLOSED,
        MPTCP_EVENT_SUB_PRIORITY,
        MPTCP_EVENT_LISTENER_CREATED,
        MPTCP_EVENT_LISTENER_CLOSED,
        MPTCP_ATTR_UNSPEC,
        MPTCP_ATTR_TOKEN,
        MPTCP_ATTR_FAMILY,
        MPTCP_ATTR_LOC_ID,
        MPTCP_ATTR_REM_ID,
        MPTCP_ATTR_SADDR4,
        MPTCP_ATTR_SADDR6,
        MPTCP_ATTR_DADDR4,
        MPTCP_ATTR_DADDR6,
        MPTCP_ATTR_SPORT,
        MPTCP_ATTR_DPORT,
        MPTCP_ATTR_BACKUP,
        MPTCP_ATTR_ERROR,
        MPTCP_ATTR_FLAGS,
        MPTCP_ATTR_TIMEOUT,
        MPTCP_ATTR_IF_IDX,
        MPTCP_ATTR_RESET_REASON,
        MPTCP_ATTR_RESET_FLAGS,
        MPTCP_ATTR_SERVER_SIDE,
    );
    fields!(
        v,
        "mptcp_info",
        mptcp_info,
        mptcpi_subflows,
        mptcpi_add_addr_signal,
        mptcpi_add_addr_accepted,
        mptcpi_subflows_max,
        mptcpi_add_addr_signal_max,
        mptcpi_add_addr_accepted_max,
        mptcpi_flags,
        mptcpi_token,
        mptcpi_write_seq,
        mptcpi_snd_una,
        mptcpi_rcv_nxt,
        mptcpi_local_addr_used,
        mptcpi_local_addr_max,
        mptcpi_csum_enabled,
        mptcpi_retransmits,
        mptcpi_bytes_retrans,
        mptcpi_bytes_sent,
        mptcpi_bytes_received,
        mptcpi_bytes_acked,
        mptcpi_subflows_total,
        mptcpi_endp_laminar_max,
        mptcpi_last_data_sent,
        mptcpi_last_data_recv,
        mptcpi_last_ack_recv,
    );
    fields!(
        v,
        "mptcp_subflow_data",
        mptcp_subflow_data,
        size_subflow_data,
        num_subflows,
        size_kernel,
        size_user,
    );
    fields!(v, "mptcp_subflow_info", mptcp_subflow_info, id, addrs);
    fields!(
        v,
        "mptcp_full_info",
        mptcp_full_info,
        size_tcpinfo_kernel,
        size_tcpinfo_user,
        size_sfinfo_kernel,
        size_sfinfo_user,
        num_subflows,
        size_arrays_user,
        subflow_info,
        tcp_info,
        mptcp_info,
    );
    // The anonymous unions of struct mptcp_subflow_addrs are named fields in Rust.
    for (c, rust) in [
        ("sa_family", 0),
        ("sin_local", 0),
        ("sin6_local", 0),
        ("ss_local", 0),
        ("sa_remote", offset_of!(mptcp_subflow_addrs, remote)),
        ("sin_remote", offset_of!(mptcp_subflow_addrs, remote)),
        ("sin6_remote", offset_of!(mptcp_subflow_addrs, remote)),
        ("ss_remote", offset_of!(mptcp_subflow_addrs, remote)),
    ] {
        v.push(item(
            &format!("mptcp_subflow_addrs.{c}"),
            &format!("offsetof(struct mptcp_subflow_addrs, {c})"),
            rust as u64,
            &["mptcp_subflow_addrs", c],
        ));
    }
    fields!(
        v,
        "tcp_info",
        tcp_info,
        tcpi_state,
        tcpi_ca_state,
        tcpi_retransmits,
        tcpi_probes,
        tcpi_backoff,
        tcpi_options,
        tcpi_rto,
        tcpi_ato,
        tcpi_snd_mss,
        tcpi_rcv_mss,
        tcpi_unacked,
        tcpi_sacked,
        tcpi_lost,
        tcpi_retrans,
        tcpi_fackets,
        tcpi_last_data_sent,
        tcpi_last_ack_sent,
        tcpi_last_data_recv,
        tcpi_last_ack_recv,
        tcpi_pmtu,
        tcpi_rcv_ssthresh,
        tcpi_rtt,
        tcpi_rttvar,
        tcpi_snd_ssthresh,
        tcpi_snd_cwnd,
        tcpi_advmss,
        tcpi_reordering,
        tcpi_rcv_rtt,
        tcpi_rcv_space,
        tcpi_total_retrans,
        tcpi_pacing_rate,
        tcpi_max_pacing_rate,
        tcpi_bytes_acked,
        tcpi_bytes_received,
        tcpi_segs_out,
        tcpi_segs_in,
        tcpi_notsent_bytes,
        tcpi_min_rtt,
        tcpi_data_segs_in,
        tcpi_data_segs_out,
        tcpi_delivery_rate,
        tcpi_busy_time,
        tcpi_rwnd_limited,
        tcpi_sndbuf_limited,
        tcpi_delivered,
        tcpi_delivered_ce,
        tcpi_bytes_sent,
        tcpi_bytes_retrans,
        tcpi_dsack_dups,
        tcpi_reord_seen,
        tcpi_rcv_ooopack,
        tcpi_snd_wnd,
        tcpi_rcv_wnd,
        tcpi_rehash,
        tcpi_total_rto,
        tcpi_total_rto_recoveries,
        tcpi_total_rto_time,
    );
    // Sizes of the structs whose C definition is complete in any header that has them.
    for (name, size) in [
        ("mptcp_subflow_data", size_of::<mptcp_subflow_data>()),
        ("mptcp_subflow_addrs", size_of::<mptcp_subflow_addrs>()),
        ("mptcp_subflow_info", size_of::<mptcp_subflow_info>()),
        ("mptcp_full_info", size_of::<mptcp_full_info>()),
    ] {
        v.push(item(
            &format!("sizeof {name}"),
            &format!("sizeof(struct {name})"),
            size as u64,
            &[name],
        ));
    }
    v
}

const PRELUDE: &str = "#include <stddef.h>\n#include <stdio.h>\n#include <sys/socket.h>\n\
#include <netinet/in.h>\n#include <linux/mptcp.h>\n#if __has_include(<linux/mptcp_pm.h>)\n\
#include <linux/mptcp_pm.h>\n#endif\n#include <linux/tcp.h>\n";

/// Every identifier the headers of [`PRELUDE`] declare, macros included (`cc -E -dD`).
fn declared_names(dir: &Path) -> std::collections::HashSet<String> {
    let src = dir.join("declared.c");
    std::fs::write(&src, PRELUDE).unwrap();
    let out = Command::new("cc")
        .args(["-E", "-dD"])
        .arg(&src)
        .output()
        .unwrap();
    assert!(out.status.success(), "cc -E failed: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The compiler's first error for `body` (for a failure message).
fn compile_error(dir: &Path, body: &str) -> String {
    let src = dir.join("wrong_item.c");
    std::fs::write(
        &src,
        format!("{PRELUDE}int main(void) {{\n{body}\nreturn 0; }}\n"),
    )
    .unwrap();
    let out = Command::new("cc")
        .args(["-fsyntax-only", "-Werror"])
        .arg(&src)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .find(|l| l.contains(" error: "))
        .unwrap_or_default()
        .to_string()
}

fn compiles(dir: &Path, name: &str, body: &str) -> bool {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(
        &src,
        format!("{PRELUDE}int main(void) {{\n{body}\nreturn 0; }}\n"),
    )
    .unwrap();
    Command::new("cc")
        .args(["-fsyntax-only", "-Werror"])
        .arg(&src)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[mptcp_tests::needs("gcc")]
#[test]
fn matches_the_system_c_header() {
    let header = Path::new("/usr/include/linux/mptcp.h");
    let cc = Command::new("cc").arg("--version").output().is_ok();
    let reason = if !header.exists() {
        Some("linux/mptcp.h is not installed (apt-get install linux-libc-dev)")
    } else if !cc {
        Some("no C compiler (apt-get install gcc)")
    } else {
        None
    };
    if !mptcp_tests::skip_unless("matches_the_system_c_header", reason) {
        return;
    }

    let dir = std::env::temp_dir().join(format!("mptcp-sys-c-header-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let items = items();
    let print = |it: &Item| {
        format!(
            "printf(\"%s=%llu\\n\", \"{}\", (unsigned long long)({}));",
            it.label, it.c_expr
        )
    };
    // Keep the items this header knows: all at once when it is as new as this crate,
    // otherwise one by one.
    let all: String = items.iter().map(print).collect::<Vec<_>>().join("\n");
    let known: Vec<&Item> = if compiles(&dir, "all", &all) {
        items.iter().collect()
    } else {
        items
            .iter()
            .enumerate()
            .filter(|(i, it)| compiles(&dir, &format!("item{i}"), &print(it)))
            .map(|(_, it)| it)
            .collect()
    };
    let missing: Vec<&Item> = items
        .iter()
        .filter(|it| !known.iter().any(|k| k.label == it.label))
        .collect();
    // Missing because this header is older than the crate: fine. Missing although the
    // header declares every name it uses: the item itself is wrong (a mistyped name, a
    // wrong struct), and would otherwise never be compared.
    let declared = declared_names(&dir);
    let broken: Vec<String> = missing
        .iter()
        .filter(|it| it.names.iter().all(|n| declared.contains(n)))
        .map(|it| format!("{}: {}", it.label, compile_error(&dir, &print(it))))
        .collect();
    assert!(
        broken.is_empty(),
        "items the C headers declare do not compile:\n{}",
        broken.join("\n")
    );
    let missing: Vec<&str> = missing.iter().map(|it| it.label.as_str()).collect();

    let src = dir.join("probe.c");
    let body: String = known
        .iter()
        .map(|it| print(it))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(
        &src,
        format!("{PRELUDE}int main(void) {{\n{body}\nreturn 0; }}\n"),
    )
    .unwrap();
    let exe = dir.join("probe");
    let status = Command::new("cc")
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .status()
        .unwrap();
    assert!(status.success(), "compiling the probe failed");
    let out = Command::new(&exe).output().unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    let mut mismatches = Vec::new();
    for it in &known {
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{}=", it.label)))
            .unwrap_or_else(|| panic!("no output for {}", it.label));
        let c: u64 = line.parse().unwrap();
        if c != it.rust {
            mismatches.push(format!("{}: C {} vs Rust {}", it.label, c, it.rust));
        }
    }
    eprintln!(
        "compared {} items with the C headers; {} not in this header: {}",
        known.len(),
        missing.len(),
        missing.join(", ")
    );
    assert!(
        mismatches.is_empty(),
        "layout mismatches:\n{}",
        mismatches.join("\n")
    );
    // Any header with MPTCP has at least struct mptcp_info's first fields and the options.
    assert!(
        known.len() >= 40,
        "only {} items found: is this really linux/mptcp.h?",
        known.len()
    );
}
