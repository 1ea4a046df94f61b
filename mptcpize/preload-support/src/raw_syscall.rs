//! The system calls the libraries' rare paths make, and the stand-ins for functions
//! `dlsym(RTLD_NEXT)` does not find, issued directly (`syscall` instruction on x86_64,
//! `svc` on aarch64).
//!
//! Every function a shared library imports is looked up by the dynamic loader when the
//! library is loaded (rustc links with `-z now` and calls imports through the GOT), in every
//! program started under the shim (what each costs: BENCHMARKS.md, the shim's start-up
//! section, `cargo bench -p mptcpize --bench shim`). Issuing the
//! system calls here instead of through eight libc wrappers, or through `syscall(2)`,
//! keeps those lookups out of every program's start-up; on other architectures glibc's
//! `syscall(2)` does it. Same contracts and errno behaviour as the libc wrappers of the
//! same names: -1 with errno set on failure.

use core::ffi::c_void;
use libc::{c_int, c_long, sockaddr, socklen_t};

use crate::errno::set_errno;

/// System call `nr` with up to six arguments (unused ones 0), as `syscall(2)` makes it: the
/// kernel's result, or -1 with errno set when the kernel returns -4095..-1.
///
/// # Safety
/// The arguments must be valid for system call `nr` (pointers to buffers of the sizes the
/// call expects).
#[inline]
unsafe fn syscall(nr: c_long, args: [usize; 6]) -> c_long {
    // SAFETY: the caller's arguments.
    let ret = unsafe { kernel_call(nr, args) };
    if (-4095..0).contains(&ret) {
        set_errno(-ret as c_int);
        return -1;
    }
    ret
}

/// System call `nr` as the kernel answers it: the result, or `-errno`; errno is not touched
/// (for calls on a path that must leave the program's errno as it was).
///
/// # Safety
/// As [`syscall`].
#[inline(always)]
unsafe fn kernel_call(nr: c_long, args: [usize; 6]) -> c_long {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        let ret: c_long;
        // SAFETY: the caller's arguments; the kernel preserves every register but the
        // result register (and rcx, r11 on x86_64, declared clobbered). Buffers the
        // kernel writes are covered by the default memory clobber.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            core::arch::asm!(
                "syscall",
                inlateout("rax") nr => ret,
                in("rdi") args[0],
                in("rsi") args[1],
                in("rdx") args[2],
                in("r10") args[3],
                in("r8") args[4],
                in("r9") args[5],
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        // SAFETY: as above (x8 holds the number, x0 the first argument and the result).
        #[cfg(target_arch = "aarch64")]
        unsafe {
            core::arch::asm!(
                "svc 0",
                in("x8") nr,
                inlateout("x0") args[0] => ret,
                in("x1") args[1],
                in("x2") args[2],
                in("x3") args[3],
                in("x4") args[4],
                in("x5") args[5],
                options(nostack),
            );
        }
        ret
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    // SAFETY: the caller's arguments; glibc's errno is saved and restored around it.
    unsafe {
        let saved = crate::errno::errno();
        let ret = libc::syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]);
        let ret = if ret == -1 {
            -(crate::errno::errno() as c_long)
        } else {
            ret
        };
        set_errno(saved);
        ret
    }
}

/// The inode number of the file at `fd` (`fstat(2)`'s `st_ino`), or `u64::MAX` when `fd`
/// is not open. A socket's inode number is unique among the open sockets (sockfs takes it
/// from a 32-bit counter: `u64::MAX` is never one). errno is left as it was.
#[inline]
pub fn inode(fd: c_int) -> u64 {
    let mut st = core::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: a `struct stat` buffer on this stack frame.
    let ret = unsafe {
        kernel_call(
            libc::SYS_fstat,
            [a(fd), st.as_mut_ptr() as usize, 0, 0, 0, 0],
        )
    };
    if ret == 0 {
        // SAFETY: the kernel filled the struct.
        unsafe { st.assume_init() }.st_ino
    } else {
        u64::MAX
    }
}

/// An `int` argument, sign-extended as the C calling convention passes it.
#[inline(always)]
fn a(value: c_int) -> usize {
    value as isize as usize
}

#[inline]
fn int(r: c_long) -> c_int {
    r as c_int
}

/// `socket(2)`.
pub fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    // SAFETY: integers only.
    int(unsafe { syscall(libc::SYS_socket, [a(domain), a(ty), a(protocol), 0, 0, 0]) })
}

/// `setsockopt(2)`.
///
/// # Safety
/// `value` must point to `len` readable bytes.
pub unsafe fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
) -> c_int {
    // SAFETY: the caller's buffer and length.
    int(unsafe {
        syscall(
            libc::SYS_setsockopt,
            [a(fd), a(level), a(name), value as usize, len as usize, 0],
        )
    })
}

/// `getsockopt(2)`.
///
/// # Safety
/// `value` must be writable for `*len` bytes and `len` readable and writable.
pub unsafe fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    // SAFETY: the caller's buffer and length.
    int(unsafe {
        syscall(
            libc::SYS_getsockopt,
            [a(fd), a(level), a(name), value as usize, len as usize, 0],
        )
    })
}

/// `listen(2)`.
pub fn listen(fd: c_int, backlog: c_int) -> c_int {
    // SAFETY: integers only.
    int(unsafe { syscall(libc::SYS_listen, [a(fd), a(backlog), 0, 0, 0, 0]) })
}

/// `getsockname(2)`.
///
/// # Safety
/// `addr` must be writable for `*len` bytes and `len` readable and writable.
pub unsafe fn getsockname(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: the caller's buffer and length.
    int(unsafe {
        syscall(
            libc::SYS_getsockname,
            [a(fd), addr as usize, len as usize, 0, 0, 0],
        )
    })
}

/// `getpeername(2)`.
///
/// # Safety
/// `addr` must be writable for `*len` bytes and `len` readable and writable.
pub unsafe fn getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: the caller's buffer and length.
    int(unsafe {
        syscall(
            libc::SYS_getpeername,
            [a(fd), addr as usize, len as usize, 0, 0, 0],
        )
    })
}

/// `bind(2)`.
///
/// # Safety
/// `addr` must point to `len` readable bytes.
pub unsafe fn bind(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    // SAFETY: the caller's address and length.
    int(unsafe {
        syscall(
            libc::SYS_bind,
            [a(fd), addr as usize, len as usize, 0, 0, 0],
        )
    })
}

/// `fcntl(2)` with no argument (`F_GETFL`, `F_GETFD`).
pub fn fcntl_get(fd: c_int, cmd: c_int) -> c_int {
    // SAFETY: a query with no pointer argument.
    int(unsafe { syscall(libc::SYS_fcntl, [a(fd), a(cmd), 0, 0, 0, 0]) })
}

/// `dup3(2)`.
pub fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    // SAFETY: integers only; the caller owns both fds.
    int(unsafe { syscall(libc::SYS_dup3, [a(old), a(new), a(flags), 0, 0, 0]) })
}

/// `close(2)`.
pub fn close(fd: c_int) -> c_int {
    // SAFETY: the caller owns `fd`.
    int(unsafe { syscall(libc::SYS_close, [a(fd), 0, 0, 0, 0, 0]) })
}

/// `write(2)`.
pub fn write(fd: c_int, buf: &[u8]) -> isize {
    // SAFETY: an initialised buffer of `buf.len()` bytes.
    unsafe {
        syscall(
            libc::SYS_write,
            [a(fd), buf.as_ptr() as usize, buf.len(), 0, 0, 0],
        ) as isize
    }
}

/// `connect(2)`.
///
/// # Safety
/// `addr` must point to `len` readable bytes.
pub unsafe fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    // SAFETY: the caller's address and length.
    int(unsafe {
        syscall(
            libc::SYS_connect,
            [a(fd), addr as usize, len as usize, 0, 0, 0],
        )
    })
}

/// `accept4(2)` (`accept` is `accept4` with no flags).
///
/// # Safety
/// `addr` must be NULL or writable for `*len` bytes, `len` NULL or readable and writable.
pub unsafe fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    // SAFETY: the caller's buffer and length.
    int(unsafe {
        syscall(
            libc::SYS_accept4,
            [a(fd), addr as usize, len as usize, a(flags), 0, 0],
        )
    })
}

/// `shutdown(2)`.
pub fn shutdown(fd: c_int, how: c_int) -> c_int {
    // SAFETY: integers only.
    int(unsafe { syscall(libc::SYS_shutdown, [a(fd), a(how), 0, 0, 0, 0]) })
}

/// `getpid(2)`.
pub fn getpid() -> c_int {
    // SAFETY: no arguments.
    int(unsafe { syscall(libc::SYS_getpid, [0; 6]) })
}

/// `gettid(2)`.
pub fn gettid() -> c_int {
    // SAFETY: no arguments.
    int(unsafe { syscall(libc::SYS_gettid, [0; 6]) })
}

/// `tgkill(2)`: `signal` to thread `tid` of process `pid`.
pub fn tgkill(pid: c_int, tid: c_int, signal: c_int) -> c_int {
    // SAFETY: integers only.
    int(unsafe { syscall(libc::SYS_tgkill, [a(pid), a(tid), a(signal), 0, 0, 0]) })
}

/// `exit_group(2)`: ends every thread of the process with `status`, without running
/// `atexit` handlers or flushing stdio (`_exit(2)`).
pub fn exit_group(status: c_int) -> ! {
    loop {
        // SAFETY: integers only. exit_group does not return; the loop only gives the
        // function its `!` type without an instruction that traps.
        unsafe { syscall(libc::SYS_exit_group, [a(status), 0, 0, 0, 0, 0]) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::errno;
    use core::mem::{size_of, MaybeUninit};

    #[test]
    fn results_and_errno_as_libc_gives_them() {
        crate::errno::set_errno(0);
        assert_eq!(close(-1), -1);
        assert_eq!(errno(), libc::EBADF);
        assert_eq!(fcntl_get(c_int::MAX, libc::F_GETFD), -1);
        assert_eq!(errno(), libc::EBADF);

        let fd = socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: errno {}", errno());
        let on: c_int = 1;
        // SAFETY: an int option, its address and size.
        let r = unsafe {
            setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_KEEPALIVE,
                (&on as *const c_int).cast(),
                size_of::<c_int>() as socklen_t,
            )
        };
        assert_eq!(r, 0);
        let mut value: c_int = 0;
        let mut len = size_of::<c_int>() as socklen_t;
        // SAFETY: an int-sized buffer and its length.
        let r = unsafe {
            getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_KEEPALIVE,
                (&mut value as *mut c_int).cast(),
                &mut len,
            )
        };
        assert_eq!((r, value, len as usize), (0, 1, size_of::<c_int>()));
        assert_eq!(
            fcntl_get(fd, libc::F_GETFD) & libc::FD_CLOEXEC,
            libc::FD_CLOEXEC
        );
        let mut peer = MaybeUninit::<libc::sockaddr_storage>::zeroed();
        let mut peer_len = size_of::<libc::sockaddr_storage>() as socklen_t;
        // SAFETY: a sockaddr_storage-sized buffer.
        let r = unsafe { getpeername(fd, peer.as_mut_ptr().cast(), &mut peer_len) };
        assert_eq!((r, errno()), (-1, libc::ENOTCONN));
        assert_eq!(write(-1, b"x"), -1);
        assert_eq!(errno(), libc::EBADF);
        assert_eq!(close(fd), 0);
    }
}
