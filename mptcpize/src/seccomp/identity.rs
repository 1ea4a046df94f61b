//! Acting as the caller: what the supervisor does for a program is done with the calling
//! thread's identity, never with the supervisor's own.
//!
//! - A socket's owner (`fstat().st_uid`, `ss -e` `uid:`, `meta skuid`, `--uid-owner`,
//!   `ip rule uidrange`) is the filesystem uid and gid of the task that creates it
//!   (`sock_alloc` takes `current_fsuid()`). The supervisor takes the caller's with
//!   `setfsuid(2)`/`setfsgid(2)`, which are per-thread system calls (glibc's wrappers are
//!   not broadcast to other threads, and the supervisor has one thread anyway).
//! - A socket option is checked against the effective capabilities of the task that sets
//!   it (`ns_capable(…, CAP_NET_ADMIN)` for `TCP_REPAIR`, `capable(CAP_NET_ADMIN)` before
//!   `TCP_ULP` loads a module). The supervisor lowers its own effective set to the caller's
//!   with `capset(2)`, also per thread, and raises it again afterwards (its permitted set is
//!   untouched).
//!
//! The caller's credentials are read from `/proc/TID/status` while its notification is
//! pending (its thread is blocked in the system call and cannot change them), and trusted
//! only if `SECCOMP_IOCTL_NOTIF_ID_VALID` says the notification is still pending afterwards
//! (otherwise the thread id may have been reused). What is not taken: the security module
//! label (SELinux, AppArmor: the supervisor's, which is the launcher's), and the cgroup
//! (the supervisor is forked from the launcher and stays in its cgroup, which is the
//! program's unless the program moves itself).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use rustix::process::{Pid, PidfdFlags};
use rustix::thread::{capabilities, set_capabilities, CapabilitySet, CapabilitySets};

/// The credentials of a calling thread that matter for the sockets made for it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Caller {
    /// Filesystem uid (the fourth field of `Uid:`), as seen from the supervisor's user
    /// namespace.
    pub fsuid: u32,
    /// Filesystem gid (the fourth field of `Gid:`).
    pub fsgid: u32,
    /// Effective capabilities (`CapEff:`), meaningful in the caller's user namespace.
    pub cap_eff: u64,
    /// The caller lives in another user namespace than the supervisor: its capabilities
    /// are not capabilities in the supervisor's namespace.
    pub foreign_user_ns: bool,
}

impl Caller {
    /// Reads thread `tid`'s credentials from `/proc/TID/status` and compares its user
    /// namespace with ours (`/proc/TID/ns/user`). Check the notification is still pending
    /// after this. (Reading `status` is slow, tens of microseconds on a busy machine: for a
    /// `socket()`, which needs only the filesystem ids, [`Threads::fs_ids`].)
    pub(super) fn read(tid: u32) -> io::Result<Caller> {
        let status = std::fs::read_to_string(format!("/proc/{tid}/status"))?;
        let mut caller = Caller::parse(&status).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/TID/status")
        })?;
        // Our own user namespace does not change: read once.
        static OWN_USER_NS: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
        let ns = |path: &str| std::fs::metadata(path).map(|m| m.ino());
        let own = *OWN_USER_NS.get_or_init(|| ns("/proc/self/ns/user").ok());
        let own = own.ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        caller.foreign_user_ns = ns(&format!("/proc/{tid}/ns/user"))? != own;
        Ok(caller)
    }

    /// The filesystem ids `PIDFD_GET_INFO` gave; no capabilities.
    fn from_pidfd_info(info: &PidfdInfo) -> Caller {
        Caller {
            fsuid: info.fsuid,
            fsgid: info.fsgid,
            cap_eff: 0,
            foreign_user_ns: true,
        }
    }

    /// The `Uid:`, `Gid:` and `CapEff:` lines of a `/proc/PID/status` text.
    pub(crate) fn parse(status: &str) -> Option<Caller> {
        let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name));
        // "Uid:\treal\teffective\tsaved\tfilesystem"
        let fs_id = |name: &str| field(name)?.split_whitespace().nth(3)?.parse().ok();
        Some(Caller {
            fsuid: fs_id("Uid:")?,
            fsgid: fs_id("Gid:")?,
            cap_eff: u64::from_str_radix(field("CapEff:")?.trim(), 16).ok()?,
            foreign_user_ns: false,
        })
    }
}

/// How many threads' pidfds [`Threads`] keeps open.
const KEPT_THREADS: usize = 64;

/// The filesystem ids of calling threads, through pidfds kept open for the threads that
/// made calls recently: `PIDFD_GET_INFO` (Linux 6.13) on an open pidfd is one cheap system
/// call, where `pidfd_open` + `close` for every call would cost more than the rest of the
/// answer, and `/proc/TID/status` far more (BENCHMARKS.md).
///
/// A kept pidfd always refers to the thread it was opened for: while that thread lives
/// (or is an unreaped zombie) its id cannot be reused, and once it is gone
/// `PIDFD_GET_INFO` fails with `ESRCH` and the pidfd is replaced. So a successful answer
/// for `tid` is the credentials of the thread that now has that id.
pub(super) struct Threads {
    kept: Vec<(u32, OwnedFd)>,
    /// Next slot to reuse when full.
    next: usize,
    /// `PIDFD_THREAD` or `PIDFD_GET_INFO` is missing (Linux < 6.13): `/proc` only.
    unsupported: bool,
}

impl Threads {
    pub(super) fn new() -> Threads {
        Threads {
            kept: Vec::with_capacity(KEPT_THREADS),
            next: 0,
            unsupported: false,
        }
    }

    /// The filesystem uid and gid of thread `tid` (its capabilities count as none; see
    /// [`Caller::read`] for them). Check the notification is still pending after this.
    pub(super) fn fs_ids(&mut self, tid: u32) -> io::Result<Caller> {
        if !self.unsupported {
            if let Some(i) = self.kept.iter().position(|(t, _)| *t == tid) {
                if let Ok(info) = pidfd_info(&self.kept[i].1) {
                    return Ok(Caller::from_pidfd_info(&info));
                }
                // The thread this pidfd was opened for is gone; the id was reused.
                self.kept.swap_remove(i);
            }
            match pidfd_open(tid, true).and_then(|fd| pidfd_info(&fd).map(|info| (fd, info))) {
                Ok((fd, info)) => {
                    self.keep(tid, fd);
                    return Ok(Caller::from_pidfd_info(&info));
                }
                // EINVAL: no PIDFD_THREAD (< 6.9); ENOTTY: no PIDFD_GET_INFO (< 6.13).
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOTTY)) => {
                    self.unsupported = true;
                }
                Err(_) => {}
            }
        }
        Caller::read(tid)
    }

    fn keep(&mut self, tid: u32, fd: OwnedFd) {
        if self.kept.len() < KEPT_THREADS {
            self.kept.push((tid, fd));
        } else {
            self.kept[self.next] = (tid, fd);
            self.next = (self.next + 1) % KEPT_THREADS;
        }
    }
}

/// `pidfd_open(2)` of process `pid`, or with `thread` of the thread `pid` (`PIDFD_THREAD`,
/// Linux 6.9; `EINVAL` before, as for pid 0).
pub(super) fn pidfd_open(pid: u32, thread: bool) -> io::Result<OwnedFd> {
    // `PIDFD_THREAD` is `O_EXCL`; rustix does not name it.
    let flags = match thread {
        true => PidfdFlags::from_bits_retain(libc::O_EXCL as u32),
        false => PidfdFlags::empty(),
    };
    let pid =
        Pid::from_raw(pid as i32).ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    Ok(rustix::process::pidfd_open(pid, flags)?)
}

/// The calling thread acting as a [`Caller`] until dropped: filesystem uid and gid
/// switched, and with [`AsCaller::with_capabilities`] the effective capabilities lowered.
pub(super) struct AsCaller {
    /// Our filesystem uid and gid, to return to; `None` when they were not switched.
    ids: Option<(u32, u32)>,
    /// Our effective capabilities before they were lowered, to raise them again.
    lowered: Option<CapabilitySets>,
}

impl AsCaller {
    /// Takes the caller's filesystem uid and gid. Fails (with nothing changed) when the
    /// kernel does not let us (no `CAP_SETUID`/`CAP_SETGID` and another user): a socket made
    /// then would carry the wrong owner.
    pub(super) fn ids(caller: &Caller) -> io::Result<AsCaller> {
        // Ours are the launcher's effective ids, and are always restored: when the caller
        // has the same (the common case), there is nothing to switch.
        // The supervisor never changes them: read once.
        static OURS: std::sync::OnceLock<(u32, u32)> = std::sync::OnceLock::new();
        let ours = *OURS.get_or_init(|| {
            (
                rustix::process::geteuid().as_raw(),
                rustix::process::getegid().as_raw(),
            )
        });
        if (caller.fsuid, caller.fsgid) == ours {
            return Ok(AsCaller {
                ids: None,
                lowered: None,
            });
        }
        let fsuid = setfsuid(caller.fsuid);
        let fsgid = setfsgid(caller.fsgid);
        let switched = AsCaller {
            ids: Some((fsuid, fsgid)),
            lowered: None,
        };
        // setfsuid/setfsgid return the previous value and report no error: read back.
        if setfsuid(u32::MAX) != caller.fsuid || setfsgid(u32::MAX) != caller.fsgid {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        Ok(switched)
    }

    /// [`AsCaller::ids`], and the effective capabilities lowered to those the caller has
    /// (none when it lives in another user namespace, where its capabilities mean something
    /// else): an option is then refused to us exactly when it would be refused to the
    /// caller.
    pub(super) fn with_capabilities(caller: &Caller) -> io::Result<AsCaller> {
        let mut switched = AsCaller::ids(caller)?;
        // capget(2)/capset(2) with pid 0: this thread only.
        let ours = capabilities(None)?;
        let theirs = if caller.foreign_user_ns {
            0
        } else {
            caller.cap_eff
        };
        let mut lowered = ours;
        lowered.effective = ours.effective & CapabilitySet::from_bits_retain(theirs);
        set_capabilities(None, lowered)?;
        switched.lowered = Some(ours);
        Ok(switched)
    }
}

impl Drop for AsCaller {
    fn drop(&mut self) {
        // Capabilities first: setfsuid needs CAP_SETUID back to return to uid 0.
        if let Some(ours) = &self.lowered {
            if set_capabilities(None, *ours).is_err() {
                // Cannot happen (raising within our permitted set); a supervisor left with
                // the caller's capabilities would act wrongly from now on.
                std::process::abort();
            }
        }
        if let Some((fsuid, fsgid)) = self.ids {
            setfsgid(fsgid);
            setfsuid(fsuid);
        }
    }
}

/// `PIDFD_INFO_CREDS`: the `*uid`/`*gid` fields are filled.
const PIDFD_INFO_CREDS: u64 = 1 << 1;

/// `struct pidfd_info` of `linux/pidfd.h`, its first version (`PIDFD_INFO_SIZE_VER0`, 64
/// bytes), which every kernel with `PIDFD_GET_INFO` accepts.
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    pid: u32,
    tgid: u32,
    ppid: u32,
    ruid: u32,
    rgid: u32,
    euid: u32,
    egid: u32,
    suid: u32,
    sgid: u32,
    fsuid: u32,
    fsgid: u32,
    spare0: u32,
}
const _: () = assert!(size_of::<PidfdInfo>() == 64);

/// `PIDFD_GET_INFO`: `_IOWR(0xFF, 11, struct pidfd_info)` with the 64-byte struct.
const PIDFD_GET_INFO: libc::c_ulong =
    (3 << 30) | ((size_of::<PidfdInfo>() as libc::c_ulong) << 16) | (0xFF << 8) | 11;

/// The credentials of the task a pidfd refers to (ids as seen from our user namespace):
/// `PIDFD_GET_INFO`. `ENOTTY` before Linux 6.13, `ESRCH` when the task is gone.
fn pidfd_info(pidfd: &OwnedFd) -> io::Result<PidfdInfo> {
    let mut info = PidfdInfo {
        mask: PIDFD_INFO_CREDS,
        ..PidfdInfo::default()
    };
    // SAFETY: the ioctl reads and writes one 64-byte struct pidfd_info.
    if unsafe { libc::ioctl(pidfd.as_raw_fd(), PIDFD_GET_INFO, &mut info) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if info.mask & PIDFD_INFO_CREDS == 0 {
        return Err(io::Error::from_raw_os_error(libc::ENOTTY));
    }
    Ok(info)
}

/// `setfsuid(2)`, the raw per-thread system call; returns the previous fsuid.
fn setfsuid(uid: u32) -> u32 {
    // SAFETY: plain system call with an integer argument.
    unsafe { libc::syscall(libc::SYS_setfsuid, uid) as u32 }
}

/// `setfsgid(2)`, the raw per-thread system call; returns the previous fsgid.
fn setfsgid(gid: u32) -> u32 {
    // SAFETY: plain system call with an integer argument.
    unsafe { libc::syscall(libc::SYS_setfsgid, gid) as u32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read() {
        let status = "Name:\tx\nUid:\t0\t65534\t0\t65533\nGid:\t1\t2\t3\t4\nCapInh:\t0000000000000000\nCapEff:\t0000000000001000\n";
        assert_eq!(
            Caller::parse(status),
            Some(Caller {
                fsuid: 65533,
                fsgid: 4,
                cap_eff: 0x1000,
                foreign_user_ns: false
            })
        );
        assert_eq!(Caller::parse("Uid:\t0\n"), None);
    }

    #[test]
    fn own_credentials_are_read() {
        let me = Caller::read(std::process::id()).unwrap();
        assert_eq!(me.fsuid, rustix::process::geteuid().as_raw());
        assert_eq!(me.fsgid, rustix::process::getegid().as_raw());
        assert!(!me.foreign_user_ns);
        assert_eq!(me.cap_eff, capabilities(None).unwrap().effective.bits());
        let mut threads = Threads::new();
        for _ in 0..2 {
            // Opened, then kept.
            let ids = threads.fs_ids(std::process::id()).unwrap();
            assert_eq!((ids.fsuid, ids.fsgid), (me.fsuid, me.fsgid));
            // Capabilities are not read: none assumed.
            assert_eq!((ids.cap_eff, ids.foreign_user_ns), (0, true));
        }
        assert!(threads.kept.len() == 1 || threads.unsupported);
    }
}
