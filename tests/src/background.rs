//! A process a test runs beside itself (a server), that cannot outlive the test.

use std::io;
use std::process::Command;

/// A process running in the background (a server), killed and reaped when dropped, so a
/// failing test leaves neither a process nor a zombie behind.
#[derive(Debug)]
pub struct Background {
    child: std::process::Child,
    what: String,
}

impl Background {
    /// Starts `cmd` (e.g. from [`Netns::command`](crate::Netns::command)) with stdin closed.
    pub fn spawn(cmd: &mut Command) -> io::Result<Background> {
        let what = format!("{cmd:?}");
        let child = cmd
            .stdin(std::process::Stdio::null())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start {what}: {e}")))?;
        Ok(Background { child, what })
    }

    /// Fails if the process has already exited (a server that could not start).
    pub fn check_running(&mut self) -> io::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(io::Error::other(format!(
                "{} exited early: {status}",
                self.what
            ))),
        }
    }

    /// Takes over a process started by other means (its own stdio, a `pre_exec`).
    pub fn from_child(child: std::process::Child) -> Background {
        let what = format!("process {}", child.id());
        Background { child, what }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The process itself, to wait for it or signal it.
    pub fn child_mut(&mut self) -> &mut std::process::Child {
        &mut self.child
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
