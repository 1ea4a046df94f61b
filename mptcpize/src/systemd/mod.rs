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
//!
//! One concern a file:
//! - `unit_name`: unit-name syntax (`unit_name_is_valid`), templates and instances;
//! - `unit_file`: unit-file syntax (`systemd.syntax(7)`: sections, comments, continuation
//!   lines) and `Environment=` words (quoting and C escapes, `systemd.exec(5)`);
//! - `search_path`: the unit directories, finding a unit file and its drop-ins in
//!   systemd's order under a root, and where the drop-in `enable` writes goes;
//! - `service_environment`: the environment a service's files give it, what undoes the
//!   drop-in's, the `LD_PRELOAD` merge;
//! - `service_shim`: which shim a service loads, checked loadable by every user;
//! - `socket_unit`: `.socket` units (`ListenStream=`, `SocketProtocol=mptcp`);
//! - `commands`: `enable` and `disable`, what they write, `daemon-reload`.

mod commands;
mod search_path;
mod service_environment;
mod service_shim;
mod socket_unit;
mod unit_file;
mod unit_name;

use std::path::Path;

pub use commands::{disable, enable};
pub use search_path::DROP_IN;
pub(crate) use unit_file::assignments;
pub use unit_file::{environment_words, quote_assignment};
pub use unit_name::{unit_name, unit_name_syntax, Unit, UnitKind};

/// What `enable` and `disable` are asked to do.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// Treat this directory as `/` (an image, a test); systemctl is not called.
    pub root: Option<&'a Path>,
    /// Print the drop-in (or what would be removed) instead of writing.
    pub dry_run: bool,
}
