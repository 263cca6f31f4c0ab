//! Mounting [`Mount`] lists, for [`unpack_layers`](super::unpack_layers) and tests.
//!
//! The runtime mounts a container's root itself; the image store only needs to mount
//! a snapshot for as long as it takes to apply a layer into it. `mount(8)` is used
//! rather than the syscall because it takes exactly the type/source/options triple a
//! [`Mount`] holds (including `bind,ro`, which needs a second, remounting call) and
//! keeps this crate free of `unsafe`. [`MountGuard`] unmounts on drop, so a failure or
//! a panic between mount and unmount never leaves a mount behind.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Mount, Result, SnapshotError};

/// Mounts that are unmounted (in reverse order) when dropped.
#[derive(Debug)]
pub struct MountGuard {
    targets: Vec<PathBuf>,
}

impl MountGuard {
    /// Mounts `mounts` in order under `root` (a mount's `target` is relative to it).
    pub fn mount(mounts: &[Mount], root: &Path) -> Result<MountGuard> {
        let mut guard = MountGuard {
            targets: Vec::new(),
        };
        for m in mounts {
            let target = match &m.target {
                Some(t) => root.join(t.trim_start_matches('/')),
                None => root.to_owned(),
            };
            let mut cmd = Command::new("mount");
            let mut options = m.options.clone();
            if m.typ == "bind" {
                if !options.iter().any(|o| o == "bind" || o == "rbind") {
                    options.insert(0, "bind".into());
                }
            } else {
                cmd.arg("-t").arg(&m.typ);
            }
            if !options.is_empty() {
                cmd.arg("-o").arg(options.join(","));
            }
            cmd.arg(&m.source).arg(&target);
            run(cmd)?;
            guard.targets.push(target);
        }
        Ok(guard)
    }

    /// Unmounts now, reporting a failure (drop only tries).
    ///
    /// A mount can be busy for a moment after its last user is done: a process forked
    /// by another thread (a parallel `mount`, `cp`) may briefly hold an inherited fd
    /// under it. So a busy unmount is retried, and as a last resort detached lazily:
    /// the writes are already in the tree, and the mount leaves the namespace at once.
    pub fn unmount(mut self) -> Result<()> {
        while let Some(t) = self.targets.pop() {
            let mut last = None;
            for attempt in 0..5 {
                if attempt > 0 {
                    std::thread::sleep(std::time::Duration::from_millis(20 * attempt));
                }
                let mut cmd = Command::new("umount");
                cmd.arg(&t);
                match run(cmd) {
                    Ok(()) => {
                        last = None;
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            if let Some(e) = last {
                let mut lazy = Command::new("umount");
                lazy.arg("-l").arg(&t);
                if run(lazy).is_err() {
                    self.targets.push(t);
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        while let Some(t) = self.targets.pop() {
            // Lazy, so that a busy mount still disappears from the tree.
            let _ = Command::new("umount").arg("-l").arg(&t).output();
        }
    }
}

fn run(mut cmd: Command) -> Result<()> {
    let out = cmd.output().map_err(|e| SnapshotError::Command {
        command: format!("{cmd:?}"),
        stderr: e.to_string(),
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(SnapshotError::Command {
            command: format!("{cmd:?}"),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}
