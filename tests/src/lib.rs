//! Test support shared by the workspace's integration tests and benchmarks.
//!
//! - [`require_privileges`]: tests that need root or network namespaces skip with a printed
//!   reason when they cannot run, unless `MPTCP_TESTS_NO_SKIP=1` (set by `.ci/run`), which
//!   turns such a skip into a failure.
//! - [`Netns`]: a uniquely named network namespace, removed (with every process still in it)
//!   when dropped, also when the test panics.
//! - [`workspace_bin`]: the path of a binary or library the workspace built.
//! - [`lab`]: the multipath lab, a client and a server namespace joined by N rate-shaped
//!   veth paths, and a verifiable byte stream to measure goodput and stalls with.
#![deny(missing_docs)]

pub mod lab;
pub mod netns;

pub use lab::{Endpoints, Lab, Side};
pub use netns::Netns;

use std::path::PathBuf;

/// Environment variable that turns a privileged test's skip into a failure (CI sets it).
pub const NO_SKIP_ENV: &str = "MPTCP_TESTS_NO_SKIP";

/// True when the test may go on: the process is root and `ip netns` works. Otherwise prints
/// why the test is skipped and returns false, or panics when [`NO_SKIP_ENV`] is set.
///
/// Use as `if !mptcp_tests::require_privileges("name") { return; }`.
pub fn require_privileges(test: &str) -> bool {
    let reason = if unsafe { libc::geteuid() } != 0 {
        Some("not running as root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)")
    } else if !std::path::Path::new("/proc/sys/net/mptcp/enabled").exists() {
        Some("this kernel has no MPTCP (/proc/sys/net/mptcp/enabled is missing)")
    } else {
        None
    };
    skip_unless(test, reason)
}

/// Skips (returns false, printing `reason`) when `reason` is `Some`, or panics when
/// [`NO_SKIP_ENV`] is set. For other preconditions (a program not installed, …).
pub fn skip_unless(test: &str, reason: Option<&str>) -> bool {
    match reason {
        None => true,
        Some(reason) => {
            if std::env::var_os(NO_SKIP_ENV).is_some_and(|v| v != "0" && !v.is_empty()) {
                panic!("{test}: cannot run: {reason} (and {NO_SKIP_ENV} forbids skipping)");
            }
            eprintln!("SKIPPED {test}: {reason} (set {NO_SKIP_ENV}=1 to make this a failure)");
            false
        }
    }
}

/// Skips when `program` is not on `PATH` (see [`skip_unless`]).
pub fn require_program(test: &str, program: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false);
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
