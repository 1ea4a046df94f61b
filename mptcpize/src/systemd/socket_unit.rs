//! `.socket` units: the addresses a socket unit listens on (`ListenStream=`, specifiers
//! expanded where they are fixed paths), the service it starts, and the systemd release,
//! since `SocketProtocol=mptcp` needs 257 or newer (`systemd.socket(5)`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::search_path::read_unit_file;
use super::unit_file::assignments;

/// The first systemd release with `SocketProtocol=mptcp` (systemd.socket(5)).
pub(super) const SOCKET_PROTOCOL_SYSTEMD: u32 = 257;

/// The systemd release of the system in `root`: `systemctl --version` for the running
/// system, else the version in the name of the root's `libsystemd-shared-NNN.so`.
pub(super) fn systemd_version(root: &Path, system_root: bool) -> Option<u32> {
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
pub(super) fn listen_streams(files: &[PathBuf]) -> Result<Vec<String>, String> {
    let mut listen = Vec::new();
    for file in files {
        for a in assignments(&read_unit_file(file)?) {
            if a.section == "Socket" && a.key == "ListenStream" {
                if a.value.is_empty() {
                    listen.clear();
                } else {
                    listen.push(a.value);
                }
            }
        }
    }
    Ok(listen)
}

/// What a `ListenStream=` value listens on, as far as `SocketProtocol=mptcp` cares.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum StreamListener {
    /// A port, `ADDRESS:PORT` or `[V6]:PORT`: TCP, which MPTCP can replace.
    Tcp,
    /// A file system or abstract Unix socket (`/…`, `@…`), after specifier expansion.
    Unix(String),
    /// `vsock:CID:PORT`.
    Vsock,
    /// A specifier this check cannot resolve (`%i`, `%H`, …): what it becomes is unknown.
    Unresolved(char),
}

/// Classifies a `ListenStream=` value. Specifiers (`systemd.unit(5)`) are expanded where
/// they are a fixed path of the system manager (`%t` → `/run`, `%S` → `/var/lib`, …), so
/// that `%t/x.sock` is seen as the Unix socket it is; any other specifier makes the value
/// [`StreamListener::Unresolved`].
pub(super) fn stream_listener(value: &str) -> StreamListener {
    let mut expanded = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            expanded.push(c);
            continue;
        }
        let spec = chars.next().unwrap_or('%');
        let text = match spec {
            '%' => "%",
            // The system manager's directories (systemd.unit(5), "Specifiers").
            't' => "/run",
            'S' => "/var/lib",
            'C' => "/var/cache",
            'L' => "/var/log",
            'E' => "/etc",
            'T' => "/tmp",
            'V' => "/var/tmp",
            'h' => "/root",
            other => return StreamListener::Unresolved(other),
        };
        expanded.push_str(text);
    }
    if expanded.starts_with(['/', '@']) {
        StreamListener::Unix(expanded)
    } else if expanded.starts_with("vsock:") {
        StreamListener::Vsock
    } else {
        StreamListener::Tcp
    }
}

/// The service a socket unit starts: `Service=`, else the same name (`foo@.service` for
/// `Accept=yes`).
pub(super) fn socket_service(unit: &str, files: &[PathBuf]) -> Result<String, String> {
    let mut service = None;
    let mut accept = false;
    for file in files {
        for a in assignments(&read_unit_file(file)?) {
            if a.section == "Socket" && a.key == "Service" && !a.value.is_empty() {
                service = Some(a.value.clone());
            }
            if a.section == "Socket" && a.key == "Accept" {
                accept = matches!(a.value.as_str(), "yes" | "true" | "1" | "on");
            }
        }
    }
    let base = unit.strip_suffix(".socket").unwrap_or(unit);
    Ok(service.unwrap_or_else(|| {
        if accept {
            format!("{base}@.service")
        } else {
            format!("{base}.service")
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_listeners_with_specifiers() {
        use StreamListener::*;
        assert_eq!(stream_listener("8080"), Tcp);
        assert_eq!(stream_listener("[::]:443"), Tcp);
        assert_eq!(stream_listener("0.0.0.0:80"), Tcp);
        assert_eq!(stream_listener("/run/x.sock"), Unix("/run/x.sock".into()));
        assert_eq!(stream_listener("@abstract"), Unix("@abstract".into()));
        assert_eq!(stream_listener("%t/x.sock"), Unix("/run/x.sock".into()));
        assert_eq!(stream_listener("%S/app/s"), Unix("/var/lib/app/s".into()));
        assert_eq!(stream_listener("vsock:2:80"), Vsock);
        assert_eq!(stream_listener("127.0.0.1:%i"), Unresolved('i'));
        assert_eq!(stream_listener("%H:80"), Unresolved('H'));
        assert_eq!(stream_listener("%%8080"), Tcp);
        assert_eq!(stream_listener("80%"), Tcp);
    }
}
