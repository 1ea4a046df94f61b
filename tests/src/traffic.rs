//! The traffic side of the lab's tests: a verifiable byte stream ([`pattern`],
//! [`send_pattern`], [`receive_pattern`], [`transfer`]) whose every byte is checked without
//! storing the data (byte `i` of a stream is a fixed function of `i`), and the timeline of
//! what arrived when ([`Received`]): goodput over a window, the longest stall.

use std::io::{self, Read, Write};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Period of the test pattern: a prime, so that data misplaced by any amount that is not a
/// multiple of ~1 MiB cannot match.
pub const PATTERN_PERIOD: usize = 1_048_573;

/// The test pattern, twice over (so that any window of up to [`PATTERN_PERIOD`] bytes
/// starting anywhere in the period is one contiguous slice): byte `i` of a stream is
/// `pattern()[i % PATTERN_PERIOD]`: [`pattern_bytes`] with seed 0.
pub fn pattern() -> &'static [u8] {
    static PATTERN: OnceLock<Vec<u8>> = OnceLock::new();
    PATTERN.get_or_init(|| {
        let mut v = pattern_bytes(PATTERN_PERIOD, 0);
        v.extend_from_within(..);
        v
    })
}

/// `len` deterministic pseudo-random bytes (xorshift64*), different for every `seed`: they
/// do not compress, and no shifted window of them matches another, so a copy that is
/// shifted, truncated, altered or taken from another stream fails a byte-for-byte check.
pub fn pattern_bytes(len: usize, seed: u64) -> Vec<u8> {
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
    // GOLDEN times an odd number: odd, so never xorshift's fixed point 0, and a different
    // start for every seed (multiplying by an odd number is a bijection mod 2^64).
    let mut state = GOLDEN.wrapping_mul(seed.wrapping_mul(2) | 1);
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        v.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Asserts that `received` is `expected`, byte for byte. On a difference the message names
/// `what`, both lengths and the first offset that differs, not the data itself (which
/// `assert_eq!` would print in full, megabytes of it).
#[track_caller]
pub fn assert_same_bytes(what: &str, received: &[u8], expected: &[u8]) {
    if received != expected {
        let at = received
            .iter()
            .zip(expected)
            .position(|(a, b)| a != b)
            .unwrap_or(received.len().min(expected.len()));
        panic!(
            "{what}: {} bytes received of {} expected, first difference at byte {at}",
            received.len(),
            expected.len()
        );
    }
}

/// The bytes at stream offsets `offset..offset + len` (`len` at most [`PATTERN_PERIOD`]).
pub fn pattern_at(offset: u64, len: usize) -> &'static [u8] {
    let start = (offset % PATTERN_PERIOD as u64) as usize;
    &pattern()[start..start + len]
}

/// When to stop sending.
#[derive(Debug, Clone, Copy)]
pub enum Amount {
    /// Exactly this many bytes.
    Bytes(u64),
    /// Until this much time has passed (the last write may end a little later).
    For(Duration),
}

/// Writes the pattern to `w` until `amount` is reached, in writes of up to `chunk` bytes,
/// and returns the number of bytes written. Does not shut the stream down.
pub fn send_pattern(w: &mut impl Write, amount: Amount, chunk: usize) -> io::Result<u64> {
    let chunk = chunk.clamp(1, PATTERN_PERIOD);
    let start = Instant::now();
    let mut sent = 0u64;
    loop {
        let len = match amount {
            Amount::Bytes(total) if sent >= total => break,
            Amount::Bytes(total) => chunk.min((total - sent) as usize),
            Amount::For(d) if start.elapsed() >= d => break,
            Amount::For(_) => chunk,
        };
        let n = w.write(pattern_at(sent, len))?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        sent += n as u64;
    }
    Ok(sent)
}

/// What [`receive_pattern`] saw: every byte checked, and when each read arrived.
#[derive(Debug, Clone)]
pub struct Received {
    /// Total bytes received (all verified).
    pub bytes: u64,
    /// When receiving started (before the first read).
    pub start: Instant,
    /// `(time since start, total bytes so far)` after every read.
    pub samples: Vec<(Duration, u64)>,
}

impl Received {
    /// Time from `start` to the last byte.
    pub fn elapsed(&self) -> Duration {
        self.samples.last().map_or(Duration::ZERO, |s| s.0)
    }

    /// Bytes received by time `t` (after `start`).
    pub fn bytes_at(&self, t: Duration) -> u64 {
        let i = self.samples.partition_point(|s| s.0 <= t);
        if i == 0 {
            0
        } else {
            self.samples[i - 1].1
        }
    }

    /// Time of the first read (the first byte's arrival), relative to `start`.
    pub fn first_byte(&self) -> Duration {
        self.samples.first().map_or(Duration::ZERO, |s| s.0)
    }

    /// Goodput in Mbit/s (10^6 bit/s) between `from` and `to` after `start`.
    pub fn mbit_between(&self, from: Duration, to: Duration) -> f64 {
        let bytes = self.bytes_at(to) - self.bytes_at(from);
        bytes as f64 * 8.0 / (to - from).as_secs_f64() / 1e6
    }

    /// Goodput in Mbit/s from the first byte to the last.
    pub fn mbit(&self) -> f64 {
        self.mbit_between(self.first_byte(), self.elapsed())
    }

    /// Goodput over the window that starts `skip` after the first byte and ends at the last
    /// byte: the steady state, without the congestion controller's start-up.
    pub fn steady_mbit(&self, skip: Duration) -> f64 {
        let from = self.first_byte() + skip;
        assert!(from < self.elapsed(), "transfer too short to skip {skip:?}");
        self.mbit_between(from, self.elapsed())
    }

    /// Longest time without any byte arriving, among gaps that end after `after`, and when
    /// that gap began.
    pub fn longest_stall_after(&self, after: Duration) -> (Duration, Duration) {
        let mut best = (Duration::ZERO, after);
        let mut prev = Duration::ZERO;
        for &(t, _) in &self.samples {
            if t > after && t - prev.max(after) > best.0 {
                best = (t - prev.max(after), prev.max(after));
            }
            prev = t;
        }
        best
    }

    /// Goodput in Mbit/s per `interval`, from `start` (a compact timeline for messages).
    pub fn timeline(&self, interval: Duration) -> Vec<f64> {
        let mut out = Vec::new();
        let mut t = Duration::ZERO;
        while t < self.elapsed() {
            out.push(self.mbit_between(t, t + interval));
            t += interval;
        }
        out
    }
}

/// Reads `r` to end of stream, checking every byte against the pattern, and returns the
/// timeline. Fails with `InvalidData` at the first wrong byte (naming its offset, when it
/// arrived, and whose bytes came instead: see [`whose_bytes`]), and with `UnexpectedEof`
/// if `expected` bytes were promised and fewer arrived.
pub fn receive_pattern(r: &mut impl Read, expected: Option<u64>) -> io::Result<Received> {
    let mut buf = vec![0u8; 256 * 1024];
    let start = Instant::now();
    let mut got = 0u64;
    let mut samples = Vec::with_capacity(1 << 16);
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf[..n] != *pattern_at(got, n) {
            let i = buf[..n]
                .iter()
                .zip(pattern_at(got, n))
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            let at = got + i as u64;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "wrong byte at stream offset {at}, {:.1?} after the first read began; {}",
                    start.elapsed(),
                    whose_bytes(at, &buf[i..n])
                ),
            ));
        }
        got += n as u64;
        samples.push((start.elapsed(), got));
    }
    if let Some(expected) = expected {
        if got != expected {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("stream ended after {got} of {expected} bytes"),
            ));
        }
    }
    Ok(Received {
        bytes: got,
        start,
        samples,
    })
}

/// Says where in the stream `bytes`, received at stream offset `at` instead of the
/// pattern's, come from: repeated from earlier in the stream, taken from later (the bytes in
/// between skipped), or no part of it. Offsets are known modulo [`PATTERN_PERIOD`]; the
/// answer takes the nearest.
pub fn whose_bytes(at: u64, bytes: &[u8]) -> String {
    // A 32-byte window of the pattern (xorshift64* output) occurs once in a period.
    const WINDOW: usize = 32;
    if bytes.len() < WINDOW {
        return format!("too few bytes ({}) to tell whose they are", bytes.len());
    }
    let window = &bytes[..WINDOW];
    let Some(found) = pattern()[..PATTERN_PERIOD + WINDOW - 1]
        .windows(WINDOW)
        .position(|w| w == window)
    else {
        return format!(
            "they are no part of the stream (they begin {:02x?})",
            &bytes[..8]
        );
    };
    let period = PATTERN_PERIOD as i64;
    let mut shift = found as i64 - (at % PATTERN_PERIOD as u64) as i64;
    if shift > period / 2 {
        shift -= period;
    } else if shift < -period / 2 {
        shift += period;
    }
    let from = at as i64 + shift;
    if shift < 0 {
        format!(
            "they are the stream's bytes from offset {from}, {} bytes earlier (repeated)",
            -shift
        )
    } else {
        format!(
            "they are the stream's bytes from offset {from}, {shift} bytes later (the bytes in \
             between skipped)"
        )
    }
}

/// What [`transfer`] measured.
#[derive(Debug, Clone)]
pub struct Transfer {
    /// Bytes the sender wrote.
    pub sent: u64,
    /// What the receiver saw (all of it verified).
    pub received: Received,
}

/// One verified transfer through a connected pair: the pattern is written to `tx` on this
/// thread until `amount` is reached, then `tx`'s write side is shut down
/// (`shutdown(SHUT_WR)`); `rx` is read to its end on another thread and every byte is
/// checked; `during` runs on a third thread with the instant sending began (to sample
/// `ss`, cut a path, …) and must return before this does.
///
/// Fails if either side sees an error (the application's view), if a byte is wrong, or if
/// the receiver got a different number of bytes than were sent; when both sides fail, with
/// both errors, and when `during` panics, with the receiver's error added to its message.
/// Set a read timeout on `rx` so that a stalled connection fails the test instead of
/// hanging it.
pub fn transfer<S, R>(
    tx: &S,
    mut rx: R,
    amount: Amount,
    during: impl FnOnce(Instant) + Send,
) -> io::Result<Transfer>
where
    S: std::os::fd::AsFd + Sync,
    for<'a> &'a S: Write,
    R: Read + Send,
{
    use std::os::fd::AsRawFd;
    let tx_fd = tx.as_fd().as_raw_fd();
    std::thread::scope(|scope| {
        let receiver = scope.spawn(move || {
            let received = receive_pattern(&mut rx, None);
            if received.is_err() {
                // The receiver stops reading and closes `rx`. An MPTCP socket closed with
                // nothing unread ends gracefully, so the sender would stay blocked on the
                // window until the closed socket's timeout resets the connection
                // (net.mptcp.close_timeout, 60 s; measured): stop it now.
                // SAFETY: shutdown(2) on a descriptor borrowed for the whole scope.
                unsafe { libc::shutdown(tx_fd, libc::SHUT_RDWR) };
            }
            received
        });
        let start = Instant::now();
        let observer = scope.spawn(move || during(start));
        let mut writer = tx;
        let sent = send_pattern(&mut writer, amount, 128 * 1024);
        // Also after a failed send, so that the receiver sees the end instead of waiting.
        // SAFETY: shutdown(2) on a descriptor borrowed for this call.
        let shut = match unsafe { libc::shutdown(tx_fd, libc::SHUT_WR) } {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        };
        let sent = sent.and_then(|sent| shut.map(|()| sent));
        let received = receiver
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        if let Err(panic) = observer.join() {
            // A stream the kernel got wrong explains much of what an observer then sees.
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied());
            match (message, &received) {
                (Some(message), Err(e)) => panic!("{message}\nand the receiver failed: {e}"),
                _ => std::panic::resume_unwind(panic),
            }
        }
        let (sent, received) = match (sent, received) {
            (Ok(sent), Ok(received)) => (sent, received),
            (Err(e), Ok(_)) => return Err(io::Error::new(e.kind(), format!("sender: {e}"))),
            (Ok(_), Err(e)) => return Err(io::Error::new(e.kind(), format!("receiver: {e}"))),
            (Err(s), Err(r)) => {
                return Err(io::Error::new(
                    r.kind(),
                    format!("receiver: {r}; sender: {s}"),
                ))
            }
        };
        if received.bytes != sent {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("sent {sent} bytes, received {}", received.bytes),
            ));
        }
        Ok(Transfer { sent, received })
    })
}

/// Writes `len` bytes of the pattern to a new file at `path` (for servers such as
/// `python3 -m http.server` to send); check what a client received with [`verify_file`].
pub fn write_pattern_file(path: &std::path::Path, len: u64) -> io::Result<()> {
    let mut f = io::BufWriter::new(std::fs::File::create(path)?);
    send_pattern(&mut f, Amount::Bytes(len), 1 << 20)?;
    f.flush()
}

/// Checks that the file at `path` holds exactly `len` bytes of the pattern.
pub fn verify_file(path: &std::path::Path, len: u64) -> io::Result<()> {
    let mut f = std::fs::File::open(path)?;
    receive_pattern(&mut f, Some(len)).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes() {
        assert_same_bytes("equal", b"abc", b"abc");
        let differs = |a: &'static [u8], b: &'static [u8]| {
            std::panic::catch_unwind(|| assert_same_bytes("t", a, b))
                .unwrap_err()
                .downcast::<String>()
                .unwrap()
        };
        assert_eq!(
            *differs(b"abd", b"abc"),
            "t: 3 bytes received of 3 expected, first difference at byte 2"
        );
        assert_eq!(
            *differs(b"ab", b"abc"),
            "t: 2 bytes received of 3 expected, first difference at byte 2"
        );
    }

    #[test]
    fn pattern_bytes_by_seed() {
        assert_eq!(pattern_bytes(0, 1), b"");
        assert_eq!(pattern_bytes(13, 5).len(), 13);
        assert_eq!(pattern_bytes(1000, 0), &pattern()[..1000]);
        assert_eq!(pattern_bytes(1000, 7), pattern_bytes(1000, 7));
        assert_eq!(&pattern_bytes(1000, 7)[..10], &pattern_bytes(10, 7)[..]);
        let seeds: Vec<Vec<u8>> = (0..16).map(|seed| pattern_bytes(64, seed)).collect();
        for (i, a) in seeds.iter().enumerate() {
            for b in &seeds[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn pattern_round_trip_and_corruption() {
        let mut v = Vec::new();
        let n = send_pattern(
            &mut v,
            Amount::Bytes(3 * PATTERN_PERIOD as u64 + 7),
            100_000,
        )
        .unwrap();
        assert_eq!(n as usize, v.len());
        let r = receive_pattern(&mut &v[..], Some(n)).unwrap();
        assert_eq!(r.bytes, n);
        // One byte shifted by a whole number of small steps must be caught.
        v[2_000_000] ^= 1;
        let e = receive_pattern(&mut &v[..], None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("2000000"), "{e}");
        // Missing bytes are caught.
        let e = receive_pattern(&mut &v[..1000], Some(1001)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        // A stream that skips a chunk is caught.
        let mut skipped = pattern_at(0, 1000).to_vec();
        skipped.extend_from_slice(pattern_at(1448, 1000));
        assert!(receive_pattern(&mut &skipped[..], None).is_err());
    }

    #[test]
    fn whose_bytes_tells_repeated_skipped_and_foreign_data() {
        // At offset 5000, the bytes of offset 3552 (repeated) and of 6448 (skipped ahead).
        assert_eq!(
            whose_bytes(5000, pattern_at(3552, 100)),
            "they are the stream's bytes from offset 3552, 1448 bytes earlier (repeated)"
        );
        assert_eq!(
            whose_bytes(5000, pattern_at(6448, 100)),
            "they are the stream's bytes from offset 6448, 1448 bytes later (the bytes in \
             between skipped)"
        );
        // Across the period: offset 10 of the next period is 20 bytes after PERIOD - 10.
        let near_end = PATTERN_PERIOD as u64 - 10;
        assert_eq!(
            whose_bytes(near_end, pattern_at(near_end + 20, 64)),
            format!(
                "they are the stream's bytes from offset {}, 20 bytes later (the bytes in \
                 between skipped)",
                near_end + 20
            )
        );
        assert!(whose_bytes(5000, &[0; 64]).starts_with("they are no part of the stream"));
        assert!(whose_bytes(5000, &[0; 8]).starts_with("too few bytes (8)"));
    }

    /// Reads `inner`, but hands out, from stream offset `at` on, the bytes of one segment
    /// earlier: a segment delivered twice.
    struct Repeating {
        inner: std::os::unix::net::UnixStream,
        at: u64,
        pos: u64,
    }

    impl Read for Repeating {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            for (k, b) in buf[..n].iter_mut().enumerate() {
                let offset = self.pos + k as u64;
                if offset >= self.at {
                    *b = pattern_at(offset - 1448, 1)[0];
                }
            }
            self.pos += n as u64;
            Ok(n)
        }
    }

    /// A pair whose receiving end stays open after the receiver gives up, as an MPTCP
    /// socket closed with nothing unread does for 60 s: only the receiver's failure can
    /// stop the sender, which would otherwise wait for a window that never opens.
    fn pair_open_after_the_receiver() -> (
        std::os::unix::net::UnixStream,
        Repeating,
        std::os::unix::net::UnixStream,
    ) {
        let (tx, rx) = std::os::unix::net::UnixStream::pair().unwrap();
        let kept = rx.try_clone().unwrap();
        let rx = Repeating {
            inner: rx,
            at: 100_000,
            pos: 0,
        };
        (tx, rx, kept)
    }

    #[test]
    fn transfer_stops_the_sender_when_the_receiver_fails() {
        let (tx, rx, _kept) = pair_open_after_the_receiver();
        let start = Instant::now();
        let e = transfer(&tx, rx, Amount::For(Duration::from_secs(60)), |_| {}).unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
        let e = e.to_string();
        assert!(
            e.starts_with("receiver: wrong byte at stream offset 100000, "),
            "{e}"
        );
        assert!(
            e.contains("from offset 98552, 1448 bytes earlier (repeated); sender: "),
            "{e}"
        );
    }

    #[test]
    fn an_observer_panic_names_the_receivers_failure_too() {
        let (tx, rx, _kept) = pair_open_after_the_receiver();
        let panic = std::panic::catch_unwind(|| {
            transfer(&tx, rx, Amount::For(Duration::from_secs(60)), |_| {
                panic!("no second subflow")
            })
        })
        .unwrap_err();
        let message = panic.downcast::<String>().unwrap();
        assert!(
            message.starts_with(
                "no second subflow\nand the receiver failed: wrong byte at stream offset 100000"
            ),
            "{message}"
        );
    }

    #[test]
    fn received_windows_and_stalls() {
        let ms = Duration::from_millis;
        let r = Received {
            bytes: 400,
            start: Instant::now(),
            samples: vec![
                (ms(100), 100),
                (ms(200), 200),
                (ms(900), 300),
                (ms(1000), 400),
            ],
        };
        assert_eq!(r.bytes_at(ms(150)), 100);
        assert_eq!(r.bytes_at(ms(50)), 0);
        assert_eq!(r.longest_stall_after(ms(0)), (ms(700), ms(200)));
        assert_eq!(r.longest_stall_after(ms(950)), (ms(50), ms(950)));
        assert!((r.mbit_between(ms(0), ms(1000)) - 400.0 * 8.0 / 1e6).abs() < 1e-9);
    }
}
