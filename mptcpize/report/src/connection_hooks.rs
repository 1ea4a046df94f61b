//! The exported functions the dynamic loader binds the program's calls to. Each passes the
//! call on unchanged (same arguments, same result, same errno); around it, the library
//! notes when a connection starts and reports it before its socket goes away.
//!
//! `close()` is the one on every program's path: for a descriptor that holds no tracked
//! connection it costs a bounds check, one load from the table and the call through the
//! cached pointer.

use libc::{c_int, c_void, sockaddr, sockaddr_storage, socklen_t, AF_INET, AF_INET6};

use crate::connection_facts;
use crate::incoming_start::{self, When};
use crate::report_line::{self, End};
use crate::{next_connection_fns, table};
use mptcpize_preload_support::errno::{errno, SavedErrno};

/// True for an `AF_INET`/`AF_INET6` address of at least `len` bytes.
///
/// # Safety
/// `addr` must be NULL or point to `len` readable bytes.
unsafe fn is_inet(addr: *const sockaddr, len: socklen_t) -> bool {
    // SAFETY: the family is the first field; checked against `len` first.
    !addr.is_null()
        && len as usize >= core::mem::size_of::<libc::sa_family_t>()
        && matches!(
            c_int::from(unsafe { (*addr).sa_family }),
            AF_INET | AF_INET6
        )
}

/// The bytes of an address the caller gave or the kernel filled in.
///
/// # Safety
/// `addr` must point to `len` readable bytes.
unsafe fn addr_bytes<'a>(addr: *const sockaddr, len: socklen_t) -> &'a [u8] {
    // SAFETY: as the caller guarantees.
    unsafe { core::slice::from_raw_parts(addr.cast::<u8>(), len as usize) }
}

/// `connect(2)`. An `AF_INET`/`AF_INET6` connect that succeeds or is under way
/// (`EINPROGRESS`, `EINTR`) starts tracking the socket: the time and the peer; once the
/// connection is established (now, or at a later `connect` or `getsockopt(SO_ERROR)` that
/// checks a non-blocking connect), where its incoming data starts (see
/// `incoming_start::start_of_incoming`).
///
/// # Safety
/// Same contract as `connect(2)`: `addr` points to `len` readable bytes.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    let real_connect = next_connection_fns::connect();
    // SAFETY: the caller's address, `len` bytes.
    if table::is_tracked(fd) {
        // A second connect on a socket already tracked: a non-blocking connect checked for
        // completion (0 or EISCONN once established).
        // SAFETY: the caller's arguments, unchanged.
        let ret = unsafe { real_connect(fd, addr, len) };
        if table::needs_rcv_base(fd) && (ret == 0 || errno() == libc::EISCONN) {
            incoming_start::capture_start(fd, When::Checked);
        }
        return ret;
    }
    // SAFETY: the caller's address, `len` bytes.
    if !unsafe { is_inet(addr, len) } {
        // SAFETY: the caller's arguments, unchanged.
        return unsafe { real_connect(fd, addr, len) };
    }
    let start = report_line::now_ns();
    // SAFETY: the caller's arguments, unchanged.
    let ret = unsafe { real_connect(fd, addr, len) };
    if ret == 0 || matches!(errno(), libc::EINPROGRESS | libc::EINTR) {
        // SAFETY: the caller's address, `len` bytes.
        table::track(fd, start, false, unsafe { addr_bytes(addr, len) }, 0);
        if ret == 0 {
            incoming_start::capture_start(fd, When::Established);
        }
    }
    ret
}

/// `accept(2)`: the accepted connection is tracked from now.
///
/// # Safety
/// Same contract as `accept(2)`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: the caller's arguments, unchanged.
    unsafe {
        let given = buffer_len(addr, len);
        accepted(
            fd,
            next_connection_fns::accept()(fd, addr, len),
            addr,
            len,
            given,
        )
    }
}

/// `accept4(2)`: the accepted connection is tracked from now.
///
/// # Safety
/// Same contract as `accept4(2)`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    // SAFETY: the caller's arguments, unchanged.
    unsafe {
        let given = buffer_len(addr, len);
        accepted(
            fd,
            next_connection_fns::accept4()(fd, addr, len, flags),
            addr,
            len,
            given,
        )
    }
}

/// The size of the caller's address buffer (0 when there is none).
///
/// # Safety
/// `len` must be NULL or readable.
unsafe fn buffer_len(addr: *mut sockaddr, len: *mut socklen_t) -> socklen_t {
    if addr.is_null() || len.is_null() {
        0
    } else {
        // SAFETY: as the caller guarantees.
        unsafe { *len }
    }
}

/// Tracks the socket `accept`/`accept4` returned, with the peer the kernel wrote to the
/// caller's buffer (`given` bytes), or asked with `getpeername` when the caller passed no
/// buffer or one too small for the address.
///
/// # Safety
/// `addr`/`len` as given to `accept`, `given` the buffer's size before the call.
unsafe fn accepted(
    listener: c_int,
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    given: socklen_t,
) -> c_int {
    if fd < 0 {
        return fd;
    }
    let _errno = SavedErrno::save();
    let start = report_line::now_ns();
    let marks = if connection_facts::is_mptcp_socket(listener) {
        table::MPTCP_LISTENER
    } else {
        0
    };
    if given > 0 {
        // SAFETY: the kernel wrote min(given, *len) bytes; *len is the address's length.
        let n = unsafe { *len };
        if n <= given {
            // SAFETY: `n` bytes written.
            if unsafe { is_inet(addr, n) } {
                // SAFETY: as above.
                table::track(fd, start, true, unsafe { addr_bytes(addr, n) }, marks);
                incoming_start::capture_start(fd, When::Established);
            }
            return fd;
        }
    }
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut peer: sockaddr_storage = unsafe { core::mem::zeroed() };
    let mut n = core::mem::size_of::<sockaddr_storage>() as socklen_t;
    let peer_ptr = (&mut peer as *mut sockaddr_storage).cast::<sockaddr>();
    // SAFETY: a writable buffer of `n` bytes; `peer_ptr` points to it.
    if unsafe { libc::getpeername(fd, peer_ptr, &mut n) } == 0 && unsafe { is_inet(peer_ptr, n) } {
        // SAFETY: the kernel wrote `n` bytes.
        table::track(fd, start, true, unsafe { addr_bytes(peer_ptr, n) }, marks);
        incoming_start::capture_start(fd, When::Established);
    }
    fd
}

/// `close(2)`: a tracked connection is reported first, while its socket still answers.
///
/// # Safety
/// Same contract as `close(2)`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    if table::is_tracked(fd) {
        report_line::closing(fd, End::Close);
    }
    // SAFETY: the caller's argument.
    unsafe { next_connection_fns::close()(fd) }
}

/// `dup2(2)`: a tracked connection on `new` (which dup2 closes) is reported first.
///
/// # Safety
/// Same contract as `dup2(2)`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    if old != new && table::is_tracked(new) {
        report_line::closing(new, End::Close);
    }
    // SAFETY: the caller's arguments.
    unsafe { next_connection_fns::dup2()(old, new) }
}

/// `dup3(2)`: a tracked connection on `new` (which dup3 closes) is reported first.
///
/// # Safety
/// Same contract as `dup3(2)`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    if old != new && table::is_tracked(new) {
        report_line::closing(new, End::Close);
    }
    // SAFETY: the caller's arguments.
    unsafe { next_connection_fns::dup3()(old, new, flags) }
}

/// `getsockopt(2)`: `SO_ERROR` on a tracked connection is how programs check a non-blocking
/// connect (`connect(2)`'s manual); once it is established, where its incoming data starts
/// is captured (see `incoming_start::start_of_incoming`). Every other call: one table load more.
///
/// # Safety
/// Same contract as `getsockopt(2)`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    // SAFETY: the caller's arguments, unchanged.
    let ret = unsafe { next_connection_fns::getsockopt()(fd, level, name, value, len) };
    if ret == 0 && level == libc::SOL_SOCKET && name == libc::SO_ERROR && table::needs_rcv_base(fd)
    {
        incoming_start::capture_start(fd, When::Checked);
    }
    ret
}

/// `shutdown(2)`: on a tracked connection, samples its subflows first (once both sides have
/// finished, the kernel drops them before the program's `close`), and notes a shut sending
/// side (MPTCP's DATA_FIN takes a sequence number, which is not data) or receiving side
/// (which looks like a received DATA_FIN to `poll`).
///
/// # Safety
/// Same contract as `shutdown(2)`.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn shutdown(fd: c_int, how: c_int) -> c_int {
    if !table::is_tracked(fd) {
        // SAFETY: the caller's arguments.
        return unsafe { next_connection_fns::shutdown()(fd, how) };
    }
    connection_facts::sample_subflows(fd);
    // SAFETY: the caller's arguments.
    let ret = unsafe { next_connection_fns::shutdown()(fd, how) };
    if ret == 0 {
        let mark = match how {
            libc::SHUT_WR => table::SHUT_WR,
            libc::SHUT_RD => table::SHUT_RD,
            libc::SHUT_RDWR => table::SHUT_WR | table::SHUT_RD,
            _ => 0,
        };
        table::note(fd, mark, 0);
    }
    ret
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback_sockets;
    use mptcpize_preload_support::errno::set_errno;
    use socket2::{Domain, SockAddr, Socket, Type};
    use std::os::fd::{AsRawFd, IntoRawFd};

    #[test]
    fn connect_accept_close_track_and_keep_errno() {
        let listener = loopback_sockets::listener(libc::IPPROTO_TCP).unwrap();
        let addr: SockAddr = listener.local_addr().unwrap();
        let client = Socket::new(Domain::IPV4, Type::STREAM, None)
            .unwrap()
            .into_raw_fd();
        // SAFETY: a valid address of `len` bytes.
        assert_eq!(
            unsafe { connect(client, addr.as_ptr().cast(), addr.len()) },
            0
        );
        assert!(table::is_tracked(client));
        // SAFETY: all-zero is a valid sockaddr_storage; the buffer is big enough.
        let mut peer: sockaddr_storage = unsafe { core::mem::zeroed() };
        let mut len = core::mem::size_of::<sockaddr_storage>() as socklen_t;
        // SAFETY: a writable buffer of `len` bytes.
        let server = unsafe {
            accept4(
                listener.as_raw_fd(),
                (&mut peer as *mut sockaddr_storage).cast(),
                &mut len,
                libc::SOCK_CLOEXEC,
            )
        };
        assert!(server >= 0);
        assert!(table::is_tracked(server));
        // A second connect (a non-blocking connect checked for completion) keeps the start.
        // SAFETY: as above.
        let again = unsafe { connect(client, addr.as_ptr().cast(), addr.len()) };
        assert_eq!((again, errno()), (-1, libc::EISCONN));
        for fd in [client, server] {
            set_errno(libc::EXDEV);
            // SAFETY: closing descriptors this test owns.
            assert_eq!(unsafe { close(fd) }, 0);
            assert_eq!(errno(), libc::EXDEV, "errno kept across the report");
            assert!(!table::is_tracked(fd));
        }
        // The real close's own result and errno are the program's. Not `client` again:
        // other tests run on other threads of this process, and one of them may already
        // own that number. No descriptor can be at or above RLIMIT_NOFILE.
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a writable rlimit.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        let never_open = limit.rlim_cur.min(65_535) as c_int;
        // SAFETY: closing a descriptor number that cannot be open.
        assert_eq!(unsafe { close(never_open) }, -1);
        assert_eq!(errno(), libc::EBADF);
        // A UNIX socket pair is never tracked.
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert!(!table::is_tracked(a.as_raw_fd()));
    }

    #[mptcp_tests::needs(mptcp_enabled)]
    #[test]
    fn non_blocking_connect_start_is_read_when_the_program_checks_it() {
        let Some(listener) = loopback_sockets::listener(mptcp_sys::IPPROTO_MPTCP) else {
            mptcp_tests::skip_unless(
                "non_blocking_connect_start_is_read_when_the_program_checks_it",
                Some("socket(IPPROTO_MPTCP) refused (net.mptcp.enabled=0 here?)"),
            );
            return;
        };
        let addr: SockAddr = listener.local_addr().unwrap();
        let client = Socket::new(
            Domain::IPV4,
            Type::STREAM.nonblocking(),
            Some(socket2::Protocol::from(mptcp_sys::IPPROTO_MPTCP)),
        )
        .unwrap();
        let fd = client.as_raw_fd();
        // SAFETY: a valid address of `len` bytes.
        let ret = unsafe { connect(fd, addr.as_ptr().cast(), addr.len()) };
        assert!(ret == 0 || errno() == libc::EINPROGRESS);
        assert!(table::is_tracked(fd));
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one pollfd.
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 5_000) }, 1);
        let mut error: c_int = -1;
        let mut len = core::mem::size_of::<c_int>() as socklen_t;
        // SAFETY: an int and its length.
        let ret = unsafe {
            getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut error as *mut c_int).cast(),
                &mut len,
            )
        };
        assert_eq!((ret, error), (0, 0));
        assert!(!table::needs_rcv_base(fd), "captured at the SO_ERROR check");
        let tracked = table::take(fd).unwrap();
        let mut info = mptcp_sys::mptcp_info::default();
        let mut len = core::mem::size_of_val(&info) as socklen_t;
        // SAFETY: a writable mptcp_info and its length.
        let ret = unsafe {
            getsockopt(
                fd,
                mptcp_sys::SOL_MPTCP,
                mptcp_sys::MPTCP_INFO,
                (&mut info as *mut mptcp_sys::mptcp_info).cast(),
                &mut len,
            )
        };
        assert_eq!(ret, 0);
        assert_eq!(
            tracked.rcv_base,
            Some(info.mptcpi_rcv_nxt),
            "nothing received yet"
        );
    }
}
