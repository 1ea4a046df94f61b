//! Test support shared by the workspace's integration tests and benchmarks.
//!
//! - [`macro@needs`]: what a test needs of the machine (root and namespaces, MPTCP sockets,
//!   a real program), declared once above its `#[test]`:
//!   `#[mptcp_tests::needs(privileged, "curl")]`. Where the machine lacks it, the runner
//!   reports the test as ignored with the reason; when it runs, it checks the same needs
//!   first ([`require`]) and skips with a printed reason, unless `MPTCP_TESTS_NO_SKIP=1`
//!   (set by `.ci/run`), which turns such a skip into a failure.
//! - [`wait_until`]: wait for an observable state (a listener, a file, a subflow) with a
//!   deadline, instead of sleeping for a time that is usually long enough.
//! - [`Netns`]: a uniquely named network namespace, removed (with every process still in it)
//!   when dropped, also when the test panics.
//! - [`workspace_bin`]: the path of a binary or library the workspace built.
//! - [`lab`]: the multipath lab, a client and a server namespace joined by N rate-shaped
//!   veth paths, and a verifiable byte stream to measure goodput and stalls with.
//! - [`middlebox`]: firewalls and option-stripping boxes on the lab's paths (nftables rules),
//!   one [`middlebox::Middlebox`] per behaviour.
//! - [`mod@bench`]: what the benchmarks in `tests/benches/` share (sections asked for, the
//!   root check).
//! - [`served`]: real programs in the lab under `mptcpize run`: a server waited for until it
//!   listens, a file served by `python3 -m http.server`, `curl` downloading it.
#![deny(missing_docs)]

pub mod background;
pub mod bench;
pub mod environment;
pub mod lab;
pub mod middlebox;
pub mod netns;
pub mod observe;
pub mod served;
pub mod sshd;
pub mod traffic;

pub use lab::{Endpoints, Lab, Side};
pub use middlebox::{Direction, Middlebox};
pub use mptcp_tests_macros::needs;
pub use netns::Netns;

pub use tempfile::TempDir;

/// A fresh directory for a test's files, `mptcp-TAG-XXXXXX` under the system's temporary
/// directory (unique, so parallel tests and runs never share one), removed when dropped,
/// also when the test panics. Mode 0755, not `tempfile`'s 0700: tests run programs in it as
/// another user (`nobody`).
pub fn temp_dir(tag: &str) -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix(&format!("mptcp-{tag}-"))
        .permissions(std::fs::Permissions::from_mode(0o755))
        .tempdir()
        .expect("create a temporary directory")
}

use std::path::PathBuf;

/// A local port that refuses connections (`ECONNREFUSED`) for as long as this lives.
///
/// A port taken from a listener that is then closed is not closed for long: tests running in
/// parallel bind ephemeral ports too, and one of them may get the same port and accept the
/// connect that was meant to be refused. This holds a TCP socket bound to the port and never
/// listening (without `SO_REUSEADDR`, so no one else can bind it): a SYN to it is answered
/// with a reset, as for a port nothing uses.
pub struct ClosedPort {
    /// The address to connect to.
    pub addr: std::net::SocketAddr,
    _holder: socket2::Socket,
}

impl ClosedPort {
    /// Binds a port on `ip` (`"127.0.0.1"`, `"::1"`, …) and keeps it from listening.
    pub fn new(ip: &str) -> ClosedPort {
        let ip: std::net::IpAddr = ip.parse().expect("an IP address");
        let any_port = std::net::SocketAddr::new(ip, 0);
        let holder = socket2::Socket::new(
            socket2::Domain::for_address(any_port),
            socket2::Type::STREAM,
            None,
        )
        .unwrap();
        holder.bind(&any_port.into()).unwrap();
        let addr = holder.local_addr().unwrap().as_socket().unwrap();
        ClosedPort {
            addr,
            _holder: holder,
        }
    }
}

/// Environment variable that turns a privileged test's skip into a failure (CI sets it).
pub const NO_SKIP_ENV: &str = environment::NO_SKIP_ENV;

/// Something a test needs of the machine (see [`macro@needs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Root, network namespaces, MPTCP, iproute2 and sysctl
    /// ([`environment::missing_privileges`]).
    Privileged,
    /// MPTCP sockets in this process's namespace, root not needed
    /// ([`environment::missing_mptcp`]).
    MptcpEnabled,
    /// A program of [`environment::PROGRAMS`] on `PATH`.
    Program(&'static str),
}

impl Need {
    /// Why this machine does not meet it, or `None` when it does.
    pub fn missing(self) -> Option<String> {
        match self {
            Need::Privileged => environment::missing_privileges(),
            Need::MptcpEnabled => environment::missing_mptcp(),
            Need::Program(program) => environment::find_program(program)
                .is_none()
                .then(|| format!("`{program}` is not installed")),
        }
    }
}

/// True when the machine meets every one of `needs`; otherwise skips with all that is
/// missing (see [`skip_unless`]). [`macro@needs`] starts each test it marks with this.
pub fn require(test: &str, needs: &[Need]) -> bool {
    let missing: Vec<String> = needs.iter().filter_map(|need| need.missing()).collect();
    skip_unless(
        test,
        (!missing.is_empty()).then(|| missing.join("; ")).as_deref(),
    )
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
