//! Unit files and drop-ins as `mptcpize enable` reads them (a unit's author, or any user who
//! can write a drop-in directory, controls them): `systemd.syntax(7)` sections, comments and
//! continuation lines, then each `Environment=` value split into words with systemd's
//! quoting and C escapes. Properties: nothing panics; every `NAME=value` word found is
//! given back unchanged by `environment_words` after `quote_assignment` (what `enable`
//! writes is what systemd will read); every key is checked as a unit name without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mptcpize::untrusted_input::{
    environment_words, quote_assignment, unit_file_assignments, unit_name,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for (_section, key, value) in unit_file_assignments(text) {
        let _ = unit_name(&key);
        let _ = unit_name(&value);
        let Some(words) = environment_words(&value) else {
            continue;
        };
        for word in words {
            let Some((name, value)) = word.split_once('=') else {
                continue;
            };
            let quoted = quote_assignment(name, value);
            assert_eq!(
                environment_words(&quoted).as_deref(),
                Some(std::slice::from_ref(&word)),
                "{quoted}"
            );
        }
    }
});
