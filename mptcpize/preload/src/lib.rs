//! The mptcpize LD_PRELOAD shim (work in progress).
