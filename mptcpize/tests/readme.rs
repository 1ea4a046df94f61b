//! The README kept true mechanically: every `mptcpize SUBCOMMAND --flag` it shows (in its
//! fenced code blocks and inline code) names a subcommand and flags that `mptcpize
//! SUBCOMMAND --help` lists, so renaming a flag fails here until the README follows; a
//! subcommand the README says does not exist ("no `mptcpize monitor`") does not; every
//! `(#anchor)` link names a heading (or an `<a id>`); every relative link names a file of the repository.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use support::mptcpize;

const README: &str = include_str!("../../README.md");

/// `mptcpize ARGS --help`, the launcher's own words.
fn help(args: &[&str]) -> String {
    let out = Command::new(mptcpize())
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "mptcpize {args:?} --help: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The subcommands `mptcpize --help` lists under "Commands:".
fn subcommands() -> Vec<String> {
    help(&[])
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// True when `help` lists `flag` (`--json`, `-d`) as a flag of its own, not as the start
/// of a longer one.
fn lists_flag(help: &str, flag: &str) -> bool {
    help.match_indices(flag).any(|(at, _)| {
        let before = help[..at].chars().next_back();
        let after = help[at + flag.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '-')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '-')
    })
}

/// The code of the README: each line of its fenced blocks, and each inline code span of
/// the rest, with the text just before it (to tell "no `mptcpize monitor`" apart).
fn code() -> Vec<(String, String)> {
    let mut code = Vec::new();
    let mut fenced = false;
    for line in README.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            code.push((String::new(), line.to_owned()));
            continue;
        }
        let mut parts = line.split('`');
        let mut before = parts.next().unwrap_or_default().to_owned();
        while let (Some(span), Some(after)) = (parts.next(), parts.next()) {
            code.push((before.clone(), span.to_owned()));
            before = after.to_owned();
        }
    }
    code
}

/// One `mptcpize` command line the README shows: its subcommand (empty for
/// `mptcpize --help`) and the flags it gives it.
#[derive(Debug)]
struct Shown {
    subcommand: String,
    flags: Vec<String>,
    /// Preceded by "no " in the text: the README says this subcommand does not exist.
    denied: bool,
    line: String,
}

/// Every `mptcpize …` command in `line` (also `cargo run -p mptcpize -- …`).
fn commands_in(before: &str, line: &str) -> Vec<Shown> {
    // A comment ends the command; so do the shell's separators (each starts a new one).
    let line = line.split(" #").next().unwrap_or_default();
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut found = Vec::new();
    for (i, word) in words.iter().enumerate() {
        if *word != "mptcpize" && !word.ends_with("/mptcpize") {
            continue;
        }
        let mut rest = &words[i + 1..];
        if i > 0 && matches!(words[i - 1], "-p" | "--package") {
            // `cargo run -p mptcpize -- SUBCOMMAND …`; any other cargo use is not a command.
            match rest.split_first() {
                Some((&"--", after)) => rest = after,
                _ => continue,
            }
        }
        let Some((first, args)) = rest.split_first() else {
            continue;
        };
        let (subcommand, args) = if first.starts_with('-') {
            (String::new(), rest)
        } else if first.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            (first.to_string(), args)
        } else {
            // `mptcpize report: …` (a line of output), `mptcpize 0.12` (Debian's version).
            continue;
        };
        let mut flags = Vec::new();
        for arg in args {
            if matches!(*arg, "|" | "||" | "&&" | ";" | "&") {
                break;
            }
            // Synopses: `[--json]`, `[--connect HOST:PORT]...`, `[-d]`.
            let arg = arg
                .trim_start_matches('[')
                .trim_end_matches(['.', '…', ']', ')']);
            if arg == "--" {
                break;
            }
            match arg.strip_prefix('-') {
                Some(_) => flags.push(arg.split('=').next().unwrap().to_owned()),
                // `run`'s options end at PROGRAM; the rest are the program's.
                None if subcommand == "run" => break,
                None => {}
            }
        }
        found.push(Shown {
            subcommand,
            flags,
            denied: before.trim_end().ends_with(" no") || before.trim_end().ends_with("No"),
            line: line.to_owned(),
        });
    }
    found
}

#[test]
fn every_subcommand_and_flag_the_readme_shows_exists() {
    let known = subcommands();
    assert!(
        known.iter().any(|s| s == "run") && known.iter().any(|s| s == "check"),
        "{known:?}"
    );
    let mut helps: BTreeMap<String, String> = BTreeMap::new();
    let mut checked = 0;
    for (before, line) in code() {
        for shown in commands_in(&before, &line) {
            let exists = shown.subcommand.is_empty() || known.contains(&shown.subcommand);
            if shown.denied {
                assert!(
                    !exists,
                    "the README says there is no `mptcpize {}`, but there is",
                    shown.subcommand
                );
                continue;
            }
            assert!(
                exists,
                "the README shows `mptcpize {}`, which `mptcpize --help` does not list \
                 ({known:?}): {}",
                shown.subcommand, shown.line
            );
            let help = helps.entry(shown.subcommand.clone()).or_insert_with(|| {
                if shown.subcommand.is_empty() {
                    help(&[])
                } else {
                    help(&[shown.subcommand.as_str()])
                }
            });
            for flag in &shown.flags {
                assert!(
                    lists_flag(help, flag),
                    "the README gives `mptcpize {}` the flag {flag}, which its --help does \
                     not list: {}",
                    shown.subcommand,
                    shown.line
                );
                checked += 1;
            }
        }
    }
    // The README shows flags (`run -d`, `check --json`, `watch --once`, …): a parser that
    // found none would check nothing.
    assert!(checked >= 10, "only {checked} flags found in the README");
}

/// A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn every_link_of_the_readme_leads_somewhere() {
    let mut fenced = false;
    let mut anchors = Vec::new();
    for line in README.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            anchors.push(anchor(line.trim_start_matches('#')));
        }
    }
    // Anchors of their own: `<a id="install"></a>`.
    for (at, _) in README.match_indices("<a id=\"") {
        let name = README[at + 7..].split('"').next().unwrap();
        anchors.push(name.to_owned());
    }
    assert!(anchors.contains(&"install".to_owned()), "{anchors:?}");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut links = 0;
    for (at, _) in README.match_indices("](") {
        let target = README[at + 2..].split(')').next().unwrap();
        if target.starts_with("http://") || target.starts_with("https://") {
            continue;
        }
        links += 1;
        match target.strip_prefix('#') {
            Some(name) => assert!(
                anchors.iter().any(|a| a == name),
                "the README links to #{name}, which no heading makes ({anchors:?})"
            ),
            None => {
                let path = target.split('#').next().unwrap();
                assert!(
                    root.join(path).exists(),
                    "the README links to {path}, which is not in the repository"
                );
            }
        }
    }
    assert!(links > 5, "only {links} links found");
}

/// The parser of the test above, on lines as the README writes them.
#[test]
fn commands_are_found_as_written() {
    let flags = |line: &str| -> Vec<(String, Vec<String>)> {
        commands_in("", line)
            .into_iter()
            .map(|s| (s.subcommand, s.flags))
            .collect()
    };
    let v = |s: &[&str]| s.iter().map(|f| f.to_string()).collect::<Vec<_>>();
    assert_eq!(
        flags("mptcpize run -d curl -s http://x/  # -d: log"),
        vec![("run".into(), v(&["-d"]))]
    );
    assert_eq!(
        flags("cargo run --release -p mptcpize -- run --report python3 -m http.server"),
        vec![("run".into(), v(&["--report"]))]
    );
    assert_eq!(
        flags("mptcpize check [--connect HOST:PORT]... [--json] && mptcpize watch --once"),
        vec![
            ("check".into(), v(&["--connect", "--json"])),
            ("watch".into(), v(&["--once"]))
        ]
    );
    assert_eq!(
        flags("mptcpize run --refused-options=swap nc -6 -T af41 ::1 80"),
        vec![("run".into(), v(&["--refused-options"]))]
    );
    assert!(flags("cargo bench -p mptcpize --bench shim").is_empty());
    assert!(flags("mptcpize report: pid=1 fd=4").is_empty());
    assert!(commands_in("Why there is no ", "mptcpize monitor")[0].denied);
    assert!(lists_flag("  -d, --debug  Log", "-d"));
    assert!(!lists_flag("  --json-lines", "--json"));
}
