//! The environment a service's unit file and drop-ins give it (`Environment=`,
//! `EnvironmentFile=`, `UnsetEnvironment=`, as `systemd.exec(5)` applies them), what would
//! undo the drop-in's values, and the shim merged into the service's own `LD_PRELOAD`.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::search_path::{in_root, read_unit_file, DROP_IN};
use super::unit_file::{assignments, env_name_is_valid, environment_words, escape_specifiers};

/// The environment the unit's files give the service: `Environment=` lines of `[Service]`
/// in order, an empty assignment clearing the list, words systemd refuses skipped.
pub(super) fn effective_environment(files: &[PathBuf]) -> Result<BTreeMap<String, String>, String> {
    let mut env = BTreeMap::new();
    for file in files {
        let text = fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        apply_environment(&mut env, &text);
    }
    Ok(env)
}

/// One file's `[Service]` `Environment=` lines applied to `env` in order
/// (`config_parse_environ`): each `NAME=value` word sets NAME, an empty assignment clears
/// every variable set so far, a value systemd refuses is skipped as a whole and a word with
/// an invalid name alone.
fn apply_environment(env: &mut BTreeMap<String, String>, text: &str) {
    for a in assignments(text) {
        if a.section != "Service" || a.key != "Environment" {
            continue;
        }
        if a.value.is_empty() {
            env.clear();
            continue;
        }
        for word in environment_words(&a.value).unwrap_or_default() {
            if let Some((name, value)) = word.split_once('=') {
                if env_name_is_valid(name) {
                    env.insert(name.to_owned(), value.to_owned());
                }
            }
        }
    }
}

/// `EnvironmentFile=` files (read inside the root) that set `name`: their values come after
/// every `Environment=` and would undo the drop-in's.
pub(super) fn environment_files_setting(
    root: &Path,
    files: &[PathBuf],
    name: &str,
) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for file in files {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        for a in assignments(&text) {
            if a.section != "Service" || a.key != "EnvironmentFile" {
                continue;
            }
            let path = Path::new(a.value.trim_start_matches('-'));
            let Ok(contents) = fs::read_to_string(in_root(root, path)) else {
                continue;
            };
            let sets = contents.lines().any(|l| {
                let l = l.trim_start();
                let l = l.strip_prefix("export ").unwrap_or(l).trim_start();
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('='))
            });
            if sets {
                found.push(path.to_owned());
            }
        }
    }
    found
}

/// A file that undoes the drop-in's value of a variable, and how.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Undoer {
    file: PathBuf,
    how: Undo,
}

/// How a file undoes the drop-in's value of a variable.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Undo {
    /// A drop-in applied after ours sets the variable.
    Sets,
    /// A drop-in applied after ours has an empty `Environment=`, clearing every variable.
    Clears,
    /// `UnsetEnvironment=` (this word) removes it, wherever it is: systemd applies it after
    /// every `Environment=`.
    Unsets(String),
    /// A file of the same name as ours in a directory systemd prefers: ours is not read.
    Hides,
}

impl Undoer {
    pub(super) fn describe(&self, root: &Path, var: &str) -> String {
        let file = Path::new("/").join(self.file.strip_prefix(root).unwrap_or(&self.file));
        // A drop-in's file name is shown as it is on disk, control characters escaped.
        let file = crate::terminal_text::escape_controls(&file.to_string_lossy()).into_owned();
        match &self.how {
            Undo::Sets => format!(
                "{file} comes after the drop-in (drop-ins apply in file-name order) and sets \
                 {var}, which replaces the drop-in's value: remove it there, or add the \
                 drop-in's {var} to it."
            ),
            Undo::Clears => format!(
                "{file} comes after the drop-in and has an empty Environment=, which clears \
                 the drop-in's {var}: remove that line."
            ),
            Undo::Unsets(word) => format!(
                "{file} has UnsetEnvironment={word}, which removes the drop-in's {var} \
                 (systemd applies UnsetEnvironment= after every Environment=): remove it there."
            ),
            Undo::Hides => format!(
                "{file} has the drop-in's name in a directory systemd prefers, so the drop-in \
                 written is never read: remove that file."
            ),
        }
    }
}

/// The files that undo the drop-in's `var` (`content`, to be written at `ours`) once it is
/// in place, found as systemd computes the environment (`systemd.exec(5)`): the unit file,
/// then every drop-in ours among them in file-name order, `Environment=` lines in order (an
/// empty one clearing the list), then `UnsetEnvironment=` (`VAR` or `VAR=VALUE`) from all
/// of them. `files` is the unit file followed by the other drop-ins in systemd's order.
pub(super) fn undone_by(
    files: &[PathBuf],
    ours: &Path,
    content: &str,
    var: &str,
) -> Result<Vec<Undoer>, String> {
    let mut order: Vec<(PathBuf, String)> = Vec::new();
    let mut our_place = None;
    for (i, file) in files.iter().enumerate() {
        let name = file.file_name().map(OsStr::as_bytes);
        if i > 0 && name == Some(DROP_IN.as_bytes()) {
            return Ok(vec![Undoer {
                file: file.clone(),
                how: Undo::Hides,
            }]);
        }
        if i > 0 && our_place.is_none() && name.is_some_and(|n| n > DROP_IN.as_bytes()) {
            our_place = Some(order.len());
            order.push((ours.to_owned(), content.to_owned()));
        }
        order.push((file.clone(), read_unit_file(file)?));
    }
    let our_place = *our_place.get_or_insert_with(|| {
        order.push((ours.to_owned(), content.to_owned()));
        order.len() - 1
    });
    let mut last_change: Option<(usize, Undo)> = None;
    let mut value: Option<String> = None;
    let mut unsets: Vec<(usize, String)> = Vec::new();
    for (index, (_, text)) in order.iter().enumerate() {
        for a in assignments(text) {
            if a.section != "Service" {
                continue;
            }
            match a.key.as_str() {
                "Environment" if a.value.is_empty() => {
                    value = None;
                    last_change = Some((index, Undo::Clears));
                }
                "Environment" => {
                    for word in environment_words(&a.value).unwrap_or_default() {
                        if let Some(v) = word.strip_prefix(var).and_then(|r| r.strip_prefix('=')) {
                            value = Some(v.to_owned());
                            last_change = Some((index, Undo::Sets));
                        }
                    }
                }
                "UnsetEnvironment" if a.value.is_empty() => unsets.clear(),
                "UnsetEnvironment" => {
                    for word in environment_words(&a.value).unwrap_or_default() {
                        unsets.push((index, word));
                    }
                }
                _ => {}
            }
        }
    }
    let mut undoers = Vec::new();
    if let Some((index, how)) = last_change {
        if index != our_place {
            undoers.push(Undoer {
                file: order[index].0.clone(),
                how,
            });
        }
    }
    for (index, word) in unsets {
        let matches = word == var
            || value
                .as_deref()
                .is_some_and(|v| word.strip_prefix(var) == Some(&format!("={v}")));
        if matches {
            undoers.push(Undoer {
                file: order[index].0.clone(),
                how: Undo::Unsets(word),
            });
        }
    }
    Ok(undoers)
}

/// Our shim appended to the unit's `LD_PRELOAD` (raw, specifiers kept), replacing any other
/// copy of the shim it names (a stale path of an earlier install).
pub(super) fn merged_preload(theirs: Option<&str>, shim: &Path) -> String {
    let file_name = shim.file_name();
    let mut entries: Vec<String> = theirs
        .unwrap_or_default()
        .split([':', ' '])
        .filter(|e| !e.is_empty() && Path::new(e).file_name() != file_name)
        .map(str::to_owned)
        .collect();
    entries.push(escape_specifiers(&shim.to_string_lossy()));
    entries.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_lines_in_order() {
        /// (the files' texts in systemd's order, the environment they give)
        type Case = (
            &'static [&'static str],
            &'static [(&'static str, &'static str)],
        );
        let cases: &[Case] = &[
            (
                &["[Service]\nEnvironment=A=1 B=2\nEnvironment=A=3"],
                &[("A", "3"), ("B", "2")],
            ),
            (
                &[
                    "[Service]\nEnvironment=A=1",
                    "[Service]\nEnvironment=\nEnvironment=B=2",
                ],
                &[("B", "2")],
            ),
            (
                &["[Unit]\nEnvironment=A=1\n[Service]\nEnvironment=B=2"],
                &[("B", "2")],
            ),
            (&["[Service]\nEnvironment=A=1 \"B=2"], &[]),
            (
                &["[Service]\nEnvironment=1A=1 A-B=2 NOEQUALS C=3"],
                &[("C", "3")],
            ),
        ];
        for (texts, expected) in cases {
            let mut env = BTreeMap::new();
            for text in *texts {
                apply_environment(&mut env, text);
            }
            let expected: BTreeMap<String, String> = expected
                .iter()
                .map(|&(n, v)| (n.to_owned(), v.to_owned()))
                .collect();
            assert_eq!(env, expected, "{texts:?}");
        }
    }

    #[test]
    fn preload_merge() {
        let shim = Path::new("/usr/lib/mptcpize/libmptcpize_preload.so");
        assert_eq!(merged_preload(None, shim), shim.to_str().unwrap());
        assert_eq!(
            merged_preload(Some("/x.so /y.so"), shim),
            "/x.so:/y.so:/usr/lib/mptcpize/libmptcpize_preload.so"
        );
        assert_eq!(
            merged_preload(
                Some("/root/.cache/mptcpize/1/libmptcpize_preload.so:/x.so"),
                shim
            ),
            "/x.so:/usr/lib/mptcpize/libmptcpize_preload.so"
        );
    }
}
