//! Multipath TCP sockets for Rust (work in progress).
#![deny(missing_docs)]

pub use mptcp_policy::Unavailable;
