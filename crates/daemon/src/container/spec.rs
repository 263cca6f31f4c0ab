//! The OCI spec berthd writes for a container: Docker's defaults (mounts, devices,
//! capabilities, masked and read-only paths), then the image's config, then the
//! user's `Config` and `HostConfig`.
//!
//! Docker's defaults are moby's `oci/defaults.go` and `daemon/oci_linux.go`; the
//! capability list is Docker's default 14. Seccomp and the security options belong
//! to issue #5 and are not written yet.

use std::path::Path;

use serde_json::{json, Value};

use super::model::{Config, HostConfig};
use crate::error::{Error, Result};

/// Docker's default capabilities.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The default `PATH` when the image sets none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where `--init` finds its init on the host (Debian's `tini` package).
pub const INIT_BINARY: &str = "/usr/bin/tini-static";

/// What the spec needs besides the container's configs.
pub struct SpecInput<'a> {
    pub id: &'a str,
    pub config: &'a Config,
    pub host: &'a HostConfig,
    /// The process to run (entrypoint + cmd, resolved).
    pub args: &'a [String],
    /// The environment (image's merged with the user's).
    pub env: &'a [String],
    pub rootfs: &'a Path,
    /// The container directory with `hostname`, `hosts`, `resolv.conf`.
    pub container_dir: &'a Path,
    pub cgroup_parent: &'a str,
    pub init: bool,
}

/// A user mount: `-v /host:/ctr[:ro]` (`HostConfig.Binds`), `--mount type=bind|tmpfs`
/// (`HostConfig.Mounts`) and `--tmpfs` (`HostConfig.Tmpfs`). Named volumes are
/// issue #6's and refused clearly until then.
#[derive(Debug, Clone, PartialEq)]
pub struct UserMount {
    pub destination: String,
    pub typ: &'static str,
    pub source: String,
    pub options: Vec<String>,
}

fn invalid_mount(typ: &str, msg: impl std::fmt::Display) -> Error {
    Error::invalid(format!("invalid mount config for type \"{typ}\": {msg}"))
}

/// Parses and checks the user's mounts (bind sources must exist, destinations must
/// be absolute), before anything is made.
pub fn parse_mounts(h: &HostConfig) -> Result<Vec<UserMount>> {
    let mut out = Vec::new();
    for b in h.binds.iter().flatten() {
        let parts: Vec<&str> = b.split(':').collect();
        let (src, dst, opts) = match parts.as_slice() {
            [s, d] => (*s, *d, ""),
            [s, d, o] => (*s, *d, *o),
            _ => {
                return Err(Error::invalid(format!(
                    "invalid volume specification: '{b}'"
                )))
            }
        };
        if !src.starts_with('/') {
            return Err(Error::invalid(format!(
                "invalid volume specification: '{b}': named volumes are not supported yet (issue #6); use an absolute host path"
            )));
        }
        if !dst.starts_with('/') {
            return Err(Error::invalid(format!("invalid volume specification: '{b}': invalid mount path: '{dst}' mount path must be absolute")));
        }
        if !Path::new(src).exists() {
            return Err(invalid_mount(
                "bind",
                format!("bind source path does not exist: {src}"),
            ));
        }
        let mut options = vec!["rbind".to_owned()];
        for o in opts.split(',').filter(|o| !o.is_empty()) {
            match o {
                "ro" | "rw" => options.push(o.to_owned()),
                "z" | "Z" | "nocopy" => {}
                "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {
                    options.push(o.to_owned())
                }
                other => {
                    return Err(Error::invalid(format!(
                        "invalid volume specification: '{b}': invalid mode: {other}"
                    )))
                }
            }
        }
        if !options
            .iter()
            .any(|o| o.ends_with("private") || o.ends_with("shared") || o.ends_with("slave"))
        {
            options.push("rprivate".to_owned());
        }
        out.push(UserMount {
            destination: dst.to_owned(),
            typ: "bind",
            source: src.to_owned(),
            options,
        });
    }
    if let Some(tmpfs) = h.extra.get("Tmpfs").and_then(|v| v.as_object()) {
        for (dst, opts) in tmpfs {
            if !dst.starts_with('/') {
                return Err(invalid_mount(
                    "tmpfs",
                    format!("invalid mount path: '{dst}' mount path must be absolute"),
                ));
            }
            let mut options = vec!["nosuid".to_owned(), "nodev".to_owned(), "noexec".to_owned()];
            options.extend(
                opts.as_str()
                    .unwrap_or("")
                    .split(',')
                    .filter(|o| !o.is_empty())
                    .map(str::to_owned),
            );
            out.push(UserMount {
                destination: dst.clone(),
                typ: "tmpfs",
                source: "tmpfs".into(),
                options,
            });
        }
    }
    if let Some(mounts) = h.extra.get("Mounts").and_then(|v| v.as_array()) {
        for m in mounts {
            let typ = m["Type"].as_str().unwrap_or("");
            let dst = m["Target"].as_str().unwrap_or("").to_owned();
            if !dst.starts_with('/') {
                return Err(invalid_mount(
                    typ,
                    format!("invalid mount path: '{dst}' mount path must be absolute"),
                ));
            }
            let ro = m["ReadOnly"].as_bool().unwrap_or(false);
            match typ {
                "bind" => {
                    let src = m["Source"].as_str().unwrap_or("").to_owned();
                    if !Path::new(&src).exists() {
                        return Err(invalid_mount(
                            "bind",
                            format!("bind source path does not exist: {src}"),
                        ));
                    }
                    let prop = m["BindOptions"]["Propagation"]
                        .as_str()
                        .filter(|p| !p.is_empty())
                        .unwrap_or("rprivate");
                    let mut options = vec!["rbind".to_owned(), prop.to_owned()];
                    if ro {
                        options.push("ro".into());
                    }
                    out.push(UserMount {
                        destination: dst,
                        typ: "bind",
                        source: src,
                        options,
                    });
                }
                "tmpfs" => {
                    let mut options =
                        vec!["nosuid".to_owned(), "nodev".to_owned(), "noexec".to_owned()];
                    if let Some(size) = m["TmpfsOptions"]["SizeBytes"].as_i64().filter(|s| *s > 0) {
                        options.push(format!("size={size}"));
                    }
                    if ro {
                        options.push("ro".into());
                    }
                    out.push(UserMount {
                        destination: dst,
                        typ: "tmpfs",
                        source: "tmpfs".into(),
                        options,
                    });
                }
                other => {
                    return Err(invalid_mount(
                        other,
                        "volume mounts are not supported yet (issue #6)",
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// The resolved user: uid, gid, additional gids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional: Vec<u32>,
}

/// Resolves Docker's `User` (`name`, `uid`, `name:group`, `uid:gid`) against the
/// container's `/etc/passwd` and `/etc/group`, as Docker does.
pub fn resolve_user(rootfs: &Path, user: &str) -> Result<User> {
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    let group = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && (f[0] == u || f[2] == u));
    let (uid, mut gid, name) = match (&entry, u.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse::<u32>()
                .map_err(|_| Error::invalid(format!("invalid uid in /etc/passwd for {u}")))?,
            f[3].parse::<u32>().unwrap_or(0),
            Some(f[0].to_owned()),
        ),
        (None, Ok(n)) => (n, 0, None),
        (None, Err(_)) => {
            return Err(Error::invalid(format!(
                "unable to find user {u}: no matching entries in passwd file"
            )))
        }
    };
    if let Some(g) = g {
        gid = match group
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() >= 3 && (f[0] == g || f[2] == g))
        {
            Some(f) => f[2].parse().unwrap_or(0),
            None => g.parse().map_err(|_| {
                Error::invalid(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            })?,
        };
    }
    let mut additional = Vec::new();
    if let Some(name) = name {
        for f in group.lines().map(|l| l.split(':').collect::<Vec<_>>()) {
            if f.len() >= 4 && f[3].split(',').any(|m| m == name) {
                if let Ok(id) = f[2].parse::<u32>() {
                    if id != gid && !additional.contains(&id) {
                        additional.push(id);
                    }
                }
            }
        }
    }
    Ok(User {
        uid,
        gid,
        additional,
    })
}

/// The capability sets for the process (Docker: bounding, effective, permitted).
pub fn capabilities(host: &HostConfig) -> Value {
    // `--privileged` (every capability the caller holds) is issue #5's; until then
    // it gets the default set.
    let mut caps: Vec<String> = DEFAULT_CAPS.iter().map(|s| s.to_string()).collect();
    let norm = |c: &str| {
        let c = c.to_ascii_uppercase();
        if c.starts_with("CAP_") || c == "ALL" {
            c
        } else {
            format!("CAP_{c}")
        }
    };
    for d in host.cap_drop.iter().flatten() {
        let d = norm(d);
        if d == "ALL" {
            caps.clear();
        } else {
            caps.retain(|c| *c != d);
        }
    }
    for a in host.cap_add.iter().flatten() {
        let a = norm(a);
        if a != "ALL" && !caps.contains(&a) {
            caps.push(a);
        }
    }
    json!({ "bounding": caps, "effective": caps, "permitted": caps })
}

/// The OCI `config.json` of a container.
pub fn generate(input: &SpecInput<'_>) -> Result<Value> {
    let c = input.config;
    let h = input.host;
    let user = resolve_user(input.rootfs, &c.user)?;
    let mut args = input.args.to_vec();
    if args.is_empty() {
        return Err(Error::invalid("no command specified"));
    }
    if input.init {
        args.splice(0..0, ["/sbin/docker-init".to_owned(), "--".to_owned()]);
    }
    let cwd = if c.working_dir.is_empty() {
        "/".to_owned()
    } else {
        c.working_dir.clone()
    };
    let hostname = if c.hostname.is_empty() {
        input.id[..12].to_owned()
    } else {
        c.hostname.clone()
    };

    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
    ];
    let shm = if h.shm_size > 0 { h.shm_size } else { 64 << 20 };
    mounts.push(json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm}")]}));
    for file in ["resolv.conf", "hostname", "hosts"] {
        mounts.push(json!({
            "destination": format!("/etc/{file}"),
            "type": "bind",
            "source": input.container_dir.join(file),
            "options": ["rbind", "rprivate"],
        }));
    }
    for m in parse_mounts(h)? {
        mounts.retain(|x| x["destination"] != json!(m.destination));
        mounts.push(json!({"destination": m.destination, "type": m.typ, "source": m.source, "options": m.options}));
    }
    if input.init {
        mounts.push(json!({"destination": "/sbin/docker-init", "type": "bind", "source": INIT_BINARY, "options": ["bind", "ro"]}));
    }

    let mut resources = json!({
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
            {"allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
            {"allow": true, "type": "c", "access": "m"},
            {"allow": true, "type": "b", "access": "m"},
        ],
    });
    let mut memory = serde_json::Map::new();
    if h.memory > 0 {
        memory.insert("limit".into(), json!(h.memory));
        // Docker: swap defaults to twice the memory limit.
        let swap = match h.memory_swap {
            0 => h.memory * 2,
            s => s,
        };
        memory.insert("swap".into(), json!(swap));
    }
    if h.memory_reservation > 0 {
        memory.insert("reservation".into(), json!(h.memory_reservation));
    }
    if !memory.is_empty() {
        resources["memory"] = Value::Object(memory);
    }
    let mut cpu = serde_json::Map::new();
    if h.cpu_shares > 0 {
        cpu.insert("shares".into(), json!(h.cpu_shares));
    }
    if h.nano_cpus > 0 {
        let period = 100_000i64;
        cpu.insert("period".into(), json!(period));
        cpu.insert("quota".into(), json!(h.nano_cpus * period / 1_000_000_000));
    } else {
        if h.cpu_period > 0 {
            cpu.insert("period".into(), json!(h.cpu_period));
        }
        if h.cpu_quota > 0 {
            cpu.insert("quota".into(), json!(h.cpu_quota));
        }
    }
    if !h.cpuset_cpus.is_empty() {
        cpu.insert("cpus".into(), json!(h.cpuset_cpus));
    }
    if !h.cpuset_mems.is_empty() {
        cpu.insert("mems".into(), json!(h.cpuset_mems));
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    if let Some(p) = h.pids_limit.filter(|p| *p > 0) {
        resources["pids"] = json!({ "limit": p });
    }

    let mut process = json!({
        "terminal": c.tty,
        "user": {"uid": user.uid, "gid": user.gid},
        "args": args,
        "env": input.env,
        "cwd": cwd,
        "capabilities": capabilities(h),
        "noNewPrivileges": false,
    });
    if !user.additional.is_empty() {
        process["user"]["additionalGids"] = json!(user.additional);
    }
    if h.oom_score_adj != 0 {
        process["oomScoreAdj"] = json!(h.oom_score_adj);
    }
    if let Some([height, width]) = h.console_size.filter(|s| s[0] > 0 && s[1] > 0) {
        process["consoleSize"] = json!({"height": height, "width": width});
    }

    let mut linux = json!({
        "resources": resources,
        "cgroupsPath": format!("{}/{}", input.cgroup_parent.trim_end_matches('/'), input.id),
        "namespaces": [
            {"type": "mount"}, {"type": "network"}, {"type": "uts"}, {"type": "pid"}, {"type": "ipc"},
        ],
    });
    if !h.privileged {
        linux["maskedPaths"] = json!(MASKED);
        linux["readonlyPaths"] = json!(READONLY);
    }
    Ok(json!({
        "ociVersion": "1.0.2-dev",
        "process": process,
        "root": {"path": input.rootfs, "readonly": h.readonly_rootfs},
        "hostname": hostname,
        "domainname": c.domainname,
        "mounts": mounts,
        "linux": linux,
    }))
}

/// Docker's merge of the image's environment with the user's: the user's
/// `KEY=value` replaces the image's `KEY`; `PATH` is defaulted; `HOSTNAME` and
/// (with a terminal) `TERM` come first.
pub fn merge_env(image: &[String], user: &[String], hostname: &str, tty: bool) -> Vec<String> {
    let key = |s: &str| s.split('=').next().unwrap_or("").to_owned();
    let mut env: Vec<String> = Vec::new();
    for e in image.iter().chain(user) {
        // `KEY` without `=` in the user's list means "take it from nowhere": dropped.
        if !e.contains('=') {
            continue;
        }
        let k = key(e);
        if let Some(slot) = env.iter_mut().find(|x| key(x) == k) {
            *slot = e.clone();
        } else {
            env.push(e.clone());
        }
    }
    let mut out = Vec::new();
    if !env.iter().any(|e| key(e) == "PATH") {
        out.push(DEFAULT_PATH.to_owned());
    }
    out.push(format!("HOSTNAME={hostname}"));
    if tty && !env.iter().any(|e| key(e) == "TERM") {
        out.push("TERM=xterm".to_owned());
    }
    out.extend(env.into_iter().filter(|e| key(e) != "HOSTNAME"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_resolve_from_the_rootfs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nwww:x:33:\nstaff:x:50:www\n",
        )
        .unwrap();
        assert_eq!(
            resolve_user(dir.path(), "").unwrap(),
            User {
                uid: 0,
                gid: 0,
                additional: vec![]
            }
        );
        assert_eq!(
            resolve_user(dir.path(), "www").unwrap(),
            User {
                uid: 33,
                gid: 33,
                additional: vec![50]
            }
        );
        assert_eq!(
            resolve_user(dir.path(), "1000:1000").unwrap(),
            User {
                uid: 1000,
                gid: 1000,
                additional: vec![]
            }
        );
        assert_eq!(resolve_user(dir.path(), "www:staff").unwrap().gid, 50);
        let e = resolve_user(dir.path(), "nobody").unwrap_err();
        assert!(e.message.contains("unable to find user nobody"), "{e}");
    }

    #[test]
    fn env_merges_as_docker_does() {
        let image = vec!["PATH=/bin".to_owned(), "A=1".to_owned()];
        let user = vec!["A=2".to_owned(), "B=3".to_owned()];
        assert_eq!(
            merge_env(&image, &user, "h", true),
            ["HOSTNAME=h", "TERM=xterm", "PATH=/bin", "A=2", "B=3"]
        );
        assert_eq!(merge_env(&[], &[], "h", false)[0], DEFAULT_PATH);
    }

    #[test]
    fn capabilities_add_and_drop() {
        let h = HostConfig {
            cap_drop: Some(vec!["ALL".into()]),
            cap_add: Some(vec!["net_admin".into()]),
            ..HostConfig::default()
        };
        assert_eq!(capabilities(&h)["bounding"], json!(["CAP_NET_ADMIN"]));
    }
}
