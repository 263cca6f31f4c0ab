//! berth's OCI runtime: the library behind `berth-runc`.
//!
//! It implements the OCI runtime spec's lifecycle (create, start, kill, delete, state)
//! plus runc's extras (exec, pause/resume, update, ps, events), for Linux. It is
//! synchronous and single-threaded on purpose: it forks, and forking a multi-threaded
//! process is unsound. The shim and the daemon drive it by exec, never by linking.

pub mod capabilities;
pub mod cgroups;
pub mod channel;
pub mod console;
pub mod error;
pub mod hooks;
pub mod logging;
pub mod ops;
pub mod process;
pub mod reexec;
pub mod rlimits;
pub mod rootfs;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod sys;
pub mod userns;

use std::path::Path;
use std::sync::OnceLock;

/// Where the cgroup filesystems are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The host's cgroup version, detected once per process.
pub fn cgroup_version() -> cgroups::CgroupVersion {
    static VERSION: OnceLock<bool> = OnceLock::new();
    let v2 = *VERSION.get_or_init(|| {
        matches!(
            cgroups::detect(Path::new(CGROUP_ROOT)),
            cgroups::CgroupVersion::V2
        )
    });
    if v2 {
        cgroups::CgroupVersion::V2
    } else {
        cgroups::CgroupVersion::V1
    }
}

pub fn cgroup_version_is_v2() -> bool {
    matches!(cgroup_version(), cgroups::CgroupVersion::V2)
}

/// The cgroup manager for a container's absolute cgroup path on this host. Rootless
/// (see [`userns::is_rootless`]), the cgroup is used only when it is delegated.
pub fn cgroup_manager(path: &Path) -> Box<dyn cgroups::CgroupManager> {
    if userns::is_rootless() {
        return cgroups::rootless_manager(Path::new(CGROUP_ROOT), cgroup_version(), path);
    }
    cgroups::manager(Path::new(CGROUP_ROOT), cgroup_version(), path)
}
