//! What the mptcpize integration tests share: the launcher's path, MPTCP counters read from
//! outside the programs, waiting for a listener, iperf3's byte counts.
#![allow(dead_code)] // Each test file uses a part.

pub mod go;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mptcp_tests::Netns;

/// The launcher cargo built for these tests.
pub fn mptcpize() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mptcpize"))
}

/// `ip netns exec NS mptcpize run PROGRAM ARGS…`.
pub fn mptcpized(ns: &Netns, program: &str, args: &[&str]) -> Command {
    let mut cmd = ns.command(mptcpize());
    cmd.arg("run").arg("--").arg(program).args(args);
    cmd
}

/// Runs `cmd` with a deadline; panics with its output when it fails or hangs.
pub fn output_ok(cmd: &mut Command, what: &str) -> Output {
    succeeded(output_within(cmd, Duration::from_secs(60), what), what)
}

/// `out`, the output of `what`, after checking that it exited with status 0; panics with
/// its status, stdout and stderr otherwise.
pub fn succeeded(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `cmd` and collects its output, killing it after `limit`.
pub fn output_within(cmd: &mut Command, limit: Duration, what: &str) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let pid = child.id() as i32;
    let watchdog = std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(50));
            // SAFETY: signal 0 only checks the process exists.
            if unsafe { libc::kill(pid, 0) } != 0 {
                return false;
            }
        }
        // SAFETY: our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        true
    });
    let out = child.wait_with_output().unwrap();
    let _ = watchdog.join();
    out
}

pub use mptcp_tests::lab::Background;

/// Starts `cmd` in the background with its output discarded.
pub fn spawn(mut cmd: Command) -> Background {
    Background::spawn(cmd.stdout(Stdio::null()).stderr(Stdio::null())).expect("spawn")
}

/// Waits until something listens on TCP `port` in `ns` (`ss -Hltn`).
pub fn wait_listening(ns: &Netns, port: u16) {
    let start = Instant::now();
    let wanted = format!(":{port}");
    loop {
        let listing = ns.run("ss", &["-Hltn"]).unwrap_or_default();
        if listing.lines().any(|l| {
            l.split_whitespace()
                .nth(3)
                .is_some_and(|a| a.ends_with(&wanted))
        }) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "nothing listens on port {port} after 20 s:\n{listing}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The namespace's `MPTcp*` counters (`nstat -asz`: absolute, history untouched, zeros
/// included).
pub fn mptcp_counters(ns: &Netns) -> BTreeMap<String, u64> {
    ns.mptcp_counters().expect("nstat")
}

/// A counter's value (0 when the kernel does not list it).
pub fn counter(counters: &BTreeMap<String, u64>, name: &str) -> u64 {
    counters.get(name).copied().unwrap_or(0)
}

/// Asserts that both ends of at least `connections` connections were MPTCP: the server
/// received MP_CAPABLE SYNs on an MPTCP listener and the client got MP_CAPABLE SYN-ACKs.
pub fn assert_mptcp_used(ns: &Netns, connections: u64, what: &str) {
    let c = mptcp_counters(ns);
    assert!(
        counter(&c, "MPTcpExtMPCapableSYNRX") >= connections
            && counter(&c, "MPTcpExtMPCapableSYNACKRX") >= connections,
        "{what}: expected {connections} MPTCP connection(s), counters: {c:?}"
    );
}

/// Asserts that no MPTCP connection was made in the namespace.
pub fn assert_no_mptcp(ns: &Netns, what: &str) {
    let c = mptcp_counters(ns);
    let used: Vec<_> = c.iter().filter(|(_, &v)| v != 0).collect();
    assert!(used.is_empty(), "{what}: MPTCP counters moved: {used:?}");
}

pub use mptcp_tests::TempDir;

/// The `"bytes"` value of the JSON object after `key` in iperf3's `-J` output.
pub fn json_bytes_after(json: &str, key: &str) -> Option<u64> {
    let rest = &json[json.find(key)?..];
    let rest = &rest[rest.find("\"bytes\":")? + 8..];
    rest.trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// How a C test program is linked.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Linking {
    /// `gcc -static`: out of `LD_PRELOAD`'s reach (mptcpize chooses seccomp mode).
    Static,
    /// Against the system's libc (the shim reaches it).
    Dynamic,
}

/// Builds `tests/seccomp-programs/SOURCE` with gcc into `dir` (made enterable by every user,
/// for programs that drop to `nobody`), and returns the program's path.
pub fn build_c_program(dir: &TempDir, source: &str, linking: Linking) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/seccomp-programs")
        .join(source);
    let stem = source.trim_end_matches(".c");
    let out = dir.path().join(match linking {
        Linking::Static => format!("{stem}-static"),
        Linking::Dynamic => format!("{stem}-dynamic"),
    });
    let mut gcc = Command::new("gcc");
    gcc.args(["-O2", "-Wall", "-Werror", "-pthread"]);
    if linking == Linking::Static {
        gcc.arg("-static");
    }
    let status = gcc.arg("-o").arg(&out).arg(&src).status().expect("run gcc");
    assert!(
        status.success(),
        "gcc failed on {}: install gcc and libc6-dev",
        src.display()
    );
    out
}

/// Waits until `ok()` holds, failing the test after 20 s with `what`.
pub fn wait_until(what: &str, ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    assert!(
        mptcp_tests::wait_until(deadline, ok),
        "timed out waiting for {what}"
    );
}

/// Waits for `child` to end, for at most `limit`: its status, or None, after which it is
/// killed and reaped (a hang is a failure to report, never a test that waits forever).
pub fn wait_child_within(
    child: &mut std::process::Child,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A new pseudo-terminal: (master, slave).
pub fn open_pty() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two fds; the other arguments may be NULL.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: two new fds owned by nobody else.
    unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    }
}

/// Gives `cmd` the pty's `slave` side as stdin, stdout and stderr and as its controlling
/// terminal (`setsid` + `TIOCSCTTY` before exec), in the foreground, as a shell starts a
/// job. Drop `cmd` after spawning it, so that the parent keeps no copy of the slave side.
pub fn with_controlling_terminal(cmd: &mut Command, slave: std::fs::File) -> &mut Command {
    use std::os::unix::process::CommandExt;
    cmd.stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    // SAFETY: setsid and ioctl are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

/// The master side of a pty on which [`spawn_on_terminal`] started a program, and what the
/// program has written to it so far (read by a thread of its own).
pub struct Terminal {
    master: std::fs::File,
    output: std::sync::Arc<std::sync::Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

/// Starts `cmd` on a new pseudo-terminal, as its controlling terminal (see
/// [`with_controlling_terminal`]); `cmd` is dropped once spawned, so that the test keeps no
/// copy of the slave side and the reader sees the end when the program's side closes.
pub fn spawn_on_terminal(mut cmd: Command) -> (std::process::Child, Terminal) {
    use std::io::Read;
    let (master, slave) = open_pty();
    with_controlling_terminal(&mut cmd, slave);
    let child = cmd.spawn().unwrap();
    drop(cmd);
    let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let mut master = master.try_clone().unwrap();
        let output = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            // Ends with EIO once every process holding the slave side has exited.
            while let Ok(n @ 1..) = master.read(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]);
                output.lock().unwrap().push_str(&text);
            }
        })
    };
    (
        child,
        Terminal {
            master,
            output,
            reader,
        },
    )
}

impl Terminal {
    /// What the program has written to the terminal so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Types `keys` on the terminal (`b"\x03"`: Ctrl-C).
    pub fn type_keys(&self, keys: &[u8]) {
        use std::io::Write;
        (&self.master).write_all(keys).unwrap();
    }

    /// Closes the master side and waits for the reader: all the program wrote.
    pub fn close(self) -> String {
        drop(self.master);
        self.reader.join().unwrap();
        // The reader's copy is gone with its thread.
        std::sync::Arc::try_unwrap(self.output)
            .expect("the only owner")
            .into_inner()
            .unwrap()
    }
}
