//! Sets `cfg(mptcp_privileged)` for this crate's own tests where they can run (the probe is
//! `tests/src/environment.rs` of the workspace, through the link `build/environment.rs` so that
//! the packaged crate carries it), so that elsewhere they are reported as
//! ignored. The library itself does not use it.
#[path = "build/environment.rs"]
mod environment;

fn main() {
    println!("cargo:rerun-if-changed=build/environment.rs");
    environment::emit_cfg();
}
