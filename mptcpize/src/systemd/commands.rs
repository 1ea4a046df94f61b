//! `enable` and `disable`: the drop-in each unit kind gets, written atomically (or printed
//! with `--dry-run`), the file names earlier versions used, and `systemctl daemon-reload`
//! afterwards on a running system.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::search_path::{drop_in_dir, find_unit, other_drop_ins, DROP_IN, OLD_DROP_IN};
use super::service_environment::{
    effective_environment, environment_files_setting, merged_preload, undone_by,
};
use super::service_shim::{service_library, write_system_copy};
use super::socket_unit::{
    listen_streams, socket_service, stream_listener, systemd_version, StreamListener,
    SOCKET_PROTOCOL_SYSTEMD,
};
use super::unit_file::quote_assignment;
use super::unit_name::{unit_name, UnitKind};
use super::Options;

/// Writes the drop-in for `unit`; returns the exit status.
pub fn enable(unit: &str, options: Options<'_>) -> i32 {
    finish(enable_in(unit, options), options)
}

/// Removes the drop-in for `unit`; returns the exit status.
pub fn disable(unit: &str, options: Options<'_>) -> i32 {
    finish(disable_in(unit, options), options)
}

/// Prints the result (stdout) or the error (stderr, status 1); after a change on the running
/// system, `systemctl daemon-reload` so that systemd reads it.
fn finish(result: Result<String, String>, options: Options<'_>) -> i32 {
    match result {
        Ok(message) => {
            crate::messages::stdout_line(format_args!("{message}"));
            if !options.dry_run
                && options.root.is_none()
                && Path::new("/run/systemd/system").is_dir()
            {
                daemon_reload();
            }
            0
        }
        Err(e) => {
            crate::messages::stderr_line(format_args!("mptcpize: {e}"));
            1
        }
    }
}

/// `systemctl daemon-reload`; a failure is told, not fatal: the drop-in is written.
fn daemon_reload() {
    match Command::new("systemctl").arg("daemon-reload").status() {
        Ok(status) if status.success() => {}
        Ok(status) => crate::messages::stderr_line(format_args!(
            "mptcpize: `systemctl daemon-reload` failed ({status}): run it yourself"
        )),
        Err(e) => crate::messages::stderr_line(format_args!(
            "mptcpize: cannot run `systemctl daemon-reload` ({e}): run it yourself"
        )),
    }
}

/// What `enable` writes for a unit.
struct DropIn {
    /// The drop-in file's text.
    content: String,
    /// Where the embedded shim is to be written first (a service with no usable installed
    /// shim).
    shim_copy: Option<PathBuf>,
    /// Lines for the user after the result: what else to do, what would undo the drop-in.
    notes: String,
}

/// `enable`: the unit found, its drop-in built from its files and written (or shown with
/// `--dry-run`); the message for the user.
fn enable_in(arg: &str, options: Options<'_>) -> Result<String, String> {
    let unit = unit_name(arg)?;
    let system_root = options.root.is_none();
    let root = options.root.unwrap_or(Path::new("/"));
    let unit_file = find_unit(root, &unit.name)?;
    let mut files = vec![unit_file];
    files.extend(other_drop_ins(root, &unit.name));
    let name = &unit.name;

    let DropIn {
        content,
        shim_copy: copy,
        notes,
    } = match unit.kind {
        UnitKind::Service => service_drop_in(root, system_root, name, &files)?,
        UnitKind::Socket => socket_drop_in(root, system_root, name, &files)?,
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

/// The `[Service]` drop-in: `LD_PRELOAD` and `GODEBUG` with the values the unit's files
/// give them merged in. `files` is the unit file, then its other drop-ins in systemd's order.
fn service_drop_in(
    root: &Path,
    system_root: bool,
    name: &str,
    files: &[PathBuf],
) -> Result<DropIn, String> {
    let (shim, write_copy) = service_library(root, system_root)?;
    let env = effective_environment(files)?;
    let preload = merged_preload(env.get("LD_PRELOAD").map(String::as_str), &shim);
    let godebug = crate::run::with_godebug(env.get("GODEBUG").map(|v| OsStr::new(v.as_str())));
    let mut notes = String::new();
    for var in ["LD_PRELOAD", "GODEBUG"] {
        for file in environment_files_setting(root, files, var) {
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
    // What systemd will make of the unit with the drop-in in place: a later
    // drop-in or an UnsetEnvironment= may still undo it.
    let ours = drop_in_dir(root, name).join(DROP_IN);
    for var in ["LD_PRELOAD", "GODEBUG"] {
        for undoer in undone_by(files, &ours, &content, var)? {
            let _ = write!(notes, "\nWarning: {}", undoer.describe(root, var));
        }
    }
    Ok(DropIn {
        content,
        shim_copy: write_copy.then_some(shim),
        notes,
    })
}

/// The `[Socket]` drop-in: `SocketProtocol=mptcp`, refused where the unit also listens on a
/// socket that cannot be MPTCP or systemd is too old for it.
fn socket_drop_in(
    root: &Path,
    system_root: bool,
    name: &str,
    files: &[PathBuf],
) -> Result<DropIn, String> {
    let service = socket_service(name, files)?;
    // SocketProtocol= applies to every stream socket of the unit: a Unix or vsock
    // one cannot be MPTCP, and systemd would then fail to create it.
    let listen = listen_streams(files)?;
    if listen.is_empty() {
        return Err(format!(
            "{name} has no ListenStream=: only TCP listeners can be MPTCP"
        ));
    }
    let advice = "SocketProtocol=mptcp applies to all its stream sockets and systemd \
                  would fail to create that one. Move the TCP listener into a .socket \
                  unit of its own and enable that one.";
    for value in &listen {
        match stream_listener(value) {
            StreamListener::Tcp => {}
            StreamListener::Unix(path) => {
                return Err(format!(
                    "{name} also listens on a Unix socket (ListenStream={value}, \
                     {path}), which cannot be MPTCP: {advice}"
                ))
            }
            StreamListener::Vsock => {
                return Err(format!(
                    "{name} also listens on a vsock socket (ListenStream={value}), \
                     which cannot be MPTCP: {advice}"
                ))
            }
            StreamListener::Unresolved(spec) => {
                return Err(format!(
                    "{name} has ListenStream={value}, whose specifier %{spec} mptcpize \
                     cannot resolve: if it is a TCP listener, write the address \
                     without it; nothing was written"
                ))
            }
        }
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
    let notes = format!("\nThe connections {service} opens itself: `mptcpize enable {service}`.");
    Ok(DropIn {
        content,
        shim_copy: None,
        notes,
    })
}

/// `disable`: our drop-in (and the old name's) removed, the directory too when it is left
/// empty; the message for the user.
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
