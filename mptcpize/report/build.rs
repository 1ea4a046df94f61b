//! Link settings for the report library, loaded into every program started under
//! `mptcpize run --report` (the same as the shim's, see `mptcpize/preload/build.rs`):
//!
//! - `rust_eh_personality`: a linker-defined, never-called symbol that satisfies the
//!   precompiled `core`'s reference without exporting one from the library.
//!
//! Imports are bound when the library is loaded (rustc's `-z now`), not lazily on first
//! call: lazy binding would run the dynamic loader's resolver inside a hook, which may be
//! in a signal handler or in a child forked from a threaded program.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,--defsym=rust_eh_personality=0");
}
