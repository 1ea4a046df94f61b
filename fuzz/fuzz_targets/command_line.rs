//! The command line of every subcommand (`run`, `enable`, `disable`, `check`, `watch`,
//! `generate-assets`), as any user can type it (or a script pass it): the input split at
//! NUL bytes into arguments, not necessarily UTF-8. Properties: parsing never panics (clap's
//! debug assertions included), and where `run`'s fast path accepts a command line, clap
//! reads it the same way.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use libfuzzer_sys::fuzz_target;
use mptcpize::untrusted_input::parse_command_line;

fuzz_target!(|data: &[u8]| {
    let mut argv = vec![OsString::from("mptcpize")];
    if !data.is_empty() {
        argv.extend(
            data.split(|&b| b == 0)
                .map(|a| OsString::from_vec(a.to_vec())),
        );
    }
    let _ = parse_command_line(&argv);
});
