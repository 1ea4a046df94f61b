//! One-line debug messages on stderr, built in a stack buffer and written with one
//! `write(2)`: no allocation, no lock, no stdio buffering shared with the program, and errno
//! left as it was.

use libc::c_int;

/// errno saved when created and put back when dropped, so the shim's own calls (logging,
/// `dlsym`, the checks in `plain_tcp`) never change what the program sees.
pub struct SavedErrno(c_int);

impl SavedErrno {
    /// Saves the calling thread's errno.
    #[inline]
    pub fn save() -> SavedErrno {
        SavedErrno(errno())
    }
}

impl Drop for SavedErrno {
    #[inline]
    fn drop(&mut self) {
        set_errno(self.0);
    }
}

/// The calling thread's errno.
#[inline(always)]
pub fn errno() -> c_int {
    // SAFETY: __errno_location always returns this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's errno.
#[inline(always)]
pub fn set_errno(value: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = value }
}

/// A line being built; longer text is cut, never an overflow.
pub struct Line {
    buf: [u8; 320],
    len: usize,
}

impl Line {
    /// A line starting with `mptcpize: `.
    pub fn new() -> Line {
        let mut line = Line {
            buf: [0; 320],
            len: 0,
        };
        line.text("mptcpize: ");
        line
    }

    /// Appends `s`.
    pub fn text(&mut self, s: &str) -> &mut Line {
        self.bytes(s.as_bytes())
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, s: &[u8]) -> &mut Line {
        // Keep one byte for the newline.
        let room = self.buf.len() - 1 - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
        self
    }

    /// Appends a decimal integer.
    pub fn int(&mut self, value: i64) -> &mut Line {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = value.unsigned_abs();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        if value < 0 {
            self.text("-");
        }
        self.bytes(&digits[i..])
    }

    /// Appends the errno's symbolic name and number, e.g. `ENOPROTOOPT (92)`.
    pub fn errno(&mut self, e: c_int) -> &mut Line {
        self.text(errno_name(e)).text(" (").int(e.into()).text(")")
    }

    /// The finished line, with its newline.
    pub fn as_bytes(&mut self) -> &[u8] {
        self.buf[self.len] = b'\n';
        &self.buf[..=self.len]
    }

    /// Writes the line to stderr in one `write(2)`, keeping errno.
    pub fn emit(&mut self) {
        let _errno = SavedErrno::save();
        let bytes = self.as_bytes();
        // SAFETY: writing an initialised buffer; a failure (stderr closed) is ignored.
        unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
    }
}

/// The symbolic name of the errnos the shim reports.
fn errno_name(e: c_int) -> &'static str {
    match e {
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::EINVAL => "EINVAL",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::ENOBUFS => "ENOBUFS",
        libc::ENOMEM => "ENOMEM",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EBADF => "EBADF",
        _ => "errno",
    }
}

/// Names for the socket() arguments, for the log line.
pub fn domain_name(domain: c_int) -> &'static str {
    match domain {
        libc::AF_INET => "AF_INET",
        libc::AF_INET6 => "AF_INET6",
        libc::AF_UNIX => "AF_UNIX",
        libc::AF_NETLINK => "AF_NETLINK",
        libc::AF_PACKET => "AF_PACKET",
        _ => "",
    }
}

/// Appends `socket(domain, type, protocol)` with symbolic names where known.
pub fn socket_call(line: &mut Line, domain: c_int, ty: c_int, protocol: c_int) {
    line.text("socket(");
    match domain_name(domain) {
        "" => line.int(domain.into()),
        name => line.text(name),
    };
    line.text(", ");
    let base = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    match base {
        libc::SOCK_STREAM => line.text("SOCK_STREAM"),
        libc::SOCK_DGRAM => line.text("SOCK_DGRAM"),
        libc::SOCK_RAW => line.text("SOCK_RAW"),
        libc::SOCK_SEQPACKET => line.text("SOCK_SEQPACKET"),
        other => line.int(other.into()),
    };
    if ty & libc::SOCK_NONBLOCK != 0 {
        line.text("|SOCK_NONBLOCK");
    }
    if ty & libc::SOCK_CLOEXEC != 0 {
        line.text("|SOCK_CLOEXEC");
    }
    line.text(", ");
    match protocol {
        libc::IPPROTO_TCP => line.text("IPPROTO_TCP"),
        mptcp_policy::IPPROTO_MPTCP => line.text("IPPROTO_MPTCP"),
        libc::IPPROTO_UDP => line.text("IPPROTO_UDP"),
        other => line.int(other.into()),
    };
    line.text(")");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_formatting() {
        let mut line = Line::new();
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
        let mut long = Line::new();
        for _ in 0..100 {
            long.text("0123456789");
        }
        assert_eq!(long.as_bytes().len(), 320);
        assert_eq!(long.as_bytes().last(), Some(&b'\n'));
        let mut min = Line::new();
        min.int(i64::MIN);
        assert_eq!(min.as_bytes(), b"mptcpize: -9223372036854775808\n");
    }

    #[test]
    fn errno_is_kept() {
        set_errno(libc::EMFILE);
        {
            let _saved = SavedErrno::save();
            set_errno(0);
        }
        assert_eq!(errno(), libc::EMFILE);
    }
}
