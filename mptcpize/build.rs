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
//!
//! The sources come from `libraries/` inside this package: symbolic links to the five crates'
//! manifests, `src/` and `build.rs`, and to the workspace's manifest and lock file, whose
//! targets `cargo package` stores, so that the published crate builds the same libraries
//! offline with no path outside the package (see `libraries/README.md`). The workspace
//! layout of those crates is rebuilt under `OUT_DIR` and built there.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The crates the launcher embeds or they use: their name in `libraries/` and their
/// directory in the workspace (the relative paths between them must stay as they are).
const LIBRARIES: [(&str, &str); 5] = [
    ("mptcp-sys", "mptcp-sys"),
    ("mptcp-policy", "mptcp-socket/policy"),
    ("mptcpize-preload-support", "mptcpize/preload-support"),
    ("mptcpize-preload", "mptcpize/preload"),
    ("mptcpize-report", "mptcpize/report"),
];

// `cfg(mptcp_privileged)` for this crate's tests: set where the privileged ones can run,
// so that elsewhere they are reported as ignored. (`libraries/environment.rs` links to the
// test support's probe, so that the packaged crate carries it.)
#[path = "libraries/environment.rs"]
mod environment;

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let target = env::var("TARGET").expect("TARGET");
    let release = env::var("PROFILE").as_deref() == Ok("release");

    let workspace = rebuild_workspace(&manifest_dir.join("libraries"), &out_dir.join("libraries"));
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("libraries/environment.rs").display()
    );
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
        // The outer build's jobserver, so the nested build shares its job slots.
        "CARGO_MAKEFLAGS",
    ] {
        if let Some(value) = env::var_os(name) {
            cargo.env(name, value);
        }
    }
    if let Ok(flags) = env::var("CARGO_ENCODED_RUSTFLAGS") {
        cargo.env("CARGO_ENCODED_RUSTFLAGS", without_crt_static(&flags));
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

/// Copies the libraries' sources from `libraries/` into `to`, in the workspace's layout,
/// with the workspace manifest narrowed to them; returns `to`. Files are rewritten only when
/// their content changed, so the nested build stays incremental.
fn rebuild_workspace(from: &Path, to: &Path) -> PathBuf {
    let read = |path: &Path| {
        println!("cargo:rerun-if-changed={}", path.display());
        std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let mut members = String::from("members = [");
    for (name, dir) in LIBRARIES {
        let dest = to.join(dir);
        copy_tree(&from.join(format!("{name}-src")), &dest.join("src"));
        let manifest = String::from_utf8(read(&from.join(format!("{name}.toml")))).expect("UTF-8");
        write_if_changed(
            &dest.join("Cargo.toml"),
            without_dev_dependencies(&manifest).as_bytes(),
        );
        let build = from.join(format!("{name}-build.rs"));
        if build.exists() {
            write_if_changed(&dest.join("build.rs"), &read(&build));
        }
        members.push_str(&format!("\"{dir}\", "));
    }
    members.push(']');
    let manifest = String::from_utf8(read(&from.join("workspace.toml"))).expect("UTF-8");
    // `members = [ … ]`: the workspace's other crates are not in this package.
    let start = manifest
        .find("members = [")
        .expect("the workspace manifest lists its members as `members = [ … ]`");
    let end = start
        + manifest[start..]
            .find(']')
            .expect("`members` ends with `]`")
        + 1;
    let manifest = format!("{}{members}{}", &manifest[..start], &manifest[end..]);
    write_if_changed(&to.join("Cargo.toml"), manifest.as_bytes());
    // Only written when missing: the nested cargo trims it to these crates.
    if !to.join("Cargo.lock").exists() {
        write_if_changed(&to.join("Cargo.lock"), &read(&from.join("workspace.lock")));
    }
    to.to_owned()
}

/// `manifest` without its `[dev-dependencies]` table: only the libraries are built here, and
/// their test-only dependencies (the workspace's test support) are not in this package.
fn without_dev_dependencies(manifest: &str) -> String {
    let mut kept = String::with_capacity(manifest.len());
    let mut in_dev = false;
    for line in manifest.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_dev = trimmed.starts_with("[dev-dependencies");
        }
        if !in_dev {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
}

/// Copies the files under `from` (following symbolic links) to `to`.
fn copy_tree(from: &Path, to: &Path) {
    let entries = std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(entry.file_name()));
        } else {
            println!("cargo:rerun-if-changed={}", path.display());
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            write_if_changed(&to.join(entry.file_name()), &bytes);
        }
    }
}

/// The outer build's flags minus `+crt-static`: a statically linked launcher (the Debian
/// package's, see `debian/build-deb`) is a link choice for the binary, and a shared library
/// cannot be linked that way (rustc refuses to make a cdylib with it).
fn without_crt_static(encoded: &str) -> String {
    let mut flags: Vec<String> = Vec::new();
    for flag in encoded.split('\x1f').filter(|f| !f.is_empty()) {
        let (prefix, value) = match flag.strip_prefix("-C") {
            Some(rest) if rest.starts_with("target-feature=") => ("-C", rest),
            _ => ("", flag),
        };
        let Some(features) = value.strip_prefix("target-feature=") else {
            flags.push(flag.to_owned());
            continue;
        };
        let kept: Vec<&str> = features
            .split(',')
            .filter(|f| *f != "+crt-static")
            .collect();
        if kept.is_empty() {
            // A lone `-C` before it goes too.
            if prefix.is_empty() && flags.last().is_some_and(|f| f == "-C") {
                flags.pop();
            }
        } else {
            flags.push(format!("{prefix}target-feature={}", kept.join(",")));
        }
    }
    flags.join("\x1f")
}

/// Keeps the file's mtime when the content is the same, so the binary is not relinked.
fn write_if_changed(path: &Path, bytes: &[u8]) {
    if std::fs::read(path).ok().as_deref() != Some(bytes) {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
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
