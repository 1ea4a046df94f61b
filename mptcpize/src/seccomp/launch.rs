//! Starting the target under the filter: fork, install the filter in the child, hand the
//! listener to the parent, exec.
//!
//! The listener travels over a `socketpair` with `SCM_RIGHTS` rather than being fetched
//! with `pidfd_getfd(2)`: that needs ptrace access to the child, which Yama
//! (`kernel.yama.ptrace_scope` ≥ 2) or a container profile may refuse, while passing an
//! fd to one's own parent always works. The same channel tells the parent *why* the
//! filter was refused, which `std::process::Command` alone (one errno for the whole
//! child setup) could not tell apart from an exec failure.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use libc::{c_int, pid_t, sock_filter};

use super::filter::{self, Abi};
use super::supervisor::Original;
use super::Error;

/// The running target and the listener of its filter.
pub(super) struct Target {
    /// Its process id (a child of the launcher).
    pub pid: pid_t,
    /// The seccomp listener fd (`SECCOMP_FILTER_FLAG_NEW_LISTENER`).
    pub listener: OwnedFd,
}

/// Child → parent: "the filter is installed, here is its listener" (with `SCM_RIGHTS`).
const MSG_LISTENER: u8 = b'L';
/// Child → parent: "seccomp(2) refused the filter", followed by the errno.
const MSG_REFUSED: u8 = b'R';

/// Starts `program args…` with the filter for `abi` installed. `privileged`: try without
/// `no_new_privs` first, so setuid programs keep their privileges. `signals`: the signal
/// state the target must start with (the launcher's, before the supervisor's changes).
pub(super) fn spawn(
    program: &OsStr,
    args: &[OsString],
    abi: Abi,
    privileged: bool,
    signals: Original,
) -> Result<Target, Error> {
    let (parent_end, child_end) = socketpair().map_err(|e| Error::Setup("socketpair", e))?;
    let insns = filter::program(abi);
    // SAFETY: getpid cannot fail.
    let launcher = unsafe { libc::getpid() };
    let child_fd = child_end.as_raw_fd();
    let mut cmd = Command::new(program);
    cmd.args(args);
    // SAFETY: the closure makes only async-signal-safe system calls and does not allocate,
    // as required between fork and exec.
    unsafe {
        cmd.pre_exec(move || setup_child(&insns, child_fd, launcher, privileged, &signals));
    }
    let spawned = cmd.spawn();
    drop(child_end);
    let message = receive(&parent_end);
    match (spawned, message) {
        (Ok(child), Ok(Message::Listener(listener))) => Ok(Target {
            pid: child.id() as pid_t,
            listener,
        }),
        (_, Ok(Message::Refused(errno))) => Err(Error::SeccompRefused(errno)),
        // The filter was installed, so what failed is the exec itself.
        (Err(e), Ok(Message::Listener(_))) => Err(Error::Exec(program.to_owned(), e)),
        (Err(e), Err(_)) => Err(Error::Setup("start the program", e)),
        (Ok(child), Err(e)) => {
            // Cannot happen (the child sends before it execs), but never leave a target
            // whose socket() calls nobody answers.
            // SAFETY: kill/waitpid on our own child.
            unsafe {
                libc::kill(child.id() as pid_t, libc::SIGKILL);
                libc::waitpid(child.id() as pid_t, std::ptr::null_mut(), 0);
            }
            Err(Error::Setup("receive the seccomp listener", e))
        }
    }
}

fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: fds has room for two descriptors. CLOEXEC: the target must not inherit them.
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

/// Runs in the forked child before `execve`: async-signal-safe calls only.
fn setup_child(
    insns: &[sock_filter],
    sock: RawFd,
    launcher: pid_t,
    privileged: bool,
    signals: &Original,
) -> io::Result<()> {
    // The target starts with the launcher's original signal state, not the supervisor's.
    signals.restore();
    // SAFETY: system calls on this process with valid pointers.
    unsafe {
        // If the supervisor dies (SIGKILL), nobody would answer the target's socket()
        // calls, which would then fail with ENOSYS: die with it, as a program that the
        // launcher had exec'd would.
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::getppid() != launcher {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
    let prog = filter::fprog(insns);
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
    let listener = loop {
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
            break fd as RawFd;
        }
        let err = io::Error::last_os_error();
        let errno = err.raw_os_error().unwrap_or(0);
        if errno == libc::EINVAL && flags & libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0 {
            // Linux < 5.19 does not know the flag; the filter works without it.
            flags &= !libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
        } else if errno == libc::EACCES && !no_new_privs {
            // CapEff said CAP_SYS_ADMIN but the kernel disagrees (user namespace).
            set_no_new_privs()?;
            no_new_privs = true;
        } else {
            send(sock, MSG_REFUSED, errno, None)?;
            return Err(err);
        }
    };
    let sent = send(sock, MSG_LISTENER, 0, Some(listener));
    // SAFETY: our own copy; the parent has its own now. (The kernel created it O_CLOEXEC,
    // closing it here just does not depend on that.)
    unsafe { libc::close(listener) };
    sent
}

fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Buffer for one control message carrying one fd (`CMSG_SPACE(sizeof(int))` is 24 on
/// 64-bit Linux), aligned for `cmsghdr`.
type ControlBuf = [u64; 4];

/// Sends `[tag, 0, 0, 0, errno (native endian)]`, with `fd` attached when given.
/// Async-signal-safe (one `sendmsg`, no allocation).
fn send(sock: RawFd, tag: u8, errno: i32, fd: Option<RawFd>) -> io::Result<()> {
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

enum Message {
    Listener(OwnedFd),
    Refused(i32),
}

/// Reads the child's one message. Blocks only until the child has exec'd or died: its end
/// of the socketpair is close-on-exec and the parent's copy is already closed.
fn receive(sock: &OwnedFd) -> io::Result<Message> {
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
            (8, MSG_REFUSED, _) => Ok(Message::Refused(i32::from_ne_bytes(
                body[4..].try_into().unwrap(),
            ))),
            _ => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the child ended before installing the seccomp filter",
            )),
        }
    }
}
