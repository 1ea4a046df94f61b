//! Whether this process can run the privileged tests: root (network namespaces need
//! `CAP_SYS_ADMIN` and `CAP_NET_ADMIN`), a kernel with MPTCP, and `ip` (iproute2) to make
//! the namespaces.
//!
//! std only, and no item of the `mptcp-tests` crate: the build scripts of the test crates
//! include this file (`#[path]`) to decide, when the tests are compiled, whether the
//! privileged tests are marked ignored (`cfg(mptcp_privileged)`, see [`emit_cfg`]), and
//! `mptcp_tests::require_privileges` asks the same question when a test runs.

/// The cfg set when the privileged tests can run.
pub const CFG: &str = "mptcp_privileged";

/// Environment variable that turns a skip into a failure (CI sets it).
pub const NO_SKIP_ENV: &str = "MPTCP_TESTS_NO_SKIP";

/// Why the privileged tests cannot run in this process, or `None` when they can.
pub fn missing() -> Option<String> {
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
    let ip_found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("ip").is_file()));
    if !ip_found {
        return Some(
            "`ip` (iproute2) is not installed: it makes the network namespaces".to_string(),
        );
    }
    None
}

/// True when [`NO_SKIP_ENV`] is set (to anything but empty or `0`).
pub fn no_skip() -> bool {
    std::env::var_os(NO_SKIP_ENV).is_some_and(|v| v != "0" && !v.is_empty())
}

/// For a build script: declares `cfg(mptcp_privileged)` and sets it when [`missing`] finds
/// nothing, so that the privileged tests, marked
/// `#[cfg_attr(not(mptcp_privileged), ignore = "…")]`, are reported as ignored, not as
/// passed, where they cannot run. With [`NO_SKIP_ENV`] set, a missing privilege fails
/// the build instead. The answer is computed again when the user (`sudo`), `PATH` or
/// [`NO_SKIP_ENV`] changes; for anything else (a kernel gaining MPTCP), `cargo clean -p`.
#[allow(dead_code)] // The library only asks `missing`.
pub fn emit_cfg() {
    println!("cargo:rustc-check-cfg=cfg({CFG})");
    for var in [NO_SKIP_ENV, "PATH", "USER", "SUDO_UID"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    match missing() {
        None => println!("cargo:rustc-cfg={CFG}"),
        Some(reason) if no_skip() => {
            panic!("the privileged tests cannot run: {reason} (and {NO_SKIP_ENV} forbids skipping them)")
        }
        Some(_) => {}
    }
}
