//! The supervisor processes: two of them, beside the program, never its parent or child.
//!
//! Where they live. The launcher forks an intermediate process, which makes itself a new
//! process group (`setpgid(0, 0)`) and forks the supervisor, then exits (the launcher reaps
//! it before the exec). So the supervisor is in a process group of its own, in the
//! background: signals sent to the program's process group (`kill -- -PGID`, `timeout`, a
//! shell's job control) and those the terminal sends to its foreground group (Ctrl-C,
//! Ctrl-\, Ctrl-Z) never reach it, and it is nobody's child that the program could
//! `wait()` for. It stays in the session: with a session of its own (`setsid`) the
//! scheduler's autogroups (`kernel.sched_autogroup_enabled`) would give it a CPU share of
//! its own, apart from the program whose every `socket()` waits for it; a terminal
//! hang-up's SIGHUP goes to the session leader and the foreground group, and would be
//! ignored anyway. Nothing is forwarded: every signal reaches
//! the program exactly once, from whoever sent it, and the program's exit status or death
//! by signal is seen by its parent directly. The supervisor ignores the signals that end a
//! process by default (only `SIGKILL` ends it), and stays in the launcher's cgroup, so a
//! service manager stopping the unit stops it too. It keeps no terminal or pipe open
//! (stdin, stdout and, unless debugging, stderr on `/dev/null`; every other inherited fd
//! closed), so a reader of the program's output is not kept waiting by it.
//!
//! One exception: where the program is PID 1 (of a container) or a child subreaper
//! (`PR_SET_CHILD_SUBREAPER`), the orphaned supervisor is re-parented to the program, as
//! every orphan below it is, and the program reaps it when it ends.
//!
//! When it ends. When the listener reports `POLLHUP`: the kernel's "no task uses this
//! filter any more", which happens once the program and every process it started (daemons,
//! `cmd &`) have exited and been reaped.
//!
//! Surviving `SIGKILL`. Without a process holding the listener, the kernel fails every
//! intercepted call with `ENOSYS`. So there are two supervisors, both holding the listener:
//! one serves, the other stands by, watching the serving one's pidfd (it does not poll the
//! listener: it would be woken by every notification). When the serving one dies (`SIGKILL`,
//! the OOM killer; both set `oom_score_adj` to -1000 where allowed), the standby:
//! 1. answers the notification its partner had received and not answered (the kernel keeps
//!    it pending, its caller blocked): the ids since the last one recorded in the
//!    [`Handover`] page are still pending only if received by the dead supervisor, and get
//!    `SECCOMP_USER_NOTIF_FLAG_CONTINUE`: that one call runs as the program made it (plain
//!    TCP for a `socket()`); [`ORPHAN_SCAN`] ids are tried. The page holds an id before
//!    the program's first call: the first supervisor receives a probe call of the
//!    launcher's before it says "ready" (ids start at a random number, so a partner killed
//!    between its very first `RECV` and recording it would otherwise leave nothing to scan
//!    from);
//! 2. serves, and forks a new standby (a plain `fork`: the supervisor has one thread, and
//!    the shared page stays shared in the child).
//!
//! When the standby dies, the serving one forks a new one. If both are killed at the same
//! instant (`kill -9` of both pids, or the serving one killed in the moment between its
//! standby's death and the fork of the next), nobody is left to answer: the program's
//! intercepted calls then fail with `ENOSYS` until it exits, as in any design where the
//! supervisor can be killed separately. (Killing the whole cgroup kills the program too.)

use std::io::{self, Write};
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};

use libc::c_int;
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fs::{Mode, OFlags};
use rustix::io::retry_on_intr;
use rustix::process::{kill_process, waitpid, Pid, Signal, WaitOptions};

use super::bpf_program::Abi;
use super::handover::Handover;
use super::identity::pidfd_open;
use super::launch::{self, Message, MSG_FAILED, MSG_READY};
use super::notify::Notifier;
use super::Error;

/// How many notification ids after the last one recorded a new serving supervisor checks
/// for calls its dead partner received (the kernel numbers notifications consecutively; a
/// gap only comes from calls interrupted before they were received).
const ORPHAN_SCAN: u64 = 4096;

/// The signals whose default action would end the supervisor: ignored (they are meant for
/// the program; the supervisor ends when the program's processes have ended).
const IGNORED: [c_int; 15] = [
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGPIPE,
    libc::SIGALRM,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGIO,
    libc::SIGXCPU,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
];

/// Forks the supervisor (through an intermediate process that starts a new process group and
/// exits) with `channel`, on which it waits for the listener. Call from the single-threaded
/// launcher. Returns in the launcher only.
pub(super) fn spawn(channel: OwnedFd, abi: Abi, debug: bool, program: Pid) -> Result<(), Error> {
    // SAFETY: fork(2) of the launcher, which has a single thread (the caller's promise): the
    // child is a whole copy, no lock held by another thread, so it may go on running any
    // Rust, allocation included.
    match unsafe { libc::fork() } {
        -1 => Err(Error::Setup(
            "fork the supervisor",
            io::Error::last_os_error(),
        )),
        0 => {
            // The intermediate process: a process group of its own, the supervisor forked
            // from it, and gone. If the second fork fails, the channel closes and the
            // launcher says so.
            let _ = rustix::process::setpgid(None, None);
            // SAFETY: as above, a fork of a process with a single thread.
            if unsafe { libc::fork() } == 0 {
                first(channel, abi, debug, program);
            }
            exit()
        }
        intermediate => {
            // Our own child, which exits at once: reaped here.
            let _ = retry_on_intr(|| waitpid(Pid::from_raw(intermediate), WaitOptions::empty()));
            Ok(())
        }
    }
}

/// The first serving supervisor: detach, receive the listener, say ready, fork a standby,
/// serve.
fn first(channel: OwnedFd, abi: Abi, debug: bool, program: Pid) -> ! {
    detach(debug, channel.as_raw_fd());
    let listener = match launch::receive(&channel) {
        Ok(Message::Listener(fd)) => fd,
        // The launcher could not install the filter (it says why) or died.
        _ => exit(),
    };
    // The launcher's probe call is received before "ready": the shared page holds an id
    // before the program makes its first call (see `Notifier::receive_probe`).
    let notifier = Handover::new()
        .and_then(|handover| Notifier::new(listener, abi, debug, handover))
        .and_then(|mut notifier| notifier.receive_probe().map(|()| notifier));
    let notifier = match notifier {
        Ok(notifier) => notifier,
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(libc::EIO);
            let _ = launch::send(&channel, MSG_FAILED, errno, None);
            exit()
        }
    };
    let own = match pidfd_open(std::process::id(), false) {
        Ok(fd) => fd,
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(libc::EIO);
            let _ = launch::send(&channel, MSG_FAILED, errno, None);
            exit()
        }
    };
    let ready = launch::send(&channel, MSG_READY, 0, None);
    drop(channel);
    if ready.is_err() {
        exit()
    }
    let mut pair = Pair {
        notifier,
        own,
        debug,
    };
    if debug {
        log(format_args!(
            "supervisor pid {} serves pid {}",
            std::process::id(),
            program.as_raw_pid()
        ));
    }
    let standby = pair.fork_standby();
    pair.serve(standby)
}

/// The standby supervisor's pid and pidfd, as seen by the serving one.
struct Partner {
    pid: Pid,
    pidfd: OwnedFd,
}

/// What each supervisor of the pair holds.
struct Pair {
    notifier: Notifier,
    /// A pidfd for this process: inherited by the standby it forks, which watches it.
    own: OwnedFd,
    debug: bool,
}

impl Pair {
    /// Serves notifications until nobody uses the filter, keeping a standby alive.
    fn serve(&mut self, mut standby: Option<Partner>) -> ! {
        set_name(c"mptcpize-serve");
        loop {
            // The listener, and the standby's pidfd when there is a standby.
            let (listener, partner) = {
                let listener = self.notifier.listener();
                let mut fds = [
                    PollFd::from_borrowed_fd(listener, PollFlags::IN),
                    PollFd::from_borrowed_fd(listener, PollFlags::empty()),
                ];
                let watched = match &standby {
                    Some(partner) => {
                        fds[1] = PollFd::new(&partner.pidfd, PollFlags::IN);
                        2
                    }
                    None => 1,
                };
                if poll(&mut fds[..watched], None).is_err() {
                    continue; // EINTR (the signals are ignored, so hardly), ENOMEM: try again
                }
                let partner = match watched {
                    2 => fds[1].revents(),
                    _ => PollFlags::empty(),
                };
                (fds[0].revents(), partner)
            };
            if listener.contains(PollFlags::IN) {
                self.notifier.handle_one();
                if self.notifier.stranded() {
                    // In another network namespace: the standby (watching our pidfd) takes
                    // over from the right one.
                    exit()
                }
            } else if listener.intersects(PollFlags::HUP | PollFlags::ERR) {
                // The program and all its processes are gone; the standby follows when it
                // sees this process end.
                exit()
            }
            if !partner.is_empty() {
                if let Some(dead) = standby.take() {
                    // Our child (or ECHILD if it is not ours).
                    let _ = waitpid(Some(dead.pid), WaitOptions::NOHANG);
                    if self.debug {
                        log(format_args!(
                            "standby supervisor pid {} died",
                            dead.pid.as_raw_pid()
                        ));
                    }
                }
                standby = self.fork_standby();
            }
        }
    }

    /// Forks a standby watching this process. `None` (said when debugging) if that fails:
    /// this one serves alone.
    fn fork_standby(&mut self) -> Option<Partner> {
        // SAFETY: fork(2) of a supervisor, which has a single thread: the child is a whole
        // copy, no lock held by another thread, so it may go on running any Rust.
        match unsafe { libc::fork() } {
            // The child: `self.own` is now the pidfd of its parent, the serving one.
            0 => self.stand_by(),
            -1 => {
                if self.debug {
                    let e = io::Error::last_os_error();
                    log(format_args!("cannot start a standby supervisor: {e}"));
                }
                None
            }
            raw => match Pid::from_raw(raw).map(|pid| (pid, pidfd_open(raw as u32, false))) {
                // The child stays a zombie until reaped, so its pid cannot be reused yet.
                Some((pid, Ok(pidfd))) => {
                    if self.debug {
                        log(format_args!(
                            "supervisor pid {} serves, pid {raw} stands by",
                            std::process::id()
                        ));
                    }
                    Some(Partner { pid, pidfd })
                }
                Some((pid, Err(_))) => {
                    // Our own child, never to be watched: end it.
                    let _ = kill_process(pid, Signal::KILL);
                    let _ = waitpid(Some(pid), WaitOptions::empty());
                    None
                }
                // Not a pid: fork returns only -1, 0 or one.
                None => None,
            },
        }
    }

    /// The standby: waits for the serving supervisor (pidfd `self.own`, inherited) to end;
    /// then, if the program still runs, takes over.
    fn stand_by(&mut self) -> ! {
        set_name(c"mptcpize-spare");
        // The serving supervisor is our parent until it dies.
        let dead = Pid::as_raw(rustix::process::getppid());
        loop {
            let mut fd = [PollFd::new(&self.own, PollFlags::IN)];
            if poll(&mut fd, None).is_ok_and(|n| n > 0) && !fd[0].revents().is_empty() {
                break;
            }
        }
        if listener_unused(self.notifier.listener()) {
            exit()
        }
        let orphans = self.answer_orphans();
        if self.debug {
            log(format_args!(
                "supervisor pid {dead} died; pid {} serves now ({orphans} call(s) it had received let through unchanged)",
                std::process::id()
            ));
        }
        // The dead partner's pidfd is replaced by our own, for our standby to watch.
        let own = match pidfd_open(std::process::id(), false) {
            Ok(fd) => fd,
            // Only for lack of memory or fds: serve without a standby.
            Err(_) => self.serve(None),
        };
        self.own = own;
        let standby = self.fork_standby();
        self.serve(standby)
    }

    /// Lets the calls the dead supervisor had received and not answered run (see the
    /// module documentation); returns how many there were.
    fn answer_orphans(&mut self) -> u64 {
        let Some(last) = self.notifier.last_received() else {
            return 0;
        };
        (0..=ORPHAN_SCAN)
            .filter(|i| self.notifier.answer_orphan(last.wrapping_add(*i)))
            .count() as u64
    }
}

/// Out of the program's way: no terminal, no working directory, none of the launcher's
/// fds but `keep`, the program's signals ignored, and spared by the OOM killer where
/// allowed. Runs in the new supervisor.
fn detach(debug: bool, keep: RawFd) {
    let _ = rustix::process::chdir(c"/");
    if let Ok(null) = rustix::fs::open(c"/dev/null", OFlags::RDWR, Mode::empty()) {
        let _ = rustix::stdio::dup2_stdin(&null);
        let _ = rustix::stdio::dup2_stdout(&null);
        if !debug {
            let _ = rustix::stdio::dup2_stderr(&null);
        }
        // Not closed here: when 0, 1 or 2 was closed, `null` is that one now; otherwise
        // close_range below closes it.
        let _ = null.into_raw_fd();
    }
    // SAFETY: close_range(2) closes every fd from 3 but `keep`: the fds inherited from the
    // launcher, whose owners live in stack frames this process never returns to (it ends
    // with `exit`), so no Rust object uses or closes them afterwards. signal(2) with
    // SIG_IGN or SIG_DFL installs no handler; the mask is set from an emptied sigset_t.
    // rustix wraps none of these.
    unsafe {
        // Every other inherited fd (socket-activation sockets, pipes a caller waits on).
        let keep = keep as libc::c_uint;
        if keep > 3 {
            libc::syscall(libc::SYS_close_range, 3u32, keep - 1, 0u32);
        }
        libc::syscall(libc::SYS_close_range, keep + 1, u32::MAX, 0u32);
        for sig in IGNORED {
            libc::signal(sig, libc::SIG_IGN);
        }
        // Default SIGCHLD: a dead standby stays a zombie until reaped (its pid is not
        // reused while we watch it).
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
    // Killing the supervisor would cost the program its MPTCP (or all its TCP sockets if
    // both are killed); an unprivileged supervisor cannot lower its score (EACCES), fine.
    let _ = std::fs::write("/proc/self/oom_score_adj", "-1000");
}

/// The process name shown by `ps` and in `/proc/PID/comm` (`PR_SET_NAME`): which of the
/// two supervisors serves.
fn set_name(name: &std::ffi::CStr) {
    let _ = rustix::thread::set_name(name);
}

/// True when no task uses the filter any more: the listener reports `POLLHUP` (Linux 5.8+;
/// seccomp mode requires 5.14).
fn listener_unused(listener: BorrowedFd<'_>) -> bool {
    let mut fd = [PollFd::from_borrowed_fd(listener, PollFlags::empty())];
    let no_wait = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    poll(&mut fd, Some(&no_wait)).is_ok_and(|n| n > 0) && fd[0].revents().contains(PollFlags::HUP)
}

fn log(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr(), "mptcpize: {line}");
}

/// Ends this supervisor without running the launcher's exit path.
fn exit() -> ! {
    // SAFETY: _exit(2) ends the process at once, running no exit handler and no destructor
    // (those are the launcher's, copied by fork); nothing is left half done. rustix offers
    // it only in its unstable `runtime` feature.
    unsafe { libc::_exit(0) }
}
