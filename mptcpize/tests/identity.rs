//! What a program sees of itself under `mptcpize run`, in every mode, against the same
//! program run without mptcpize: who owns its sockets and which privileges its options are
//! checked against after it dropped from root to `nobody`, and how signals reach it (the
//! process group, `timeout`, Ctrl-C on a terminal, `kill` of the launcher's pid). The test
//! program is `tests/seccomp-programs/identity.c`, built static and dynamic.
//!
//! Modes: the shim (`mptcpize run` of the dynamic program), seccomp mode asked for
//! (`mptcpize run --seccomp` of the dynamic program) and chosen automatically (`mptcpize
//! run` of the static program).

mod support;

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mptcp_tests::temp_dir;
use mptcp_tests::Netns;
use support::{build_c_program, mptcpize, wait_until, Linking, TempDir};

/// How the program is started.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Mode {
    /// The program alone: the reference every mode must match (but for MPTCP).
    Without,
    /// `mptcpize run` of the dynamic program: the `LD_PRELOAD` shim.
    Shim,
    /// `mptcpize run --seccomp` of the dynamic program.
    Seccomp,
    /// `mptcpize run` of the static program: seccomp mode, chosen by mptcpize.
    StaticSeccomp,
}

const MODES: [Mode; 4] = [
    Mode::Without,
    Mode::Shim,
    Mode::Seccomp,
    Mode::StaticSeccomp,
];

/// `setpriv` switching to nobody/nogroup without supplementary groups, as an init script
/// would before starting a daemon.
const SETPRIV_NOBODY: [&str; 4] = [
    "setpriv",
    "--reuid=nobody",
    "--regid=nogroup",
    "--clear-groups",
];

/// The test program, static and dynamic, in a directory `nobody` can enter.
struct Programs {
    _dir: TempDir,
    dynamic: PathBuf,
    static_: PathBuf,
}

impl Programs {
    fn build(tag: &str) -> Programs {
        let dir = temp_dir(tag);
        Programs {
            dynamic: build_c_program(&dir, "identity.c", Linking::Dynamic),
            static_: build_c_program(&dir, "identity.c", Linking::Static),
            _dir: dir,
        }
    }

    /// `[mptcpize run [--seccomp]] [setpriv …] PROGRAM ARGS…` for `mode`.
    fn command(&self, ns: &Netns, mode: Mode, setpriv: bool, args: &[&str]) -> Command {
        let mut words: Vec<OsString> = Vec::new();
        match mode {
            Mode::Without => {}
            Mode::Shim | Mode::StaticSeccomp => {
                words.extend([mptcpize().into(), "run".into()]);
            }
            Mode::Seccomp => {
                words.extend([mptcpize().into(), "run".into(), "--seccomp".into()]);
            }
        }
        if setpriv {
            words.extend(SETPRIV_NOBODY.iter().map(OsString::from));
        }
        words.push(self.program(mode).into());
        words.extend(args.iter().map(OsString::from));
        let mut cmd = ns.command(&words[0]);
        cmd.args(&words[1..]);
        cmd
    }

    fn program(&self, mode: Mode) -> &Path {
        match mode {
            Mode::StaticSeccomp => &self.static_,
            _ => &self.dynamic,
        }
    }
}

/// What `identity owner` printed about its socket.
#[derive(Debug)]
struct Owner {
    line: String,
    proto: i32,
    uid: u32,
    inode: u64,
    /// `setsockopt(TCP_REPAIR, 1)`: return value and errno.
    repair: (i32, i32),
    proto_after: i32,
}

impl Owner {
    fn parse(line: &str) -> Owner {
        let field = |name: &str| -> &str {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .unwrap_or_else(|| panic!("no {name} in {line:?}"))
        };
        let (rc, errno) = field("repair=").split_once('/').unwrap();
        Owner {
            line: line.to_owned(),
            proto: field("proto=").parse().unwrap(),
            uid: field("uid=").parse().unwrap(),
            inode: field("ino=").parse().unwrap(),
            repair: (rc.parse().unwrap(), errno.parse().unwrap()),
            proto_after: field("proto-after=").parse().unwrap(),
        }
    }
}

/// Runs `identity owner …` as `cmd`; while it listens, reads the owner `ss -e` shows for
/// its socket (the `uid:` of every line with its inode: the MPTCP socket and its first
/// subflow, or the TCP socket). Returns what the program printed and those uids.
fn owner(mut cmd: Command, ns: &Netns, what: &str) -> (Owner, Vec<(String, Option<u32>)>) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("{what}: no output"))
        .unwrap();
    if !first.starts_with("proto=") {
        let _ = child.kill();
        panic!("{what}: {first}");
    }
    assert_eq!(lines.next().unwrap().unwrap(), "ready", "{what}");
    let result = Owner::parse(&first);
    let listing = ns.run("ss", &["-Hlne", "-t", "-M"]).unwrap();
    let inode = format!("ino:{} ", result.inode);
    let owners = listing
        .lines()
        .filter(|l| l.contains(&inode))
        .map(|l| {
            let uid = l
                .split_whitespace()
                .find_map(|w| w.strip_prefix("uid:"))
                .map(|u| u.parse().unwrap());
            (l.split_whitespace().next().unwrap().to_owned(), uid)
        })
        .collect();
    drop(child.stdin.take()); // the program ends when its stdin closes
    let status = wait(&mut child, what);
    assert!(status.success(), "{what}: {status:?}");
    (result, owners)
}

/// Asserts what a program that dropped to nobody must see in `mode`: its socket is MPTCP
/// (but for [`Mode::Without`]) and stays so, it is owned by nobody (`fstat`, and `ss -e`),
/// and `TCP_REPAIR` is refused with EPERM, as it is without mptcpize.
fn assert_dropped_to_nobody(ns: &Netns, cmd: Command, mode: Mode, what: &str) {
    let (got, owners) = owner(cmd, ns, what);
    eprintln!("{what}: {} / ss: {owners:?}", got.line);
    let proto = if mode == Mode::Without { 6 } else { 262 };
    assert_eq!(got.proto, proto, "{what}: SO_PROTOCOL: {}", got.line);
    assert_eq!(got.uid, 65534, "{what}: fstat st_uid: {}", got.line);
    assert_eq!(
        got.repair,
        (-1, libc::EPERM),
        "{what}: setsockopt(TCP_REPAIR) as nobody: {}",
        got.line
    );
    assert_eq!(
        got.proto_after, proto,
        "{what}: SO_PROTOCOL after: {}",
        got.line
    );
    assert!(!owners.is_empty(), "{what}: ss does not list the socket");
    if mode != Mode::Without {
        assert!(
            owners.iter().any(|(kind, _)| kind == "mptcp"),
            "{what}: {owners:?}"
        );
    }
    for (kind, uid) in &owners {
        assert_eq!(
            *uid,
            Some(65534),
            "{what}: ss -e owner of the {kind} socket"
        );
    }
}

/// The reference: without mptcpize, a program that dropped to nobody owns its socket and
/// is refused `TCP_REPAIR` (it needs CAP_NET_ADMIN) with EPERM.
#[mptcp_tests::needs(privileged, "gcc", "setpriv")]
#[test]
fn dropping_to_nobody_without_mptcpize() {
    let ns = Netns::new("id-none").unwrap();
    let programs = Programs::build("id-none");
    for (setpriv, args) in [(false, &["owner", "drop"][..]), (true, &["owner"][..])] {
        let cmd = programs.command(&ns, Mode::Without, setpriv, args);
        assert_dropped_to_nobody(&ns, cmd, Mode::Without, &format!("setpriv={setpriv}"));
    }
    let mut cmd = ns.command(&programs.static_);
    cmd.args(["owner", "drop"]);
    assert_dropped_to_nobody(&ns, cmd, Mode::Without, "static");
}

/// Seccomp mode: the supervisor, running as root, makes the socket with the caller's
/// filesystem uid and gid, and checks a refused option against the caller's capabilities.
#[mptcp_tests::needs(privileged, "gcc", "setpriv")]
#[test]
fn dropping_to_nobody_in_seccomp_mode() {
    let ns = Netns::new("id-sc").unwrap();
    let programs = Programs::build("id-sc");
    for mode in [Mode::Seccomp, Mode::StaticSeccomp] {
        // The program drops itself (setgid/setuid) after starting as root.
        let cmd = programs.command(&ns, mode, false, &["owner", "drop"]);
        assert_dropped_to_nobody(&ns, cmd, mode, &format!("{mode:?}, setuid in the program"));
    }
    // setpriv drops, then execs the program: both under the filter.
    for linking in [Linking::Dynamic, Linking::Static] {
        let mut cmd = ns.command(mptcpize());
        cmd.args(["run", "--seccomp"])
            .args(SETPRIV_NOBODY)
            .arg(match linking {
                Linking::Dynamic => &programs.dynamic,
                Linking::Static => &programs.static_,
            })
            .arg("owner");
        assert_dropped_to_nobody(
            &ns,
            cmd,
            Mode::Seccomp,
            &format!("--seccomp setpriv {linking:?}"),
        );
    }
}

/// Shim mode: the program makes its sockets itself, so they are its own; a refused option
/// must get TCP's errno (EPERM), and the socket stays MPTCP.
#[mptcp_tests::needs(privileged, "gcc", "setpriv")]
#[test]
fn dropping_to_nobody_in_shim_mode() {
    let ns = Netns::new("id-shim").unwrap();
    let programs = Programs::build("id-shim");
    let cmd = programs.command(&ns, Mode::Shim, false, &["owner", "drop"]);
    assert_dropped_to_nobody(&ns, cmd, Mode::Shim, "shim, setuid in the program");
}

/// Shim mode through `setpriv`: the dynamic loader opens the shim after the switch to
/// nobody, so the shim must be where nobody can read it.
#[mptcp_tests::needs(privileged, "gcc", "setpriv")]
#[test]
fn dropping_to_nobody_through_setpriv_in_shim_mode() {
    let ns = Netns::new("id-shpv").unwrap();
    let programs = Programs::build("id-shpv");
    let cmd = programs.command(&ns, Mode::Shim, true, &["owner"]);
    assert_dropped_to_nobody(&ns, cmd, Mode::Shim, "shim, setpriv");
}

/// `identity bad-values` in `mode`, as root: what the program printed.
fn bad_values(ns: &Netns, programs: &Programs, mode: Mode) -> String {
    let out = programs
        .command(ns, mode, false, &["bad-values"])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "{mode:?}: {:?}", out.status);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// An option value plain TCP refuses (`TCP_REPAIR` 5, `TCP_USER_TIMEOUT` -1: EINVAL from
/// TCP, before any privilege check passes): the program gets TCP's EINVAL, as without
/// mptcpize, not MPTCP's "option not supported", and its socket stays MPTCP.
#[mptcp_tests::needs(privileged, "gcc", "setpriv")]
#[test]
fn values_tcp_refuses_get_tcps_errno_in_seccomp_mode() {
    let ns = Netns::new("id-val").unwrap();
    let programs = Programs::build("id-val");
    let einval = libc::EINVAL;
    let reference = format!("repair=-1/{einval} user-timeout=-1/{einval}");
    assert_eq!(
        bad_values(&ns, &programs, Mode::Without),
        format!("{reference} proto=6")
    );
    for mode in [Mode::Seccomp, Mode::StaticSeccomp] {
        assert_eq!(
            bad_values(&ns, &programs, mode),
            format!("{reference} proto=262"),
            "{mode:?}"
        );
    }
}

/// The same in shim mode.
#[mptcp_tests::needs(privileged, "gcc", "setpriv")]
#[test]
fn values_tcp_refuses_get_tcps_errno_in_shim_mode() {
    let ns = Netns::new("id-valsh").unwrap();
    let programs = Programs::build("id-valsh");
    let einval = libc::EINVAL;
    assert_eq!(
        bad_values(&ns, &programs, Mode::Shim),
        format!("repair=-1/{einval} user-timeout=-1/{einval} proto=262")
    );
}

/// `identity signals FILE` started in `mode`; stdout piped.
struct Counted {
    child: Child,
    file: PathBuf,
    _dir: TempDir,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Counted {
    /// Starts it in its own process group (as a shell starts a job) and waits for "ready".
    fn start(ns: &Netns, programs: &Programs, mode: Mode, tag: &str) -> Counted {
        Counted::start_with(ns, programs, mode, tag, |cmd| {
            cmd.process_group(0);
        })
    }

    fn start_with(
        ns: &Netns,
        programs: &Programs,
        mode: Mode,
        tag: &str,
        setup: impl FnOnce(&mut Command),
    ) -> Counted {
        let dir = temp_dir(tag);
        let file = dir.path().join("counts");
        let mut cmd = programs.command(ns, mode, false, &["signals"]);
        cmd.arg(&file).stdin(Stdio::null()).stdout(Stdio::piped());
        setup(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines.next().unwrap().unwrap();
        // Every mode execs: the program has the process id the launcher was started with.
        assert_eq!(ready, format!("ready pid={}", child.id()), "{mode:?}");
        Counted {
            child,
            file,
            _dir: dir,
            lines,
        }
    }

    fn counts(&self) -> String {
        std::fs::read_to_string(&self.file)
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    fn wait_counts(&self, expected: &str, what: &str) {
        wait_until(&format!("{what}: counts {expected}"), || {
            self.counts() == expected
        });
    }
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a process (group) this test started.
    assert_eq!(
        unsafe { libc::kill(pid, sig) },
        0,
        "kill({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}

/// Waits for a child, failing the test instead of hanging.
fn wait(child: &mut Child, what: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("{what}: process {} did not exit", child.id());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `kill -- -PGID` with SIGHUP, then SIGINT: each counted once; the program's own exit
/// status is what its parent sees.
#[mptcp_tests::needs(privileged, "gcc", "setpriv")]
#[test]
fn group_signals_are_counted_once_in_every_mode() {
    let ns = Netns::new("id-grp").unwrap();
    let programs = Programs::build("id-grp");
    for mode in MODES {
        let mut run = Counted::start(&ns, &programs, mode, "id-grp-counts");
        let group = run.child.id() as i32;
        kill(-group, libc::SIGHUP);
        run.wait_counts("INT 0 HUP 1 TERM 0", &format!("{mode:?}"));
        kill(-group, libc::SIGINT);
        run.wait_counts("INT 1 HUP 1 TERM 0", &format!("{mode:?}"));
        // SIGUSR1 ends it with status 0: any second delivery would have been counted first
        // (signals are delivered lowest number first, and nothing forwards them).
        kill(group, libc::SIGUSR1);
        let status = wait(&mut run.child, &format!("{mode:?}"));
        assert_eq!(status.code(), Some(0), "{mode:?}: {status:?}");
        assert_eq!(run.counts(), "INT 1 HUP 1 TERM 0", "{mode:?}");
        assert!(run.lines.next().is_none(), "{mode:?}");
    }
}

/// SIGTERM to the launcher's pid (what systemd and `kill $!` do): counted once, and the
/// program dies of it, as its parent sees.
#[mptcp_tests::needs(privileged, "gcc", "setpriv")]
#[test]
fn sigterm_to_the_launcher_is_counted_once_in_every_mode() {
    let ns = Netns::new("id-term").unwrap();
    let programs = Programs::build("id-term");
    for mode in MODES {
        let mut run = Counted::start(&ns, &programs, mode, "id-term-counts");
        kill(run.child.id() as i32, libc::SIGTERM);
        let status = wait(&mut run.child, &format!("{mode:?}"));
        assert_eq!(status.signal(), Some(libc::SIGTERM), "{mode:?}: {status:?}");
        assert_eq!(run.counts(), "INT 0 HUP 0 TERM 1", "{mode:?}");
    }
}

/// `timeout` signals the program and then its whole process group; killed itself with
/// SIGTERM, it passes SIGTERM on the same way.
#[mptcp_tests::needs(privileged, "gcc", "setpriv", "timeout")]
#[test]
fn timeout_is_counted_once_in_every_mode() {
    let ns = Netns::new("id-tmo").unwrap();
    let programs = Programs::build("id-tmo");
    for mode in MODES {
        let dir = temp_dir("id-tmo-counts");
        let file = dir.path().join("counts");
        let mut cmd = ns.command("timeout");
        cmd.arg("300");
        let inner = programs.command(&ns, mode, false, &["signals"]);
        // `ip netns exec NS timeout 300 [mptcpize run …] PROGRAM signals FILE`
        cmd.args(inner.get_args().skip(3))
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines.next().unwrap().unwrap();
        assert!(ready.starts_with("ready pid="), "{mode:?}: {ready}");
        // GNU timeout (9.1) learns its command's pid when fork returns in the parent; a
        // signal it gets before that makes it exit without passing it on, and the
        // command may be running (and print "ready") first. So wait for timeout itself to
        // be waiting for its command (in sigsuspend or wait4).
        let wchan = format!("/proc/{}/wchan", child.id());
        wait_until(
            &format!("{mode:?}: timeout waiting for its command"),
            || {
                let at = std::fs::read_to_string(&wchan).unwrap_or_default();
                at.contains("sigsuspend") || at.contains("wait") || at.contains("sigtimedwait")
            },
        );
        kill(child.id() as i32, libc::SIGTERM); // timeout relays it
        let status = wait(&mut child, &format!("{mode:?}"));
        // timeout ends as its command did: killed by SIGTERM (or 128 + 15).
        assert!(
            status.signal() == Some(libc::SIGTERM) || status.code() == Some(143),
            "{mode:?}: {status:?}"
        );
        let counts = std::fs::read_to_string(&file).unwrap();
        assert_eq!(counts.trim(), "INT 0 HUP 0 TERM 1", "{mode:?}");
    }
}

/// Ctrl-C on the program's terminal: the kernel signals the foreground process group once.
#[mptcp_tests::needs(privileged, "gcc", "setpriv")]
#[test]
fn ctrl_c_on_a_terminal_is_counted_once_in_every_mode() {
    let ns = Netns::new("id-tty").unwrap();
    let programs = Programs::build("id-tty");
    for mode in MODES {
        let dir = temp_dir("id-tty-counts");
        let file = dir.path().join("counts");
        let mut cmd = programs.command(&ns, mode, false, &["signals"]);
        cmd.arg(&file);
        // The program leads a session with the pty as its controlling terminal.
        let (mut child, terminal) = support::spawn_on_terminal(cmd);
        let what = format!("{mode:?}");
        wait_until(&format!("{what}: ready"), || {
            terminal.output().contains("ready pid=")
        });
        let counts = || std::fs::read_to_string(&file).unwrap_or_default();
        terminal.type_keys(b"\x03"); // Ctrl-C
        wait_until(&format!("{what}: SIGINT counted"), || {
            counts().trim() == "INT 1 HUP 0 TERM 0"
        });
        kill(child.id() as i32, libc::SIGUSR1);
        let status = wait(&mut child, &what);
        assert_eq!(status.code(), Some(0), "{what}: {status:?}");
        assert_eq!(counts().trim(), "INT 1 HUP 0 TERM 0", "{what}");
        terminal.close();
    }
}
