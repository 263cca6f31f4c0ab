//! Making the container's processes.
//!
//! `create` forks twice, as runc does:
//!
//! ```text
//! berth-runc create ──fork──► intermediate ──fork──► init (pid 1 of the new pid ns)
//!   joins it to the cgroup      setns / unshare          mounts, pivot_root, console,
//!   writes uid/gid maps         sends init's pid, exits  user, caps; waits on exec.fifo
//!   runs createRuntime hooks                              until `start`, then execve
//! ```
//!
//! The intermediate exists because a new pid namespace only applies to children of
//! the process that unshared it. All three talk over one SOCK_SEQPACKET pair
//! ([`crate::channel`]); a child that fails sends `Failed` with the reason, and the
//! parent undoes everything it made (state dir, cgroup, processes).
//!
//! `exec` forks the same way but joins the init's namespaces instead of making new ones.

pub mod create;
pub mod exec;
pub mod init;
pub mod tty;
pub mod wait;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Finds `program` the way execvp would, using the container's `PATH`.
pub fn find_executable(program: &str, env: &[String]) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return if is_exec(&p) {
            Ok(p)
        } else if p.exists() {
            Err(Error::Init(format!("exec: {program:?}: permission denied")))
        } else {
            Err(Error::Init(format!(
                "exec: {program:?}: no such file or directory"
            )))
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(program);
        if is_exec(&candidate) {
            return Ok(candidate);
        }
    }
    Err(Error::Init(format!(
        "exec: {program:?}: executable file not found in $PATH"
    )))
}
