//! `mptcpize enable|disable UNIT`: a systemd drop-in that makes a unit use MPTCP.
//!
//! - A `.service` gets `Environment=` lines for `LD_PRELOAD` (the shim) and `GODEBUG`
//!   (`multipathtcp=1`, for Go programs). An `Environment=` in a drop-in replaces the value
//!   the unit and the drop-ins before it give the variable, so the drop-in is written with
//!   the *effective* values merged in: the unit file and its drop-ins read in systemd's
//!   order (search path, `NAME.d/`, the template's `foo@.service.d/`, the prefixes'
//!   `foo-.service.d/`, the type's `service.d/`; `*.conf` sorted by file name, a name in a
//!   more important directory hiding the same name in a less important one) and parsed with
//!   systemd's quoting rules (`systemd.syntax(7)`). The files are read rather than asking
//!   `systemctl show`: its answer includes this drop-in's own earlier values and depends on
//!   whether `daemon-reload` ran since the last edit.
//! - A `.socket` gets `SocketProtocol=mptcp` (systemd 257 or newer): its listening socket is
//!   made by systemd, which no preload reaches.
//!
//! The drop-in is `/etc/systemd/system/UNIT.d/zz-mptcpize.conf`: named to sort after the
//! usual names (`override.conf` of `systemctl edit`, `10-…`), so no other drop-in's
//! `Environment=LD_PRELOAD` comes after it and undoes it. The unit file is never touched
//! (Debian's mptcpize rewrites it). Names are checked with systemd's rules before anything
//! is read or written; `--dry-run` prints the drop-in instead.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// The drop-in's file name, in `UNIT.d/`.
pub const DROP_IN: &str = "zz-mptcpize.conf";
/// The name earlier versions wrote: `disable` removes it too, and it is not merged from.
const OLD_DROP_IN: &str = "mptcpize.conf";

/// The packaged shim (the Debian package's `/usr/lib/mptcpize/`).
const PACKAGED_SHIM: &str = "/usr/lib/mptcpize/libmptcpize_preload.so";
/// Where a copy of the embedded shim is written for services when no installed one can be
/// used: root-owned, readable by every user.
const SYSTEM_COPY_DIR: &str = "/var/lib/mptcpize";

/// The first systemd release with `SocketProtocol=mptcp` (systemd.socket(5)).
const SOCKET_PROTOCOL_SYSTEMD: u32 = 257;

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

/// The unit types systemd knows (`systemd.unit(5)`): a name must end in one of them.
const UNIT_TYPES: [&str; 11] = [
    "service",
    "socket",
    "device",
    "mount",
    "automount",
    "swap",
    "target",
    "path",
    "timer",
    "slice",
    "scope",
];

/// Longest unit name systemd accepts (`UNIT_NAME_MAX` − 1).
const UNIT_NAME_MAX: usize = 255;

/// What `enable` and `disable` are asked to do.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// Treat this directory as `/` (an image, a test); systemctl is not called.
    pub root: Option<&'a Path>,
    /// Print the drop-in (or what would be removed) instead of writing.
    pub dry_run: bool,
}

/// The two kinds of units `mptcpize enable` handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitKind {
    /// `.service`: the shim in the service's environment.
    Service,
    /// `.socket`: `SocketProtocol=mptcp`.
    Socket,
}

/// A checked unit name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// The full name, e.g. `nginx.service`, `getty@tty1.service`, `foo@.service`.
    pub name: String,
    /// Service or socket.
    pub kind: UnitKind,
}

/// Writes the drop-in for `unit`; returns the exit status.
pub fn enable(unit: &str, options: Options<'_>) -> i32 {
    finish(enable_in(unit, options), options)
}

/// Removes the drop-in for `unit`; returns the exit status.
pub fn disable(unit: &str, options: Options<'_>) -> i32 {
    finish(disable_in(unit, options), options)
}

fn finish(result: Result<String, String>, options: Options<'_>) -> i32 {
    match result {
        Ok(message) => {
            println!("{message}");
            if !options.dry_run
                && options.root.is_none()
                && Path::new("/run/systemd/system").is_dir()
            {
                daemon_reload();
            }
            0
        }
        Err(e) => {
            eprintln!("mptcpize: {e}");
            1
        }
    }
}

fn daemon_reload() {
    match Command::new("systemctl").arg("daemon-reload").status() {
        Ok(status) if status.success() => {}
        Ok(status) => {
            eprintln!("mptcpize: `systemctl daemon-reload` failed ({status}): run it yourself")
        }
        Err(e) => {
            eprintln!("mptcpize: cannot run `systemctl daemon-reload` ({e}): run it yourself")
        }
    }
}

/// Checks `arg` with systemd's rules for unit names (`unit_name_is_valid`): only ASCII
/// letters, digits and `:-_.\` (plus one `@` for a template or an instance), at most 255
/// bytes, a known type suffix. A name without a suffix is a `.service`, as `systemctl`
/// takes it. Only services and sockets can be made to use MPTCP.
pub fn unit_name(arg: &str) -> Result<Unit, String> {
    let example = "e.g. `nginx`, `nginx.service`, `getty@tty1.service` or `web.socket`";
    if arg.is_empty() {
        return Err(format!("an empty unit name ({example})"));
    }
    if let Some(bad) = arg
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || ":-_.\\@".contains(c)))
    {
        return Err(format!(
            "{arg:?} is not a systemd unit name: {bad:?} is not allowed (letters, digits and \
             `:-_.\\@` only; `systemd-escape` turns other text into a valid name)"
        ));
    }
    let name = match arg.rsplit_once('.') {
        Some((_, suffix)) if UNIT_TYPES.contains(&suffix) => arg.to_owned(),
        Some((_, suffix)) if arg.starts_with('.') || suffix.is_empty() => {
            return Err(format!("{arg:?} is not a systemd unit name ({example})"))
        }
        Some((_, suffix)) => {
            return Err(format!(
                "{arg:?} is not a systemd unit name: .{suffix} is not a unit type (.service, \
                 .socket, .timer, …); {example}"
            ))
        }
        None => format!("{arg}.service"),
    };
    if name.len() > UNIT_NAME_MAX {
        return Err(format!(
            "{arg:?} is longer than the {UNIT_NAME_MAX} bytes of a systemd unit name"
        ));
    }
    let (prefix, suffix) = name.rsplit_once('.').expect("a suffix was checked");
    let valid_prefix = match prefix.split_once('@') {
        // An instance (`foo@bar`) or a template (`foo@`): one `@`, something before it.
        Some((before, instance)) => !before.is_empty() && !instance.contains('@'),
        None => !prefix.is_empty(),
    };
    if !valid_prefix {
        return Err(format!("{arg:?} is not a systemd unit name ({example})"));
    }
    let kind = match suffix {
        "service" => UnitKind::Service,
        "socket" => UnitKind::Socket,
        other => {
            return Err(format!(
                "{name} is a .{other} unit: mptcpize makes services (.service) and their \
                 listening sockets (.socket) use MPTCP"
            ))
        }
    };
    Ok(Unit { name, kind })
}

/// `root` joined with an absolute path as the unit will see it.
fn in_root(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

fn drop_in_dir(root: &Path, unit: &str) -> PathBuf {
    root.join("etc/systemd/system").join(format!("{unit}.d"))
}

/// `foo@bar.service` → `foo@.service`.
fn template_of(unit: &str) -> Option<String> {
    let (prefix, suffix) = unit.rsplit_once('.')?;
    let (before, instance) = prefix.split_once('@')?;
    (!instance.is_empty()).then(|| format!("{before}@.{suffix}"))
}

/// The unit file: the name in the first directory of the search path holding it, else for
/// an instance its template. A unit linked to `/dev/null` is masked.
fn find_unit(root: &Path, unit: &str) -> Result<PathBuf, String> {
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
fn other_drop_ins(root: &Path, unit: &str) -> Vec<PathBuf> {
    let ours = drop_in_dir(root, unit);
    let mut by_name: BTreeMap<std::ffi::OsString, PathBuf> = BTreeMap::new();
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

/// One `Key=value` of a unit file, with its section, continuation lines joined.
#[derive(Debug, PartialEq, Eq)]
struct Assignment {
    section: String,
    key: String,
    value: String,
}

/// The assignments of a unit file (`systemd.syntax(7)`): `[Section]` headers, `#`/`;`
/// comments, a trailing backslash continuing the line (comment lines inside are skipped).
fn assignments(text: &str) -> Vec<Assignment> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut pending: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if let Some(mut joined) = pending.take() {
            if line.starts_with('#') || line.starts_with(';') {
                pending = Some(joined);
                continue;
            }
            match line.strip_suffix('\\') {
                Some(more) => {
                    joined.push(' ');
                    joined.push_str(more);
                    pending = Some(joined);
                }
                None => {
                    joined.push(' ');
                    joined.push_str(line);
                    push_assignment(&mut out, &section, &joined);
                }
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            section = line[1..line.len() - 1].to_owned();
            continue;
        }
        match line.strip_suffix('\\') {
            Some(start) => pending = Some(start.to_owned()),
            None => push_assignment(&mut out, &section, line),
        }
    }
    if let Some(joined) = pending {
        push_assignment(&mut out, &section, &joined);
    }
    out
}

fn push_assignment(out: &mut Vec<Assignment>, section: &str, line: &str) {
    if let Some((key, value)) = line.split_once('=') {
        out.push(Assignment {
            section: section.to_owned(),
            key: key.trim().to_owned(),
            value: value.trim().to_owned(),
        });
    }
}

/// Splits an `Environment=` value into words as systemd does (`extract_first_word` with
/// unquoting and C unescaping): whitespace separates, `"…"` and `'…'` quote (also within a
/// word), `\` escapes (`\n`, `\t`, `\"`, `\\`, `\xHH`, `\NNN`, `\uXXXX`, …). `None` for a
/// value systemd refuses as a whole (an open quote, a trailing or unknown escape).
/// Specifiers (`%n`, `%%`) are left as they are: written back unchanged, systemd expands
/// them the same way.
pub fn environment_words(value: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', _) => {
                word.push(unescape(&mut chars)?);
                in_word = true;
            }
            (q, Some(open)) if q == open => quote = None,
            (c, Some(_)) => word.push(c),
            ('"' | '\'', None) => {
                quote = Some(c);
                in_word = true;
            }
            (c, None) if " \t\n\r".contains(c) => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (c, None) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return None;
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

/// One C escape after a backslash (`cunescape_one`).
fn unescape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<char> {
    let c = chars.next()?;
    let digits = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize, radix: u32| {
        let mut v = 0u32;
        for _ in 0..n {
            v = v * radix + chars.next()?.to_digit(radix)?;
        }
        Some(v)
    };
    Some(match c {
        'a' => '\x07',
        'b' => '\x08',
        'f' => '\x0c',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0b',
        's' => ' ',
        '\\' | '"' | '\'' => c,
        'x' => char::from_u32(digits(chars, 2, 16)?).filter(|&c| c != '\0')?,
        'u' => char::from_u32(digits(chars, 4, 16)?).filter(|&c| c != '\0')?,
        'U' => char::from_u32(digits(chars, 8, 16)?).filter(|&c| c != '\0')?,
        '0'..='7' => {
            let rest = digits(chars, 2, 8)?;
            char::from_u32(c.to_digit(8)? * 64 + rest).filter(|&c| c != '\0')?
        }
        _ => return None,
    })
}

/// A variable name systemd accepts in `Environment=` (`env_name_is_valid`).
fn env_name_is_valid(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `NAME=value` quoted for `Environment=` so that [`environment_words`] gives it back:
/// double quotes, `\` and `"` escaped, control characters as C escapes. `%` is left alone
/// (see [`escape_specifiers`] for text that must not be expanded).
pub fn quote_assignment(name: &str, value: &str) -> String {
    let mut out = String::from("\"");
    for c in name
        .chars()
        .chain(std::iter::once('='))
        .chain(value.chars())
    {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `%` doubled: systemd expands specifiers in `Environment=` (`%%` is a `%`).
fn escape_specifiers(text: &str) -> String {
    text.replace('%', "%%")
}

/// The environment the unit's files give the service: `Environment=` lines of `[Service]`
/// in order, an empty assignment clearing the list, words systemd refuses skipped.
fn effective_environment(files: &[PathBuf]) -> Result<BTreeMap<String, String>, String> {
    let mut env = BTreeMap::new();
    for file in files {
        let text = fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        for a in assignments(&text) {
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
    Ok(env)
}

/// `EnvironmentFile=` files (read inside the root) that set `name`: their values come after
/// every `Environment=` and would undo the drop-in's.
fn environment_files_setting(root: &Path, files: &[PathBuf], name: &str) -> Vec<PathBuf> {
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

/// Our shim appended to the unit's `LD_PRELOAD` (raw, specifiers kept), replacing any other
/// copy of the shim it names (a stale path of an earlier install).
fn merged_preload(theirs: Option<&str>, shim: &Path) -> String {
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

/// True when every user can load `path` (as the service will see it, inside `root`) and
/// nobody but its owner (root, or whoever runs mptcpize on a scratch root) can change it:
/// the file readable by others, each directory on the way searchable by others, none of
/// them writable by group or others.
fn loadable_by_every_user(root: &Path, path: &Path) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let mut at = root.to_path_buf();
    let components: Vec<_> = path
        .components()
        .filter(|c| *c != Component::RootDir)
        .collect();
    for (i, component) in components.iter().enumerate() {
        at.push(component);
        let meta = fs::metadata(&at).map_err(|e| format!("{}: {e}", path.display()))?;
        let last = i + 1 == components.len();
        let mode = meta.mode();
        let (what, wanted) = if last {
            ("readable", 0o004)
        } else {
            ("searchable", 0o001)
        };
        if last && !meta.is_file() {
            return Err(format!("{} is not a file", path.display()));
        }
        if mode & wanted == 0 {
            return Err(format!(
                "{} is not {what} by every user, so a service running as another user could \
                 not load the library",
                at.strip_prefix(root)
                    .map(|p| Path::new("/").join(p))
                    .unwrap_or(at.clone())
                    .display()
            ));
        }
        if mode & 0o022 != 0 || (meta.uid() != 0 && meta.uid() != euid) {
            return Err(format!(
                "{} can be changed by users other than root: a service must not load a \
                 library from there",
                Path::new("/")
                    .join(at.strip_prefix(root).unwrap_or(&at))
                    .display()
            ));
        }
    }
    Ok(())
}

/// The shim a service loads, as a path valid inside the root, and whether a copy has to be
/// written there first: `MPTCPIZE_PRELOAD` (checked), else (without `--root`) the installed
/// one found next to the launcher, else the packaged `/usr/lib/mptcpize/` one, else a copy
/// of the embedded shim in `/var/lib/mptcpize/HASH/` (root-owned, readable by everyone).
fn service_library(root: &Path, system_root: bool) -> Result<(PathBuf, bool), String> {
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
        loadable_by_every_user(root, &path)
            .map_err(|e| format!("{}: {e}", crate::shim::PRELOAD_ENV))?;
        return Ok((path, false));
    }
    if system_root {
        if let Some(installed) = crate::shim::installed().and_then(|p| fs::canonicalize(p).ok()) {
            if loadable_by_every_user(root, &installed).is_ok() {
                return Ok((installed, false));
            }
        }
    }
    let packaged = Path::new(PACKAGED_SHIM);
    if loadable_by_every_user(root, packaged).is_ok() {
        return Ok((packaged.to_owned(), false));
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
fn write_system_copy(root: &Path, copy: &Path) -> Result<(), String> {
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
    loadable_by_every_user(root, copy)
}

/// The systemd release of the system in `root`: `systemctl --version` for the running
/// system, else the version in the name of the root's `libsystemd-shared-NNN.so`.
fn systemd_version(root: &Path, system_root: bool) -> Option<u32> {
    if system_root {
        let out = Command::new("systemctl").arg("--version").output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        return text.split_whitespace().nth(1)?.parse().ok();
    }
    let mut dirs = Vec::new();
    for lib in ["usr/lib", "lib"] {
        let base = root.join(lib);
        dirs.push(base.join("systemd"));
        if let Ok(entries) = fs::read_dir(&base) {
            dirs.extend(
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path().join("systemd")),
            );
        }
    }
    dirs.iter()
        .filter_map(|d| fs::read_dir(d).ok())
        .flat_map(|entries| entries.filter_map(Result::ok))
        .filter_map(|e| {
            let name = e.file_name();
            let name = name.to_str()?;
            name.strip_prefix("libsystemd-shared-")?
                .strip_suffix(".so")?
                .split(['.', '-'])
                .next()?
                .parse()
                .ok()
        })
        .max()
}

/// The socket unit's `ListenStream=` addresses (an empty assignment clears the list).
fn listen_streams(files: &[PathBuf]) -> Vec<String> {
    let mut listen = Vec::new();
    for file in files {
        for a in assignments(&fs::read_to_string(file).unwrap_or_default()) {
            if a.section == "Socket" && a.key == "ListenStream" {
                if a.value.is_empty() {
                    listen.clear();
                } else {
                    listen.push(a.value);
                }
            }
        }
    }
    listen
}

/// The service a socket unit starts: `Service=`, else the same name (`foo@.service` for
/// `Accept=yes`).
fn socket_service(unit: &str, files: &[PathBuf]) -> String {
    let mut service = None;
    let mut accept = false;
    for file in files {
        for a in assignments(&fs::read_to_string(file).unwrap_or_default()) {
            if a.section == "Socket" && a.key == "Service" && !a.value.is_empty() {
                service = Some(a.value.clone());
            }
            if a.section == "Socket" && a.key == "Accept" {
                accept = matches!(a.value.as_str(), "yes" | "true" | "1" | "on");
            }
        }
    }
    let base = unit.strip_suffix(".socket").unwrap_or(unit);
    service.unwrap_or_else(|| {
        if accept {
            format!("{base}@.service")
        } else {
            format!("{base}.service")
        }
    })
}

fn enable_in(arg: &str, options: Options<'_>) -> Result<String, String> {
    let unit = unit_name(arg)?;
    let system_root = options.root.is_none();
    let root = options.root.unwrap_or(Path::new("/"));
    let unit_file = find_unit(root, &unit.name)?;
    let mut files = vec![unit_file];
    files.extend(other_drop_ins(root, &unit.name));
    let name = &unit.name;

    let (content, copy, notes) = match unit.kind {
        UnitKind::Service => {
            let (shim, write_copy) = service_library(root, system_root)?;
            let env = effective_environment(&files)?;
            let preload = merged_preload(env.get("LD_PRELOAD").map(String::as_str), &shim);
            let godebug =
                crate::run::with_godebug(env.get("GODEBUG").map(|v| OsStr::new(v.as_str())));
            let mut notes = String::new();
            for var in ["LD_PRELOAD", "GODEBUG"] {
                for file in environment_files_setting(root, &files, var) {
                    let _ = write!(
                        notes,
                        "\nWarning: EnvironmentFile={} sets {var}, which replaces the drop-in's \
                         value: add the drop-in's {var} there too.",
                        file.display()
                    );
                }
            }
            let content = format!(
                "# Written by `mptcpize enable {name}`: the service's TCP sockets become \
                 Multipath TCP.\n\
                 # Remove with `mptcpize disable {name}`. The unit file is not changed.\n\
                 # The values include those of the unit and its other drop-ins.\n\
                 [Service]\n\
                 Environment={}\n\
                 Environment={}\n",
                quote_assignment("LD_PRELOAD", &preload),
                quote_assignment("GODEBUG", &godebug.to_string_lossy()),
            );
            (content, write_copy.then_some(shim), notes)
        }
        UnitKind::Socket => {
            let service = socket_service(name, &files);
            // SocketProtocol= applies to every stream socket of the unit: a Unix one cannot
            // be MPTCP, and systemd would then fail to create it.
            let listen = listen_streams(&files);
            if listen.is_empty() {
                return Err(format!(
                    "{name} has no ListenStream=: only TCP listeners can be MPTCP"
                ));
            }
            if let Some(unix) = listen.iter().find(|l| l.starts_with(['/', '@'])) {
                return Err(format!(
                    "{name} also listens on a Unix socket (ListenStream={unix}), which cannot \
                     be MPTCP: SocketProtocol=mptcp applies to all its stream sockets and \
                     systemd would fail to create that one. Move the TCP listener into a \
                     .socket unit of its own and enable that one."
                ));
            }
            let version = systemd_version(root, system_root);
            match version {
                Some(v) if v >= SOCKET_PROTOCOL_SYSTEMD => {}
                _ => {
                    let which = version.map_or_else(
                        || "The systemd version here is unknown".to_owned(),
                        |v| format!("systemd {v} is too old"),
                    );
                    return Err(format!(
                        "{which}: making the listening socket of {name} MPTCP needs \
                         SocketProtocol=mptcp, added in systemd {SOCKET_PROTOCOL_SYSTEMD}. \
                         Nothing was written. What you can do:\n\
                         - upgrade systemd to {SOCKET_PROTOCOL_SYSTEMD} or newer, then run \
                         `mptcpize enable {name}` again;\n\
                         - or run {service} without socket activation (`systemctl disable \
                         --now {name}`, `systemctl enable --now {service}` with the service \
                         listening itself) after `mptcpize enable {service}`, so its own \
                         listener is MPTCP;\n\
                         - `mptcpize enable {service}` alone makes the connections the service \
                         opens MPTCP, not the ones it accepts on the inherited socket."
                    ));
                }
            }
            let content = format!(
                "# Written by `mptcpize enable {name}`: the listening socket is Multipath TCP \
                 (falls back to TCP per connection when the peer has no MPTCP).\n\
                 # Remove with `mptcpize disable {name}`. The unit file is not changed.\n\
                 [Socket]\n\
                 SocketProtocol=mptcp\n"
            );
            let notes =
                format!("\nThe connections {service} opens itself: `mptcpize enable {service}`.");
            (content, None, notes)
        }
    };

    let dir = drop_in_dir(root, name);
    let path = dir.join(DROP_IN);
    let shown = Path::new("/").join(path.strip_prefix(root).unwrap_or(&path));
    if options.dry_run {
        let mut out = String::new();
        if let Some(copy) = &copy {
            let _ = writeln!(
                out,
                "# would write the embedded shim to {} (root-owned, mode 0644)",
                copy.display()
            );
        }
        let _ = write!(out, "# {}\n{content}", shown.display());
        return Ok(out.trim_end().to_owned() + &notes);
    }
    if let Some(copy) = &copy {
        write_system_copy(root, copy)?;
    }
    let io_err = |e: io::Error| format!("cannot write {}: {e}", path.display());
    fs::create_dir_all(&dir).map_err(io_err)?;
    let tmp = dir.join(format!(".{DROP_IN}.tmp"));
    fs::write(&tmp, &content).map_err(io_err)?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o644)).map_err(io_err)?;
    fs::rename(&tmp, &path).map_err(io_err)?;
    // The name earlier versions used would apply twice.
    let _ = fs::remove_file(dir.join(OLD_DROP_IN));
    Ok(format!(
        "MPTCP enabled for {name}: wrote {}\nRestart to apply: systemctl restart {name}{notes}",
        shown.display()
    ))
}

fn disable_in(arg: &str, options: Options<'_>) -> Result<String, String> {
    let unit = unit_name(arg)?;
    let root = options.root.unwrap_or(Path::new("/"));
    let name = &unit.name;
    let dir = drop_in_dir(root, name);
    let present: Vec<PathBuf> = [DROP_IN, OLD_DROP_IN]
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| p.exists())
        .collect();
    let shown = |p: &Path| Path::new("/").join(p.strip_prefix(root).unwrap_or(p));
    if present.is_empty() {
        return Ok(format!(
            "MPTCP was not enabled for {name} by mptcpize ({} does not exist)",
            shown(&dir.join(DROP_IN)).display()
        ));
    }
    let list = present
        .iter()
        .map(|p| shown(p).display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if options.dry_run {
        return Ok(format!("# would remove {list}"));
    }
    for p in &present {
        fs::remove_file(p).map_err(|e| format!("cannot remove {}: {e}", p.display()))?;
    }
    // Leaves the directory when it holds other drop-ins.
    let _ = fs::remove_dir(&dir);
    Ok(format!(
        "MPTCP disabled for {name}: removed {list}\nRestart to apply: systemctl restart {name}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names() {
        let ok = |arg: &str, name: &str, kind| {
            assert_eq!(
                unit_name(arg).unwrap(),
                Unit {
                    name: name.to_owned(),
                    kind
                },
                "{arg}"
            )
        };
        ok("nginx", "nginx.service", UnitKind::Service);
        ok("web.socket", "web.socket", UnitKind::Socket);
        ok("getty@tty1", "getty@tty1.service", UnitKind::Service);
        ok("foo@.service", "foo@.service", UnitKind::Service);
        ok(
            "a-b:c_d\\x2d.service",
            "a-b:c_d\\x2d.service",
            UnitKind::Service,
        );
        for bad in [
            "",
            "../x",
            "a/b",
            ".hidden",
            "a b",
            "ünï",
            "weird\"q",
            "x.notasuffix",
            "@x.service",
            "a@b@c.service",
            ".service",
            "x.",
            "x.timer",
        ] {
            assert!(unit_name(bad).is_err(), "{bad}");
        }
        assert!(unit_name(&"a".repeat(250)).is_err());
        assert!(unit_name(&"a".repeat(247)).is_ok());
    }

    #[test]
    fn words_as_systemd_splits_them() {
        let w = |s: &str| environment_words(s);
        assert_eq!(
            w(r#"A=1 "LD_PRELOAD=/lib/x.so /lib/y.so" 'B=2 3'"#).unwrap(),
            ["A=1", "LD_PRELOAD=/lib/x.so /lib/y.so", "B=2 3"]
        );
        assert_eq!(w(r#""GODEBUG=x=\"y z\"""#).unwrap(), [r#"GODEBUG=x="y z""#]);
        assert_eq!(w(r#"A="b c"d"#).unwrap(), ["A=b cd"]);
        assert_eq!(w(r"A=\x41\101\tB").unwrap(), ["A=AA\tB"]);
        assert_eq!(w(r"A=%n%%").unwrap(), ["A=%n%%"]);
        assert_eq!(w("").unwrap(), Vec::<String>::new());
        assert!(w(r#""A=1"#).is_none());
        assert!(w(r"A=1\").is_none());
        assert!(w(r"A=\q").is_none());
    }

    #[test]
    fn quoting_round_trips() {
        for value in [
            "plain",
            "a b",
            r#"x="y z""#,
            r"back\slash",
            "tab\there",
            "it's",
        ] {
            let quoted = quote_assignment("V", value);
            assert_eq!(
                environment_words(&quoted).unwrap(),
                [format!("V={value}")],
                "{quoted}"
            );
        }
    }

    #[test]
    fn unit_file_syntax() {
        let text = "[Unit]\nDescription=x\n# Environment=NOT=this\n[Service]\n\
                    Environment=A=1 \\\n  # a comment inside\n  B=2\n; c\nEnvironment=\n";
        let a = assignments(text);
        assert_eq!(a.len(), 3);
        assert_eq!(a[1].key, "Environment");
        assert_eq!(a[1].value, "A=1  B=2");
        assert_eq!(a[2].value, "");
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

    #[test]
    fn drop_in_directory_names() {
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
