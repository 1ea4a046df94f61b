//! Sets `cfg(mptcp_privileged)` for this crate's tests where they can run (see
//! `src/privileges.rs`), so that elsewhere they are reported as ignored.
#[path = "src/privileges.rs"]
mod privileges;

fn main() {
    println!("cargo:rerun-if-changed=src/privileges.rs");
    privileges::emit_cfg();
}
