//! `mptcpize enable|disable UNIT` against scratch roots (`--root`, or `MPTCPIZE_ROOT`) holding
//! real unit files: values merged from the unit and its other drop-ins, quoting systemd
//! accepts (`systemd-analyze --root=DIR verify` checks every drop-in written), a library path
//! valid for every service user and never containing the scratch root, templates and
//! instances, `.socket` units, `--dry-run`, and names refused before anything is written.

mod support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mptcp_tests::require_program;
use support::{mptcpize, TempDir};

const PACKAGED: &str = "/usr/lib/mptcpize/libmptcpize_preload.so";

/// A scratch root: `/usr/bin/true` for `ExecStart=` (systemd-analyze checks it exists).
fn scratch_root(tag: &str) -> TempDir {
    let root = TempDir::new(tag);
    fs::set_permissions(&root.0, fs::Permissions::from_mode(0o755)).unwrap();
    let bin = root.0.join("usr/bin");
    fs::create_dir_all(&bin).unwrap();
    fs::copy("/usr/bin/true", bin.join("true")).unwrap();
    root
}

fn write(root: &Path, path: &str, text: &str) -> PathBuf {
    let path = root.join(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    path
}

/// A packaged shim in the root, as the Debian package installs it.
fn install_packaged_shim(root: &Path) {
    let path = write(root, &PACKAGED[1..], "not loaded by these tests\n");
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
}

fn mptcpize_in(root: &Path, args: &[&str]) -> Output {
    Command::new(mptcpize())
        .args(args)
        .arg("--root")
        .arg(root)
        .env_remove("MPTCPIZE_PRELOAD")
        .env_remove("MPTCPIZE_ROOT")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn drop_in(root: &Path, unit: &str) -> PathBuf {
    root.join("etc/systemd/system")
        .join(format!("{unit}.d"))
        .join("zz-mptcpize.conf")
}

/// `systemd-analyze --root=ROOT verify UNIT` accepts the unit with its drop-ins: no message
/// about any of them (dependencies outside the scratch root are not checked).
fn assert_systemd_accepts(test: &str, root: &Path, unit: &str) {
    if !require_program(test, "systemd-analyze") {
        return;
    }
    let out = Command::new("systemd-analyze")
        .arg(format!("--root={}", root.display()))
        .args(["--recursive-errors=no", "--man=no", "verify", unit])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify {unit} ({}):\n{stderr}\ndrop-in:\n{}",
        out.status,
        fs::read_to_string(drop_in(root, unit)).unwrap_or_default()
    );
}

/// Every path under `root`, to check that nothing was written.
fn listing(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap().filter_map(Result::ok) {
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            }
            out.push(entry.path());
        }
    }
    out.sort();
    out
}

const WEB_UNIT: &str = "[Unit]\nDescription=test web server\n\n[Service]\n\
ExecStart=/usr/bin/true\n\
Environment=\"GODEBUG=x=\\\"y z\\\"\" LANG=C\n\
Environment=\"LD_PRELOAD=/opt/trace/libtrace.so\"\n";

#[cfg_attr(not(has_systemd_analyze), ignore = "needs systemd-analyze")]
#[test]
fn merges_the_unit_and_its_drop_ins_in_systemds_order() {
    let test = "merges_the_unit_and_its_drop_ins_in_systemds_order";
    if !require_program(test, "systemd-analyze") {
        return;
    }
    let root = scratch_root("sd-merge");
    install_packaged_shim(&root.0);
    let unit_file = write(&root.0, "usr/lib/systemd/system/web.service", WEB_UNIT);
    // A later drop-in replaces the unit's LD_PRELOAD; `override.conf` (systemctl edit) and
    // the type-level `service.d/` apply too, all before ours.
    write(
        &root.0,
        "etc/systemd/system/web.service.d/10-local.conf",
        "[Service]\nEnvironment=LD_PRELOAD=/x.so\n",
    );
    write(
        &root.0,
        "etc/systemd/system/web.service.d/override.conf",
        "[Service]\nEnvironment=\"LD_PRELOAD=/x.so /override.so\"\nNice=5\n",
    );
    write(
        &root.0,
        "usr/lib/systemd/system/service.d/50-vendor.conf",
        "[Service]\nEnvironment=VENDOR=1\n",
    );
    // Hidden by the same name in /etc: never applied.
    write(
        &root.0,
        "usr/lib/systemd/system/web.service.d/override.conf",
        "[Service]\nEnvironment=LD_PRELOAD=/hidden.so\n",
    );

    let out = ok(&mptcpize_in(&root.0, &["enable", "web"]));
    assert!(out.contains("systemctl restart web.service"), "{out}");
    let path = drop_in(&root.0, "web.service");
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.contains(
            "\nEnvironment=\"LD_PRELOAD=/x.so:/override.so:/usr/lib/mptcpize/libmptcpize_preload.so\"\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("\nEnvironment=\"GODEBUG=x=\\\"y z\\\",multipathtcp=1\"\n"),
        "{text}"
    );
    assert!(!text.contains(root.0.to_str().unwrap()), "{text}");
    assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o644);
    assert_systemd_accepts(test, &root.0, "web.service");
    assert_eq!(fs::read_to_string(&unit_file).unwrap(), WEB_UNIT);

    // Enabling again gives the same drop-in (its own values are not merged into it).
    ok(&mptcpize_in(&root.0, &["enable", "web.service"]));
    assert_eq!(fs::read_to_string(&path).unwrap(), text);

    // `disable` removes ours only; the directory stays for the others.
    let out = ok(&mptcpize_in(&root.0, &["disable", "web"]));
    assert!(out.contains("removed"), "{out}");
    assert!(!path.exists());
    assert!(root
        .0
        .join("etc/systemd/system/web.service.d/10-local.conf")
        .exists());
    let out = ok(&mptcpize_in(&root.0, &["disable", "web"]));
    assert!(out.contains("was not enabled"), "{out}");
}

#[cfg_attr(not(has_systemd_analyze), ignore = "needs systemd-analyze")]
#[test]
fn an_empty_environment_assignment_resets_what_came_before() {
    let test = "an_empty_environment_assignment_resets_what_came_before";
    if !require_program(test, "systemd-analyze") {
        return;
    }
    let root = scratch_root("sd-reset");
    install_packaged_shim(&root.0);
    write(&root.0, "etc/systemd/system/app.service", WEB_UNIT);
    write(
        &root.0,
        "etc/systemd/system/app.service.d/10-reset.conf",
        "[Service]\nEnvironment=\nEnvironment=GODEBUG=http2client=0 \\\n  OTHER=1\n",
    );
    ok(&mptcpize_in(&root.0, &["enable", "app"]));
    let text = fs::read_to_string(drop_in(&root.0, "app.service")).unwrap();
    assert!(
        text.contains(&format!("\nEnvironment=\"LD_PRELOAD={PACKAGED}\"\n")),
        "{text}"
    );
    assert!(
        text.contains("\nEnvironment=\"GODEBUG=http2client=0,multipathtcp=1\"\n"),
        "{text}"
    );
    assert_systemd_accepts(test, &root.0, "app.service");
}

#[cfg_attr(not(has_systemd_analyze), ignore = "needs systemd-analyze")]
#[test]
fn without_an_installed_shim_services_get_a_world_readable_copy() {
    let test = "without_an_installed_shim_services_get_a_world_readable_copy";
    if !require_program(test, "systemd-analyze") {
        return;
    }
    let root = scratch_root("sd-copy");
    write(
        &root.0,
        "etc/systemd/system/web.service",
        "[Service]\nExecStart=/usr/bin/true\n",
    );
    ok(&mptcpize_in(&root.0, &["enable", "web"]));
    let text = fs::read_to_string(drop_in(&root.0, "web.service")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("Environment=\"LD_PRELOAD="))
        .unwrap();
    let shim = line
        .strip_prefix("Environment=\"LD_PRELOAD=")
        .unwrap()
        .strip_suffix('"')
        .unwrap();
    // A path inside the system the service runs in, never the scratch root's.
    assert!(shim.starts_with("/var/lib/mptcpize/"), "{shim}");
    assert!(shim.ends_with("/libmptcpize_preload.so"), "{shim}");
    let copy = root.0.join(&shim[1..]);
    assert!(fs::read(&copy).unwrap().starts_with(b"\x7fELF"));
    assert_eq!(fs::metadata(&copy).unwrap().mode() & 0o777, 0o644);
    for dir in [
        copy.parent().unwrap(),
        copy.parent().unwrap().parent().unwrap(),
    ] {
        assert_eq!(fs::metadata(dir).unwrap().mode() & 0o777, 0o755, "{dir:?}");
    }
    // SAFETY: geteuid has no preconditions.
    assert_eq!(fs::metadata(&copy).unwrap().uid(), unsafe {
        libc::geteuid()
    });
    assert_systemd_accepts(test, &root.0, "web.service");
}

#[cfg_attr(not(has_systemd_analyze), ignore = "needs systemd-analyze")]
#[test]
fn templates_and_instances() {
    let test = "templates_and_instances";
    if !require_program(test, "systemd-analyze") {
        return;
    }
    let root = scratch_root("sd-tpl");
    install_packaged_shim(&root.0);
    let vendor = root.0.join("usr/lib/systemd/system");
    write(
        &root.0,
        "usr/lib/systemd/system/getty@.service",
        "[Service]\nExecStart=/usr/bin/true %I\n",
    );
    // The template's drop-ins apply to every instance.
    write(
        &root.0,
        "etc/systemd/system/getty@.service.d/20-trace.conf",
        "[Service]\nEnvironment=LD_PRELOAD=/t.so\n",
    );
    let out = Command::new(mptcpize())
        .args(["enable", "getty@tty1"])
        .env("MPTCPIZE_ROOT", &root.0)
        .env_remove("MPTCPIZE_PRELOAD")
        .output()
        .unwrap();
    ok(&out);
    let text = fs::read_to_string(drop_in(&root.0, "getty@tty1.service")).unwrap();
    assert!(
        text.contains(&format!("\nEnvironment=\"LD_PRELOAD=/t.so:{PACKAGED}\"\n")),
        "{text}"
    );
    assert_systemd_accepts(test, &root.0, "getty@tty1.service");

    // The template itself: one drop-in for all instances.
    ok(&mptcpize_in(&root.0, &["enable", "getty@.service"]));
    assert!(drop_in(&root.0, "getty@.service").exists());
    assert_eq!(fs::read_dir(&vendor).unwrap().count(), 1);
}

#[cfg_attr(not(has_systemd_analyze), ignore = "needs systemd-analyze")]
#[test]
fn socket_units_get_socket_protocol_mptcp_on_systemd_257() {
    let test = "socket_units_get_socket_protocol_mptcp_on_systemd_257";
    if !require_program(test, "systemd-analyze") {
        return;
    }
    let root = scratch_root("sd-socket");
    write(
        &root.0,
        "usr/lib/systemd/system/web.socket",
        "[Socket]\nListenStream=8080\n\n[Install]\nWantedBy=sockets.target\n",
    );
    write(
        &root.0,
        "usr/lib/systemd/system/web.service",
        "[Service]\nExecStart=/usr/bin/true\n",
    );

    // No systemd in the root, then an old one: nothing written, and what to do instead.
    let before = listing(&root.0);
    for shared in [
        None,
        Some("usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-252.so"),
    ] {
        if let Some(lib) = shared {
            write(&root.0, lib, "");
        }
        let before = listing(&root.0);
        let out = mptcpize_in(&root.0, &["enable", "web.socket"]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("SocketProtocol=mptcp"), "{err}");
        assert!(err.contains("mptcpize enable web.service"), "{err}");
        if shared.is_some() {
            assert!(err.contains("systemd 252 is too old"), "{err}");
        }
        assert_eq!(listing(&root.0), before);
    }
    assert!(!before.is_empty());

    write(&root.0, "usr/lib/systemd/libsystemd-shared-257.so", "");
    let out = ok(&mptcpize_in(&root.0, &["enable", "web.socket"]));
    assert!(out.contains("mptcpize enable web.service"), "{out}");
    let text = fs::read_to_string(drop_in(&root.0, "web.socket")).unwrap();
    assert!(
        text.contains("\n[Socket]\nSocketProtocol=mptcp\n"),
        "{text}"
    );
    // Only a systemd that knows the option can check it.
    let local = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .nth(1)?
                .parse::<u32>()
                .ok()
        });
    if local.is_some_and(|v| v >= 257) {
        assert_systemd_accepts(test, &root.0, "web.socket");
    } else {
        println!("{test}: not checked with systemd-analyze: it is older than 257 here ({local:?})");
    }
    ok(&mptcpize_in(&root.0, &["disable", "web.socket"]));
    assert!(!drop_in(&root.0, "web.socket").exists());

    // A Unix listener in the same unit, or no stream listener at all: refused.
    for (unit, listen, why) in [
        (
            "mixed.socket",
            "ListenStream=8081\nListenStream=/run/mixed.sock\n",
            "Unix socket",
        ),
        ("dgram.socket", "ListenDatagram=5353\n", "no ListenStream="),
    ] {
        write(
            &root.0,
            &format!("usr/lib/systemd/system/{unit}"),
            &format!("[Socket]\n{listen}"),
        );
        let before = listing(&root.0);
        let out = mptcpize_in(&root.0, &["enable", unit]);
        assert_eq!(out.status.code(), Some(1), "{unit}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{unit}: {err}");
        assert_eq!(listing(&root.0), before);
    }
}

#[test]
fn dry_run_prints_the_drop_in_and_writes_nothing() {
    let root = scratch_root("sd-dry");
    write(
        &root.0,
        "etc/systemd/system/web.service",
        "[Service]\nExecStart=/usr/bin/true\nEnvironment=LD_PRELOAD=/a.so\n",
    );
    let before = listing(&root.0);
    let out = ok(&mptcpize_in(&root.0, &["enable", "--dry-run", "web"]));
    assert!(
        out.contains("# /etc/systemd/system/web.service.d/zz-mptcpize.conf"),
        "{out}"
    );
    assert!(out.contains("[Service]\n"), "{out}");
    assert!(
        out.contains("Environment=\"LD_PRELOAD=/a.so:/var/lib/mptcpize/"),
        "{out}"
    );
    assert!(
        out.contains("would write the embedded shim to /var/lib/mptcpize/"),
        "{out}"
    );
    assert_eq!(listing(&root.0), before);

    ok(&mptcpize_in(&root.0, &["enable", "web"]));
    let before = listing(&root.0);
    let out = ok(&mptcpize_in(&root.0, &["disable", "--dry-run", "web"]));
    assert!(
        out.contains("would remove /etc/systemd/system/web.service.d/zz-mptcpize.conf"),
        "{out}"
    );
    assert_eq!(listing(&root.0), before);
}

#[test]
fn refused_names_and_libraries_write_nothing() {
    let root = scratch_root("sd-bad");
    write(
        &root.0,
        "etc/systemd/system/web.service",
        "[Service]\nExecStart=/usr/bin/true\n",
    );
    let before = listing(&root.0);
    for bad in [
        "ünï",
        "weird\"q",
        "x.notasuffix",
        "../../etc/passwd",
        "a/b",
        ".x",
        "web.timer",
        "a@b@c.service",
        "no-such-unit",
    ] {
        for command in ["enable", "disable"] {
            let out = mptcpize_in(&root.0, &[command, bad]);
            if bad == "no-such-unit" && command == "disable" {
                // Nothing to remove is not an error.
                ok(&out);
                continue;
            }
            assert_eq!(out.status.code(), Some(1), "{command} {bad}");
            assert!(!out.stderr.is_empty(), "{command} {bad}: no message");
        }
    }
    assert_eq!(listing(&root.0), before);

    // MPTCPIZE_PRELOAD naming a library a service cannot use.
    let open_dir = root.0.join("srv/open");
    fs::create_dir_all(&open_dir).unwrap();
    fs::write(open_dir.join("libx.so"), "x").unwrap();
    fs::set_permissions(&open_dir, fs::Permissions::from_mode(0o777)).unwrap();
    let before = listing(&root.0);
    for value in [
        "/missing/libx.so",
        "relative/libx.so",
        "/with space/libx.so",
        "/srv/open/libx.so",
    ] {
        let out = Command::new(mptcpize())
            .args(["enable", "web", "--root"])
            .arg(&root.0)
            .env("MPTCPIZE_PRELOAD", value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{value}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("MPTCPIZE_PRELOAD"),
            "{value}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(listing(&root.0), before);
}

#[cfg_attr(not(has_systemd_analyze), ignore = "needs systemd-analyze")]
#[test]
fn an_environment_file_setting_ld_preload_is_pointed_out() {
    let test = "an_environment_file_setting_ld_preload_is_pointed_out";
    if !require_program(test, "systemd-analyze") {
        return;
    }
    let root = scratch_root("sd-envfile");
    install_packaged_shim(&root.0);
    write(
        &root.0,
        "etc/systemd/system/web.service",
        "[Service]\nExecStart=/usr/bin/true\nEnvironmentFile=-/etc/default/web\n",
    );
    write(
        &root.0,
        "etc/default/web",
        "# settings\nLD_PRELOAD=/opt/a.so\n",
    );
    let out = ok(&mptcpize_in(&root.0, &["enable", "web"]));
    assert!(
        out.contains("EnvironmentFile=/etc/default/web sets LD_PRELOAD"),
        "{out}"
    );
    assert_systemd_accepts(test, &root.0, "web.service");
}
