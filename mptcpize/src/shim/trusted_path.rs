//! Paths no other user can change: every component, from `/` to the file, owned by root or
//! by the user running mptcpize, and not writable by anyone else.
//!
//! The launcher hands the dynamic loader a path, which the loader resolves again when the
//! program starts. A check of the path followed by that second resolution is safe only if
//! nobody but root and this user can change what the path leads to in between: not the
//! file, and not any directory on the way (whoever can write a directory can rename or
//! exchange its entries, `renameat2(RENAME_EXCHANGE)`). This is the rule of OpenSSH's
//! `safe_path` and sudo's: walked one component at a time with
//! `openat(O_PATH | O_NOFOLLOW)` and `fstat` on what was opened, so the checked object is
//! the one the walk continues from, never a name looked up twice.
//!
//! - A directory writable by group or others is accepted only with the sticky bit (`/tmp`):
//!   there, others can add entries but cannot rename, exchange or remove ours, and the
//!   entries the walk goes through must themselves be owned by root or this user.
//! - A symbolic link is followed only when the directory holding it is trusted (a link's
//!   target cannot be changed, only the link replaced, which needs that directory) and the
//!   link itself is owned by root or this user; the path returned is the resolved one, so
//!   the loader never follows a link itself.
//! - Directories are created (mode `0755`) only inside a directory that was just checked, so
//!   never inside a directory another user owns.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};

/// The kernel's limit on symbolic links followed in one lookup (`MAXSYMLINKS`).
const MAX_SYMLINKS: u32 = 40;

/// A directory reached from `/` through trusted components only: its descriptor and the
/// resolved path (no symbolic link, no `..`) that leads to it.
#[derive(Debug)]
pub struct TrustedDir {
    /// An `O_PATH` descriptor of the directory, for `*at` calls inside it.
    pub fd: OwnedFd,
    /// The path the walk resolved: the one to give the dynamic loader.
    pub path: PathBuf,
}

/// Why a path is not trusted: the first component that failed, and how.
#[derive(Debug)]
pub struct Refused {
    /// The component (resolved up to it) that failed.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: Reason,
}

/// What is wrong with a component.
#[derive(Debug)]
pub enum Reason {
    /// Owned by this user id, neither root nor the user running mptcpize.
    OwnedBy(u32),
    /// A directory writable by group or others without the sticky bit, or a file writable
    /// by group or others (these permission bits).
    WritableByOthers(u32),
    /// Not a directory where one was needed, or not a regular file for the library.
    WrongType,
    /// More than 40 symbolic links.
    TooManyLinks,
    /// A system call failed (`ENOENT`, `EACCES`, …).
    Io(io::Error),
}

impl Refused {
    fn new(path: &Path, reason: Reason) -> Refused {
        Refused {
            path: path.to_owned(),
            reason,
        }
    }

    /// True when the component does not exist.
    pub fn is_missing(&self) -> bool {
        matches!(&self.reason, Reason::Io(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.reason {
            Reason::OwnedBy(uid) => write!(
                f,
                "{path} belongs to uid {uid}, neither root nor this user (uid {})",
                euid()
            ),
            Reason::WritableByOthers(mode) => write!(
                f,
                "{path} is writable by other users (mode {mode:04o}), who could replace what it holds"
            ),
            Reason::WrongType => write!(f, "{path} is not of the expected type"),
            Reason::TooManyLinks => write!(f, "{path}: too many symbolic links"),
            Reason::Io(e) => write!(f, "{path}: {e}"),
        }
    }
}

impl std::error::Error for Refused {}

/// The effective user id, the one files are created with and checked against.
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn trusted_owner(stat: &Stat) -> bool {
    stat.st_uid == 0 || stat.st_uid == euid()
}

/// `dir` joined with the single component `name`, allocated once at its final size
/// (`Path::join` copies `dir` and then grows the copy: a second allocation, at every step of
/// every walk the launcher makes before its exec).
fn joined(dir: &Path, name: &OsStr) -> PathBuf {
    let mut path = PathBuf::with_capacity(dir.as_os_str().len() + 1 + name.len());
    path.push(dir);
    path.push(name);
    path
}

fn io_err(path: &Path, e: impl Into<io::Error>) -> Refused {
    Refused::new(path, Reason::Io(e.into()))
}

/// Checks a directory's owner and permissions.
fn check_dir(path: &Path, stat: &Stat) -> Result<(), Refused> {
    if FileType::from_raw_mode(stat.st_mode) != FileType::Directory {
        return Err(Refused::new(path, Reason::WrongType));
    }
    if !trusted_owner(stat) {
        return Err(Refused::new(path, Reason::OwnedBy(stat.st_uid)));
    }
    let mode = stat.st_mode & 0o7777;
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(Refused::new(path, Reason::WritableByOthers(mode)));
    }
    Ok(())
}

/// Checks the library file: a regular file owned by root or this user, writable by nobody
/// else.
fn check_file(path: &Path, stat: &Stat) -> Result<(), Refused> {
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(Refused::new(path, Reason::WrongType));
    }
    if !trusted_owner(stat) {
        return Err(Refused::new(path, Reason::OwnedBy(stat.st_uid)));
    }
    let mode = stat.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Refused::new(path, Reason::WritableByOthers(mode)));
    }
    Ok(())
}

/// The names of an absolute path's components, last first (a stack to pop from), or None
/// for a relative path.
fn components_reversed(path: &Path) -> Option<Vec<OsString>> {
    let mut names = Vec::new();
    let mut components = path.components();
    if components.next() != Some(Component::RootDir) {
        return None;
    }
    for c in components {
        names.push(c.as_os_str().to_owned());
    }
    names.reverse();
    Some(names)
}

/// What the walk does with a missing directory.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Fail with `ENOENT`.
    Fail,
    /// Create it (`mkdirat`, mode `0755`) in its checked parent.
    Create,
}

/// One step of the walk: the directories reached so far (a stack, so `..` and absolute
/// link targets go back up without a lookup by name), and the names still to go.
struct Walk {
    dirs: Vec<TrustedDir>,
    pending: Vec<OsString>,
    links: u32,
}

impl Walk {
    fn start(path: &Path) -> Result<Walk, Refused> {
        let pending = components_reversed(path).ok_or_else(|| {
            io_err(
                path,
                io::Error::new(io::ErrorKind::InvalidInput, "not an absolute path"),
            )
        })?;
        let root = Path::new("/");
        let fd = rustix::fs::open(
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_err(root, e))?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| io_err(root, e))?;
        check_dir(root, &stat)?;
        Ok(Walk {
            dirs: vec![TrustedDir {
                fd,
                path: root.to_owned(),
            }],
            pending,
            links: 0,
        })
    }

    fn current(&self) -> &TrustedDir {
        self.dirs.last().expect("the walk always holds /")
    }

    /// Follows the symbolic link `name` (opened as `link`) in the current directory: its
    /// target's components take its place.
    fn follow(&mut self, name: &OsStr, link: BorrowedFd<'_>, stat: &Stat) -> Result<(), Refused> {
        let path = joined(&self.current().path, name);
        if !trusted_owner(stat) {
            return Err(Refused::new(&path, Reason::OwnedBy(stat.st_uid)));
        }
        self.links += 1;
        if self.links > MAX_SYMLINKS {
            return Err(Refused::new(&path, Reason::TooManyLinks));
        }
        // An empty path reads the link an O_PATH descriptor refers to (Linux 2.6.39+).
        let target = rustix::fs::readlinkat(link, c"", Vec::new()).map_err(|e| io_err(&path, e))?;
        let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
        if target.is_absolute() {
            self.dirs.truncate(1);
        }
        let mut names: Vec<OsString> = target
            .components()
            .filter(|c| *c != Component::RootDir)
            .map(|c| c.as_os_str().to_owned())
            .collect();
        names.reverse();
        self.pending.extend(names);
        Ok(())
    }

    /// Goes through every pending name; the last one is handled by the caller when
    /// `keep_last` is set (the file at the end of a library's path).
    fn run(&mut self, missing: Missing, keep_last: bool) -> Result<Option<OsString>, Refused> {
        while let Some(name) = self.pending.pop() {
            if name == "." || name.is_empty() {
                continue;
            }
            if name == ".." {
                if self.dirs.len() > 1 {
                    self.dirs.pop();
                }
                continue;
            }
            let last = self.pending.is_empty();
            let parent = self.current();
            let path = joined(&parent.path, &name);
            let opened = rustix::fs::openat(
                &parent.fd,
                name.as_os_str(),
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            );
            let wants_file = last && keep_last;
            let fd = match opened {
                Ok(fd) => fd,
                Err(rustix::io::Errno::NOENT) if missing == Missing::Create && !wants_file => {
                    self.create(&name)?;
                    continue;
                }
                Err(e) => return Err(io_err(&path, e)),
            };
            let stat = rustix::fs::fstat(&fd).map_err(|e| io_err(&path, e))?;
            match FileType::from_raw_mode(stat.st_mode) {
                FileType::Symlink => self.follow(&name, fd.as_fd(), &stat)?,
                FileType::Directory if !wants_file => {
                    check_dir(&path, &stat)?;
                    self.dirs.push(TrustedDir { fd, path });
                }
                FileType::RegularFile if wants_file => return Ok(Some(name)),
                _ => return Err(Refused::new(&path, Reason::WrongType)),
            }
        }
        Ok(None)
    }

    /// Creates directory `name` in the current (checked) directory, then puts the name back
    /// to be opened and checked like any other: a directory someone else made first under
    /// that name is refused by the check.
    fn create(&mut self, name: &OsStr) -> Result<(), Refused> {
        let parent = self.current();
        let path = joined(&parent.path, name);
        make_dir(parent, name, &path)?;
        self.pending.push(name.to_owned());
        // Counted as a link would be, so that a name removed again and again by someone
        // with the right to (root, this user) cannot keep the walk going for ever.
        self.links += 1;
        if self.links > MAX_SYMLINKS {
            return Err(Refused::new(&path, Reason::TooManyLinks));
        }
        Ok(())
    }
}

/// Creates directory `name` in `parent` (checked), mode `0755` whatever the umask: the
/// library is no secret, and a program that drops from root to its own user must still be
/// able to load it in the programs it starts. An existing one is left as it is, to be
/// checked by the caller.
fn make_dir(parent: &TrustedDir, name: &OsStr, path: &Path) -> Result<(), Refused> {
    match rustix::fs::mkdirat(&parent.fd, name, Mode::from_raw_mode(0o755)) {
        // No other user can replace the new directory in the checked parent before this.
        Ok(()) => rustix::fs::chmodat(
            &parent.fd,
            name,
            Mode::from_raw_mode(0o755),
            AtFlags::empty(),
        )
        .map_err(|e| io_err(path, e)),
        Err(rustix::io::Errno::EXIST) => Ok(()),
        Err(e) => Err(io_err(path, e)),
    }
}

/// Opens the directory `path` (absolute) through trusted components only, creating missing
/// ones when asked.
pub fn open_dir(path: &Path, missing: Missing) -> Result<TrustedDir, Refused> {
    let mut walk = Walk::start(path)?;
    walk.run(missing, false)?;
    Ok(walk.dirs.pop().expect("the walk always holds /"))
}

impl TrustedDir {
    /// Opens the directory `name` (one component, not a link) inside this one, creating it
    /// when missing and asked to; checked as every directory of a walk is.
    pub fn child(&self, name: &OsStr, missing: Missing) -> Result<TrustedDir, Refused> {
        let path = joined(&self.path, name);
        let open = || {
            rustix::fs::openat(
                &self.fd,
                name,
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
        };
        let fd = match open() {
            Err(rustix::io::Errno::NOENT) if missing == Missing::Create => {
                make_dir(self, name, &path)?;
                open()
            }
            other => other,
        }
        .map_err(|e| io_err(&path, e))?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| io_err(&path, e))?;
        check_dir(&path, &stat)?;
        Ok(TrustedDir { fd, path })
    }
}

/// A file reached through trusted components, open for reading, and its resolved path.
#[derive(Debug)]
pub struct TrustedFile {
    /// Open for reading: what the checks saw, to read the content from.
    pub file: File,
    /// The resolved path: the one to give the dynamic loader.
    pub path: PathBuf,
    /// What `fstat` said of the file when it was checked.
    pub stat: Stat,
}

/// Opens the regular file `path` (absolute) for reading when it and every directory on the
/// way are trusted (see the module doc).
pub fn open_file(path: &Path) -> Result<TrustedFile, Refused> {
    let mut walk = Walk::start(path)?;
    let Some(name) = walk.run(Missing::Fail, true)? else {
        return Err(Refused::new(path, Reason::WrongType));
    };
    let dir = walk.dirs.pop().expect("the walk always holds /");
    open_file_in(&dir, &name)
}

/// Opens the regular file `name` in the trusted directory `dir` for reading, when it is
/// owned by root or this user and writable by nobody else. Never follows a link.
pub fn open_file_in(dir: &TrustedDir, name: &OsStr) -> Result<TrustedFile, Refused> {
    let path = joined(&dir.path, name);
    // O_NONBLOCK: a FIFO put in place of the library must not block the launcher.
    let fd = rustix::fs::openat(
        &dir.fd,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err(&path, e))?;
    let stat = rustix::fs::fstat(&fd).map_err(|e| io_err(&path, e))?;
    check_file(&path, &stat)?;
    Ok(TrustedFile {
        file: File::from(fd),
        path,
        stat,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn scratch(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("mptcpize-trusted-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    #[test]
    fn system_paths_are_trusted() {
        assert_eq!(
            open_dir(Path::new("/"), Missing::Fail).unwrap().path,
            Path::new("/")
        );
        let usr = open_dir(Path::new("/usr/./lib/../bin"), Missing::Fail).unwrap();
        assert_eq!(usr.path, Path::new("/usr/bin"));
        // /tmp is world-writable but sticky.
        assert!(open_dir(Path::new("/tmp"), Missing::Fail).is_ok());
        assert!(open_dir(Path::new("relative"), Missing::Fail).is_err());
    }

    #[test]
    fn writable_dirs_links_and_creation() {
        let base = scratch("walk");
        // Creation inside a checked directory; the result is resolved.
        let made = open_dir(&base.join("a/b"), Missing::Create).unwrap();
        assert_eq!(made.path, base.join("a/b"));
        assert!(base.join("a/b").is_dir());
        // A link in a trusted directory is followed, and the resolved path returned.
        symlink(base.join("a"), base.join("link")).unwrap();
        assert_eq!(
            open_dir(&base.join("link/b"), Missing::Fail).unwrap().path,
            base.join("a/b")
        );
        symlink("a/b", base.join("relative")).unwrap();
        assert_eq!(
            open_dir(&base.join("relative"), Missing::Fail)
                .unwrap()
                .path,
            base.join("a/b")
        );
        symlink("loop", base.join("loop")).unwrap();
        assert!(matches!(
            open_dir(&base.join("loop"), Missing::Fail)
                .unwrap_err()
                .reason,
            Reason::TooManyLinks
        ));
        // Group-writable without the sticky bit: refused, also below it.
        std::fs::set_permissions(base.join("a"), std::fs::Permissions::from_mode(0o775)).unwrap();
        let refused = open_dir(&base.join("a/b"), Missing::Fail).unwrap_err();
        assert_eq!(refused.path, base.join("a"));
        assert!(matches!(refused.reason, Reason::WritableByOthers(0o775)));
        assert!(open_dir(&base.join("a/c"), Missing::Create).is_err());
        assert!(
            !base.join("a/c").exists(),
            "created inside a refused directory"
        );
        // With the sticky bit it is accepted.
        std::fs::set_permissions(base.join("a"), std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(open_dir(&base.join("a/b"), Missing::Fail).is_ok());
        // Files: regular, not writable by others.
        std::fs::write(base.join("a/b/f"), b"x").unwrap();
        std::fs::set_permissions(base.join("a/b/f"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let file = open_file(&base.join("link/b/f")).unwrap();
        assert_eq!(file.path, base.join("a/b/f"));
        std::fs::set_permissions(base.join("a/b/f"), std::fs::Permissions::from_mode(0o666))
            .unwrap();
        assert!(open_file(&base.join("a/b/f")).is_err());
        assert!(open_file(&base.join("a/b")).is_err());
        assert!(open_file(&base.join("a/b/missing"))
            .unwrap_err()
            .is_missing());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
