//! Unit-file syntax as `enable` reads it: `systemd.syntax(7)` as systemd's `config_parse`
//! applies it (line ends, `#`/`;` comments, backslash continuation lines, sections,
//! `Key=value` with systemd's whitespace trimmed) and the words of an `Environment=` value
//! (`systemd.exec(5)`: quotes and C escapes), with the quoting that writes a value back so
//! that systemd reads it unchanged.

use std::fmt::Write as _;

/// What `strstrip` removes around a line, a key and a value (`WHITESPACE` in systemd): not
/// every Unicode space, as `str::trim` would.
const WHITESPACE: [char; 4] = [' ', '\t', '\n', '\r'];
/// The characters that start a comment line (`COMMENTS`).
const COMMENTS: [char; 2] = ['#', ';'];
/// A UTF-8 byte order mark, which systemd drops once, where it first starts a line.
const BYTE_ORDER_MARK: char = '\u{feff}';

/// One `Key=value` of a unit file, with its section, continuation lines joined.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Assignment {
    /// The name between the brackets of the last valid `[Section]` header; empty before the
    /// first one (systemd ignores such assignments; callers look at named sections only).
    pub(crate) section: String,
    /// The key, whitespace around it removed.
    pub(crate) key: String,
    /// Everything after the first `=`, whitespace around it removed; empty for an empty
    /// assignment (which resets a list setting).
    pub(crate) value: String,
}

/// The assignments of a unit file, read as systemd's `config_parse` reads one
/// (`systemd.syntax(7)`):
/// - lines end at `\n`, `\r`, a `\r\n` or `\n\r` pair, or a NUL (`read_line`);
/// - a line whose first non-blank character is `#` or `;` is a comment, also between
///   continued lines (there is no comment after a value: `A=1 # x` is the value `1 # x`);
/// - a line ending in an odd number of backslashes continues on the next one, the last
///   backslash replaced by a space (`\\` at the end is an escaped backslash, not a
///   continuation);
/// - `[Section]` starts a section; a header without the closing `]` or with quotes, `\` or
///   control characters makes systemd refuse the whole file, and is skipped here;
/// - `Key=value` splits at the first `=`, with spaces, tabs, CR and LF removed around both;
///   a line without `=` or without a key is ignored.
pub(crate) fn assignments(text: &str) -> Vec<Assignment> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut continuation: Option<String> = None;
    let mut byte_order_mark_seen = false;
    for line in physical_lines(text) {
        if line.trim_start_matches(WHITESPACE).starts_with(COMMENTS) {
            continue;
        }
        let mut line = line;
        if !byte_order_mark_seen {
            if let Some(rest) = line.strip_prefix(BYTE_ORDER_MARK) {
                line = rest;
                byte_order_mark_seen = true;
            }
        }
        let mut logical = match continuation.take() {
            Some(mut joined) => {
                joined.push_str(line);
                joined
            }
            None => line.to_owned(),
        };
        if ends_in_escape(&logical) {
            logical.pop();
            logical.push(' ');
            continuation = Some(logical);
            continue;
        }
        parse_line(&mut out, &mut section, &logical);
    }
    if let Some(joined) = continuation {
        parse_line(&mut out, &mut section, &joined);
    }
    out
}

/// The lines of `text` as systemd's `read_line` cuts them: a line ends at a run of line
/// ends in which no kind (`\n`, `\r`, NUL) repeats and nothing follows a NUL. No empty line
/// after a final line end.
fn physical_lines(text: &str) -> Vec<&str> {
    const LF: u8 = 1;
    const CR: u8 = 2;
    const NUL: u8 = 4;
    let kind = |b: u8| match b {
        b'\n' => LF,
        b'\r' => CR,
        0 => NUL,
        _ => 0,
    };
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let (mut start, mut at) = (0, 0);
    while at < bytes.len() {
        if kind(bytes[at]) == 0 {
            at += 1;
            continue;
        }
        // Cut at an ASCII byte: a character boundary.
        lines.push(&text[start..at]);
        let mut seen = 0;
        while at < bytes.len() {
            let k = kind(bytes[at]);
            if k == 0 || seen & (k | NUL) != 0 {
                break;
            }
            seen |= k;
            at += 1;
        }
        start = at;
    }
    if start < bytes.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// Whether `line` ends in a backslash that is not itself escaped: an odd run of them.
fn ends_in_escape(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// One logical line (`parse_line`): a section header, an assignment or nothing.
fn parse_line(out: &mut Vec<Assignment>, section: &mut String, line: &str) {
    let line = line.trim_matches(WHITESPACE);
    if line.is_empty() {
        return;
    }
    if let Some(header) = line.strip_prefix('[') {
        if let Some(name) = header.strip_suffix(']').filter(|n| section_name_is_safe(n)) {
            *section = name.to_owned();
        }
        return;
    }
    let Some((key, value)) = line.split_once('=') else {
        return;
    };
    if key.is_empty() {
        return;
    }
    out.push(Assignment {
        section: section.clone(),
        key: key.trim_matches(WHITESPACE).to_owned(),
        value: value.trim_matches(WHITESPACE).to_owned(),
    });
}

/// A section name systemd accepts (`string_is_safe`): no ASCII control character, quote or
/// backslash.
fn section_name_is_safe(name: &str) -> bool {
    !name
        .chars()
        .any(|c| c.is_ascii_control() || matches!(c, '"' | '\'' | '\\'))
}

/// Splits an `Environment=` value into words as systemd does (`extract_first_word` with
/// unquoting and C unescaping): whitespace separates, `"…"` and `'…'` quote (also within a
/// word), `\` escapes (`\n`, `\t`, `\"`, `\\`, `\xHH`, `\NNN`, `\uXXXX`, …). `None` for a
/// value systemd refuses as a whole (an open quote, a trailing or unknown escape).
/// Specifiers (`%n`, `%%`) are left as they are: written back unchanged, systemd expands
/// them the same way.
pub fn environment_words(value: &str) -> Option<Vec<String>> {
    // An environment string is a C string: systemd cannot hold a NUL in one (found by the
    // `systemd_unit_file` fuzz target: a NUL read from the file went into the word).
    if value.contains('\0') {
        return None;
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', _) => {
                word.push(unescape(&mut chars)?);
                in_word = true;
            }
            (q, Some(open)) if q == open => quote = None,
            (c, Some(_)) => word.push(c),
            ('"' | '\'', None) => {
                quote = Some(c);
                in_word = true;
            }
            (c, None) if WHITESPACE.contains(&c) => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (c, None) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return None;
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

/// One C escape after a backslash (`cunescape_one`).
fn unescape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<char> {
    let c = chars.next()?;
    let digits = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize, radix: u32| {
        let mut v = 0u32;
        for _ in 0..n {
            v = v * radix + chars.next()?.to_digit(radix)?;
        }
        Some(v)
    };
    Some(match c {
        'a' => '\x07',
        'b' => '\x08',
        'f' => '\x0c',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0b',
        's' => ' ',
        '\\' | '"' | '\'' => c,
        // `\xHH` and `\NNN` are one raw byte in systemd (`eight_bit`), not a code point: a
        // byte above 0x7f would make the value other text than ours (not even UTF-8), so
        // the value is refused as one this parser cannot represent.
        'x' => ascii_byte(digits(chars, 2, 16)?)?,
        'u' => char::from_u32(digits(chars, 4, 16)?).filter(|&c| c != '\0')?,
        'U' => char::from_u32(digits(chars, 8, 16)?).filter(|&c| c != '\0')?,
        '0'..='7' => {
            let rest = digits(chars, 2, 8)?;
            ascii_byte(c.to_digit(8)? * 64 + rest)?
        }
        _ => return None,
    })
}

/// The character of an escaped byte that is ASCII and not NUL (systemd refuses NUL).
fn ascii_byte(byte: u32) -> Option<char> {
    (1..0x80).contains(&byte).then(|| char::from(byte as u8))
}

/// A variable name systemd accepts in `Environment=` (`env_name_is_valid`).
pub(super) fn env_name_is_valid(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `NAME=value` quoted for `Environment=` so that [`environment_words`] gives it back:
/// double quotes, `\` and `"` escaped, control characters as C escapes. `%` is left alone
/// (see `escape_specifiers` for text that must not be expanded).
pub fn quote_assignment(name: &str, value: &str) -> String {
    let mut out = String::from("\"");
    for c in name
        .chars()
        .chain(std::iter::once('='))
        .chain(value.chars())
    {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            // `\xHH` is a raw byte to systemd (`cunescape_one`): only for ASCII. The C1
            // controls (U+0080 to U+009F) as code points, `\uHHHH`.
            c if c.is_control() && c.is_ascii() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `%` doubled: systemd expands specifiers in `Environment=` (`%%` is a `%`).
pub(super) fn escape_specifiers(text: &str) -> String {
    text.replace('%', "%%")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (section, key, value) of each assignment, for comparing with a table.
    fn triples(text: &str) -> Vec<(String, String, String)> {
        assignments(text)
            .into_iter()
            .map(|a| (a.section, a.key, a.value))
            .collect()
    }

    #[test]
    fn unit_file_syntax() {
        /// (the rule of systemd.syntax(7) or conf-parser.c, file text, the assignments'
        /// (section, key, value))
        type Case = (
            &'static str,
            &'static str,
            &'static [(&'static str, &'static str, &'static str)],
        );
        let cases: &[Case] = &[
            ("# starts a comment", "[S]\n# A=1\nB=2", &[("S", "B", "2")]),
            ("; starts a comment", "[S]\n; A=1\n", &[]),
            ("a comment may be indented", "[S]\n \t# A=1\n", &[]),
            (
                "no comment after a value",
                "[S]\nA=1 # x",
                &[("S", "A", "1 # x")],
            ),
            (
                "a backslash continues the line, replaced by a space",
                "[S]\nA=1 \\\n 2",
                &[("S", "A", "1   2")],
            ),
            (
                "comment lines inside a continued line are skipped",
                "[S]\nA=1\\\n# c\n ; d\n2",
                &[("S", "A", "1 2")],
            ),
            (
                "a continuation at the end of the file",
                "[S]\nA=1\\",
                &[("S", "A", "1")],
            ),
            (
                "an escaped backslash does not continue",
                "[S]\nA=1\\\\\nB=2",
                &[("S", "A", "1\\\\"), ("S", "B", "2")],
            ),
            (
                "three backslashes continue",
                "[S]\nA=1\\\\\\\nB=2",
                &[("S", "A", "1\\\\ B=2")],
            ),
            (
                "a comment ending in a backslash does not continue",
                "[S]\n# x\\\nA=1",
                &[("S", "A", "1")],
            ),
            (
                "a header starts a section",
                "A=0\n[One]\nA=1\n  [Two]  \nA=2",
                &[("", "A", "0"), ("One", "A", "1"), ("Two", "A", "2")],
            ),
            ("an empty section name", "[]\nA=1", &[("", "A", "1")]),
            (
                "a bad header is skipped (systemd refuses the file)",
                "[S]\n[T\nA=1\n[U\"]\nB=2\n[V\\\\]\nC=3\n[\x01]\nD=4",
                &[
                    ("S", "A", "1"),
                    ("S", "B", "2"),
                    ("S", "C", "3"),
                    ("S", "D", "4"),
                ],
            ),
            (
                "spaces, tabs and CR around key and value are removed",
                "[S]\n \tA \t= \t1  2 \t\r\n",
                &[("S", "A", "1  2")],
            ),
            (
                "other Unicode spaces are kept",
                "[S]\nA=\u{a0}1\u{2003}",
                &[("S", "A", "\u{a0}1\u{2003}")],
            ),
            ("the first = splits", "[S]\nA=B=C", &[("S", "A", "B=C")]),
            (
                "an empty assignment has an empty value",
                "[S]\nA=\nB=  ",
                &[("S", "A", ""), ("S", "B", "")],
            ),
            (
                "a line without = or without a key is ignored",
                "[S]\nA\n=1\n",
                &[],
            ),
            (
                "CR LF ends a line",
                "[S]\r\nA=1\\\r\nB=2\r\n",
                &[("S", "A", "1 B=2")],
            ),
            (
                "LF CR is one line end too",
                "[S]\nA=1\\\n\rB=2",
                &[("S", "A", "1 B=2")],
            ),
            (
                "CR alone ends a line",
                "[S]\rA=1\rB=2",
                &[("S", "A", "1"), ("S", "B", "2")],
            ),
            (
                "NUL ends a line, and a second one another",
                "[S]\0A=1\\\0\0B=2",
                &[("S", "A", "1"), ("S", "B", "2")],
            ),
            (
                "a byte order mark is dropped once",
                "\u{feff}[S]\n\u{feff}A=1",
                &[("S", "\u{feff}A", "1")],
            ),
        ];
        for (rule, text, expected) in cases {
            let expected: Vec<_> = expected
                .iter()
                .map(|&(s, k, v)| (s.to_owned(), k.to_owned(), v.to_owned()))
                .collect();
            assert_eq!(triples(text), expected, "{rule}: {text:?}");
        }
    }

    #[test]
    fn environment_words_as_systemd_splits_them() {
        // (value, words, or None where systemd refuses the whole value)
        let cases: &[(&str, Option<&[&str]>)] = &[
            ("", Some(&[])),
            ("  A=1 \t B=2\nC=3  ", Some(&["A=1", "B=2", "C=3"])),
            (
                r#"A=1 "LD_PRELOAD=/lib/x.so /lib/y.so" 'B=2 3'"#,
                Some(&["A=1", "LD_PRELOAD=/lib/x.so /lib/y.so", "B=2 3"]),
            ),
            (r#""GODEBUG=x=\"y z\"""#, Some(&[r#"GODEBUG=x="y z""#])),
            (r#"A="b c"d'e f'"#, Some(&["A=b cde f"])),
            (
                r#"A="it's" B='say "hi"'"#,
                Some(&["A=it's", r#"B=say "hi""#]),
            ),
            (r"A=%n%%", Some(&["A=%n%%"])),
            (r#""A=1"#, None),
            ("'A=1", None),
            (r"A=1\", None),
            (r"A=\q", None),
            ("A=\0", None),
        ];
        for (value, words) in cases {
            let expected = words.map(|w| w.iter().map(|w| w.to_string()).collect::<Vec<_>>());
            assert_eq!(environment_words(value), expected, "{value:?}");
        }
    }

    #[test]
    fn c_escapes() {
        // systemd's `cunescape_one`: `\xHH` and `\NNN` are raw bytes (ASCII ones only here:
        // others would not be the text we read), `\u`/`\U` code points, NUL refused.
        let cases: &[(&str, Option<char>)] = &[
            (r"\a", Some('\x07')),
            (r"\b", Some('\x08')),
            (r"\f", Some('\x0c')),
            (r"\n", Some('\n')),
            (r"\r", Some('\r')),
            (r"\t", Some('\t')),
            (r"\v", Some('\x0b')),
            (r"\s", Some(' ')),
            (r"\\", Some('\\')),
            (r#"\""#, Some('"')),
            (r"\'", Some('\'')),
            (r"\x41", Some('A')),
            (r"\101", Some('A')),
            (r"\u00e9", Some('\u{e9}')),
            (r"\U0001f600", Some('\u{1f600}')),
            (r"\x4", None),
            (r"\xc3", None),
            (r"\303", None),
            (r"\000", None),
            (r"\x00", None),
            (r"\u0000", None),
            (r"\ud800", None),
            (r"\q", None),
        ];
        for (escape, c) in cases {
            let expected = c.map(|c| vec![format!("A={c}")]);
            assert_eq!(
                environment_words(&format!("A={escape}")),
                expected,
                "{escape}"
            );
        }
    }

    #[test]
    fn quoting_round_trips() {
        // Including C1 controls (written as `\u`, since systemd reads `\x85` as a byte) and
        // what the `systemd_unit_file` fuzz target found.
        for value in [
            "",
            "plain",
            "a b",
            r#"x="y z""#,
            r"back\slash",
            "tab\there",
            "line\nbreak",
            "it's",
            "100%",
            "\u{e9}",
            "\u{85}",
            "a\u{9f}b",
            "\u{7f}\r",
        ] {
            let quoted = quote_assignment("V", value);
            assert_eq!(
                environment_words(&quoted),
                Some(vec![format!("V={value}")]),
                "{quoted}"
            );
            let line = format!("[Service]\nEnvironment={quoted}\n");
            assert_eq!(
                triples(&line),
                [("Service".into(), "Environment".into(), quoted.clone())],
                "{line:?}"
            );
        }
    }
}
