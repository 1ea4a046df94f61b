//! Starting the program under the filter: the launcher starts the supervisor beside it,
//! installs the filter in itself, hands the listener to the supervisor, and execs the
//! program, which so keeps the launcher's process id (systemd's `MainPID`, `Type=notify`,
//! `kill $!`, and the exit status seen by the caller are the program's own).
//!
//! The listener travels over a `socketpair` with `SCM_RIGHTS`: the supervisor is not the
//! program's parent, and passing an fd needs no ptrace access, which Yama
//! (`kernel.yama.ptrace_scope`) or a container profile may refuse. The same channel brings
//! back the supervisor's "ready" (or why it could not start) before the program runs.

use std::ffi::{OsStr, OsString};
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use rustix::io::retry_on_intr;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};

use super::bpf_program::{self, Abi};
use super::supervisor;
use super::Error;

/// Launcher → supervisor: "the filter is installed, here is its listener" (`SCM_RIGHTS`).
pub(super) const MSG_LISTENER: u8 = b'L';
/// Supervisor → launcher: "serving", the program may start.
pub(super) const MSG_READY: u8 = b'S';
/// Supervisor → launcher: "cannot serve", followed by the errno.
pub(super) const MSG_FAILED: u8 = b'F';

/// Replaces the launcher with `program args…`, its TCP `socket()` calls served by a
/// supervisor process started here. `privileged`: install the filter without
/// `no_new_privs` where the kernel allows it, so setuid programs keep their privileges.
/// Returns only on failure; the supervisor then ends on its own (its channel closes, or
/// the listener reports that nobody uses the filter).
pub(super) fn exec(
    program: &OsStr,
    args: &[OsString],
    abi: Abi,
    privileged: bool,
    debug: bool,
) -> Error {
    let (launcher_end, supervisor_end) = match socketpair() {
        Ok(pair) => pair,
        Err(e) => return Error::Setup("socketpair", e),
    };
    let program_pid = rustix::process::getpid();
    // The supervisor is forked before the filter exists, so it is not under it.
    if let Err(e) = supervisor::spawn(supervisor_end, abi, debug, program_pid) {
        return e;
    }
    let listener = match install_filter(abi, privileged) {
        Ok((listener, no_new_privs)) => {
            if no_new_privs {
                crate::messages::stderr_line(format_args!("{}", super::NO_NEW_PRIVS_WARNING));
            }
            listener
        }
        // Dropping `launcher_end` tells the supervisor to go.
        Err(errno) => return Error::SeccompRefused(errno),
    };
    // From here on the filter is installed: the program must not start unless somebody
    // answers its calls.
    let sent = send(&launcher_end, MSG_LISTENER, 0, Some(listener.as_fd()));
    drop(listener); // the program must not hold the listener
    if let Err(e) = sent {
        return Error::Setup("hand the listener to the supervisor", e);
    }
    probe_call();
    match receive(&launcher_end) {
        Ok(Message::Ready) => {}
        Ok(Message::Failed(errno)) => {
            return Error::Setup("start the supervisor", io::Error::from_raw_os_error(errno))
        }
        Ok(Message::Listener(_)) => {
            return Error::Setup(
                "start the supervisor",
                io::Error::from(io::ErrorKind::InvalidData),
            )
        }
        Err(e) => return Error::Setup("start the supervisor", e),
    }
    drop(launcher_end);
    let e = Command::new(program).args(args).exec();
    Error::Exec(program.to_owned(), e)
}

/// Installs the filter in the launcher itself (inherited by the program through `execve`,
/// and by everything it forks) and returns its listener and whether `no_new_privs` had to
/// be set, or the errno of `seccomp(2)`.
fn install_filter(abi: Abi, privileged: bool) -> Result<(OwnedFd, bool), i32> {
    let insns = bpf_program::program(abi);
    let prog = bpf_program::fprog(&insns);
    // WAIT_KILLABLE_RECV (Linux 5.19): once the supervisor has read a notification, only a
    // fatal signal interrupts the call, so socket() never fails with EINTR after the
    // supervisor has created the socket.
    let mut flags =
        libc::SECCOMP_FILTER_FLAG_NEW_LISTENER | libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    let mut no_new_privs = false;
    if !privileged {
        set_no_new_privs()?;
        no_new_privs = true;
    }
    loop {
        // SAFETY: seccomp(2) reads one sock_fprog, which `prog` is, and the instructions it
        // points at (`insns`, alive until the end of this function); rustix does not wrap
        // seccomp. The program is the one `bpf_program` builds and its tests check.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if fd >= 0 {
            // SAFETY: the kernel returned a new fd (close-on-exec, made so by the kernel),
            // owned by nobody else.
            return Ok((unsafe { OwnedFd::from_raw_fd(fd as RawFd) }, no_new_privs));
        }
        let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
        if errno == libc::EINVAL && flags & libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0 {
            // Linux < 5.19 does not know the flag; the filter works without it.
            flags &= !libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
        } else if errno == libc::EACCES && !no_new_privs {
            // CapEff said CAP_SYS_ADMIN but the kernel disagrees (user namespace).
            set_no_new_privs()?;
            no_new_privs = true;
        } else {
            return Err(errno);
        }
    }
}

/// One intercepted `socket()` call, for the supervisor to receive before it says ready
/// (`Notifier::receive_probe`): it records the notification id, so that a standby always
/// knows where the ids of the program's calls start. The supervisor lets it run (a TCP
/// socket, closed at once); if the supervisor died instead, the kernel fails it with
/// `ENOSYS` when the listener closes, and `receive` then says the supervisor did not start.
fn probe_call() {
    // The socket system call itself (rustix makes it directly), which the filter watches;
    // the fd, if any, is closed at once.
    drop(rustix::net::socket_with(
        AddressFamily::INET,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    ));
}

/// The launcher–supervisor channel. `SOCK_CLOEXEC`: the program must not inherit it.
fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?)
}

/// `PR_SET_NO_NEW_PRIVS`; the errno on failure.
fn set_no_new_privs() -> Result<(), i32> {
    rustix::thread::set_no_new_privs(true).map_err(|e| e.raw_os_error())
}

/// Sends `[tag, 0, 0, 0, errno (native endian)]`, with `fd` attached (`SCM_RIGHTS`) when
/// given. Async-signal-safe (one `sendmsg`, no allocation).
pub(super) fn send(
    sock: impl AsFd,
    tag: u8,
    errno: i32,
    fd: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let mut body = [0u8; 8];
    body[0] = tag;
    body[4..].copy_from_slice(&errno.to_ne_bytes());
    let fds = fd.map(|fd| [fd]);
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if let Some(fds) = &fds {
        // Room for one fd was made above.
        control.push(SendAncillaryMessage::ScmRights(fds));
    }
    rustix::net::sendmsg(
        sock,
        &[IoSlice::new(&body)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}

/// One message on the launcher–supervisor channel.
pub(super) enum Message {
    /// [`MSG_LISTENER`].
    Listener(OwnedFd),
    /// [`MSG_READY`].
    Ready,
    /// [`MSG_FAILED`] and its errno.
    Failed(i32),
}

/// Reads one message. Ends with an error when the other side has closed its end (each
/// side holds only its own end).
pub(super) fn receive(sock: &OwnedFd) -> io::Result<Message> {
    let mut body = [0u8; 8];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = retry_on_intr(|| {
        rustix::net::recvmsg(
            sock,
            &mut [IoSliceMut::new(&mut body)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
    })?;
    let mut fd = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = message {
            fd = fds.next();
        }
    }
    match (received.bytes, body[0], fd) {
        (8, MSG_LISTENER, Some(fd)) => Ok(Message::Listener(fd)),
        (8, MSG_READY, _) => Ok(Message::Ready),
        (8, MSG_FAILED, _) => Ok(Message::Failed(i32::from_ne_bytes(
            body[4..].try_into().unwrap(),
        ))),
        _ => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the other side of the channel ended",
        )),
    }
}
