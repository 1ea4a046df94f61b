//! Root runs `mptcpize run` with `HOME` (and `XDG_CACHE_HOME`) in another user's directory,
//! as `sudo` keeping `HOME` does, while that user swaps directories in a loop with
//! `renameat2(RENAME_EXCHANGE)`: the other user's library is never loaded, nothing is
//! created inside that user's directories, a `/tmp/mptcpize-0` made by that user first
//! gives a message and a working run, and a same-size different copy in root's own cache is
//! replaced. Runs in a private mount namespace with its own `/tmp` and read-only
//! `/var/cache` and `/run`, so that root's first choices are unavailable and the launcher
//! goes through every other location; the attacker runs as uid 65534 (`setpriv`).
//! Programs: `cache-race/attacker.c`, `cache-race/fake_library.c`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{mptcpize, output_within};

const SOURCES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cache-race");
const ATTACKER_UID: u32 = 65534;
/// Where the test's directory is made: outside `/tmp` (see the test).
const TEST_PARENT: &str = "/var/tmp";
/// Launcher runs per phase (each with and without `XDG_CACHE_HOME` in phase 1).
const RUNS: u32 = 300;

/// The script run as root in the new mount namespace; `$T` is the test's directory,
/// `$H` the attacker's home inside it.
const SCRIPT: &str = r#"
set -eu
as_attacker() { setpriv --reuid="$ATTACKER_UID" --regid="$ATTACKER_UID" --clear-groups "$@"; }
fake_tree() { as_attacker mkdir -p "$1/$HASH" && as_attacker cp "$FAKE" "$1/$HASH/libmptcpize_preload.so"; }
wait_started() { for _ in $(seq 500); do grep -q started "$1" && return 0; sleep 0.01; done; echo "attacker did not start" >&2; exit 1; }
victim_runs() {
    i=0
    while [ "$i" -lt "$RUNS" ]; do
        HOME="$H" "$MPTCPIZE" run true 2>>"$T/victim-$1.err"
        [ "$1" = taken ] || XDG_CACHE_HOME="$H/.cache" HOME="$H" "$MPTCPIZE" run true 2>>"$T/victim-$1.err"
        i=$((i + 1))
    done
    HOME="$H" "$MPTCPIZE" run printenv LD_PRELOAD >"$T/preload-$1.txt" 2>>"$T/victim-$1.err"
}
# Phase $1: the attacker swapping directories (its library in /tmp/evil too) while the
# victim runs. The attacker is started directly in the background (not through
# as_attacker), so that $! is its pid and SIGTERM reaches it.
race() {
    fake_tree /tmp/evil
    setpriv --reuid="$ATTACKER_UID" --regid="$ATTACKER_UID" --clear-groups \
        "$ATTACKER" "$H/.cache" "$H/evil" /tmp/mptcpize-0 /tmp/evil >"$T/attacker-$1.out" &
    attacker=$!
    wait_started "$T/attacker-$1.out"
    victim_runs "$1"
    kill -TERM "$attacker"; wait "$attacker"
}

mount -t tmpfs -o ro,mode=755 tmpfs /var/cache
mount -t tmpfs -o ro,mode=755 tmpfs /run

# The attacker's home: an empty cache directory for root to fill, and a tree holding the
# attacker's library to swap in for it once root has checked what it made.
as_attacker mkdir -p "$H/.cache"
fake_tree "$H/evil/mptcpize"

# Phase 1: /tmp/mptcpize-0 made by root (the first run, before the attacker starts).
mount -t tmpfs -o mode=1777 tmpfs /tmp
HOME="$H" "$MPTCPIZE" run true
race own
# Same size, other bytes, in root's own cache: replaced, not loaded.
cached="/tmp/mptcpize-0/$HASH/libmptcpize_preload.so"
size=$(stat -c %s "$cached")
cp "$FAKE" "$cached"; truncate -s "$size" "$cached"
HOME="$H" "$MPTCPIZE" run true
cmp -s "$FAKE" "$cached" && { echo "same-size copy kept" >&2; exit 1; }
[ "$(stat -c %s "$cached")" = "$size" ]
umount /tmp

# Phase 2: /tmp/mptcpize-0 made by the attacker first, holding its library.
mount -t tmpfs -o mode=1777 tmpfs /tmp
fake_tree /tmp/mptcpize-0
race taken
ls -d /tmp/mptcpize-0.* >"$T/private-dirs.txt"
"#;

fn gcc(args: &[&str], what: &str) {
    let out = Command::new("gcc").args(args).output().expect("gcc");
    assert!(
        out.status.success(),
        "gcc {what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The hash directory the launcher writes its embedded shim to.
fn embedded_hash() -> String {
    let out = Command::new(mptcpize())
        .args(["run", "printenv", "LD_PRELOAD"])
        .env_remove("LD_PRELOAD")
        .env_remove("MPTCPIZE_PRELOAD")
        .output()
        .unwrap();
    let preload = String::from_utf8(out.stdout).unwrap();
    let path = Path::new(preload.trim());
    path.parent()
        .and_then(Path::file_name)
        .and_then(|h| h.to_str())
        .filter(|h| h.len() == 16)
        .unwrap_or_else(|| panic!("no hash directory in LD_PRELOAD={preload}"))
        .to_owned()
}

/// Every entry below `dir` (and `dir`) belongs to `uid`: root created nothing there.
fn assert_all_owned_by(dir: &Path, uid: u32) {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(dir).unwrap();
    assert_eq!(
        meta.uid(),
        uid,
        "{} belongs to uid {}",
        dir.display(),
        meta.uid()
    );
    if meta.is_dir() {
        for entry in std::fs::read_dir(dir).unwrap() {
            assert_all_owned_by(&entry.unwrap().path(), uid);
        }
    }
}

#[mptcp_tests::needs(privileged, "gcc", "setpriv", "unshare")]
#[test]
fn another_users_library_is_never_loaded() {
    // `privileged` stands for root here: a mount namespace, and an attacker running as
    // uid 65534.
    // Outside /tmp, which the namespace replaces (a checkout under /tmp has its target
    // directory there), and not in the target directory either (it may be under a home
    // directory the attacker cannot enter): in /var/tmp, root's and sticky, so the
    // attacker can neither rename nor enter-and-change anything above its home.
    let t = Path::new(TEST_PARENT).join(format!("mptcpize-cache-race-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&t);
    std::fs::create_dir(&t).unwrap_or_else(|e| {
        panic!(
            "cannot make {}: {e} ({TEST_PARENT} is the FHS's directory for it)",
            t.display()
        )
    });
    let _cleanup = RemoveOnDrop(t.clone());
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // The launcher runs from a copy of its own there: the build's copy may be under the
    // /tmp the namespace hides. (The copy carries the same embedded libraries.)
    let launcher = t.join("mptcpize");
    std::fs::copy(mptcpize(), &launcher).unwrap();
    let home = t.join("home");
    std::fs::create_dir(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(ATTACKER_UID), Some(ATTACKER_UID)).unwrap();
    let marker = t.join("marker");
    let attacker = t.join("attacker");
    let fake = t.join("fake.so");
    gcc(
        &[
            "-O2",
            "-Wall",
            "-Werror",
            "-o",
            attacker.to_str().unwrap(),
            &format!("{SOURCES}/attacker.c"),
        ],
        "attacker.c",
    );
    gcc(
        &[
            "-O2",
            "-shared",
            "-fPIC",
            &format!("-DMARKER=\"{}\"", marker.display()),
            "-o",
            fake.to_str().unwrap(),
            &format!("{SOURCES}/fake_library.c"),
        ],
        "fake_library.c",
    );
    // The fake library is loadable, and leaves its marker: the check below can fail.
    let probe = Command::new("true")
        .env("LD_PRELOAD", &fake)
        .status()
        .unwrap();
    assert!(
        probe.success() && marker.exists(),
        "the fake library leaves no marker"
    );
    std::fs::remove_file(&marker).unwrap();

    let out = output_within(
        Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", SCRIPT])
            .env("MPTCPIZE", &launcher)
            .env("T", &t)
            .env("H", &home)
            .env("ATTACKER", &attacker)
            .env("ATTACKER_UID", ATTACKER_UID.to_string())
            .env("FAKE", &fake)
            .env("HASH", embedded_hash())
            .env("RUNS", RUNS.to_string())
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("MPTCPIZE_PRELOAD")
            .env_remove("LD_PRELOAD"),
        Duration::from_secs(600),
        "the cache race",
    );
    let read = |name: &str| std::fs::read_to_string(t.join(name)).unwrap_or_default();
    assert!(
        out.status.success(),
        "the race script failed ({}):\nstdout: {}\nstderr: {}\nvictim (own): {}\nvictim (taken): {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        read("victim-own.err"),
        read("victim-taken.err"),
    );
    assert!(
        !marker.exists(),
        "root loaded the other user's library:\n{}",
        read("marker")
    );
    // The attacker really swapped its directories during the runs.
    for phase in ["own", "taken"] {
        let report = read(&format!("attacker-{phase}.out"));
        let exchanged: u64 = report
            .split_whitespace()
            .skip_while(|w| *w != "exchanged")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(
            exchanged > 0,
            "phase {phase}: the attacker swapped nothing: {report}"
        );
    }
    assert_all_owned_by(&home, ATTACKER_UID);

    // Phase 1: root's own /tmp/mptcpize-0, no message.
    assert!(
        read("preload-own.txt").starts_with("/tmp/mptcpize-0/"),
        "{}",
        read("preload-own.txt")
    );
    assert_eq!(read("victim-own.err"), "", "messages where none was due");
    // Phase 2: taken by the attacker: a message each run, one private directory reused.
    let taken = read("victim-taken.err");
    let messages = taken
        .lines()
        .filter(|l| l.contains("not using /tmp/mptcpize-0"))
        .count();
    assert_eq!(messages as u32, RUNS + 1, "{taken}");
    assert!(
        taken.lines().all(|l| l.contains("belongs to uid 65534")),
        "{taken}"
    );
    assert!(read("preload-taken.txt").starts_with("/tmp/mptcpize-0."));
    assert_eq!(
        read("private-dirs.txt").lines().count(),
        1,
        "{}",
        read("private-dirs.txt")
    );
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
