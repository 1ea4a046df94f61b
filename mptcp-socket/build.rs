//! Sets `cfg(mptcp_privileged)` for this crate's own tests where they can run (the probe is
//! `tests/src/privileges.rs` of the workspace), so that elsewhere they are reported as
//! ignored. The library itself does not use it.
#[path = "../tests/src/privileges.rs"]
mod privileges;

fn main() {
    println!("cargo:rerun-if-changed=../tests/src/privileges.rs");
    privileges::emit_cfg();
}
