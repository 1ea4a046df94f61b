//! `mptcpize run --seccomp`: MPTCP for programs that `LD_PRELOAD` cannot reach (statically
//! linked binaries, programs issuing the `socket` system call themselves, setuid programs),
//! through seccomp user notification.
//!
//! How it works:
//! 1. The launcher forks the supervisor ([`supervisor`]): through an intermediate process
//!    that makes a new process group and exits, so the supervisor is in a background
//!    process group of its own and is nobody's child. It is forked before the filter exists and so is not
//!    under it; it stays in the launcher's cgroup.
//! 2. The launcher installs a seccomp filter ([`bpf_program`]) in itself, which sends only
//!    `socket(AF_INET | AF_INET6, SOCK_STREAM [| flags], 0 | IPPROTO_TCP)`, and `setsockopt`
//!    of the options MPTCP refuses, to a listener (`SECCOMP_RET_USER_NOTIF`) and allows
//!    everything else inside the kernel; it passes the listener to the supervisor over a
//!    socketpair (`SCM_RIGHTS`), waits for its "ready", closes its own copy, and execs the
//!    program ([`launch`]). The program so keeps the process id the launcher was started
//!    with, as in shim mode: systemd's `MainPID`, `Type=notify`, `kill $!` and a parent's
//!    `wait` see the program itself, with its own exit status or death by signal. Filters
//!    are inherited across `fork`, `clone` and `execve`: the program's whole process tree is
//!    covered.
//! 3. The supervisor answers each notification ([`notify`]) **as the calling thread**
//!    ([`identity`]): it reads the caller's credentials from `/proc/TID/status` while the
//!    call is pending (checked with `SECCOMP_IOCTL_NOTIF_ID_VALID` after), creates the
//!    socket with `IPPROTO_MPTCP` in the caller's network namespace with the caller's
//!    filesystem uid and gid (`setfsuid`/`setfsgid`: the socket's owner, for `fstat`,
//!    `ss -e`, `meta skuid`, `--uid-owner`, `ip rule uidrange`), keeping `SOCK_NONBLOCK`
//!    and `SOCK_CLOEXEC`, and installs it in the caller as the call's result
//!    (`SECCOMP_IOCTL_NOTIF_ADDFD` with `SECCOMP_ADDFD_FLAG_SEND`). When the kernel refuses
//!    MPTCP ([`mptcp_policy::Unavailable`]) it lets the original call run
//!    (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`): the program gets TCP, as with the shim.
//! 4. No signal is forwarded, because none needs to be: the supervisor gets neither the
//!    program's process-group signals nor the terminal's (sent to the foreground group), and the program gets each signal
//!    once, from its sender. The supervisor ignores the signals that would end it and ends
//!    when the listener reports `POLLHUP` (no task uses the filter: the program and every
//!    process it left running have exited).
//! 5. If a supervisor is killed (`SIGKILL`, the OOM killer; both set `oom_score_adj` to
//!    -1000 where allowed), the program does not lose its TCP sockets: two supervisors
//!    hold the listener, one serving and one standing by, and the survivor lets the one call
//!    the dead one had received run as plain TCP, serves on, and starts a new standby
//!    ([`supervisor`]). Only if both die at the same instant do the program's intercepted
//!    calls fail with `ENOSYS`, until it exits.
//!
//! Requirements: Linux 5.14 or later (`SECCOMP_ADDFD_FLAG_SEND`), x86_64 or aarch64, and
//! no other seccomp listener already watching the launcher (the kernel allows one per
//! process tree). Without `CAP_SYS_ADMIN` the kernel accepts the filter only with
//! `no_new_privs`, which makes `execve` ignore setuid/setgid bits and file capabilities in
//! the whole process tree: the launcher then says so on stderr
//! ([`NO_NEW_PRIVS_WARNING`]), whether seccomp mode was chosen automatically or forced.
//!
//! Differences from the shim, and what this mode does not reach:
//! - The sockets carry the caller's user and group, and (the supervisor staying in the
//!   launcher's cgroup) the program's cgroup unless the program moves itself to another;
//!   the security label (SELinux, AppArmor) is the supervisor's, which is the launcher's.
//!   An unprivileged supervisor cannot take another user's uid; a caller of another user
//!   (not possible under `no_new_privs` without privileges) gets plain TCP instead.
//! - A watched `setsockopt` is applied with the caller's effective capabilities (the
//!   supervisor lowers its own, per thread, with `capset`), never with the supervisor's.
//!   When MPTCP refuses the option, the supervisor tries it on a plain TCP socket made as
//!   the caller: if TCP refuses it too (EPERM for `TCP_REPAIR` without `CAP_NET_ADMIN`,
//!   EINVAL for a bad value), the call fails with TCP's errno and the socket stays MPTCP,
//!   as a program gets without mptcpize; otherwise, on a socket the supervisor made MPTCP,
//!   the same decision as the shim's (`mptcp_policy::refused_options::RefusedOptions::decide`:
//!   by the value, the option's class and the socket's role): the call succeeds on the MPTCP
//!   socket (a value that changes nothing, an advisory option, `IP_TOS` set as the caller for
//!   `IPV6_TCLASS`), or, on a socket that has not connected or listened, that TCP socket
//!   takes its place at the same fd number, with the options the program set carried over,
//!   or the call fails with MPTCP's error. A caller in
//!   another user namespace is given no capabilities for that test (its own mean nothing in
//!   ours); where that makes TCP say EPERM, it gets MPTCP's error instead.
//! - The swap needs ptrace access to the program (`pidfd_getfd`, `process_vm_readv`):
//!   root always has it; an unprivileged user has it for its own dumpable processes under
//!   Yama's `ptrace_scope` 0, not under 1 or more (the supervisor is not the program's
//!   ancestor). Without it the call runs unchanged and the program sees MPTCP's error. As
//!   with the shim, other references to the old socket (a `dup`ed fd, an epoll
//!   registration made before the swap) keep the MPTCP socket. Each watched `setsockopt`
//!   costs a round trip to the supervisor, also on UDP sockets (`IP_TTL`, `IP_RECVERR`,
//!   `IP_MTU_DISCOVER`, …).
//! - Not intercepted: `io_uring`'s `IORING_OP_SOCKET` (io_uring bypasses seccomp), 32-bit
//!   programs on x86_64 (their `socketcall(2)` passes its arguments in memory a filter cannot
//!   read), and programs that install their own seccomp listener (`EBUSY` for them).
//! - Each intercepted `socket()` costs a few microseconds more than with the shim
//!   (BENCHMARKS.md); other system calls cost a few nanoseconds (seccomp's entry work).

mod bpf_program;
mod detect;
mod handover;
pub(crate) mod identity;
mod launch;
mod notify;
mod supervisor;
mod tcp_swap_in_program;

pub use detect::{needs_seccomp, resolve, Reason};

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;

/// Why seccomp mode could not start. [`Error::exit_code`] follows the `env(1)` convention.
#[derive(Debug)]
pub enum Error {
    /// `seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER)` failed with
    /// this errno.
    SeccompRefused(i32),
    /// The running kernel is older than 5.14.
    KernelTooOld(String),
    /// No filter for this CPU architecture.
    UnsupportedArch,
    /// `execve` of the target failed.
    Exec(OsString, io::Error),
    /// A system call of the launcher itself failed.
    Setup(&'static str, io::Error),
}

impl Error {
    /// 127 when the program was not found, 126 when it could not be executed, 125 for
    /// every failure of the launcher itself.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Exec(_, e) if e.kind() == io::ErrorKind::NotFound => 127,
            Error::Exec(..) => 126,
            _ => 125,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let manual =
            "run the program without --seccomp (LD_PRELOAD mode) if it is dynamically linked";
        match self {
            Error::SeccompRefused(errno) => {
                let why = match *errno {
                    libc::EINVAL => "this kernel does not support seccomp user notification (SECCOMP_FILTER_FLAG_NEW_LISTENER needs Linux 5.0, ADDFD Linux 5.14)",
                    libc::ENOSYS => "this kernel was built without seccomp filters (CONFIG_SECCOMP_FILTER)",
                    libc::EBUSY => "another seccomp supervisor already watches this process (a container runtime, or an outer `mptcpize run --seccomp`): the kernel allows only one listener per process tree",
                    libc::EACCES => "the kernel refused the filter even with no_new_privs set",
                    libc::EPERM => "a seccomp filter or security module already in place forbids installing another filter (common in containers)",
                    libc::EFAULT => "the kernel could not read the filter",
                    libc::ENOMEM => "the kernel ran out of memory for the filter",
                    _ => "seccomp(2) failed",
                };
                write!(
                    f,
                    "cannot intercept socket() with seccomp: {why} ({}); the program was not started: {manual}",
                    io::Error::from_raw_os_error(*errno)
                )
            }
            Error::KernelTooOld(release) => write!(
                f,
                "seccomp mode needs Linux 5.14 or later (SECCOMP_ADDFD_FLAG_SEND) and this kernel is {release}; the program was not started: {manual}"
            ),
            Error::UnsupportedArch => write!(
                f,
                "seccomp mode supports x86_64 and aarch64 only; the program was not started: {manual}"
            ),
            Error::Exec(program, e) => {
                // As the shim mode's launcher says it.
                let hint = if e.kind() == io::ErrorKind::NotFound
                    && !program.to_string_lossy().contains('/')
                {
                    " (not found in PATH)"
                } else {
                    ""
                };
                write!(f, "cannot run {}: {e}{hint}", program.to_string_lossy())
            }
            Error::Setup(what, e) => write!(f, "seccomp mode: {what}: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// Replaces the launcher with `program args…` (same process id), its TCP stream sockets
/// created as MPTCP by a supervisor process started beside it. Returns only when that
/// failed, with why. `debug` logs each decision to stderr. Call from the launcher's main
/// thread, before starting any other thread (it forks).
pub fn exec(program: &OsStr, args: &[OsString], debug: bool) -> Error {
    let Some(abi) = bpf_program::NATIVE else {
        return Error::UnsupportedArch;
    };
    if let Err(e) = check_kernel() {
        return e;
    }
    let privileged = has_cap_sys_admin();
    if !privileged {
        match needs_seccomp(program) {
            Some(Reason::SetId { path, .. }) => crate::messages::stderr_line(format_args!(
                "mptcpize: warning: {} is setuid/setgid, but without CAP_SYS_ADMIN the kernel accepts the seccomp filter only with no_new_privs: it runs with your privileges, not its owner's",
                path.display()
            )),
            Some(Reason::FileCapabilities { path, .. }) => crate::messages::stderr_line(format_args!(
                "mptcpize: warning: {} has file capabilities, but without CAP_SYS_ADMIN the kernel accepts the seccomp filter only with no_new_privs: it runs without them",
                path.display()
            )),
            _ => {}
        }
    }
    launch::exec(program, args, abi, privileged, debug)
}

/// What `no_new_privs` costs, said once whenever seccomp mode sets it (the launcher lacks
/// `CAP_SYS_ADMIN`, chosen automatically or with `--seccomp`): no program of the tree gains
/// privileges through `execve` any more, and nothing else tells the user why `sudo`, `su`
/// or `ping` started by the program now fail or run as them.
pub(crate) const NO_NEW_PRIVS_WARNING: &str = "mptcpize: warning: seccomp mode without CAP_SYS_ADMIN sets no_new_privs: every program this one starts runs without the privileges of setuid/setgid bits and file capabilities (sudo, su, ping, … run as you, or fail); run mptcpize as root to keep them, or without --seccomp (LD_PRELOAD mode) for a dynamically linked program";

/// The launcher's choice: seccomp mode when `forced` (`--seccomp`), or when
/// [`needs_seccomp`] finds a target the `LD_PRELOAD` shim cannot reach; then it prints one
/// line saying why. False: use the shim.
pub fn chosen(program: &OsStr, forced: bool) -> bool {
    if forced {
        return true;
    }
    match needs_seccomp(program) {
        Some(reason) => {
            crate::messages::stderr_line(format_args!("mptcpize: {reason}"));
            reason.use_seccomp()
        }
        None => false,
    }
}

/// [`exec`]; when it fails, ends the launcher with [`Error::exit_code`] after one
/// `mptcpize: …` line. `debug` is also turned on by `MPTCPIZE_DEBUG` (any value but empty
/// and `0`), as for the shim.
pub fn run_and_exit(program: &OsStr, args: &[OsString], debug: bool) -> ! {
    let debug =
        debug || std::env::var_os("MPTCPIZE_DEBUG").is_some_and(|v| !v.is_empty() && v != "0");
    let e = exec(program, args, debug);
    crate::messages::stderr_line(format_args!("mptcpize: {e}"));
    std::process::exit(e.exit_code())
}

/// `SECCOMP_ADDFD_FLAG_SEND` (Linux 5.14) installs the socket and answers the call in one
/// step; without it a supervisor would race the target. Read from `uname(2)`.
fn check_kernel() -> Result<(), Error> {
    let release = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if version < (5, 14) {
        return Err(Error::KernelTooOld(release));
    }
    Ok(())
}

/// True when this process has `CAP_SYS_ADMIN` (bit 21 of `CapEff` in
/// `/proc/self/status`), which lets it install a seccomp filter without `no_new_privs`.
pub(crate) fn has_cap_sys_admin() -> bool {
    const CAP_SYS_ADMIN: u32 = 21;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_SYS_ADMIN) != 0)
}
