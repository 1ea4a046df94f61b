//! Link settings for the shim. The library is loaded into every program started under
//! `mptcpize`, so what the dynamic loader does for it at start-up and at exit is paid by
//! every program; each setting below was kept for its measured effect (BENCHMARKS.md).
//!
//! Flags here apply to this cdylib only, also when `mptcpize`'s build script builds it with
//! a nested cargo to embed it (that script reruns when this file changes).
fn main() {
    // The precompiled `core` refers to the unwinding personality routine
    // (`rust_eh_personality`) even though nothing in the shim unwinds (`panic = "abort"`);
    // an unoptimised build keeps that reference and the dynamic loader would refuse the
    // library over the missing symbol. Defining it in Rust would export it from the library
    // and could take the place of a dynamically linked Rust program's own. A linker-defined
    // symbol is not in the version script rustc writes for a cdylib, so it stays local. It
    // is never called.
    println!("cargo:rustc-cdylib-link-arg=-Wl,--defsym=rust_eh_personality=0");

    // No C start files (crti/crtbeginS/crtendS/crtn). They are there for C and C++: `_init`
    // and `_fini`, transactional-memory clone tables, and `__cxa_finalize` at exit for
    // destructors registered with `__cxa_atexit`. The shim has none of these, but the files
    // cost every program four symbol lookups at load (`__cxa_finalize` and the weak
    // `__gmon_start__`, `_ITM_registerTMCloneTable`, `_ITM_deregisterTMCloneTable`, the
    // weak ones searched for in every loaded object), a `.fini_array` entry run at exit and
    // three relocations: 3.5k instructions. The shim's constructor is an `.init_array`
    // entry (`on_load!`), which the linker lists in `DT_INIT_ARRAY` without them.
    println!("cargo:rustc-cdylib-link-arg=-nostartfiles");

    // GNU ld rather than the LLVM linker rustc uses by default on this target: LLD gives the
    // RELRO part (GOT, `.dynamic`, `.init_array`) its own writable segment padded to a
    // page boundary, and `.bss` a second one starting mid-page, and the dynamic loader
    // clears both with `memset` up to the page end. GNU ld ends RELRO on a page boundary
    // and starts `.bss` right there in the same segment, so nothing is cleared by hand:
    // same protection (RELRO is kept), 1.2k instructions fewer at every load. GNU ld comes with gcc, which rustc
    // already drives to link; the last `-fuse-ld` given to gcc wins.
    println!("cargo:rustc-cdylib-link-arg=-fuse-ld=bfd");
}
