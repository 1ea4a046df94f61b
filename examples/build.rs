//! Sets `cfg(mptcp_privileged)` for this crate's tests where they can run (see
//! `tests/src/environment.rs`), so that elsewhere they are reported as ignored.
#[path = "../tests/src/environment.rs"]
mod environment;

fn main() {
    println!("cargo:rerun-if-changed=../tests/src/environment.rs");
    environment::emit_cfg();
}
