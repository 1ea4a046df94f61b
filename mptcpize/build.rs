//! Builds the `LD_PRELOAD` shim (`mptcpize-preload`) so the launcher can embed it.
//!
//! `cargo run -p mptcpize` and `cargo install --path mptcpize` build only the binary, never
//! the workspace's cdylib, so a launcher that looked only for a `.so` next to itself would
//! not work from a fresh clone. This script builds the shim with a nested `cargo build`
//! (its own target directory under `OUT_DIR`, the same profile and target, offline: the
//! outer build has already fetched `libc`), and `src/shim.rs` embeds the result with
//! `include_bytes!`. The shim crate is small (`no_std`, depends on `libc`, `mptcp-policy`
//! and `mptcpize-preload-support`), so the nested build costs seconds.
//!
//! The same nested build makes the report library of `mptcpize run --report`
//! (`mptcpize-report`, as small), embedded the same way.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

// `cfg(mptcp_privileged)` for this crate's tests: set where the privileged ones can run,
// so that elsewhere they are reported as ignored.
#[path = "../tests/src/environment.rs"]
mod environment;

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .expect("mptcpize/ lives in the workspace");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let target = env::var("TARGET").expect("TARGET");
    let release = env::var("PROFILE").as_deref() == Ok("release");

    for path in [
        manifest_dir.join("preload/src"),
        manifest_dir.join("preload/Cargo.toml"),
        manifest_dir.join("preload/build.rs"),
        manifest_dir.join("report/src"),
        manifest_dir.join("report/Cargo.toml"),
        manifest_dir.join("report/build.rs"),
        manifest_dir.join("preload-support/src"),
        manifest_dir.join("preload-support/Cargo.toml"),
        workspace.join("mptcp-socket/policy/src"),
        workspace.join("mptcp-socket/policy/Cargo.toml"),
        workspace.join("mptcp-sys/src"),
        workspace.join("mptcp-sys/Cargo.toml"),
        workspace.join("Cargo.toml"),
        workspace.join("tests/src/environment.rs"),
    ] {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    environment::emit_cfg();

    let target_dir = out_dir.join("preload-target");
    let mut cargo = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .args([
            "build",
            "--quiet",
            "--offline",
            "-p",
            "mptcpize-preload",
            "-p",
            "mptcpize-report",
            "--target",
            &target,
        ])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    if release {
        cargo.arg("--release");
    }
    // Only what a cargo invocation needs: the outer build's variables (CARGO_PKG_*,
    // RUSTC_WORKSPACE_WRAPPER set by clippy, CARGO_TARGET_DIR, …) would change what the
    // nested build does.
    cargo.env_clear();
    for name in [
        "PATH",
        "HOME",
        "TMPDIR",
        "CARGO_HOME",
        "RUSTUP_HOME",
        "RUSTUP_TOOLCHAIN",
        "RUSTC",
        "CARGO_ENCODED_RUSTFLAGS",
        // The outer build's jobserver, so the nested build shares its job slots.
        "CARGO_MAKEFLAGS",
    ] {
        if let Some(value) = env::var_os(name) {
            cargo.env(name, value);
        }
    }
    cargo.env("CARGO_TERM_COLOR", "never");
    let status = cargo
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the shim: {e}"));
    assert!(
        status.success(),
        "building the mptcpize-preload shim failed ({status}); see above"
    );

    let profile_dir = if release { "release" } else { "debug" };
    for (file, hash_var) in [
        ("libmptcpize_preload.so", "MPTCPIZE_PRELOAD_HASH"),
        ("libmptcpize_report.so", "MPTCPIZE_REPORT_HASH"),
    ] {
        let built = target_dir.join(&target).join(profile_dir).join(file);
        let bytes = std::fs::read(&built).unwrap_or_else(|e| panic!("{}: {e}", built.display()));
        write_if_changed(&out_dir.join(file), &bytes);
        println!("cargo:rustc-env={hash_var}={:016x}", fnv1a64(&bytes));
    }
}

/// Keeps the file's mtime when the content is the same, so the binary is not relinked.
fn write_if_changed(path: &Path, bytes: &[u8]) {
    if std::fs::read(path).ok().as_deref() != Some(bytes) {
        std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// FNV-1a, 64 bits: names the cache file after the shim's content (not a security
/// measure: the cache directory belongs to the user).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
