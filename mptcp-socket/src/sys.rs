//! The few raw syscalls the library makes itself; everything else goes through std/socket2.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use zerocopy::{FromBytes, IntoBytes};

/// Calls a libc function and turns `-1` into `io::Error::last_os_error()`.
macro_rules! syscall {
    ($fn: ident ( $($arg: expr),* $(,)* ) ) => {{
        #[allow(unused_unsafe)]
        let res = unsafe { libc::$fn($($arg, )*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

/// `getsockopt(2)` into `buf`, returning how many bytes the kernel wrote (`optlen`).
///
/// Unlike socket2's and nix's generic getters, a shorter answer than `buf` is not an error:
/// MPTCP structs grew with kernel versions, and the returned length says which fields the
/// running kernel knows.
pub(crate) fn getsockopt_bytes(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    buf: &mut [u8],
) -> io::Result<usize> {
    let mut len = libc::socklen_t::try_from(buf.len()).unwrap_or(libc::socklen_t::MAX);
    syscall!(getsockopt(
        fd.as_raw_fd(),
        level,
        name,
        buf.as_mut_ptr().cast(),
        &mut len
    ))?;
    Ok((len as usize).min(buf.len()))
}

/// `getsockopt(2)` for an `int` option.
pub(crate) fn getsockopt_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<libc::c_int> {
    let mut buf = [0u8; size_of::<libc::c_int>()];
    let len = getsockopt_bytes(fd, level, name, &mut buf)?;
    if len < buf.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("getsockopt({level}, {name}) returned {len} bytes, expected an int"),
        ));
    }
    Ok(libc::c_int::from_ne_bytes(buf))
}

/// Reads a `T` from the first bytes of `bytes`, zero-filling whatever `bytes` does not
/// cover (a kernel's shorter answer). `T`'s derives prove it has no padding and accepts any
/// bytes.
pub(crate) fn read_prefix<T: FromBytes + IntoBytes>(bytes: &[u8]) -> T {
    let mut value = T::new_zeroed();
    let n = bytes.len().min(size_of::<T>());
    value.as_mut_bytes()[..n].copy_from_slice(&bytes[..n]);
    value
}

/// Reads a `#[repr(C)]` plain-old-data value from the first bytes of `bytes`, zero-filling
/// whatever `bytes` does not cover. Only for the sockaddr unions, which hold libc types
/// that have no `zerocopy` derives; everything else uses [`read_prefix`].
///
/// # Safety
/// `T` must be valid for every bit pattern (integers, arrays of them, sockaddr unions).
pub(crate) unsafe fn read_pod<T: Copy>(bytes: &[u8]) -> T {
    let mut value = std::mem::MaybeUninit::<T>::zeroed();
    let n = bytes.len().min(size_of::<T>());
    // SAFETY: n bytes fit in both; T accepts any bit pattern (caller's contract).
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), value.as_mut_ptr().cast::<u8>(), n);
        value.assume_init()
    }
}
