//! What this machine lets the tests do: run the privileged tests (root, for network
//! namespaces; a kernel with MPTCP; `ip` from iproute2 to make the namespaces), and which of
//! the real programs the tests drive are installed.
//!
//! std only, and no item of the `mptcp-tests` crate: the build script of
//! `#[mptcp_tests::needs]` (`tests/macros/build.rs`) includes this file (`#[path]`) to decide,
//! when the tests are compiled, which tests are marked ignored ([`write_needs_answers`]), and
//! `mptcp_tests::require` asks the same questions when a test runs.

/// The programs the tests drive (installed by `.ci/run`, or from a package every Debian system
/// has: bash, dpkg, tar, coreutils' `timeout`; `cargo-deb` by `cargo install`), as a test
/// names them: `#[mptcp_tests::needs(privileged, "nc.openbsd")]`. A test needing one more
/// adds it here (an unknown one is a compile error) and to `.ci/run`. `ip`, `ss`, `nstat` and
/// `sysctl` are part of [`missing_privileges`] too: a privileged test need not name them.
pub const PROGRAMS: &[&str] = &[
    "bash",
    "busybox",
    // Builds the Debian package the package tests check (`cargo install cargo-deb`).
    "cargo-deb",
    "curl",
    "dig",
    "dpkg",
    "dpkg-deb",
    "fish",
    "gcc",
    "haproxy",
    "iperf3",
    "man",
    "nc.openbsd",
    "ncat",
    "nft",
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

/// For the build script of `#[mptcp_tests::needs]` (`tests/macros`): writes to `path`
/// this machine's answers, as Rust source: `ANSWERS`, one `(need, missing)` per need a test
/// may name (`privileged`, `mptcp_enabled`, each program of [`PROGRAMS`] in quotes, as
/// written in the attribute), `missing` being the words of the `#[ignore = "needs …"]` where
/// the machine lacks it. With [`NO_SKIP_ENV`] set, anything missing fails the build instead.
#[allow(dead_code)] // Only the attribute's build script writes the answers.
pub fn write_needs_answers(path: &std::path::Path) {
    watch_the_answers();
    let mut answers = Vec::new();
    let mut reasons = Vec::new();
    let mut answer = |need: String, missing: Option<(&str, String)>| {
        let words = missing.map(|(words, reason)| {
            reasons.push(reason);
            words.to_string()
        });
        answers.push(format!("    ({need:?}, {words:?}),\n"));
    };
    answer(
        "privileged".into(),
        missing_privileges().map(|r| ("root, netns and MPTCP", r)),
    );
    answer(
        "mptcp_enabled".into(),
        missing_mptcp().map(|r| ("MPTCP enabled (net.mptcp.enabled)", r)),
    );
    for program in PROGRAMS {
        let absent = find_program(program).is_none();
        answer(
            format!("{program:?}"),
            absent.then(|| (*program, format!("`{program}` is not installed"))),
        );
    }
    fail_without_skips(&reasons);
    let text = format!(
        "// Written by build.rs (`environment::write_needs_answers`): this machine's answers.\n\
         const ANSWERS: &[(&str, Option<&str>)] = &[\n{}];\n",
        answers.concat()
    );
    std::fs::write(path, text).expect("write the answers");
}

/// Tells cargo when to compute the answers again: the user (`sudo`), `PATH`, a directory of
/// `PATH` (a program installed) or [`NO_SKIP_ENV`]; for anything else (a kernel gaining
/// MPTCP), `cargo clean -p mptcp-tests`.
fn watch_the_answers() {
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
}

/// Under [`NO_SKIP_ENV`], a test that cannot run fails the build: says what is missing.
fn fail_without_skips(missing: &[String]) {
    if !missing.is_empty() && no_skip() {
        panic!(
            "tests cannot run: {} (and {NO_SKIP_ENV} forbids skipping them; .ci/run installs \
             the programs)",
            missing.join("; ")
        );
    }
}
