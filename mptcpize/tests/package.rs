//! The Debian package built by `mptcpize/debian/build-deb` (`target/debian/mptcpize-rs_*.deb`,
//! or the file `MPTCPIZE_DEB` names): its control fields, its exact file list, and, unpacked
//! with `dpkg -x` into a scratch root, a launcher that runs a program over MPTCP with the
//! packaged shim while writing nothing under `HOME`, man pages `man -l` renders, and
//! completion files each shell loads. And the crates `cargo package --workspace` leaves in
//! `target/package/`: the packaged `mptcpize`, unpacked alone, installs offline with its shim
//! embedded.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mptcp_tests::{require_program, skip_unless};
use support::TempDir;

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

/// The package to check: `MPTCPIZE_DEB`, else the newest in the workspace's `target/debian/`.
fn package(test: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MPTCPIZE_DEB") {
        return Some(PathBuf::from(path));
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debian");
    let newest = std::fs::read_dir(&dir).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("mptcpize-rs_") && name.ends_with(".deb")
            })
            .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
            .map(|e| e.path())
    });
    let reason = "no package in target/debian/: build it with mptcpize/debian/build-deb";
    if !skip_unless(test, newest.is_none().then_some(reason)) {
        return None;
    }
    newest
}

fn run_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[cfg_attr(not(has_dpkg_deb), ignore = "needs dpkg-deb")]
#[test]
fn control_fields_and_file_list() {
    let test = "control_fields_and_file_list";
    if !require_program(test, "dpkg-deb") {
        return;
    }
    let Some(deb) = package(test) else { return };

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

#[cfg_attr(
    not(all(mptcp_enabled, has_dpkg, has_python3)),
    ignore = "needs MPTCP enabled, dpkg, python3"
)]
#[test]
fn unpacked_launcher_uses_the_packaged_libraries_and_leaves_home_alone() {
    let test = "unpacked_launcher_uses_the_packaged_libraries_and_leaves_home_alone";
    if !require_program(test, "dpkg")
        || !require_program(test, "python3")
        || !mptcp_tests::require_mptcp(test)
    {
        return;
    }
    let Some(deb) = package(test) else { return };
    let root = TempDir::new("deb-root");
    run_ok(
        Command::new("dpkg").arg("-x").arg(&deb).arg(&root.0),
        "dpkg -x",
    );
    let launcher = root.0.join("usr/bin/mptcpize");
    assert!(
        statically_linked(&launcher),
        "the packaged launcher is dynamically linked"
    );
    let home = TempDir::new("deb-home");

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
            .env("HOME", &home.0)
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
        let packaged =
            |name: &str| std::fs::canonicalize(root.0.join("usr/lib/mptcpize").join(name)).unwrap();
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
            .env("HOME", &home.0)
            .env_remove("LD_PRELOAD"),
        "the unpacked launcher, --seccomp",
    ));
    assert_eq!(out.lines().next(), Some("262"), "not IPPROTO_MPTCP: {out}");
    let left: Vec<_> = std::fs::read_dir(&home.0).unwrap().collect();
    assert!(left.is_empty(), "the launcher wrote under HOME: {left:?}");
}

#[cfg_attr(
    not(all(has_dpkg, has_man, has_bash, has_zsh, has_fish)),
    ignore = "needs dpkg, man, bash, zsh, fish"
)]
#[test]
fn man_pages_render_and_completions_load() {
    let test = "man_pages_render_and_completions_load";
    // Each shell the package has completions for loads them: all three are needed.
    let programs = ["dpkg", "man", "bash", "zsh", "fish"];
    if !programs
        .iter()
        .all(|program| require_program(test, program))
    {
        return;
    }
    let Some(deb) = package(test) else { return };
    let root = TempDir::new("deb-docs");
    run_ok(
        Command::new("dpkg").arg("-x").arg(&deb).arg(&root.0),
        "dpkg -x",
    );
    for page in FILES.iter().filter(|f| f.contains("/man8/")) {
        let out = run_ok(
            Command::new("man")
                .arg("-l")
                .arg(root.0.join(page))
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
            .arg(root.0.join("usr/share/man/man8/mptcpize-run.8.gz"))
            .env("MANPAGER", "cat"),
        "man -l mptcpize-run",
    ));
    // The page is generated from the same definitions as `--help`.
    assert!(run_text.contains("--report"), "{run_text}");

    let completions = root.0.join("usr/share");
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

/// The crates `cargo install mptcpize` would download, as `cargo package --workspace` leaves
/// them in `target/package/`.
const PUBLISHED: &[&str] = &[
    "mptcpize",
    "mptcpize-preload-support",
    "mptcp-socket",
    "mptcp-policy",
    "mptcp-sys",
];

#[cfg_attr(
    not(all(mptcp_enabled, has_tar, has_python3)),
    ignore = "needs MPTCP, tar, python3"
)]
#[test]
fn the_published_crate_installs_offline_with_the_shim_embedded() {
    let test = "the_published_crate_installs_offline_with_the_shim_embedded";
    if !mptcp_tests::require_mptcp(test)
        || !require_program(test, "tar")
        || !require_program(test, "python3")
    {
        return;
    }
    let version = env!("CARGO_PKG_VERSION");
    let packages = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/package");
    let crate_file = |name: &str| packages.join(format!("{name}-{version}.crate"));
    let missing = PUBLISHED.iter().find(|n| !crate_file(n).is_file());
    let reason = missing.map(|n| {
        format!(
            "{} is missing: run `cargo package --workspace` first",
            crate_file(n).display()
        )
    });
    if !skip_unless(test, reason.as_deref()) {
        return;
    }
    // Each .crate unpacked alone in a scratch directory: no workspace around them, so the
    // build can use nothing but what the packages hold (and the registry cache, offline).
    let scratch = TempDir::new("crate-install");
    for name in PUBLISHED {
        run_ok(
            Command::new("tar")
                .arg("-xzf")
                .arg(crate_file(name))
                .arg("-C")
                .arg(&scratch.0),
            "tar -x",
        );
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut install = Command::new(cargo);
    install
        .arg("install")
        .arg("--path")
        .arg(scratch.0.join(format!("mptcpize-{version}")))
        .arg("--root")
        .arg(scratch.0.join("root"))
        .arg("--target-dir")
        .arg(scratch.0.join("target"))
        .args(["--offline", "--debug", "--quiet"])
        .env_remove("CARGO_TARGET_DIR")
        .current_dir(&scratch.0);
    // Not on crates.io (yet): the other packaged crates stand in for it.
    for name in &PUBLISHED[1..] {
        install.arg("--config").arg(format!(
            "patch.crates-io.{name}.path={:?}",
            scratch
                .0
                .join(format!("{name}-{version}"))
                .display()
                .to_string()
        ));
    }
    run_ok(&mut install, "cargo install of the packaged mptcpize");

    let home = TempDir::new("crate-home");
    let out = run_ok(
        Command::new(scratch.0.join("root/bin/mptcpize"))
            .args(["run", "python3", "-c"])
            .arg(
                "import os, socket\n\
                 s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n\
                 print(s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL))\n\
                 print(os.environ['LD_PRELOAD'])\n",
            )
            .env("HOME", &home.0)
            // Root's own default is /var/cache/mptcpize: name the user's cache, as a user
            // without root gets it from HOME.
            .env("XDG_CACHE_HOME", home.0.join(".cache"))
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
        preload.starts_with(home.0.join(".cache/mptcpize").to_str().unwrap())
            && preload.ends_with("/libmptcpize_preload.so"),
        "{text}"
    );
    assert_eq!(protocol, Some("262"), "not IPPROTO_MPTCP: {text}");
}
