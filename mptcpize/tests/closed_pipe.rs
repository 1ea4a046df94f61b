//! Every mptcpize command that prints, with its stdout a closed pipe (`mptcpize … | head -1`
//! once head has its line): it ends quietly, as `ls` and `ss` do, with no panic and nothing
//! on stderr. The pipe's reading end is closed before the command starts, so its first
//! write fails with EPIPE whatever the timing.

mod support;

use std::net::{TcpListener, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mptcp_tests::temp_dir;
use support::mptcpize;

/// A pipe whose reading end is already closed: every write to it fails with EPIPE (and
/// raises SIGPIPE, which mptcpize ignores for its own commands).
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both are ours: the reading end is closed, the writing end owned from here.
    unsafe { libc::close(fds[0]) };
    Stdio::from(unsafe { OwnedFd::from_raw_fd(fds[1]) })
}

/// `mptcpize ARGS` with stdout closed: it ends within a minute, not killed by a signal,
/// without a panic (status 101), with nothing on stderr. Returns its exit code for the
/// caller to check.
fn quiet_on_closed_stdout(args: &[&str]) -> i32 {
    let child = Command::new(mptcpize())
        .args(args)
        .env_remove("LD_PRELOAD")
        .stdin(Stdio::null())
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let watchdog = std::thread::spawn(move || {
        let ended =
            mptcp_tests::wait_until(Instant::now() + Duration::from_secs(60), || ended(pid));
        if !ended {
            // SAFETY: our own child, not yet reaped (wait_with_output below reaps it).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let out = child.wait_with_output().unwrap();
    watchdog.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some_and(|code| code != 101) && stderr.is_empty(),
        "mptcpize {args:?} | head -1: {}: {stderr}",
        out.status
    );
    out.status.code().unwrap()
}

/// True when `pid` has exited (it waits to be reaped, or is gone).
fn ended(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(true)
}

#[test]
fn help_version_and_assets() {
    for args in [
        &["--help"][..],
        &["-h"],
        &["--version"],
        &["help", "run"],
        &["help", "--help"],
        &["run", "--help"],
        &["check", "--help"],
        &["watch", "--help"],
        &["enable", "--help"],
    ] {
        assert_eq!(quiet_on_closed_stdout(args), 0, "{args:?}");
    }
    // A usage error goes to stderr (not the closed stdout), status 125.
    let out = Command::new(mptcpize())
        .arg("--no-such-option")
        .stdout(closed_pipe())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-option"));

    let dir = temp_dir("closed-pipe-assets");
    let assets = dir.path().join("assets");
    assert_eq!(
        quiet_on_closed_stdout(&["generate-assets", assets.to_str().unwrap()]),
        0
    );
    // The files were written all the same: only the listing was lost.
    assert!(assets.join("man/man8/mptcpize.8").is_file());
}

/// `check` (its report, and `--json`), with or without MPTCP: the status is the report's
/// (0, 1 or 2), never a panic's.
#[test]
fn check_reports() {
    for args in [
        &["check", "--no-self-test"][..],
        &["check", "--json", "--no-self-test"],
    ] {
        let code = quiet_on_closed_stdout(args);
        assert!((0..=2).contains(&code), "{args:?}: {code}");
    }
}

/// `watch --once` and `--json` with a connection to list (plain TCP, with `--all`).
#[test]
fn watch_snapshots() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let _server = listener.accept().unwrap();
    for args in [
        &["watch", "--once", "--all"][..],
        &["watch", "--once", "--all", "--json"],
        &[
            "watch",
            "--all",
            "--json",
            "--count",
            "3",
            "--interval",
            "0.05",
        ],
    ] {
        assert_eq!(quiet_on_closed_stdout(args), 0, "{args:?}");
    }
}
