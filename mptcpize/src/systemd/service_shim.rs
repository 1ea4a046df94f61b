//! The shim a service loads: the one named by `MPTCPIZE_PRELOAD`, the installed or packaged
//! one, else a copy of the embedded shim in `/var/lib/mptcpize/`; each checked loadable by
//! every user and changeable by root alone, since a root service will load it.

use std::fs;
use std::io::{self, Write as _};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::search_path::in_root;

/// The packaged shim (the Debian package's `/usr/lib/mptcpize/`).
const PACKAGED_SHIM: &str = "/usr/lib/mptcpize/libmptcpize_preload.so";
/// Where a copy of the embedded shim is written for services when no installed one can be
/// used: root-owned, readable by every user.
const SYSTEM_COPY_DIR: &str = "/var/lib/mptcpize";

/// Checks that every user can load `path` (as the service will see it, inside `root`) and
/// nobody but its owner (root, or whoever runs mptcpize on a scratch root) can change it,
/// and returns it resolved (no symbolic link, no `..`), as the service is to be given it.
///
/// The path is walked as `run` walks the shim's ([`trusted_path`](crate::shim::trusted_path):
/// `openat(O_PATH | O_NOFOLLOW)` one component at a time, a link followed only when it and
/// its directory are trusted), so a root-owned link into another user's directory is
/// refused: that user could swap the library a root service loads. Then, on the resolved
/// path: the file readable by others, each directory searchable by others, none of them
/// writable by group or others (not even with the sticky bit: a service's library has no
/// business in `/tmp`).
fn loadable_by_every_user(root: &Path, path: &Path) -> Result<PathBuf, String> {
    let shown = |at: &Path| {
        Path::new("/")
            .join(at.strip_prefix(root).unwrap_or(at))
            .display()
            .to_string()
    };
    let inside =
        std::path::absolute(in_root(root, path)).map_err(|e| format!("{}: {e}", path.display()))?;
    let found = crate::shim::trusted_path::open_file(&inside).map_err(|refused| {
        format!(
            "{} cannot be trusted for a service: {refused}",
            path.display()
        )
    })?;
    let root_abs = std::path::absolute(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let resolved = match found.path.strip_prefix(&root_abs) {
        Ok(rest) => Path::new("/").join(rest),
        Err(_) => {
            return Err(format!(
                "{} leads out of {} (to {}) through a symbolic link",
                path.display(),
                root.display(),
                found.path.display()
            ))
        }
    };
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let mut at = root_abs.clone();
    let components: Vec<_> = resolved
        .components()
        .filter(|c| *c != Component::RootDir)
        .collect();
    for (i, component) in components.iter().enumerate() {
        at.push(component);
        // The walk resolved every link: one met now was planted since, and is refused.
        let meta = fs::symlink_metadata(&at).map_err(|e| format!("{}: {e}", shown(&at)))?;
        let last = i + 1 == components.len();
        let mode = meta.mode();
        let (what, wanted) = if last {
            ("readable", 0o004)
        } else {
            ("searchable", 0o001)
        };
        if (last && !meta.is_file()) || (!last && !meta.is_dir()) {
            return Err(format!("{} is not of the expected type", shown(&at)));
        }
        if mode & wanted == 0 {
            return Err(format!(
                "{} is not {what} by every user, so a service running as another user could \
                 not load the library",
                shown(&at)
            ));
        }
        if mode & 0o022 != 0 || (meta.uid() != 0 && meta.uid() != euid) {
            return Err(format!(
                "{} can be changed by users other than root: a service must not load a \
                 library from there",
                shown(&at)
            ));
        }
    }
    Ok(resolved)
}

/// The shim a service loads, as a path valid inside the root, and whether a copy has to be
/// written there first: `MPTCPIZE_PRELOAD` (checked), else (without `--root`) the installed
/// one found next to the launcher, else the packaged `/usr/lib/mptcpize/` one, else a copy
/// of the embedded shim in `/var/lib/mptcpize/HASH/` (root-owned, readable by everyone).
pub(super) fn service_library(root: &Path, system_root: bool) -> Result<(PathBuf, bool), String> {
    if let Some(value) = std::env::var_os(crate::shim::PRELOAD_ENV) {
        let path = PathBuf::from(&value);
        if !path.is_absolute() {
            return Err(format!(
                "{}={} is not an absolute path: a service needs the library's full path",
                crate::shim::PRELOAD_ENV,
                path.display()
            ));
        }
        if value.as_bytes().iter().any(|&b| b" \t\n:".contains(&b)) {
            return Err(format!(
                "{}={} contains a space or ':', which LD_PRELOAD cannot hold: copy the \
                 library to another directory",
                crate::shim::PRELOAD_ENV,
                path.display()
            ));
        }
        let resolved = loadable_by_every_user(root, &path)
            .map_err(|e| format!("{}: {e}", crate::shim::PRELOAD_ENV))?;
        return Ok((resolved, false));
    }
    if system_root {
        if let Some(installed) = crate::shim::installed() {
            if let Ok(resolved) = loadable_by_every_user(root, &installed) {
                return Ok((resolved, false));
            }
        }
    }
    if let Ok(resolved) = loadable_by_every_user(root, Path::new(PACKAGED_SHIM)) {
        return Ok((resolved, false));
    }
    let shim = &crate::shim::SHIM;
    let copy = Path::new(SYSTEM_COPY_DIR)
        .join(shim.embedded_hash())
        .join(shim.file_name());
    let current = fs::read(in_root(root, &copy)).is_ok_and(|b| b == shim.embedded_bytes());
    Ok((
        copy.clone(),
        !(current && loadable_by_every_user(root, &copy).is_ok()),
    ))
}

/// Writes the embedded shim to `copy` (inside the root): directories 0755, file 0644,
/// through a temporary file and a rename.
pub(super) fn write_system_copy(root: &Path, copy: &Path) -> Result<(), String> {
    let err = |p: &Path, e: io::Error| {
        format!("cannot write the shim for services to {}: {e}", p.display())
    };
    let dir = in_root(root, copy.parent().expect("a directory"));
    // The directories from /var/lib/mptcpize down are ours to create and set.
    for d in [dir.parent().expect("/var/lib/mptcpize"), dir.as_path()] {
        match fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(d).map_err(|e| err(d, e))?
            }
            Err(e) => return Err(err(d, e)),
        }
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).map_err(|e| err(d, e))?;
    }
    let path = in_root(root, copy);
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        crate::shim::FILE_NAME,
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        file.write_all(crate::shim::SHIM.embedded_bytes())?;
        file.set_permissions(fs::Permissions::from_mode(0o644))?;
        file.sync_all()?;
        fs::rename(&tmp, &path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(err(&path, e));
    }
    loadable_by_every_user(root, copy).map(drop)
}
