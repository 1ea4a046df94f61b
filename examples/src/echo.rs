//! The echo protocol: the server returns every byte it reads; the client sends numbered
//! messages and checks that each comes back whole, in order, byte for byte.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Echoes everything read from `stream` until the peer shuts down its side (EOF), then
/// closes. Returns the number of bytes echoed.
///
/// The buffer is small on purpose: a server holding 10,000 idle connections pays for it
/// in every task.
pub async fn echo(mut stream: TcpStream) -> io::Result<u64> {
    let mut buf = [0u8; 1024];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        stream.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

/// The `round`-th message of connection `conn`, `size` bytes (at least 16): both numbers
/// then a pattern derived from them, so a message delivered to the wrong connection, out of
/// order or altered is detected.
pub fn message(conn: u64, round: u64, size: usize) -> Vec<u8> {
    let mut msg = Vec::with_capacity(size.max(16));
    msg.extend_from_slice(&conn.to_be_bytes());
    msg.extend_from_slice(&round.to_be_bytes());
    let mut x = (conn << 32) ^ round ^ 0x9e37_79b9_7f4a_7c15;
    while msg.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        msg.push(x as u8);
    }
    msg
}

/// Sends `rounds` messages of `size` bytes on `stream`, one at a time, reading each echo
/// back and comparing it byte for byte. Returns the number of verified round trips; a
/// mismatch is an `InvalidData` error naming the connection and the round.
pub async fn round_trips(
    stream: &mut TcpStream,
    conn: u64,
    rounds: u64,
    size: usize,
) -> io::Result<u64> {
    let mut echo = vec![0; size.max(16)];
    for round in 0..rounds {
        let msg = message(conn, round, size);
        stream.write_all(&msg).await?;
        stream.read_exact(&mut echo).await?;
        if echo != msg {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("connection {conn}, round {round}: the echo differs from the message"),
            ));
        }
    }
    Ok(rounds)
}
