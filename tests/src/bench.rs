//! What the lab's benchmarks (`tests/benches/`, `harness = false`) share: the sections the
//! command line asks for, the root check, and the machine facts a table's heading names.

/// The sections `cargo bench … -- NAME…` asks for: [`Sections::wanted`] is true for a
/// section whose name contains one of the words (every section when there is none). Cargo's
/// own flags (`--bench`) are not words.
pub struct Sections(Vec<String>);

impl Sections {
    /// The words of this process's command line.
    pub fn from_args() -> Sections {
        Sections(
            std::env::args()
                .skip(1)
                .filter(|a| !a.starts_with("--"))
                .collect(),
        )
    }

    /// Whether section `name` runs.
    pub fn wanted(&self, name: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|word| name.contains(word.as_str()))
    }
}

/// Ends the benchmark with a message unless it runs as root: network namespaces (`ip netns
/// add`), qdiscs and sysctls need it.
pub fn require_root(benchmarks: &str) {
    // SAFETY: geteuid(2) takes nothing and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("the {benchmarks} benchmarks need root (network namespaces)");
        std::process::exit(1);
    }
}

/// A `/proc` file's contents without the trailing newline (`/proc/sys/kernel/osrelease`,
/// a sysctl), or an empty string when it cannot be read.
pub fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .to_string()
}
