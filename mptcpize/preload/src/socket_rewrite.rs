//! The hot path of the `socket()` hook: a TCP request made `IPPROTO_MPTCP` through the next
//! definition of `socket` (glibc's, or another preloaded library's: torsocks,
//! socket_wrapper, a kernel-bypass stack, which so still sees every call), and the new
//! socket recorded in `made_mptcp` with its identity (its inode number, one `fstat`).
//!
//! The hook reads one pointer ([`chosen`]) and jumps: to [`rewrite_via_next`] once the
//! constructor ran ([`publish`]), or, before that and while debug logging is on, to
//! `socket_hooks::rewrite_slow` (logging, through the next `socket` or the system call).
//!
//! Plain Rust on purpose. A version that recognised glibc's `socket` stub by its machine
//! code and made the two system calls itself in hand-written assembly saved 25
//! instructions per `socket()` (a few ns, estimated from the count, next to a system call
//! of microseconds; BENCHMARKS.md): not worth assembly and machine-code matching in a library loaded into
//! every program.

use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, Ordering};
use libc::c_int;
use mptcp_policy::IPPROTO_MPTCP;

use crate::{made_mptcp, next_socket_fns, settings, socket_hooks};

/// The rewrite's C signature: `socket(domain, type, protocol)` for a TCP request.
pub type RewriteFn = unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;

/// NULL (in `.bss`) until [`publish`]: a non-NULL initial value would put this in `.data`,
/// after which the dynamic loader clears the rest of that page by hand at every load
/// (~800 instructions, BENCHMARKS.md).
static REWRITE: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());

/// The rewrite [`publish`] chose, or `None` (then `socket_hooks::rewrite_slow`).
#[inline(always)]
pub fn chosen() -> Option<RewriteFn> {
    let f = REWRITE.load(Ordering::Relaxed);
    // SAFETY: only `publish` stores here, and only a `RewriteFn`.
    (!f.is_null()).then(|| unsafe { core::mem::transmute::<*mut c_void, RewriteFn>(f) })
}

/// Publishes [`rewrite_via_next`] for the hook, once, in the library's constructor, after
/// `next_socket_fns` resolved the next `socket` and the settings were read (with debug
/// logging on, the hook keeps the logging rewrite).
pub fn publish() {
    if settings::debug() {
        return;
    }
    REWRITE.store(rewrite_via_next as *mut c_void, Ordering::Relaxed);
}

/// The rewrite through the next `socket`.
unsafe extern "C" fn rewrite_via_next(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    // SAFETY: the caller's arguments, with only the protocol changed.
    let fd = unsafe { next_socket_fns::socket()(domain, ty, IPPROTO_MPTCP) };
    if made_mptcp::mark(fd) || fd >= 0 {
        return fd;
    }
    socket_hooks::mptcp_refused(next_socket_fns::socket(), domain, ty, protocol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_makes_and_records_an_mptcp_socket() {
        next_socket_fns::resolve();
        // SAFETY: plain integers.
        let fd = unsafe { rewrite_via_next(libc::AF_INET, libc::SOCK_STREAM, 0) };
        assert!(fd >= 0, "{}", std::io::Error::last_os_error());
        let mut proto: c_int = 0;
        let mut len = size_of::<c_int>() as libc::socklen_t;
        // SAFETY: an int buffer.
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_PROTOCOL,
                (&mut proto as *mut c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(r, 0);
        // MPTCP where the kernel has it (the fallback gives TCP otherwise).
        assert!(proto == IPPROTO_MPTCP || proto == libc::IPPROTO_TCP);
        if proto == IPPROTO_MPTCP {
            assert!(made_mptcp::made_here(fd));
        }
        // SAFETY: our fd.
        unsafe { libc::close(fd) };
        assert!(!made_mptcp::made_here(fd));
    }
}
