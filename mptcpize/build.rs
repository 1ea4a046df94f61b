//! Builds the two libraries the launcher embeds — the `LD_PRELOAD` shim (`mptcpize-preload`)
//! and the report library of `mptcpize run --report` (`mptcpize-report`) — with a nested
//! `cargo build`; `src/shim.rs` embeds the results with `include_bytes!`.
//!
//! `cargo run -p mptcpize` and `cargo install --path mptcpize` build only the binary, never
//! the workspace's cdylibs, so a launcher that looked only for a `.so` next to itself would
//! not work from a fresh clone. The libraries are small (`no_std`, depending on `libc`,
//! `mptcp-policy`, `mptcp-sys` and `mptcpize-preload-support`): the nested build costs
//! seconds. It has its own target directory under `OUT_DIR`, the same profile and target,
//! and runs offline (the outer build has already fetched `libc`).
//!
//! Where the nested build takes its sources from ([`Sources`]), decided by one test — is
//! `preload/Cargo.toml` beside this file?
//!
//! - **In the workspace** (a clone: `cargo run`, `cargo build`, `cargo install --path`,
//!   `mptcpize/debian/build-deb`): the workspace's own manifest and `Cargo.lock`, as they
//!   are — nothing copied, so nothing can go stale. After the build, this script declares
//!   every file the libraries were compiled from (the dep-info cargo writes beside each
//!   library lists them, including new modules and new path dependencies), their crates'
//!   manifests, the workspace manifest and `Cargo.lock` with `rerun-if-changed`: a change to
//!   any of them reruns this script, and the nested cargo rebuilds what changed.
//!   `mptcpize/tests/package.rs` checks that list against `cargo metadata`.
//! - **In the packaged crate** (`cargo package`, `cargo install mptcpize`): `cargo package`
//!   leaves out every subdirectory holding a `Cargo.toml`, so the libraries' sources travel
//!   in `libraries/`, symbolic links in the repository that `cargo package` stores as the
//!   files they point to (see `libraries/README.md`). They are laid out again as a
//!   workspace under `OUT_DIR` (manifests named `Cargo.toml`, the members narrowed to these
//!   crates, no dev-dependencies) and built there. A packaged crate never changes, but the
//!   layout is rewritten from `libraries/` at every run all the same, `Cargo.lock`
//!   included.

use std::collections::BTreeSet;
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The packaged crate's libraries: their name in `libraries/` and their directory in the
/// workspace (the relative paths between them must stay as they are).
const LIBRARIES: [(&str, &str); 5] = [
    ("mptcp-sys", "mptcp-sys"),
    ("mptcp-policy", "mptcp-socket/policy"),
    ("mptcpize-preload-support", "mptcpize/preload-support"),
    ("mptcpize-preload", "mptcpize/preload"),
    ("mptcpize-report", "mptcpize/report"),
];

/// The embedded libraries: file name, and the variable carrying its hash to `src/shim.rs`.
const EMBEDDED: [(&str, &str); 2] = [
    ("libmptcpize_preload.so", "MPTCPIZE_PRELOAD_HASH"),
    ("libmptcpize_report.so", "MPTCPIZE_REPORT_HASH"),
];

/// Where the nested build's sources are.
enum Sources {
    /// The workspace this crate is a member of: its root directory.
    Workspace(PathBuf),
    /// The packaged crate: the workspace laid out from `libraries/` under `OUT_DIR`.
    Packaged(PathBuf),
}

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let target = env::var("TARGET").expect("TARGET");
    let release = env::var("PROFILE").as_deref() == Ok("release");

    let sources = if manifest_dir.join("preload/Cargo.toml").is_file() {
        let root = manifest_dir
            .parent()
            .expect("mptcpize/ has a parent: the workspace root")
            .to_owned();
        // A packaged layout left by an earlier build of this kind (or by this script's
        // former way of building) is never used here: removed, so no copy lingers.
        let _ = std::fs::remove_dir_all(out_dir.join("libraries"));
        Sources::Workspace(root)
    } else {
        Sources::Packaged(lay_out_packaged(
            &manifest_dir.join("libraries"),
            &out_dir.join("libraries"),
        ))
    };
    let root = match &sources {
        Sources::Workspace(root) | Sources::Packaged(root) => root,
    };

    let target_dir = out_dir.join("preload-target");
    build_libraries(root, &target_dir, &target, release);

    let built = target_dir
        .join(&target)
        .join(if release { "release" } else { "debug" });
    if let Sources::Workspace(root) = &sources {
        for path in inputs(root, &built) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    for (file, hash_var) in EMBEDDED {
        let path = built.join(file);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        write_if_changed(&out_dir.join(file), &bytes);
        println!("cargo:rustc-env={hash_var}={:016x}", fnv1a64(&bytes));
    }
}

/// Runs `cargo build` of the two libraries in the workspace at `root` (its manifest and
/// `Cargo.lock`), into `target_dir`.
fn build_libraries(root: &Path, target_dir: &Path, target: &str, release: bool) {
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
            target,
        ])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
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
        cargo.env(
            "CARGO_ENCODED_RUSTFLAGS",
            without_instrumentation(&without_crt_static(&flags)),
        );
    }
    cargo.env("CARGO_TERM_COLOR", "never");
    let status = cargo
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the shim: {e}"));
    assert!(
        status.success(),
        "building the mptcpize-preload shim and the mptcpize-report library failed \
         ({status}); see above"
    );
}

/// What the libraries built in `built` (a profile directory of the nested build) were made
/// from in the workspace at `root`: every source file cargo's dep-info lists for them (their
/// crates' and their path dependencies' `src/` files and build scripts), the manifest and
/// the whole `src/` directory of each crate those files belong to (cargo scans a directory
/// whole: a new file, or a module compiled only for the crate's own tests, is covered too),
/// and the workspace's `Cargo.toml` and `Cargo.lock`.
fn inputs(root: &Path, built: &Path) -> BTreeSet<PathBuf> {
    let mut inputs = BTreeSet::from([root.join("Cargo.toml"), root.join("Cargo.lock")]);
    for (file, _) in EMBEDDED {
        let dep_info = built.join(file).with_extension("d");
        let text = std::fs::read_to_string(&dep_info)
            .unwrap_or_else(|e| panic!("{}: {e}", dep_info.display()));
        for source in dep_info_sources(&text) {
            // Relative when a `build.dep-info-basedir` is configured: the workspace root.
            let source = root.join(source);
            // Registry crates are pinned by Cargo.lock; only the workspace's files can change.
            if !source.starts_with(root) {
                continue;
            }
            if let Some(manifest) = source
                .ancestors()
                .skip(1)
                .take_while(|dir| dir.starts_with(root))
                .map(|dir| dir.join("Cargo.toml"))
                .find(|manifest| manifest.is_file())
            {
                let src = manifest.with_file_name("src");
                if src.is_dir() {
                    inputs.insert(src);
                }
                inputs.insert(manifest);
            }
            inputs.insert(source);
        }
    }
    inputs
}

/// The prerequisites of a Makefile-style dep-info file (`target: a b\ c …`), with `\ `
/// unescaped.
fn dep_info_sources(text: &str) -> Vec<PathBuf> {
    let mut sources = Vec::new();
    for line in text.lines() {
        let Some((_, prerequisites)) = line.split_once(": ") else {
            continue;
        };
        let mut current = String::new();
        let mut chars = prerequisites.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => current.extend(chars.next()),
                ' ' => {
                    if !current.is_empty() {
                        sources.push(PathBuf::from(std::mem::take(&mut current)));
                    }
                }
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            sources.push(PathBuf::from(current));
        }
    }
    sources
}

/// Lays the packaged libraries' sources from `libraries/` (`from`) out as a workspace under
/// `to` and returns `to`: each crate's manifest, `build.rs` and `src/` in its workspace
/// directory, the workspace manifest with its `members` narrowed to these crates, and the
/// workspace's `Cargo.lock`. Every file is rewritten at every run when its content differs
/// (so the nested build stays incremental, and nothing kept from an earlier run can be
/// stale).
fn lay_out_packaged(from: &Path, to: &Path) -> PathBuf {
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
    // The nested cargo trims the entries of the crates left out, so this is written again
    // at every run; the versions it pins stay those of the workspace.
    write_if_changed(&to.join("Cargo.lock"), &read(&from.join("workspace.lock")));
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

/// The outer build's flags minus a fuzzing build's instrumentation (`cargo fuzz` sets
/// `-Zsanitizer=…`, sanitizer-coverage passes and `--cfg fuzzing`): the libraries are
/// embedded to be loaded into other programs, never fuzzed, and a shared library with
/// the coverage instrumentation but without the fuzzer's runtime does not link.
fn without_instrumentation(encoded: &str) -> String {
    let mut flags: Vec<&str> = Vec::new();
    let mut parts = encoded.split('\x1f').filter(|f| !f.is_empty()).peekable();
    while let Some(flag) = parts.next() {
        if flag == "--cfg" && parts.peek() == Some(&"fuzzing") {
            parts.next();
            continue;
        }
        let instrumentation = flag.starts_with("-Zsanitizer")
            || flag.starts_with("-Cpasses=sancov")
            || flag.starts_with("-Cllvm-args=-sanitizer-coverage");
        if !instrumentation {
            flags.push(flag);
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
