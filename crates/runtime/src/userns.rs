//! User namespaces and rootless mode.
//!
//! A container with a new user namespace gets its uid and gid maps from the parent,
//! written to `/proc/<pid>/uid_map` and `gid_map` of the intermediate process after it
//! has unshared its user namespace and before it makes the other namespaces (they must
//! be owned by the new user namespace, so that the container's root holds its
//! capabilities there and nowhere else).
//!
//! Who may write which map is the kernel's rule (`user_namespaces(7)`, "Defining user
//! and group ID mappings"):
//!
//! - a writer with `CAP_SETUID` (`CAP_SETGID` for `gid_map`) in the parent namespace
//!   may map any ids it has itself (root on the host: any);
//! - an unprivileged writer may write one line only, mapping its own effective uid (or
//!   gid) with size 1, and for `gid_map` only after writing `deny` to
//!   `/proc/<pid>/setgroups` (otherwise the container's root could drop a group the
//!   host uses to deny it access, CVE-2014-8989);
//! - anything wider needs the setuid helpers `newuidmap`/`newgidmap` (Debian's `uidmap`
//!   package), which check the request against `/etc/subuid` and `/etc/subgid`.
//!
//! [`IdMapPlan::resolve`] picks the way before anything is forked, so a mapping that
//! cannot be written is a config error that leaves nothing behind.
//!
//! "Rootless" is runc's word for a runtime that runs without real root: an unprivileged
//! user, or root inside a user namespace. Then cgroups are used only when delegated
//! (see [`crate::cgroups::rootless_manager`]), and device nodes are bind-mounted from
//! the host's `/dev` instead of made with mknod (see [`crate::rootfs`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use oci_spec::runtime::{Linux, LinuxIdMapping};

use crate::error::{Error, Result};

/// Whether this process runs without real root: a non-zero effective uid, or inside a
/// user namespace other than the initial one. Computed once per process.
pub fn is_rootless() -> bool {
    static ROOTLESS: OnceLock<bool> = OnceLock::new();
    *ROOTLESS.get_or_init(|| !rustix::process::geteuid().is_root() || in_user_namespace())
}

/// Whether this process is inside a user namespace other than the initial one.
pub fn in_user_namespace() -> bool {
    static IN_USERNS: OnceLock<bool> = OnceLock::new();
    *IN_USERNS.get_or_init(|| {
        std::fs::read_to_string("/proc/self/uid_map")
            .map(|text| !is_initial_map(&text))
            .unwrap_or(false)
    })
}

/// The initial user namespace maps every id onto itself: `0 0 4294967295`.
fn is_initial_map(uid_map: &str) -> bool {
    let lines: Vec<Vec<&str>> = uid_map
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|f: &Vec<&str>| !f.is_empty())
        .collect();
    lines.len() == 1 && lines[0] == ["0", "0", "4294967295"]
}

/// Which id map, for messages and for the helper's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Uid,
    Gid,
}

impl Kind {
    fn field(self) -> &'static str {
        match self {
            Kind::Uid => "linux.uidMappings",
            Kind::Gid => "linux.gidMappings",
        }
    }
    fn file(self) -> &'static str {
        match self {
            Kind::Uid => "uid_map",
            Kind::Gid => "gid_map",
        }
    }
    fn helper(self) -> &'static str {
        match self {
            Kind::Uid => "newuidmap",
            Kind::Gid => "newgidmap",
        }
    }
    fn id_name(self) -> &'static str {
        match self {
            Kind::Uid => "uid",
            Kind::Gid => "gid",
        }
    }
}

/// How one map gets written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// Write `/proc/<pid>/{uid,gid}_map` ourselves.
    Direct,
    /// Write `deny` to `/proc/<pid>/setgroups`, then `gid_map` ourselves: the
    /// unprivileged single-gid case.
    DenySetgroupsThenDirect,
    /// Run the setuid helper (`newuidmap` or `newgidmap`) at this path.
    Helper(PathBuf),
}

/// Who is writing the maps: what [`plan_one`] decides from.
#[derive(Debug, Clone, Copy)]
struct Writer {
    /// The effective uid (or gid) of this process.
    own_id: u32,
    /// `CAP_SETUID` (or `CAP_SETGID`) in this process's user namespace.
    privileged: bool,
}

/// The maps of a new user namespace and how each is written.
#[derive(Debug, Clone)]
pub struct IdMapPlan {
    uid: Vec<(u32, u32, u32)>,
    gid: Vec<(u32, u32, u32)>,
    uid_method: Method,
    gid_method: Method,
}

fn triples(maps: &Option<Vec<LinuxIdMapping>>) -> Vec<(u32, u32, u32)> {
    maps.iter()
        .flatten()
        .map(|m| (m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// The text the kernel takes: one `inside outside count` line per mapping.
fn map_text(maps: &[(u32, u32, u32)]) -> String {
    maps.iter()
        .map(|(c, h, s)| format!("{c} {h} {s}\n"))
        .collect()
}

/// The maps for messages: `0 1000 1, 1 100000 65536`.
fn map_list(maps: &[(u32, u32, u32)]) -> String {
    let lines: Vec<String> = maps
        .iter()
        .map(|(c, h, s)| format!("{c} {h} {s}"))
        .collect();
    lines.join(", ")
}

/// Picks how to write one map; `find_helper` looks a helper up by name.
fn plan_one(
    kind: Kind,
    maps: &[(u32, u32, u32)],
    writer: Writer,
    find_helper: impl Fn(&str) -> Option<PathBuf>,
) -> Result<Method> {
    if writer.privileged {
        return Ok(Method::Direct);
    }
    if let [(_, host, 1)] = maps {
        if *host == writer.own_id {
            return Ok(match kind {
                Kind::Uid => Method::Direct,
                Kind::Gid => Method::DenySetgroupsThenDirect,
            });
        }
    }
    match find_helper(kind.helper()) {
        Some(path) => Ok(Method::Helper(path)),
        None => Err(Error::config(format!(
            "{}: \"{}\" maps more than your own {} {}; an unprivileged user needs {} for that \
             (Debian package uidmap, with an entry in /etc/sub{}), and it is not installed \
             (or map only container id 0 to {} with size 1)",
            kind.field(),
            map_list(maps),
            kind.id_name(),
            writer.own_id,
            kind.helper(),
            kind.id_name(),
            writer.own_id,
        ))),
    }
}

/// `name` in `$PATH` (or the usual system directories when it is unset).
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            rustix::fs::access(p.as_path(), rustix::fs::Access::EXEC_OK).is_ok() && p.is_file()
        })
}

fn has_cap(cap: caps::Capability) -> bool {
    caps::has_cap(None, caps::CapSet::Effective, cap).unwrap_or(false)
}

impl IdMapPlan {
    /// Decides how the spec's maps will be written by this process; an error when an
    /// unprivileged caller asks for a mapping it cannot have.
    pub fn resolve(linux: &Linux) -> Result<IdMapPlan> {
        let uid_writer = Writer {
            own_id: rustix::process::geteuid().as_raw(),
            privileged: has_cap(caps::Capability::CAP_SETUID),
        };
        let gid_writer = Writer {
            own_id: rustix::process::getegid().as_raw(),
            privileged: has_cap(caps::Capability::CAP_SETGID),
        };
        Self::resolve_with(linux, uid_writer, gid_writer, find_in_path)
    }

    fn resolve_with(
        linux: &Linux,
        uid_writer: Writer,
        gid_writer: Writer,
        find_helper: impl Fn(&str) -> Option<PathBuf>,
    ) -> Result<IdMapPlan> {
        let uid = triples(linux.uid_mappings());
        let gid = triples(linux.gid_mappings());
        let uid_method = plan_one(Kind::Uid, &uid, uid_writer, &find_helper)?;
        let gid_method = plan_one(Kind::Gid, &gid, gid_writer, &find_helper)?;
        Ok(IdMapPlan {
            uid,
            gid,
            uid_method,
            gid_method,
        })
    }

    /// Writes both maps of process `pid`, which has just unshared its user namespace.
    pub fn write(&self, pid: i32) -> Result<()> {
        self.write_under(Path::new("/proc"), pid)
    }

    fn write_under(&self, proc: &Path, pid: i32) -> Result<()> {
        write_one(proc, pid, Kind::Uid, &self.uid, &self.uid_method)?;
        write_one(proc, pid, Kind::Gid, &self.gid, &self.gid_method)
    }

    /// Whether `setgroups(2)` will be denied in the container (the unprivileged
    /// single-gid case): `process.user.additionalGids` cannot be applied then.
    pub fn denies_setgroups(&self) -> bool {
        self.gid_method == Method::DenySetgroupsThenDirect
    }
}

fn write_one(
    proc: &Path,
    pid: i32,
    kind: Kind,
    maps: &[(u32, u32, u32)],
    method: &Method,
) -> Result<()> {
    let dir = proc.join(pid.to_string());
    let text = map_text(maps);
    match method {
        Method::Helper(helper) => return run_helper(helper, pid, kind, maps),
        Method::DenySetgroupsThenDirect => {
            std::fs::write(dir.join("setgroups"), b"deny").map_err(|e| {
                Error::config(format!(
                    "{}: cannot write \"deny\" to /proc/{pid}/setgroups: {e}",
                    kind.field()
                ))
            })?;
        }
        Method::Direct => {}
    }
    std::fs::write(dir.join(kind.file()), text.as_bytes()).map_err(|e| {
        Error::config(format!(
            "{}: the kernel refused \"{}\": {e}",
            kind.field(),
            map_list(maps)
        ))
    })
}

/// The helper's command line: `newuidmap <pid> <inside> <outside> <count> ...`.
fn helper_args(pid: i32, maps: &[(u32, u32, u32)]) -> Vec<String> {
    let mut args = vec![pid.to_string()];
    for (c, h, s) in maps {
        args.extend([c.to_string(), h.to_string(), s.to_string()]);
    }
    args
}

fn run_helper(helper: &Path, pid: i32, kind: Kind, maps: &[(u32, u32, u32)]) -> Result<()> {
    let out = Command::new(helper)
        .args(helper_args(pid, maps))
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            Error::config(format!(
                "{}: cannot run {}: {e}",
                kind.field(),
                helper.display()
            ))
        })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(Error::config(format!(
        "{}: {} refused \"{}\" ({}): {}",
        kind.field(),
        helper.display(),
        map_list(maps),
        out.status,
        stderr.trim()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn linux(uid: &[(u32, u32, u32)], gid: &[(u32, u32, u32)]) -> Linux {
        let m = |v: &[(u32, u32, u32)]| {
            v.iter()
                .map(|&(c, h, s)| serde_json::json!({"containerID": c, "hostID": h, "size": s}))
                .collect::<Vec<_>>()
        };
        serde_json::from_value(serde_json::json!({"uidMappings": m(uid), "gidMappings": m(gid)}))
            .unwrap()
    }

    const USER: Writer = Writer {
        own_id: 1000,
        privileged: false,
    };
    const ROOT: Writer = Writer {
        own_id: 0,
        privileged: true,
    };

    #[test]
    fn initial_namespace_is_recognised() {
        assert!(is_initial_map("         0          0 4294967295\n"));
        assert!(!is_initial_map("         0       1000          1\n"));
        assert!(!is_initial_map("0 0 4294967295\n1 1 1\n"));
        assert!(!is_initial_map(""));
    }

    #[test]
    fn root_writes_any_map_itself() {
        let l = linux(&[(0, 100000, 65536)], &[(0, 100000, 65536)]);
        let plan = IdMapPlan::resolve_with(&l, ROOT, ROOT, |_| None).unwrap();
        assert_eq!(plan.uid_method, Method::Direct);
        assert_eq!(plan.gid_method, Method::Direct);
        assert!(!plan.denies_setgroups());
    }

    #[test]
    fn user_maps_own_id_and_denies_setgroups() {
        let l = linux(&[(0, 1000, 1)], &[(0, 1000, 1)]);
        let plan = IdMapPlan::resolve_with(&l, USER, USER, |_| None).unwrap();
        assert_eq!(plan.uid_method, Method::Direct);
        assert_eq!(plan.gid_method, Method::DenySetgroupsThenDirect);
        assert!(plan.denies_setgroups());
    }

    #[test]
    fn user_with_wide_map_needs_the_helpers() {
        let l = linux(&[(0, 1000, 1), (1, 100000, 65536)], &[(0, 1000, 1)]);
        let err = IdMapPlan::resolve_with(&l, USER, USER, |_| None).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("linux.uidMappings") && msg.contains("newuidmap"),
            "{msg}"
        );
        let plan = IdMapPlan::resolve_with(&l, USER, USER, |name| {
            Some(PathBuf::from(format!("/usr/bin/{name}")))
        })
        .unwrap();
        assert_eq!(
            plan.uid_method,
            Method::Helper(PathBuf::from("/usr/bin/newuidmap"))
        );
        assert_eq!(plan.gid_method, Method::DenySetgroupsThenDirect);
        // Someone else's id, even a single one, is not the user's to map.
        let l = linux(&[(0, 1001, 1)], &[(0, 1000, 1)]);
        assert!(IdMapPlan::resolve_with(&l, USER, USER, |_| None).is_err());
    }

    #[test]
    fn maps_are_written_in_order_with_setgroups_first() {
        let proc = tempfile::tempdir().unwrap();
        std::fs::create_dir(proc.path().join("42")).unwrap();
        let l = linux(&[(0, 1000, 1)], &[(0, 1000, 1)]);
        let plan = IdMapPlan::resolve_with(&l, USER, USER, |_| None).unwrap();
        plan.write_under(proc.path(), 42).unwrap();
        let read = |f: &str| std::fs::read_to_string(proc.path().join("42").join(f)).unwrap();
        assert_eq!(read("uid_map"), "0 1000 1\n");
        assert_eq!(read("gid_map"), "0 1000 1\n");
        assert_eq!(read("setgroups"), "deny");
    }

    #[test]
    fn helper_gets_pid_and_triples() {
        assert_eq!(
            helper_args(7, &[(0, 1000, 1), (1, 100000, 65536)]),
            ["7", "0", "1000", "1", "1", "100000", "65536"]
        );
        // A stand-in helper that records its argv, and one that fails.
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("argv");
        let ok = dir.path().join("newuidmap");
        std::fs::write(&ok, format!("#!/bin/sh\necho \"$@\" > {}\n", log.display())).unwrap();
        std::fs::set_permissions(&ok, std::fs::Permissions::from_mode(0o755)).unwrap();
        run_helper(&ok, 7, Kind::Uid, &[(0, 1000, 1), (1, 100000, 65536)]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "7 0 1000 1 1 100000 65536\n"
        );
        let bad = dir.path().join("newgidmap");
        std::fs::write(
            &bad,
            "#!/bin/sh\necho 'gid range not allowed' >&2\nexit 1\n",
        )
        .unwrap();
        std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = run_helper(&bad, 7, Kind::Gid, &[(0, 5, 1)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("linux.gidMappings") && err.contains("gid range not allowed"),
            "{err}"
        );
    }
}
