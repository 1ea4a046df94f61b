//! A report line, built in a stack buffer: no allocation. Longer text is cut, never an
//! overflow.

use libc::{sa_family_t, sockaddr_in, sockaddr_in6, AF_INET, AF_INET6};

/// Room for the fixed fields and eight subflows with both addresses in IPv6.
pub const CAPACITY: usize = 2048;

/// A line being built.
pub struct LineBuffer {
    buf: [u8; CAPACITY],
    len: usize,
}

impl LineBuffer {
    /// An empty line.
    pub fn new() -> LineBuffer {
        LineBuffer {
            buf: [0; CAPACITY],
            len: 0,
        }
    }

    /// Appends `s`.
    pub fn text(&mut self, s: &str) -> &mut LineBuffer {
        self.bytes(s.as_bytes())
    }

    /// Appends raw bytes.
    pub fn bytes(&mut self, s: &[u8]) -> &mut LineBuffer {
        // Keep one byte for the newline.
        let room = self.buf.len() - 1 - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
        self
    }

    /// Appends an unsigned decimal integer.
    pub fn uint(&mut self, mut v: u64) -> &mut LineBuffer {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.bytes(&digits[i..])
    }

    /// Appends a signed decimal integer.
    pub fn int(&mut self, v: i64) -> &mut LineBuffer {
        if v < 0 {
            self.text("-");
        }
        self.uint(v.unsigned_abs())
    }

    /// Appends nanoseconds as seconds with three decimals: `12.345s`.
    pub fn seconds(&mut self, ns: u64) -> &mut LineBuffer {
        let ms = ns / 1_000_000;
        self.uint(ms / 1000).text(".");
        let frac = ms % 1000;
        if frac < 100 {
            self.text("0");
        }
        if frac < 10 {
            self.text("0");
        }
        self.uint(frac).text("s")
    }

    fn hex16(&mut self, v: u16) -> &mut LineBuffer {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 4];
        let mut n = 0;
        let mut started = false;
        for shift in [12, 8, 4, 0] {
            let d = (v >> shift) & 0xf;
            if d != 0 || started || shift == 0 {
                out[n] = HEX[d as usize];
                n += 1;
                started = true;
            }
        }
        self.bytes(&out[..n])
    }

    fn ipv4(&mut self, octets: [u8; 4]) -> &mut LineBuffer {
        for (i, o) in octets.iter().enumerate() {
            if i > 0 {
                self.text(".");
            }
            self.uint(u64::from(*o));
        }
        self
    }

    /// Appends an IPv6 address in its RFC 5952 form (the longest run of two or more zero
    /// groups as `::`; IPv4-mapped addresses as `::ffff:a.b.c.d`).
    pub fn ipv6(&mut self, octets: [u8; 16]) -> &mut LineBuffer {
        let mut groups = [0u16; 8];
        for (i, g) in groups.iter_mut().enumerate() {
            *g = u16::from_be_bytes([octets[2 * i], octets[2 * i + 1]]);
        }
        if groups[..5] == [0; 5] && groups[5] == 0xffff {
            self.text("::ffff:");
            return self.ipv4([octets[12], octets[13], octets[14], octets[15]]);
        }
        // The longest run of zero groups (the first of equal runs), if at least two long.
        let (mut best_at, mut best_len) = (8, 0);
        let mut i = 0;
        while i < 8 {
            if groups[i] == 0 {
                let start = i;
                while i < 8 && groups[i] == 0 {
                    i += 1;
                }
                if i - start > best_len {
                    (best_at, best_len) = (start, i - start);
                }
            } else {
                i += 1;
            }
        }
        if best_len < 2 {
            best_at = 8;
        }
        let mut i = 0;
        while i < 8 {
            if i == best_at {
                self.text("::");
                i += best_len;
                continue;
            }
            if i > 0 && i != best_at + best_len {
                self.text(":");
            }
            self.hex16(groups[i]);
            i += 1;
        }
        self
    }

    /// Appends a socket address as `a.b.c.d:port` or `[v6]:port` from the raw bytes of a
    /// `sockaddr_in`/`sockaddr_in6`; `?` for anything else.
    pub fn sockaddr(&mut self, raw: &[u8]) -> &mut LineBuffer {
        let family = raw
            .get(..size_of::<sa_family_t>())
            .map(|b| sa_family_t::from_ne_bytes(b.try_into().expect("2 bytes")));
        match family.map(i32::from) {
            Some(AF_INET) if raw.len() >= size_of::<sockaddr_in>() => {
                // SAFETY: enough bytes for a sockaddr_in, read unaligned.
                let sin: sockaddr_in =
                    unsafe { raw.as_ptr().cast::<sockaddr_in>().read_unaligned() };
                self.ipv4(sin.sin_addr.s_addr.to_ne_bytes())
                    .text(":")
                    .uint(u16::from_be(sin.sin_port).into())
            }
            Some(AF_INET6) if raw.len() >= size_of::<sockaddr_in6>() => {
                // SAFETY: enough bytes for a sockaddr_in6, read unaligned.
                let sin6: sockaddr_in6 =
                    unsafe { raw.as_ptr().cast::<sockaddr_in6>().read_unaligned() };
                self.text("[")
                    .ipv6(sin6.sin6_addr.s6_addr)
                    .text("]:")
                    .uint(u16::from_be(sin6.sin6_port).into())
            }
            _ => self.text("?"),
        }
    }

    /// The finished line, with its newline.
    pub fn finish(&mut self) -> &[u8] {
        self.buf[self.len] = b'\n';
        &self.buf[..=self.len]
    }
}

use core::mem::size_of;

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv6Addr, SocketAddr};

    fn v6(s: &str) -> String {
        let addr: Ipv6Addr = s.parse().unwrap();
        let mut line = LineBuffer::new();
        line.ipv6(addr.octets());
        let out = line.finish();
        String::from_utf8(out[..out.len() - 1].to_vec()).unwrap()
    }

    #[test]
    fn ipv6_like_std() {
        for s in [
            "::",
            "::1",
            "1::",
            "2001:db8::1",
            "2001:db8:0:1:1:1:1:1",
            "2001:0:0:1::1",
            "fe80::1:2:3:4",
            "1:0:0:2:0:0:0:3",
            "1:2:3:4:5:6:7:8",
            "::ffff:10.31.1.2",
            "ff02::2",
        ] {
            let addr: Ipv6Addr = s.parse().unwrap();
            assert_eq!(v6(s), addr.to_string(), "{s}");
        }
    }

    fn sockaddr_bytes(addr: SocketAddr) -> Vec<u8> {
        let sock = socket2::SockAddr::from(addr);
        // SAFETY: reading the initialised part of the storage.
        unsafe { std::slice::from_raw_parts(sock.as_ptr().cast::<u8>(), sock.len() as usize) }
            .to_vec()
    }

    #[test]
    fn socket_addresses_and_numbers() {
        let mut line = LineBuffer::new();
        line.sockaddr(&sockaddr_bytes("10.31.1.2:8000".parse().unwrap()))
            .text(" ")
            .sockaddr(&sockaddr_bytes("[2001:db8::2]:443".parse().unwrap()))
            .text(" ")
            .sockaddr(&[0u8; 4])
            .text(" ")
            .seconds(12_345_678_901)
            .text(" ")
            .seconds(5_000_000)
            .text(" ")
            .int(-7)
            .text(" ")
            .uint(u64::MAX);
        assert_eq!(
            line.finish(),
            b"10.31.1.2:8000 [2001:db8::2]:443 ? 12.345s 0.005s -7 18446744073709551615\n"
        );
        let mut long = LineBuffer::new();
        for _ in 0..300 {
            long.text("0123456789");
        }
        assert_eq!(long.finish().len(), CAPACITY);
    }
}
