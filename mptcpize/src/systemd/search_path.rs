//! Where systemd finds a unit under a root: the system manager's unit directories
//! (`systemd.unit(5)`, "System Unit Search Path"), the unit file (an alias followed, a mask
//! refused, an instance's template) and its drop-ins in the order systemd applies them.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::unit_name::template_of;

/// `root` joined with an absolute path as the unit will see it.
pub(super) fn in_root(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// Unit search path of the system manager, most important first (`systemd.unit(5)`,
/// "System Unit Search Path"; `lib/systemd/system` for systems without merged `/usr`).
const UNIT_DIRS: [&str; 13] = [
    "etc/systemd/system.control",
    "run/systemd/system.control",
    "run/systemd/transient",
    "run/systemd/generator.early",
    "etc/systemd/system",
    "etc/systemd/system.attached",
    "run/systemd/system",
    "run/systemd/system.attached",
    "run/systemd/generator",
    "usr/local/lib/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
    "run/systemd/generator.late",
];

/// The drop-in's file name, in `UNIT.d/`.
pub const DROP_IN: &str = "zz-mptcpize.conf";
/// The name earlier versions wrote: `disable` removes it too, and it is not merged from.
pub(super) const OLD_DROP_IN: &str = "mptcpize.conf";

/// The directory `enable` writes the unit's drop-in to: `/etc/systemd/system/UNIT.d/` in
/// the root.
pub(super) fn drop_in_dir(root: &Path, unit: &str) -> PathBuf {
    root.join("etc/systemd/system").join(format!("{unit}.d"))
}

/// The unit file: the name in the first directory of the search path holding it, else for
/// an instance its template. A unit linked to `/dev/null` is masked.
pub(super) fn find_unit(root: &Path, unit: &str) -> Result<PathBuf, String> {
    let names = std::iter::once(unit.to_owned()).chain(template_of(unit));
    for name in names {
        for dir in UNIT_DIRS {
            let path = root.join(dir).join(&name);
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                let target =
                    fs::read_link(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                if target == Path::new("/dev/null") {
                    return Err(format!(
                        "{unit} is masked ({} links to /dev/null): `systemctl unmask {unit}` first",
                        path.display()
                    ));
                }
                // An alias: resolved inside the root.
                let resolved = if target.is_absolute() {
                    in_root(root, &target)
                } else {
                    path.parent().expect("in a directory").join(target)
                };
                return Ok(resolved);
            }
            return Ok(path);
        }
    }
    Err(format!(
        "unit {unit} not found in {}: check the name with `systemctl list-unit-files`",
        UNIT_DIRS.map(|d| format!("/{d}")).join(", ")
    ))
}

/// The drop-in directories' unit names for `unit`, as systemd looks for them: the name,
/// its template, each dash prefix (`foo-bar.service` → `foo-.service`), the type.
fn drop_in_names(unit: &str) -> Vec<String> {
    let (prefix, suffix) = unit.rsplit_once('.').expect("a checked name has a suffix");
    let mut names = vec![unit.to_owned()];
    names.extend(template_of(unit));
    let base = prefix.split_once('@').map_or(prefix, |(before, _)| before);
    for (i, _) in base.match_indices('-') {
        names.push(format!("{}-.{suffix}", &base[..i]));
    }
    names.push(suffix.to_owned());
    names
}

/// The unit's drop-ins other than ours, in the order systemd applies them.
pub(super) fn other_drop_ins(root: &Path, unit: &str) -> Vec<PathBuf> {
    let ours = drop_in_dir(root, unit);
    let mut by_name: BTreeMap<OsString, PathBuf> = BTreeMap::new();
    for dir in UNIT_DIRS {
        for name in drop_in_names(unit) {
            let d = root.join(dir).join(format!("{name}.d"));
            let Ok(entries) = fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.filter_map(Result::ok) {
                let file = entry.file_name();
                if !file.as_bytes().ends_with(b".conf") {
                    continue;
                }
                // A more important directory's file hides a same-named one.
                by_name.entry(file).or_insert_with(|| entry.path());
            }
        }
    }
    by_name
        .into_values()
        .filter(|p| {
            !(p.parent() == Some(ours.as_path())
                && (p.file_name() == Some(OsStr::new(DROP_IN))
                    || p.file_name() == Some(OsStr::new(OLD_DROP_IN))))
        })
        .collect()
}

/// A unit file's text; an unreadable file is an error that names it (never taken as
/// empty: what it says would be missed).
pub(super) fn read_unit_file(file: &Path) -> Result<String, String> {
    fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn drop_in_directory_names() {
        assert_eq!(
            drop_in_names("foo-bar@x.service"),
            [
                "foo-bar@x.service",
                "foo-bar@.service",
                "foo-.service",
                "service"
            ]
        );
        assert_eq!(drop_in_names("web.socket"), ["web.socket", "socket"]);
    }
}
