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
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use libc::c_int;

use super::filter::{self, Abi};
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
    // SAFETY: getpid cannot fail.
    let program_pid = unsafe { libc::getpid() };
    // The supervisor is forked before the filter exists, so it is not under it.
    if let Err(e) = supervisor::spawn(supervisor_end, abi, debug, program_pid) {
        return e;
    }
    let listener = match install_filter(abi, privileged) {
        Ok(listener) => listener,
        // Dropping `launcher_end` tells the supervisor to go.
        Err(errno) => return Error::SeccompRefused(errno),
    };
    // From here on the filter is installed: the program must not start unless somebody
    // answers its calls.
    let sent = send(
        launcher_end.as_raw_fd(),
        MSG_LISTENER,
        0,
        Some(listener.as_raw_fd()),
    );
    drop(listener); // the program must not hold the listener
    if let Err(e) = sent {
        return Error::Setup("hand the listener to the supervisor", e);
    }
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
/// and by everything it forks) and returns its listener, or the errno of `seccomp(2)`.
fn install_filter(abi: Abi, privileged: bool) -> Result<OwnedFd, i32> {
    let insns = filter::program(abi);
    let prog = filter::fprog(&insns);
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
        // SAFETY: prog points at the filter's instructions, which outlive the call.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if fd >= 0 {
            // SAFETY: a new fd (close-on-exec, made so by the kernel) owned by nobody else.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
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

fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: fds has room for two descriptors. CLOEXEC: the program must not inherit them.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `PR_SET_NO_NEW_PRIVS`; the errno on failure.
fn set_no_new_privs() -> Result<(), i32> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EPERM));
    }
    Ok(())
}

/// Buffer for one control message carrying one fd (`CMSG_SPACE(sizeof(int))` is 24 on
/// 64-bit Linux), aligned for `cmsghdr`.
type ControlBuf = [u64; 4];

/// Sends `[tag, 0, 0, 0, errno (native endian)]`, with `fd` attached when given.
/// Async-signal-safe (one `sendmsg`, no allocation).
pub(super) fn send(sock: RawFd, tag: u8, errno: i32, fd: Option<RawFd>) -> io::Result<()> {
    let mut body = [0u8; 8];
    body[0] = tag;
    body[4..].copy_from_slice(&errno.to_ne_bytes());
    let mut iov = libc::iovec {
        iov_base: body.as_mut_ptr().cast(),
        iov_len: body.len(),
    };
    let mut control: ControlBuf = [0; 4];
    // SAFETY: msghdr is plain data; every pointer in it refers to live locals, and the
    // control buffer is large enough and aligned for one SCM_RIGHTS message.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if let Some(fd) = fd {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(size_of::<c_int>() as u32) as usize;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<c_int>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<c_int>(), fd);
        }
        if libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
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
    let mut iov = libc::iovec {
        iov_base: body.as_mut_ptr().cast(),
        iov_len: body.len(),
    };
    let mut control: ControlBuf = [0; 4];
    // SAFETY: as in `send`; the kernel writes at most msg_controllen bytes of control data.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<ControlBuf>();
        let n = loop {
            let n = libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                break n;
            }
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut fd = None;
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let raw = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<c_int>());
                fd = Some(OwnedFd::from_raw_fd(raw));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        match (n, body[0], fd) {
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
}
