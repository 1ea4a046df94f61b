//! Unit names (`systemd.unit(5)`): which names systemd accepts (`unit_name_is_valid`), the
//! type a name's suffix gives, and an instance's template (`foo@bar.service` →
//! `foo@.service`).

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

/// Checks `arg` with systemd's rules for unit names (`unit_name_is_valid`) and returns the
/// full name: only ASCII letters, digits and `:-_.\` (plus one `@` for a template or an
/// instance), at most 255 bytes, a known type suffix. A name without a suffix is a
/// `.service`, as `systemctl` takes it. No name that passes is `.`, `..` or holds a `/`,
/// so the name can be joined to a directory (`watch --unit`'s cgroup, a drop-in
/// directory) without leaving it.
pub fn unit_name_syntax(arg: &str) -> Result<String, String> {
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
    let (prefix, _) = name.rsplit_once('.').expect("a suffix was checked");
    let valid_prefix = match prefix.split_once('@') {
        // An instance (`foo@bar`) or a template (`foo@`): one `@`, something before it.
        Some((before, instance)) => !before.is_empty() && !instance.contains('@'),
        None => !prefix.is_empty(),
    };
    if !valid_prefix {
        return Err(format!("{arg:?} is not a systemd unit name ({example})"));
    }
    Ok(name)
}

/// Checks `arg` as [`unit_name_syntax`] does; only services and sockets can be made to use
/// MPTCP.
pub fn unit_name(arg: &str) -> Result<Unit, String> {
    let name = unit_name_syntax(arg)?;
    let (_, suffix) = name.rsplit_once('.').expect("a suffix was checked");
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

/// `foo@bar.service` → `foo@.service`.
pub(super) fn template_of(unit: &str) -> Option<String> {
    let (prefix, suffix) = unit.rsplit_once('.')?;
    let (before, instance) = prefix.split_once('@')?;
    (!instance.is_empty()).then(|| format!("{before}@.{suffix}"))
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
    fn templates_of_instances() {
        for (unit, template) in [
            ("getty@tty1.service", Some("getty@.service")),
            ("a-b@c.d.socket", Some("a-b@.socket")),
            ("getty@.service", None),
            ("nginx.service", None),
        ] {
            assert_eq!(template_of(unit).as_deref(), template, "{unit}");
        }
    }
}
