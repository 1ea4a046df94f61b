//! `mptcpize`: run a program with its TCP sockets turned into MPTCP (work in progress).
fn main() {}
