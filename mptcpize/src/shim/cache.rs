//! The embedded copy of a library written out to a cache directory, and found there again.
//!
//! Where (the first that works; see [`locations`]):
//!
//! 1. `$XDG_CACHE_HOME/mptcpize` when the variable is set;
//! 2. for root, `/var/cache/mptcpize`, then `/run/mptcpize`: root-owned places that a
//!    program dropping from root to its own user can still read (root's home is usually
//!    closed to it), and that do not depend on the `HOME` root was given (`sudo` may keep
//!    the invoking user's);
//! 3. `~/.cache/mptcpize` (`$HOME`) when `XDG_CACHE_HOME` is not set;
//! 4. `$XDG_RUNTIME_DIR/mptcpize`;
//! 5. `/tmp/mptcpize-<uid>`;
//! 6. when that name is taken by another user: a directory of this user's named
//!    `/tmp/mptcpize-<uid>.XXXXXX` (one made earlier is reused, else `mkdtemp`), with a
//!    message saying so.
//!
//! Each is used only if the walk of [`trusted_path`] accepts it: every component owned by
//! root or this user and writable by nobody else, so a `HOME` or `XDG_CACHE_HOME` in another
//! user's directory is passed over, and nothing is ever created inside another user's
//! directory. In the chosen directory the library lives at `<hash>/<file name>`; the copy
//! there is used only when its bytes, read through the descriptor that was checked, are
//! those embedded in the launcher (not merely the same size); otherwise a new copy is
//! written beside it under a temporary name and renamed over it, so a concurrent launcher
//! sees the old file or the new one, never a part. No `fsync`: a copy cut short by a crash
//! fails the comparison at the next run and is written again.
//!
//! Not chosen: handing the loader a `memfd` as `/proc/self/fd/N`. It needs no directory at
//! all, but the descriptor must stay open, without `FD_CLOEXEC`, in the program and in every
//! program it starts, since `LD_PRELOAD` is inherited: daemons, `sudo`, OpenSSH and Python's
//! `subprocess` (`close_fds=True` by default) close every descriptor they do not know, and
//! their children would then start without the shim, with a loader error on stderr.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use super::trusted_path::{self, euid, Missing, Reason, Refused, TrustedDir};
use super::Library;

/// A place the embedded library may be written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The base directory; the library goes to `<base>/<hash>/<file name>`.
    pub base: PathBuf,
    /// A name in a directory every user can write to (`/tmp`), which another user may have
    /// taken first.
    pub shared: bool,
}

/// Where the embedded library may be written, best first (see the module doc).
pub fn locations() -> Vec<Location> {
    let var = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let private = |base: PathBuf| Location {
        base,
        shared: false,
    };
    let mut places = Vec::new();
    let xdg_cache = var("XDG_CACHE_HOME");
    if let Some(cache) = &xdg_cache {
        places.push(private(cache.join("mptcpize")));
    }
    if euid() == 0 {
        places.push(private(PathBuf::from("/var/cache/mptcpize")));
        places.push(private(PathBuf::from("/run/mptcpize")));
    }
    if xdg_cache.is_none() {
        if let Some(home) = var("HOME") {
            places.push(private(home.join(".cache/mptcpize")));
        }
    }
    if let Some(runtime) = var("XDG_RUNTIME_DIR") {
        places.push(private(runtime.join("mptcpize")));
    }
    places.push(Location {
        base: shared_tmp_name(),
        shared: true,
    });
    places
}

/// `/tmp/mptcpize-<uid>`.
fn shared_tmp_name() -> PathBuf {
    PathBuf::from(format!("/tmp/mptcpize-{}", euid()))
}

/// Why a location could not hold the library.
#[derive(Debug)]
pub struct Failure {
    /// The location.
    pub base: PathBuf,
    /// What went wrong.
    pub error: Refused,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.base.display(), self.error)
    }
}

/// The first location of [`locations`] that holds (or now holds) the embedded library, and
/// the failures of those before it. A message goes to stderr when the shared `/tmp` name
/// is taken by another user.
pub fn write_out(lib: &Library) -> Result<PathBuf, Vec<Failure>> {
    let mut failures = Vec::new();
    for location in locations() {
        match write_embedded(lib, &location.base) {
            Ok(path) => return Ok(path),
            Err(error) if location.shared && taken_by_another_user(&location.base, &error) => {
                match private_tmp(lib) {
                    Ok(path) => {
                        eprintln!(
                            "mptcpize: not using {}: {error}; using {} instead (remove {0} if \
                             nobody should have made it: another user may be trying to get \
                             their library loaded)",
                            location.base.display(),
                            path.display()
                        );
                        return Ok(path);
                    }
                    Err(e) => failures.push(e),
                }
            }
            Err(error) => failures.push(Failure {
                base: location.base,
                error,
            }),
        }
    }
    Err(failures)
}

/// True when `error` is about `base` itself belonging to someone else (not about `/tmp`).
fn taken_by_another_user(base: &Path, error: &Refused) -> bool {
    error.path == base
        && matches!(
            error.reason,
            Reason::OwnedBy(_) | Reason::WritableByOthers(_) | Reason::WrongType
        )
}

/// Writes the library to a directory of this user's in `/tmp` with a random suffix: one
/// made earlier (by this fallback, in another run) when there is one, else a new one.
fn private_tmp(lib: &Library) -> Result<PathBuf, Failure> {
    let prefix = format!("mptcpize-{}.", euid());
    let tmp = Path::new("/tmp");
    if let Ok(entries) = std::fs::read_dir(tmp) {
        let mut earlier: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .filter(|name| name.as_bytes().starts_with(prefix.as_bytes()))
            .map(|name| tmp.join(name))
            .collect();
        earlier.sort();
        for base in earlier {
            if let Ok(path) = write_embedded_in(lib, &base, Missing::Fail) {
                return Ok(path);
            }
        }
    }
    let template = tmp.join(format!("{prefix}XXXXXX"));
    let mut template = std::ffi::CString::new(template.into_os_string().into_vec())
        .expect("no NUL in the template")
        .into_bytes_with_nul();
    // SAFETY: a writable, NUL-terminated template ending in six X, as mkdtemp(3) requires.
    let made = unsafe { libc::mkdtemp(template.as_mut_ptr().cast()) };
    if made.is_null() {
        return Err(Failure {
            base: tmp.join(format!("{prefix}XXXXXX")),
            error: Refused {
                path: tmp.to_owned(),
                reason: Reason::Io(io::Error::last_os_error()),
            },
        });
    }
    template.pop();
    let base = PathBuf::from(OsString::from_vec(template));
    // mkdtemp makes it 0700; 0755 as the other cache directories (our own entry in the
    // sticky /tmp: no other user can replace it before this).
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755));
    write_embedded_in(lib, &base, Missing::Fail).map_err(|error| Failure { base, error })
}

/// Writes `lib`'s embedded copy to `<base>/<hash>/<file name>` unless the copy there has
/// exactly its bytes, creating the missing directories; returns the resolved path.
pub fn write_embedded(lib: &Library, base: &Path) -> Result<PathBuf, Refused> {
    write_embedded_in(lib, base, Missing::Create)
}

fn write_embedded_in(lib: &Library, base: &Path, missing: Missing) -> Result<PathBuf, Refused> {
    // The base must exist (or be created) before the hash directory below it, which is
    // always created when missing.
    let dir =
        trusted_path::open_dir(base, missing)?.child(OsStr::new(lib.hash), Missing::Create)?;
    let name = OsStr::new(lib.file_name);
    if holds_copy(lib, &dir, name)? {
        return Ok(dir.path.join(name));
    }
    write_copy(lib, &dir, name).map_err(|e| Refused {
        path: dir.path.join(name),
        reason: Reason::Io(e),
    })?;
    // Read back through a checked descriptor, as a copy found there would be.
    if holds_copy(lib, &dir, name)? {
        Ok(dir.path.join(name))
    } else {
        Err(Refused {
            path: dir.path.join(name),
            reason: Reason::Io(io::Error::other(
                "the copy just written reads back different",
            )),
        })
    }
}

/// True when `dir` holds `name`, a trusted regular file (see [`trusted_path`]) whose bytes
/// are the embedded ones; false when it is missing or differs (to be replaced); an error
/// when it is there but cannot be checked.
fn holds_copy(lib: &Library, dir: &TrustedDir, name: &OsStr) -> Result<bool, Refused> {
    let mut found = match trusted_path::open_file_in(dir, name) {
        Ok(found) => found,
        Err(e) if e.is_missing() => return Ok(false),
        // Another type, owner or mode: replaced by a good copy (the directory is ours).
        Err(Refused {
            reason: Reason::OwnedBy(_) | Reason::WritableByOthers(_) | Reason::WrongType,
            ..
        }) => return Ok(false),
        Err(e) => return Err(e),
    };
    same_bytes(&mut found.file, lib.embedded).map_err(|e| Refused {
        path: found.path,
        reason: Reason::Io(e),
    })
}

/// True when `file` holds exactly `expected`, read whole (into memory left uninitialised:
/// zeroing a buffer first would cost more than the comparison) and compared (no hash
/// needed: the expected bytes are at hand, and a comparison cannot collide).
fn same_bytes(file: &mut impl Read, expected: &[u8]) -> io::Result<bool> {
    // One byte more than expected, to see a longer file without reading all of it.
    let mut content = Vec::with_capacity(expected.len() + 1);
    file.take(expected.len() as u64 + 1)
        .read_to_end(&mut content)?;
    Ok(content == expected)
}

/// Writes the embedded bytes to a new file in `dir` and renames it to `name`.
fn write_copy(lib: &Library, dir: &TrustedDir, name: &OsStr) -> io::Result<()> {
    // Unique per process; O_EXCL and no link followed. A leftover of a launcher killed
    // half-way (same pid, much later) is removed first.
    let tmp = format!(".{}.{}.tmp", lib.file_name, std::process::id());
    let _ = rustix::fs::unlinkat(&dir.fd, tmp.as_str(), rustix::fs::AtFlags::empty());
    let fd = rustix::fs::openat(
        &dir.fd,
        tmp.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o755),
    )?;
    let mut file = std::fs::File::from(fd);
    // Readable by all whatever the umask (as `trusted_path` makes directories).
    let written = rustix::fs::fchmod(&file, Mode::from_raw_mode(0o755))
        .map_err(io::Error::from)
        .and_then(|()| file.write_all(lib.embedded))
        .and_then(|()| {
            rustix::fs::renameat(&dir.fd, tmp.as_str(), dir.fd.as_fd(), name).map_err(Into::into)
        });
    if written.is_err() {
        let _ = rustix::fs::unlinkat(&dir.fd, tmp.as_str(), rustix::fs::AtFlags::empty());
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_is_exact() {
        let data = vec![7u8; 40_000];
        assert!(same_bytes(&mut &data[..], &data).unwrap());
        assert!(!same_bytes(&mut &data[..39_999], &data).unwrap());
        let mut longer = data.clone();
        longer.push(0);
        assert!(!same_bytes(&mut &longer[..], &data).unwrap());
        let mut changed = data.clone();
        changed[39_000] = 8;
        assert!(!same_bytes(&mut &changed[..], &data).unwrap());
    }

    #[test]
    fn shared_tmp_comes_last() {
        let places = locations();
        let last = places.last().unwrap();
        assert!(last.shared);
        assert_eq!(last.base, shared_tmp_name());
        assert_eq!(places.iter().filter(|p| p.shared).count(), 1);
    }
}
