//! Text that another process, another user or the kernel chose, made safe to show on a
//! terminal.
//!
//! Any user can name a process with `prctl(PR_SET_NAME, "\x1b[2J\x1b]0;PWN\x07X")`, name an
//! interface in a namespace of their own, or write a unit file name; printed raw on root's
//! terminal, such a string clears the screen, sets the window title, or (with some
//! terminals) answers queries into the input. Every such string the launcher shows, in a
//! table, the live view or a message, goes through [`escape_controls`] (or its `Display`
//! form [`Escaped`]), the one place that decides what is escaped. `--json` output needs
//! nothing more: JSON escapes control characters itself, and keeps the exact bytes.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// `text` with every character that can control a terminal or reorder what it shows
/// written as an escape: C0 and C1 control characters and DEL as `\xNN` (`\x1b`, `\x07`,
/// `\x9b`), the bidirectional-text controls and the line/paragraph separators as
/// `\u{NNNN}`. Everything else, including non-ASCII letters, is kept.
///
/// A backslash is kept as it is: systemd's own escapes in unit names (`\x2d`) then read as
/// `systemctl` shows them. The escaped form is for a person; `--json` carries the exact
/// string.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

/// [`escape_controls`] as a `Display`: `format!("{}", Escaped(comm))`, without an
/// intermediate `String` when nothing needs escaping.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape_controls(self.0))
    }
}

/// Whether `c` is written as an escape.
fn needs_escape(c: char) -> bool {
    // Cc: U+0000–U+001F, U+007F, U+0080–U+009F (C1 includes CSI, U+009B, which some
    // terminals honour as ESC [).
    c.is_control()
        // Bidirectional overrides, embeddings and isolates, and the marks: they reorder
        // the rest of the line ("Trojan Source", CVE-2021-42574).
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        // Line and paragraph separators: a line break in the middle of a table row.
        || matches!(c, '\u{2028}' | '\u{2029}')
}

fn push_escaped(out: &mut String, c: char) {
    if !needs_escape(c) {
        out.push(c);
    } else if (c as u32) < 0x100 {
        let _ = write!(out, "\\x{:02x}", c as u32);
    } else {
        let _ = write!(out, "\\u{{{:04x}}}", c as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_process_name_is_shown_inert() {
        let comm = "\x1b[2J\x1b]0;PWN\x07X";
        let shown = escape_controls(comm);
        assert_eq!(shown, r"\x1b[2J\x1b]0;PWN\x07X");
        assert!(!shown.chars().any(|c| c.is_control()));
        assert_eq!(Escaped(comm).to_string(), shown);
    }

    #[test]
    fn every_control_character_is_escaped() {
        for c in (0u32..0x100)
            .filter_map(char::from_u32)
            .filter(|c| c.is_control())
        {
            let shown = escape_controls(&c.to_string()).into_owned();
            assert_eq!(shown, format!("\\x{:02x}", c as u32));
            assert_eq!(Escaped(&c.to_string()).to_string(), shown);
        }
    }

    #[test]
    fn bidirectional_controls_and_separators_are_escaped() {
        assert_eq!(escape_controls("a\u{202e}b"), r"a\u{202e}b");
        assert_eq!(escape_controls("\u{2066}x\u{2069}"), r"\u{2066}x\u{2069}");
        assert_eq!(escape_controls("a\u{2028}b"), r"a\u{2028}b");
        assert_eq!(Escaped("a\u{200f}").to_string(), r"a\u{200f}");
    }

    #[test]
    fn ordinary_text_is_kept_as_it_is() {
        for text in [
            "python3",
            "nginx.service",
            "é€→",
            r"dev-disk-by\x2duuid",
            "",
        ] {
            assert!(matches!(escape_controls(text), Cow::Borrowed(t) if t == text));
            assert_eq!(Escaped(text).to_string(), text);
        }
    }
}
