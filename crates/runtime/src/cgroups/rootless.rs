//! Cgroups for a rootless runtime: used when delegated, else none at all.
//!
//! An unprivileged user (or root in a user namespace) can make and join cgroups only
//! where the cgroup tree was delegated to it (`cgroups(7)`, "Cgroups v2 delegation";
//! on v1, a writable subtree). runc's rule is followed: when the container's cgroup
//! can be made, it is used as root would use it; when it cannot, the container runs in
//! the caller's own cgroups, with a debug message, and only a spec that asks for
//! limits is refused (device rules excepted: without mknod there is nothing they
//! guard). Operations that need a cgroup (pause, resume, stats, ps) say so clearly.
//!
//! "Delegated" is decided from permissions alone, without creating anything, so every
//! berth-runc command (create, delete, pause, …) reaches the same answer for the
//! same container.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::{manager, CgroupError, CgroupManager, CgroupVersion, Stats};

/// The manager for a rootless caller: the real one for `path` when every hierarchy
/// lets the caller make (or join) it, else [`NoCgroup`].
pub fn rootless_manager(
    root: &Path,
    version: CgroupVersion,
    path: &Path,
) -> Box<dyn CgroupManager> {
    let real = manager(root, version, path);
    let paths = real.paths();
    match paths.values().find(|dir| !delegated(dir)) {
        None if !paths.is_empty() => real,
        found => {
            // Said once per process: every operation builds its manager anew.
            static SAID: std::sync::Once = std::sync::Once::new();
            if let Some(dir) = found {
                SAID.call_once(|| crate::logging::debug(&format!(
                    "rootless: {} is not delegated to this user; running without a cgroup of the container's own",
                    dir.display()
                )));
            }
            Box::new(NoCgroup {
                path: path.to_path_buf(),
            })
        }
    }
}

/// Whether this process may use the cgroup dir `dir`: join it when it exists, make it
/// when it does not (its nearest existing ancestor is writable).
fn delegated(dir: &Path) -> bool {
    use rustix::fs::{access, Access};
    if dir.is_dir() {
        return access(dir.join("cgroup.procs").as_path(), Access::WRITE_OK).is_ok();
    }
    let mut at = dir.parent();
    while let Some(p) = at {
        if p.is_dir() {
            return access(p, Access::WRITE_OK | Access::EXEC_OK).is_ok();
        }
        at = p.parent();
    }
    false
}

/// The caller's own cgroup dirs, keyed as [`CgroupManager::paths`] keys them (v1: by
/// controller; v2: `""`), from the text of `/proc/self/cgroup`. A container without a
/// cgroup of its own stays in these, and sees them at `/sys/fs/cgroup`.
pub fn own_paths(
    root: &Path,
    version: CgroupVersion,
    proc_self_cgroup: &str,
) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(hier), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let path = Path::new(path);
        match version {
            CgroupVersion::V2 if hier == "0" && ctrls.is_empty() => {
                out.extend(manager(root, version, path).paths());
            }
            CgroupVersion::V1 if !ctrls.is_empty() => {
                let dirs = manager(root, version, path).paths();
                for c in ctrls.split(',') {
                    if let Some(d) = dirs.get(c) {
                        out.insert(c.to_string(), d.clone());
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether `resources` asks for anything besides device rules. Empty sections
/// (`"memory": {}`) ask for nothing.
fn has_limits(resources: &LinuxResources) -> bool {
    fn non_empty(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::Null => false,
            serde_json::Value::Array(a) => !a.is_empty(),
            serde_json::Value::Object(o) => o.values().any(non_empty),
            _ => true,
        }
    }
    match serde_json::to_value(resources) {
        Ok(serde_json::Value::Object(mut o)) => {
            o.remove("devices");
            o.values().any(non_empty)
        }
        _ => false,
    }
}

/// No cgroup: what a rootless container gets when its cgroup is not delegated.
#[derive(Debug, Clone)]
pub struct NoCgroup {
    /// The cgroup path the container would have had, for messages.
    pub path: PathBuf,
}

impl NoCgroup {
    fn unsupported(&self, what: &'static str) -> CgroupError {
        CgroupError::Unsupported {
            what,
            reason: format!(
                "berth-runc runs rootless and the cgroup {} is not delegated to uid {}",
                self.path.display(),
                rustix::process::geteuid().as_raw()
            ),
        }
    }
}

impl CgroupManager for NoCgroup {
    fn create(&self) -> Result<(), CgroupError> {
        Ok(())
    }
    fn join(&self, _pid: i32) -> Result<(), CgroupError> {
        Ok(())
    }
    fn join_self(&self) -> Result<(), CgroupError> {
        Ok(())
    }
    fn set(&self, resources: &LinuxResources) -> Result<Vec<String>, CgroupError> {
        if has_limits(resources) {
            return Err(self.unsupported("linux.resources (cgroup limits)"));
        }
        Ok(Vec::new())
    }
    fn freeze(&self) -> Result<(), CgroupError> {
        Err(self.unsupported("freezing (pause)"))
    }
    fn thaw(&self) -> Result<(), CgroupError> {
        Err(self.unsupported("thawing (resume)"))
    }
    fn is_frozen(&self) -> Result<bool, CgroupError> {
        Ok(false)
    }
    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        Err(self.unsupported("listing the container's processes"))
    }
    fn stats(&self) -> Result<Stats, CgroupError> {
        Err(self.unsupported("cgroup statistics"))
    }
    fn destroy(&self) -> Result<(), CgroupError> {
        Ok(())
    }
    fn paths(&self) -> BTreeMap<String, PathBuf> {
        BTreeMap::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::testutil::touch;

    #[test]
    fn limits_other_than_devices_are_refused() {
        let none = NoCgroup {
            path: PathBuf::from("/c"),
        };
        let r: LinuxResources =
            serde_json::from_str(r#"{"devices":[{"allow":false,"access":"rwm"}],"memory":{}}"#)
                .unwrap();
        assert_eq!(none.set(&r).unwrap(), Vec::<String>::new());
        let r: LinuxResources = serde_json::from_str(r#"{"pids":{"limit":10}}"#).unwrap();
        let err = none.set(&r).unwrap_err().to_string();
        assert!(
            err.contains("linux.resources") && err.contains("/c"),
            "{err}"
        );
        assert!(none.freeze().unwrap_err().to_string().contains("pause"));
        assert!(!none.is_frozen().unwrap());
        none.create().unwrap();
        none.destroy().unwrap();
    }

    #[test]
    fn own_paths_follow_proc_self_cgroup() {
        let root = tempfile::tempdir().unwrap();
        for c in ["memory", "cpu,cpuacct", "pids", "systemd"] {
            touch(&root.path().join(c), &[]);
        }
        let text = "9:name=systemd:/user\n4:memory:/a/b\n3:pids:/\n2:cpu,cpuacct:/c\n0::/\n";
        let got = own_paths(root.path(), CgroupVersion::V1, text);
        let r = root.path();
        assert_eq!(got["memory"], r.join("memory/a/b"));
        assert_eq!(got["cpu"], r.join("cpu,cpuacct/c"));
        assert_eq!(got["cpuacct"], r.join("cpu,cpuacct/c"));
        assert_eq!(got["pids"], r.join("pids"));
        assert_eq!(got["name=systemd"], r.join("systemd/user"));
        let got = own_paths(r, CgroupVersion::V2, "0::/user.slice/x.scope\n");
        assert_eq!(
            got.values().collect::<Vec<_>>(),
            [&r.join("user.slice/x.scope")]
        );
    }

    #[test]
    fn delegation_is_read_from_permissions() {
        let root = tempfile::tempdir().unwrap();
        let leaf = root.path().join("a");
        touch(&leaf, &[("cgroup.procs", "")]);
        // Root passes every access check; the negative case needs an unprivileged
        // caller and is covered by tests/rootless.rs.
        assert!(delegated(&leaf));
        assert!(delegated(&root.path().join("b/c")));
    }
}
