//! Code shared by the examples: the echo loop of the echo server and the verified round
//! trips of its client and benchmark (`echo`); the listener the async servers start with
//! (`server`: `echo-server`, `http-server`).
//!
//! The other examples are single files, meant to be copied as they are.
#![deny(missing_docs)]

pub mod echo;
pub mod server;
