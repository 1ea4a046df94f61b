//! OpenSSH under `mptcpize run`: an `sshd` with a generated host key and one authorized
//! client key, in a namespace of its own directory, and the `ssh` commands that log in to it
//! with that key and nothing from the user's own configuration.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::background::Background;
use crate::{temp_dir, wait_until, Netns, TempDir};

/// An `sshd -D -e` under `LAUNCHER run`, its keys and configuration in a temporary directory
/// ([`Sshd::dir`]); stopped, and the directory removed, when dropped.
pub struct Sshd {
    _server: Background,
    dir: TempDir,
    launcher: PathBuf,
    port: u16,
}

impl Sshd {
    /// Starts `/usr/sbin/sshd` in `ns` under `launcher run` (the workspace's `mptcpize`),
    /// listening on each address of `listen` (`127.0.0.1`, `::1`, `0.0.0.0`) at `port`, and
    /// returns once `ss -M` lists every one of them as an MPTCP listener (deadline 20 s).
    pub fn start(ns: &Netns, launcher: &Path, listen: &[&str], port: u16) -> Sshd {
        let dir = temp_dir("sshd");
        let d = dir.path().to_str().expect("a UTF-8 temporary directory");
        for key in ["host", "client"] {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f", &format!("{d}/{key}")])
                .status()
                .expect("ssh-keygen");
            assert!(status.success(), "ssh-keygen failed");
        }
        std::fs::copy(format!("{d}/client.pub"), format!("{d}/authorized_keys")).unwrap();
        let listeners: Vec<String> = listen.iter().map(|a| socket_text(a, port)).collect();
        let mut config: String = listeners
            .iter()
            .map(|l| format!("ListenAddress {l}\n"))
            .collect();
        config.push_str(&format!(
            "HostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\nPidFile none\n\
             UsePAM no\nStrictModes no\nPermitRootLogin yes\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n"
        ));
        std::fs::write(format!("{d}/sshd_config"), config).unwrap();
        // sshd's privilege separation directory, which Debian's service would create.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let mut cmd = ns.command(launcher);
        cmd.args(["run", "--", "/usr/sbin/sshd", "-D", "-e", "-f"])
            .arg(format!("{d}/sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut server = Background::spawn(&mut cmd).expect("start sshd");
        // `ss -M` lists MPTCP sockets only.
        let mut listing = String::new();
        let all_mptcp = wait_until(Instant::now() + Duration::from_secs(20), || {
            server.check_running().expect("sshd exited");
            listing = ns.run("ss", &["-MHln"]).unwrap_or_default();
            listeners.iter().all(|l| listing.contains(l.as_str()))
        });
        assert!(
            all_mptcp,
            "sshd: not every MPTCP listener of {listeners:?} after 20 s:\n{listing}"
        );
        Sshd {
            _server: server,
            dir,
            launcher: launcher.to_owned(),
            port,
        }
    }

    /// The directory of the keys and the configuration (`client` is the client's key); a
    /// file put there can be read by the remote command.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `LAUNCHER run RUN_ARGS… -- ssh SSH_ARGS… root@HOST REMOTE` in `ns`: the client key,
    /// no configuration file, no known hosts, no prompt. `remote` is one shell word list for
    /// the remote shell (quote paths: the directory's name may hold parentheses).
    pub fn ssh(
        &self,
        ns: &Netns,
        run_args: &[&str],
        ssh_args: &[&str],
        host: &str,
        remote: &str,
    ) -> Command {
        let mut cmd = ns.command(&self.launcher);
        cmd.arg("run")
            .args(run_args)
            .args(["--", "ssh", "-F", "/dev/null", "-p"])
            .arg(self.port.to_string())
            .args(ssh_args)
            .arg("-i")
            .arg(self.dir().join("client"))
            .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"])
            .args(["-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null"])
            .arg(format!("root@{host}"))
            .arg(remote)
            .stdin(Stdio::null());
        cmd
    }
}

/// `ADDRESS:PORT`, an IPv6 address in brackets, as `sshd_config` and `ss` write it.
fn socket_text(address: &str, port: u16) -> String {
    if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}
