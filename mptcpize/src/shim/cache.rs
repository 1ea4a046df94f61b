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
//! A location whose path `LD_PRELOAD` cannot carry (one holding `:` or a space, such as an
//! `XDG_CACHE_HOME` with a space) is passed over before anything is written there.
//! Each is used only if the walk of [`trusted_path`] accepts it: every component owned by
//! root or this user and writable by nobody else, so a `HOME` or `XDG_CACHE_HOME` in another
//! user's directory is passed over, and nothing is ever created inside another user's
//! directory. In the chosen directory the library lives at `<hash>/<file name>`; the copy
//! there is used only when its bytes, read through the descriptor that was checked, are
//! those embedded in the launcher (not merely the same size), or when it is still the very
//! file whose bytes were found equal earlier (its seal, below); otherwise a new copy is
//! written beside it under a temporary name and renamed over it, so a concurrent launcher
//! sees the old file or the new one, never a part. No `fsync` when writing: a copy cut
//! short by a crash fails the comparison at the next run and is written again.
//!
//! The seal (`<hash>/<file name>.verified`, written by a run that compared the bytes) spares
//! later runs reading the library back (43 KB, a fifth of what the launcher ran before the
//! exec; see BENCHMARKS.md): it records the file's device, inode, size, and change and
//! modification times, and a run whose checked descriptor shows exactly those uses the file
//! without reading it. Why that is as strong as reading it:
//!
//! - The seal lives in the same trusted directory as the library and is itself checked as
//!   the library is (owned by root or this user, writable by nobody else): whoever can
//!   write it could as well write the library, or set `LD_PRELOAD` themselves.
//! - Any change to the file's bytes through the kernel (`write`, `truncate`, `mmap`) or to
//!   its inode sets its change time (`ctime`) to the current time, and no system call sets
//!   it back (`utimensat` sets the others, and sets `ctime` to now); a file replaced by
//!   another (`rename`) has another inode or, reusing a freed one, another `ctime`.
//! - A seal is written only for a file whose `ctime` is [`SEAL_AFTER`] in the past (the
//!   file's times have a resolution of a clock tick, up to 2 s on some file systems), and
//!   only when `fstat` shows the same identity before and after its bytes were read: a
//!   change during or after that read therefore gives the file a later `ctime` than the
//!   sealed one. (A wall clock set back by `SEAL_AFTER` or more, which only root can do,
//!   would also have to land on the sealed `ctime` to the nanosecond.)
//! - Before the seal is written, the library's data is flushed (`fdatasync`): a crash
//!   cannot leave a seal that outlives the bytes it vouches for. A seal that is lost or
//!   torn only costs one comparison.
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
use std::time::{Duration, SystemTime};

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
                        crate::messages::stderr_line(format_args!(
                            "mptcpize: not using {}: {error}; using {} instead (remove {0} if \
                             nobody should have made it: another user may be trying to get \
                             their library loaded)",
                            location.base.display(),
                            path.display()
                        ));
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
    // A path `LD_PRELOAD` cannot carry (the loader splits it at ':' and spaces, as in an
    // `XDG_CACHE_HOME` holding a space) is refused before anything is written there, so
    // that the caller goes on to the next location.
    let name = OsStr::new(lib.file_name);
    let unusable = |path: PathBuf| Refused {
        path,
        reason: Reason::Io(io::Error::other(
            "contains ':' or a space, which LD_PRELOAD cannot hold",
        )),
    };
    let planned = base.join(lib.hash).join(name);
    if !super::preloadable(&planned) {
        return Err(unusable(planned));
    }
    let dir =
        trusted_path::open_dir(base, missing)?.child(OsStr::new(lib.hash), Missing::Create)?;
    // The resolved path may differ from the planned one (a symbolic link above it).
    if !super::preloadable(&dir.path.join(name)) {
        return Err(unusable(dir.path.join(name)));
    }
    let now = SystemTime::now();
    if holds_copy(lib, &dir, name, now)? {
        return Ok(dir.path.join(name));
    }
    write_copy(lib, &dir, name).map_err(|e| Refused {
        path: dir.path.join(name),
        reason: Reason::Io(e),
    })?;
    // Read back through a checked descriptor, as a copy found there would be.
    if holds_copy(lib, &dir, name, now)? {
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
/// are the embedded ones (or that is still the file found so earlier: see [`sealed`]);
/// false when it is missing or differs (to be replaced); an error when it is there but
/// cannot be checked. `now` is the wall-clock time, which decides whether a seal may be
/// written (see the module doc).
fn holds_copy(
    lib: &Library,
    dir: &TrustedDir,
    name: &OsStr,
    now: SystemTime,
) -> Result<bool, Refused> {
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
    let identity = Identity::of(&found.stat);
    if sealed(lib, dir, &identity) {
        return Ok(true);
    }
    let same = same_bytes(&mut found.file, lib.embedded).map_err(|e| Refused {
        path: found.path,
        reason: Reason::Io(e),
    })?;
    if same && identity.settled(now) {
        // Unchanged while it was read: what was compared is the file the seal names.
        let after = rustix::fs::fstat(&found.file).map(|stat| Identity::of(&stat));
        if after.as_ref() == Ok(&identity) {
            write_seal(lib, dir, &found.file, &identity);
        }
    }
    Ok(same)
}

/// How long ago a file's `ctime` must be before it may be sealed: more than the coarsest
/// resolution of file times (FAT's 2 s; a clock tick on ext4, XFS, Btrfs, tmpfs).
pub const SEAL_AFTER: Duration = Duration::from_secs(3);

/// What the seal records of the library file: device, inode, size, `ctime` and `mtime`
/// (seconds and nanoseconds), after a tag naming the format.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity([u8; Identity::LEN]);

impl Identity {
    const TAG: &'static [u8; 8] = b"mptseal1";
    const LEN: usize = 8 + 7 * 8;

    fn of(stat: &rustix::fs::Stat) -> Identity {
        // The `Stat` field types differ between architectures (`c_ulong`, `u64`, `i64`):
        // each is widened to 64 bits as it is.
        #[allow(clippy::unnecessary_cast)]
        let fields: [u64; 7] = [
            stat.st_dev as u64,
            stat.st_ino as u64,
            stat.st_size as u64,
            stat.st_ctime as u64,
            stat.st_ctime_nsec as u64,
            stat.st_mtime as u64,
            stat.st_mtime_nsec as u64,
        ];
        let mut bytes = [0u8; Identity::LEN];
        bytes[..8].copy_from_slice(Identity::TAG);
        for (chunk, field) in bytes[8..].chunks_exact_mut(8).zip(fields) {
            chunk.copy_from_slice(&field.to_le_bytes());
        }
        Identity(bytes)
    }

    /// The file's `ctime`, as recorded.
    fn ctime(&self) -> SystemTime {
        let field = |i: usize| {
            let start = 8 + 8 * i;
            u64::from_le_bytes(self.0[start..start + 8].try_into().expect("8 bytes"))
        };
        let (secs, nanos) = (field(3) as i64, field(4));
        let since_epoch = Duration::new(secs.unsigned_abs(), (nanos % 1_000_000_000) as u32);
        if secs >= 0 {
            SystemTime::UNIX_EPOCH + since_epoch
        } else {
            SystemTime::UNIX_EPOCH - since_epoch
        }
    }

    /// True when the file's `ctime` is at least [`SEAL_AFTER`] before `now`: any later
    /// change would give it another `ctime`.
    fn settled(&self, now: SystemTime) -> bool {
        now.duration_since(self.ctime())
            .is_ok_and(|age| age >= SEAL_AFTER)
    }
}

/// The seal's file name: the library's, with `.verified`.
fn seal_name(lib: &Library) -> OsString {
    let mut name = OsString::from(lib.file_name);
    name.push(".verified");
    name
}

/// True when `dir` holds a trusted seal (see the module doc) naming exactly `identity`:
/// the library file is the one whose bytes were found equal to the embedded ones. Any
/// doubt (no seal, another identity, a seal another user could write) is false, and the
/// bytes are compared.
fn sealed(lib: &Library, dir: &TrustedDir, identity: &Identity) -> bool {
    let Ok(mut seal) = trusted_path::open_file_in(dir, &seal_name(lib)) else {
        return false;
    };
    // One byte more than a seal holds, to see a longer file.
    let mut content = [0u8; Identity::LEN + 1];
    let mut len = 0;
    while len < content.len() {
        match seal.file.read(&mut content[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    content[..len] == identity.0
}

/// Records `identity` as the seal of the library open as `file` (whose bytes were just
/// found equal to the embedded ones), under a temporary name renamed over the old seal.
/// Best effort: without a seal, the next run compares the bytes again.
fn write_seal(lib: &Library, dir: &TrustedDir, file: &std::fs::File, identity: &Identity) {
    // The library's bytes reach the disk before a seal vouching for them can.
    if rustix::fs::fdatasync(file).is_err() {
        return;
    }
    let name = seal_name(lib);
    // As `write_copy`'s: unique per process, a leftover of a killed launcher removed.
    let tmp = OsString::from(format!(
        ".{}.verified.{}.tmp",
        lib.file_name,
        std::process::id()
    ));
    let _ = rustix::fs::unlinkat(&dir.fd, tmp.as_os_str(), rustix::fs::AtFlags::empty());
    let Ok(fd) = rustix::fs::openat(
        &dir.fd,
        tmp.as_os_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    ) else {
        return;
    };
    let written = rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o644))
        .map_err(io::Error::from)
        .and_then(|()| std::fs::File::from(fd).write_all(&identity.0))
        .and_then(|()| {
            rustix::fs::renameat(&dir.fd, tmp.as_os_str(), dir.fd.as_fd(), name.as_os_str())
                .map_err(Into::into)
        });
    if written.is_err() {
        let _ = rustix::fs::unlinkat(&dir.fd, tmp.as_os_str(), rustix::fs::AtFlags::empty());
    }
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

    fn scratch(tag: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let base = std::env::temp_dir().join(format!("mptcpize-seal-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir(&base).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
        base
    }

    /// Rewrites `path` with `bytes` until its `ctime` differs from `identity`'s (file times
    /// have the resolution of a clock tick): a change the seal must see.
    fn change_until_ctime_moves(path: &Path, bytes: &[u8], identity: &Identity) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            std::fs::write(path, bytes).unwrap();
            let stat = rustix::fs::stat(path).unwrap();
            if Identity::of(&stat).ctime() != identity.ctime() {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "ctime never moved");
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_seal_spares_the_comparison_until_the_file_changes() {
        use std::os::unix::fs::PermissionsExt;
        let lib = &super::super::SHIM;
        let base = scratch("spares");
        let path = write_embedded(lib, &base).unwrap();
        let dir = trusted_path::open_dir(path.parent().unwrap(), Missing::Fail).unwrap();
        let name = OsStr::new(lib.file_name);
        let seal = dir.path.join(seal_name(lib));
        let identity = || Identity::of(&rustix::fs::stat(&path).unwrap());

        // A copy whose ctime is recent is compared, never sealed: a change within the same
        // clock tick would not move its ctime. (The time of the check is given as the
        // file's own ctime, however long the steps above took.)
        let fresh = identity().ctime();
        assert!(!identity().settled(fresh));
        assert!(holds_copy(lib, &dir, name, fresh).unwrap());
        assert!(!seal.exists());
        // Later, the comparison seals it, and the seal names exactly this file.
        let later = SystemTime::now() + SEAL_AFTER + Duration::from_secs(1);
        assert!(holds_copy(lib, &dir, name, later).unwrap());
        assert!(sealed(lib, &dir, &identity()));
        assert_eq!(std::fs::read(&seal).unwrap(), identity().0);

        // Same size, other bytes, modification time put back: the ctime still moves, the
        // seal no longer matches, the bytes are compared and the copy is replaced.
        let sealed_identity = identity();
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        let mut other = lib.embedded.to_vec();
        other[lib.embedded.len() / 2] ^= 0xff;
        change_until_ctime_moves(&path, &other, &sealed_identity);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        assert!(!sealed(lib, &dir, &identity()));
        assert!(!holds_copy(lib, &dir, name, later).unwrap());
        assert_eq!(write_embedded(lib, &base).unwrap(), path);
        assert_eq!(std::fs::read(&path).unwrap(), lib.embedded);

        // A new file (another inode) is not the sealed one either.
        assert!(holds_copy(lib, &dir, name, later).unwrap());
        assert!(sealed(lib, &dir, &identity()));
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, lib.embedded).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(!sealed(lib, &dir, &identity()));

        // A seal another user could have written is not believed.
        assert!(holds_copy(lib, &dir, name, later).unwrap());
        assert!(sealed(lib, &dir, &identity()));
        std::fs::set_permissions(&seal, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(!sealed(lib, &dir, &identity()));
        // Nor one that is a symbolic link to a matching record.
        let elsewhere = base.join("record");
        std::fs::write(&elsewhere, identity().0).unwrap();
        std::fs::remove_file(&seal).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &seal).unwrap();
        assert!(!sealed(lib, &dir, &identity()));
        // A torn one (a prefix) neither.
        std::fs::remove_file(&seal).unwrap();
        std::fs::write(&seal, &identity().0[..20]).unwrap();
        assert!(!sealed(lib, &dir, &identity()));
        std::fs::remove_dir_all(&base).unwrap();
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
