//! Probes this machine once for every test of the workspace (`../src/environment.rs`) and
//! writes the answers the attribute expands with (`$OUT_DIR/answers.rs`). Probed again when
//! the user, `PATH`, a program directory or `MPTCP_TESTS_NO_SKIP` changes.
#[path = "../src/environment.rs"]
mod environment;

fn main() {
    println!("cargo:rerun-if-changed=../src/environment.rs");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    environment::write_needs_answers(&out.join("answers.rs"));
}
