//! `mptcpize enable|disable UNIT` against a temporary root directory (`--root`, or
//! `MPTCPIZE_ROOT`): a drop-in is written and removed, the unit file is never touched, and
//! the unit's own `LD_PRELOAD`/`GODEBUG` values are kept.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::{mptcpize, TempDir};

const UNIT: &str = "[Unit]\nDescription=test web server\n\n[Service]\n\
ExecStart=/usr/bin/python3 -m http.server 8080\n\
Environment=\"LD_PRELOAD=/opt/trace/libtrace.so\" LANG=C\n\
Environment=GODEBUG=http2server=0\n\
Environment=KEEP=me\n";

fn mptcpize_in(root: &Path, args: &[&str]) -> Output {
    Command::new(mptcpize())
        .args(args)
        .arg("--root")
        .arg(root)
        .env_remove("MPTCPIZE_PRELOAD")
        .output()
        .unwrap()
}

fn unit_environment(drop_in: &str, name: &str) -> Option<String> {
    drop_in.lines().find_map(|l| {
        l.strip_prefix("Environment=\"")?
            .strip_suffix('"')?
            .strip_prefix(name)?
            .strip_prefix('=')
            .map(str::to_owned)
    })
}

#[test]
fn enable_writes_a_drop_in_and_disable_removes_it() {
    let root = TempDir::new("systemd");
    let units = root.0.join("etc/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    let unit_file = units.join("web.service");
    std::fs::write(&unit_file, UNIT).unwrap();

    let out = mptcpize_in(&root.0, &["enable", "web"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("systemctl restart web.service"));
    let drop_in_path = units.join("web.service.d/mptcpize.conf");
    let drop_in = std::fs::read_to_string(&drop_in_path).unwrap();
    assert!(drop_in.contains("\n[Service]\n"), "{drop_in}");
    let preload = unit_environment(&drop_in, "LD_PRELOAD").expect("LD_PRELOAD line");
    let (theirs, ours) = preload.split_once(':').expect("appended with ':'");
    assert_eq!(theirs, "/opt/trace/libtrace.so");
    assert!(ours.ends_with("/libmptcpize_preload.so"), "{ours}");
    let shim = std::fs::read(ours).expect("the drop-in's shim exists");
    assert!(shim.starts_with(b"\x7fELF"));
    assert_eq!(
        unit_environment(&drop_in, "GODEBUG").as_deref(),
        Some("http2server=0,multipathtcp=1")
    );
    // The unit file is exactly as it was.
    assert_eq!(std::fs::read_to_string(&unit_file).unwrap(), UNIT);

    // Enabling again changes nothing.
    let out = mptcpize_in(&root.0, &["enable", "web.service"]);
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&drop_in_path).unwrap(), drop_in);

    // Another drop-in in the same directory survives `disable`.
    let other = units.join("web.service.d/override.conf");
    std::fs::write(&other, "[Service]\nNice=5\n").unwrap();
    let out = mptcpize_in(&root.0, &["disable", "web"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!drop_in_path.exists());
    assert!(other.exists());
    std::fs::remove_file(&other).unwrap();
    assert_eq!(std::fs::read_to_string(&unit_file).unwrap(), UNIT);

    // Disabling what is not enabled is not an error, and says so; the empty directory goes.
    let out = mptcpize_in(&root.0, &["disable", "web"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("was not enabled"));
    let out = mptcpize_in(&root.0, &["enable", "web"]);
    assert!(out.status.success());
    let out = mptcpize_in(&root.0, &["disable", "web"]);
    assert!(out.status.success());
    assert!(!units.join("web.service.d").exists());
}

#[test]
fn templates_vendor_units_and_the_root_variable() {
    let root = TempDir::new("systemd-tpl");
    let vendor = root.0.join("usr/lib/systemd/system");
    std::fs::create_dir_all(&vendor).unwrap();
    std::fs::write(
        vendor.join("getty@.service"),
        "[Service]\nExecStart=/bin/true\n",
    )
    .unwrap();
    let out = Command::new(mptcpize())
        .args(["enable", "getty@tty1"])
        .env("MPTCPIZE_ROOT", &root.0)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let drop_in = root
        .0
        .join("etc/systemd/system/getty@tty1.service.d/mptcpize.conf");
    let text = std::fs::read_to_string(&drop_in).unwrap();
    assert_eq!(
        unit_environment(&text, "GODEBUG").as_deref(),
        Some("multipathtcp=1")
    );
    assert!(unit_environment(&text, "LD_PRELOAD")
        .unwrap()
        .starts_with('/'));
    // The vendor unit is untouched; nothing else appeared in its directory.
    assert_eq!(std::fs::read_dir(&vendor).unwrap().count(), 1);
}

#[test]
fn unknown_units_and_bad_names_are_refused() {
    let root = TempDir::new("systemd-bad");
    let out = mptcpize_in(&root.0, &["enable", "no-such-unit"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-unit.service not found"), "{err}");
    for bad in ["../../etc/passwd", "a/b", ".x"] {
        let out = mptcpize_in(&root.0, &["enable", bad]);
        assert_eq!(out.status.code(), Some(1), "{bad}");
        let out = mptcpize_in(&root.0, &["disable", bad]);
        assert_eq!(out.status.code(), Some(1), "{bad}");
    }
    assert!(!root.0.join("etc").exists());
}
