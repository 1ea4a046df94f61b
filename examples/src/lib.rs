//! Code shared by the echo examples (`echo-server`, `echo-client`, `echo-bench`): the echo
//! loop of the server and the verified round trips of the client.
//!
//! The other examples are single files, meant to be copied as they are.
#![deny(missing_docs)]

pub mod echo;
