//! Link setting for the shim.
//!
//! The precompiled `core` refers to the unwinding personality routine
//! (`rust_eh_personality`) even though nothing in the shim unwinds (`panic = "abort"`); an
//! unoptimised build keeps that reference and the dynamic loader would refuse the library
//! over the missing symbol. Defining it in Rust would export it from the library and could
//! take the place of a dynamically linked Rust program's own. A linker-defined symbol is not
//! in the version script rustc writes for a cdylib, so it stays local. It is never called.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,--defsym=rust_eh_personality=0");
}
