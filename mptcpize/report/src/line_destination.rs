//! Where report lines go, read once from the environment when the library is loaded:
//! `MPTCPIZE_REPORT=/absolute/path` appends them to that file, anything else (or nothing)
//! writes them to the program's stderr.
//!
//! The file is opened once, at load (`O_APPEND`, so lines from several processes do not
//! overwrite each other; `O_CLOEXEC`), and moved to a descriptor near the top of the
//! program's limit, out of the way of the descriptors it uses. Programs do close
//! descriptors they did not open (daemons close everything, some use `close_range`) or
//! reuse the number: before each line the descriptor is checked with `fstat` against the
//! file opened at load (device and inode), and the file is opened again by its path when
//! it is not that file any more. One line is one `write(2)` (at most [`CAPACITY`] bytes,
//! under `PIPE_BUF`), so lines from threads and processes never interleave.
//!
//! Opening the path can never block the program nor write where the launcher did not
//! check: `O_NONBLOCK` (a FIFO planted at the path would otherwise stop every new process of
//! the program at its start, waiting for a reader), `O_NOFOLLOW` and, where the kernel has
//! `openat2(2)` (Linux 5.6), `RESOLVE_NO_SYMLINKS` for every component (the launcher passes
//! the path with its links resolved, so a link met now was planted after it checked), and
//! then `fstat`: anything but a regular file is closed and no line is written to it, said
//! once on the stderr the process started with.
//!
//! Lines for stderr go to descriptor 2 only while it is still the file it was when the
//! library was loaded (same check): a program that closed its stderr may have been given
//! descriptor 2 for a socket or a file of its own, and a report line must never land in
//! the program's data. A program that points its stderr elsewhere (a daemon to
//! `/dev/null`, a server to its log) gets no more lines there; `--report-file` is for them.
//!
//! [`CAPACITY`]: crate::line_buffer::CAPACITY

use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use libc::{c_char, c_int};
use mptcpize_preload_support::env::{value_of, Environment};
use mptcpize_preload_support::errno::SavedErrno;

use crate::next_connection_fns;

/// The variable naming the report file.
const VAR: &[u8] = b"MPTCPIZE_REPORT=";
/// Longest path kept (PATH_MAX).
const PATH_MAX: usize = 4096;

/// The report file's path, NUL-terminated; written once at load, before any thread.
static mut PATH: [u8; PATH_MAX] = [0; PATH_MAX];
/// A report file was asked for.
static TO_FILE: AtomicBool = AtomicBool::new(false);
/// The descriptor of the report file, or -1.
static FD: AtomicI32 = AtomicI32::new(-1);
/// Device and inode of the file opened at load.
static DEV: AtomicU64 = AtomicU64::new(0);
static INO: AtomicU64 = AtomicU64::new(0);

/// Reads `MPTCPIZE_REPORT` from the environment and opens the report file if one is named.
///
/// # Safety
/// Called once, before the program runs any thread.
pub unsafe fn load(env: Environment) {
    for var in env {
        // SAFETY: the environment's strings are NUL-terminated.
        let Some(value) = (unsafe { value_of(var, VAR) }) else {
            continue;
        };
        // SAFETY: `value` is the rest of a NUL-terminated string; PATH is written only
        // here, before any thread.
        unsafe {
            if *value == b'/' {
                let len = libc::strlen(value.cast());
                if len < PATH_MAX {
                    let path = &mut *core::ptr::addr_of_mut!(PATH);
                    core::ptr::copy_nonoverlapping(value, path.as_mut_ptr(), len);
                    path[len] = 0;
                    TO_FILE.store(true, Ordering::Relaxed);
                    reopen(true);
                }
            }
        }
    }
    if !TO_FILE.load(Ordering::Relaxed) {
        remember(libc::STDERR_FILENO);
    }
}

/// Records which file `fd` is (device and inode), for [`is_report_file`].
fn remember(fd: c_int) -> bool {
    // SAFETY: an all-zero stat is valid; fstat fills it.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: fstat on any number is safe.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return false;
    }
    DEV.store(st.st_dev, Ordering::Relaxed);
    INO.store(st.st_ino, Ordering::Relaxed);
    true
}

/// Opens the report file (again) and publishes its descriptor; returns it, or -1. `at_load`:
/// called from the library's constructor, when descriptor 2 is still the stderr the
/// process started with (a refusal is said there, once).
fn reopen(at_load: bool) -> c_int {
    let _errno = SavedErrno::save();
    // PATH is NUL-terminated and no longer written after `load`.
    let path = core::ptr::addr_of!(PATH).cast::<c_char>();
    let fd = open_regular_file(path);
    if fd < 0 {
        if fd == NOT_REGULAR && at_load && !REFUSAL_SAID.swap(true, Ordering::Relaxed) {
            say_not_regular();
        }
        return -1;
    }
    let fd = move_high(fd);
    if !remember(fd) {
        next_connection_fns::close_own(fd);
        return -1;
    }
    let old = FD.swap(fd, Ordering::AcqRel);
    if old >= 0 && old != fd && is_report_file(old) {
        next_connection_fns::close_own(old);
    }
    fd
}

/// [`open_regular_file`]'s answer for a path that is not a regular file, or is reached
/// through a symbolic link.
const NOT_REGULAR: c_int = -2;

/// The refusal of the report file was said on stderr (once per process).
static REFUSAL_SAID: AtomicBool = AtomicBool::new(false);

/// The flags every open of the report file uses: append, create, never block (a FIFO
/// without a reader), never become the controlling terminal, never follow a symbolic link
/// as the last component, close on exec.
const OPEN_FLAGS: c_int = libc::O_WRONLY
    | libc::O_APPEND
    | libc::O_CREAT
    | libc::O_NONBLOCK
    | libc::O_NOCTTY
    | libc::O_NOFOLLOW
    | libc::O_CLOEXEC;

/// `struct open_how` of `openat2(2)` (linux/openat2.h).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `RESOLVE_NO_SYMLINKS`: no symbolic link in any component (magic links included).
const RESOLVE_NO_SYMLINKS: u64 = 0x04;

/// Opens `path` for appending as described in the module documentation: a descriptor of a
/// regular file, [`NOT_REGULAR`] (a FIFO, socket, device, directory, or a symbolic link on
/// the way), or -1 for any other failure.
fn open_regular_file(path: *const c_char) -> c_int {
    let how = OpenHow {
        flags: OPEN_FLAGS as u64,
        mode: 0o644,
        resolve: RESOLVE_NO_SYMLINKS,
    };
    // SAFETY: a NUL-terminated path and an open_how of the size passed.
    let mut fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            path,
            &how as *const OpenHow,
            core::mem::size_of::<OpenHow>(),
        )
    } as c_int;
    if fd < 0 && matches!(errno(), libc::ENOSYS | libc::EPERM) {
        // No openat2 (Linux < 5.6, or a seccomp filter refusing it): the last component
        // is still never followed.
        // SAFETY: a valid path; the mode applies only when the file is created.
        fd = unsafe { libc::open(path, OPEN_FLAGS, 0o644 as libc::c_uint) };
    }
    if fd < 0 {
        return match errno() {
            // ELOOP: a symbolic link; ENXIO: a FIFO without a reader, a socket, a device
            // without its hardware; EISDIR: a directory.
            libc::ELOOP | libc::ENXIO | libc::EISDIR => NOT_REGULAR,
            _ => -1,
        };
    }
    // SAFETY: an all-zero stat is valid; fstat fills it.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: fstat of the descriptor just opened.
    let regular =
        unsafe { libc::fstat(fd, &mut st) } == 0 && st.st_mode & libc::S_IFMT == libc::S_IFREG;
    if !regular {
        // A FIFO with a reader, a character device: opened, but not a file to append to.
        next_connection_fns::close_own(fd);
        return NOT_REGULAR;
    }
    fd
}

fn errno() -> c_int {
    // SAFETY: the calling thread's errno location.
    unsafe { *libc::__errno_location() }
}

/// One line on stderr: the report file is refused in this process.
fn say_not_regular() {
    let prefix = b"mptcpize report: ";
    let reason = b" is not a regular file, or is reached through a symbolic link: no report lines from this process\n";
    // SAFETY: PATH is NUL-terminated and no longer written after `load`.
    let path = unsafe {
        let path = &*core::ptr::addr_of!(PATH);
        &path[..libc::strlen(path.as_ptr().cast())]
    };
    let mut line = [0u8; 256];
    let mut len = 0;
    for part in [&prefix[..], path, &reason[..]] {
        let room = line.len() - len;
        let n = part.len().min(room);
        line[len..len + n].copy_from_slice(&part[..n]);
        len += n;
    }
    if len == line.len() {
        line[len - 1] = b'\n';
    }
    // SAFETY: writing an initialised buffer to the stderr the process started with.
    unsafe { libc::write(libc::STDERR_FILENO, line.as_ptr().cast(), len) };
}

/// Moves `fd` to the lowest free descriptor from 64 below the soft `RLIMIT_NOFILE`, capped
/// at 1024 (where it does not take the number the program's next `open` would get), or
/// leaves it. The cap: the kernel sizes a process's descriptor table to its highest
/// descriptor, and containers often set the limit to 2^20 (an 8 MiB table).
fn move_high(fd: c_int) -> c_int {
    // SAFETY: an all-zero rlimit is valid; getrlimit fills it.
    let mut limit: libc::rlimit = unsafe { core::mem::zeroed() };
    // SAFETY: `limit` is writable.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return fd;
    }
    let top = limit.rlim_cur.min(1024) as c_int;
    if top <= 128 {
        return fd;
    }
    // SAFETY: F_DUPFD_CLOEXEC takes the lowest descriptor number to use.
    let high = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, top - 64) };
    if high < 0 {
        return fd;
    }
    next_connection_fns::close_own(fd);
    high
}

/// True when `fd` is the file recorded at load (same device and inode).
fn is_report_file(fd: c_int) -> bool {
    // SAFETY: an all-zero stat is valid.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: fstat on any number is safe; it fails for a closed one.
    let ok = unsafe { libc::fstat(fd, &mut st) } == 0;
    ok && st.st_dev == DEV.load(Ordering::Relaxed) && st.st_ino == INO.load(Ordering::Relaxed)
}

/// Writes one finished line, keeping errno.
pub fn emit(line: &[u8]) {
    let _errno = SavedErrno::save();
    let fd = if TO_FILE.load(Ordering::Relaxed) {
        let fd = FD.load(Ordering::Acquire);
        if fd >= 0 && is_report_file(fd) {
            fd
        } else {
            match reopen(false) {
                -1 => return,
                fd => fd,
            }
        }
    } else if is_report_file(libc::STDERR_FILENO) {
        libc::STDERR_FILENO
    } else {
        // Descriptor 2 is not the stderr the program started with (see the module doc).
        return;
    };
    // SAFETY: writing an initialised buffer; a failure (closed stderr, full disk) is
    // ignored: the program must not notice the report.
    unsafe { libc::write(fd, line.as_ptr().cast(), line.len()) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_is_recognised() {
        let value = |s: &core::ffi::CStr| unsafe { value_of(s.as_ptr().cast(), VAR) };
        assert!(value(c"MPTCPIZE_REPORT=/tmp/x").is_some());
        assert!(value(c"MPTCPIZE_REPORT=").is_some());
        assert!(value(c"MPTCPIZE_REPORTX=/tmp/x").is_none());
        assert!(value(c"MPTCPIZE_REPOR").is_none());
        assert!(value(c"").is_none());
    }
}
