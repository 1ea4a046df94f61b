//! Link settings for the shim: one, the same as the report library's (`mptcpize/report/build.rs`).
//! Everything else is the toolchain's default (rustc's linker, the C start files), so the
//! library is laid out, started and unwound like any other shared library on the system.
//!
//! Flags here apply to this cdylib only, also when `mptcpize`'s build script builds it with
//! a nested cargo to embed it (that script reruns when this file changes).
fn main() {
    // The precompiled `core` refers to the unwinding personality routine
    // (`rust_eh_personality`) even though nothing in the shim unwinds (`panic = "abort"`,
    // `no_std`). An optimised build drops that reference; an unoptimised one keeps it, and
    // the dynamic loader would refuse the library over the missing symbol. Defining it in
    // Rust would export it from the library and could take the place of a dynamically
    // linked Rust program's own. An absolute symbol of value 0 instead: it is resolved at
    // link time (no dynamic relocation), stays local (it is not in the version script rustc
    // writes), and makes the personality pointer of the library's own unwind tables NULL,
    // which unwinders read as "no personality routine": a frame of the shim is unwound
    // (by `pthread_exit`, by a C++ exception, by a debugger) without calling anything.
    // Checked by `mptcpize/tests/shim_layout.rs`.
    println!("cargo:rustc-cdylib-link-arg=-Wl,--defsym=rust_eh_personality=0");
}
