//! Sets `cfg(mptcp_privileged)` for this crate's tests where they can run (see
//! `tests/src/privileges.rs`), so that elsewhere they are reported as ignored.
#[path = "../tests/src/privileges.rs"]
mod privileges;

fn main() {
    println!("cargo:rerun-if-changed=../tests/src/privileges.rs");
    privileges::emit_cfg();
}
