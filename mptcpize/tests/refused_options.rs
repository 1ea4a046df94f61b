//! Options MPTCP refuses, set by a test program (`tests/refused-options/options.c`) on
//! sockets made in every way a program makes them, run without mptcpize and under each
//! `--refused-options` choice, in both modes:
//!
//! - `auto` swaps to plain TCP for a needed option with a real value (`IP_TTL` 5,
//!   `TCP_USER_TIMEOUT` 10000, …) and keeps MPTCP with the call succeeding for an advisory
//!   one (`IPV6_TCLASS`, with `IP_TOS` set instead) and a value that changes nothing;
//!   `swap` and `keep` do one thing always; the seccomp mode decides the same; the matrix
//!   (every refused option × the values that matter × client and listener) gives every
//!   program the answer it has without mptcpize, in both modes, and is the README's table;
//! - where plain TCP refuses the option too, the program gets TCP's errno (`EPERM` for an
//!   unprivileged `TCP_REPAIR`, `EINVAL` for a bad value) and its socket stays MPTCP;
//! - after a swap errno is what the program had before the call;
//! - sockets the program asked MPTCP for (explicitly, with the raw system call, by `dup`,
//!   at a number a TCP request's socket had before `close`, `close_range` or the raw `close`
//!   system call) get exactly the answers they get without mptcpize and are never swapped;
//! - a stale `LD_PRELOAD` entry with the shim's file name does not stop the shim.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use mptcp_tests::temp_dir;
use mptcp_tests::Netns;
use support::*;

const EOPNOTSUPP: i32 = libc::EOPNOTSUPP;
const ENOPROTOOPT: i32 = libc::ENOPROTOOPT;
/// errno the program sets before each call: a success must leave it.
const SENTINEL: i32 = 4242;
const TCP: i32 = libc::IPPROTO_TCP;
const MPTCP: i32 = 262;

/// `tests/refused-options/SOURCE` built with gcc into cargo's temporary directory for
/// this test, as `NAME`, once per run (`built` keeps the path).
fn built_once(built: &'static OnceLock<PathBuf>, source: &str, name: &str) -> &'static Path {
    built.get_or_init(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/refused-options")
            .join(source);
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
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

/// The test program, built once per run.
fn options_program() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    built_once(&BUILT, "options.c", "refused-options")
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
    assert_eq!(table.len(), 19, "{what}: {text}");
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
const PROGRAM_MPTCP_CASES: [&str; 9] = [
    "explicit",
    "explicit_dup",
    "raw_syscall",
    "reused_after_close",
    "reused_after_close_range",
    "reused_after_raw_close",
    "explicit_after_reuse",
    "reused_after_dup2",
    "reused_after_dup3",
];
/// Kept MPTCP, and the call succeeded with errno untouched.
const KEPT: Answer = (0, SENTINEL, MPTCP);

#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn each_choice_in_shim_mode() {
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
            // Advisory (a traffic class) and a value that changes nothing (TCP_QUICKACK 1):
            // MPTCP kept, the call succeeds.
            ("tclass6", KEPT),
            ("quickack4", KEPT),
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

#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn tcp_errno_when_tcp_refuses_too() {
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

#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn debug_log_says_each_decision() {
    let ns = Netns::new("reflog").unwrap();
    let (_, log) = answers(&ns, Some(&["-d"]), false);
    for expected in [
        "IPV6_TCLASS) on an MPTCP socket failed with EOPNOTSUPP (95): kept MPTCP, the call succeeds, IP_TOS set instead (marks IPv4 subflows only) (--refused-options=auto; rule: advisory option; client socket)",
        "TCP_QUICKACK) on an MPTCP socket failed with ENOPROTOOPT (92): kept MPTCP, the call succeeds without effect (--refused-options=auto; rule: the value changes nothing (the default, or what the socket has); client socket)",
        "IP_TTL) on an MPTCP socket failed with EOPNOTSUPP (95): the socket is now plain TCP, option set (--refused-options=auto; rule: needed option with a real effect; client socket)",
        "TCP_USER_TIMEOUT) on an MPTCP socket failed with ENOPROTOOPT (92): the socket is now plain TCP, option set",
        "IP_TTL) on an MPTCP socket failed with EOPNOTSUPP (95): plain TCP refuses it too, with EINVAL (22): the program gets that, the socket stays MPTCP",
        "IP_TTL) on an MPTCP socket failed with EOPNOTSUPP (95): kept MPTCP, the program gets the error (--refused-options=auto; rule: needs plain TCP, too late (connected or listening); connected socket)",
        "IP_TTL) on an MPTCP socket failed with EOPNOTSUPP (95): kept MPTCP, the program gets the error (--refused-options=auto; rule: needs plain TCP, too late (connected or listening); listening socket)",
    ] {
        assert!(log.contains(expected), "missing {expected:?} in:\n{log}");
    }
    // One line per refusal: 8 before connecting, the connected and the listening socket,
    // and the 9 MPTCP sockets the program made itself, which never reach the decision.
    let refusals = |text: &str| log.lines().filter(|l| l.contains(text)).count();
    assert_eq!(refusals("on an MPTCP socket failed"), 19, "{log}");
    assert_eq!(
        refusals("left as it is: not a socket mptcpize made (the program asked for MPTCP, or it was passed in)"),
        9,
        "{log}"
    );
}

#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn seccomp_mode_follows_the_same_classes() {
    let ns = Netns::new("refsec").unwrap();
    let (plain, _) = answers(&ns, None, false);
    let (auto, _) = answers(&ns, Some(&["--seccomp"]), false);
    check(
        "--seccomp",
        &auto,
        &[
            ("tclass6", KEPT),
            ("quickack4", KEPT),
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
#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn stale_preload_entry_with_the_shims_name() {
    let ns = Netns::new("refstale").unwrap();
    let dir = temp_dir("stale-preload");
    // A real library of that name that is not the shim (it defines nothing the program
    // uses), and a path that does not exist.
    let other = dir.path().join("libmptcpize_preload.so");
    let src = dir.path().join("empty.c");
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
            String::from_utf8_lossy(&out.stdout).contains("case=ttl4 ret=0 errno=4242 proto=6"),
            "LD_PRELOAD={entry}: the shim was not loaded:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// The matrix program (`tests/refused-options/matrix.c`), built once per run.
fn matrix_program() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    built_once(&BUILT, "matrix.c", "refused-options-matrix")
}

/// One case of the matrix: option, value, role.
type MatrixCase = (String, String, String);
/// Its answer: setsockopt's return value and errno, then SO_PROTOCOL and IP_TOS.
type MatrixAnswer = (i32, i32, i32, i32);

/// Runs the matrix program in `ns`, under `mptcpize run LAUNCHER_ARGS` unless `launcher`
/// is None; its answers in the program's order.
fn matrix(ns: &Netns, launcher: Option<&[&str]>) -> Vec<(MatrixCase, MatrixAnswer)> {
    let mut cmd = match launcher {
        None => ns.command(matrix_program()),
        Some(args) => {
            let mut cmd = ns.command(mptcpize());
            cmd.arg("run").args(args).arg("--").arg(matrix_program());
            cmd
        }
    };
    let what = format!("matrix {launcher:?}");
    let out = output_ok(&mut cmd, &what);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let field = |key: &str| {
                line.split_whitespace()
                    .find_map(|f| f.strip_prefix(key))
                    .unwrap_or_else(|| panic!("{what}: no {key} in {line}"))
                    .to_owned()
            };
            let int = |key| field(key).parse::<i32>().unwrap();
            (
                (field("option="), field("value="), field("role=")),
                (int("ret="), int("errno="), int("proto="), int("tos=")),
            )
        })
        .collect()
}

/// The cases that keep MPTCP under `auto` on both roles: a value that changes nothing (the
/// kernel's default, or what a fresh socket has: "sysctl"), and the advisory options.
const KEPT_ON_BOTH: [(&str, &str); 29] = [
    ("TCP_USER_TIMEOUT", "0"),
    ("TCP_QUICKACK", "1"),
    ("TCP_QUICKACK", "0"),
    ("TCP_SYNCNT", "sysctl"),
    ("TCP_WINDOW_CLAMP", "0"),
    ("TCP_LINGER2", "0"),
    ("TCP_LINGER2", "sysctl"),
    ("TCP_SAVE_SYN", "0"),
    ("TCP_TX_DELAY", "0"),
    ("TCP_THIN_LINEAR_TIMEOUTS", "0"),
    ("TCP_THIN_LINEAR_TIMEOUTS", "1"),
    ("IP_TTL", "-1"),
    ("IP_TTL", "sysctl"),
    ("IP_RECVERR", "0"),
    ("IP_MTU_DISCOVER", "sysctl"),
    ("IP_PKTINFO", "0"),
    ("IP_PKTINFO", "1"),
    ("IP_MINTTL", "0"),
    ("IPV6_TCLASS", "-1"),
    ("IPV6_TCLASS", "0"),
    ("IPV6_TCLASS", "0x88"),
    ("IPV6_UNICAST_HOPS", "-1"),
    ("IPV6_UNICAST_HOPS", "sysctl"),
    ("IPV6_RECVERR", "0"),
    ("IPV6_MTU_DISCOVER", "WANT"),
    ("SO_ZEROCOPY", "0"),
    ("SO_MAX_PACING_RATE", "~0"),
    ("SO_OOBINLINE", "0"),
    ("SO_PEEK_OFF", "-1"),
];
/// Kept on a listener (to be, or listening) only: tuning options with a real value.
const KEPT_ON_LISTENERS: [(&str, &str); 4] = [
    ("TCP_WINDOW_CLAMP", "65535"),
    ("TCP_LINGER2", "30"),
    ("TCP_TX_DELAY", "1000"),
    ("SO_MAX_PACING_RATE", "1000000"),
];

/// What `auto` gives for a case, given the answer without mptcpize: `None` where the
/// program's result is its result without mptcpize, `Some(errno)` where it gets MPTCP's
/// refusal instead (a needed option on a socket already listening: too late for plain
/// TCP); and whether the socket is MPTCP afterwards.
fn expected_under_auto(
    option: &str,
    value: &str,
    role: &str,
    without: &MatrixAnswer,
) -> (Option<i32>, bool) {
    // TCP refuses it too: TCP's errno, MPTCP kept.
    if without.0 != 0 {
        return (None, true);
    }
    if KEPT_ON_BOTH.contains(&(option, value))
        || (role != "client" && KEPT_ON_LISTENERS.contains(&(option, value)))
    {
        return (None, true);
    }
    if role == "listening" {
        let level_tcp = mptcp_policy::refused_options::REFUSED_OPTIONS
            .iter()
            .any(|row| row.label() == option && row.level == libc::IPPROTO_TCP);
        return (Some(if level_tcp { ENOPROTOOPT } else { EOPNOTSUPP }), true);
    }
    // Swapped to plain TCP, the option set.
    (None, false)
}

/// Every refused option, with the values that matter, on a client socket, on a listener to
/// be and on a listening socket, in both modes: each call's result (return value and errno)
/// is exactly what it is without mptcpize, except for a needed option on a socket already
/// listening (MPTCP's error: too late for plain TCP); the socket keeps MPTCP where the value
/// changes nothing, the option is advisory, or a tuning option is set on a listener, and is
/// plain TCP otherwise (or where TCP refuses too: MPTCP kept, TCP's errno). IPV6_TCLASS sets
/// IP_TOS instead. The README's table is written from these answers, and this test fails
/// when it differs (set `MPTCPIZE_WRITE_README=1` to write it).
#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn matrix_every_option_value_and_role_in_both_modes() {
    let ns = Netns::new("refmatrix").unwrap();
    let plain = matrix(&ns, None);
    assert!(plain.len() >= 3 * 50, "{plain:?}");
    // Every option the policy lists is in the matrix.
    for row in mptcp_policy::refused_options::REFUSED_OPTIONS {
        assert!(
            plain
                .iter()
                .any(|((option, _, _), _)| option == row.label()),
            "{} is missing from matrix.c",
            row.label()
        );
    }
    let shim = matrix(&ns, Some(&[]));
    let seccomp = matrix(&ns, Some(&["--seccomp"]));
    for (mode, answers) in [("shim", &shim), ("--seccomp", &seccomp)] {
        assert_eq!(answers.len(), plain.len(), "{mode}");
        for ((case, without), (same_case, with)) in plain.iter().zip(answers) {
            assert_eq!(case, same_case, "{mode}");
            let (option, value, role) = (case.0.as_str(), case.1.as_str(), case.2.as_str());
            let what = format!("{mode}: {option} = {value} on a {role} socket");
            assert_eq!(without.2, TCP, "{what}: without mptcpize");
            let (mptcp_error, kept) = expected_under_auto(option, value, role, without);
            let result = match mptcp_error {
                None => (without.0, without.1),
                Some(errno) => (-1, errno),
            };
            assert_eq!((with.0, with.1), result, "{what}: (ret, errno)");
            assert_eq!(
                with.2,
                if kept { MPTCP } else { TCP },
                "{what}: SO_PROTOCOL"
            );
            if (option, value) == ("IPV6_TCLASS", "0x88") {
                assert_eq!(with.3, 0x88, "{what}: IP_TOS set instead");
            }
        }
    }
    check_readme_table(&matrix_table(&plain, &shim));
}

/// The README's table, from the shim's answers (the seccomp mode's are the same) and the
/// answers without mptcpize, and the policy's reason for each option.
fn matrix_table(
    plain: &[(MatrixCase, MatrixAnswer)],
    answers: &[(MatrixCase, MatrixAnswer)],
) -> String {
    let cell = |without: &MatrixAnswer, with: &MatrixAnswer| {
        let protocol = if with.2 == MPTCP { "MPTCP" } else { "TCP" };
        let result = match with.0 {
            0 => "ok".to_string(),
            _ => errno_name(with.1),
        };
        if (with.0, with.1) == (without.0, without.1) {
            match with.0 {
                0 => format!("{protocol}, ok"),
                _ => format!("{protocol}, {result} as on TCP"),
            }
        } else {
            let tcp = match without.0 {
                0 => "ok".to_string(),
                _ => errno_name(without.1),
            };
            format!("**{protocol}, {result}** (TCP: {tcp})")
        }
    };
    let mut out = String::from(
        "| option | class | value | client socket | listener to be (bound to a port) | listening socket |\n|---|---|---|---|---|---|\n",
    );
    for (without, with) in plain.chunks(3).zip(answers.chunks(3)) {
        let case = &with[0].0;
        let roles: Vec<&str> = with.iter().map(|(c, _)| c.2.as_str()).collect();
        assert_eq!(roles, ["client", "listener", "listening"], "{case:?}");
        let row = mptcp_policy::refused_options::REFUSED_OPTIONS
            .iter()
            .find(|row| row.label() == case.0)
            .unwrap_or_else(|| panic!("{} is not in REFUSED_OPTIONS", case.0));
        out += &format!(
            "| `{}` | {:?} | {} | {} | {} | {} |\n",
            case.0,
            row.class,
            case.1,
            cell(&without[0].1, &with[0].1),
            cell(&without[1].1, &with[1].1),
            cell(&without[2].1, &with[2].1)
        );
    }
    out +=
        "\nWhy each option is in its class (`mptcp_policy::refused_options::REFUSED_OPTIONS`):\n\n";
    for row in mptcp_policy::refused_options::REFUSED_OPTIONS {
        out += &format!("- `{}` ({:?}): {}.\n", row.label(), row.class, row.why());
    }
    out
}

fn errno_name(errno: i32) -> String {
    match errno {
        libc::ENOENT => "ENOENT".into(),
        libc::EPERM => "EPERM".into(),
        libc::EINVAL => "EINVAL".into(),
        libc::ENOPROTOOPT => "ENOPROTOOPT".into(),
        libc::EOPNOTSUPP => "EOPNOTSUPP".into(),
        libc::ENOTCONN => "ENOTCONN".into(),
        other => format!("errno {other}"),
    }
}

const README_START: &str =
    "<!-- refused-options matrix: written by mptcpize/tests/refused_options.rs -->\n";
const README_END: &str = "<!-- end of the refused-options matrix -->\n";

/// The README's table equals `table`; with `MPTCPIZE_WRITE_README=1`, writes it instead.
fn check_readme_table(table: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    // The workspace's README; a packaged crate (outside the workspace) has none there.
    let Ok(readme) = std::fs::read_to_string(&path) else {
        eprintln!(
            "{}: not in the workspace, the README's table is not compared",
            path.display()
        );
        return;
    };
    let (Some(start), Some(end)) = (readme.find(README_START), readme.find(README_END)) else {
        panic!("README.md has no {README_START:?} … {README_END:?} block");
    };
    let body_start = start + README_START.len();
    if std::env::var_os("MPTCPIZE_WRITE_README").is_some() {
        let updated = format!("{}{table}{}", &readme[..body_start], &readme[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(
        &readme[body_start..end],
        table,
        "README.md's refused-options table is out of date: as root, run \
         MPTCPIZE_WRITE_README=1 cargo test -p mptcpize --test refused_options -- matrix"
    );
}

/// Another library's `socket()` preloaded after the shim (a kernel-bypass stack,
/// socket_wrapper, torsocks): the shim calls it for each rewrite instead of making the
/// system call itself, so it sees the MPTCP requests, and the sockets are still recorded as
/// the shim's (a needed option swaps one, an unchanged value keeps MPTCP).
#[mptcp_tests::needs(privileged, "gcc")]
#[test]
fn a_socket_preloaded_after_the_shim_sees_every_call() {
    let test = "socket() preloaded after the shim";
    let dir = temp_dir("next-socket");
    let src = dir.path().join("interposer.c");
    std::fs::write(
        &src,
        "#define _GNU_SOURCE\n#include <dlfcn.h>\n#include <stdio.h>\n\
         int socket(int d, int t, int p) {\n\
             static int (*next)(int, int, int);\n\
             if (!next) next = (int (*)(int, int, int))dlsym(RTLD_NEXT, \"socket\");\n\
             fprintf(stderr, \"interposer: socket(%d, %d, %d)\\n\", d, t, p);\n\
             return next(d, t, p);\n}\n",
    )
    .unwrap();
    let interposer = dir.path().join("libinterposer.so");
    let status = Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&interposer)
        .arg(&src)
        .arg("-ldl")
        .status()
        .unwrap();
    assert!(status.success());
    let shim = concat!(env!("OUT_DIR"), "/libmptcpize_preload.so");
    let ns = Netns::new("refnext").unwrap();
    let mut cmd = ns.command(options_program());
    cmd.env("LD_PRELOAD", format!("{shim}:{}", interposer.display()));
    let out = output_ok(&mut cmd, test);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The first TCP request, as the interposer saw it: MPTCP.
    assert!(
        stderr.contains(&format!(
            "interposer: socket({}, {}, 262)",
            libc::AF_INET6,
            libc::SOCK_STREAM
        )),
        "{stderr}"
    );
    for expected in [
        "case=ttl4 ret=0 errno=4242 proto=6",
        "case=tclass6 ret=0 errno=4242 proto=262",
        "case=reused_after_close_range ret=-1 errno=95 proto=262",
    ] {
        assert!(stdout.contains(expected), "{expected}: {stdout}");
    }
}

/// `--seccomp`: a socket the supervisor made long ago, still open after more `socket()`
/// calls than its table has room for (the table drops the closed sockets when it fills,
/// instead of forgetting every socket), is still recognised as one it made: a needed option
/// gives it plain TCP, as for a new socket.
#[mptcp_tests::needs(privileged, "python3")]
#[test]
fn seccomp_remembers_an_old_socket_past_the_tables_size() {
    let test = "--seccomp, an old socket after 40,000 socket() calls";
    let ns = Netns::new("refmany").unwrap();
    let script = "import socket\n\
        old = socket.socket()\n\
        for _ in range(40000):\n    socket.socket().close()\n\
        old.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 5)\n\
        print('proto', old.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL))\n";
    let mut cmd = ns.command(mptcpize());
    cmd.args(["run", "--seccomp", "--", "python3", "-c", script]);
    let out = output_within(&mut cmd, std::time::Duration::from_secs(120), test);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("proto 6"),
        "{test}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The reason `IP_PKTINFO` is advisory (`mptcp_policy::refused_options::refused_option_why`): on
/// plain TCP it has no effect, `recvmsg` returns no ancillary data with it, on either end of
/// a loopback connection.
#[test]
fn ip_pktinfo_gives_tcp_no_ancillary_data() {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    let on: libc::c_int = 1;
    for fd in [client.as_raw_fd(), server.as_raw_fd()] {
        // SAFETY: an int option on our own socket.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_IP,
                libc::IP_PKTINFO,
                (&on as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    }
    server.write_all(b"to the client").unwrap();
    client.write_all(b"to the server").unwrap();
    for fd in [client.as_raw_fd(), server.as_raw_fd()] {
        let mut data = [0u8; 64];
        let mut control = [0u8; 256];
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        // SAFETY: a zeroed msghdr, then pointers to live buffers.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len();
        // SAFETY: recvmsg into the buffers above.
        let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
        assert_eq!(n, 13, "{}", std::io::Error::last_os_error());
        assert_eq!(msg.msg_controllen, 0, "TCP returned ancillary data");
    }
}
