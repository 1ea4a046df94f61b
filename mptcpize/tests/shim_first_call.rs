//! The shim's first `socket()` where the dynamic loader must not be entered: in a signal
//! handler that interrupted the loader, in a child forked from a threaded program, and
//! while another thread is in a library's constructor (which holds the loader's lock); each
//! followed by the process's first `dup2()`, `dup3()` and `close()` (which the report
//! library hooks; the shim did too before it identified its sockets by inode number). The
//! shim finds the functions it calls when it is loaded, so each of these gets its
//! MPTCP socket at once (a hook that looked up its next definition on first use would wait
//! for the loader's lock in the constructor case: 5 s, a failure). Programs: `shim-programs/first_socket.c`, `slow_constructor.c`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mptcp_tests::temp_dir;
use support::{mptcpize, output_within};

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

/// `IPPROTO_MPTCP`: what a TCP socket must get under the shim. The tests need MPTCP
/// enabled, since a plain TCP answer would not tell whether the shim ran.
const MPTCP: &str = "262";

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

/// Builds the test program (in a fresh directory) and runs `PROGRAM MODE ROUNDS 262
/// [LIBRARY]` under mptcpize: the first socket made in `mode`, `rounds` times, must be
/// [`MPTCP`]. `with_library`: the program is given the library whose constructor it loads.
fn first_socket(mode: &str, rounds: u32, with_library: bool, what: &str) {
    let dir = temp_dir(&format!("first-socket-{mode}"));
    let (program, library) = build(dir.path());
    let rounds = rounds.to_string();
    let mut args = vec![mode, &rounds, MPTCP];
    if with_library {
        args.push(library.to_str().unwrap());
    }
    run_under_mptcpize(&program, &args, what);
}

#[mptcp_tests::needs(mptcp_enabled, "gcc")]
#[test]
fn first_socket_in_a_signal_handler_interrupting_the_loader() {
    first_socket("signal", 200, false, "socket() in a SIGALRM handler");
}

#[mptcp_tests::needs(mptcp_enabled, "gcc")]
#[test]
fn first_socket_in_a_child_forked_from_a_threaded_program() {
    first_socket(
        "fork",
        300,
        false,
        "socket() in a child forked while threads use the loader",
    );
}

#[mptcp_tests::needs(mptcp_enabled, "gcc")]
#[test]
fn first_socket_while_another_thread_holds_the_loader_lock() {
    first_socket(
        "constructor",
        1,
        true,
        "socket() while another thread runs a library constructor",
    );
}
