//! What this machine lets the tests do: run the privileged tests (root, for network
//! namespaces; a kernel with MPTCP; `ip` from iproute2 to make the namespaces), and which of
//! the real programs the tests drive are installed.
//!
//! std only, and no item of the `mptcp-tests` crate: the build scripts of the test crates
//! include this file (`#[path]`) to decide, when the tests are compiled, which tests are
//! marked ignored ([`emit_cfg`]), and `mptcp_tests::require_privileges` /
//! `require_program` ask the same questions when a test runs.

/// The cfg set when the privileged tests can run.
pub const PRIVILEGED_CFG: &str = "mptcp_privileged";

/// The cfg set when this process's network namespace gives MPTCP sockets
/// (`net.mptcp.enabled` is 1): for the tests that open them on loopback without root.
pub const ENABLED_CFG: &str = "mptcp_enabled";

/// The programs the tests drive (installed by `.ci/run`, or from a package every Debian system
/// has: bash, dpkg, tar, coreutils' `timeout`): for each one installed, the build
/// script sets `cfg(has_NAME)`, the name with `.` and `-` as `_` (`has_curl`,
/// `has_nc_openbsd`). A test needing one more adds it here (an unknown cfg is a warning,
/// an error under clippy -D warnings) and to `.ci/run`. `ip`, `ss`, `nstat` and `sysctl` are
/// part of [`missing_privileges`] too: a privileged test need not name them.
pub const PROGRAMS: &[&str] = &[
    "bash",
    "busybox",
    "curl",
    "dpkg",
    "dpkg-deb",
    "fish",
    "gcc",
    "iperf3",
    "man",
    "nc.openbsd",
    "ncat",
    "node",
    "nsenter",
    "nstat",
    "python3",
    "setpriv",
    "socat",
    "ss",
    "ssh",
    "ssh-keygen",
    "sshd",
    "systemd-analyze",
    "tar",
    "timeout",
    "tmux",
    "unshare",
    "wget",
    "zsh",
];

/// The cfg that says `program` is installed: `has_nc_openbsd` for `nc.openbsd`.
pub fn program_cfg(program: &str) -> String {
    format!("has_{}", program.replace(['.', '-'], "_"))
}

/// Environment variable that turns a skip into a failure (CI sets it).
pub const NO_SKIP_ENV: &str = "MPTCP_TESTS_NO_SKIP";

/// Why the privileged tests cannot run in this process, or `None` when they can.
pub fn missing_privileges() -> Option<String> {
    // The effective uid, second field of `Uid:` in /proc/self/status (no libc here).
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|id| id.parse::<u32>().ok());
    if euid != Some(0) {
        return Some(
            "not running as root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)"
                .to_string(),
        );
    }
    if !std::path::Path::new("/proc/sys/net/mptcp/enabled").exists() {
        return Some(
            "this kernel has no MPTCP (/proc/sys/net/mptcp/enabled is missing)".to_string(),
        );
    }
    // iproute2 makes and watches the namespaces, procps' sysctl configures them.
    let tools = ["ip", "ss", "nstat", "sysctl"];
    if let Some(tool) = tools.into_iter().find(|t| find_program(t).is_none()) {
        return Some(format!(
            "`{tool}` is not installed (iproute2, procps: the namespaces are made, set and \
             watched with them)"
        ));
    }
    None
}

/// Why `socket(…, IPPROTO_MPTCP)` fails in this process's network namespace, or `None` when
/// MPTCP is enabled there (`/proc/sys/net/mptcp/enabled` reads 1; root is not needed).
pub fn missing_mptcp() -> Option<String> {
    match std::fs::read_to_string("/proc/sys/net/mptcp/enabled") {
        Err(_) => {
            Some("this kernel has no MPTCP (/proc/sys/net/mptcp/enabled is missing)".to_string())
        }
        Ok(value) if value.trim() != "1" => {
            Some("MPTCP is not enabled here: `sysctl -w net.mptcp.enabled=1` (as root)".to_string())
        }
        Ok(_) => None,
    }
}

/// Where `program` is on `PATH`, if it is.
pub fn find_program(program: &str) -> Option<std::path::PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// True when [`NO_SKIP_ENV`] is set (to anything but empty or `0`).
pub fn no_skip() -> bool {
    std::env::var_os(NO_SKIP_ENV).is_some_and(|v| v != "0" && !v.is_empty())
}

/// For a build script: declares `cfg(mptcp_privileged)`, `cfg(mptcp_enabled)` (MPTCP
/// sockets without root, [`missing_mptcp`]) and a `cfg(has_NAME)` per program
/// of [`PROGRAMS`], and sets them for what this machine has, so that a test that cannot run
/// here, marked `#[cfg_attr(not(mptcp_privileged), ignore = "needs root, netns and MPTCP")]`
/// (or `not(all(mptcp_privileged, has_curl))`, …), is reported as ignored, not as passed. With
/// [`NO_SKIP_ENV`] set, anything missing fails the build instead. Computed again when the
/// user (`sudo`), `PATH`, a directory of `PATH` (a program installed) or [`NO_SKIP_ENV`]
/// changes; for anything else (a kernel gaining MPTCP), `cargo clean -p`.
#[allow(dead_code)] // The library asks the questions one by one.
pub fn emit_cfg() {
    println!("cargo:rustc-check-cfg=cfg({PRIVILEGED_CFG})");
    println!("cargo:rustc-check-cfg=cfg({ENABLED_CFG})");
    for program in PROGRAMS {
        println!("cargo:rustc-check-cfg=cfg({})", program_cfg(program));
    }
    for var in [NO_SKIP_ENV, "PATH", "USER", "SUDO_UID"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    // Cargo scans a directory whole: only the conventional program directories (a PATH
    // holding `.` or a home directory would make every build scan it).
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let conventional = dir.is_absolute()
                && dir.is_dir()
                && dir
                    .file_name()
                    .is_some_and(|name| name == "bin" || name == "sbin");
            if conventional {
                println!("cargo:rerun-if-changed={}", dir.display());
            }
        }
    }
    let mut missing = Vec::new();
    match missing_mptcp() {
        None => println!("cargo:rustc-cfg={ENABLED_CFG}"),
        Some(reason) => missing.push(reason),
    }
    match missing_privileges() {
        None => println!("cargo:rustc-cfg={PRIVILEGED_CFG}"),
        Some(reason) => missing.push(reason),
    }
    for program in PROGRAMS {
        match find_program(program) {
            Some(_) => println!("cargo:rustc-cfg={}", program_cfg(program)),
            None => missing.push(format!("`{program}` is not installed")),
        }
    }
    if !missing.is_empty() && no_skip() {
        panic!(
            "tests cannot run: {} (and {NO_SKIP_ENV} forbids skipping them; .ci/run installs \
             the programs)",
            missing.join("; ")
        );
    }
}
