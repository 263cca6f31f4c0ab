//! Control groups: put the container's processes in a cgroup and write its
//! `linux.resources` limits there.
//!
//! Two kernel interfaces exist and both are in use. cgroup v1 mounts one
//! hierarchy per controller (`/sys/fs/cgroup/memory`, `/sys/fs/cgroup/cpu`, …);
//! a container is a directory of the same name in each. cgroup v2 has a single
//! tree where a parent must enable a controller in `cgroup.subtree_control`
//! before its children get the controller's files. A "hybrid" host mounts the
//! v1 controllers plus an empty v2 tree at `/sys/fs/cgroup/unified`; it is
//! treated as v1 because that is where the controllers live. [`detect`] picks
//! the version once from the filesystem type of the mount root and [`manager`]
//! returns the matching [`CgroupManager`]; the rest of the runtime only sees
//! the trait.
//!
//! Ordering constraints that shaped this code (see `cgroups(7)`, the kernel's
//! `Documentation/admin-guide/cgroup-v1/*.rst` and `cgroup-v2.rst`):
//!
//! - v1 cpuset: a new cpuset cgroup starts with empty `cpuset.cpus` and
//!   `cpuset.mems`, and attaching a task to it fails with `ENOSPC`, so
//!   [`CgroupManager::apply`] fills them from the parent before joining.
//! - v1 memory: `memory.memsw.limit_in_bytes` (memory + swap) must never be
//!   below `memory.limit_in_bytes`, so the write order depends on whether the
//!   limits go up or down.
//! - v1 cpu: `cpu.cfs_period_us` is written before `cpu.cfs_quota_us`, and
//!   retried after it when the kernel refuses the pair in that order.
//! - v2: controllers are enabled top-down in `cgroup.subtree_control`; a
//!   process may only join a leaf.
//!
//! Every write goes through one helper that opens the file without `O_CREAT`
//! (cgroupfs refuses to create files) and reports the file and the value on
//! failure. Tests run the same code against temp dirs laid out like cgroupfs.

mod fs;
mod rootless;
mod stats;
mod v1;
mod v2;
mod validate;

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::LinuxResources;

pub use rootless::{own_paths, rootless_manager, NoCgroup};
pub use stats::{
    BlkioEntry, BlkioStats, CpuStats, CpuUsage, MemoryEntry, MemoryStats, PidsStats, Stats,
    Throttling,
};
pub use v1::V1Manager;
pub use v2::V2Manager;

/// The default mount root of the cgroup filesystem(s).
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

/// `CGROUP2_SUPER_MAGIC` from `linux/magic.h`.
const CGROUP2_SUPER_MAGIC: rustix::fs::FsWord = 0x6367_7270;

/// Which kernel interface the host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// One hierarchy per controller (also the hybrid layout).
    V1,
    /// The unified hierarchy.
    V2,
}

/// Errors from the cgroup managers. Each names the file (and value) involved.
#[derive(thiserror::Error, Debug)]
pub enum CgroupError {
    #[error("failed to write {value:?} to {}: {}", .path.display(), errno_text(.source))]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },
    #[error("failed to read {}: {}", .path.display(), errno_text(.source))]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to create cgroup directory {}: {}", .path.display(), errno_text(.source))]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to remove cgroup directory {}: {}", .path.display(), errno_text(.source))]
    RemoveDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to parse {}: {reason}", .path.display())]
    Parse { path: PathBuf, reason: String },
    #[error("invalid {field} {value}: {reason}")]
    Invalid {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("{what} is not supported: {reason}")]
    Unsupported { what: &'static str, reason: String },
    #[error("timed out waiting for {} to report {state}", .path.display())]
    Timeout { path: PathBuf, state: &'static str },
}

/// The kernel's text for an errno, without Rust's " (os error N)" suffix,
/// so messages read like the C tools' ("Invalid argument").
fn errno_text(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Detect the cgroup version from the filesystem type of `root` (normally
/// `/sys/fs/cgroup`): cgroup2 → [`CgroupVersion::V2`], anything else (the v1
/// and hybrid layouts put a tmpfs there) → [`CgroupVersion::V1`].
pub fn detect(root: &Path) -> CgroupVersion {
    match rustix::fs::statfs(root) {
        Ok(st) if st.f_type == CGROUP2_SUPER_MAGIC => CgroupVersion::V2,
        _ => CgroupVersion::V1,
    }
}

/// Resolve an OCI `linux.cgroupsPath` into an absolute cgroup path such as
/// `/berth/abc`. `None` or empty gives `/<id>` (runc's default without
/// systemd). A relative path is taken relative to the calling process's own
/// cgroup as listed in `/proc/self/cgroup`. `..` never climbs above the root.
pub fn resolve_path(cgroups_path: Option<&Path>, id: &str) -> Result<PathBuf, CgroupError> {
    resolve_path_with(cgroups_path, id, || {
        let file = Path::new("/proc/self/cgroup");
        let text = std::fs::read_to_string(file).map_err(|source| CgroupError::Read {
            path: file.to_path_buf(),
            source,
        })?;
        own_cgroup(&text).ok_or_else(|| CgroupError::Parse {
            path: file.to_path_buf(),
            reason: "no memory, v1 controller or unified (0::) line".to_string(),
        })
    })
}

/// [`resolve_path`] with the source of the caller's own cgroup injected.
fn resolve_path_with(
    cgroups_path: Option<&Path>,
    id: &str,
    own: impl FnOnce() -> Result<PathBuf, CgroupError>,
) -> Result<PathBuf, CgroupError> {
    let joined = match cgroups_path.filter(|p| !p.as_os_str().is_empty()) {
        None => Path::new("/").join(id),
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) => Path::new("/").join(own()?).join(p),
    };
    let cleaned = clean(&joined);
    if cleaned == Path::new("/") {
        return Err(CgroupError::Invalid {
            field: "linux.cgroupsPath",
            value: joined.display().to_string(),
            reason: "resolves to the root cgroup".to_string(),
        });
    }
    Ok(cleaned)
}

/// The caller's cgroup from the text of `/proc/self/cgroup`: the memory
/// controller's line, else the first v1 line with real (not `name=`)
/// controllers, else the unified `0::` line.
pub fn own_cgroup(proc_self_cgroup: &str) -> Option<PathBuf> {
    let mut first_v1 = None;
    let mut unified = None;
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(hier), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if hier == "0" && ctrls.is_empty() {
            unified.get_or_insert(path);
            continue;
        }
        if ctrls.split(',').any(|c| c == "memory") {
            return Some(PathBuf::from(path));
        }
        if !ctrls.is_empty() && !ctrls.starts_with("name=") {
            first_v1.get_or_insert(path);
        }
    }
    first_v1.or(unified).map(PathBuf::from)
}

/// Lexically normalise `path` into an absolute path: drop `.`, apply `..`
/// without going above `/`.
fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for comp in path.components() {
        match comp {
            Component::Normal(c) => out.push(c),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// `path` (absolute, cleaned) as a path relative to a hierarchy's mount dir.
fn relative(path: &Path) -> PathBuf {
    clean(path)
        .strip_prefix("/")
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// What the runtime needs from a cgroup, whichever the kernel interface.
pub trait CgroupManager {
    /// Create the cgroup dirs (mkdir -p) in every hierarchy and write `pid`
    /// into `cgroup.procs`.
    fn apply(&self, pid: i32) -> Result<(), CgroupError> {
        self.create()?;
        self.join(pid)
    }
    /// Create the cgroup dirs (mkdir -p) in every hierarchy, without joining.
    fn create(&self) -> Result<(), CgroupError>;
    /// Write `pid` into `cgroup.procs` of every hierarchy.
    fn join(&self, pid: i32) -> Result<(), CgroupError>;
    /// Move the calling process into the cgroup. Only for a single-threaded caller
    /// (a fresh fork): v1 writes `0` to `tasks`, which moves the caller's one
    /// thread and, unlike a write to `cgroup.procs`, skips the global
    /// threadgroup lock, whose write side waits for an RCU grace period
    /// (5–14 ms here, on every container start and exec; see the kernel's
    /// `cgroup_procs_write_start`). v2 writes `0` to `cgroup.procs`.
    fn join_self(&self) -> Result<(), CgroupError>;
    /// Write resource limits; returns warnings for settings the kernel lacks.
    fn set(&self, resources: &LinuxResources) -> Result<Vec<String>, CgroupError>;
    /// Freeze every process and wait until the kernel reports it frozen.
    fn freeze(&self) -> Result<(), CgroupError>;
    /// Thaw every process and wait until the kernel reports it thawed.
    fn thaw(&self) -> Result<(), CgroupError>;
    fn is_frozen(&self) -> Result<bool, CgroupError>;
    /// The pids in the cgroup itself (not in sub-cgroups).
    fn pids(&self) -> Result<Vec<i32>, CgroupError>;
    /// Usage statistics; files the kernel lacks read as zero.
    fn stats(&self) -> Result<Stats, CgroupError>;
    /// Remove the leaf cgroup dirs, retrying briefly while processes exit.
    /// Missing dirs are fine.
    fn destroy(&self) -> Result<(), CgroupError>;
    /// The directory per controller (v1: `"memory"` →
    /// `/sys/fs/cgroup/memory/<path>`; v2: `""` → `/sys/fs/cgroup/<path>`).
    fn paths(&self) -> BTreeMap<String, PathBuf>;
}

/// Build the manager for the absolute cgroup `path`; `root` is the cgroupfs
/// mount root (normally [`DEFAULT_ROOT`]).
pub fn manager(root: &Path, version: CgroupVersion, path: &Path) -> Box<dyn CgroupManager> {
    match version {
        CgroupVersion::V1 => Box::new(V1Manager::new(root, path)),
        CgroupVersion::V2 => Box::new(V2Manager::new(root, path)),
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command};

    use super::CgroupManager;

    /// Create `dir` and empty (or given) files in it, as the kernel would on mkdir.
    pub fn touch(dir: &Path, files: &[(&str, &str)]) {
        std::fs::create_dir_all(dir).unwrap();
        for (name, content) in files {
            std::fs::write(dir.join(name), content).unwrap();
        }
    }

    pub fn read(path: impl AsRef<Path>) -> String {
        std::fs::read_to_string(path.as_ref())
            .unwrap_or_else(|e| panic!("read {}: {e}", path.as_ref().display()))
    }

    pub fn is_root() -> bool {
        rustix::process::geteuid().is_root()
    }

    /// Kills the child and removes every test cgroup dir, even when the test
    /// panics halfway.
    pub struct Cleanup {
        pub child: Option<Child>,
        /// Dirs to remove, deepest first.
        pub dirs: Vec<PathBuf>,
        /// Freezer files to thaw before killing (a frozen task cannot die).
        pub thaw: Vec<(PathBuf, &'static str)>,
    }

    impl Drop for Cleanup {
        fn drop(&mut self) {
            for (file, value) in &self.thaw {
                let _ = std::fs::write(file, value);
            }
            if let Some(child) = self.child.as_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
            for dir in &self.dirs {
                for _ in 0..100 {
                    match std::fs::remove_dir(dir) {
                        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                            std::thread::sleep(std::time::Duration::from_millis(10))
                        }
                        _ => break,
                    }
                }
            }
        }
    }

    pub fn spawn_sleeper() -> Child {
        Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep")
    }

    /// The checks every manager passes on a real cgroup filesystem (STYLE
    /// rule 9): join, list, freeze, thaw, stats, destroy.
    pub fn conformance(mgr: &dyn CgroupManager, cleanup: &mut Cleanup) {
        let pid = cleanup.child.as_ref().unwrap().id() as i32;
        mgr.apply(pid).expect("apply");
        for dir in mgr.paths().values() {
            assert!(dir.is_dir(), "{} not created", dir.display());
        }
        assert!(mgr.pids().unwrap().contains(&pid));
        assert!(!mgr.is_frozen().unwrap());
        mgr.freeze().expect("freeze");
        assert!(mgr.is_frozen().unwrap());
        mgr.thaw().expect("thaw");
        assert!(!mgr.is_frozen().unwrap());
        let stats = serde_json::to_value(mgr.stats().expect("stats")).unwrap();
        for key in ["cpu", "memory", "pids", "blkio"] {
            assert!(stats.get(key).is_some(), "stats lack {key}: {stats}");
        }
        let mut child = cleanup.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        mgr.destroy().expect("destroy");
        for dir in mgr.paths().values() {
            assert!(!dir.exists(), "{} still exists", dir.display());
        }
        // Destroying twice is fine.
        mgr.destroy().expect("second destroy");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cgroup_prefers_memory_line() {
        let text = "9:name=systemd:/sys\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n";
        assert_eq!(own_cgroup(text), Some(PathBuf::from("/process_api/abc")));
    }

    #[test]
    fn own_cgroup_skips_named_hierarchies_without_memory() {
        let text = "3:name=systemd:/named\n2:cpu,cpuacct:/cpu-path\n0::/unified\n";
        assert_eq!(own_cgroup(text), Some(PathBuf::from("/cpu-path")));
    }

    #[test]
    fn own_cgroup_v2_uses_unified_line() {
        assert_eq!(
            own_cgroup("0::/user.slice/session-1.scope\n"),
            Some(PathBuf::from("/user.slice/session-1.scope"))
        );
        assert_eq!(own_cgroup("garbage\n"), None);
    }

    #[test]
    fn resolve_default_and_absolute_paths() {
        let no_own = || -> Result<PathBuf, CgroupError> { panic!("must not read own cgroup") };
        assert_eq!(
            resolve_path_with(None, "abc", no_own).unwrap(),
            PathBuf::from("/abc")
        );
        assert_eq!(
            resolve_path_with(Some(Path::new("")), "abc", no_own).unwrap(),
            PathBuf::from("/abc")
        );
        assert_eq!(
            resolve_path_with(Some(Path::new("/berth/./x/../abc")), "id", no_own).unwrap(),
            PathBuf::from("/berth/abc")
        );
        assert_eq!(
            resolve_path_with(Some(Path::new("/../../etc")), "id", no_own).unwrap(),
            PathBuf::from("/etc")
        );
    }

    #[test]
    fn resolve_relative_path_joins_own_cgroup() {
        let own = || own_cgroup("4:memory:/process_api/abc\n0::/\n").ok_or_else(|| unreachable!());
        assert_eq!(
            resolve_path_with(Some(Path::new("berth/ctr")), "id", own).unwrap(),
            PathBuf::from("/process_api/abc/berth/ctr")
        );
    }

    #[test]
    fn resolve_rejects_root() {
        let err = resolve_path_with(Some(Path::new("/..")), "id", || unreachable!()).unwrap_err();
        assert!(err.to_string().contains("linux.cgroupsPath"), "{err}");
    }

    #[test]
    fn resolve_relative_on_this_machine() {
        // Reads the real /proc/self/cgroup; every Linux has one.
        let p = resolve_path(Some(Path::new("berth-x")), "id").unwrap();
        assert!(p.is_absolute() && p.ends_with("berth-x"), "{}", p.display());
    }

    #[test]
    fn detect_tmpdir_is_v1_and_real_root_matches_mount() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(detect(tmp.path()), CgroupVersion::V1);
        let unified = Path::new("/sys/fs/cgroup/unified");
        if unified.join("cgroup.controllers").exists() {
            assert_eq!(detect(unified), CgroupVersion::V2);
        }
    }

    #[test]
    fn write_error_names_file_and_value() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("memory.limit_in_bytes");
        let err = fs::write(&file, "abc").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "failed to write \"abc\" to {}: No such file or directory",
                file.display()
            )
        );
    }
}
