//! The launcher on its own: exit statuses, the environment it gives the program, arguments
//! passed byte for byte, help and version. No network needed.

mod support;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::process::Command;

use mptcp_tests::temp_dir;
use support::mptcpize;

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
    let dir = temp_dir("noexec");
    let file = dir.path().join("script");
    std::fs::write(&file, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    for program in [file.as_os_str(), dir.path().as_os_str()] {
        let out = run(&[os("run"), program], &[]);
        assert_eq!(out.status.code(), Some(126), "{program:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot run"));
    }
}

/// PATH is searched once, by the launcher (the file found decides between the shim and
/// seccomp mode): the program it runs is the first executable file of that name in PATH,
/// as `execvp` would pick, under the name it was given (argv[0] is not the full path).
#[test]
fn program_found_in_path_keeps_its_name_as_argv0() {
    let dir = temp_dir("path-search");
    let (skipped, used) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir(&skipped).unwrap();
    std::fs::create_dir(&used).unwrap();
    // Not executable: passed over, as execvp does.
    let not_executable = skipped.join("mptcpize-argv0");
    std::fs::write(&not_executable, "#!/bin/sh\necho wrong one\n").unwrap();
    std::fs::set_permissions(&not_executable, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A directory of that name neither.
    std::fs::create_dir(skipped.join("mptcpize-argv1")).unwrap();
    let program = used.join("mptcpize-argv0");
    std::os::unix::fs::symlink("/bin/cat", &program).unwrap();
    std::os::unix::fs::symlink("/bin/cat", used.join("mptcpize-argv1")).unwrap();
    let path = format!(
        "{}:{}:{}",
        skipped.display(),
        used.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for name in ["mptcpize-argv0", "mptcpize-argv1"] {
        let out = run(
            &[os("run"), os(name), os("/proc/self/cmdline")],
            &[("PATH", &path)],
        );
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(
            out.stdout,
            format!("{name}\0/proc/self/cmdline\0").as_bytes()
        );
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
    // `help` and its own help: status 0, help on stdout (clap alone says "unrecognized
    // subcommand '--help'", status 125).
    for args in [["help", "run"], ["help", "--help"], ["help", "-h"]] {
        let out = run(&[os(args[0]), os(args[1])], &[]);
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "mptcpize {args:?}: {out:?}"
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: mptcpize"));
    }
    // The packagers' command is not offered.
    assert!(!help.contains("generate-assets"), "{help}");
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
    let dir = temp_dir("alone");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let launcher = bin.join("mptcpize");
    std::fs::copy(mptcpize(), &launcher).unwrap();
    let cache = dir.path().join("cache");
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
    let lib = dir.path().join("lib/mptcpize");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(lib.join("libmptcpize_preload.so"), bytes).unwrap();
    let out = output_of_copy(Command::new(&launcher).args(["run", "env"]));
    let preload = env_of(&out, "LD_PRELOAD").unwrap();
    assert!(
        preload
            == dir
                .path()
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
    let dir = temp_dir("open-dir");
    let open = dir.path().join("open");
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
    let good = dir.path().join("good");
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

#[test]
fn unknown_option_before_the_program_is_a_usage_error() {
    for args in [
        &["run", "--bogus", "true"][..],
        &["run", "-d", "-z", "true"],
    ] {
        let argv: Vec<&OsStr> = args.iter().map(|a| os(a)).collect();
        let out = run(&argv, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
        let option = args[args.len() - 2];
        assert!(
            err.contains(&format!("unexpected argument '{option}'")),
            "{args:?}: {err}"
        );
        assert!(!err.contains("cannot run"), "{args:?}: {err}");
    }
    // After `--`, a program whose name starts with '-' runs, with its own arguments.
    let dir = temp_dir("dash");
    let script = dir.path().join("-dash-program");
    std::fs::write(&script, "#!/bin/sh\necho \"ran $*\"\nexit 7\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", dir.path().display());
    let out = output_of_copy(
        Command::new(mptcpize())
            .args(["run", "--", "-dash-program", "--bogus", "-d"])
            .env("PATH", &path),
    );
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran --bogus -d\n");
}

/// A pipe whose reader has already exited: writing to it raises SIGPIPE / fails with EPIPE.
fn broken_pipe() -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: room for two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both were just created; the read end is closed at once.
    unsafe {
        libc::close(fds[0]);
        std::os::fd::OwnedFd::from_raw_fd(fds[1])
    }
}

/// `cmd` with its descriptor `fd` closed (`fd>&-`).
fn with_closed(cmd: &mut Command, fd: i32) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: close(2) is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            libc::close(fd);
            Ok(())
        })
    }
}

/// The `SigIgn` mask of the program's `/proc/self/status` has no SIGPIPE: it got the
/// default disposition, whatever the launcher did with the signal.
fn assert_sigpipe_default(status: &str) {
    let ignored = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .unwrap_or_else(|| panic!("no SigIgn in {status}"));
    let mask = u64::from_str_radix(ignored.trim(), 16).unwrap();
    assert_eq!(
        mask & (1 << (libc::SIGPIPE - 1)),
        0,
        "SIGPIPE ignored: {status}"
    );
}

#[test]
fn messages_to_a_broken_or_closed_stderr_are_dropped_not_fatal() {
    // An error message: the exit status still says what happened (SIGPIPE killed it).
    let out = Command::new(mptcpize())
        .args(["run", "no-such-program-mptcpize"])
        .stderr(broken_pipe())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127), "{:?}", out.status);
    let out = with_closed(
        Command::new(mptcpize()).args(["run", "no-such-program-mptcpize"]),
        2,
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(127), "{:?}", out.status);
    let out = Command::new(mptcpize())
        .args(["run", "--bogus", "true"])
        .stderr(broken_pipe())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{:?}", out.status);

    // The program runs with SIGPIPE at its default, and finds a closed stderr closed.
    let out = Command::new(mptcpize())
        .args(["run", "grep", "^SigIgn", "/proc/self/status"])
        .stderr(broken_pipe())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_sigpipe_default(&String::from_utf8_lossy(&out.stdout));
    // Also when the launcher itself was started with SIGPIPE ignored.
    let mut cmd = Command::new(mptcpize());
    cmd.args(["run", "grep", "^SigIgn", "/proc/self/status"]);
    // SAFETY: signal(2) is async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_sigpipe_default(&String::from_utf8_lossy(&out.stdout));
    let out = with_closed(
        Command::new(mptcpize()).args(["run", "sh", "-c", "true >&2 && echo open || echo closed"]),
        2,
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "closed\n");
}

#[mptcp_tests::needs("busybox")]
#[test]
fn static_program_starts_although_its_notice_cannot_be_printed() {
    let test = "static_program_starts_although_its_notice_cannot_be_printed";
    // The launcher says on stderr that it uses seccomp for a statically linked program.
    let out = run(&[os("run"), os("busybox"), os("true")], &[]);
    let notice = String::from_utf8_lossy(&out.stderr);
    let reason = (!out.status.success() || !notice.contains("statically linked"))
        .then(|| format!("busybox is not a static program that seccomp mode runs here: {out:?}"));
    if !mptcp_tests::skip_unless(test, reason.as_deref()) {
        return;
    }
    let dir = temp_dir("static");
    let marker = dir.path().join("ran");
    let out = Command::new(mptcpize())
        .args(["run", "busybox", "sh", "-c"])
        .arg("touch \"$0\"; grep ^SigIgn /proc/self/status; true >&2 && echo open || echo closed")
        .arg(&marker)
        .stderr(broken_pipe())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(marker.exists(), "the program did not run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_sigpipe_default(&stdout);
    assert!(stdout.ends_with("open\n"), "{stdout}");
    // With stderr closed, the debug log of the supervisor goes nowhere, and the program
    // finds its stderr closed as it was given.
    let out = with_closed(
        Command::new(mptcpize())
            .args(["run", "-d", "busybox", "sh", "-c"])
            .arg("true >&2 && echo open || echo closed"),
        2,
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "closed\n");
}

#[test]
fn enable_prints_to_a_broken_stdout_and_still_succeeds() {
    let root = temp_dir("enable-pipe");
    let units = root.path().join("etc/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    std::fs::write(
        units.join("web.service"),
        "[Service]\nExecStart=/bin/true\n",
    )
    .unwrap();
    let out = Command::new(mptcpize())
        .args(["enable", "web"])
        .env("MPTCPIZE_ROOT", root.path())
        .stdout(broken_pipe())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let drop_in = std::fs::read_to_string(units.join("web.service.d/zz-mptcpize.conf")).unwrap();
    assert!(drop_in.contains("LD_PRELOAD="), "{drop_in}");
    let out = with_closed(
        Command::new(mptcpize())
            .args(["disable", "web"])
            .env("MPTCPIZE_ROOT", root.path()),
        1,
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!units.join("web.service.d/zz-mptcpize.conf").exists());
}

#[test]
fn report_file_that_is_not_a_regular_file_is_refused_without_blocking() {
    let dir = temp_dir("fifo");
    let fifo = dir.path().join("report.fifo");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let marker = dir.path().join("ran");
    let attempt = |report_file: &std::path::Path| {
        let mut child = Command::new(mptcpize())
            .arg("run")
            .arg("--report-file")
            .arg(report_file)
            .args(["touch"])
            .arg(&marker)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The answer is immediate; a launcher blocked in open(2) is killed and fails here.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("mptcpize run --report-file {report_file:?} blocked");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.wait_with_output().unwrap()
    };
    // Without a reader, and with one (a reader that comes and goes would block or kill
    // the program later).
    let out = attempt(&fifo);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains("is a FIFO") && err.contains("regular file"),
        "{err}"
    );
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let out = attempt(&fifo);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("is a FIFO"), "{err}");
    drop(reader);
    let socket = dir.path().join("report.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let out = attempt(&socket);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("is a socket"), "{err}");
    let out = attempt(std::path::Path::new("/dev/null"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("is a device"), "{err}");
    assert!(!marker.exists(), "the program ran");
    // A regular file is accepted (created), and the program runs.
    let file = dir.path().join("report.log");
    let out = attempt(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(file.is_file() && marker.exists());
}

/// An `XDG_CACHE_HOME` holding a space (which `LD_PRELOAD` cannot carry) is passed over
/// before anything is written there: the run works, quietly, with the library from the next
/// cache location, and the directory with the space stays empty.
#[test]
fn a_cache_directory_with_a_space_is_passed_over() {
    let dir = temp_dir("cache-space");
    let spaced = dir.path().join("with space");
    std::fs::create_dir(&spaced).unwrap();
    std::fs::set_permissions(&spaced, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The next location: /var/cache/mptcpize for root, else $XDG_RUNTIME_DIR or /tmp.
    let out = run(
        &[os("run"), os("printenv"), os("LD_PRELOAD")],
        &[("XDG_CACHE_HOME", spaced.to_str().unwrap())],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {}: {stderr}", out.status);
    assert_eq!(stderr, "", "a message where none was due");
    let preload = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        preload.ends_with("/libmptcpize_preload.so") && !preload.contains(' '),
        "LD_PRELOAD={preload}"
    );
    assert!(
        std::path::Path::new(&preload).is_file(),
        "LD_PRELOAD={preload}"
    );
    let written: Vec<_> = std::fs::read_dir(&spaced).unwrap().collect();
    assert!(written.is_empty(), "written there: {written:?}");
}

/// The cache copy is compared byte for byte until its `ctime` is 3 s old, then sealed (its
/// device, inode, size and times recorded beside it), and later runs go by the seal; a
/// change to the copy after that (same size, other bytes, its modification time put back)
/// still sends the launcher back to the bytes, and the copy is replaced.
#[test]
fn the_cache_copy_is_sealed_and_a_change_is_still_caught() {
    let cache = temp_dir("sealed-cache");
    let launch = |args: &[&str]| {
        let out = Command::new(mptcpize())
            .args(args)
            .env_remove("LD_PRELOAD")
            .env_remove("MPTCPIZE_PRELOAD")
            .env("XDG_CACHE_HOME", cache.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        out
    };
    let out = launch(&["run", "printenv", "LD_PRELOAD"]);
    let library = std::path::PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    assert!(library.starts_with(cache.path()), "{}", library.display());
    let seal = library.with_file_name("libmptcpize_preload.so.verified");
    let written = std::fs::read(&library).unwrap();
    // Just written: compared, not sealed.
    launch(&["run", "true"]);
    assert!(!seal.exists());

    // Wait for the copy's ctime to be 3 s old (the clock is the state waited for).
    let ctime = |path: &std::path::Path| {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).unwrap();
        std::time::UNIX_EPOCH
            + std::time::Duration::new(meta.ctime() as u64, meta.ctime_nsec() as u32)
    };
    let settled = ctime(&library) + std::time::Duration::from_secs(3);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::SystemTime::now() < settled {
        assert!(
            std::time::Instant::now() < deadline,
            "the clock stands still"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    launch(&["run", "true"]);
    assert_eq!(std::fs::metadata(&seal).unwrap().len(), 64, "not sealed");
    let out = launch(&["run", "printenv", "LD_PRELOAD"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        library.to_str().unwrap()
    );

    // Same size, other bytes, mtime put back: caught, and the copy written again.
    let modified = std::fs::metadata(&library).unwrap().modified().unwrap();
    let mut other = written.clone();
    other[written.len() / 2] ^= 0xff;
    let sealed_ctime = ctime(&library);
    while ctime(&library) == sealed_ctime {
        assert!(std::time::Instant::now() < deadline, "ctime never moved");
        std::fs::write(&library, &other).unwrap();
    }
    std::fs::File::options()
        .write(true)
        .open(&library)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    launch(&["run", "true"]);
    assert!(
        std::fs::read(&library).unwrap() == written,
        "the changed copy was kept"
    );
}
