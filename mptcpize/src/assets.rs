//! `mptcpize generate-assets DIR` (hidden, for packagers): the man pages and the bash, zsh and
//! fish completions, generated from the same clap definitions as `--help` ([`crate::cli`]),
//! so they never disagree with the launcher they ship with.
//!
//! Written under DIR as a package installs them below `/usr/share`:
//!
//! - `man/man8/mptcpize.8` and `man/man8/mptcpize-SUBCOMMAND.8` (section 8, as Debian's
//!   mptcpize, so `man mptcpize` still finds it after the replacement);
//! - `bash-completion/completions/mptcpize`, `zsh/vendor-completions/_mptcpize`,
//!   `fish/vendor_completions.d/mptcpize.fish`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory};

/// The man pages' section: system administration, as Debian's `mptcpize.8`.
const MAN_SECTION: &str = "8";

#[derive(Debug, Args)]
pub struct AssetsArgs {
    /// The directory to write into (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Writes the pages and completions; returns the exit status.
pub fn generate(args: &AssetsArgs) -> i32 {
    match write_all(&args.dir) {
        Ok(files) => {
            for file in files {
                crate::messages::stdout_line(format_args!("{}", file.display()));
            }
            0
        }
        Err(e) => {
            crate::messages::stderr_line(format_args!(
                "mptcpize: cannot write the man pages and completions: {e}"
            ));
            crate::run::EXIT_LAUNCHER
        }
    }
}

fn write_all(dir: &Path) -> io::Result<Vec<PathBuf>> {
    // Without clap's `help` subcommand: there is no `mptcpize-help(8)` page for the main
    // page's list to name (and `mptcpize help` is only `--help` said otherwise).
    let mut cmd = crate::cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();

    let man_dir = dir.join("man").join(format!("man{MAN_SECTION}"));
    fs::create_dir_all(&man_dir)?;
    let page = |cmd: clap::Command, name: &str| -> io::Result<PathBuf> {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd)
            .title(name.to_uppercase())
            .section(MAN_SECTION)
            .manual("mptcpize")
            .source(format!("mptcpize {}", env!("CARGO_PKG_VERSION")))
            .render(&mut out)?;
        let path = man_dir.join(format!("{name}.{MAN_SECTION}"));
        fs::write(&path, out)?;
        Ok(path)
    };
    written.push(page(cmd.clone(), "mptcpize")?);
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let name = format!("mptcpize-{}", sub.get_name());
        // After `build()` its bin_name is `mptcpize run`: the page's synopsis reads that.
        written.push(page(sub.clone(), &name)?);
    }

    // clap_complete offers hidden subcommands too: the completions are generated from the
    // command without them (`generate-assets` is for packagers, not a user's Tab).
    let mut cmd = visible_only(crate::cli::Cli::command());
    use clap_complete::Shell;
    for (shell, path) in [
        (Shell::Bash, "bash-completion/completions/mptcpize"),
        (Shell::Zsh, "zsh/vendor-completions/_mptcpize"),
        (Shell::Fish, "fish/vendor_completions.d/mptcpize.fish"),
    ] {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().expect("completion files are in a directory"))?;
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut cmd, "mptcpize", &mut out);
        fs::write(&path, out)?;
        written.push(path);
    }
    Ok(written)
}

/// `cmd` without its hidden subcommands (clap cannot remove one: the command is made again
/// from the parts a completion script uses).
fn visible_only(cmd: clap::Command) -> clap::Command {
    let visible: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let mut without = clap::Command::new("mptcpize")
        .version(env!("CARGO_PKG_VERSION"))
        .args(cmd.get_arguments().cloned())
        .subcommands(visible);
    if let Some(about) = cmd.get_about() {
        without = without.about(about.clone());
    }
    without
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The completions offer every visible subcommand and no hidden one; the man pages name
    /// no page that is not written.
    #[test]
    fn completions_and_pages_name_only_what_is_shipped() {
        let dir = std::env::temp_dir().join(format!("mptcpize-assets-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let written = write_all(&dir).unwrap();
        let read = |path: &str| fs::read_to_string(dir.join(path)).unwrap();
        for path in [
            "bash-completion/completions/mptcpize",
            "zsh/vendor-completions/_mptcpize",
            "fish/vendor_completions.d/mptcpize.fish",
        ] {
            let script = read(path);
            assert!(!script.contains("generate-assets"), "{path}");
            for sub in ["run", "enable", "disable", "check", "watch"] {
                assert!(script.contains(sub), "{path}: no {sub}");
            }
        }
        let pages: Vec<String> = written
            .iter()
            .filter_map(|p| p.file_name()?.to_str())
            .filter(|name| name.ends_with(".8"))
            .map(|name| name.trim_end_matches(".8").replace('-', "\\-"))
            .collect();
        let main_page = read("man/man8/mptcpize.8");
        for line in main_page.lines().filter(|l| l.contains("(8)")) {
            let named = line.trim_end_matches("(8)").trim_start_matches("\\fB");
            assert!(
                pages.iter().any(|page| named.ends_with(page.as_str())),
                "the main page names {line}, which is not written ({pages:?})"
            );
        }
        assert!(!main_page.contains("help(8)"), "{main_page}");
        let _ = fs::remove_dir_all(&dir);
    }
}
