//! Which targets the `LD_PRELOAD` shim cannot reach, so `mptcpize run` picks seccomp mode.
//!
//! - An ELF executable without a `PT_INTERP` program header is statically linked (static-pie
//!   included): no dynamic loader runs, so nothing reads `LD_PRELOAD`.
//! - A setuid or setgid file, or one with file capabilities (`security.capability`, as
//!   `setcap` writes it: `ping`, `mtr-packet`), runs in the loader's secure mode
//!   (`AT_SECURE`), which ignores `LD_PRELOAD`.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why a target needs seccomp mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// ELF executable without `PT_INTERP`.
    StaticallyLinked(PathBuf),
    /// A statically linked Go program built before Go 1.21, whose `net` package ignores
    /// `GODEBUG=multipathtcp=1`. (Go 1.21 and later need neither the shim nor seccomp.)
    StaticOldGo {
        /// The file `execvp` would run.
        path: PathBuf,
        /// Its Go version, as `go version FILE` prints it.
        version: String,
    },
    /// The file has the setuid or setgid bit. `privileged`: the launcher has
    /// `CAP_SYS_ADMIN`, so the filter can be installed without `no_new_privs` and the
    /// program keeps its privileges.
    SetId {
        /// The file `execvp` would run.
        path: PathBuf,
        /// The launcher has `CAP_SYS_ADMIN`.
        privileged: bool,
    },
    /// The file has file capabilities (the `security.capability` extended attribute).
    /// `privileged` as for [`Reason::SetId`]: `no_new_privs` would drop the capabilities.
    FileCapabilities {
        /// The file `execvp` would run.
        path: PathBuf,
        /// The launcher has `CAP_SYS_ADMIN`.
        privileged: bool,
    },
}

impl Reason {
    /// True when the launcher should use seccomp mode. False only for a setuid/setgid
    /// program, or one with file capabilities, run without `CAP_SYS_ADMIN`: the kernel
    /// would then require `no_new_privs`, and the program would lose the privileges it
    /// exists for (`sudo`, `su`, `ping`, …).
    pub fn use_seccomp(&self) -> bool {
        !matches!(
            self,
            Reason::SetId {
                privileged: false,
                ..
            } | Reason::FileCapabilities {
                privileged: false,
                ..
            }
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::StaticallyLinked(path) => write!(
                f,
                "{} is statically linked (LD_PRELOAD cannot reach it): using seccomp mode",
                path.display()
            ),
            Reason::StaticOldGo { path, version } => write!(
                f,
                "{} is a statically linked Go program built with {version}, which ignores GODEBUG=multipathtcp=1 (Go 1.21+ only): using seccomp mode",
                path.display()
            ),
            Reason::SetId {
                path,
                privileged: true,
            } => write!(
                f,
                "{} is setuid/setgid (the loader ignores LD_PRELOAD for it): using seccomp mode",
                path.display()
            ),
            Reason::SetId {
                path,
                privileged: false,
            } => write!(
                f,
                "warning: {} is setuid/setgid: the loader ignores LD_PRELOAD for it, and seccomp mode without CAP_SYS_ADMIN would strip its privileges (no_new_privs): it runs unchanged, on TCP (--seccomp forces seccomp mode)",
                path.display()
            ),
            Reason::FileCapabilities {
                path,
                privileged: true,
            } => write!(
                f,
                "{} has file capabilities (the loader ignores LD_PRELOAD for it): using seccomp mode",
                path.display()
            ),
            Reason::FileCapabilities {
                path,
                privileged: false,
            } => write!(
                f,
                "warning: {} has file capabilities: the loader ignores LD_PRELOAD for it, and seccomp mode without CAP_SYS_ADMIN would strip them (no_new_privs): it runs unchanged, on TCP (--seccomp forces seccomp mode)",
                path.display()
            ),
        }
    }
}

/// The file `execvp(3)` would run for `program`: itself when it contains a `/`, else the
/// first executable regular file of that name in `PATH`.
pub fn resolve(program: &OsStr) -> Option<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `Some(reason)` when `program` is a target the `LD_PRELOAD` shim cannot reach (check
/// [`Reason::use_seccomp`] and print the reason); `None` when the shim works, when a
/// statically linked Go 1.21+ program needs neither (its `net` package opens MPTCP sockets
/// under the `GODEBUG=multipathtcp=1` the launcher sets), or when the file cannot be read
/// (then the launcher's own exec reports the problem).
pub fn needs_seccomp(program: &OsStr) -> Option<Reason> {
    let path = resolve(program)?;
    let meta = path.metadata().ok()?;
    if meta.permissions().mode() & 0o6000 != 0 {
        return Some(Reason::SetId {
            path,
            privileged: super::has_cap_sys_admin(),
        });
    }
    if has_file_capabilities(&path) {
        return Some(Reason::FileCapabilities {
            path,
            privileged: super::has_cap_sys_admin(),
        });
    }
    match is_static_elf(&path) {
        Ok(true) => match crate::go_binary::GoBuild::read(&path) {
            Some(go) if go.honours_godebug_multipathtcp() => None,
            Some(go) => Some(Reason::StaticOldGo {
                path,
                version: go.version,
            }),
            None => Some(Reason::StaticallyLinked(path)),
        },
        _ => None,
    }
}

/// True when `path` carries file capabilities: `getxattr(2)` of `security.capability`
/// finds the attribute (its size is enough; the kernel checks its contents at `execve`).
pub fn has_file_capabilities(path: &Path) -> bool {
    rustix::fs::getxattr_query(path, c"security.capability").is_ok_and(|size| size > 0)
}

/// True for an ELF executable (or static-pie) without a `PT_INTERP` program header.
/// Scripts and other non-ELF files are false: their interpreter decides.
pub fn is_static_elf(path: &Path) -> io::Result<bool> {
    const PT_INTERP: u32 = 3;
    const ET_EXEC: u16 = 2;
    const ET_DYN: u16 = 3;
    let mut file = File::open(path)?;
    let mut ehdr = [0u8; 64];
    let n = read_up_to(&mut file, &mut ehdr)?;
    if n < 52 || ehdr[..4] != *b"\x7fELF" {
        return Ok(false);
    }
    let is64 = match ehdr[4] {
        1 => false,
        2 => true,
        _ => return Ok(false),
    };
    let le = match ehdr[5] {
        1 => true,
        2 => false,
        _ => return Ok(false),
    };
    let u16_at = |b: &[u8], o: usize| {
        let v = [b[o], b[o + 1]];
        if le {
            u16::from_le_bytes(v)
        } else {
            u16::from_be_bytes(v)
        }
    };
    let u32_at = |b: &[u8], o: usize| {
        let v = [b[o], b[o + 1], b[o + 2], b[o + 3]];
        if le {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        }
    };
    let u64_at = |b: &[u8], o: usize| {
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[o..o + 8]);
        if le {
            u64::from_le_bytes(v)
        } else {
            u64::from_be_bytes(v)
        }
    };
    let e_type = u16_at(&ehdr, 16);
    if e_type != ET_EXEC && e_type != ET_DYN {
        return Ok(false);
    }
    // e_phoff, e_phentsize, e_phnum (ELF64 / ELF32 layouts).
    let (phoff, phentsize, phnum) = if is64 {
        (u64_at(&ehdr, 32), u16_at(&ehdr, 54), u16_at(&ehdr, 56))
    } else {
        (
            u64::from(u32_at(&ehdr, 28)),
            u16_at(&ehdr, 42),
            u16_at(&ehdr, 44),
        )
    };
    if phnum == 0 || usize::from(phentsize) < 4 {
        return Ok(false);
    }
    let mut table = vec![0u8; usize::from(phentsize) * usize::from(phnum)];
    file.seek(SeekFrom::Start(phoff))?;
    file.read_exact(&mut table)?;
    let has_interp = table
        .chunks_exact(usize::from(phentsize))
        .any(|ph| u32_at(ph, 0) == PT_INTERP);
    Ok(!has_interp)
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            m => n += m,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_and_static_binaries() {
        // /bin/sh is dynamically linked on every distribution this runs on.
        assert!(!is_static_elf(Path::new("/bin/sh")).unwrap());
        assert_eq!(needs_seccomp(OsStr::new("sh")), None);
        // This test executable is dynamically linked too (Rust links glibc dynamically).
        let me = std::env::current_exe().unwrap();
        assert!(!is_static_elf(&me).unwrap());
        // A script is not ELF.
        let dir = std::env::temp_dir().join(format!("mptcpize-detect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("script");
        std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
        assert!(!is_static_elf(&script).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
