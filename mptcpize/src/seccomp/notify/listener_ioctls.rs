//! The seccomp listener's `ioctl`s (`seccomp_unotify(2)`): receive a notification, answer
//! it, install an fd in the caller, ask whether a notification is still pending.
//!
//! rustix wraps none of them, so each is one raw `ioctl` here, on a buffer of the size the
//! kernel asks for: the only `unsafe` of the notification path.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use libc::{c_int, seccomp_notif, seccomp_notif_addfd, seccomp_notif_resp};

/// A listener fd (from `SECCOMP_FILTER_FLAG_NEW_LISTENER`) and its receive and send
/// buffers.
pub(super) struct Listener {
    fd: OwnedFd,
    /// Receive buffer of the kernel's `sizeof(struct seccomp_notif)` or ours, whichever is
    /// larger (`SECCOMP_GET_NOTIF_SIZES`: a newer kernel may write more than libc knows).
    notif: Vec<u64>,
    /// Same for `struct seccomp_notif_resp`, which the kernel reads at its own size.
    resp: Vec<u64>,
}

impl Listener {
    /// Sizes the buffers (`SECCOMP_GET_NOTIF_SIZES`) and asks for synchronous wake-ups
    /// where the kernel has them.
    pub(super) fn new(fd: OwnedFd) -> io::Result<Listener> {
        let mut sizes = libc::seccomp_notif_sizes {
            seccomp_notif: 0,
            seccomp_notif_resp: 0,
            seccomp_data: 0,
        };
        // SAFETY: SECCOMP_GET_NOTIF_SIZES writes one `struct seccomp_notif_sizes` (three
        // u16) to the pointer, which points at one.
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
        // SAFETY: SECCOMP_IOCTL_NOTIF_SET_FLAGS takes its flags by value (an integer
        // argument, no pointer), on a listener fd we own.
        unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
                SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
            )
        };
        Ok(Listener {
            fd,
            notif: words(sizes.seccomp_notif, size_of::<seccomp_notif>()),
            resp: words(sizes.seccomp_notif_resp, size_of::<seccomp_notif_resp>()),
        })
    }

    /// `SECCOMP_IOCTL_NOTIF_RECV`: the next notification. Fails with `ENOENT` when its
    /// caller was killed or interrupted in between, `EINTR` on a signal.
    pub(super) fn receive(&mut self) -> io::Result<seccomp_notif> {
        // The kernel requires a zeroed buffer.
        self.notif.fill(0);
        // SAFETY: the buffer is at least the kernel's sizeof(struct seccomp_notif) (from
        // SECCOMP_GET_NOTIF_SIZES), and the kernel writes no more than that.
        let r = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV,
                self.notif.as_mut_ptr(),
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel filled a seccomp_notif at the start of the buffer, which is
        // at least that large and 8-aligned (a Vec<u64>); seccomp_notif is plain integers.
        Ok(unsafe { std::ptr::read(self.notif.as_ptr().cast()) })
    }

    /// `SECCOMP_IOCTL_NOTIF_SEND`: the call `id` returns `error` (a negative errno, or 0)
    /// or, with `SECCOMP_USER_NOTIF_FLAG_CONTINUE` in `flags`, runs as it was made. False
    /// when the notification is no longer pending.
    pub(super) fn respond(&mut self, id: u64, error: i32, flags: u32) -> bool {
        self.resp.fill(0);
        let resp = seccomp_notif_resp {
            id,
            val: 0,
            error,
            flags,
        };
        // SAFETY: the buffer is at least size_of::<seccomp_notif_resp>() and 8-aligned
        // (a Vec<u64>), so the write fits; the ioctl reads the kernel's
        // sizeof(struct seccomp_notif_resp), which the buffer also holds, the rest zero for
        // a kernel with a larger struct.
        unsafe {
            std::ptr::write(self.resp.as_mut_ptr().cast(), resp);
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_SEND,
                self.resp.as_mut_ptr(),
            ) == 0
        }
    }

    /// `SECCOMP_IOCTL_NOTIF_ADDFD`: installs `addfd.srcfd` in the caller of notification
    /// `addfd.id`; returns the fd number it got there.
    pub(super) fn add_fd(&self, addfd: &seccomp_notif_addfd) -> io::Result<c_int> {
        // SAFETY: the ioctl reads one `struct seccomp_notif_addfd`, which `addfd` is; the
        // kernel checks `srcfd` itself (EBADF).
        let fd = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ADDFD,
                addfd as *const seccomp_notif_addfd,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(fd)
    }

    /// `SECCOMP_IOCTL_NOTIF_ID_VALID`: the notification is still pending.
    pub(super) fn id_valid(&self, id: u64) -> bool {
        // SAFETY: the ioctl reads one u64, which `id` is.
        unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_ID_VALID,
                &id as *const u64,
            ) == 0
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
