//! The launcher's parsers of input that another user, the kernel or a file controls, in one
//! place for the fuzz targets (`fuzz/` at the workspace root). Hidden from the
//! documentation: a test interface, not an API for other programs.

use std::ffi::OsString;

pub use crate::check::interfaces::default_route_interfaces_in;
pub use crate::go_binary::GoBuild;
pub use crate::systemd::{environment_words, quote_assignment, unit_name};
pub use crate::watch::connection_filter::parent_pid_in_stat;

/// One `Key=value` of a unit file or drop-in: (section, key, value), continuation lines
/// joined, as `enable` reads the files of a unit (`systemd.syntax(7)`).
pub fn unit_file_assignments(text: &str) -> Vec<(String, String, String)> {
    crate::systemd::assignments(text)
        .into_iter()
        .map(|a| (a.section, a.key, a.value))
        .collect()
}

/// The credentials the seccomp supervisor reads from a `/proc/TID/status` text:
/// (filesystem uid, filesystem gid, effective capabilities).
pub fn proc_status_credentials(status: &str) -> Option<(u32, u32, u64)> {
    crate::seccomp::identity::Caller::parse(status).map(|c| (c.fsuid, c.fsgid, c.cap_eff))
}

/// Parses a command line as the launcher does (`run`'s fast path, then clap), without
/// running it: `Ok` with the subcommand's name, or clap's error (usage, `--help`,
/// `--version`) rendered as the launcher would print it.
///
/// Panics where the fast path and clap disagree on a command line both accept.
pub fn parse_command_line(argv: &[OsString]) -> Result<&'static str, String> {
    use clap::Parser;
    let parsed = crate::cli::Cli::try_parse_from(argv);
    if let Some(fast) = crate::cli::parse_run_fast(argv) {
        let clap = parsed
            .as_ref()
            .expect("clap refuses what the fast path accepts");
        assert_eq!(
            format!("{fast:?}"),
            format!("{clap:?}"),
            "fast path and clap differ"
        );
    }
    match parsed {
        Ok(cli) => Ok(subcommand_name(&cli.command)),
        Err(e) => Err(e.render().to_string()),
    }
}

fn subcommand_name(command: &crate::cli::Command) -> &'static str {
    use crate::cli::Command;
    match command {
        Command::Run(_) => "run",
        Command::Enable(_) => "enable",
        Command::Disable(_) => "disable",
        Command::Check(_) => "check",
        Command::GenerateAssets(_) => "generate-assets",
        Command::Watch(_) => "watch",
    }
}
