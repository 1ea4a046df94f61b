//! The Debian package built by `mptcpize/debian/build-deb` (by these tests, or the file
//! `MPTCPIZE_DEB` names; they need `cargo-deb`, else they are reported ignored): its
//! control fields, its exact file list, and, unpacked
//! with `dpkg -x` into a scratch root, a launcher that runs a program over MPTCP with the
//! packaged shim while writing nothing under `HOME`, man pages `man -l` renders, and
//! completion files each shell loads. And the crates `cargo package` makes of these sources
//! (these tests run it): the packaged `mptcpize`, unpacked alone, installs offline with its
//! shim embedded.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use mptcp_tests::temp_dir;

/// Every file the package holds (directories aside), as `dpkg-deb -c` lists them.
const FILES: &[&str] = &[
    "./usr/bin/mptcpize",
    "./usr/lib/mptcpize/libmptcpize_preload.so",
    "./usr/lib/mptcpize/libmptcpize_report.so",
    "./usr/share/man/man8/mptcpize.8.gz",
    "./usr/share/man/man8/mptcpize-run.8.gz",
    "./usr/share/man/man8/mptcpize-watch.8.gz",
    "./usr/share/man/man8/mptcpize-enable.8.gz",
    "./usr/share/man/man8/mptcpize-disable.8.gz",
    "./usr/share/man/man8/mptcpize-check.8.gz",
    "./usr/share/bash-completion/completions/mptcpize",
    "./usr/share/zsh/vendor-completions/_mptcpize",
    "./usr/share/fish/vendor_completions.d/mptcpize.fish",
    "./usr/share/doc/mptcpize-rs/copyright",
    "./usr/share/doc/mptcpize-rs/changelog.Debian.gz",
];

/// The package to check: the file `MPTCPIZE_DEB` names (CI names the one it built), else
/// one `mptcpize/debian/build-deb` builds from these sources into this test's own target
/// directory, once per run of this test binary (cargo's cache makes the next runs quick).
/// Not the newest of `target/debian/`: it may be older than the sources under test.
fn package() -> PathBuf {
    if let Some(path) = std::env::var_os("MPTCPIZE_DEB") {
        return PathBuf::from(path);
    }
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(build_package).clone()
}

/// Runs `mptcpize/debian/build-deb` with `CARGO_TARGET_DIR` in this test's directory (the
/// workspace's own is locked by the cargo running this test), returns the `.deb`.
fn build_package() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("deb-build");
    let debian = target.join("debian");
    let _ = std::fs::remove_dir_all(&debian);
    // The cargo that runs these tests builds the package too.
    let mut path = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .and_then(|cargo| cargo.parent().map(Path::to_path_buf))
        .into_iter()
        .collect::<Vec<_>>();
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    run_ok(
        Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("debian/build-deb"))
            .env("CARGO_TARGET_DIR", &target)
            .env("PATH", std::env::join_paths(path).unwrap())
            .env_remove("CARGO_BUILD_TARGET_DIR"),
        "mptcpize/debian/build-deb (set MPTCPIZE_DEB to a package built earlier to skip this)",
    );
    let built: Vec<PathBuf> = std::fs::read_dir(&debian)
        .unwrap_or_else(|e| panic!("{}: {e}", debian.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "deb"))
        .collect();
    assert_eq!(built.len(), 1, "build-deb made {built:?}");
    built.into_iter().next().unwrap()
}

/// Runs `cmd` to its end, however long (a package build is slower than
/// [`support::output_ok`]'s deadline), and checks that it succeeded.
fn run_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    support::succeeded(out, what)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[mptcp_tests::needs("cargo-deb", "dpkg-deb")]
#[test]
fn control_fields_and_file_list() {
    let deb = package();

    let field = |name: &str| {
        let out = run_ok(
            Command::new("dpkg-deb").arg("-f").arg(&deb).arg(name),
            "dpkg-deb -f",
        );
        stdout(&out).trim().to_owned()
    };
    assert_eq!(field("Package"), "mptcpize-rs");
    assert_eq!(field("Version"), format!("{}-1", env!("CARGO_PKG_VERSION")));
    // Installing it removes Debian's mptcpize (same /usr/bin/mptcpize and mptcpize.8) and
    // stands in for it where a package depends on or recommends it (mptcpd).
    for name in ["Conflicts", "Replaces", "Provides"] {
        assert_eq!(field(name), "mptcpize", "{name}");
    }
    assert_eq!(field("Depends"), "libc6 (>= 2.34)");
    // The bash completion file does nothing without bash-completion's loader.
    assert_eq!(field("Recommends"), "bash-completion");
    assert_eq!(field("Section"), "net");
    assert!(!field("Description").is_empty());

    let listing = stdout(&run_ok(
        Command::new("dpkg-deb").arg("-c").arg(&deb),
        "dpkg-deb -c",
    ));
    let mut files: Vec<&str> = listing
        .lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().nth(5))
        .collect();
    files.sort_unstable();
    let mut expected = FILES.to_vec();
    expected.sort_unstable();
    assert_eq!(files, expected, "{listing}");
    // Root-owned, the libraries readable by every service user.
    for line in listing.lines().filter(|l| !l.starts_with('d')) {
        assert!(line.contains(" 0/0 "), "{line}");
        assert!(
            line.starts_with("-rw-r--r--") || line.starts_with("-rwxr-xr-x"),
            "{line}"
        );
    }
    // The maintainer scripts are the repository's (mptcpize/debian/prerm and postrm):
    // removal warns about units `mptcpize enable` set up, purge removes their drop-ins
    // (run by mptcpize/debian/check-replace).
    for script in ["prerm", "postrm"] {
        let packed = stdout(&run_ok(
            Command::new("dpkg-deb").arg("-I").arg(&deb).arg(script),
            "dpkg-deb -I",
        ));
        let source = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("debian")
                .join(script),
        )
        .unwrap();
        for line in source.lines().filter(|l| !l.contains("#DEBHELPER#")) {
            assert!(packed.contains(line), "{script} lacks {line:?}:\n{packed}");
        }
    }
}

/// True when the ELF file has no program interpreter (statically linked).
fn statically_linked(path: &Path) -> bool {
    let elf = std::fs::read(path).unwrap();
    assert!(
        elf.starts_with(b"\x7fELF\x02"),
        "{}: not ELF64",
        path.display()
    );
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    (0..phnum).all(|i| {
        let at = phoff + i * phentsize;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) != PT_INTERP
    })
}

#[mptcp_tests::needs(mptcp_enabled, "cargo-deb", "dpkg", "python3")]
#[test]
fn unpacked_launcher_uses_the_packaged_libraries_and_leaves_home_alone() {
    let deb = package();
    let root = temp_dir("deb-root");
    run_ok(
        Command::new("dpkg").arg("-x").arg(&deb).arg(root.path()),
        "dpkg -x",
    );
    let launcher = root.path().join("usr/bin/mptcpize");
    assert!(
        statically_linked(&launcher),
        "the packaged launcher is dynamically linked"
    );
    let home = temp_dir("deb-home");

    // The program reports the protocol of the TCP socket it creates and the libraries it
    // was given.
    let script = "import os, socket\n\
                  s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n\
                  print(s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL))\n\
                  print(os.environ.get('LD_PRELOAD', ''))\n";
    for report in [false, true] {
        let mut cmd = Command::new(&launcher);
        cmd.arg("run");
        if report {
            cmd.arg("--report");
        }
        cmd.args(["python3", "-c", script])
            .env("HOME", home.path())
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("MPTCPIZE_PRELOAD")
            .env_remove("MPTCPIZE_REPORT_PRELOAD")
            .env_remove("LD_PRELOAD");
        let out = stdout(&run_ok(&mut cmd, "the unpacked launcher"));
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("262"), "not IPPROTO_MPTCP: {out}");
        let preload: Vec<PathBuf> = lines
            .next()
            .unwrap_or_default()
            .split(':')
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|e| panic!("{p}: {e}")))
            .collect();
        let packaged = |name: &str| {
            std::fs::canonicalize(root.path().join("usr/lib/mptcpize").join(name)).unwrap()
        };
        let mut expected = vec![packaged("libmptcpize_preload.so")];
        if report {
            expected.push(packaged("libmptcpize_report.so"));
        }
        assert_eq!(preload, expected, "{out}");
    }
    // The statically linked launcher's seccomp mode (no preload: the supervisor rewrites).
    let out = stdout(&run_ok(
        Command::new(&launcher)
            .args(["run", "--seccomp", "python3", "-c", script])
            .env("HOME", home.path())
            .env_remove("LD_PRELOAD"),
        "the unpacked launcher, --seccomp",
    ));
    assert_eq!(out.lines().next(), Some("262"), "not IPPROTO_MPTCP: {out}");
    let left: Vec<_> = std::fs::read_dir(home.path()).unwrap().collect();
    assert!(left.is_empty(), "the launcher wrote under HOME: {left:?}");
}

#[mptcp_tests::needs("cargo-deb", "dpkg", "man", "bash", "zsh", "fish")]
#[test]
fn man_pages_render_and_completions_load() {
    // Each shell the package has completions for loads them: all three are needed.
    let deb = package();
    let root = temp_dir("deb-docs");
    run_ok(
        Command::new("dpkg").arg("-x").arg(&deb).arg(root.path()),
        "dpkg -x",
    );
    for page in FILES.iter().filter(|f| f.contains("/man8/")) {
        let out = run_ok(
            Command::new("man")
                .arg("-l")
                .arg(root.path().join(page))
                .env("MANPAGER", "cat")
                .env("MANWIDTH", "80"),
            &format!("man -l {page}"),
        );
        let text = stdout(&out);
        assert!(
            text.contains("NAME") && text.contains("SYNOPSIS"),
            "{page}:\n{text}"
        );
    }
    let run_text = stdout(&run_ok(
        Command::new("man")
            .arg("-l")
            .arg(root.path().join("usr/share/man/man8/mptcpize-run.8.gz"))
            .env("MANPAGER", "cat"),
        "man -l mptcpize-run",
    ));
    // The page is generated from the same definitions as `--help`.
    assert!(run_text.contains("--report"), "{run_text}");

    let completions = root.path().join("usr/share");
    {
        let file = completions.join("bash-completion/completions/mptcpize");
        let out = run_ok(
            Command::new("bash")
                .arg("--norc")
                .arg("-c")
                .arg("source \"$1\" && complete -p mptcpize")
                .arg("bash")
                .arg(&file),
            "bash: source the completion",
        );
        assert!(stdout(&out).contains("mptcpize"), "{}", stdout(&out));
    }
    {
        let file = completions.join("zsh/vendor-completions/_mptcpize");
        let out = run_ok(
            Command::new("zsh")
                .args(["-f", "-c"])
                .arg(
                    "autoload -Uz compinit && compinit -u -D && source \"$1\" \
                     && whence -w _mptcpize",
                )
                .arg("zsh")
                .arg(&file),
            "zsh: load the completion",
        );
        assert!(stdout(&out).contains("function"), "{}", stdout(&out));
    }
    {
        let file = completions.join("fish/vendor_completions.d/mptcpize.fish");
        let out = run_ok(
            Command::new("fish")
                .arg("--no-config")
                .arg("-c")
                .arg("source $argv[1]; complete -C 'mptcpize '")
                .arg(&file),
            "fish: load the completion",
        );
        let words = stdout(&out);
        for sub in ["run", "enable", "disable", "check"] {
            assert!(words.lines().any(|l| l.starts_with(sub)), "{sub}: {words}");
        }
    }
}

/// The crates `cargo install mptcpize` would download, as `cargo package` makes them.
const PUBLISHED: &[&str] = &[
    "mptcpize",
    "mptcpize-preload-support",
    "mptcp-socket",
    "mptcp-policy",
    "mptcp-sys",
];

/// `cargo package` of [`PUBLISHED`] from these sources (as `cargo package --workspace`
/// does, without its verification build: the test below builds the result), in this test's
/// own target directory; returns the directory holding the `.crate` files.
fn package_crates() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("published");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut package = Command::new(cargo);
    package
        .arg("package")
        .args(["--no-verify", "--allow-dirty", "--offline", "--quiet"])
        .arg("--target-dir")
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("CARGO_TARGET_DIR");
    for name in PUBLISHED {
        package.args(["-p", name]);
    }
    run_ok(&mut package, "cargo package");
    target.join("package")
}

#[mptcp_tests::needs(mptcp_enabled, "tar", "python3")]
#[test]
fn the_published_crate_installs_offline_with_the_shim_embedded() {
    let version = env!("CARGO_PKG_VERSION");
    let packages = package_crates();
    let crate_file = |name: &str| packages.join(format!("{name}-{version}.crate"));
    // Each .crate unpacked alone in a scratch directory: no workspace around them, so the
    // build can use nothing but what the packages hold (and the registry cache, offline).
    let scratch = temp_dir("crate-install");
    for name in PUBLISHED {
        run_ok(
            Command::new("tar")
                .arg("-xzf")
                .arg(crate_file(name))
                .arg("-C")
                .arg(scratch.path()),
            "tar -x",
        );
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut install = Command::new(cargo);
    install
        .arg("install")
        .arg("--path")
        .arg(scratch.path().join(format!("mptcpize-{version}")))
        .arg("--root")
        .arg(scratch.path().join("root"))
        .arg("--target-dir")
        .arg(scratch.path().join("target"))
        .args(["--offline", "--debug", "--quiet"])
        .env_remove("CARGO_TARGET_DIR")
        .current_dir(scratch.path());
    // Not on crates.io (yet): the other packaged crates stand in for it.
    for name in &PUBLISHED[1..] {
        install.arg("--config").arg(format!(
            "patch.crates-io.{name}.path={:?}",
            scratch
                .path()
                .join(format!("{name}-{version}"))
                .display()
                .to_string()
        ));
    }
    run_ok(&mut install, "cargo install of the packaged mptcpize");

    let home = temp_dir("crate-home");
    let out = run_ok(
        Command::new(scratch.path().join("root/bin/mptcpize"))
            .args(["run", "python3", "-c"])
            .arg(
                "import os, socket\n\
                 s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n\
                 print(s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL))\n\
                 print(os.environ['LD_PRELOAD'])\n",
            )
            .env("HOME", home.path())
            // Root's own default is /var/cache/mptcpize: name the user's cache, as a user
            // without root gets it from HOME.
            .env("XDG_CACHE_HOME", home.path().join(".cache"))
            .env_remove("MPTCPIZE_PRELOAD")
            .env_remove("LD_PRELOAD"),
        "the installed launcher",
    );
    let text = stdout(&out);
    let mut lines = text.lines();
    let protocol = lines.next();
    let preload = lines.next().unwrap_or_default();
    // The embedded shim, written out to the user's cache.
    assert!(
        preload.starts_with(home.path().join(".cache/mptcpize").to_str().unwrap())
            && preload.ends_with("/libmptcpize_preload.so"),
        "{text}"
    );
    assert_eq!(protocol, Some("262"), "not IPPROTO_MPTCP: {text}");
}

/// The embedded libraries cannot go stale: the launcher's build script, which rebuilds them,
/// declares as `rerun-if-changed` the workspace's `Cargo.lock` and `Cargo.toml` and, for
/// every workspace crate the two libraries are built from (`cargo metadata`: their normal
/// and build dependencies, transitively), its manifest, its build script and every source
/// file under its `src/`; and it built them from the workspace's own lock file, not a copy.
/// (Read from the output of the build-script run that made the launcher under test.)
#[test]
fn embedded_libraries_are_rebuilt_when_any_input_changes() {
    use std::collections::BTreeSet;

    let out_dir = Path::new(env!("OUT_DIR"));
    let output = out_dir.parent().unwrap().join("output");
    let text =
        std::fs::read_to_string(&output).unwrap_or_else(|e| panic!("{}: {e}", output.display()));
    let watched: BTreeSet<PathBuf> = text
        .lines()
        .filter_map(|l| l.strip_prefix("cargo:rerun-if-changed="))
        .map(PathBuf::from)
        .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();

    // The workspace's crates and their dependencies as declared (`--no-deps`: no registry
    // crate needs to be at hand); a path dependency names the directory of a workspace crate.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let metadata = run_ok(
        Command::new(cargo)
            .args([
                "metadata",
                "--no-deps",
                "--offline",
                "--format-version",
                "1",
            ])
            .arg("--manifest-path")
            .arg(root.join("Cargo.toml")),
        "cargo metadata",
    );
    let metadata: serde_json::Value = serde_json::from_slice(&metadata.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    let by_name = |name: &str| packages.iter().find(|p| p["name"] == name);
    // The closure of the two libraries over normal and build dependencies.
    let mut pending = vec!["mptcpize-preload".to_owned(), "mptcpize-report".to_owned()];
    let mut closure = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !closure.insert(name.clone()) {
            continue;
        }
        let package = by_name(&name).unwrap_or_else(|| panic!("{name} is no workspace crate"));
        for dep in package["dependencies"].as_array().unwrap() {
            let used = dep["kind"].is_null() || dep["kind"] == "build";
            if used && dep["path"].is_string() {
                pending.push(dep["name"].as_str().unwrap().to_owned());
            }
        }
    }

    let mut expected = vec![root.join("Cargo.lock"), root.join("Cargo.toml")];
    let mut crates = Vec::new();
    for name in &closure {
        let package = by_name(name).unwrap();
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap());
        crates.push(package["name"].as_str().unwrap().to_owned());
        let dir = manifest.parent().unwrap().to_owned();
        expected.push(manifest);
        for target in package["targets"].as_array().unwrap() {
            if target["kind"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k == "custom-build")
            {
                expected.push(PathBuf::from(target["src_path"].as_str().unwrap()));
            }
        }
        let mut dirs = vec![dir.join("src")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    expected.push(path);
                }
            }
        }
    }
    crates.sort();
    assert_eq!(
        crates,
        [
            "mptcp-policy",
            "mptcp-sys",
            "mptcpize-preload",
            "mptcpize-preload-support",
            "mptcpize-report"
        ],
        "the workspace crates the embedded libraries are built from: a new one also needs \
         its links in mptcpize/libraries/ and an entry in LIBRARIES in mptcpize/build.rs, for \
         the packaged crate"
    );
    // A file is watched by name, or as part of a watched directory (cargo scans it whole).
    let missing: Vec<&PathBuf> = expected
        .iter()
        .filter(|p| !p.ancestors().any(|a| watched.contains(a)))
        .collect();
    assert!(
        missing.is_empty(),
        "a change to these would not rebuild the embedded libraries: {missing:?}\n\
         (watched: {watched:?})"
    );

    // Built from the workspace's Cargo.lock itself: no copy under OUT_DIR to go stale.
    let mut dirs = vec![out_dir.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.is_symlink() {
                dirs.push(path);
            } else {
                assert_ne!(
                    path.file_name().unwrap(),
                    "Cargo.lock",
                    "a copied lock file: {}",
                    path.display()
                );
            }
        }
    }
}
