//! What `mptcpize check` found: findings, the verdict and its exit status, printed for a
//! person or as JSON.

use std::fmt::Write as _;

use serde_json::{json, Value};

/// How a finding bears on the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Works.
    Ok,
    /// Worth knowing; not a problem.
    Info,
    /// Not run (something it needs is missing, and that is reported elsewhere).
    Skip,
    /// MPTCP works, but less than it could (one path only, a fallback, …).
    Warn,
    /// MPTCP does not work.
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Info => "info",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }

    /// As printed in the left column, loud where action is needed.
    fn column(self) -> &'static str {
        match self {
            Status::Ok => "  ok  ",
            Status::Info => " info ",
            Status::Skip => " skip ",
            Status::Warn => " WARN ",
            Status::Fail => " FAIL ",
        }
    }
}

/// One thing `check` found, with the command that fixes it when it is a problem.
#[derive(Debug, Clone)]
pub struct Finding {
    /// Which check: `kernel`, `sysctl`, `path_manager`, `scheduler`, `limits`,
    /// `endpoints`, `self_test`, `connect`.
    pub check: &'static str,
    pub status: Status,
    pub summary: String,
    /// The next command to run when this is a problem: a shell command line, every value in
    /// it quoted ([`command_line`]); where no command can fix it (a kernel without MPTCP),
    /// the next step in words.
    pub fix: Option<String>,
    /// A remark on the fix (how to make it permanent, what a placeholder means).
    pub note: Option<String>,
    /// Machine-readable details for `--json`.
    pub data: Value,
}

impl Finding {
    pub fn new(check: &'static str, status: Status, summary: impl Into<String>) -> Finding {
        Finding {
            check,
            status,
            summary: summary.into(),
            fix: None,
            note: None,
            data: Value::Null,
        }
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = Some(fix.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Finding {
        self.note = Some(note.into());
        self
    }

    pub fn note_opt(mut self, note: Option<&str>) -> Finding {
        self.note = note.map(str::to_string);
        self
    }

    pub fn data(mut self, data: Value) -> Finding {
        self.data = data;
        self
    }
}

/// `words` as one shell command line, each quoted where the shell would otherwise read it
/// differently (`shlex::try_quote`, POSIX rules): a value that came from the user or the
/// system (a `--connect` host, an interface name, which may hold `;` or `$`) stays one
/// word and runs nothing. A NUL, which no argument can hold, is dropped.
pub fn command_line<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    let words: Vec<String> = words.into_iter().map(|w| w.replace('\0', "")).collect();
    shlex::try_join(words.iter().map(String::as_str)).expect("no NUL left to refuse")
}

/// The overall answer, from the worst finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// MPTCP works here, on every path configured.
    Works,
    /// MPTCP works, but with a limit worth fixing (one path only, a fallback, …).
    Limited,
    /// MPTCP does not work here.
    Broken,
}

impl Verdict {
    pub fn of(findings: &[Finding]) -> Verdict {
        match findings.iter().map(|f| f.status).max() {
            Some(Status::Fail) => Verdict::Broken,
            Some(Status::Warn) => Verdict::Limited,
            _ => Verdict::Works,
        }
    }

    /// 0 works, 1 limited, 2 broken (125 stays the launcher's own error, as for `run`).
    pub fn exit_status(self) -> i32 {
        match self {
            Verdict::Works => 0,
            Verdict::Limited => 1,
            Verdict::Broken => 2,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Verdict::Works => "works",
            Verdict::Limited => "limited",
            Verdict::Broken => "broken",
        }
    }
}

/// Everything `mptcpize check` found, in the order checked.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub context: Vec<(&'static str, String)>,
    pub findings: Vec<Finding>,
}

impl CheckReport {
    pub fn push(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    pub fn verdict(&self) -> Verdict {
        Verdict::of(&self.findings)
    }

    /// The report for a person: one line per finding, its fix under it, the verdict last.
    /// What comes from the kernel or another program (interface names, addresses, a
    /// server's greeting) goes through `escape_controls`: the terminal shows it, never obeys
    /// it.
    pub fn human(&self) -> String {
        use crate::terminal_text::escape_controls as shown;
        let mut out = String::new();
        let context: Vec<String> = self
            .context
            .iter()
            .map(|(k, v)| format!("{k} {}", shown(&v.to_string())))
            .collect();
        let _ = writeln!(out, "MPTCP check ({})", context.join(", "));
        for f in &self.findings {
            let summary = shown(&f.summary);
            let _ = writeln!(out, "{} {}: {summary}", f.status.column(), f.check);
            if let Some(fix) = &f.fix {
                let _ = writeln!(out, "       fix: {}", shown(fix));
                if let Some(note) = &f.note {
                    let _ = writeln!(out, "            ({})", shown(note));
                }
            }
        }
        let checks = |s: Status| {
            let mut names: Vec<&str> = Vec::new();
            for f in self.findings.iter().filter(|f| f.status == s) {
                if !names.contains(&f.check) {
                    names.push(f.check);
                }
            }
            names.join(", ")
        };
        let verdict = self.verdict();
        let sentence = match verdict {
            Verdict::Works => "works: MPTCP works here".to_string(),
            Verdict::Limited => format!(
                "limited: MPTCP works, but less than it could; fix: {}",
                checks(Status::Warn)
            ),
            Verdict::Broken => {
                let mut s = format!(
                    "broken: MPTCP does not work (here, or on the connection tested); fix: {}",
                    checks(Status::Fail)
                );
                let warns = checks(Status::Warn);
                if !warns.is_empty() {
                    s.push_str(&format!("; then: {warns}"));
                }
                s
            }
        };
        let _ = writeln!(
            out,
            "Verdict: {sentence} (exit status {}).",
            verdict.exit_status()
        );
        out
    }

    /// The report for scripts.
    pub fn json(&self) -> Value {
        let verdict = self.verdict();
        let context: serde_json::Map<String, Value> = self
            .context
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(v.as_str())))
            .collect();
        json!({
            "verdict": verdict.name(),
            "exit_status": verdict.exit_status(),
            "context": context,
            "findings": self.findings.iter().map(|f| json!({
                "check": f.check,
                "status": f.status.label(),
                "summary": f.summary,
                "fix": f.fix,
                "note": f.note,
                "data": f.data,
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_outside_is_escaped_for_the_terminal() {
        let hostile = "eth\u{1b}]0;PWN\u{7}0";
        let report = CheckReport {
            context: vec![("kernel", hostile.into())],
            findings: vec![Finding::new("endpoints", Status::Warn, hostile).fix(hostile)],
        };
        let human = report.human();
        assert!(
            !human.contains('\u{1b}') && !human.contains('\u{7}'),
            "{human:?}"
        );
        assert!(human.contains("eth\\x1b]0;PWN\\x070"), "{human}");
    }

    #[test]
    fn verdict_is_the_worst_finding() {
        let ok = Finding::new("kernel", Status::Ok, "fine");
        let info = Finding::new("scheduler", Status::Info, "note");
        let warn = Finding::new("endpoints", Status::Warn, "none").fix("ip mptcp endpoint add …");
        let fail = Finding::new("sysctl", Status::Fail, "disabled").fix("sysctl -w …");
        assert_eq!(Verdict::of(&[ok.clone(), info.clone()]), Verdict::Works);
        assert_eq!(Verdict::of(&[ok.clone(), warn.clone()]), Verdict::Limited);
        assert_eq!(
            Verdict::of(&[warn.clone(), fail.clone(), ok.clone()]),
            Verdict::Broken
        );

        let report = CheckReport {
            context: vec![("kernel", "6.18".into())],
            findings: vec![ok, warn, fail],
        };
        let human = report.human();
        assert!(
            human.contains(" FAIL  sysctl: disabled\n       fix: sysctl -w …\n"),
            "{human}"
        );
        assert!(
            human.ends_with(
                "Verdict: broken: MPTCP does not work (here, or on the connection tested); fix: sysctl; then: endpoints (exit status 2).\n"
            ),
            "{human}"
        );
        let json = report.json();
        assert_eq!(json["verdict"], "broken");
        assert_eq!(json["exit_status"], 2);
        assert_eq!(json["findings"][1]["fix"], "ip mptcp endpoint add …");
        assert_eq!(json["findings"][0]["fix"], Value::Null);
    }

    #[test]
    fn command_lines_quote_what_the_shell_would_read() {
        assert_eq!(
            command_line(["ip", "link", "set", "eth0", "up"]),
            "ip link set eth0 up"
        );
        let evil = "x;touch${IFS}/tmp/f;#";
        let line = command_line(["getent", "ahosts", evil]);
        assert_eq!(line, "getent ahosts 'x;touch${IFS}/tmp/f;#'");
        assert_eq!(
            shlex::split(&line).unwrap(),
            ["getent", "ahosts", evil],
            "one word, as given"
        );
        assert_eq!(
            command_line(["nc", "-vz", "::1", "8001"]),
            "nc -vz ::1 8001"
        );
        assert_eq!(command_line(["a'b", ""]), r#""a'b" ''"#);
        assert_eq!(command_line(["a\0b"]), "ab");
    }
}
