//! Multipath TCP (MPTCP) sockets for Rust, and the truth about each connection.
//!
//! - [`MptcpStream`] and [`MptcpListener`] have the shape of std's `TcpStream` and
//!   `TcpListener` and convert to and from them and `socket2::Socket`, so the ecosystem
//!   around std and socket2 keeps working.
//! - A [`Fallback`] policy decides what happens where the kernel has no MPTCP: plain TCP
//!   (the default) or an error naming the cause and the fix. Only the kernel's "MPTCP is
//!   unavailable" answers to `socket(2)` trigger it, never connection errors.
//! - [`available`] asks the kernel, now, whether MPTCP can be used.
//! - [`MptcpStream::connect_racing`] gets through firewalls that drop MPTCP SYNs in a
//!   quarter of a second instead of the kernel's seconds: plain TCP races MPTCP after a
//!   delay (RFC 8305's Happy Eyeballs), the first to complete wins.
//! - [`MptcpExt`], for any socket that implements `AsFd`, answers what a connection really
//!   is ([`ConnectionKind`]), gives its [`MptcpInfo`] and its [`SubflowInfo`]s.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use mptcp_socket::{MptcpExt, MptcpListener, MptcpStream};
//!
//! let listener = MptcpListener::bind("127.0.0.1:0")?;
//! let mut client = MptcpStream::connect(listener.local_addr()?)?;
//! let (mut server, _) = listener.accept()?;
//! client.write_all(b"hello")?;
//! let mut buf = [0; 5];
//! server.read_exact(&mut buf)?;
//! println!("{} with {} subflow(s)", client.connection_kind()?, client.subflows()?.len());
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Requires Linux: MPTCP sockets since 5.6, `MPTCP_INFO` and subflow queries since 5.16,
//! `MPTCP_FULL_INFO` since 6.5, `TCP_IS_MPTCP` since 6.10 (older kernels are handled).
#![deny(missing_docs)]

#[cfg(feature = "diag")]
pub mod diag;
mod fallback;
mod info;
mod kind;
mod listener;
mod mib;
mod mptcp_ext;
#[cfg(feature = "pm")]
pub mod pm;
mod racing;
mod stream;
mod subflows;
mod sys;
/// Async MPTCP for tokio (cargo feature `tokio`, off by default).
#[cfg(feature = "tokio")]
pub mod tokio;

pub use fallback::{
    available, new_nonblocking_socket, new_socket, Availability, Fallback, UnavailableError,
};
pub use info::{MptcpInfo, TcpInfo};
#[doc(hidden)]
pub use kind::decide_kind;
#[doc(hidden)]
pub use kind::kernel_has_mptcp_sockopts;
pub use kind::ConnectionKind;
pub use listener::{Incoming, MptcpListener};
pub use mib::MptcpCounters;
pub use mptcp_ext::MptcpExt;
pub use mptcp_policy::Unavailable;
pub use racing::DEFAULT_RACE_DELAY;
pub use stream::MptcpStream;
#[doc(hidden)]
pub use subflows::decode as subflow_decode;
#[doc(hidden)]
pub use subflows::subflows_without_full_info;
pub use subflows::SubflowInfo;

/// The raw kernel interface this crate is built on.
pub use mptcp_sys as sys_uapi;
