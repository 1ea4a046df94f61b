//! Real programs in a [`Lab`] under the workspace's `mptcpize run`: a server started in the
//! background and waited for until it listens, `python3 -m http.server` serving a file of
//! the lab's byte pattern, and `curl` downloading it.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::background::Background;
use crate::traffic::{verify_file, write_pattern_file};
use crate::{temp_dir, wait_until, workspace_bin, Lab, Netns, TempDir};

/// Starts `server` in the background (stdout and stderr discarded) and returns once `ns`
/// lists a TCP listener on `port` (`ss -Hltn`): a deadline of 10 s, not a sleep. Panics,
/// naming `what`, if the server exits first or does not listen by then.
pub fn spawn_listening(ns: &Netns, server: &mut Command, port: u16, what: &str) -> Background {
    server.stdout(Stdio::null()).stderr(Stdio::null());
    let mut server = Background::spawn(server).unwrap();
    let listening = wait_until(Instant::now() + Duration::from_secs(10), || {
        server.check_running().unwrap();
        let ss = ns.run("ss", &["-Hltn"]).unwrap();
        ss.contains(&format!(":{port} "))
    });
    assert!(listening, "{what} did not listen within 10 s");
    server
}

/// A file of `len` bytes of the lab's pattern, `data.bin` in a fresh directory, served by
/// `mptcpize run python3 -m http.server` in the lab's server namespace; the server stops and
/// the directory goes when this is dropped.
pub struct ServedFile {
    /// The file's URL on the server's path 1 address.
    pub url: String,
    /// The file's length.
    pub len: u64,
    _server: Background,
    dir: TempDir,
}

impl ServedFile {
    /// Serves a new file of `len` bytes on `port`, the server bound to `bind`: an any
    /// address (joins and announced addresses arrive there), `0.0.0.0` for an AF_INET
    /// socket, `::` for a dual-stack one (python's default where IPv6 is configured).
    /// Returns once the server listens. `tag` names the temporary directory.
    pub fn start(lab: &Lab, tag: &str, len: u64, port: u16, bind: &str) -> ServedFile {
        let dir = temp_dir(tag);
        write_pattern_file(&dir.path().join("data.bin"), len).unwrap();
        let mut cmd = lab.server().command(workspace_bin("mptcpize"));
        cmd.args(["run", "python3", "-m", "http.server"])
            .arg(port.to_string())
            .args(["--bind", bind, "--directory"])
            .arg(dir.path());
        let server = spawn_listening(lab.server(), &mut cmd, port, "http.server");
        ServedFile {
            url: format!("http://{}:{port}/data.bin", lab.server_addr(1)),
            len,
            _server: server,
            dir,
        }
    }

    /// Where a client is to write its download ([`ServedFile::verify_download`] checks it).
    pub fn download_path(&self) -> PathBuf {
        self.dir.path().join("received.bin")
    }

    /// Checks the download at [`ServedFile::download_path`] byte for byte.
    pub fn verify_download(&self) {
        verify_file(&self.download_path(), self.len).unwrap();
    }

    /// `mptcpize run MPTCPIZE_ARGS… curl -sS --max-time 30 [-w WRITE_OUT] -o DOWNLOAD URL`
    /// in the lab's client namespace (stdin closed), to run or spawn: `mptcpize_args` are
    /// `mptcpize run`'s own options (`-d`, `--report`).
    pub fn curl(&self, lab: &Lab, mptcpize_args: &[&str], write_out: Option<&str>) -> Command {
        let mut cmd = lab.client().command(workspace_bin("mptcpize"));
        cmd.arg("run")
            .args(mptcpize_args)
            .args(["curl", "-sS", "--max-time", "30"]);
        if let Some(format) = write_out {
            cmd.arg("-w").arg(format);
        }
        cmd.arg("-o")
            .arg(self.download_path())
            .arg(&self.url)
            .stdin(Stdio::null());
        cmd
    }
}

/// The fields curl printed for `-w` (whitespace-separated); panics with curl's exit status
/// and stderr when it failed.
pub fn curl_write_out(out: &Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "curl under mptcpize failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}
