//! What the two preload libraries look like to the dynamic loader and to an unwinder, checked
//! on the very files the launcher hands to programs (its embedded copies, written out).
//!
//! They are loaded into every program started under mptcpize, so they must be ordinary
//! shared libraries: every import bound at load (a hook never enters the loader), nothing
//! exported but the hooks, unwind tables an unwinder can walk (`pthread_exit` unwinds every
//! frame of an exiting thread, and debuggers and profilers read the same tables), and no
//! personality routine in them (nothing in the libraries unwinds).

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use object::{Object, ObjectSection, ObjectSymbol, SymbolSection};

/// The libraries the launcher gives a program with `--report`: (shim, report library).
fn libraries() -> (PathBuf, PathBuf) {
    let out = Command::new(support::mptcpize())
        .args([
            "run",
            "--report",
            "--",
            "/bin/sh",
            "-c",
            "printf %s \"$LD_PRELOAD\"",
        ])
        .output()
        .expect("run the launcher");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let preload = String::from_utf8(out.stdout).unwrap();
    let libs: Vec<PathBuf> = preload.split(':').map(PathBuf::from).collect();
    let find = |name: &str| {
        libs.iter()
            .find(|p| p.file_name().is_some_and(|f| f == name))
            .unwrap_or_else(|| panic!("{name} not in LD_PRELOAD={preload}"))
            .clone()
    };
    (
        find("libmptcpize_preload.so"),
        find("libmptcpize_report.so"),
    )
}

/// Imports either library may have: the loader and errno, the C start files' weak
/// references, and (in an unoptimised build) the compiler's memory builtins.
const ALLOWED_IMPORTS: [&str; 10] = [
    "dlsym",
    "__errno_location",
    "__cxa_finalize",
    "__gmon_start__",
    "_ITM_registerTMCloneTable",
    "_ITM_deregisterTMCloneTable",
    "memcpy",
    "memset",
    "memmove",
    "memcmp",
];

fn check_library(path: &PathBuf, exports: &[&str], more_imports: &[&str]) {
    let what = path.display();
    let data = std::fs::read(path).unwrap();
    let file = object::File::parse(&*data).unwrap();

    let exported: BTreeSet<String> = file
        .dynamic_symbols()
        .filter(|s| s.is_global() && !s.is_undefined())
        .map(|s| s.name().unwrap().to_owned())
        .collect();
    let wanted: BTreeSet<String> = exports.iter().map(|s| s.to_string()).collect();
    assert_eq!(exported, wanted, "{what}: exported symbols");

    let imports: Vec<String> = file
        .dynamic_symbols()
        .filter(|s| s.is_undefined() && !s.name().unwrap_or("").is_empty())
        .map(|s| s.name().unwrap().to_owned())
        .collect();
    for import in &imports {
        assert!(
            ALLOWED_IMPORTS.contains(&import.as_str()) || more_imports.contains(&import.as_str()),
            "{what} imports {import}: every import is a lookup in every program's start-up"
        );
    }

    // -z now: DT_FLAGS has DF_BIND_NOW (or DT_FLAGS_1 DF_1_NOW).
    let dynamic = file.section_by_name(".dynamic").unwrap().data().unwrap();
    let entries = dynamic.chunks_exact(16).map(|e| {
        (
            i64::from_le_bytes(e[..8].try_into().unwrap()),
            u64::from_le_bytes(e[8..].try_into().unwrap()),
        )
    });
    let bind_now = entries.clone().any(|(tag, value)| {
        (tag == 30 && value & 0x8 != 0) || (tag == 0x6fff_fffb && value & 1 != 0)
    });
    assert!(
        bind_now,
        "{what}: imports are not bound at load (no -z now)"
    );

    // The unwind tables end with a zero-length entry, as a walk without the
    // .eh_frame_hdr index needs (libgcc's linear search, `__register_frame`).
    let eh_frame = file.section_by_name(".eh_frame").unwrap().data().unwrap();
    assert!(
        eh_frame.len() >= 4 && eh_frame[eh_frame.len() - 4..] == [0; 4],
        "{what}: .eh_frame has no terminator"
    );

    // No personality routine: `rust_eh_personality` is the absolute 0 of build.rs (or gone),
    // never exported, and the pointer the unwind tables read it through is NULL with no
    // dynamic relocation to change it.
    assert!(
        !exported.contains("rust_eh_personality"),
        "{what} exports rust_eh_personality"
    );
    for symbol in file.symbols() {
        match symbol.name().unwrap_or("") {
            "rust_eh_personality" => assert!(
                symbol.section() == SymbolSection::Absolute && symbol.address() == 0,
                "{what}: rust_eh_personality is {:?} at {:#x}",
                symbol.section(),
                symbol.address()
            ),
            "DW.ref.rust_eh_personality" => {
                let at = symbol.address();
                let section = file
                    .sections()
                    .find(|s| s.address() <= at && at + 8 <= s.address() + s.size())
                    .unwrap();
                let bytes = section.data().unwrap();
                let offset = (at - section.address()) as usize;
                assert_eq!(
                    bytes[offset..offset + 8],
                    [0; 8],
                    "{what}: the personality pointer is not NULL"
                );
                assert!(
                    !file
                        .dynamic_relocations()
                        .is_some_and(|mut relocations| relocations.any(|(r, _)| r == at)),
                    "{what}: the loader relocates the personality pointer"
                );
            }
            _ => {}
        }
    }
}

#[test]
fn preload_libraries_are_plain_shared_libraries() {
    let (shim, report) = libraries();
    check_library(&shim, &["setsockopt", "socket"], &[]);
    // The report library also watches connections being made and taken, and reads the
    // clock, the connection's state and its output through libc.
    check_library(
        &report,
        &[
            "accept",
            "accept4",
            "close",
            "connect",
            "dup2",
            "dup3",
            "getsockopt",
            "shutdown",
        ],
        &[
            "__register_atfork",
            "clock_gettime",
            "fcntl",
            "fstat",
            "getpeername",
            "getpid",
            "getrlimit",
            "ioctl",
            "open",
            "poll",
            "strlen",
            // openat2(2), which glibc 2.36 has no wrapper for (the report file, opened
            // without following links).
            "syscall",
            "write",
        ],
    );
}
