//! Answering one seccomp notification.
//!
//! Everything is done as the caller ([`identity`](super::identity)): sockets with its
//! filesystem uid and gid, options with its effective capabilities.
//!
//! - `socket()`: create the MPTCP socket and install it in the caller, let the original
//!   call run (TCP) when MPTCP is unavailable, or fail it with the errno.
//! - `setsockopt()` of an option MPTCP may refuse: set it on the caller's socket, as the
//!   caller. If MPTCP refuses it, try it on a plain TCP socket, as the caller: if TCP
//!   refuses it too, the call fails with TCP's errno and the socket stays MPTCP (a program
//!   that dropped its privileges gets EPERM for `TCP_REPAIR`, as without mptcpize);
//!   otherwise, on a socket the supervisor made MPTCP that has not connected yet, that TCP
//!   socket takes its place (the `plain_tcp` module).

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;

use libc::{c_int, seccomp_notif, seccomp_notif_addfd, seccomp_notif_resp};
use mptcp_policy::plain_tcp::{RefusedOptionDecision, RefusedOptions};
use mptcp_policy::{is_tcp_stream_request, Unavailable, IPPROTO_MPTCP};
use mptcpize_preload_support::names::{socket_call, Sink};

use super::filter::{is_watched_option, Abi};
use super::handover::Handover;
use super::identity::{AsCaller, Caller, Threads};
use super::plain_tcp;

/// The user's choice for options MPTCP refuses and plain TCP accepts, read once from
/// `MPTCPIZE_REFUSED_OPTIONS` (which the launcher checked): the same variable the shim reads.
fn refused_options() -> RefusedOptions {
    static CHOICE: std::sync::OnceLock<RefusedOptions> = std::sync::OnceLock::new();
    *CHOICE.get_or_init(|| {
        std::env::var_os(RefusedOptions::ENV)
            .and_then(|v| RefusedOptions::from_value(v.as_encoded_bytes()))
            .unwrap_or_default()
    })
}

/// Answers the notifications of one listener.
pub(super) struct Notifier {
    listener: OwnedFd,
    /// Receive buffer of the kernel's `sizeof(struct seccomp_notif)` or ours, whichever is
    /// larger (`SECCOMP_GET_NOTIF_SIZES`: a newer kernel may write more than libc knows).
    notif: Vec<u64>,
    /// Same for `struct seccomp_notif_resp`, which the kernel reads at its own size.
    resp: Vec<u64>,
    /// The supervisor's own network namespace: `/proc/self/ns/net`, and its (dev, ino).
    own_netns: File,
    own_netns_id: (u64, u64),
    debug: bool,
    /// `SECCOMP_ADDFD_FLAG_SEND` was refused once (said once, then TCP for every call).
    addfd_refused: bool,
    /// The system-call numbers of this ABI.
    abi: Abi,
    /// Pidfds of the threads that called recently, for their credentials.
    threads: Threads,
    /// The last notification received, and the inode numbers of the sockets the
    /// supervisors made MPTCP: only those may be swapped for plain TCP (a program that asked
    /// for MPTCP itself keeps it), as in the shim. Shared with the standby supervisor.
    handover: Handover,
}

/// What happened to one notification, for the debug log and the tests.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The caller got this MPTCP fd.
    Mptcp(c_int),
    /// The original call ran (TCP) because the kernel refused MPTCP.
    FellBack(Unavailable),
    /// The original call ran (TCP), for this other reason.
    Tcp(&'static str),
    /// The call failed with this errno.
    Failed(c_int),
    /// `setsockopt`: the option was set on the MPTCP socket.
    OptionSet,
    /// `setsockopt`: MPTCP refused the option with this errno; the socket is now plain TCP
    /// with the option set (and binding it again failed with the second errno).
    MadeTcp(c_int, Option<c_int>),
    /// `setsockopt`: MPTCP refused the option with this errno and the socket stays as it
    /// is, for this reason; the original call runs and fails the same way.
    OptionRefused(c_int, &'static str),
    /// `setsockopt`: MPTCP refused the option with the first errno, plain TCP (as the
    /// caller) with the second, which the call returns; the socket stays MPTCP.
    RefusedByBoth(c_int, c_int),
    /// The caller is gone (killed, or the call was interrupted by a signal before it was
    /// answered and will be restarted).
    Gone,
}

impl Notifier {
    pub(super) fn new(
        listener: OwnedFd,
        abi: Abi,
        debug: bool,
        handover: Handover,
    ) -> io::Result<Notifier> {
        let mut sizes = libc::seccomp_notif_sizes {
            seccomp_notif: 0,
            seccomp_notif_resp: 0,
            seccomp_data: 0,
        };
        // SAFETY: SECCOMP_GET_NOTIF_SIZES writes one seccomp_notif_sizes.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_GET_NOTIF_SIZES,
                0,
                &mut sizes as *mut libc::seccomp_notif_sizes,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        let words =
            |kernel: u16, ours: usize| vec![0u64; usize::from(kernel).max(ours).div_ceil(8)];
        // SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6): the target and the supervisor hand
        // the CPU to each other instead of waking each other on another CPU; an answered
        // socket() costs several times less, most of all in virtual machines, where a
        // cross-CPU wake-up is an inter-processor interrupt. Older kernels: EINVAL, fine.
        const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;
        // SAFETY: the ioctl reads one u64.
        unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
                SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
            )
        };
        let own_netns = File::open("/proc/self/ns/net")?;
        let meta = own_netns.metadata()?;
        Ok(Notifier {
            listener,
            notif: words(sizes.seccomp_notif, size_of::<seccomp_notif>()),
            resp: words(sizes.seccomp_notif_resp, size_of::<seccomp_notif_resp>()),
            own_netns_id: (meta.dev(), meta.ino()),
            own_netns,
            debug,
            addfd_refused: false,
            abi,
            threads: Threads::new(),
            handover,
        })
    }

    /// The id of the last notification received by this supervisor or its partner.
    pub(super) fn last_received(&self) -> Option<u64> {
        self.handover.last_received()
    }

    pub(super) fn listener(&self) -> RawFd {
        self.listener.as_raw_fd()
    }

    /// Receives one notification (`SECCOMP_IOCTL_NOTIF_RECV`) and answers it. Returns
    /// `None` when there was none to receive (the caller vanished in between).
    pub(super) fn handle_one(&mut self) -> Option<Outcome> {
        // The kernel requires a zeroed buffer.
        self.notif.fill(0);
        // SAFETY: the buffer is at least the kernel's sizeof(struct seccomp_notif).
        let r = unsafe {
            libc::ioctl(
                self.listener(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                self.notif.as_mut_ptr(),
            )
        };
        if r != 0 {
            // ENOENT: the caller was killed or interrupted; EINTR: a signal. Both: nothing
            // to answer.
            return None;
        }
        // SAFETY: the kernel filled a seccomp_notif at the start of the buffer.
        let n: seccomp_notif = unsafe { std::ptr::read(self.notif.as_ptr().cast()) };
        self.handover.received(n.id);
        let outcome = self.answer(&n);
        if self.debug {
            let setsockopt = self.abi.setsockopt_nrs.contains(&(n.data.nr as u32));
            log_decision(&n, setsockopt, &outcome);
        }
        Some(outcome)
    }

    fn answer(&mut self, n: &seccomp_notif) -> Outcome {
        if self.abi.setsockopt_nrs.contains(&(n.data.nr as u32)) {
            return self.answer_setsockopt(n);
        }
        // socket(2) takes ints: the kernel reads the low 32 bits, and so does the filter.
        let (domain, ty, proto) = (
            n.data.args[0] as u32 as c_int,
            n.data.args[1] as u32 as c_int,
            n.data.args[2] as u32 as c_int,
        );
        if !is_tcp_stream_request(domain, ty, proto) {
            // The filter encodes the same rule (a unit test checks the table), so this is
            // only reached if they ever diverge: then the original call is the safe answer.
            return self.continue_call(n.id, "not a TCP stream request");
        }
        let (netns, caller) = match self.caller_context(n, false) {
            Ok(context) => context,
            Err(outcome) => return outcome,
        };
        let sock = self.in_namespace(netns.as_ref(), || {
            let as_caller = AsCaller::ids(&caller).ok()?;
            let sock = create_socket(domain, ty);
            drop(as_caller);
            Some(sock)
        });
        let sock = match sock {
            Some(Some(sock)) => sock,
            None => return self.continue_call(n.id, "cannot enter its network namespace"),
            // Not allowed to take the caller's uid or gid (an unprivileged supervisor and a
            // caller of another user): a socket of ours would carry the wrong owner.
            Some(None) => return self.continue_call(n.id, "cannot create a socket as its user"),
        };
        match sock {
            Ok(sock) => self.install(n.id, sock, ty),
            Err(e) => {
                let errno = e.raw_os_error().unwrap_or(libc::EIO);
                match Unavailable::from_errno(errno) {
                    Some(why) => match self.continue_call(n.id, "") {
                        Outcome::Tcp(_) => Outcome::FellBack(why),
                        gone => gone,
                    },
                    None => self.fail(n.id, errno),
                }
            }
        }
    }

    /// Runs `f` in network namespace `netns` (the caller's, when not ours), and back.
    /// `None` when that namespace cannot be entered.
    fn in_namespace<T>(&self, netns: Option<&OwnedFd>, f: impl FnOnce() -> T) -> Option<T> {
        if let Some(ns) = netns {
            // SAFETY: setns on a namespace fd; the supervisor is single-threaded and moves
            // back right after.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return None;
            }
        }
        let result = f();
        if netns.is_some() {
            // SAFETY: back to our own namespace, whose fd we hold.
            unsafe { libc::setns(self.own_netns.as_raw_fd(), libc::CLONE_NEWNET) };
        }
        Some(result)
    }

    /// The caller's network namespace when it is not ours (`None` when it is: the socket
    /// must live where the program would have created it, which is the supervisor's own
    /// namespace unless the program moved with `unshare`/`setns`), and its credentials:
    /// its filesystem ids ([`Threads`]), and with `capabilities` also its effective
    /// capabilities, which only `/proc/TID/status` has, slowly.
    fn caller_context(
        &mut self,
        n: &seccomp_notif,
        capabilities: bool,
    ) -> Result<(Option<OwnedFd>, Caller), Outcome> {
        // One path lookup: PIDFD_GET_NET_NAMESPACE on a pidfd measured slower (an fd for
        // the namespace is made and closed each time).
        let netns = match self.netns_from_proc(n.pid) {
            Ok(ns) => ns,
            Err(()) => return Err(self.continue_call(n.id, "cannot enter its network namespace")),
        };
        let caller = match capabilities {
            true => Caller::read(n.pid),
            false => self.threads.fs_ids(n.pid),
        };
        // The thread id may have been reused after the caller died: only trust what was
        // read if the notification is still pending (SECCOMP_IOCTL_NOTIF_ID_VALID).
        if !self.id_valid(n.id) {
            return Err(Outcome::Gone);
        }
        match caller {
            Ok(caller) => Ok((netns, caller)),
            Err(_) => Err(self.continue_call(n.id, "cannot read its credentials")),
        }
    }

    /// The network namespace of thread `tid` through `/proc/TID/ns/net` (kernels without
    /// `PIDFD_GET_NET_NAMESPACE`); `Ok(None)` when it is ours or the thread is gone.
    fn netns_from_proc(&self, tid: u32) -> Result<Option<OwnedFd>, ()> {
        let path = format!("/proc/{tid}/ns/net");
        match std::fs::metadata(&path).map(|m| (m.dev(), m.ino())) {
            Ok(id) if id == self.own_netns_id => Ok(None),
            Ok(_) => File::open(&path).map(|f| Some(f.into())).map_err(drop),
            Err(_) => Ok(None),
        }
    }

    /// `SECCOMP_IOCTL_NOTIF_ADDFD` with `SECCOMP_ADDFD_FLAG_SEND`: installs `sock` in the
    /// caller and makes its fd number the call's return value, in one step.
    fn install(&mut self, id: u64, sock: OwnedFd, ty: c_int) -> Outcome {
        if self.addfd_refused {
            return self.continue_call(id, "SECCOMP_ADDFD_FLAG_SEND is not supported");
        }
        let addfd = seccomp_notif_addfd {
            id,
            flags: libc::SECCOMP_ADDFD_FLAG_SEND as u32,
            srcfd: sock.as_raw_fd() as u32,
            newfd: 0,
            newfd_flags: if ty & libc::SOCK_CLOEXEC != 0 {
                libc::O_CLOEXEC as u32
            } else {
                0
            },
        };
        let inode = inode_of(&sock);
        // SAFETY: a valid seccomp_notif_addfd for this listener.
        let fd = unsafe { libc::ioctl(self.listener(), libc::SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) };
        if fd >= 0 {
            self.handover.remember_socket(inode.unwrap_or(0));
            return Outcome::Mptcp(fd);
        }
        match io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
        {
            // The caller is gone, or a signal interrupted it (the call will be restarted
            // and notified again).
            libc::ENOENT => Outcome::Gone,
            libc::EINVAL => {
                // A kernel without ADDFD_FLAG_SEND (< 5.14) that reported a newer version.
                self.addfd_refused = true;
                let _ = writeln!(
                    io::stderr(),
                    "mptcpize: this kernel refuses SECCOMP_ADDFD_FLAG_SEND (Linux 5.14+): sockets stay TCP"
                );
                self.continue_call(id, "SECCOMP_ADDFD_FLAG_SEND is not supported")
            }
            // Installing failed in the caller (EMFILE: its fd limit): the notification is
            // still pending; that errno is what the original call would have returned.
            errno => self.fail(id, errno),
        }
    }

    /// `setsockopt(fd, level, name, value, len)` with a watched option.
    fn answer_setsockopt(&mut self, n: &seccomp_notif) -> Outcome {
        let [fd, level, name, value, len, _] = n.data.args;
        let (fd, level, name) = (
            fd as u32 as c_int,
            level as u32 as c_int,
            name as u32 as c_int,
        );
        if !is_watched_option(level, name) {
            return self.continue_call(n.id, "not a watched option");
        }
        // The calling thread: its memory and fd table are the process's.
        let pid = n.pid as libc::pid_t;
        let Ok(pidfd) = plain_tcp::pidfd_of_thread(n.pid) else {
            return self.continue_call(n.id, "caller gone");
        };
        // The pid may have been reused: trust it only while the notification is pending.
        if !self.id_valid(n.id) {
            return Outcome::Gone;
        }
        let sock = match plain_tcp::pidfd_getfd(&pidfd, fd) {
            Ok(sock) => sock,
            // EBADF: not a file (the call fails the same way); EPERM: no ptrace access.
            Err(_) => return self.continue_call(n.id, "the socket cannot be reached"),
        };
        if plain_tcp::get_int(&sock, libc::SOL_SOCKET, libc::SO_PROTOCOL) != Some(IPPROTO_MPTCP) {
            return self.continue_call(n.id, "not an MPTCP socket");
        }
        let Ok(value) = plain_tcp::read_memory(pid, value, len as u32 as usize) else {
            return self.continue_call(n.id, "the value cannot be read");
        };
        let (netns, caller) = match self.caller_context(n, true) {
            Ok(context) => context,
            Err(outcome) => return outcome,
        };
        // First on the program's own socket, with the caller's privileges, never ours.
        let set = AsCaller::with_capabilities(&caller)
            .and_then(|_as_caller| plain_tcp::set_option(&sock, level, name, &value));
        let refused = match set {
            Ok(()) => {
                return match self.respond(n.id, 0, 0) {
                    true => Outcome::OptionSet,
                    false => Outcome::Gone,
                }
            }
            Err(e) => e.raw_os_error().unwrap_or(libc::EIO),
        };
        let refused_outcome = |this: &mut Notifier, why| match this.continue_call(n.id, why) {
            Outcome::Tcp(why) => Outcome::OptionRefused(refused, why),
            gone => gone,
        };
        if !mptcp_policy::plain_tcp::is_refusal_errno(refused) {
            // The kernel runs the call again, as the caller, and fails it the same way.
            return refused_outcome(self, "not an error of MPTCP's");
        }
        // A socket the program asked MPTCP for itself gets MPTCP's answer, as without
        // mptcpize.
        if !inode_of(&sock).is_some_and(|i| self.handover.made_mptcp(i)) {
            return refused_outcome(self, "the program asked for MPTCP itself");
        }
        // MPTCP refuses the option. Would plain TCP take it, from this caller? Asked on the
        // TCP socket that would replace this one, made and set as the caller, in its
        // network namespace.
        let candidate = self.in_namespace(netns.as_ref(), || {
            let Ok(as_caller) = AsCaller::with_capabilities(&caller) else {
                return Err(None);
            };
            let candidate = plain_tcp::prepare(&sock).map_err(|_| None)?;
            let set = plain_tcp::set_option(&candidate.tcp, level, name, &value);
            drop(as_caller);
            match set {
                Ok(()) => Ok(candidate),
                Err(e) => Err(Some(e.raw_os_error().unwrap_or(libc::EIO))),
            }
        });
        let candidate = match candidate {
            None => return refused_outcome(self, "cannot enter its network namespace"),
            Some(Err(None)) => return refused_outcome(self, "cannot make a TCP socket as it"),
            Some(Ok(candidate)) => candidate,
            // Its capabilities mean nothing in our namespace, so "no privilege" from us
            // proves nothing: the program gets MPTCP's answer.
            Some(Err(Some(libc::EPERM))) if caller.foreign_user_ns => {
                return refused_outcome(self, "its privileges live in another user namespace")
            }
            Some(Err(Some(errno))) => {
                // TCP refuses it too (EPERM for an option needing a capability the caller
                // lacks, EINVAL for a bad value, …): the program gets TCP's answer, as it
                // would without mptcpize, and keeps its MPTCP socket.
                return match self.fail(n.id, errno) {
                    Outcome::Failed(_) => Outcome::RefusedByBoth(refused, errno),
                    gone => gone,
                };
            }
        };
        // The user's choice, as in the shim (`mptcp_policy::plain_tcp::RefusedOptions`): an
        // advisory option (or `keep`) leaves the socket MPTCP with MPTCP's error.
        if refused_options().decide(level, name) == RefusedOptionDecision::KeepMptcp {
            return refused_outcome(self, "kept MPTCP (--refused-options)");
        }
        if !plain_tcp::never_connected(&sock) {
            return refused_outcome(self, "it has connected or listened already");
        }
        // SECCOMP_ADDFD_FLAG_SETFD: the TCP socket takes the MPTCP one's number, atomically,
        // as dup3(2) would.
        let addfd = seccomp_notif_addfd {
            id: n.id,
            flags: libc::SECCOMP_ADDFD_FLAG_SETFD as u32,
            srcfd: candidate.tcp.as_raw_fd() as u32,
            newfd: fd as u32,
            newfd_flags: if plain_tcp::is_cloexec(pid, fd) {
                libc::O_CLOEXEC as u32
            } else {
                0
            },
        };
        // SAFETY: a valid seccomp_notif_addfd for this listener.
        if unsafe { libc::ioctl(self.listener(), libc::SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) } < 0 {
            return refused_outcome(self, "installing the TCP socket failed");
        }
        // The MPTCP socket held the address; with the program's fd replaced, ours was the
        // last reference: close it, then bind the TCP socket where it was.
        drop(sock);
        let rebind = candidate.bind_again();
        if self.respond(n.id, 0, 0) {
            Outcome::MadeTcp(refused, rebind)
        } else {
            Outcome::Gone
        }
    }

    /// Answers a notification a supervisor received before it died, if it is still
    /// pending: the kernel runs the call itself, as for any call the supervisor cannot
    /// serve. True when it was pending.
    pub(super) fn answer_orphan(&mut self, id: u64) -> bool {
        self.id_valid(id) && matches!(self.continue_call(id, ""), Outcome::Tcp(_))
    }

    /// `SECCOMP_IOCTL_NOTIF_ID_VALID`: the notification is still pending.
    pub(super) fn id_valid(&self, id: u64) -> bool {
        // SAFETY: the ioctl reads one u64.
        unsafe { libc::ioctl(self.listener(), libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0 }
    }

    /// `SECCOMP_USER_NOTIF_FLAG_CONTINUE`: the kernel runs the original call (TCP). Safe
    /// here: the filter is no security boundary, the worst a racing caller gets is TCP.
    fn continue_call(&mut self, id: u64, why: &'static str) -> Outcome {
        if self.respond(id, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32) {
            Outcome::Tcp(why)
        } else {
            Outcome::Gone
        }
    }

    /// The call returns -1 with `errno`.
    fn fail(&mut self, id: u64, errno: c_int) -> Outcome {
        if self.respond(id, -errno, 0) {
            Outcome::Failed(errno)
        } else {
            Outcome::Gone
        }
    }

    fn respond(&mut self, id: u64, error: i32, flags: u32) -> bool {
        self.resp.fill(0);
        let resp = seccomp_notif_resp {
            id,
            val: 0,
            error,
            flags,
        };
        // SAFETY: the buffer is at least size_of::<seccomp_notif_resp>() and 8-aligned;
        // the rest stays zero for a kernel with a larger struct.
        unsafe {
            std::ptr::write(self.resp.as_mut_ptr().cast(), resp);
            libc::ioctl(
                self.listener(),
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                self.resp.as_mut_ptr(),
            ) == 0
        }
    }
}

/// The inode number of a socket (`fstat`), which identifies it for as long as it is open.
fn inode_of(sock: &OwnedFd) -> Option<u64> {
    // SAFETY: fstat fills the zeroed struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    (unsafe { libc::fstat(sock.as_raw_fd(), &mut st) } == 0).then_some(st.st_ino)
}

/// `socket(domain, SOCK_STREAM [| SOCK_NONBLOCK], IPPROTO_MPTCP)` in the current network
/// namespace. `SOCK_NONBLOCK` is a file status flag and travels with the file;
/// close-on-exec belongs to the caller's fd table and is given as `newfd_flags` to ADDFD.
/// The supervisor's own copy is always close-on-exec.
fn create_socket(domain: c_int, ty: c_int) -> io::Result<OwnedFd> {
    let sock_type = libc::SOCK_STREAM | (ty & libc::SOCK_NONBLOCK) | libc::SOCK_CLOEXEC;
    // SAFETY: plain socket(2).
    let fd = unsafe { libc::socket(domain, sock_type, IPPROTO_MPTCP) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One line per decision, in the shim's format plus the caller's pid:
/// `mptcpize: socket(AF_INET, SOCK_STREAM, 0) = 3: rewritten to IPPROTO_MPTCP (pid 1234)`,
/// `mptcpize: setsockopt(3, 6, 18) on an MPTCP socket failed with ENOPROTOOPT (92): the
/// socket is now plain TCP, option set (pid 1234)`.
fn log_decision(n: &seccomp_notif, setsockopt: bool, outcome: &Outcome) {
    let arg = |i: usize| n.data.args[i] as u32 as c_int;
    let call = if setsockopt {
        format!("setsockopt({}, {}, {})", arg(0), arg(1), arg(2))
    } else {
        describe_call(arg(0), arg(1), arg(2))
    };
    let result = match outcome {
        Outcome::Mptcp(fd) => format!(" = {fd}: rewritten to IPPROTO_MPTCP"),
        Outcome::FellBack(why) => format!(
            ": fell back to TCP, MPTCP refused with {}: {}",
            errno_name(why.errno()),
            why.message()
        ),
        Outcome::Tcp(why) => format!(": left to the kernel: {why}"),
        Outcome::Failed(errno) => format!(" = -1: {}", errno_name(*errno)),
        Outcome::OptionSet => " = 0: set on the MPTCP socket".to_string(),
        Outcome::MadeTcp(errno, rebind) => format!(
            " on an MPTCP socket failed with {}: the socket is now plain TCP{}, option set",
            errno_name(*errno),
            rebind.map_or(String::new(), |e| format!(
                " (but binding it again failed: {})",
                errno_name(e)
            ))
        ),
        Outcome::OptionRefused(errno, why) => format!(
            " on an MPTCP socket failed with {}: left as it is: {why}",
            errno_name(*errno)
        ),
        Outcome::RefusedByBoth(mptcp, tcp) => format!(
            " = -1: MPTCP refused it with {} and plain TCP, as the caller, with {}: left MPTCP, TCP's error returned",
            errno_name(*mptcp),
            errno_name(*tcp)
        ),
        Outcome::Gone => ": not answered, the caller is gone".to_string(),
    };
    let _ = writeln!(io::stderr(), "mptcpize: {call}{result} (pid {})", n.pid);
}

/// `ENOPROTOOPT (92)`, as the shim writes errors; the number alone for names not listed.
fn errno_name(errno: c_int) -> String {
    match mptcpize_preload_support::errno::errno_name(errno) {
        Some(name) => format!("{name} ({errno})"),
        None => format!("errno {errno}"),
    }
}

/// `socket(AF_INET6, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_TCP)`.
pub(super) fn describe_call(domain: c_int, ty: c_int, proto: c_int) -> String {
    struct Text(String);
    impl Sink for Text {
        fn text(&mut self, s: &str) {
            self.0.push_str(s);
        }
        fn int(&mut self, value: i64) {
            self.0.push_str(&value.to_string());
        }
    }
    let mut out = Text(String::new());
    socket_call(&mut out, domain, ty, proto);
    out.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_described_like_the_shim() {
        assert_eq!(
            describe_call(libc::AF_INET, libc::SOCK_STREAM, 0),
            "socket(AF_INET, SOCK_STREAM, 0)"
        );
        assert_eq!(
            describe_call(
                libc::AF_INET6,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::IPPROTO_TCP
            ),
            "socket(AF_INET6, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC, IPPROTO_TCP)"
        );
    }
}
