//! One-line debug messages on stderr, built in a stack buffer and written with one
//! `write(2)`: no allocation, no lock, no stdio buffering shared with the program, and errno
//! left as it was.

use core::mem::MaybeUninit;
use libc::c_int;
use mptcpize_preload_support::errno::{errno_name, SavedErrno};
use mptcpize_preload_support::names::Sink;
use mptcpize_preload_support::raw_syscall;

/// Length of the line buffer, newline included.
const LINE_LEN: usize = 320;

/// A line being built on the stack; longer text is cut, never an overflow.
///
/// Bytes are stored one by one with volatile writes and the buffer is never zeroed, so the
/// compiler emits no `memcpy`/`memset` call: each would be one more symbol the dynamic
/// loader resolves whenever the shim is loaded (see `mptcpize_preload_support::raw_syscall`).
///
/// The report library keeps a line type of its own (`mptcpize-report`'s `LineBuffer`) on
/// purpose: its 2 KiB lines are zeroed and filled by whole-slice copies (`memset`,
/// `memcpy`). One shared type would bring `memset` into the shim (one more import resolved
/// in every program) or byte-by-byte volatile stores into every report line.
pub struct DebugLine {
    buf: [MaybeUninit<u8>; LINE_LEN],
    len: usize,
}

impl DebugLine {
    /// A line starting with `mptcpize: `.
    #[inline(always)]
    pub fn new() -> DebugLine {
        let mut line = DebugLine {
            buf: [const { MaybeUninit::uninit() }; LINE_LEN],
            len: 0,
        };
        line.text("mptcpize: ");
        line
    }

    /// Appends `s`.
    pub fn text(&mut self, s: &str) -> &mut DebugLine {
        self.bytes(s.as_bytes())
    }

    /// Appends one byte, unless only the newline's place is left.
    fn byte(&mut self, b: u8) {
        if self.len < LINE_LEN - 1 {
            // SAFETY: in bounds (checked above).
            unsafe {
                self.buf
                    .as_mut_ptr()
                    .add(self.len)
                    .cast::<u8>()
                    .write_volatile(b)
            };
            self.len += 1;
        }
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, s: &[u8]) -> &mut DebugLine {
        for &b in s {
            self.byte(b);
        }
        self
    }

    /// Appends a decimal integer.
    pub fn int(&mut self, value: i64) -> &mut DebugLine {
        if value < 0 {
            self.byte(b'-');
        }
        let v = value.unsigned_abs();
        let mut div = 1u64;
        while v / div >= 10 {
            div *= 10;
        }
        loop {
            self.byte(b'0' + (v / div % 10) as u8);
            if div == 1 {
                return self;
            }
            div /= 10;
        }
    }

    /// Appends the errno's symbolic name and number, e.g. `ENOPROTOOPT (92)`.
    pub fn errno(&mut self, e: c_int) -> &mut DebugLine {
        self.text(errno_name(e).unwrap_or("errno"))
            .text(" (")
            .int(e.into())
            .text(")")
    }

    /// The finished line, with its newline.
    pub fn as_bytes(&mut self) -> &[u8] {
        // SAFETY: `len < LINE_LEN` always; bytes up to `len` are written, then the newline.
        unsafe {
            self.buf
                .as_mut_ptr()
                .add(self.len)
                .cast::<u8>()
                .write_volatile(b'\n');
            core::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), self.len + 1)
        }
    }

    /// Writes the line to stderr in one `write(2)`, keeping errno.
    pub fn emit(&mut self) {
        let _errno = SavedErrno::save();
        // A failure (stderr closed) is ignored.
        raw_syscall::write(2, self.as_bytes());
    }
}

impl Sink for DebugLine {
    fn text(&mut self, s: &str) {
        DebugLine::text(self, s);
    }

    fn int(&mut self, value: i64) {
        DebugLine::int(self, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mptcpize_preload_support::names::socket_call;

    #[test]
    fn line_formatting() {
        let mut line = DebugLine::new();
        socket_call(
            &mut line,
            libc::AF_INET6,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
        );
        line.text(" = ").int(-1).text(": ").errno(libc::ENOPROTOOPT);
        assert_eq!(
            line.as_bytes(),
            b"mptcpize: socket(AF_INET6, SOCK_STREAM|SOCK_CLOEXEC, 0) = -1: ENOPROTOOPT (92)\n"
        );
        let mut long = DebugLine::new();
        for _ in 0..100 {
            long.text("0123456789");
        }
        assert_eq!(long.as_bytes().len(), LINE_LEN);
        assert_eq!(long.as_bytes().last(), Some(&b'\n'));
        let mut min = DebugLine::new();
        min.int(i64::MIN)
            .text(" ")
            .int(0)
            .text(" ")
            .int(10)
            .text(" ")
            .int(i64::MAX);
        assert_eq!(
            min.as_bytes(),
            b"mptcpize: -9223372036854775808 0 10 9223372036854775807\n"
        );
    }
}
