//! `mptcpize watch` against real programs: an iperf3 transfer across the two-path lab (both
//! subflows listed with their bytes, then path 1 cut: its subflow goes idle or away while
//! the other's bytes keep rising), a static busybox under seccomp mode and a native
//! `MptcpStream` program side by side, `--pid`/`--port`/`--unit` filters, the live view
//! under tmux (on screen, `q` quits, the terminal restored), and watch run as `nobody` (its
//! own processes named, root's connection listed without an owner).

mod support;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mptcp_socket::MptcpStream;
use mptcp_tests::{Lab, Netns};
use serde_json::Value;
use support::{mptcpize, spawn, wait_listening, Background};

const PORT: u16 = 5201;

/// `mptcpize watch --json --once ARGS…` in `ns`: one JSON object per connection.
fn snapshot(ns: &Netns, args: &[&str]) -> Vec<Value> {
    snapshot_of(ns.command(mptcpize()), args)
}

/// `mptcpize watch --json --once ARGS…` run by `cmd`.
fn snapshot_of(mut cmd: Command, args: &[&str]) -> Vec<Value> {
    cmd.args(["watch", "--json", "--once"]).args(args);
    let out = support::output_ok(&mut cmd, "mptcpize watch --json --once");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Snapshots until `pick` finds what it waits for, or panics after `limit` with the last
/// snapshot.
fn wait_snapshot<T>(
    ns: &Netns,
    args: &[&str],
    limit: Duration,
    what: &str,
    mut pick: impl FnMut(&[Value]) -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        let snap = snapshot(ns, args);
        if let Some(found) = pick(&snap) {
            return found;
        }
        assert!(
            start.elapsed() < limit,
            "timed out waiting for {what}; last snapshot:\n{}",
            snap.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn u64_of(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

fn subflows(conn: &Value) -> &[Value] {
    conn["subflows"].as_array().map_or(&[], Vec::as_slice)
}

/// `bytes_acked` of each subflow of connection `cookie`, by local address.
fn acked_by_path(snap: &[Value], cookie: u64) -> Option<HashMap<String, u64>> {
    let conn = snap.iter().find(|c| u64_of(c, "cookie") == cookie)?;
    Some(
        subflows(conn)
            .iter()
            .map(|sf| (ip_of(str_of(sf, "local")), u64_of(sf, "bytes_acked")))
            .collect(),
    )
}

fn ip_of(addr: &str) -> String {
    addr.rsplit_once(':').map_or(addr, |(ip, _)| ip).to_owned()
}

/// The lab with `mptcpize run iperf3 -s` in the server namespace and a long
/// `mptcpize run iperf3 -c` in the client namespace (killed on drop).
struct Iperf {
    client: Background,
    _server: Background,
    lab: Lab,
}

fn iperf_in_lab() -> Iperf {
    let lab = Lab::builder().paths([20, 20]).build().unwrap();
    let mut server = lab.server().command(mptcpize());
    server.args(["run", "iperf3", "-s", "-1", "-p", &PORT.to_string()]);
    let server = spawn(server);
    wait_listening(lab.server(), PORT);
    let mut client = lab.client().command(mptcpize());
    client
        .args(["run", "iperf3", "-c"])
        .arg(lab.server_addr(1).to_string())
        .args(["-p", &PORT.to_string(), "-t", "60"]);
    let client = spawn(client);
    Iperf {
        client,
        _server: server,
        lab,
    }
}

/// The iperf3 data connection: comm iperf3, kind mptcp, two subflows on distinct local
/// addresses, each with more than 64 KiB acknowledged. Returns (cookie, pid).
fn iperf3_data_connection(snap: &[Value]) -> Option<(u64, u64)> {
    snap.iter().find_map(|c| {
        let sfs = subflows(c);
        let ok = str_of(c, "comm") == "iperf3"
            && str_of(c, "kind") == "mptcp"
            && sfs.len() == 2
            && ip_of(str_of(&sfs[0], "local")) != ip_of(str_of(&sfs[1], "local"))
            && sfs
                .iter()
                .all(|sf| u64_of(sf, "bytes_sent") > 64 << 10 && u64_of(sf, "bytes_acked") > 0);
        ok.then(|| (u64_of(c, "cookie"), u64_of(c, "pid")))
    })
}

#[mptcp_tests::needs(privileged, "iperf3")]
#[test]
fn iperf3_paths_listed_and_followed_through_a_cut() {
    let mut run = iperf_in_lab();
    let lab = &run.lab;
    let port = PORT.to_string();
    let filter = ["--port", port.as_str()];
    let (cookie, pid) = wait_snapshot(
        lab.client(),
        &filter,
        Duration::from_secs(30),
        "iperf3's connection with two loaded subflows",
        iperf3_data_connection,
    );
    // `mptcpize run` execs iperf3: the launcher's pid is iperf3's.
    assert_eq!(pid, u64::from(run.client.id()), "owner pid");
    let snap = snapshot(lab.client(), &filter);
    let conn = snap.iter().find(|c| u64_of(c, "cookie") == cookie).unwrap();
    assert_eq!(
        str_of(conn, "remote"),
        format!("{}:{PORT}", lab.server_addr(1))
    );
    assert!(conn["token"].as_u64().is_some(), "token: {conn}");
    assert!(
        conn["mptcp_bytes_retrans"].as_u64().is_some(),
        "mptcp_bytes_retrans: {conn}"
    );
    for sf in subflows(conn) {
        // Each subflow on its own path: address and interface of path 1 or path 2.
        let local = ip_of(str_of(sf, "local"));
        let path = (1..=2)
            .find(|&p| local == lab.client_addr(p).to_string())
            .unwrap_or_else(|| panic!("subflow on an unknown address: {sf}"));
        assert_eq!(str_of(sf, "interface"), lab.client_if(path), "{sf}");
        assert!(sf["rtt_us"].as_u64().is_some() && !sf["backup"].as_bool().unwrap());
    }
    // The server namespace sees the other end, owned by the server iperf3.
    let server_side = snapshot(lab.server(), &filter);
    assert!(
        server_side
            .iter()
            .any(|c| str_of(c, "comm") == "iperf3" && subflows(c).len() == 2),
        "server side: {server_side:?}"
    );

    // Cut path 1: its subflow must go away or stop advancing, while path 2 carries on.
    lab.path_down(1).unwrap();
    let (p1, p2) = (
        lab.client_addr(1).to_string(),
        lab.client_addr(2).to_string(),
    );
    let mut previous: Option<HashMap<String, u64>> = None;
    let mut settled = 0;
    let start = Instant::now();
    loop {
        let snap = snapshot(lab.client(), &filter);
        let now = acked_by_path(&snap, cookie).expect("the connection survives the cut");
        if let Some(before) = &previous {
            let p1_idle = now.get(&p1).map_or(true, |b| before.get(&p1) == Some(b));
            let p2_rising = match (before.get(&p2), now.get(&p2)) {
                (Some(b), Some(n)) => n > b,
                _ => false,
            };
            settled = if p1_idle && p2_rising { settled + 1 } else { 0 };
            // Three refreshes in a row: not a pause between two bursts.
            if settled == 3 {
                break;
            }
        }
        previous = Some(now);
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "after cutting path 1, path 1 did not go idle while path 2 kept rising: \
             {previous:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // What was in flight on path 1 was sent again on path 2, at the MPTCP level: the
    // connection's `mptcp_bytes_retrans`.
    wait_snapshot(
        lab.client(),
        &filter,
        Duration::from_secs(10),
        "MPTCP-level retransmissions of what path 1 carried when it was cut",
        |snap| {
            snap.iter()
                .find(|c| u64_of(c, "cookie") == cookie)
                .and_then(|c| c["mptcp_bytes_retrans"].as_u64())
                .filter(|resent| *resent > 0)
        },
    );
    run.client.child_mut().kill().unwrap();
}

#[mptcp_tests::needs(privileged, "busybox")]
#[test]
fn static_seccomp_program_and_native_program_both_appear() {
    let ns = Netns::new("watch-sc").unwrap();
    // A statically linked busybox nc listening, under seccomp mode.
    let mut server = ns.command(mptcpize());
    server.args(["run", "--seccomp", "busybox", "nc", "-l", "-p", "9000"]);
    let server = spawn(server);
    // This test program is the native one: an MptcpStream made inside the namespace.
    let (client, local) = connect_when_listening(&ns, 9000);
    let me = u64::from(std::process::id());
    let snap = wait_snapshot(
        &ns,
        &["--port", "9000"],
        Duration::from_secs(10),
        "both ends of the busybox connection",
        |snap| {
            let ours = snap
                .iter()
                .any(|c| str_of(c, "local") == local && u64_of(c, "pid") == me);
            let theirs = snap
                .iter()
                .any(|c| str_of(c, "remote") == local && str_of(c, "comm") == "busybox");
            (ours && theirs).then(|| snap.to_vec())
        },
    );
    for conn in &snap {
        assert_eq!(str_of(conn, "kind"), "mptcp", "{conn}");
        assert_eq!(subflows(conn).len(), 1, "{conn}");
    }
    // --pid LAUNCHER: the supervisor's child busybox is a descendant; this test is not.
    let launcher = server.id().to_string();
    let only_busybox = snapshot(&ns, &["--pid", &launcher]);
    assert_eq!(only_busybox.len(), 1, "{only_busybox:?}");
    assert_eq!(str_of(&only_busybox[0], "comm"), "busybox");
    assert_eq!(str_of(&only_busybox[0], "remote"), local);
    // --port of another port: nothing.
    assert!(snapshot(&ns, &["--port", "9001"]).is_empty());
    drop(client);
}

/// Once something listens on `port` of 127.0.0.1 in `ns`: an `MptcpStream` connected to
/// it from inside `ns`, and its local address.
fn connect_when_listening(ns: &Netns, port: u16) -> (MptcpStream, String) {
    wait_listening(ns, port);
    let client = ns
        .enter(|| MptcpStream::connect(("127.0.0.1", port)))
        .unwrap()
        .unwrap();
    let local = client.local_addr().unwrap().to_string();
    (client, local)
}

/// A tmux server of the test's own (`tmux -L NAME`), killed on drop.
struct Tmux(String);

impl Tmux {
    /// A tmux server of its own (`tmux -L NAME-PID`) with one detached session `watch` of
    /// `columns` x `rows` running the shell command `line`.
    fn start(name: &str, (columns, rows): (u16, u16), line: &str) -> Tmux {
        let tmux = Tmux(format!("{name}-{}", std::process::id()));
        let (columns, rows) = (columns.to_string(), rows.to_string());
        tmux.cmd(&[
            "new-session",
            "-d",
            "-s",
            "watch",
            "-x",
            &columns,
            "-y",
            &rows,
            line,
        ]);
        tmux
    }

    /// `display -p` of `format` (`#{pane_title}`, …) for the session's pane.
    fn display(&self, format: &str) -> String {
        self.cmd(&["display", "-p", "-t", "watch", format])
    }

    fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.0)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "watch"])
    }

    fn wait_screen(&self, what: &str, mut ok: impl FnMut(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `watch` left the terminal as it found it: the main screen back, the cursor visible.
fn assert_terminal_restored(tmux: &Tmux, after: &str) {
    let state = tmux.display("#{alternate_on} #{cursor_flag}");
    assert_eq!(
        state.trim(),
        "0 1",
        "alternate screen / cursor flag after {after}"
    );
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .status();
    }
}

#[mptcp_tests::needs(privileged, "iperf3", "tmux")]
#[test]
fn live_view_under_tmux_shows_both_paths_and_q_restores_the_terminal() {
    let run = iperf_in_lab();
    let lab = &run.lab;
    wait_snapshot(
        lab.client(),
        &["--port", &PORT.to_string()],
        Duration::from_secs(30),
        "iperf3's two subflows",
        iperf3_data_connection,
    );
    // The shell prints a marker when watch has returned, and stays for the checks. The
    // launcher's path is quoted: the checkout's path may hold spaces.
    let launcher = mptcpize().display().to_string().replace('\'', r"'\''");
    let line = format!(
        "w() {{ ip netns exec {} '{launcher}' watch --interval 0.5 --port {PORT}; }}; \
         w; echo WATCH-EXITED $?; read go; w; echo WATCH-TERMINATED $?; sleep 600",
        lab.client().name(),
    );
    let tmux = Tmux::start("mptcpize-watch", (80, 40), &line);
    let (p1, p2) = (
        lab.client_addr(1).to_string(),
        lab.client_addr(2).to_string(),
    );
    tmux.wait_screen("the connection and its two paths", |s| {
        s.contains("iperf3[")
            && s.contains("MPTCP")
            && s.contains(&format!("{} {p1}:", lab.client_if(1)))
            && s.contains(&format!("{} {p2}:", lab.client_if(2)))
            && s.contains("Mb/s")
    });
    // The per-path history fills up: three bars on each path's line.
    let bars = |line: &str| {
        line.chars()
            .filter(|c| ('\u{2581}'..='\u{2588}').contains(c))
            .count()
    };
    let screen = tmux.wait_screen("three throughput bars on both paths", |s| {
        s.lines()
            .filter(|l| l.contains("rtt") && bars(l) >= 3)
            .count()
            >= 2
    });
    eprintln!("the live view:\n{screen}");
    assert!(
        tmux.display("#{alternate_on}").trim() == "1",
        "the live view uses the alternate screen"
    );
    // 80 columns are enough: no path line and no statistics line is cut at the edge.
    let server = format!("→ {}:{PORT}", lab.server_addr(1));
    for line in screen.lines() {
        if line.starts_with("  ├ ") || line.starts_with("  └ ") {
            assert!(line.contains(&server), "path line cut: {line:?}");
        }
        if line.contains("rtt") {
            assert!(line.contains(" rtx "), "statistics cut: {line:?}");
        }
    }
    tmux.cmd(&["send-keys", "-t", "watch", "q"]);
    let after = tmux.wait_screen("watch to exit", |s| s.contains("WATCH-EXITED"));
    assert!(after.contains("WATCH-EXITED 0"), "exit status: {after}");
    // The terminal is restored: main screen back, cursor visible.
    assert_terminal_restored(&tmux, "q");
    assert!(
        !after.contains("iperf3["),
        "the live view is gone:\n{after}"
    );

    // The second watch, ended by SIGTERM: the terminal is restored all the same.
    tmux.cmd(&["send-keys", "-t", "watch", "go", "Enter"]);
    tmux.wait_screen("the second live view", |s| s.contains("iperf3["));
    let shell: u32 = tmux
        .cmd(&["display", "-p", "-t", "watch", "#{pane_pid}"])
        .trim()
        .parse()
        .unwrap();
    let watch = child_named(shell, "mptcpize").expect("the second watch process");
    // SAFETY: a process this test started (through tmux).
    assert_eq!(unsafe { libc::kill(watch as i32, libc::SIGTERM) }, 0);
    let after = tmux.wait_screen("watch to end on SIGTERM", |s| {
        s.contains("WATCH-TERMINATED")
    });
    assert!(after.contains("WATCH-TERMINATED 0"), "exit status: {after}");
    assert_terminal_restored(&tmux, "SIGTERM");
}

/// The pid of a child of `parent` whose command is `comm` (`/proc/*/stat`).
fn child_named(parent: u32, comm: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (head, tail) = stat.rsplit_once(')')?;
        let name = head.split_once('(')?.1;
        let ppid: u32 = tail.split_whitespace().nth(1)?.parse().ok()?;
        (ppid == parent && name == comm).then_some(pid)
    })
}

/// A cgroup `system.slice/NAME.service` made for the test in systemd's hierarchy (the
/// unified one where it is cgroup v2 only), removed on drop with `system.slice` if the test
/// made that too.
struct UnitCgroup {
    dir: std::path::PathBuf,
    made_slice: bool,
}

impl UnitCgroup {
    fn new(name: &str) -> Option<UnitCgroup> {
        let root = ["/sys/fs/cgroup/systemd", "/sys/fs/cgroup"]
            .into_iter()
            .map(std::path::Path::new)
            .find(|r| r.join("cgroup.procs").exists())?;
        let slice = root.join("system.slice");
        let made_slice = !slice.exists();
        let dir = slice.join(name);
        std::fs::create_dir_all(&dir).ok()?;
        Some(UnitCgroup { dir, made_slice })
    }

    fn add(&self, pid: u32) {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string()).unwrap();
    }
}

impl Drop for UnitCgroup {
    fn drop(&mut self) {
        // The processes must be gone first: wait for the cgroup to empty.
        let start = Instant::now();
        while std::fs::read_to_string(self.dir.join("cgroup.procs"))
            .is_ok_and(|p| !p.trim().is_empty())
            && start.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir(&self.dir);
        if self.made_slice {
            let _ = std::fs::remove_dir(self.dir.parent().unwrap());
        }
    }
}

#[mptcp_tests::needs(privileged, "busybox", "nsenter")]
#[test]
fn unit_filter_follows_the_units_cgroup() {
    let test = "unit_filter_follows_the_units_cgroup";
    let unit = format!("mptcpize-watch-test-{}", std::process::id());
    let cgroup = UnitCgroup::new(&format!("{unit}.service"));
    if !skip_without_cgroup(test, cgroup.is_none()) {
        return;
    }
    let cgroup = cgroup.unwrap();
    let ns = Netns::new("watch-unit").unwrap();
    // The "service": a shell put into the unit's cgroup before it execs the server, so
    // that every process of it is in the cgroup, as systemd starts a unit.
    let mut shell = ns.command("sh");
    shell
        .args([
            "-c",
            "read go; exec \"$0\" run --seccomp busybox nc -l -p 9200",
        ])
        .arg(mptcpize())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut service = Background::from_child(shell.spawn().unwrap());
    cgroup.add(service.id());
    {
        use std::io::Write;
        let mut stdin = service.child_mut().stdin.take().unwrap();
        stdin.write_all(b"go\n").unwrap();
    }
    let (client, local) = connect_when_listening(&ns, 9200);
    // Both ends without the filter (ours and the service's) …
    wait_snapshot(&ns, &[], Duration::from_secs(10), "both ends", |snap| {
        (snap.len() == 2).then_some(())
    });
    // … only the service's with it. `ip netns exec` mounts a sysfs of its own, without
    // the cgroup file systems: nsenter enters the network namespace alone.
    let in_ns = || {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", ns.name()))
            .arg(mptcpize());
        cmd
    };
    let only = snapshot_of(in_ns(), &["--unit", &unit]);
    assert_eq!(only.len(), 1, "{only:?}");
    assert_eq!(str_of(&only[0], "comm"), "busybox");
    assert_eq!(str_of(&only[0], "remote"), local);
    // `NAME.service` works the same as `NAME`.
    let with_suffix = format!("{unit}.service");
    assert_eq!(snapshot_of(in_ns(), &["--unit", &with_suffix]).len(), 1);
    drop(client);
    drop(service);
    drop(cgroup);
}

/// Skips (see `mptcp_tests::skip_unless`) when no cgroup could be made.
fn skip_without_cgroup(test: &str, no_cgroup: bool) -> bool {
    mptcp_tests::skip_unless(
        test,
        no_cgroup.then_some("cannot create a cgroup under /sys/fs/cgroup/systemd/system.slice"),
    )
}

/// `setpriv` to nobody/nogroup, no supplementary groups, nobody's environment: from root,
/// the uid change clears every capability, so what follows runs as a plain user.
const AS_NOBODY: [&str; 5] = [
    "setpriv",
    "--reuid=nobody",
    "--regid=nogroup",
    "--clear-groups",
    "--reset-env",
];

/// A Python MPTCP (`IPPROTO_MPTCP` = 262) server (`server PORT`: accepts one connection) or
/// client (`client PORT`: connects to 127.0.0.1), which keeps its socket open until killed.
const PYTHON_MPTCP_PEER: &str = "\
import signal, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
addr = ('127.0.0.1', int(sys.argv[2]))
if sys.argv[1] == 'server':
    s.bind(addr)
    s.listen()
    conn, _ = s.accept()
else:
    s.connect(addr)
signal.pause()
";

#[mptcp_tests::needs(privileged, "python3", "setpriv")]
#[test]
fn as_nobody_names_its_own_processes_and_lists_the_others_without_owner() {
    use std::os::unix::fs::PermissionsExt;
    // SAFETY: a NUL-terminated name; the entry is read before any other getpw* call.
    let nobody_uid = unsafe {
        let entry = libc::getpwnam(c"nobody".as_ptr());
        assert!(!entry.is_null(), "no user nobody");
        u64::from((*entry).pw_uid)
    };
    let ns = Netns::new("watch-nobody").unwrap();
    // nobody's server and client, each its own python3 process (`ip netns exec` and
    // setpriv exec it: the spawned pid is python3's).
    let python = |role: &str, port: u16| {
        let mut cmd = ns.command(AS_NOBODY[0]);
        cmd.args(&AS_NOBODY[1..])
            .args(["python3", "-c", PYTHON_MPTCP_PEER, role])
            .arg(port.to_string());
        spawn(cmd)
    };
    let server = python("server", 9300);
    wait_listening(&ns, 9300);
    let client = python("client", 9300);
    // root's connection, both ends held by this test process.
    let listener = ns
        .enter(|| mptcp_socket::MptcpListener::bind("127.0.0.1:9301"))
        .unwrap()
        .unwrap();
    let root_client = ns
        .enter(|| MptcpStream::connect("127.0.0.1:9301"))
        .unwrap()
        .unwrap();
    let (root_server, _) = listener.accept().unwrap();
    let (server_pid, client_pid) = (u64::from(server.id()), u64::from(client.id()));
    // Root sees all four ends with their owners and one subflow each.
    wait_snapshot(&ns, &[], Duration::from_secs(10), "the four ends", |snap| {
        let owned =
            |pid: u64, n: usize| snap.iter().filter(|c| u64_of(c, "pid") == pid).count() == n;
        (snap.len() == 4
            && snap.iter().all(|c| subflows(c).len() == 1)
            && owned(server_pid, 1)
            && owned(client_pid, 1)
            && owned(u64::from(std::process::id()), 2))
        .then_some(())
    });

    // The launcher where nobody can run it: the checkout may be under a 0700 home.
    let dir = mptcp_tests::temp_dir("watch-nobody");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let launcher = dir.path().join("mptcpize");
    std::fs::copy(mptcpize(), &launcher).unwrap();
    std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755)).unwrap();
    let as_nobody = |args: &[&str]| {
        let mut cmd = ns.command(AS_NOBODY[0]);
        cmd.args(&AS_NOBODY[1..])
            .arg(&launcher)
            .args(["watch", "--json", "--once"])
            .args(args);
        let out = support::output_ok(&mut cmd, "mptcpize watch as nobody");
        // No complaint about permissions, nor anything else.
        assert!(
            out.stderr.is_empty(),
            "watch as nobody wrote to stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect::<Vec<Value>>()
    };
    let snap = as_nobody(&[]);
    let all = snap
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(snap.len(), 4, "four ends expected:\n{all}");
    for conn in &snap {
        assert_eq!(str_of(conn, "kind"), "mptcp", "{conn}");
        assert!(conn["token"].as_u64().is_some(), "token: {conn}");
        // This kernel tells any user which connection each subflow belongs to.
        assert_eq!(conn["subflows_matched"], Value::Bool(true), "{conn}");
        let sfs = subflows(conn);
        assert_eq!(sfs.len(), 1, "one subflow: {conn}");
        assert_eq!(str_of(&sfs[0], "local"), str_of(conn, "local"), "{conn}");
        assert_eq!(str_of(&sfs[0], "remote"), str_of(conn, "remote"), "{conn}");
    }
    // nobody's own ends: pid and command, nobody's uid.
    for (pid, end, addr) in [
        (server_pid, "local", "127.0.0.1:9300"),
        (client_pid, "remote", "127.0.0.1:9300"),
    ] {
        let conn = snap
            .iter()
            .find(|c| u64_of(c, "pid") == pid)
            .unwrap_or_else(|| panic!("python3 {pid} not listed:\n{all}"));
        assert_eq!(str_of(conn, "comm"), "python3", "{conn}");
        assert_eq!(u64_of(conn, "uid"), nobody_uid, "{conn}");
        assert_eq!(str_of(conn, end), addr, "{conn}");
    }
    // root's ends: listed, their owner unknown (null), as `ss -p` shows no process.
    let root_ends: Vec<&Value> = snap
        .iter()
        .filter(|c| str_of(c, "local").ends_with(":9301") || str_of(c, "remote").ends_with(":9301"))
        .collect();
    assert_eq!(root_ends.len(), 2, "root's two ends:\n{all}");
    for conn in root_ends {
        assert!(conn["pid"].is_null() && conn["comm"].is_null(), "{conn}");
        assert_eq!(u64_of(conn, "uid"), 0, "{conn}");
    }
    // --pid of nobody's own process: that one alone.
    let server_arg = server_pid.to_string();
    let only = as_nobody(&["--pid", &server_arg]);
    assert_eq!(only.len(), 1, "{only:?}");
    assert_eq!(u64_of(&only[0], "pid"), server_pid);
    drop((root_client, root_server, client, server));
}

/// The command name a hostile process gives itself: clear the screen, set the window title
/// to PWN (OSC 0 … BEL). 13 bytes: fits the 15 of a comm.
const HOSTILE_COMM: &str = "\x1b[2J\x1b]0;PWN\x07X";

/// How `watch` shows [`HOSTILE_COMM`]: every control character as `\xNN`.
const HOSTILE_COMM_SHOWN: &str = r"\x1b[2J\x1b]0;PWN\x07X";

#[mptcp_tests::needs(privileged, "python3", "tmux")]
#[test]
fn hostile_command_names_are_shown_escaped_in_text_live_view_and_messages() {
    let ns = Netns::new("watch-escape").unwrap();
    // Both ends of one MPTCP connection in processes that renamed themselves
    // (prctl(PR_SET_NAME) = 15) to the hostile name, as any user can.
    let peer = format!(
        "import ctypes, sys\n\
         ctypes.CDLL(None).prctl(15, sys.argv[3].encode(), 0, 0, 0)\n\
         {PYTHON_MPTCP_PEER}"
    );
    let python = |role: &str| {
        let mut cmd = ns.command("python3");
        cmd.args(["-c", &peer, role, "9310", HOSTILE_COMM]);
        spawn(cmd)
    };
    let server = python("server");
    wait_listening(&ns, 9310);
    let client = python("client");
    // --json keeps the exact name (JSON escapes it).
    wait_snapshot(
        &ns,
        &["--port", "9310"],
        Duration::from_secs(10),
        "both renamed ends",
        |snap| {
            (snap.len() == 2 && snap.iter().all(|c| str_of(c, "comm") == HOSTILE_COMM))
                .then_some(())
        },
    );

    // The --once table: no control character at all, the name shown escaped.
    let mut once = ns.command(mptcpize());
    once.args(["watch", "--once", "--port", "9310"]);
    let out = support::output_ok(&mut once, "mptcpize watch --once");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "a control character reached the terminal: {text:?}"
    );
    for pid in [server.id(), client.id()] {
        assert!(
            text.contains(&format!("{HOSTILE_COMM_SHOWN}[{pid}]")),
            "{pid} not shown escaped: {text:?}"
        );
    }

    // The live view under tmux: the window title is not taken over, the screen not
    // cleared, the name shown escaped.
    let line = format!(
        "echo BEFORE-WATCH; ip netns exec {} {} watch --interval 0.5 --port 9310; \
         echo WATCH-EXITED $?; sleep 600",
        ns.name(),
        mptcpize().display()
    );
    let tmux = Tmux::start("mptcpize-watch-escape", (100, 30), &line);
    let screen = tmux.wait_screen("both ends in the live view", |s| {
        s.matches(&format!("{HOSTILE_COMM_SHOWN}[")).count() == 2
    });
    eprintln!("the live view:\n{screen}");
    let title = tmux.display("#{pane_title}");
    assert!(
        !title.contains("PWN"),
        "the window title was set: {title:?}"
    );
    tmux.cmd(&["send-keys", "-t", "watch", "q"]);
    let after = tmux.wait_screen("watch to exit", |s| s.contains("WATCH-EXITED"));
    assert!(after.contains("WATCH-EXITED 0"), "exit status: {after}");
    // Nothing cleared the main screen behind the alternate one.
    assert!(
        after.contains("BEFORE-WATCH"),
        "the screen was cleared: {after}"
    );
    let title = tmux.display("#{pane_title}");
    assert!(
        !title.contains("PWN"),
        "the window title was set: {title:?}"
    );

    // A message quoting a name: no control character either.
    let mut bad_unit = ns.command(mptcpize());
    bad_unit.args(["watch", "--once", "--unit", HOSTILE_COMM]);
    let out = support::output_within(&mut bad_unit, Duration::from_secs(30), "watch --unit");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let message = String::from_utf8(out.stderr).unwrap();
    assert!(
        !message.chars().any(|c| c.is_control() && c != '\n'),
        "a control character reached the terminal: {message:?}"
    );
    drop((client, server));
}

/// `--unit` is checked as `enable` checks unit names: `..` named the whole cgroup tree
/// (every process), `../../tmp/x` a directory outside it (0 rows, no error).
#[test]
fn unit_names_leaving_system_slice_are_an_error() {
    for bad in ["..", "../../tmp/x", "a/b.service"] {
        let out = support::output_within(
            Command::new(mptcpize()).args(["watch", "--once", "--unit", bad]),
            Duration::from_secs(30),
            "watch --unit",
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "--unit {bad}: {stderr}");
        assert!(
            stderr.contains("is not a systemd unit name") && out.stdout.is_empty(),
            "--unit {bad}: {stderr}"
        );
    }
}
