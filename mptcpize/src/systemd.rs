//! `mptcpize enable|disable UNIT`: a systemd drop-in that runs a service under the shim.
//!
//! The drop-in (`/etc/systemd/system/UNIT.d/mptcpize.conf`) adds `Environment=` lines; the
//! unit file itself is never touched (Debian's mptcpize rewrites it and deletes its own
//! `Environment=` lines). An `Environment=` in a drop-in replaces a variable the unit sets,
//! so the unit's own `LD_PRELOAD` and `GODEBUG` values are read and kept in front of ours.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The drop-in's file name, in `UNIT.d/`.
pub const DROP_IN: &str = "mptcpize.conf";

/// Where unit files live, most specific first (`systemd.unit(5)`).
const UNIT_DIRS: [&str; 5] = [
    "etc/systemd/system",
    "run/systemd/system",
    "usr/local/lib/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
];

/// Writes the drop-in for `unit`; returns the exit status.
pub fn enable(unit: &str, root: Option<&Path>) -> i32 {
    report(enable_in(unit, root.unwrap_or(Path::new("/"))), root)
}

/// Removes the drop-in for `unit`; returns the exit status.
pub fn disable(unit: &str, root: Option<&Path>) -> i32 {
    report(disable_in(unit, root.unwrap_or(Path::new("/"))), root)
}

fn report(result: io::Result<String>, root: Option<&Path>) -> i32 {
    match result {
        Ok(message) => {
            println!("{message}");
            if root.is_none() && Path::new("/run/systemd/system").is_dir() {
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

/// `nginx` → `nginx.service`; refuses names that could leave the unit directory.
pub fn unit_name(unit: &str) -> io::Result<String> {
    let invalid = unit.is_empty()
        || unit.starts_with('.')
        || unit.contains('/')
        || unit.chars().any(|c| c.is_whitespace() || c.is_control());
    if invalid {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{unit:?} is not a systemd unit name (e.g. `nginx` or `nginx.service`)"),
        ));
    }
    Ok(if unit.contains('.') {
        unit.to_owned()
    } else {
        format!("{unit}.service")
    })
}

fn drop_in_path(root: &Path, unit: &str) -> PathBuf {
    root.join("etc/systemd/system")
        .join(format!("{unit}.d"))
        .join(DROP_IN)
}

/// The unit file, or for an instance (`foo@bar.service`) its template (`foo@.service`).
fn find_unit(root: &Path, unit: &str) -> Option<PathBuf> {
    let template = unit
        .split_once('@')
        .and_then(|(prefix, rest)| Some(format!("{prefix}@{}", &rest[rest.rfind('.')?..])));
    UNIT_DIRS.iter().find_map(|dir| {
        std::iter::once(unit.to_owned())
            .chain(template.clone())
            .map(|name| root.join(dir).join(name))
            .find(|path| path.is_file())
    })
}

fn enable_in(unit: &str, root: &Path) -> io::Result<String> {
    let unit = unit_name(unit)?;
    let Some(unit_file) = find_unit(root, &unit) else {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "unit {unit} not found in {}: check the name with `systemctl list-unit-files`",
                UNIT_DIRS.map(|d| format!("/{d}")).join(", ")
            ),
        ));
    };
    let shim = service_shim(root)?;
    let text = fs::read_to_string(&unit_file)?;
    let preload = unit_environment(&text, "LD_PRELOAD");
    let godebug = unit_environment(&text, "GODEBUG");
    let preload = crate::run::with_preload(preload.as_deref().map(OsStr::new), &shim);
    let godebug = crate::run::with_godebug(godebug.as_deref().map(OsStr::new));
    let content = format!(
        "# Written by `mptcpize enable {unit}`: the service's TCP sockets become Multipath TCP.\n\
         # Remove with `mptcpize disable {unit}`. The unit file is not changed.\n\
         [Service]\n\
         Environment=\"LD_PRELOAD={}\"\n\
         Environment=\"GODEBUG={}\"\n",
        preload.to_string_lossy(),
        godebug.to_string_lossy()
    );
    let path = drop_in_path(root, &unit);
    fs::create_dir_all(path.parent().expect("drop-in has a directory"))?;
    let tmp = path.with_extension("conf.tmp");
    fs::write(&tmp, content)?;
    fs::rename(&tmp, &path)?;
    Ok(format!(
        "MPTCP enabled for {unit}: wrote {}\nRestart the service to apply: systemctl restart {unit}",
        path.display()
    ))
}

fn disable_in(unit: &str, root: &Path) -> io::Result<String> {
    let unit = unit_name(unit)?;
    let path = drop_in_path(root, &unit);
    match fs::remove_file(&path) {
        Ok(()) => {
            // Leaves the directory when it holds other drop-ins.
            let _ = fs::remove_dir(path.parent().expect("drop-in has a directory"));
            Ok(format!(
                "MPTCP disabled for {unit}: removed {}\nRestart the service to apply: systemctl restart {unit}",
                path.display()
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(format!(
            "MPTCP was not enabled for {unit} by mptcpize ({} does not exist)",
            path.display()
        )),
        Err(e) => Err(e),
    }
}

/// The shim for a service: an installed one (a service may run as another user, who cannot
/// read a per-user cache), or the embedded copy written to `/var/lib/mptcpize/`.
fn service_shim(root: &Path) -> io::Result<PathBuf> {
    if let Some(path) = std::env::var_os(crate::shim::PRELOAD_ENV) {
        return std::path::absolute(path);
    }
    if let Some(path) = crate::shim::installed() {
        return Ok(path);
    }
    let base = root.join("var/lib/mptcpize");
    fs::create_dir_all(&base)?;
    crate::shim::write_embedded(&base)
}

/// The last value the unit's `Environment=` lines give `name` (systemd: later assignments
/// win), with double or single quotes and backslash escapes as in `systemd.exec(5)`.
pub fn unit_environment(unit_text: &str, name: &str) -> Option<String> {
    let mut value = None;
    for line in unit_text.lines() {
        let Some(assignments) = line.trim_start().strip_prefix("Environment=") else {
            continue;
        };
        for word in split_words(assignments) {
            if let Some(v) = word
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('='))
            {
                value = Some(v.to_owned());
            }
        }
    }
    value
}

/// Splits at unquoted whitespace, removing quotes and backslash escapes.
fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', _) => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            ('"' | '\'', None) => {
                quote = Some(c);
                in_word = true;
            }
            (c, Some(q)) if c == q => quote = None,
            (c, None) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (c, _) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names() {
        assert_eq!(unit_name("nginx").unwrap(), "nginx.service");
        assert_eq!(unit_name("web.socket").unwrap(), "web.socket");
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            assert!(unit_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn environment_lines() {
        let unit = "[Service]\n\
                    Environment=A=1 \"LD_PRELOAD=/lib/x.so /lib/y.so\"\n\
                    Environment='GODEBUG=a=1,b=2' C=3\n\
                    Environment=GODEBUG=c=3\n";
        assert_eq!(
            unit_environment(unit, "LD_PRELOAD").as_deref(),
            Some("/lib/x.so /lib/y.so")
        );
        assert_eq!(unit_environment(unit, "GODEBUG").as_deref(), Some("c=3"));
        assert_eq!(unit_environment(unit, "A").as_deref(), Some("1"));
        assert_eq!(unit_environment(unit, "MISSING"), None);
    }
}
