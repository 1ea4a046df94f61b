//! Options MPTCP refuses, set by a test program (`tests/refused-options/options.c`) on
//! sockets made in every way a program makes them, run without mptcpize and under each
//! `--refused-options` choice, in both modes:
//!
//! - `auto` swaps to plain TCP for a needed option (`IP_TTL`, `TCP_USER_TIMEOUT`, …) and
//!   keeps MPTCP, returning the error, for an advisory one (`IPV6_TCLASS`); `swap` and
//!   `keep` do one thing always; the seccomp mode follows the same classes;
//! - where plain TCP refuses the option too, the program gets TCP's errno (`EPERM` for an
//!   unprivileged `TCP_REPAIR`, `EINVAL` for a bad value) and its socket stays MPTCP;
//! - after a swap errno is what the program had before the call;
//! - sockets the program asked MPTCP for (explicitly, with the raw system call, by `dup`,
//!   at a number a closed TCP request's socket had) get exactly the answers they get without
//!   mptcpize and are never swapped;
//! - a stale `LD_PRELOAD` entry with the shim's file name does not stop the shim.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use mptcp_tests::{require_privileges, require_program, Netns};
use support::*;

const EOPNOTSUPP: i32 = libc::EOPNOTSUPP;
const ENOPROTOOPT: i32 = libc::ENOPROTOOPT;
/// errno the program sets before each call: a success must leave it.
const SENTINEL: i32 = 4242;
const TCP: i32 = libc::IPPROTO_TCP;
const MPTCP: i32 = 262;

/// The test program, built once per run.
fn options_program() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/refused-options/options.c");
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("refused-options");
        let status = Command::new("gcc")
            .args(["-O2", "-Wall", "-Werror", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("run gcc");
        assert!(status.success(), "gcc failed: install gcc and libc6-dev");
        out
    })
}

fn ready(test: &str) -> bool {
    require_privileges(test) && require_program(test, "gcc")
}

/// One case's answer: setsockopt's return value, errno after it, SO_PROTOCOL after it.
type Answer = (i32, i32, i32);

/// Runs the program (as `nobody` when asked) in `ns`, under `mptcpize run LAUNCHER_ARGS`
/// unless `launcher` is None; returns its answers by case, and its stderr.
fn answers(
    ns: &Netns,
    launcher: Option<&[&str]>,
    nobody: bool,
) -> (BTreeMap<String, Answer>, String) {
    let program = options_program();
    let mut cmd = match launcher {
        None => ns.command(program),
        Some(args) => {
            let mut cmd = ns.command(mptcpize());
            cmd.arg("run").args(args).arg("--").arg(program);
            cmd
        }
    };
    if nobody {
        cmd.arg("nobody");
    }
    let what = format!(
        "{launcher:?} options{}",
        if nobody { " nobody" } else { "" }
    );
    let out = output_ok(&mut cmd, &what);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut table = BTreeMap::new();
    for line in text.lines() {
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(key))
                .map(str::to_owned)
        };
        let case = field("case=").unwrap();
        if case == "reused_number" {
            assert_eq!(field("same=").as_deref(), Some("1"), "{what}: {line}");
            continue;
        }
        let int = |key| field(key).unwrap().parse::<i32>().unwrap();
        table.insert(case, (int("ret="), int("errno="), int("proto=")));
    }
    assert_eq!(table.len(), 16, "{what}: {text}");
    (table, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn check(what: &str, table: &BTreeMap<String, Answer>, expected: &[(&str, Answer)]) {
    for (case, answer) in expected {
        assert_eq!(
            table.get(*case),
            Some(answer),
            "{what}: case {case} (ret, errno, SO_PROTOCOL); all: {table:#?}"
        );
    }
}

const SWAPPED: Answer = (0, SENTINEL, TCP);
const PROGRAM_MPTCP_CASES: [&str; 6] = [
    "explicit",
    "explicit_dup",
    "raw_syscall",
    "reused_after_close",
    "reused_after_dup2",
    "reused_after_dup3",
];

#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn each_choice_in_shim_mode() {
    let test = "refused options under the shim";
    if !ready(test) {
        return;
    }
    let ns = Netns::new("refopt").unwrap();
    let (plain, _) = answers(&ns, None, false);
    // Without mptcpize every option is set on TCP; a bad value and an IPv6 option on an
    // IPv4 socket fail as TCP fails them; MPTCP sockets refuse IP_TTL.
    check(
        "without mptcpize",
        &plain,
        &[
            ("tclass6", SWAPPED),
            ("ttl4", SWAPPED),
            ("repair4", SWAPPED),
            ("ttl4_bad_value", (-1, libc::EINVAL, TCP)),
            ("tclass_on_ipv4", (-1, ENOPROTOOPT, TCP)),
            ("explicit", (-1, EOPNOTSUPP, MPTCP)),
            ("connected", SWAPPED),
        ],
    );
    // What every choice has in common: TCP's errno where TCP refuses too, connected and
    // listening sockets kept, and the program's own MPTCP sockets exactly as without
    // mptcpize.
    let common: Vec<(&str, Answer)> = [
        ("ttl4_bad_value", (-1, libc::EINVAL, MPTCP)),
        ("tclass_on_ipv4", (-1, ENOPROTOOPT, MPTCP)),
        ("connected", (-1, EOPNOTSUPP, MPTCP)),
        ("listening", (-1, EOPNOTSUPP, MPTCP)),
    ]
    .into_iter()
    .chain(PROGRAM_MPTCP_CASES.map(|case| (case, plain[case])))
    .collect();

    let (auto, _) = answers(&ns, Some(&[]), false);
    check("auto (default)", &auto, &common);
    check(
        "auto (default)",
        &auto,
        &[
            // Advisory: MPTCP kept, MPTCP's error.
            ("tclass6", (-1, EOPNOTSUPP, MPTCP)),
            ("quickack4", (-1, ENOPROTOOPT, MPTCP)),
            // Needed: plain TCP, option set, errno untouched.
            ("ttl4", SWAPPED),
            ("hops6", SWAPPED),
            ("user_timeout4", SWAPPED),
            ("repair4", SWAPPED),
        ],
    );
    let (named_auto, _) = answers(&ns, Some(&["--refused-options=auto"]), false);
    assert_eq!(named_auto, auto, "--refused-options=auto is the default");

    let (swap, _) = answers(&ns, Some(&["--refused-options", "swap"]), false);
    check("swap", &swap, &common);
    for case in [
        "tclass6",
        "quickack4",
        "ttl4",
        "hops6",
        "user_timeout4",
        "repair4",
    ] {
        check("swap", &swap, &[(case, SWAPPED)]);
    }

    let (keep, _) = answers(&ns, Some(&["--refused-options=keep"]), false);
    check("keep", &keep, &common);
    check(
        "keep",
        &keep,
        &[
            ("tclass6", (-1, EOPNOTSUPP, MPTCP)),
            ("ttl4", (-1, EOPNOTSUPP, MPTCP)),
            ("hops6", (-1, EOPNOTSUPP, MPTCP)),
            ("user_timeout4", (-1, ENOPROTOOPT, MPTCP)),
            ("repair4", (-1, ENOPROTOOPT, MPTCP)),
        ],
    );

    // The variable is what the flag sets; the shim reads it.
    let mut cmd = ns.command(mptcpize());
    cmd.env("MPTCPIZE_REFUSED_OPTIONS", "keep")
        .args(["run", "--"])
        .arg(options_program());
    let out = output_ok(&mut cmd, "MPTCPIZE_REFUSED_OPTIONS=keep");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("case=ttl4 ret=-1 errno=95 proto=262"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn tcp_errno_when_tcp_refuses_too() {
    let test = "TCP_REPAIR as nobody";
    if !ready(test) {
        return;
    }
    let ns = Netns::new("refnobody").unwrap();
    let (plain, _) = answers(&ns, None, true);
    check(
        "nobody, without mptcpize",
        &plain,
        &[("repair4", (-1, libc::EPERM, TCP))],
    );
    for choice in ["auto", "swap", "keep"] {
        let flag = format!("--refused-options={choice}");
        let (table, _) = answers(&ns, Some(&[&flag]), true);
        // TCP's answer, on a socket that stays MPTCP.
        check(
            &format!("nobody, {choice}"),
            &table,
            &[("repair4", (-1, libc::EPERM, MPTCP))],
        );
    }
}

#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn debug_log_says_each_decision() {
    let test = "refused options debug log";
    if !ready(test) {
        return;
    }
    let ns = Netns::new("reflog").unwrap();
    let (_, log) = answers(&ns, Some(&["-d"]), false);
    for expected in [
        "IPV6_TCLASS) on an MPTCP socket failed with EOPNOTSUPP (95): kept MPTCP, the program gets the error (--refused-options=auto, an advisory option; =swap gives it plain TCP)",
        "IP_TTL) on an MPTCP socket failed with EOPNOTSUPP (95): the socket is now plain TCP, option set (--refused-options=auto)",
        "TCP_USER_TIMEOUT) on an MPTCP socket failed with ENOPROTOOPT (92): the socket is now plain TCP, option set",
        "IP_TTL) on an MPTCP socket failed with EOPNOTSUPP (95): plain TCP refuses it too, with EINVAL (22): the program gets that, the socket stays MPTCP",
        "IP_TTL) on an MPTCP socket failed with EOPNOTSUPP (95): left as it is: it has connected or listened already",
    ] {
        assert!(log.contains(expected), "missing {expected:?} in:\n{log}");
    }
    // One line per refusal: 8 before connecting, the connected and the listening socket,
    // and the 6 MPTCP sockets the program made itself, which never reach the decision.
    let refusals = |text: &str| log.lines().filter(|l| l.contains(text)).count();
    assert_eq!(refusals("on an MPTCP socket failed"), 16, "{log}");
    assert_eq!(
        refusals("left as it is: not a socket mptcpize made (the program asked for MPTCP, or it was passed in)"),
        6,
        "{log}"
    );
}

#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn seccomp_mode_follows_the_same_classes() {
    let test = "refused options under --seccomp";
    if !ready(test) {
        return;
    }
    let ns = Netns::new("refsec").unwrap();
    let (plain, _) = answers(&ns, None, false);
    let (auto, _) = answers(&ns, Some(&["--seccomp"]), false);
    check(
        "--seccomp",
        &auto,
        &[
            ("tclass6", (-1, EOPNOTSUPP, MPTCP)),
            ("quickack4", (-1, ENOPROTOOPT, MPTCP)),
            ("ttl4", SWAPPED),
            ("user_timeout4", SWAPPED),
            ("connected", (-1, EOPNOTSUPP, MPTCP)),
        ],
    );
    for case in PROGRAM_MPTCP_CASES {
        check("--seccomp", &auto, &[(case, plain[case])]);
    }
    let (keep, _) = answers(&ns, Some(&["--seccomp", "--refused-options=keep"]), false);
    check(
        "--seccomp keep",
        &keep,
        &[("ttl4", (-1, EOPNOTSUPP, MPTCP))],
    );
    let (swap, _) = answers(&ns, Some(&["--seccomp", "--refused-options=swap"]), false);
    check("--seccomp swap", &swap, &[("tclass6", SWAPPED)]);
}

#[test]
fn launcher_refuses_an_unknown_choice() {
    let out = Command::new(mptcpize())
        .env("MPTCPIZE_REFUSED_OPTIONS", "sometimes")
        .args(["run", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("MPTCPIZE_REFUSED_OPTIONS=sometimes is not a choice: use auto, swap or keep"),
        "{err}"
    );
    let out = Command::new(mptcpize())
        .args(["run", "--refused-options=sometimes", "true"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values: auto, swap, keep"));
}

/// An `LD_PRELOAD` entry that only has the shim's file name (a path that no longer exists,
/// or another library of that name) does not stop the launcher from adding the shim.
#[cfg_attr(
    not(all(mptcp_privileged, has_gcc)),
    ignore = "needs root, netns, MPTCP, gcc"
)]
#[test]
fn stale_preload_entry_with_the_shims_name() {
    let test = "stale LD_PRELOAD entry";
    if !ready(test) {
        return;
    }
    let ns = Netns::new("refstale").unwrap();
    let dir = TempDir::new("stale-preload");
    // A real library of that name that is not the shim (it defines nothing the program
    // uses), and a path that does not exist.
    let other = dir.0.join("libmptcpize_preload.so");
    let src = dir.0.join("empty.c");
    std::fs::write(&src, "int mptcpize_test_unrelated;\n").unwrap();
    let status = Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&other)
        .arg(&src)
        .status()
        .unwrap();
    assert!(status.success());
    for entry in [
        other.to_str().unwrap(),
        "/nonexistent/mptcpize/libmptcpize_preload.so",
    ] {
        let mut cmd = ns.command(mptcpize());
        cmd.env("LD_PRELOAD", entry)
            .args(["run", "--"])
            .arg(options_program());
        let out = output_ok(&mut cmd, &format!("LD_PRELOAD={entry}"));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("case=tclass6 ret=-1 errno=95 proto=262"),
            "LD_PRELOAD={entry}: the shim was not loaded:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
