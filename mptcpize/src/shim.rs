//! Where the `LD_PRELOAD` shim (`libmptcpize_preload.so`) is, in this order:
//!
//! 1. `MPTCPIZE_PRELOAD`, when set (an error if it names no file, or a file another user
//!    could replace);
//! 2. the installed copies ([`installed_candidates`]): next to the binary (not in a cargo
//!    target directory, where it may be stale: see [`installed`]), then the install prefix,
//!    `<prefix>/lib/mptcpize/` for a binary in `<prefix>/bin/`;
//! 3. the copy embedded in the binary at build time (see `build.rs`), written once to a
//!    cache directory ([`cache`]: `$XDG_CACHE_HOME`, root's `/var/cache` and `/run`,
//!    `~/.cache`, `$XDG_RUNTIME_DIR`, `/tmp`), so `cargo run -p mptcpize` and
//!    `cargo install --path mptcpize` work with no other step.
//!
//! Whatever the source, the path handed to the dynamic loader is one that only root and the
//! user running mptcpize can change ([`trusted_path`]): every component, from `/` to the
//! file, owned by one of them and writable by nobody else, symbolic links resolved. An
//! installed copy that fails this is passed over with a message; the embedded copy is
//! checked byte for byte, not by size (and then known by its seal until the file changes:
//! see [`cache`]).
//!
//! The report library of `mptcpize run --report` (`libmptcpize_report.so`) is found the same
//! way, with `MPTCPIZE_REPORT_PRELOAD` in place of `MPTCPIZE_PRELOAD` ([`locate_report`]).

pub mod cache;
pub mod trusted_path;

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use trusted_path::Refused;

/// The shim's file name.
pub const FILE_NAME: &str = "libmptcpize_preload.so";
/// Environment variable naming the shim to use.
pub const PRELOAD_ENV: &str = "MPTCPIZE_PRELOAD";

/// The shim built by `build.rs` for this binary's profile and target.
static EMBEDDED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libmptcpize_preload.so"));
/// A hash of [`EMBEDDED`], naming its cache directory so versions never mix.
const EMBEDDED_HASH: &str = env!("MPTCPIZE_PRELOAD_HASH");

/// The report library's file name.
pub const REPORT_FILE_NAME: &str = "libmptcpize_report.so";
/// Environment variable naming the report library to use.
pub const REPORT_PRELOAD_ENV: &str = "MPTCPIZE_REPORT_PRELOAD";

/// A library the launcher preloads: its name, the variable that overrides where it is, and
/// the copy built with the binary.
#[derive(Debug)]
pub struct Library {
    file_name: &'static str,
    env: &'static str,
    embedded: &'static [u8],
    hash: &'static str,
}

/// The shim.
pub static SHIM: Library = Library {
    file_name: FILE_NAME,
    env: PRELOAD_ENV,
    embedded: EMBEDDED,
    hash: EMBEDDED_HASH,
};

/// The report library (`mptcpize run --report`).
pub static REPORT: Library = Library {
    file_name: REPORT_FILE_NAME,
    env: REPORT_PRELOAD_ENV,
    embedded: include_bytes!(concat!(env!("OUT_DIR"), "/libmptcpize_report.so")),
    hash: env!("MPTCPIZE_REPORT_HASH"),
};

// For `mptcpize enable`, which writes the embedded copy where every service user can load
// it (see `systemd::service_library`), not to a per-user cache.
impl Library {
    /// The copy built with the binary.
    pub fn embedded_bytes(&self) -> &'static [u8] {
        self.embedded
    }

    /// The hash of [`Library::embedded_bytes`], naming the directory of a written copy.
    pub fn embedded_hash(&self) -> &'static str {
        self.hash
    }

    /// The library's file name.
    pub fn file_name(&self) -> &'static str {
        self.file_name
    }
}

/// Why no shim could be found.
#[derive(Debug)]
pub enum Error {
    /// `MPTCPIZE_PRELOAD` (or the library's variable) names a missing file.
    EnvMissing(&'static Library, OsString),
    /// `MPTCPIZE_PRELOAD` names a file that another user could replace.
    EnvUntrusted(&'static Library, OsString, Refused),
    /// The path contains a character `LD_PRELOAD` uses as a separator.
    Unusable(&'static Library, PathBuf),
    /// Writing the embedded copy failed everywhere; what failed at each place tried.
    Unwritable(&'static Library, Vec<cache::Failure>),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::EnvMissing(lib, value) => write!(
                f,
                "{}={} is not a file: point it to {}, or unset it",
                lib.env,
                Path::new(value).display(),
                lib.file_name
            ),
            Error::EnvUntrusted(lib, value, why) => write!(
                f,
                "{}={} is not used: {why}; put the library where only root or you can \
                 change it, or unset {0}",
                lib.env,
                Path::new(value).display(),
            ),
            Error::Unusable(lib, path) => write!(
                f,
                "the library path {} contains ':' or a space, which LD_PRELOAD cannot hold: \
                 set {} to a copy in another directory",
                path.display(),
                lib.env
            ),
            Error::Unwritable(lib, failures) => {
                write!(f, "cannot write the library {} out (", lib.file_name)?;
                for (i, failure) in failures.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "; " };
                    write!(f, "{sep}{failure}")?;
                }
                write!(
                    f,
                    "): install {} next to mptcpize and/or set {}",
                    lib.file_name, lib.env
                )
            }
        }
    }
}

/// The absolute path of the shim to preload (see the module doc for the order).
pub fn locate() -> Result<PathBuf, Error> {
    locate_library(&SHIM)
}

/// The absolute path of the report library, found as the shim is.
pub fn locate_report() -> Result<PathBuf, Error> {
    locate_library(&REPORT)
}

fn locate_library(lib: &'static Library) -> Result<PathBuf, Error> {
    if let Some(value) = std::env::var_os(lib.env) {
        let path =
            std::path::absolute(&value).map_err(|_| Error::EnvMissing(lib, value.clone()))?;
        return match trusted_path::open_file(&path) {
            Ok(found) => usable(lib, found.path),
            Err(e) if e.is_missing() || !path.is_file() => Err(Error::EnvMissing(lib, value)),
            Err(e) => Err(Error::EnvUntrusted(lib, value, e)),
        };
    }
    if let Some(path) = installed_library(lib) {
        return usable(lib, path);
    }
    let mut errors = Vec::new();
    match cache::write_out(lib) {
        Ok(path) if preloadable(&path) => return Ok(path),
        Ok(path) => errors.push(cache::Failure {
            base: path.clone(),
            error: Refused {
                path,
                reason: trusted_path::Reason::Io(io::Error::other("contains ':' or a space")),
            },
        }),
        Err(failures) => errors.extend(failures),
    }
    Err(Error::Unwritable(lib, errors))
}

/// The shim installed with the binary (see [`installed_candidates`]), when it and every
/// directory above it can be changed only by root or this user.
///
/// Not in a cargo target directory (`target/<profile>/`, recognised by its `deps/` and
/// `.fingerprint/`): there `cargo build -p mptcpize` or `cargo test -p mptcpize` rebuilds
/// the binary but not the `.so` beside it, which may be stale; the embedded copy was built
/// from the same sources as the binary.
pub fn installed() -> Option<PathBuf> {
    installed_library(&SHIM)
}

/// Where an installed `lib` may be, best first: next to the binary, then
/// `<prefix>/lib/mptcpize/` for a binary in `<prefix>/bin/` (the binary's path resolved,
/// so no `..` reaches the loader). Empty in a cargo target directory.
pub fn installed_candidates(lib: &Library) -> Vec<PathBuf> {
    let Ok(exe) = std::env::current_exe() else {
        return Vec::new();
    };
    let Some(bin_dir) = exe.parent() else {
        return Vec::new();
    };
    if bin_dir.join("deps").is_dir() && bin_dir.join(".fingerprint").is_dir() {
        return Vec::new();
    }
    let mut candidates = vec![bin_dir.join(lib.file_name)];
    if let Some(prefix) = bin_dir.parent() {
        candidates.push(prefix.join("lib/mptcpize").join(lib.file_name));
    }
    candidates
}

fn installed_library(lib: &Library) -> Option<PathBuf> {
    for candidate in installed_candidates(lib) {
        // A name that is not there is passed over without walking its path from `/` (the
        // walk would end the same way, a few thousand instructions later); anything there,
        // a symbolic link included, is walked and checked.
        if std::fs::symlink_metadata(&candidate).is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
        {
            continue;
        }
        match trusted_path::open_file(&candidate) {
            Ok(found) => return Some(found.path),
            Err(e) if e.is_missing() => {}
            Err(e) => crate::messages::stderr_line(format_args!(
                "mptcpize: not using {}: {e}; using the copy built into mptcpize",
                candidate.display()
            )),
        }
    }
    None
}

fn usable(lib: &'static Library, path: PathBuf) -> Result<PathBuf, Error> {
    if preloadable(&path) {
        Ok(path)
    } else {
        Err(Error::Unusable(lib, path))
    }
}

/// The dynamic loader splits `LD_PRELOAD` at `:` and spaces.
fn preloadable(path: &Path) -> bool {
    !path
        .as_os_str()
        .as_bytes()
        .iter()
        .any(|&b| b == b':' || b == b' ' || b == b'\t' || b == b'\n')
}

/// Writes the embedded shim to `<base>/<hash>/libmptcpize_preload.so` unless an identical
/// copy is there, and returns its path; `base` and everything above it must be changeable
/// only by root or this user (see [`trusted_path`]). Only the tests write the shim by
/// itself: `run` goes through the cache, `enable` writes its own world-readable copy.
#[cfg(test)]
pub fn write_embedded(base: &Path) -> io::Result<PathBuf> {
    cache::write_embedded(&SHIM, base)
        .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_shim_is_an_elf_library() {
        assert!(EMBEDDED.starts_with(b"\x7fELF"));
        assert_eq!(EMBEDDED_HASH.len(), 16);
        assert!(REPORT.embedded.starts_with(b"\x7fELF"));
        assert_eq!(REPORT.hash.len(), 16);
    }

    fn scratch(tag: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let base = std::env::temp_dir().join(format!("mptcpize-{tag}-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir(&base).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
        base
    }

    #[test]
    fn report_library_is_written_beside_the_shim() {
        let base = scratch("report");
        let shim = write_embedded(&base).unwrap();
        let report = cache::write_embedded(&REPORT, &base).unwrap();
        assert_eq!(report.file_name().unwrap(), REPORT_FILE_NAME);
        assert_eq!(std::fs::read(&report).unwrap(), REPORT.embedded);
        assert_eq!(std::fs::read(&shim).unwrap(), EMBEDDED);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn writes_once_then_reuses_only_an_identical_copy() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let base = scratch("shim");
        let path = write_embedded(&base).unwrap();
        assert_eq!(path, base.join(EMBEDDED_HASH).join(FILE_NAME));
        assert_eq!(std::fs::read(&path).unwrap(), EMBEDDED);
        let meta = std::fs::metadata(&path).unwrap();
        // Readable by a program that dropped to another user, whatever the umask.
        assert_eq!(meta.mode() & 0o777, 0o755);
        assert_eq!(
            std::fs::metadata(path.parent().unwrap()).unwrap().mode() & 0o777,
            0o755
        );
        let inode = meta.ino();
        assert_eq!(write_embedded(&base).unwrap(), path);
        assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode, "rewritten");
        // A truncated copy is replaced.
        std::fs::write(&path, b"x").unwrap();
        write_embedded(&base).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), EMBEDDED);
        // So is a copy of the same size with other bytes.
        let mut other = EMBEDDED.to_vec();
        other[EMBEDDED.len() / 2] ^= 0xff;
        std::fs::write(&path, &other).unwrap();
        write_embedded(&base).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), EMBEDDED);
        // And a copy writable by others, even with the right bytes.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let inode = std::fs::metadata(&path).unwrap().ino();
        write_embedded(&base).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_ne!(meta.ino(), inode);
        assert_eq!(meta.mode() & 0o022, 0);
        // No temporary file left behind (a seal may be there, should these steps have
        // taken longer than `cache::SEAL_AFTER`).
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name != FILE_NAME && name != &format!("{FILE_NAME}.verified"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        // A directory open to others is refused, and nothing is created in it.
        let open = base.join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(write_embedded(&open).is_err());
        assert_eq!(std::fs::read_dir(&open).unwrap().count(), 0);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn separators_are_refused() {
        assert!(preloadable(Path::new(
            "/usr/lib/mptcpize/libmptcpize_preload.so"
        )));
        assert!(!preloadable(Path::new("/home/a b/libmptcpize_preload.so")));
        assert!(!preloadable(Path::new("/x:y/libmptcpize_preload.so")));
    }
}
