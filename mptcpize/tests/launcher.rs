//! The launcher on its own: exit statuses, the environment it gives the program, arguments
//! passed byte for byte, help and version. No network needed.

mod support;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use support::{mptcpize, TempDir};

fn run(args: &[&OsStr], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(mptcpize());
    cmd.args(args)
        .env_remove("LD_PRELOAD")
        .env_remove("GODEBUG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn env_of(out: &std::process::Output, name: &str) -> Option<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

#[test]
fn not_found_is_127_with_a_message() {
    let out = run(&[os("run"), os("no-such-program-mptcpize")], &[]);
    assert_eq!(out.status.code(), Some(127));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-program-mptcpize") && err.contains("not found"),
        "{err}"
    );
}

#[test]
fn not_executable_is_126() {
    let dir = TempDir::new("noexec");
    let file = dir.0.join("script");
    std::fs::write(&file, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    for program in [file.as_os_str(), dir.0.as_os_str()] {
        let out = run(&[os("run"), program], &[]);
        assert_eq!(out.status.code(), Some(126), "{program:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot run"));
    }
}

#[test]
fn launcher_errors_are_125() {
    // No program, an unknown option, a shim that does not exist.
    assert_eq!(run(&[os("run")], &[]).status.code(), Some(125));
    assert_eq!(run(&[os("--no-such-flag")], &[]).status.code(), Some(125));
    let out = run(
        &[os("run"), os("true")],
        &[("MPTCPIZE_PRELOAD", "/nonexistent/libmptcpize_preload.so")],
    );
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MPTCPIZE_PRELOAD"));
}

#[test]
fn exit_status_is_the_programs() {
    let out = run(&[os("run"), os("sh"), os("-c"), os("exit 42")], &[]);
    assert_eq!(out.status.code(), Some(42));
    // exec, not a child: the program's pid is the launcher's.
    let child = Command::new(mptcpize())
        .args(["run", "sh", "-c", "echo $$"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), pid.to_string());
}

#[test]
fn environment_is_appended_never_replaced() {
    let out = run(&[os("run"), os("env")], &[]);
    let preload = env_of(&out, "LD_PRELOAD").expect("LD_PRELOAD set");
    assert!(
        preload.starts_with('/') && preload.ends_with("/libmptcpize_preload.so"),
        "{preload}"
    );
    assert!(std::path::Path::new(&preload).is_file());
    assert_eq!(env_of(&out, "GODEBUG").as_deref(), Some("multipathtcp=1"));
    assert_eq!(env_of(&out, "MPTCPIZE_DEBUG"), None);

    // An existing LD_PRELOAD stays first; running mptcpize under mptcpize adds nothing.
    let libc_path = "/lib/x86_64-linux-gnu/libc.so.6";
    let out = run(
        &[os("run"), os("env")],
        &[("LD_PRELOAD", libc_path), ("GODEBUG", "http2client=0")],
    );
    assert_eq!(
        env_of(&out, "LD_PRELOAD"),
        Some(format!("{libc_path}:{preload}"))
    );
    assert_eq!(
        env_of(&out, "GODEBUG").as_deref(),
        Some("http2client=0,multipathtcp=1")
    );
    let me = mptcpize();
    let out = run(
        &[os("run"), me.as_os_str(), os("run"), os("-d"), os("env")],
        &[("LD_PRELOAD", libc_path)],
    );
    assert_eq!(
        env_of(&out, "LD_PRELOAD"),
        Some(format!("{libc_path}:{preload}"))
    );
    assert_eq!(env_of(&out, "GODEBUG").as_deref(), Some("multipathtcp=1"));
    assert_eq!(env_of(&out, "MPTCPIZE_DEBUG").as_deref(), Some("1"));
}

#[test]
fn arguments_pass_byte_for_byte() {
    let weird = OsStr::from_bytes(b"\xff\xfe not utf-8 \n --help");
    let out = run(
        &[
            os("run"),
            os("printf"),
            os("%s|%s|%s"),
            weird,
            os("-d"),
            os("--"),
        ],
        &[],
    );
    assert!(out.status.success());
    let mut expected = weird.as_bytes().to_vec();
    expected.extend_from_slice(b"|-d|--");
    assert_eq!(out.stdout, expected);
}

#[test]
fn help_and_version() {
    let out = run(&[os("--help")], &[]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in ["run", "enable", "disable", "Examples:", "ss -Mni"] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
    let out = run(&[os("run"), os("--help")], &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("127"));
    let out = run(&[os("--version")], &[]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("mptcpize {}", env!("CARGO_PKG_VERSION"))
    );
}

/// Runs a freshly copied executable, retrying while another test's fork may still hold the
/// copy open for writing (`ETXTBSY`, a race of multithreaded test binaries).
fn output_of_copy(cmd: &mut Command) -> std::process::Output {
    for _ in 0..50 {
        match cmd.output() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => return other.unwrap(),
        }
    }
    panic!("{cmd:?}: text file busy");
}

#[test]
fn embedded_shim_is_used_when_none_is_installed() {
    // A copy of the launcher alone in a directory: it must write out its embedded shim.
    let dir = TempDir::new("alone");
    let bin = dir.0.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let launcher = bin.join("mptcpize");
    std::fs::copy(mptcpize(), &launcher).unwrap();
    let cache = dir.0.join("cache");
    let out = output_of_copy(
        Command::new(&launcher)
            .args(["run", "env"])
            .env_remove("LD_PRELOAD")
            .env_remove("MPTCPIZE_PRELOAD")
            .env("XDG_CACHE_HOME", &cache),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let preload = env_of(&out, "LD_PRELOAD").unwrap();
    assert!(
        preload.starts_with(cache.join("mptcpize").to_str().unwrap()),
        "{preload}"
    );
    let bytes = std::fs::read(&preload).unwrap();
    assert!(bytes.starts_with(b"\x7fELF"));
    // The written shim is reused, and works: a socket Python creates under it is MPTCP
    // (when MPTCP is enabled here; TCP otherwise).
    let out = output_of_copy(
        Command::new(&launcher)
            .args(["run", "python3", "-c"])
            .arg(
                "import os, socket; print(os.environ['LD_PRELOAD']); \
                 print(socket.socket().getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL))",
            )
            .env_remove("LD_PRELOAD")
            .env("XDG_CACHE_HOME", &cache),
    );
    let enabled =
        std::fs::read_to_string("/proc/sys/net/mptcp/enabled").is_ok_and(|v| v.trim() == "1");
    let expected = format!("{preload}\n{}\n", if enabled { 262 } else { 6 });
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);

    // Installed in a prefix: <prefix>/bin/mptcpize finds <prefix>/lib/mptcpize/.
    let lib = dir.0.join("lib/mptcpize");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(lib.join("libmptcpize_preload.so"), bytes).unwrap();
    let out = output_of_copy(Command::new(&launcher).args(["run", "env"]));
    let preload = env_of(&out, "LD_PRELOAD").unwrap();
    assert!(
        preload
            == dir
                .0
                .join("lib/mptcpize/libmptcpize_preload.so")
                .to_str()
                .unwrap(),
        "{preload}"
    );
}

#[test]
fn debug_variables_turn_the_log_on() {
    // Debian's MPTCPWRAP_DEBUG works too; "0" and empty mean off.
    for (name, value, logs) in [
        ("MPTCPIZE_DEBUG", "1", true),
        ("MPTCPWRAP_DEBUG", "1", true),
        ("MPTCPIZE_DEBUG", "0", false),
        ("MPTCPIZE_DEBUG", "", false),
    ] {
        let out = run(
            &[
                os("run"),
                os("python3"),
                os("-c"),
                os("import socket; socket.socket(socket.AF_UNIX)"),
            ],
            &[(name, value)],
        );
        assert!(out.status.success());
        let log = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            log.contains("mptcpize: socket(AF_UNIX, SOCK_STREAM"),
            logs,
            "{name}={value}: {log}"
        );
    }
}

#[test]
fn a_library_others_can_replace_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    // A copy of the real shim in a directory everyone can write to (no sticky bit).
    let dir = TempDir::new("open-dir");
    let open = dir.0.join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let shim = run(&[os("run"), os("printenv"), os("LD_PRELOAD")], &[]);
    let shim = String::from_utf8(shim.stdout).unwrap();
    let copy = open.join("libmptcpize_preload.so");
    std::fs::copy(shim.trim(), &copy).unwrap();
    // Named by MPTCPIZE_PRELOAD: refused, with the component and what to do.
    let out = run(
        &[os("run"), os("true")],
        &[("MPTCPIZE_PRELOAD", copy.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("MPTCPIZE_PRELOAD")
            && err.contains(open.to_str().unwrap())
            && err.contains("writable by other users"),
        "{err}"
    );
    // A library file writable by others, in a good directory: refused too.
    let good = dir.0.join("good");
    std::fs::create_dir(&good).unwrap();
    std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = good.join("libmptcpize_preload.so");
    std::fs::copy(shim.trim(), &file).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = run(
        &[os("run"), os("true")],
        &[("MPTCPIZE_PRELOAD", file.to_str().unwrap())],
    );
    assert_eq!(
        out.status.code(),
        Some(125),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Mode 0644: used, by its resolved path (a link to it is resolved).
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = good.join("link.so");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let out = run(
        &[os("run"), os("printenv"), os("LD_PRELOAD")],
        &[("MPTCPIZE_PRELOAD", link.to_str().unwrap())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        file.to_str().unwrap()
    );

    // Installed next to a launcher in a directory others can write to: passed over with a
    // message, and the embedded copy used.
    let bin = open.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let launcher = bin.join("mptcpize");
    std::fs::copy(mptcpize(), &launcher).unwrap();
    std::fs::copy(shim.trim(), bin.join("libmptcpize_preload.so")).unwrap();
    let out = output_of_copy(
        Command::new(&launcher)
            .args(["run", "printenv", "LD_PRELOAD"])
            .env_remove("LD_PRELOAD")
            .env_remove("MPTCPIZE_PRELOAD"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not using") && err.contains("writable by other users"),
        "{err}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), shim.trim());
}
