//! Mounting a container's root from its snapshot's mount list.
//!
//! The snapshotter describes mounts; the daemon mounts them at the bundle's
//! `rootfs` for the container's life (create → remove), so `cp`, `export` and
//! `diff` work on stopped containers too. The mount syscall, not `mount(8)`: the
//! daemon is multi-threaded and a create should not pay for a fork.

use std::path::Path;

use berth_image::snapshot::Mount;
use rustix::mount::{MountFlags, UnmountFlags};

use crate::error::{Error, Result};

/// Mounts `mounts` at `target` (each mount's own `target`, if any, is under it).
pub fn mount(mounts: &[Mount], target: &Path) -> Result<()> {
    let mut done: Vec<std::path::PathBuf> = Vec::new();
    for m in mounts {
        let at = match &m.target {
            Some(t) => target.join(t.trim_start_matches('/')),
            None => target.to_owned(),
        };
        let mut flags = MountFlags::empty();
        let mut data = Vec::new();
        for o in &m.options {
            match o.as_str() {
                "ro" => flags |= MountFlags::RDONLY,
                "rw" => {}
                "bind" => flags |= MountFlags::BIND,
                "rbind" => flags |= MountFlags::BIND | MountFlags::REC,
                other => data.push(other),
            }
        }
        let typ = if m.typ == "bind" { "" } else { m.typ.as_str() };
        if m.typ == "bind" {
            flags |= MountFlags::BIND;
        }
        let data = std::ffi::CString::new(data.join(",")).unwrap_or_default();
        let res = rustix::mount::mount(m.source.as_str(), &at, typ, flags, Some(data.as_c_str()));
        if let Err(e) = res {
            for d in done.iter().rev() {
                let _ = rustix::mount::unmount(d, UnmountFlags::DETACH);
            }
            return Err(Error::internal(format!(
                "failed to mount the container's root at {}: {e}",
                at.display()
            )));
        }
        done.push(at);
    }
    Ok(())
}

/// Whether something is mounted exactly at `target`.
pub fn is_mounted(target: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = target.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4) == Some(&*want))
}

/// Unmounts `target` (and anything under it); lazily when busy.
pub fn unmount(target: &Path) -> Result<()> {
    for _ in 0..16 {
        if !is_mounted(target) {
            return Ok(());
        }
        match rustix::mount::unmount(target, UnmountFlags::empty()) {
            Ok(()) => continue,
            Err(rustix::io::Errno::BUSY) => {
                rustix::mount::unmount(target, UnmountFlags::DETACH).map_err(|e| {
                    Error::internal(format!("failed to unmount {}: {e}", target.display()))
                })?;
            }
            Err(rustix::io::Errno::INVAL) => return Ok(()),
            Err(e) => {
                return Err(Error::internal(format!(
                    "failed to unmount {}: {e}",
                    target.display()
                )))
            }
        }
    }
    Ok(())
}
