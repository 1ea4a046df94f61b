//! The build information of a Go executable, read by `mptcpize run` from any program it is
//! asked to start (a file its owner controls): ELF headers, sections and segments, the
//! `\xff Go buildinf:` blob in both formats, varints and version strings. Property: nothing
//! panics, however the file is damaged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mptcpize::untrusted_input::GoBuild;

fuzz_target!(|data: &[u8]| {
    if let Some(build) = GoBuild::parse(data) {
        let _ = (build.release(), build.honours_godebug_multipathtcp());
    }
});
