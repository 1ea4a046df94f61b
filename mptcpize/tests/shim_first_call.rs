//! The shim's first `socket()` where the dynamic loader must not be entered: in a signal
//! handler that interrupted the loader, in a child forked from a threaded program, and
//! while another thread is in a library's constructor (which holds the loader's lock); each
//! followed by the process's first `dup2()`, `dup3()` and `close()`, which the shim hooks
//! too. The shim finds the functions it calls when it is loaded, so each of these gets its
//! MPTCP socket at once (a hook that looked up its next definition on first use would wait
//! for the loader's lock in the constructor case: 5 s, a failure). Programs: `shim-programs/first_socket.c`, `slow_constructor.c`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{mptcpize, output_within, TempDir};

const PROGRAMS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/shim-programs");

/// Compiles the test programs into `dir`: the program and the slow-constructor library.
fn build(dir: &Path) -> (PathBuf, PathBuf) {
    let program = dir.join("first_socket");
    let library = dir.join("libslow_constructor.so");
    for (args, what) in [
        (
            vec![
                "-O2",
                "-Wall",
                "-Werror",
                "-pthread",
                "-rdynamic",
                "-o",
                program.to_str().unwrap(),
                &format!("{PROGRAMS}/first_socket.c"),
                "-ldl",
            ],
            "first_socket.c",
        ),
        (
            vec![
                "-O2",
                "-Wall",
                "-Werror",
                "-shared",
                "-fPIC",
                "-o",
                library.to_str().unwrap(),
                &format!("{PROGRAMS}/slow_constructor.c"),
            ],
            "slow_constructor.c",
        ),
    ] {
        let out = Command::new("gcc").args(&args).output().expect("gcc");
        assert!(
            out.status.success(),
            "gcc {what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (program, library)
}

/// `IPPROTO_MPTCP`: what a TCP socket must get under the shim. None (the test is skipped,
/// or fails under `MPTCP_TESTS_NO_SKIP`) where MPTCP is not enabled, since a plain TCP
/// answer would not tell whether the shim ran.
fn expected_protocol(test: &str) -> Option<&'static str> {
    mptcp_tests::require_mptcp(test).then_some("262")
}

fn run_under_mptcpize(program: &Path, args: &[&str], what: &str) {
    let out = output_within(
        Command::new(mptcpize())
            .arg("run")
            .arg(program)
            .args(args)
            .env_remove("LD_PRELOAD")
            .env_remove("MPTCPIZE_DEBUG"),
        Duration::from_secs(120),
        what,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("ok "),
        "{what} ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg_attr(
    not(all(mptcp_enabled, has_gcc)),
    ignore = "needs MPTCP enabled (net.mptcp.enabled), gcc"
)]
#[test]
fn first_socket_in_a_signal_handler_interrupting_the_loader() {
    let test = "first_socket_in_a_signal_handler";
    let Some(expected) = expected_protocol(test) else {
        return;
    };
    if !mptcp_tests::require_program(test, "gcc") {
        return;
    }
    let dir = TempDir::new("first-socket-signal");
    let (program, _) = build(&dir.0);
    run_under_mptcpize(
        &program,
        &["signal", "200", expected],
        "socket() in a SIGALRM handler",
    );
}

#[cfg_attr(
    not(all(mptcp_enabled, has_gcc)),
    ignore = "needs MPTCP enabled (net.mptcp.enabled), gcc"
)]
#[test]
fn first_socket_in_a_child_forked_from_a_threaded_program() {
    let test = "first_socket_in_a_forked_child";
    let Some(expected) = expected_protocol(test) else {
        return;
    };
    if !mptcp_tests::require_program(test, "gcc") {
        return;
    }
    let dir = TempDir::new("first-socket-fork");
    let (program, _) = build(&dir.0);
    run_under_mptcpize(
        &program,
        &["fork", "300", expected],
        "socket() in a child forked while threads use the loader",
    );
}

#[cfg_attr(
    not(all(mptcp_enabled, has_gcc)),
    ignore = "needs MPTCP enabled (net.mptcp.enabled), gcc"
)]
#[test]
fn first_socket_while_another_thread_holds_the_loader_lock() {
    let test = "first_socket_while_a_constructor_runs";
    let Some(expected) = expected_protocol(test) else {
        return;
    };
    if !mptcp_tests::require_program(test, "gcc") {
        return;
    }
    let dir = TempDir::new("first-socket-constructor");
    let (program, library) = build(&dir.0);
    run_under_mptcpize(
        &program,
        &["constructor", "1", expected, library.to_str().unwrap()],
        "socket() while another thread runs a library constructor",
    );
}
