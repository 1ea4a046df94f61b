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
//!   otherwise, on a socket the supervisor made MPTCP, the user's choice decides
//!   (`mptcp_policy::refused_options::RefusedOptions::decide`, as in the shim): the call succeeds
//!   on the MPTCP socket (a value that changes nothing, an advisory option, with its
//!   equivalent set as the caller), that TCP socket takes its place before it connected (the
//!   [`tcp_swap_in_program`](super::tcp_swap_in_program) module), or the call fails with
//!   MPTCP's error.
//!
//! Here: the [`Notifier`] and the `socket()` answer. Beside it: the listener's `ioctl`s
//! ([`listener`]), the `setsockopt()` answer ([`refused_option`]), the switch to the
//! caller's network namespace ([`network_namespace`]) and the debug log
//! ([`decision_log`]).

mod decision_log;
mod listener_ioctls;
mod network_namespace;
mod refused_option;

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use libc::{c_int, seccomp_notif, seccomp_notif_addfd};
use mptcp_policy::refused_options::{Decision, RefusedOptions, Role};
use mptcp_policy::{is_tcp_stream_request, Unavailable};
use rustix::net::{ipproto, AddressFamily, SocketFlags, SocketType};

use super::bpf_program::Abi;
use super::handover::Handover;
use super::identity::{AsCaller, Caller, Threads};
use decision_log::log_decision;
use listener_ioctls::Listener;
use network_namespace::{run_in_netns, NetnsSwitch};

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
    listener: Listener,
    /// The supervisor's own network namespace: `/proc/self/ns/net`, and its (dev, ino).
    own_netns: File,
    own_netns_id: (u64, u64),
    /// The inode of `/proc/self/net/dev`, one per network namespace: tells whether a
    /// caller whose namespace cannot be opened shares ours (see [`Notifier::same_netns`]).
    own_net_dev_ino: Option<u64>,
    /// Set when `setns` back to `own_netns` failed: this supervisor is in another
    /// namespace and must not serve again ([`Notifier::stranded`]).
    stranded: bool,
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
    /// with the option set (and binding it again failed with the second errno), as the
    /// decision says, for a socket of this role.
    MadeTcp(c_int, Option<c_int>, Decision, Role),
    /// `setsockopt`: MPTCP refused the option with this errno; the socket stays MPTCP and the
    /// call succeeds, as the decision says: without effect, or with the equivalent option
    /// set (`Some(None)`) or failing with an errno (`Some(Some(errno))`).
    Kept(c_int, Decision, Role, Option<Option<c_int>>),
    /// `setsockopt`: MPTCP refused the option with this errno; the socket stays MPTCP and the
    /// program gets the error, as the decision says.
    KeptWithError(c_int, Decision, Role),
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
        let listener = Listener::new(listener)?;
        let own_netns = File::open("/proc/self/ns/net")?;
        let meta = own_netns.metadata()?;
        let own_net_dev_ino = std::fs::metadata("/proc/self/net/dev")
            .ok()
            .map(|m| m.ino());
        Ok(Notifier {
            own_net_dev_ino,
            stranded: false,
            listener,
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

    /// The listener, for the supervisor to poll.
    pub(super) fn listener(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    /// True once `setns` back to the supervisor's own network namespace has failed: the
    /// call in flight was let through unchanged, and this supervisor must end (its standby,
    /// in the right namespace, takes over) rather than make sockets where nobody asked.
    pub(super) fn stranded(&self) -> bool {
        self.stranded
    }

    /// Receives the launcher's probe `socket()` call, made before the program starts,
    /// records its id and lets it run unchanged. From then on the shared page always holds
    /// an id: the kernel numbers notifications from a random start, so without one a
    /// standby taking over from a partner killed right after its first `RECV` could not
    /// know which id to answer, and that caller would wait forever.
    pub(super) fn receive_probe(&mut self) -> io::Result<()> {
        let n = self.listener.receive()?;
        self.handover.received(n.id);
        match self.continue_call(n.id, "the launcher's probe") {
            Outcome::Tcp(_) => Ok(()),
            _ => Err(io::Error::from_raw_os_error(libc::ESRCH)),
        }
    }

    /// Receives one notification (`SECCOMP_IOCTL_NOTIF_RECV`) and answers it. Returns
    /// `None` when there was none to receive (the caller vanished in between).
    pub(super) fn handle_one(&mut self) -> Option<Outcome> {
        // ENOENT: the caller was killed or interrupted; EINTR: a signal. Both: nothing to
        // answer.
        let n = self.listener.receive().ok()?;
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
    /// `None` when that namespace cannot be entered, or when coming back failed: then
    /// `f`'s result is dropped (what it made belongs to a call answered "run unchanged")
    /// and the notifier is [`stranded`](Notifier::stranded).
    fn in_namespace<T>(&mut self, netns: Option<&OwnedFd>, f: impl FnOnce() -> T) -> Option<T> {
        let Some(ns) = netns else {
            return Some(f());
        };
        match run_in_netns(ns.as_fd(), self.own_netns.as_fd(), f) {
            Ok(result) => Some(result),
            Err(NetnsSwitch::CannotEnter) => None,
            Err(NetnsSwitch::CannotReturn(errno)) => {
                self.stranded = true;
                let _ = writeln!(
                    io::stderr(),
                    "mptcpize: cannot return to the supervisor's network namespace ({}): this supervisor stops, its standby serves on",
                    io::Error::from_raw_os_error(errno)
                );
                None
            }
        }
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

    /// The network namespace of thread `tid` through `/proc/TID/ns/net`; `Ok(None)` when
    /// it is ours. `Err(())` when it is another that cannot be opened, or when it cannot
    /// be told at all: the call then runs unchanged, in the caller's own namespace, never
    /// with a socket made in ours.
    ///
    /// `/proc/TID/ns/net` needs ptrace read access: an unprivileged supervisor has none
    /// to a non-dumpable caller (`PR_SET_DUMPABLE` 0), and `PIDFD_GET_NET_NAMESPACE` asks
    /// the same. Whether that caller shares our namespace is then read from
    /// [`same_netns`](Notifier::same_netns), which needs no such access: if it does, the
    /// socket is made here as usual; if not, the call runs unchanged.
    fn netns_from_proc(&self, tid: u32) -> Result<Option<OwnedFd>, ()> {
        let path = format!("/proc/{tid}/ns/net");
        match std::fs::metadata(&path).map(|m| (m.dev(), m.ino())) {
            Ok(id) if id == self.own_netns_id => Ok(None),
            Ok(_) => File::open(&path).map(|f| Some(f.into())).map_err(drop),
            // EACCES (non-dumpable), ENOENT (the thread is gone, or a /proc of another pid
            // namespace): never taken as "ours" without proof.
            Err(_) if self.same_netns(tid) => Ok(None),
            Err(_) => Err(()),
        }
    }

    /// True when thread `tid` is known to be in our network namespace: its
    /// `/proc/TID/net/dev` is the same file as ours. Each network namespace registers its
    /// own `/proc/net` entries, each with an inode number unique while it exists, and
    /// `/proc/TID/net` needs no ptrace access. False when either cannot be read.
    fn same_netns(&self, tid: u32) -> bool {
        let theirs = std::fs::metadata(format!("/proc/{tid}/net/dev")).map(|m| m.ino());
        matches!((theirs, self.own_net_dev_ino), (Ok(a), Some(b)) if a == b)
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
        let errno = match self.listener.add_fd(&addfd) {
            Ok(fd) => {
                self.handover
                    .remember_socket(inode.unwrap_or(0), open_socket_inodes());
                return Outcome::Mptcp(fd);
            }
            Err(e) => e.raw_os_error().unwrap_or(libc::EIO),
        };
        match errno {
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

    /// Answers a notification a supervisor received before it died, if it is still
    /// pending: the kernel runs the call itself, as for any call the supervisor cannot
    /// serve. True when it was pending.
    pub(super) fn answer_orphan(&mut self, id: u64) -> bool {
        self.id_valid(id) && matches!(self.continue_call(id, ""), Outcome::Tcp(_))
    }

    /// `SECCOMP_IOCTL_NOTIF_ID_VALID`: the notification is still pending.
    pub(super) fn id_valid(&self, id: u64) -> bool {
        self.listener.id_valid(id)
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

    /// `SECCOMP_IOCTL_NOTIF_SEND`; false when the caller is gone.
    fn respond(&mut self, id: u64, error: i32, flags: u32) -> bool {
        self.listener.respond(id, error, flags)
    }
}

/// A test for "is the socket with this inode number still open somewhere": the sockets held
/// by the processes this supervisor can see (`/proc/*/fd`, read once when called; the
/// program's processes run as the supervisor's user, or it is root). Called only when the
/// table of sockets the supervisors made is half full.
fn open_socket_inodes() -> impl Fn(u64) -> bool {
    // Scanned at the first question only: most calls never ask.
    let open = std::cell::OnceCell::new();
    move |inode| open.get_or_init(scan_open_sockets).contains(&inode)
}

/// The inode numbers of the sockets in `/proc/*/fd` (`socket:[INODE]` links).
fn scan_open_sockets() -> std::collections::HashSet<u64> {
    let mut open = std::collections::HashSet::new();
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return open;
    };
    for process in processes.flatten() {
        let Ok(fds) = std::fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if let Some(inode) = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u64>().ok())
            {
                open.insert(inode);
            }
        }
    }
    open
}

/// The inode number of a socket (`fstat`), which identifies it for as long as it is open.
fn inode_of(sock: &OwnedFd) -> Option<u64> {
    rustix::fs::fstat(sock).ok().map(|st| st.st_ino)
}

/// `socket(domain, SOCK_STREAM [| SOCK_NONBLOCK], IPPROTO_MPTCP)` in the current network
/// namespace. `SOCK_NONBLOCK` is a file status flag and travels with the file;
/// close-on-exec belongs to the caller's fd table and is given as `newfd_flags` to ADDFD.
/// The supervisor's own copy is always close-on-exec.
fn create_socket(domain: c_int, ty: c_int) -> io::Result<OwnedFd> {
    let mut flags = SocketFlags::CLOEXEC;
    if ty & libc::SOCK_NONBLOCK != 0 {
        flags |= SocketFlags::NONBLOCK;
    }
    // `domain` is AF_INET or AF_INET6 (`is_tcp_stream_request`), so it fits.
    let family = AddressFamily::from_raw(domain as u16);
    Ok(rustix::net::socket_with(
        family,
        SocketType::STREAM,
        flags,
        Some(ipproto::MPTCP),
    )?)
}
