//! Network namespaces that belong to one test and disappear with it.

use std::io;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A network namespace created with `ip netns add`, uniquely named (`mpt-<tag>-<pid>-<n>`),
/// with `lo` up. Dropping it kills every process left inside and deletes it, so a test that
/// panics leaves nothing behind. Nothing in the root namespace is touched.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

/// Runs `cmd`, turning a non-zero exit into an error that carries its stderr.
pub fn run(cmd: &mut Command) -> io::Result<Output> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{:?} failed ({}): {}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out)
}

impl Netns {
    /// Creates a namespace whose name starts with `tag` (letters, digits and `-`; keep it
    /// short: interface and namespace names are limited).
    pub fn new(tag: &str) -> io::Result<Netns> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("mpt-{tag}-{}-{n}", std::process::id());
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Netns { name };
        run(Command::new("ip").args(["-n", &ns.name, "link", "set", "lo", "up"]))?;
        Ok(ns)
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A `Command` that runs `program` inside the namespace (`ip netns exec NAME program`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Runs `program args…` inside the namespace and returns its stdout; fails on a
    /// non-zero exit.
    pub fn run(&self, program: &str, args: &[&str]) -> io::Result<String> {
        let out = run(self.command(program).args(args))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// [`Netns::run`] of a command line split at spaces (no quoting), e.g.
    /// `ns.run_line("ip mptcp limits set subflows 2 add_addr_accepted 2")`.
    pub fn run_line(&self, line: &str) -> io::Result<String> {
        let mut words = line.split(' ');
        let program = words.next().unwrap_or_default();
        self.run(program, &words.collect::<Vec<_>>())
    }

    /// [`Netns::run_line`] of each line in turn, e.g. the `ip` commands that set up links;
    /// stops at the first that fails.
    pub fn run_lines(&self, lines: &[&str]) -> io::Result<()> {
        lines
            .iter()
            .try_for_each(|line| self.run_line(line).map(drop))
    }

    /// Sets a sysctl inside the namespace, e.g. `("net.mptcp.enabled", "0")`.
    pub fn sysctl(&self, key: &str, value: &str) -> io::Result<()> {
        self.run("sysctl", &["-qw", &format!("{key}={value}")])
            .map(drop)
    }

    /// Runs `future` to its end on a multi-threaded tokio runtime (2 workers) built on a
    /// thread that has entered the namespace ([`Netns::enter`]): its workers start there, so
    /// they are in the namespace too, and so are the sockets the future creates.
    #[cfg(feature = "tokio")]
    pub fn block_on<F>(&self, future: F) -> io::Result<F::Output>
    where
        F: std::future::Future + Send,
        F::Output: Send,
    {
        self.enter(|| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime");
            runtime.block_on(future)
        })
    }

    /// Runs `f` on a new thread that has entered the namespace with `setns(2)`: sockets it
    /// creates live in the namespace. The calling thread is not moved.
    pub fn enter<F, R>(&self, f: F) -> io::Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let file = std::fs::File::open(&path)?;
                    use std::os::fd::AsRawFd;
                    // SAFETY: setns on a valid namespace fd; it affects only this thread.
                    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(f())
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Process ids still running inside the namespace (`ip netns pids`).
    pub fn pids(&self) -> Vec<i32> {
        Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // A process left inside would keep the namespace's interfaces alive.
        for _ in 0..50 {
            let pids = self.pids();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
