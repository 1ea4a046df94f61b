//! Which connections `watch` shows: `--pid` (and its descendants), `--unit` (the processes
//! of a systemd unit's cgroup), `--port`. Process sets are read again at each refresh, so a
//! child forked later, or a restarted service, is followed.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::systemd::unit_name_syntax;

/// The filters given on the command line.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub pid: Option<u32>,
    pub unit: Option<String>,
    pub port: Option<u16>,
}

/// The filter's process set for one refresh (`None`: no process filter).
pub type Pids = Option<HashSet<u32>>;

impl Filter {
    /// The processes the filter selects now: `--pid` and its descendants (from the parent
    /// pid in `/proc/*/stat`), the processes of the `--unit`'s cgroup and its sub-cgroups,
    /// or both intersected.
    pub fn pids(&self) -> io::Result<Pids> {
        let mut selected: Pids = None;
        if let Some(pid) = self.pid {
            selected = Some(descendants(pid));
        }
        if let Some(unit) = &self.unit {
            let dir = unit_cgroup(unit)?;
            let mut pids = HashSet::new();
            cgroup_pids(&dir, &mut pids);
            selected = Some(match selected {
                Some(prev) => prev.intersection(&pids).copied().collect(),
                None => pids,
            });
        }
        Ok(selected)
    }

    /// Whether a connection between these ports passes `--port`.
    pub fn port_matches(&self, local: u16, remote: u16) -> bool {
        self.port.map_or(true, |p| p == local || p == remote)
    }
}

/// `pid` and every process below it, found from each process's parent pid.
fn descendants(pid: u32) -> HashSet<u32> {
    let mut parent_of = Vec::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(ppid) = parent_pid(child) {
                parent_of.push((child, ppid));
            }
        }
    }
    let mut set = HashSet::from([pid]);
    // Grow until stable: a process's parent may come after it in the listing.
    loop {
        let before = set.len();
        for &(child, ppid) in &parent_of {
            if set.contains(&ppid) {
                set.insert(child);
            }
        }
        if set.len() == before {
            return set;
        }
    }
}

/// The parent pid from `/proc/PID/stat` (field 4, after the command in parentheses, which
/// may itself contain spaces and parentheses).
fn parent_pid(pid: u32) -> Option<u32> {
    parent_pid_in_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The parent pid in a `/proc/PID/stat` text. The command may contain anything its owner
/// chose (`PR_SET_NAME`), `)` and spaces included: the last `)` ends it.
pub fn parent_pid_in_stat(stat: &str) -> Option<u32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// The cgroup directory of a systemd unit: `NAME.service` (the suffix is added when the
/// name has none) under `system.slice`, in the unified hierarchy (cgroup v2), the hybrid
/// one, or systemd's named v1 hierarchy. The name is checked as `enable` checks it
/// ([`unit_name_syntax`]): `..` or `../../tmp/x` would otherwise name a directory outside
/// `system.slice` (all processes, or none without an error).
pub fn unit_cgroup(unit: &str) -> io::Result<PathBuf> {
    let name =
        unit_name_syntax(unit).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let candidates = [
        format!("/sys/fs/cgroup/system.slice/{name}"),
        format!("/sys/fs/cgroup/unified/system.slice/{name}"),
        format!("/sys/fs/cgroup/systemd/system.slice/{name}"),
    ];
    for dir in &candidates {
        if Path::new(dir).join("cgroup.procs").exists() {
            return Ok(PathBuf::from(dir));
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "unit {name} has no cgroup (looked for {}): is it running? \
             (`systemctl status {name}`)",
            candidates.join(", ")
        ),
    ))
}

/// Every pid in `dir/cgroup.procs` and in the sub-cgroups below it.
fn cgroup_pids(dir: &Path, out: &mut HashSet<u32>) {
    if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(procs.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                cgroup_pids(&entry.path(), out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_children_are_descendants() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let set = descendants(std::process::id());
        let _ = child.kill();
        let _ = child.wait();
        assert!(set.contains(&std::process::id()));
        assert!(set.contains(&child.id()), "{set:?}");
        assert!(!set.contains(&1) || std::process::id() == 1);
    }

    #[test]
    fn parent_pid_of_self() {
        let ppid = rustix::process::getppid().map_or(0, |pid| pid.as_raw_nonzero().get() as u32);
        assert_eq!(parent_pid(std::process::id()), Some(ppid));
    }

    #[test]
    fn missing_unit_says_what_to_do() {
        let err = unit_cgroup("no-such-unit-for-mptcpize-tests").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("no-such-unit-for-mptcpize-tests.service"),
            "{msg}"
        );
        assert!(msg.contains("systemctl status"), "{msg}");
    }

    #[test]
    fn unit_names_that_leave_system_slice_are_refused() {
        for bad in [
            "..",
            ".",
            "../../tmp/x",
            "a/b.service",
            "x\u{1b}]0;PWN\u{7}.service",
            "",
        ] {
            let err = unit_cgroup(bad).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}: {err}");
            assert!(err.to_string().contains("not a systemd unit name") || bad.is_empty());
        }
    }

    #[test]
    fn cgroup_pids_walks_sub_cgroups() {
        let dir = std::env::temp_dir().join(format!("mptcpize-cg-{}", std::process::id()));
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(dir.join("cgroup.procs"), "10\n11\n").unwrap();
        fs::write(dir.join("sub/cgroup.procs"), "12\n").unwrap();
        let mut pids = HashSet::new();
        cgroup_pids(&dir, &mut pids);
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(pids, HashSet::from([10, 11, 12]));
    }

    #[test]
    fn port_filter() {
        let f = Filter {
            port: Some(5201),
            ..Filter::default()
        };
        assert!(f.port_matches(5201, 40000));
        assert!(f.port_matches(40000, 5201));
        assert!(!f.port_matches(1, 2));
        assert!(Filter::default().port_matches(1, 2));
    }
}
