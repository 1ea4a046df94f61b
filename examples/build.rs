//! Sets `cfg(mptcp_privileged)` for this crate's tests where they can run (see
//! `tests/src/environment.rs`, through the link `build/environment.rs`, which
//! `cargo package` follows), so that elsewhere they are reported as ignored.
#[path = "build/environment.rs"]
mod environment;

fn main() {
    println!("cargo:rerun-if-changed=build/environment.rs");
    environment::emit_cfg();
}
