//! Link settings for the report library, loaded into every program started under
//! `mptcpize run --report` (the same as the shim's, see `mptcpize/preload/build.rs`):
//!
//! - `-z lazy`: imports are looked up on first call, not all when the library is loaded.
//! - `rust_eh_personality`: a linker-defined, never-called symbol that satisfies the
//!   precompiled `core`'s reference without exporting one from the library.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,lazy");
    println!("cargo:rustc-cdylib-link-arg=-Wl,--defsym=rust_eh_personality=0");
}
