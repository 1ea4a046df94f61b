//! The command line (clap derive) and what each subcommand calls.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use mptcp_policy::refused_options::RefusedOptions;

const EXAMPLES: &str = "\
Examples:
  mptcpize run iperf3 -s                  serve iperf3 over MPTCP
  mptcpize run -d curl https://example.org  log each socket the shim rewrites
  mptcpize run -- python3 -m http.server  everything after -- is the program's
  mptcpize run --report curl -O URL       one line per connection: MPTCP? subflows? bytes?
  mptcpize run --refused-options=swap nc -M 5 ::1 80
                                          plain TCP whenever MPTCP refuses an option
  mptcpize enable nginx                   make a systemd service use MPTCP
  mptcpize disable nginx                  undo it

Check with `ss -Mni` (MPTCP sockets) or `nstat -az 'MPTcp*'` that MPTCP is in use.
Environment: MPTCPIZE_PRELOAD=PATH uses that shim library; MPTCPIZE_DEBUG=1 as -d;
MPTCPIZE_REFUSED_OPTIONS=auto|swap|keep as --refused-options.";

/// Run unmodified programs over Multipath TCP.
///
/// `mptcpize run` loads a small library into the program (LD_PRELOAD) that turns each TCP
/// socket it creates into an MPTCP socket, and falls back to TCP where the kernel or the
/// program needs it. Go programs, which do not create sockets through libc, are asked to use
/// MPTCP with GODEBUG=multipathtcp=1.
#[derive(Debug, Parser)]
#[command(name = "mptcpize", version, about, long_about, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run PROGRAM with its TCP sockets turned into MPTCP sockets.
    ///
    /// PROGRAM replaces mptcpize (no child process): its exit status and signals are its own.
    /// Exit status 127 when PROGRAM is not found, 126 when it cannot be run, 125 for an
    /// error of mptcpize itself.
    Run(RunArgs),
    /// Make a systemd service (or socket) use MPTCP: writes the drop-in
    /// /etc/systemd/system/UNIT.d/zz-mptcpize.conf (the unit file is not changed).
    ///
    /// A service gets LD_PRELOAD (the shim, at a path every user can load) and
    /// GODEBUG=multipathtcp=1, merged with what the unit and its other drop-ins set. A socket
    /// unit gets SocketProtocol=mptcp (systemd 257 or newer).
    Enable(UnitArgs),
    /// Undo `enable`: removes the drop-in written by `mptcpize enable UNIT`.
    Disable(UnitArgs),
    /// Tell whether MPTCP will work here and what to fix: kernel, net.mptcp.enabled, path
    /// manager, scheduler, limits, endpoints and their interfaces, then an MPTCP connection
    /// over loopback (and to --connect HOST:PORT).
    ///
    /// Exit status: 0 MPTCP works, 1 it works with a limit worth fixing (one path only, a
    /// fallback), 2 it does not work.
    Check(crate::check::CheckArgs),
    /// Write the man pages and the bash, zsh and fish completions into DIR (for packagers).
    #[command(hide = true)]
    GenerateAssets(crate::assets::AssetsArgs),
    /// Show the MPTCP connections of this machine live, per connection and per path
    /// (owner, subflows, throughput, RTT, backup), for any running program; read from the
    /// kernel's socket tables (sock_diag), no restart. `--json --once` for scripts.
    Watch(crate::watch::WatchArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Log each socket decision to stderr (sets MPTCPIZE_DEBUG=1 for the program).
    #[arg(short, long)]
    pub debug: bool,
    /// Intercept socket() with seccomp user notification instead of LD_PRELOAD: reaches
    /// statically linked programs, raw socket system calls and setuid programs. Chosen
    /// automatically for statically linked and setuid/setgid programs.
    #[arg(long)]
    pub seccomp: bool,
    /// When each TCP/MPTCP connection the program made or accepted closes (or at exit), write
    /// one line to stderr: peer, kind=mptcp|fallback|tcp, subflows and their paths, bytes
    /// sent and received, duration. Loads a second library (after the shim); without this
    /// flag the program gets none of it.
    #[arg(long)]
    pub report: bool,
    /// As --report, but append the lines to FILE instead of stderr.
    #[arg(long, value_name = "FILE")]
    pub report_file: Option<PathBuf>,
    /// What to do when the program sets a socket option MPTCP refuses and plain TCP
    /// accepts. `auto`: keep MPTCP and succeed where the value changes nothing (HAProxy's
    /// TCP_USER_TIMEOUT 0) or the option is advisory (IPV6_TCLASS, with IP_TOS set instead;
    /// TCP_QUICKACK), or a tuning option is set on a listener; give the socket plain TCP
    /// (with the option) before it connects for a value with a real effect (IP_TTL 5,
    /// TCP_USER_TIMEOUT 120000, TCP_MD5SIG, TCP_ULP, …); `swap`: always plain TCP (every
    /// program works as without mptcpize); `keep`: always MPTCP and the error (as Debian's
    /// shim). Where plain TCP refuses the option too, the program gets TCP's error. -d says
    /// which rule decided. Sets MPTCPIZE_REFUSED_OPTIONS, which is read instead when the
    /// flag is absent.
    #[arg(long, value_name = "CHOICE", value_parser = refused_options_parser())]
    pub refused_options: Option<RefusedOptions>,
    /// The program to run, then its arguments (passed as they are). Options of mptcpize
    /// come before PROGRAM: an unknown one there is an error; `--` ends them, for a
    /// PROGRAM whose name starts with `-`.
    // No `allow_hyphen_values`: with it, `run --bogus prog` would try to run `--bogus`.
    // Everything after PROGRAM is taken as it is (`trailing_var_arg`).
    #[arg(
        value_name = "PROGRAM [ARGS]...",
        required = true,
        trailing_var_arg = true
    )]
    pub command: Vec<OsString>,
}

/// `auto`, `swap` or `keep`, as `RefusedOptions`.
fn refused_options_parser() -> impl TypedValueParser<Value = RefusedOptions> {
    PossibleValuesParser::new(RefusedOptions::ALL.map(RefusedOptions::name)).map(|name| {
        RefusedOptions::from_value(name.as_bytes()).expect("one of the possible values")
    })
}

#[derive(Debug, Args)]
pub struct UnitArgs {
    /// The systemd unit, e.g. `nginx`, `nginx.service`, `getty@tty1` or `web.socket`.
    #[arg(value_name = "UNIT")]
    pub unit: String,
    /// Print the drop-in (or what would be removed) instead of writing anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Treat DIR as the root directory (for tests and images); systemctl is not called.
    #[arg(long, value_name = "DIR", env = "MPTCPIZE_ROOT", hide = true)]
    pub root: Option<PathBuf>,
}

impl UnitArgs {
    fn systemd_options(&self) -> crate::systemd::Options<'_> {
        crate::systemd::Options {
            root: self.root.as_deref(),
            dry_run: self.dry_run,
        }
    }
}

/// The common forms of `mptcpize run` (`run [-d|--debug] [--] PROGRAM [ARGS…]`), parsed
/// without clap, whose set-up costs about a fifth of what the launcher runs before it
/// execs (see BENCHMARKS.md). Every other command line returns `None` and goes to clap, so
/// the result is the same (a unit test compares the two).
pub fn parse_run_fast(argv: &[OsString]) -> Option<Cli> {
    let mut rest = argv.get(1..)?;
    if rest.first()? != "run" {
        return None;
    }
    rest = &rest[1..];
    let mut debug = false;
    if let Some(first) = rest.first() {
        if first == "-d" || first == "--debug" {
            debug = true;
            rest = &rest[1..];
        }
    }
    if rest.first().is_some_and(|a| a == "--") {
        rest = &rest[1..];
    } else if rest
        .first()
        .is_some_and(|a| a.as_encoded_bytes().starts_with(b"-"))
    {
        return None;
    }
    if rest.is_empty() {
        return None;
    }
    Some(Cli {
        command: Command::Run(RunArgs {
            debug,
            seccomp: false,
            report: false,
            report_file: None,
            refused_options: None,
            command: rest.to_vec(),
        }),
    })
}

/// Runs the chosen subcommand and returns the process exit status (`run` returns only on
/// failure).
pub fn dispatch(cli: Cli) -> i32 {
    match cli.command {
        Command::Run(args) => {
            let (program, rest) = args.command.split_first().expect("clap requires PROGRAM");
            let report = match (args.report_file, args.report) {
                (Some(file), _) => Some(crate::run::Report::File(file)),
                (None, true) => Some(crate::run::Report::Stderr),
                (None, false) => None,
            };
            // Both modes read the choice from the environment (the shim at load).
            match args.refused_options {
                Some(choice) => std::env::set_var(RefusedOptions::ENV, choice.name()),
                None => {
                    if let Some(value) = std::env::var_os(RefusedOptions::ENV) {
                        if RefusedOptions::from_value(value.as_encoded_bytes()).is_none() {
                            crate::messages::stderr_line(format_args!(
                                "mptcpize: {}={} is not a choice: use auto, swap or keep",
                                RefusedOptions::ENV,
                                value.to_string_lossy()
                            ));
                            return crate::run::EXIT_LAUNCHER;
                        }
                    }
                }
            }
            // PATH is searched once: the file found decides between the shim and seccomp
            // mode, and is the one `run::exec` runs (under the name given, as argv[0]).
            let found = if args.seccomp {
                None
            } else {
                crate::seccomp::resolve(program)
            };
            let decided_on = found
                .as_deref()
                .map_or(program.as_os_str(), |p| p.as_os_str());
            if crate::seccomp::chosen(decided_on, args.seccomp) {
                if report.is_some() {
                    // The report library works through LD_PRELOAD, which seccomp mode is
                    // for programs it cannot reach.
                    crate::messages::stderr_line(format_args!(
                        "mptcpize: --report needs LD_PRELOAD and cannot be used with --seccomp \
                         (nor for statically linked or setuid programs); watch their \
                         connections with `ss -Mni`"
                    ));
                    return crate::run::EXIT_LAUNCHER;
                }
                crate::seccomp::run_and_exit(program, rest, args.debug);
            }
            crate::run::exec(program, found.as_deref(), rest, args.debug, report.as_ref())
        }
        Command::Enable(args) => crate::systemd::enable(&args.unit, args.systemd_options()),
        Command::Disable(args) => crate::systemd::disable(&args.unit, args.systemd_options()),
        Command::Check(args) => crate::check::run(&args),
        Command::GenerateAssets(args) => crate::assets::generate(&args),
        Command::Watch(args) => crate::watch::run(&args),
    }
}

/// The help of clap's `help` subcommand, for `mptcpize help --help` (or `-h`), which clap
/// itself answers with "unrecognized subcommand" (as if `--help` were a command to explain).
pub fn help_of_help(argv: &[OsString]) -> Option<String> {
    let asks = argv.get(1).is_some_and(|a| a == "help")
        && argv[2..].iter().any(|a| a == "--help" || a == "-h");
    if !asks {
        return None;
    }
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    cmd.build();
    let help = cmd.find_subcommand_mut("help")?;
    Some(help.render_long_help().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The crate documentation (main.rs) names every subcommand, hidden ones included.
    #[test]
    fn crate_docs_name_every_subcommand() {
        let docs: String = include_str!("lib.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut cmd = Cli::command();
        cmd.build();
        for sub in cmd.get_subcommands() {
            let name = sub.get_name();
            let named = docs.contains(&format!("`mptcpize {name}"))
                || docs.contains(&format!("`mptcpize {name}|"))
                || docs.contains(&format!("|{name} "));
            assert!(
                named,
                "lib.rs's documentation does not name `mptcpize {name}`"
            );
        }
    }

    #[test]
    fn help_of_the_help_subcommand() {
        let argv = |args: &[&str]| args.iter().map(OsString::from).collect::<Vec<_>>();
        let help = help_of_help(&argv(&["mptcpize", "help", "--help"])).unwrap();
        assert!(help.contains("mptcpize help"), "{help}");
        assert!(help_of_help(&argv(&["mptcpize", "help", "run", "-h"])).is_some());
        assert!(help_of_help(&argv(&["mptcpize", "help", "run"])).is_none());
        assert!(help_of_help(&argv(&["mptcpize", "run", "--help"])).is_none());
        assert!(help_of_help(&argv(&["mptcpize"])).is_none());
    }

    #[test]
    fn fast_run_parse_agrees_with_clap() {
        let cases: &[&[&str]] = &[
            &["mptcpize", "run", "iperf3", "-s"],
            &["mptcpize", "run", "-d", "iperf3", "-s", "-d"],
            &["mptcpize", "run", "--debug", "--", "-x", "--help"],
            &["mptcpize", "run", "--", "prog"],
            &["mptcpize", "run", "-d", "-d", "prog"],
            &["mptcpize", "run", "-d"],
            &["mptcpize", "run", "--"],
            &["mptcpize", "run"],
            &["mptcpize", "run", "--seccomp", "prog"],
            &["mptcpize", "run", "--help"],
            &["mptcpize", "run", "-x", "prog"],
            &["mptcpize", "enable", "x"],
            &["mptcpize"],
        ];
        for case in cases {
            let argv: Vec<OsString> = case.iter().map(OsString::from).collect();
            let Some(fast) = parse_run_fast(&argv) else {
                continue;
            };
            let clap = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{case:?}: {e}"));
            assert_eq!(format!("{fast:?}"), format!("{clap:?}"), "{case:?}");
        }
        let argv = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(parse_run_fast(&argv(&["m", "run", "prog"])).is_some());
        assert!(parse_run_fast(&argv(&["m", "run", "-d", "-d", "prog"])).is_none());
        assert!(parse_run_fast(&argv(&["m", "run", "--seccomp", "prog"])).is_none());
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    fn run_args(argv: &[&str]) -> RunArgs {
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Run(args) => args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn program_flags_are_the_programs() {
        let a = run_args(&["mptcpize", "run", "-d", "iperf3", "-s", "-d", "--", "x"]);
        assert!(a.debug);
        assert_eq!(a.command, ["iperf3", "-s", "-d", "--", "x"]);
        let a = run_args(&["mptcpize", "run", "--", "-prog", "--help"]);
        assert!(!a.debug);
        assert_eq!(a.command, ["-prog", "--help"]);
        let a = run_args(&["mptcpize", "run", "curl", "--version"]);
        assert_eq!(a.command, ["curl", "--version"]);
        let a = run_args(&["mptcpize", "run", "--report", "curl", "--report"]);
        assert!(a.report && a.report_file.is_none());
        assert_eq!(a.command, ["curl", "--report"]);
        let a = run_args(&["mptcpize", "run", "--report-file", "/tmp/r", "curl"]);
        assert_eq!(
            a.report_file.as_deref(),
            Some(std::path::Path::new("/tmp/r"))
        );
        assert_eq!(a.command, ["curl"]);
        let a = run_args(&["mptcpize", "run", "--refused-options=keep", "ssh", "-6"]);
        assert_eq!(a.refused_options, Some(RefusedOptions::Keep));
        assert_eq!(a.command, ["ssh", "-6"]);
        let a = run_args(&["mptcpize", "run", "--refused-options", "swap", "nc"]);
        assert_eq!(a.refused_options, Some(RefusedOptions::Swap));
        assert!(run_args(&["mptcpize", "run", "nc"])
            .refused_options
            .is_none());
        assert!(Cli::try_parse_from(["mptcpize", "run", "--refused-options=x", "nc"]).is_err());
        assert!(Cli::try_parse_from(["mptcpize", "run"]).is_err());
        assert!(Cli::try_parse_from(["mptcpize", "run", "-d"]).is_err());
        let a = run_args(&["mptcpize", "run", "-d", "--", "--bogus", "-d"]);
        assert!(a.debug);
        assert_eq!(a.command, ["--bogus", "-d"]);
    }

    #[test]
    fn unknown_option_before_the_program_is_a_usage_error() {
        for argv in [
            &["mptcpize", "run", "--bogus", "true"][..],
            &["mptcpize", "run", "-x", "true"],
            &["mptcpize", "run", "-d", "--bogus", "true"],
            &["mptcpize", "run", "--report", "--bogus"],
        ] {
            let e = Cli::try_parse_from(argv).unwrap_err();
            assert_eq!(
                e.kind(),
                clap::error::ErrorKind::UnknownArgument,
                "{argv:?}"
            );
            assert!(e.use_stderr());
            let text = e.render().to_string();
            let option = argv
                .iter()
                .find(|a| a.starts_with("-") && **a != "-d" && **a != "--report")
                .unwrap();
            assert!(text.contains(&format!("'{option}'")), "{text}");
        }
    }
}
