//! One name per meaning: no two source modules of the workspace share a file name, so that a
//! reader who meets `refused_options::` or `next_symbol::` knows which file it is, and a
//! search for the name lands once.
//!
//! A source module is a `.rs` file under a `src/` directory of the workspace (the fuzz
//! crate's too). `lib.rs`, `main.rs` and `mod.rs` are named by their crate or directory, so
//! they do not count; integration tests and benchmarks (`tests/`, `benches/`) are named after
//! what they test and may repeat a module's name. Symbolic links are not followed:
//! `mptcpize/libraries/` links to the preload libraries' sources, which are counted where
//! they live.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file below `dir` that has a `src` directory among its ancestors up to
/// `root`, skipping build output, version control and symbolic links.
fn source_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap();
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            continue;
        }
        let name = entry.file_name();
        if kind.is_dir() {
            if name != "target" && name != ".git" {
                source_files(root, &path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && path
                .strip_prefix(root)
                .unwrap()
                .components()
                .any(|c| c.as_os_str() == "src")
        {
            out.push(path);
        }
    }
}

#[test]
fn no_two_source_modules_share_a_file_name() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    source_files(root, root, &mut files);
    assert!(
        files.len() > 50,
        "found only {} source files below {}: is this the workspace?",
        files.len(),
        root.display()
    );
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if ["lib.rs", "main.rs", "mod.rs"].contains(&name.as_str()) {
            continue;
        }
        let shown = file.strip_prefix(root).unwrap().display().to_string();
        by_name.entry(name).or_default().push(shown);
    }
    let shared: Vec<String> = by_name
        .iter()
        .filter(|(_, paths)| paths.len() > 1)
        .map(|(name, paths)| format!("{name}: {}", paths.join(", ")))
        .collect();
    assert!(
        shared.is_empty(),
        "source modules that share a file name (rename each by what it holds, e.g. \
         `next_symbol.rs`, `shim_tcp_swap.rs`; see CONTRIBUTING.md):\n{}",
        shared.join("\n")
    );
}
