//! What the shim costs a program, against no shim, a raw MPTCP socket and Debian's
//! libmptcpwrap (mptcpd 0.12), in one run:
//!
//! 1. user-space instructions per `socket()+close()` (callgrind: the difference between a
//!    run of 11 000 and a run of 1 000 iterations, / 10 000), in a fixed environment of 32
//!    variables (Debian's shim calls `getenv` on every `socket()`, so its cost grows with
//!    the environment), and ns per op (wall clock, 200 000 iterations: the kernel's ~µs
//!    hide the difference);
//! 2. instructions that loading the library adds to a program's start-up (callgrind on
//!    `true`), each library copied to a path of the same length first (the loader's work
//!    grows with the path's length, ~25 instructions per character);
//! 3. `mptcpize run true` against Debian's `mptcpize run true`: wall time (hyperfine when
//!    installed, else a loop of spawns), and the launcher's own instructions, counted on
//!    `run /nonexistent/program` (callgrind reports only the exec'd program when the exec
//!    succeeds).
//!
//! Run: `cargo bench -p mptcpize --bench shim` (needs valgrind). Debian's rows use the
//! installed `mptcpize` and `libmptcpwrap0` packages, or else their `.deb` files fetched
//! with `apt-get download` and unpacked with `dpkg-deb -x` into a temporary directory
//! (nothing installed); they are skipped when neither works. Prints a Markdown table.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LOOP_ENV: &str = "MPTCPIZE_BENCH_LOOP";
const DEBIAN_SHIM: &str = "/usr/lib/x86_64-linux-gnu/mptcpize/libmptcpwrap.so.0.0.1";
const DEBIAN_LAUNCHER: &str = "/usr/bin/mptcpize";
const IPPROTO_MPTCP: i32 = 262;

fn main() {
    if let Some(spec) = std::env::var_os(LOOP_ENV) {
        socket_loop(&spec.to_string_lossy());
        return;
    }
    // `cargo bench` passes `--bench`; any other argument is a filter we do not have.
    if !have("valgrind") {
        eprintln!("valgrind is not installed: apt-get install valgrind");
        std::process::exit(1);
    }
    let scratch = std::env::temp_dir().join(format!("mptcpize-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let (debian_shim, debian_launcher) = debian_files(&scratch);
    // Both libraries at paths of the same length (`ours.so`, `debn.so`).
    let ours = scratch.join("ours.so");
    std::fs::copy(concat!(env!("OUT_DIR"), "/libmptcpize_preload.so"), &ours).unwrap();
    let debian = debian_shim.map(|shim| {
        let copy = scratch.join("debn.so");
        std::fs::copy(shim, &copy).unwrap();
        copy
    });

    let mut cases: Vec<(&str, Option<PathBuf>, i32)> = vec![
        ("no preload (TCP)", None, 0),
        ("raw MPTCP socket, no preload", None, IPPROTO_MPTCP),
    ];
    if let Some(debian) = &debian {
        cases.push(("Debian libmptcpwrap 0.12", Some(debian.clone()), 0));
    } else {
        eprintln!(
            "Debian's libmptcpwrap0 is neither installed nor downloadable: its rows are skipped"
        );
    }
    cases.push(("mptcpize-preload (ours)", Some(ours.clone()), 0));

    println!(
        "| case | instructions per socket()+close() | ns per op | start-up instructions added |"
    );
    println!("|---|---:|---:|---:|");
    let base_startup = startup_instructions(None);
    for (name, preload, proto) in &cases {
        let per_op = (loop_instructions(preload.as_deref(), *proto, 11_000)
            - loop_instructions(preload.as_deref(), *proto, 1_000)) as f64
            / 10_000.0;
        let ns = loop_ns(preload.as_deref(), *proto, 200_000);
        let startup = match preload {
            Some(lib) => format!(
                "{:+}",
                startup_instructions(Some(lib)) as i64 - base_startup as i64
            ),
            None => "—".to_owned(),
        };
        println!("| {name} | {per_op:.1} | {ns:.0} | {startup} |");
    }
    println!();
    println!(
        "Start-up baseline: `true` runs {base_startup} instructions without a preload; \
         libraries preloaded as {}.",
        ours.display()
    );
    println!();

    println!("| launcher | instructions up to a failed exec | `run true` wall time |");
    println!("|---|---:|---:|");
    let launcher = PathBuf::from(env!("CARGO_BIN_EXE_mptcpize"));
    let mut launchers = vec![("mptcpize (ours)", launcher)];
    if let Some(debian) = debian_launcher {
        launchers.push(("Debian mptcpize 0.12", debian));
    }
    // Warm up: our launcher writes its embedded shim once to the user's cache.
    for (_, path) in &launchers {
        let _ = Command::new(path).args(["run", "true"]).status();
    }
    for (name, path) in &launchers {
        let instructions = launcher_instructions(path);
        let wall = launcher_wall(path);
        println!("| {name} | {instructions} | {wall} |");
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

/// Debian's shim and launcher: installed, or unpacked from the packages `apt-get download`
/// fetches into `scratch` (when the machine can reach a Debian mirror).
fn debian_files(scratch: &Path) -> (Option<PathBuf>, Option<PathBuf>) {
    let installed = |p: &str| Path::new(p).is_file().then(|| PathBuf::from(p));
    if let (Some(shim), Some(launcher)) = (installed(DEBIAN_SHIM), installed(DEBIAN_LAUNCHER)) {
        return (Some(shim), Some(launcher));
    }
    let debs = scratch.join("debs");
    let root = scratch.join("debian-root");
    std::fs::create_dir_all(&debs).unwrap();
    let fetched = Command::new("apt-get")
        .args(["download", "-q", "libmptcpwrap0", "mptcpize"])
        .current_dir(&debs)
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if fetched {
        for deb in std::fs::read_dir(&debs).unwrap().filter_map(Result::ok) {
            let _ = Command::new("dpkg-deb")
                .arg("-x")
                .arg(deb.path())
                .arg(&root)
                .status();
        }
    }
    let unpacked = |p: &str| {
        let path = root.join(p.trim_start_matches('/'));
        path.is_file().then_some(path)
    };
    (
        installed(DEBIAN_SHIM).or_else(|| unpacked(DEBIAN_SHIM)),
        installed(DEBIAN_LAUNCHER).or_else(|| unpacked(DEBIAN_LAUNCHER)),
    )
}

/// The loop run in a child: `ITERATIONS PROTOCOL [time]`.
fn socket_loop(spec: &str) {
    let mut words = spec.split_whitespace();
    let n: u64 = words.next().unwrap().parse().unwrap();
    let proto: i32 = words.next().unwrap().parse().unwrap();
    let timed = words.next() == Some("time");
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: socket(2) and close(2) on our own fd.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, proto);
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            libc::close(fd);
        }
    }
    if timed {
        println!("{}", start.elapsed().as_nanos() as f64 / n as f64);
    }
}

/// A fixed environment: 32 variables of typical length, and the preload if any.
fn fixed_env(cmd: &mut Command, preload: Option<&Path>) {
    cmd.env_clear();
    for i in 0..32 {
        cmd.env(
            format!("BENCH_VARIABLE_{i:02}"),
            format!("/usr/local/share/value-{i:02}"),
        );
    }
    if let Some(lib) = preload {
        cmd.env("LD_PRELOAD", lib);
    }
}

/// Total user-space instructions callgrind counts for `cmd`.
fn callgrind(mut cmd: Command) -> u64 {
    let out = cmd.stdout(Stdio::null()).output().expect("valgrind");
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find_map(|l| l.split("Collected : ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no callgrind total in:\n{stderr}"))
}

fn valgrind() -> Command {
    let mut cmd = Command::new("valgrind");
    cmd.args(["--tool=callgrind", "--callgrind-out-file=/dev/null"]);
    cmd
}

fn loop_instructions(preload: Option<&Path>, proto: i32, n: u64) -> u64 {
    let mut cmd = valgrind();
    cmd.arg(std::env::current_exe().unwrap());
    fixed_env(&mut cmd, preload);
    cmd.env(LOOP_ENV, format!("{n} {proto}"));
    callgrind(cmd)
}

fn loop_ns(preload: Option<&Path>, proto: i32, n: u64) -> f64 {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    fixed_env(&mut cmd, preload);
    cmd.env(LOOP_ENV, format!("{n} {proto} time"));
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn startup_instructions(preload: Option<&Path>) -> u64 {
    let mut cmd = valgrind();
    cmd.arg("/bin/true");
    fixed_env(&mut cmd, preload);
    callgrind(cmd)
}

/// Instructions the launcher runs for `run /nonexistent/program`: all its work up to the
/// `execve`, which fails (callgrind reports only the exec'd program when the exec succeeds).
fn launcher_instructions(launcher: &Path) -> u64 {
    let mut cmd = valgrind();
    cmd.arg(launcher).args(["run", "/nonexistent/program"]);
    fixed_env(&mut cmd, None);
    for name in ["HOME", "PATH"] {
        if let Some(v) = std::env::var_os(name) {
            cmd.env(name, v);
        }
    }
    callgrind(cmd)
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Mean wall time of `LAUNCHER run true`: hyperfine when installed, else 300 spawns.
fn launcher_wall(launcher: &Path) -> String {
    if have("hyperfine") {
        let json = std::env::temp_dir().join(format!("mptcpize-bench-{}.json", std::process::id()));
        let mut command = OsString::from(launcher);
        command.push(" run true");
        let status = Command::new("hyperfine")
            .args(["-N", "--warmup", "20", "--runs", "300", "--export-json"])
            .arg(&json)
            .arg(&command)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let text = std::fs::read_to_string(&json).unwrap();
        let _ = std::fs::remove_file(&json);
        let field = |key: &str| -> f64 {
            let rest = &text[text.find(key).unwrap() + key.len()..];
            rest.trim_start_matches([':', ' '])
                .split([',', '\n'])
                .next()
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        format!(
            "{:.0} µs ± {:.0} (hyperfine, 300 runs)",
            field("\"mean\"") * 1e6,
            field("\"stddev\"") * 1e6
        )
    } else {
        let runs = 300;
        let start = Instant::now();
        for _ in 0..runs {
            let status = Command::new(launcher)
                .args(["run", "true"])
                .status()
                .unwrap();
            assert!(status.success());
        }
        let mean: Duration = start.elapsed() / runs;
        format!("{} µs (mean of {runs} spawns)", mean.as_micros())
    }
}
