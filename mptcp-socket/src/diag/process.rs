//! Which process owns a socket: the `socket:[INODE]` links in `/proc/PID/fd`, as `ss -p`
//! finds them. Without root only the caller's own processes can be read (`/proc/PID/fd`
//! of another user's process is refused), so other sockets have no known owner.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::Path;

/// A process that holds a socket open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    /// Its process id.
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`, at most 15 bytes, as `ps -o comm` shows).
    pub comm: String,
}

/// Socket inode → the processes holding it, read from `/proc/*/fd`.
#[derive(Clone, Debug, Default)]
pub struct ProcessTable {
    owners: HashMap<u32, Vec<Process>>,
}

impl ProcessTable {
    /// Reads `/proc/*/fd` (every process the caller may read; `readlink(2)` of each fd).
    pub fn scan() -> io::Result<ProcessTable> {
        Self::scan_root(Path::new("/proc"))
    }

    /// As [`ProcessTable::scan`], for a proc file system mounted at `root`.
    pub fn scan_root(root: &Path) -> io::Result<ProcessTable> {
        let mut owners: HashMap<u32, Vec<Process>> = HashMap::new();
        let mut pids: Vec<u32> = fs::read_dir(root)?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        pids.sort_unstable();
        let mut link = root.to_path_buf();
        for pid in pids {
            link.push(pid.to_string());
            link.push("fd");
            // Processes that exited since, or that belong to another user: skipped.
            let Ok(fds) = fs::read_dir(&link) else {
                link.pop();
                link.pop();
                continue;
            };
            let mut comm = None;
            for fd in fds.flatten() {
                let Ok(target) = fs::read_link(fd.path()) else {
                    continue;
                };
                let Some(inode) = socket_inode(target.as_os_str().as_encoded_bytes()) else {
                    continue;
                };
                let comm = comm.get_or_insert_with(|| {
                    let mut path = link.clone();
                    path.pop();
                    path.push("comm");
                    fs::read_to_string(path)
                        .map(|c| c.trim_end_matches('\n').to_owned())
                        .unwrap_or_default()
                });
                let holders = owners.entry(inode).or_default();
                // The same socket in several fds of one process: listed once.
                if holders.last().map_or(true, |p| p.pid != pid) {
                    holders.push(Process {
                        pid,
                        comm: comm.clone(),
                    });
                }
            }
            link.pop();
            link.pop();
        }
        Ok(ProcessTable { owners })
    }

    /// The process holding the socket with this inode, if the caller could see it: the
    /// lowest pid where several hold it (a parent and the children it forked).
    pub fn owner(&self, inode: u32) -> Option<&Process> {
        self.owners.get(&inode)?.first()
    }

    /// Every process holding the socket with this inode, by ascending pid.
    pub fn holders(&self, inode: u32) -> &[Process] {
        self.owners.get(&inode).map_or(&[], Vec::as_slice)
    }

    /// Whether the table knows this socket inode.
    pub fn contains(&self, inode: u32) -> bool {
        self.owners.contains_key(&inode)
    }

    /// How many sockets the table knows.
    pub fn len(&self) -> usize {
        self.owners.len()
    }

    /// True when no socket was found.
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }
}

/// `socket:[12345]` (the target of a `/proc/PID/fd/N` link) → 12345.
pub fn socket_inode(link: &[u8]) -> Option<u32> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_links() {
        assert_eq!(socket_inode(b"socket:[4242]"), Some(4242));
        assert_eq!(socket_inode(b"pipe:[4242]"), None);
        assert_eq!(socket_inode(b"/dev/null"), None);
        assert_eq!(socket_inode(b"socket:[x]"), None);
    }

    #[test]
    fn finds_own_socket() {
        use std::os::unix::fs::MetadataExt;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
        let inode = fs::metadata(format!("/proc/self/fd/{fd}")).unwrap().ino() as u32;
        let table = ProcessTable::scan().unwrap();
        let owner = table.owner(inode).expect("own socket found");
        assert_eq!(owner.pid, std::process::id());
    }
}
