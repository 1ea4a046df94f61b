//! The unit-file syntax parser alone (`systemd.syntax(7)` as systemd's `config_parse` reads
//! it: line ends, comments, continuation lines, sections, `Key=value`) and the quoting of
//! `Environment=` values, on any text. Properties:
//! - nothing panics;
//! - every key and value is trimmed of systemd's whitespace and holds no line end, and no
//!   key is empty or holds a `=`;
//! - parsing is canonical: the assignments written back as a file (`[Section]` headers,
//!   `Key=value` lines) parse to the same assignments;
//! - the `NAME=value` words of each value, quoted with `quote_assignment` and joined by
//!   spaces into one `Environment=` line of a drop-in, read back as the same words (what
//!   `enable` writes is what systemd reads);
//! - the whole input as a value: `quote_assignment` then `environment_words` gives it back,
//!   or nothing exactly when it holds a NUL (which no environment can).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mptcpize::untrusted_input::{environment_words, quote_assignment, unit_file_assignments};

/// What systemd trims around keys and values (`WHITESPACE`).
const WHITESPACE: [char; 4] = [' ', '\t', '\n', '\r'];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = unit_file_assignments(text);
    for (_, key, value) in &parsed {
        assert!(!key.is_empty() && !key.contains('='), "{key:?}");
        for part in [key, value] {
            assert_eq!(part.trim_matches(WHITESPACE), part, "untrimmed");
            assert!(!part.contains(['\n', '\r', '\0']), "{part:?} holds a line end");
        }
    }
    if let Some(file) = written_back(&parsed) {
        assert_eq!(unit_file_assignments(&file), parsed, "{file:?}");
    }
    for (_, _, value) in &parsed {
        let Some(words) = environment_words(value) else {
            continue;
        };
        let assignments: Vec<&String> = words.iter().filter(|w| w.contains('=')).collect();
        let line = assignments
            .iter()
            .filter_map(|w| w.split_once('='))
            .map(|(name, value)| quote_assignment(name, value))
            .collect::<Vec<_>>()
            .join(" ");
        let drop_in = format!("[Service]\nEnvironment={line}\n");
        let read = unit_file_assignments(&drop_in);
        assert_eq!(read.len(), 1, "{drop_in:?}");
        let read_words = environment_words(&read[0].2).expect("our quoting is refused");
        assert_eq!(
            read_words.iter().collect::<Vec<_>>(),
            assignments,
            "{drop_in:?}"
        );
    }
    let quoted = quote_assignment("V", text);
    let expected = (!text.contains('\0')).then(|| vec![format!("V={text}")]);
    assert_eq!(environment_words(&quoted), expected, "{quoted:?}");
});

/// `(section, key, value)` assignments as a unit file, or `None` where a key cannot start a
/// line (`#`, `;`: a comment; `[`: a header), which only a key that followed a byte order
/// mark can. The file starts with a byte order mark, so that systemd's rule of dropping
/// the first one at the start of a line leaves a key that starts with one alone.
fn written_back(assignments: &[(String, String, String)]) -> Option<String> {
    let mut file = String::from('\u{feff}');
    let mut section = None;
    for (name, key, value) in assignments {
        if key.starts_with(['#', ';', '[']) {
            return None;
        }
        if section != Some(name) {
            file.push_str(&format!("[{name}]\n"));
            section = Some(name);
        }
        file.push_str(&format!("{key}={value}"));
        // An odd run of backslashes at the end would continue the line: a space after it
        // stops that, and is trimmed from the value.
        if value.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1 {
            file.push(' ');
        }
        file.push('\n');
    }
    Some(file)
}
