//! Sets `cfg(mptcp_privileged)` for this crate's own tests where they can run (the probe is
//! `tests/src/environment.rs` of the workspace), so that elsewhere they are reported as
//! ignored. The library itself does not use it.
#[path = "../tests/src/environment.rs"]
mod environment;

fn main() {
    println!("cargo:rerun-if-changed=../tests/src/environment.rs");
    environment::emit_cfg();
}
