//! The shim's one-pass lookup of the functions it hooks (`next_symbols`) gives exactly what
//! `dlsym(RTLD_NEXT)` gives, name by name: the walk for a library preloaded before, between
//! and after the report library and the shim (which define `close`, `dup2`, `dup3`, and
//! `socket`, `setsockopt`), and `next_symbols` for the program itself. The reference is `dlsym(RTLD_NEXT)` called
//! from that library (`shim-programs/probe_next.c`). A name the walk does not model (an
//! indirect function, `memcpy`), or `LD_DYNAMIC_WEAK`, falls back on `dlsym`, with the same
//! answers.
//!
//! Each case runs this test binary again with `LD_PRELOAD` set (the loader reads it only
//! at start-up), in the child mode selected by `NEXT_SYMBOLS_CHILD`.

mod support;

use std::ffi::{c_char, c_void, CStr};
use std::path::Path;
use std::process::Command;

use mptcpize_preload_support::env::environment;
use mptcpize_preload_support::next_symbols::{next_symbols, walk_after, Lookup};
use support::TempDir;

const PROGRAMS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/shim-programs");
const SHIM: &str = concat!(env!("OUT_DIR"), "/libmptcpize_preload.so");
const REPORT: &str = concat!(env!("OUT_DIR"), "/libmptcpize_report.so");
const CHILD: &str = "NEXT_SYMBOLS_CHILD";

/// Every function the shim and the report library hook, and names that exercise the other
/// cases: defined nowhere, a data object, a function only the C library defines.
const NAMES: [&CStr; 11] = [
    c"socket",
    c"setsockopt",
    c"close",
    c"dup2",
    c"dup3",
    c"connect",
    c"accept",
    c"accept4",
    c"shutdown",
    c"mptcpize_no_such_function",
    c"environ",
];

extern "C" {
    static environ: *const *const c_char;
}

/// Runs the child mode of this test with `preload` and `extra` environment variables; it
/// fails (a panic, shown here) when an answer differs.
fn run_child(mode: &str, preload: &str, extra: &[(&str, &str)]) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "next_symbols_equals_dlsym_rtld_next",
        "--include-ignored",
        "--nocapture",
    ])
    .arg("--test-threads=1")
    .env(CHILD, mode)
    .env("LD_PRELOAD", preload)
    .env_remove("MPTCPIZE_DEBUG")
    .env_remove("LD_AUDIT")
    .env_remove("LD_DYNAMIC_WEAK");
    for (name, value) in extra {
        cmd.env(name, value);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("next_symbols: same answers"),
        "{mode} with LD_PRELOAD={preload} {extra:?} ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn build_probe(dir: &Path) -> String {
    let probe = dir.join("libprobe_next.so");
    let out = Command::new("gcc")
        .args(["-O2", "-Wall", "-Werror", "-shared", "-fPIC", "-o"])
        .arg(&probe)
        .arg(format!("{PROGRAMS}/probe_next.c"))
        .arg("-ldl")
        .output()
        .expect("gcc");
    assert!(
        out.status.success(),
        "gcc probe_next.c: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    probe.to_str().unwrap().to_owned()
}

#[cfg_attr(not(has_gcc), ignore = "needs gcc")]
#[test]
fn next_symbols_equals_dlsym_rtld_next() {
    if let Ok(mode) = std::env::var(CHILD) {
        return child(&mode);
    }
    if !mptcp_tests::require_program("next_symbols_equals_dlsym_rtld_next", "gcc") {
        return;
    }
    let dir = TempDir::new("next-symbols");
    let probe = build_probe(&dir.0);
    // The probe before the report library and the shim, between them, after them.
    for preload in [
        format!("{probe}:{REPORT}:{SHIM}"),
        format!("{probe}:{SHIM}:{REPORT}"),
        format!("{REPORT}:{probe}:{SHIM}"),
        format!("{SHIM}:{REPORT}:{probe}"),
        probe.clone(),
    ] {
        run_child("walk", &preload, &[]);
        run_child("fallback", &preload, &[]);
        run_child("walk", &preload, &[("LD_DYNAMIC_WEAK", "1")]);
    }
}

/// The child (this test binary started again by the test, with `CHILD` and a preload):
/// compares, for the probe library and for this program, each answer of `next_symbols` with
/// `dlsym(RTLD_NEXT)` called from that object.
fn child(mode: &str) {
    let preload = std::env::var("LD_PRELOAD").unwrap();
    let weak = std::env::var_os("LD_DYNAMIC_WEAK").is_some();
    // SAFETY: the process's environment, not changed while this runs.
    let env = unsafe { environment(environ) };
    let mut names: Vec<&CStr> = NAMES.to_vec();
    if mode == "fallback" {
        // An indirect function in glibc on x86_64 and aarch64: its resolver must run.
        names.push(c"memcpy");
    }
    let expected_lookup = if mode == "walk" && !weak {
        Lookup::Walk
    } else {
        Lookup::Dlsym
    };

    // SAFETY: looking up a symbol by name.
    let probe = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"probe_next".as_ptr()) };
    assert!(!probe.is_null(), "probe_next is not loaded");
    // SAFETY: probe_next's C signature.
    let probe_next: unsafe extern "C" fn(*const c_char) -> *mut c_void =
        unsafe { std::mem::transmute(probe) };

    let mut found = vec![std::ptr::null_mut(); names.len()];
    let walked = walk_after(probe, &names, &mut found);
    // The walk itself does not read the environment; only the indirect function stops it.
    assert_eq!(walked, mode == "walk", "the walk after the probe library");
    for (name, got) in names.iter().zip(&found).filter(|_| walked) {
        // SAFETY: a NUL-terminated name.
        let want = unsafe { probe_next(name.as_ptr()) };
        assert_eq!(
            *got,
            want,
            "{name:?} after the probe library: {} instead of {}",
            object_of(*got),
            object_of(want)
        );
    }

    // The walk found the report library's or the shim's close where one comes next, not
    // glibc's.
    let probe_position = preload.find("probe_next").unwrap();
    if walked
        && preload
            .rfind("libmptcpize")
            .is_some_and(|r| r > probe_position)
    {
        let close = found_for(&names, &found, c"close");
        assert!(
            object_of(close).contains("libmptcpize"),
            "{}",
            object_of(close)
        );
    }

    // After this program (the first object), through `next_symbols` (the walk, or `dlsym`
    // where it falls back): dlsym(RTLD_NEXT) called from here.
    let mut found = vec![std::ptr::null_mut(); names.len()];
    let lookup = next_symbols(env, &names, &mut found);
    assert_eq!(lookup, expected_lookup, "after the program");
    for (name, got) in names.iter().zip(&found) {
        // SAFETY: as above.
        let want = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
        assert_eq!(
            *got,
            want,
            "{name:?} after the program: {} instead of {}",
            object_of(*got),
            object_of(want)
        );
    }
    println!("next_symbols: same answers ({mode}, {lookup:?})");
}

fn found_for(names: &[&CStr], found: &[*mut c_void], name: &CStr) -> *mut c_void {
    found[names.iter().position(|n| *n == name).unwrap()]
}

/// The file of the object that holds `address`, for messages.
fn object_of(address: *mut c_void) -> String {
    if address.is_null() {
        return "NULL".to_owned();
    }
    // SAFETY: dladdr fills `info` for any address.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    if unsafe { libc::dladdr(address, &mut info) } == 0 || info.dli_fname.is_null() {
        return format!("{address:?}");
    }
    // SAFETY: dladdr gives a NUL-terminated file name.
    let file = unsafe { CStr::from_ptr(info.dli_fname) };
    format!("{address:?} in {}", file.to_string_lossy())
}
