//! `mptcpize run`: exec the program with the shim preloaded (and with `--report`, the
//! report library after it).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The launcher's own error (as `env(1)`): no shim, bad usage.
pub const EXIT_LAUNCHER: i32 = 125;
/// PROGRAM was found but could not be run.
pub const EXIT_CANNOT_RUN: i32 = 126;
/// PROGRAM was not found.
pub const EXIT_NOT_FOUND: i32 = 127;

/// The setting that makes Go (1.21+) programs, which issue the socket system call
/// themselves, ask for MPTCP.
const GODEBUG_MPTCP: &str = "multipathtcp=1";

/// The variable telling the report library where its lines go: an absolute path, or
/// anything else for stderr.
pub const REPORT_ENV: &str = "MPTCPIZE_REPORT";

/// Where `mptcpize run --report` writes one line per connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The program's stderr (`--report`).
    Stderr,
    /// Appended to this file (`--report-file FILE`).
    File(PathBuf),
}

/// Replaces this process with `program args…`, with the shim preloaded (and the report
/// library after it when `report` is given); returns the exit status to use only when that
/// failed. `found` is the file `program` names (PATH searched already, by
/// `seccomp::resolve`), or `None` when it was not found or not searched for.
pub fn exec(
    program: &OsStr,
    found: Option<&Path>,
    args: &[OsString],
    debug: bool,
    report: Option<&Report>,
) -> i32 {
    let shim = match crate::shim::locate() {
        Ok(shim) => shim,
        Err(e) => {
            crate::messages::stderr_line(format_args!("mptcpize: {e}"));
            return EXIT_LAUNCHER;
        }
    };
    let mut preload = with_preload(std::env::var_os("LD_PRELOAD").as_deref(), &shim);
    if let Some(report) = report {
        match report_setup(report) {
            Ok((library, destination)) => {
                preload = with_preload(Some(&preload), &library);
                std::env::set_var(REPORT_ENV, destination);
            }
            Err(e) => {
                crate::messages::stderr_line(format_args!("mptcpize: {e}"));
                return EXIT_LAUNCHER;
            }
        }
    }
    // Set in this process (single-threaded here), not with `Command::env`: that makes std
    // copy the whole environment into a map before the exec, the largest part of what the
    // launcher costs (see BENCHMARKS.md).
    std::env::set_var("LD_PRELOAD", preload);
    std::env::set_var(
        "GODEBUG",
        with_godebug(std::env::var_os("GODEBUG").as_deref()),
    );
    if debug {
        std::env::set_var("MPTCPIZE_DEBUG", "1");
    }
    if debug || report.is_some() {
        explain_go(program, found, debug, report.is_some());
    }
    let searched = found.filter(|_| !program.as_bytes().contains(&b'/'));
    if let Some(path) = searched {
        // `execve` of the file already found, not a second PATH search (`execvp` tries each
        // directory in turn), with the name given as argv[0]. When it fails (a file this user
        // may not execute, which `execvp` would pass over for the next directory), the
        // search by name below decides, as without mptcpize.
        let _ = Command::new(path).arg0(program).args(args).exec();
    }
    let error = Command::new(program).args(args).exec();
    let code = match error.raw_os_error() {
        Some(libc::ENOENT) => EXIT_NOT_FOUND,
        _ => EXIT_CANNOT_RUN,
    };
    let hint = if code == EXIT_NOT_FOUND && !program.as_bytes().contains(&b'/') {
        " (not found in PATH)"
    } else {
        ""
    };
    crate::messages::stderr_line(format_args!(
        "mptcpize: cannot run {}: {error}{hint}",
        Path::new(program).display()
    ));
    code
}

/// Go programs make their socket system calls themselves, past the shim and the report
/// library, and get MPTCP from `GODEBUG` (Go 1.21+) instead: with `-d`, says so for a Go
/// program (a statically linked Go 1.21+ program comes here, not to seccomp mode), or
/// warns that an older one stays on TCP; with `--report`, warns that its connections are
/// not reported. Nothing for other programs. (Only then is the file read: a plain `run`
/// pays nothing for it.)
fn explain_go(program: &OsStr, found: Option<&Path>, debug: bool, report: bool) {
    let Some(go) = found
        .map(Path::to_path_buf)
        .or_else(|| crate::seccomp::resolve(program))
        .and_then(|path| crate::go_binary::GoBuild::read(&path).map(|go| (path, go)))
    else {
        return;
    };
    let (path, go) = (go.0.display(), go.1);
    if debug && go.honours_godebug_multipathtcp() {
        crate::messages::stderr_line(format_args!(
            "mptcpize: {path} is a Go program built with {}: GODEBUG=multipathtcp=1 makes its sockets MPTCP; running it directly (neither the shim nor seccomp mode is needed)",
            go.version
        ));
    } else if debug {
        crate::messages::stderr_line(format_args!(
            "mptcpize: warning: {path} is a Go program built with {}, which ignores GODEBUG=multipathtcp=1 (Go 1.21+ only) and makes its system calls past the shim: its sockets stay TCP; run it with --seccomp",
            go.version
        ));
    }
    if report {
        crate::messages::stderr_line(format_args!(
            "mptcpize: warning: --report sees the connections made through libc, not those of {path} (a Go program makes its own system calls): watch them with `ss -Mni`"
        ));
    }
}

/// The report library's path and the value of [`REPORT_ENV`]. A report file is created (or
/// opened for appending) here, so that a path the program could not write fails now, with
/// a message, rather than silently later; its path is made absolute, as the program may
/// change directory.
fn report_setup(report: &Report) -> Result<(PathBuf, OsString), String> {
    let library = crate::shim::locate_report().map_err(|e| e.to_string())?;
    let destination = match report {
        Report::Stderr => OsString::from("stderr"),
        Report::File(path) => {
            let absolute = std::path::absolute(path)
                .map_err(|e| format!("report file {}: {e}", path.display()))?;
            let file = open_report_file(&absolute)?;
            resolved_path(&file).unwrap_or(absolute).into_os_string()
        }
    };
    Ok((library, destination))
}

/// The path of the file `file` is, without symbolic links (`/proc/self/fd/N`: the file
/// actually opened; `None` without `/proc`, and the path as given is used). The report library refuses any symbolic link on its
/// way to the file (`RESOLVE_NO_SYMLINKS`): given this path, it meets one only if one was
/// planted after this check.
fn resolved_path(file: &std::fs::File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .ok()
        .filter(|p| p.is_absolute() && p.is_file())
}

/// Creates or opens `path` for appending, and accepts it only when it is a regular file.
///
/// `O_NONBLOCK`: opening a FIFO for writing otherwise waits for a reader, forever if none
/// comes (with one it is refused just the same). A FIFO, socket or device is refused: the
/// report library opens the path again in every process of the program, where a FIFO
/// would block the program's start, a FIFO whose reader left would kill it with SIGPIPE,
/// and a device is not a place lines can be appended to and read back.
fn open_report_file(path: &Path) -> Result<std::fs::File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| {
            // ENXIO: a FIFO without a reader (with O_NONBLOCK), a UNIX socket, a device
            // without its hardware.
            match std::fs::metadata(path) {
                Ok(meta) if e.raw_os_error() == Some(libc::ENXIO) => {
                    not_regular(path, meta.file_type())
                }
                _ => format!(
                    "cannot open the report file {}: {e}; choose a writable path",
                    path.display()
                ),
            }
        })?;
    let kind = file
        .metadata()
        .map_err(|e| format!("report file {}: {e}", path.display()))?
        .file_type();
    if kind.is_file() {
        return Ok(file);
    }
    Err(not_regular(path, kind))
}

fn not_regular(path: &Path, kind: std::fs::FileType) -> String {
    use std::os::unix::fs::FileTypeExt;
    let what = if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a regular file"
    };
    format!(
        "the report file {} is {what}: --report-file appends to a regular file (the report \
         library opens it again in each process of the program, which a FIFO would block or \
         kill with SIGPIPE); use --report for stderr, or a regular file and `tail -f` it",
        path.display()
    )
}

/// `LD_PRELOAD` with the shim appended: the program's own preloads stay first, and the
/// shim is not added again when an entry already loads it (the loader separates entries
/// with `:` or spaces). What counts is the file an entry loads, not its name: an entry is the
/// shim when it is the same file (device and inode) or a copy with the same content; a
/// stale path that merely ends in the shim's file name does not stop the shim from being
/// added. (Entries without a `/` are looked up in the library path by the loader and are
/// not compared; should one be the shim, the loader maps the same file once.)
pub fn with_preload(current: Option<&OsStr>, shim: &Path) -> OsString {
    let current = current.map(OsStr::as_bytes).unwrap_or_default();
    let already = current
        .split(|&b| b == b':' || b == b' ')
        .filter(|entry| entry.contains(&b'/'))
        .any(|entry| is_same_library(Path::new(OsStr::from_bytes(entry)), shim));
    let trimmed = current
        .iter()
        .rposition(|&b| b != b':' && b != b' ')
        .map_or(&[][..], |end| &current[..=end]);
    if already {
        return OsStr::from_bytes(current).to_owned();
    }
    let mut value = OsString::from(OsStr::from_bytes(trimmed));
    if !value.is_empty() {
        value.push(":");
    }
    value.push(shim);
    value
}

/// True when `entry` and `library` are the same file (device and inode, as the dynamic
/// loader compares what it maps), or two regular files with the same content. An entry
/// that cannot be read is not the library.
fn is_same_library(entry: &Path, library: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(a), Ok(b)) = (std::fs::metadata(entry), std::fs::metadata(library)) else {
        return false;
    };
    if (a.dev(), a.ino()) == (b.dev(), b.ino()) {
        return true;
    }
    a.is_file()
        && b.is_file()
        && a.len() == b.len()
        && match (std::fs::read(entry), std::fs::read(library)) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        }
}

/// `GODEBUG` with `multipathtcp=1` appended, unless it already says something about
/// `multipathtcp` (the user's choice wins).
pub fn with_godebug(current: Option<&OsStr>) -> OsString {
    let current = current.map(OsStr::as_bytes).unwrap_or_default();
    if current
        .split(|&b| b == b',')
        .any(|setting| setting.starts_with(b"multipathtcp="))
    {
        return OsStr::from_bytes(current).to_owned();
    }
    let mut value = OsString::from(OsStr::from_bytes(current));
    if !value.is_empty() && !current.ends_with(b",") {
        value.push(",");
    }
    value.push(GODEBUG_MPTCP);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> Option<&OsStr> {
        Some(OsStr::new(s))
    }

    #[test]
    fn preload_is_appended_once() {
        let shim = Path::new("/usr/lib/mptcpize/libmptcpize_preload.so");
        assert_eq!(with_preload(None, shim), shim.as_os_str());
        assert_eq!(with_preload(os(""), shim), shim.as_os_str());
        assert_eq!(
            with_preload(os("/lib/libfoo.so"), shim),
            "/lib/libfoo.so:/usr/lib/mptcpize/libmptcpize_preload.so"
        );
        assert_eq!(
            with_preload(os("/lib/a.so /lib/b.so:"), shim),
            "/lib/a.so /lib/b.so:/usr/lib/mptcpize/libmptcpize_preload.so"
        );
        // Entries that do not exist are not the shim, whatever their file name.
        let stale = "/lib/a.so:/nonexistent/libmptcpize_preload.so";
        assert_eq!(
            with_preload(os(stale), shim),
            OsString::from(format!("{stale}:{}", shim.display()))
        );
    }

    #[test]
    fn preload_entries_are_compared_by_file() {
        let dir = std::env::temp_dir().join(format!("mptcpize-preload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shim = dir.join("libmptcpize_preload.so");
        std::fs::write(&shim, b"the shim's bytes").unwrap();
        let link = dir.join("link.so");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&shim, &link).unwrap();
        let copy = dir.join("copy.so");
        std::fs::write(&copy, b"the shim's bytes").unwrap();
        let other = dir.join("other").join("libmptcpize_preload.so");
        std::fs::create_dir_all(other.parent().unwrap()).unwrap();
        std::fs::write(&other, b"an older shim, 1").unwrap();
        let entry = |p: &Path| p.as_os_str().to_owned();
        // The same file, under its own name or another: not added again.
        for present in [&shim, &link, &copy] {
            let value = format!("/lib/a.so {}", present.display());
            assert_eq!(with_preload(os(&value), &shim), OsString::from(&value));
        }
        // Same name and size, other content (a stale or older copy): the shim is added.
        let mut expected = entry(&other);
        expected.push(":");
        expected.push(&shim);
        assert_eq!(with_preload(Some(&entry(&other)), &shim), expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn godebug_gets_multipathtcp() {
        assert_eq!(with_godebug(None), "multipathtcp=1");
        assert_eq!(
            with_godebug(os("http2client=0")),
            "http2client=0,multipathtcp=1"
        );
        assert_eq!(with_godebug(os("a=1,")), "a=1,multipathtcp=1");
        assert_eq!(with_godebug(os("multipathtcp=0")), "multipathtcp=0");
        assert_eq!(with_godebug(os("x=1,multipathtcp=2")), "x=1,multipathtcp=2");
    }
}
