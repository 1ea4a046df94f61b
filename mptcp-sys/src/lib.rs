//! Raw bindings to the Linux kernel's Multipath TCP (MPTCP) user-space API.
//!
//! This crate holds only what the kernel defines: constants with the kernel's names and
//! `#[repr(C)]` structs whose size and field offsets are checked at compile time. It has
//! no logic; the safe API lives in `mptcp-socket`.
//!
//! | module | kernel header |
//! |---|---|
//! | crate root | `IPPROTO_MPTCP` (`linux/in.h`), `SOL_MPTCP` (`linux/socket.h`), `TCP_IS_MPTCP` (`linux/tcp.h`) |
//! | [`mptcp`] | `include/uapi/linux/mptcp.h`: socket options and their structs |
//! | [`mptcp_pm`] | `include/uapi/linux/mptcp_pm.h`: the `mptcp_pm` generic netlink family |
//! | [`tcp`] | `include/uapi/linux/tcp.h`: `struct tcp_info`, the per-subflow element of `MPTCP_TCPINFO` |
//!
//! Everything is re-exported at the crate root, so `mptcp_sys::MPTCP_INFO` works.
#![no_std]
#![deny(missing_docs)]
#![allow(non_camel_case_types)]

pub mod mptcp;
pub mod mptcp_pm;
pub mod tcp;

pub use mptcp::*;
pub use mptcp_pm::*;
pub use tcp::*;

/// Protocol number for `socket(AF_INET | AF_INET6, SOCK_STREAM, IPPROTO_MPTCP)`
/// (`linux/in.h`, kernel >= 5.6).
pub const IPPROTO_MPTCP: libc::c_int = 262;

/// Socket level of the MPTCP socket options (`getsockopt(fd, SOL_MPTCP, …)`),
/// `linux/socket.h`, kernel >= 5.16.
pub const SOL_MPTCP: libc::c_int = 284;

/// `getsockopt(fd, SOL_TCP, TCP_IS_MPTCP)`: an `int`, 1 when the socket is MPTCP and has not
/// fallen back to TCP, 0 otherwise (`linux/tcp.h`, kernel >= 6.10; older kernels answer
/// `ENOPROTOOPT`).
pub const TCP_IS_MPTCP: libc::c_int = 43;
