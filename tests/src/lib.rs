//! Test support shared by the workspace's integration tests and benchmarks.
//!
//! - [`require_privileges`], [`require_mptcp`], [`require_program`]: tests that need root,
//!   network namespaces and MPTCP, MPTCP sockets (`cfg(mptcp_enabled)`), or a real program,
//!   skip with a printed reason when they cannot run, unless
//!   `MPTCP_TESTS_NO_SKIP=1` (set by `.ci/run`), which turns such a skip into a failure. So
//!   that the test runner reports such a test as ignored rather than passed, each test
//!   crate's build script sets `cfg(mptcp_privileged)` and `cfg(has_curl)` (one per
//!   program) from the same probes ([`environment`]), and each such test carries, above its
//!   `#[test]`, `#[cfg_attr(not(mptcp_privileged), ignore = "needs root, netns and MPTCP")]`
//!   or, with programs, `#[cfg_attr(not(all(mptcp_privileged, has_curl)), ignore = "needs
//!   root, netns, MPTCP, curl")]`. The run-time checks stay, for a build made elsewhere than
//!   the run.
//! - [`wait_until`]: wait for an observable state (a listener, a file, a subflow) with a
//!   deadline, instead of sleeping for a time that is usually long enough.
//! - [`Netns`]: a uniquely named network namespace, removed (with every process still in it)
//!   when dropped, also when the test panics.
//! - [`workspace_bin`]: the path of a binary or library the workspace built.
//! - [`lab`]: the multipath lab, a client and a server namespace joined by N rate-shaped
//!   veth paths, and a verifiable byte stream to measure goodput and stalls with.
#![deny(missing_docs)]

pub mod environment;
pub mod lab;
pub mod netns;

pub use lab::{Endpoints, Lab, Side};
pub use netns::Netns;

use std::path::PathBuf;

/// Environment variable that turns a privileged test's skip into a failure (CI sets it).
pub const NO_SKIP_ENV: &str = environment::NO_SKIP_ENV;

/// True when the test may go on: the process is root, the kernel has MPTCP, and iproute2
/// and sysctl are installed ([`environment::missing_privileges`]). Otherwise prints why the
/// test is skipped and returns false, or panics when [`NO_SKIP_ENV`] is set.
///
/// Use as `if !mptcp_tests::require_privileges("name") { return; }`, under
/// `#[cfg_attr(not(mptcp_privileged), ignore = "needs root, netns and MPTCP")]`.
pub fn require_privileges(test: &str) -> bool {
    skip_unless(test, environment::missing_privileges().as_deref())
}

/// True when this process can open MPTCP sockets (`net.mptcp.enabled` is 1 in its network
/// namespace; root is not needed, [`environment::missing_mptcp`]). Otherwise skips (see
/// [`skip_unless`]).
///
/// Under `#[cfg_attr(not(mptcp_enabled), ignore = "needs MPTCP enabled (net.mptcp.enabled)")]`.
pub fn require_mptcp(test: &str) -> bool {
    skip_unless(test, environment::missing_mptcp().as_deref())
}

/// Skips (returns false, printing `reason`) when `reason` is `Some`, or panics when
/// [`NO_SKIP_ENV`] is set. For other preconditions (a program not installed, …).
///
/// The line goes straight to the process's stderr: the test harness would capture it,
/// and show it only for a test that fails.
pub fn skip_unless(test: &str, reason: Option<&str>) -> bool {
    match reason {
        None => true,
        Some(reason) => {
            if environment::no_skip() {
                panic!("{test}: cannot run: {reason} (and {NO_SKIP_ENV} forbids skipping)");
            }
            let line =
                format!("SKIPPED {test}: {reason} (set {NO_SKIP_ENV}=1 to make this a failure)\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
            false
        }
    }
}

/// Polls `condition` (every 10 ms) until it holds, or `deadline` has passed; returns
/// whether it held. For a test to wait for what it then asserts (a listener in `ss`, a
/// subflow, a file), never for a fixed time.
pub fn wait_until(deadline: std::time::Instant, mut condition: impl FnMut() -> bool) -> bool {
    loop {
        if condition() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Skips when `program` is not on `PATH` (see [`skip_unless`]).
///
/// Under `#[cfg_attr(not(has_NAME), ignore = "needs NAME")]` (a program of
/// [`environment::PROGRAMS`]).
pub fn require_program(test: &str, program: &str) -> bool {
    let found = environment::find_program(program).is_some();
    let reason = format!("`{program}` is not installed");
    skip_unless(test, (!found).then_some(reason.as_str()))
}

/// The directory cargo writes the workspace's binaries to (`target/debug` or
/// `target/release`), found from the running test executable (`target/<profile>/deps/…`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe
        .parent()
        .expect("test executable has a parent directory");
    if deps.ends_with("deps") {
        deps.parent().unwrap().to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

/// The path of `name` (a binary such as `mptcpize`, or a library file) in
/// [`target_dir`]. Panics with a hint when it was not built.
pub fn workspace_bin(name: &str) -> PathBuf {
    let path = target_dir().join(name);
    assert!(
        path.exists(),
        "{} was not built: run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}
