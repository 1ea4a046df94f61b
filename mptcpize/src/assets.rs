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
                println!("{}", file.display());
            }
            0
        }
        Err(e) => {
            eprintln!("mptcpize: cannot write the man pages and completions: {e}");
            crate::run::EXIT_LAUNCHER
        }
    }
}

fn write_all(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut cmd = crate::cli::Cli::command();
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
