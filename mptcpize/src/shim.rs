//! Where the `LD_PRELOAD` shim (`libmptcpize_preload.so`) is, in this order:
//!
//! 1. `MPTCPIZE_PRELOAD`, when set (an error if it names no file);
//! 2. next to the binary (an install that put both files in one directory; not in a cargo
//!    target directory, where it may be stale: see [`installed`]);
//! 3. the install prefix: `<bin>/../lib/mptcpize/`;
//! 4. the copy embedded in the binary at build time (see `build.rs`), written once to a
//!    per-user cache (`$XDG_CACHE_HOME/mptcpize/<hash>/` or `~/.cache/mptcpize/<hash>/`,
//!    else `$XDG_RUNTIME_DIR` or `/tmp/mptcpize-<uid>/`), so `cargo run -p mptcpize` and
//!    `cargo install --path mptcpize` work with no other step.
//!
//! The report library of `mptcpize run --report` (`libmptcpize_report.so`) is found the same
//! way, with `MPTCPIZE_REPORT_PRELOAD` in place of `MPTCPIZE_PRELOAD` ([`locate_report`]).

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

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
    /// The path contains a character `LD_PRELOAD` uses as a separator.
    Unusable(&'static Library, PathBuf),
    /// Writing the embedded copy failed everywhere; the errors per place tried.
    Unwritable(&'static Library, Vec<(PathBuf, io::Error)>),
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
            Error::Unusable(lib, path) => write!(
                f,
                "the library path {} contains ':' or a space, which LD_PRELOAD cannot hold: \
                 set {} to a copy in another directory",
                path.display(),
                lib.env
            ),
            Error::Unwritable(lib, errors) => {
                write!(f, "cannot write the library {} out (", lib.file_name)?;
                for (i, (path, e)) in errors.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "; " };
                    write!(f, "{sep}{}: {e}", path.display())?;
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
        if !path.is_file() {
            return Err(Error::EnvMissing(lib, value));
        }
        return usable(lib, path);
    }
    if let Some(path) = installed_library(lib) {
        return usable(lib, path);
    }
    let mut errors = Vec::new();
    for dir in cache_dirs() {
        match write_embedded_library(lib, &dir) {
            Ok(path) if preloadable(&path) => return Ok(path),
            Ok(path) => errors.push((path, io::Error::other("contains ':' or a space"))),
            Err(e) => errors.push((dir, e)),
        }
    }
    Err(Error::Unwritable(lib, errors))
}

/// The shim installed with the binary: next to it, or in `../lib/mptcpize/`.
///
/// Not in a cargo target directory (`target/<profile>/`, recognised by its `deps/` and
/// `.fingerprint/`): there `cargo build -p mptcpize` or `cargo test -p mptcpize` rebuilds
/// the binary but not the `.so` beside it, which may be stale; the embedded copy was built
/// from the same sources as the binary.
pub fn installed() -> Option<PathBuf> {
    installed_library(&SHIM)
}

fn installed_library(lib: &Library) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin_dir = exe.parent()?;
    if bin_dir.join("deps").is_dir() && bin_dir.join(".fingerprint").is_dir() {
        return None;
    }
    [
        bin_dir.join(lib.file_name),
        bin_dir.join("../lib/mptcpize").join(lib.file_name),
    ]
    .into_iter()
    .find(|path| path.is_file())
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

/// Where the embedded shim may be written, best first: the user's cache, then the user's
/// runtime directory, then a private directory in `/tmp`.
fn cache_dirs() -> Vec<PathBuf> {
    let absolute = |v: Option<OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    let mut dirs = Vec::new();
    if let Some(cache) = absolute(std::env::var_os("XDG_CACHE_HOME"))
        .or_else(|| absolute(std::env::var_os("HOME")).map(|home| home.join(".cache")))
    {
        dirs.push(cache.join("mptcpize"));
    }
    if let Some(runtime) = absolute(std::env::var_os("XDG_RUNTIME_DIR")) {
        dirs.push(runtime.join("mptcpize"));
    }
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    dirs.push(PathBuf::from(format!("/tmp/mptcpize-{uid}")));
    dirs
}

/// Writes the embedded shim to `<base>/<hash>/libmptcpize_preload.so` unless a good copy is
/// there, and returns its path.
// Only the tests call it since `mptcpize enable` writes its own, world-readable copy.
#[cfg_attr(not(test), allow(dead_code))]
pub fn write_embedded(base: &Path) -> io::Result<PathBuf> {
    write_embedded_library(&SHIM, base)
}

fn write_embedded_library(lib: &Library, base: &Path) -> io::Result<PathBuf> {
    let dir = base.join(lib.hash);
    let path = dir.join(lib.file_name);
    // 0700 directories of this user's: nobody else can swap the file between the check and
    // the exec. Checked also when the file is already there: in a shared `/tmp`, someone
    // else could have made the directories first.
    if check_private_dir(base).is_ok()
        && check_private_dir(&dir).is_ok()
        && is_our_copy(lib, &path)?
    {
        return Ok(path);
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    for d in [base, dir.as_path()] {
        check_private_dir(d)?;
    }
    // A unique temporary name, then an atomic rename: a concurrent launcher sees either no
    // file or a complete one.
    let tmp = dir.join(format!(".{}.{}.tmp", lib.file_name, std::process::id()));
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(&tmp)?;
        file.write_all(lib.embedded)?;
        file.sync_all()?;
        fs::rename(&tmp, &path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map(|()| path)
}

/// True when `path` is a regular file owned by this user, writable by nobody else, with the
/// embedded library's size (its name already carries the content hash).
fn is_our_copy(lib: &Library, path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(meta) => Ok(meta.file_type().is_file()
            // SAFETY: geteuid has no preconditions.
            && meta.uid() == unsafe { libc::geteuid() }
            && meta.mode() & 0o022 == 0
            && meta.len() == lib.embedded.len() as u64),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Refuses a directory that is a symlink, not ours, or writable by others (`/tmp` is shared).
fn check_private_dir(dir: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(dir)?;
    // SAFETY: geteuid has no preconditions.
    let ours = meta.uid() == unsafe { libc::geteuid() };
    if !meta.file_type().is_dir() || !ours || meta.mode() & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a directory owned by this user and closed to others",
                dir.display()
            ),
        ));
    }
    Ok(())
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

    #[test]
    fn report_library_is_written_beside_the_shim() {
        let base =
            std::env::temp_dir().join(format!("mptcpize-report-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir(&base).unwrap();
        fs::set_permissions(&base, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let shim = write_embedded(&base).unwrap();
        let report = write_embedded_library(&REPORT, &base).unwrap();
        assert_eq!(report.file_name().unwrap(), REPORT_FILE_NAME);
        assert_eq!(fs::read(&report).unwrap(), REPORT.embedded);
        assert_eq!(fs::read(&shim).unwrap(), EMBEDDED);
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn writes_once_then_reuses() {
        let base = std::env::temp_dir().join(format!("mptcpize-shim-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        fs::create_dir(&base).unwrap();
        fs::set_permissions(&base, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let path = write_embedded(&base).unwrap();
        assert_eq!(fs::read(&path).unwrap(), EMBEDDED);
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o755);
        let mtime = meta.modified().unwrap();
        assert_eq!(write_embedded(&base).unwrap(), path);
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), mtime);
        // A truncated copy is replaced.
        fs::write(&path, b"x").unwrap();
        write_embedded(&base).unwrap();
        assert_eq!(fs::read(&path).unwrap(), EMBEDDED);
        // A directory open to others is refused.
        let open = base.join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        assert!(write_embedded(&open).is_err());
        fs::remove_dir_all(&base).unwrap();
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
