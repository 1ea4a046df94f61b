//! The README's `mptcp-socket` example, copied into a new crate as a user would, builds and
//! prints that the connection is MPTCP with its subflow count.

use std::path::Path;
use std::process::Command;

/// The first ```rust block of the README.
fn readme_example(readme: &str) -> String {
    let start = readme
        .find("```rust\n")
        .expect("README has a ```rust example")
        + 8;
    let len = readme[start..].find("```").expect("closed code block");
    readme[start..start + len].to_string()
}

#[mptcp_tests::needs(mptcp_enabled)]
#[test]
fn readme_example_runs_in_a_new_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = readme_example(&readme);

    let dir = std::env::temp_dir().join(format!("mptcp-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"readme-example\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             [workspace]\n[dependencies]\nmptcp-socket = {{ path = {:?} }}\n",
            root.join("mptcp-socket")
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/main.rs"), example).unwrap();
    // Reuse the workspace's lock file so the build needs no registry access beyond the
    // crates this workspace already fetched.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();

    let out = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--offline"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the README example failed: {}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "MPTCP with 1 subflow(s)");
}
