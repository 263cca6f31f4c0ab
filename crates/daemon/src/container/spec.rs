//! The OCI spec berthd writes for a container: Docker's defaults (mounts, devices,
//! capabilities, masked and read-only paths, the seccomp profile), then the image's
//! config, then the user's `Config` and `HostConfig`.
//!
//! Docker's defaults are moby's `oci/defaults.go` and `daemon/oci_linux.go`; the
//! capability list is Docker's default 14. The security options (`--privileged`,
//! `--security-opt`, `--group-add`, `--sysctl`, `--ulimit`, `--device`,
//! `--pid/--ipc/--uts host`, `--cgroupns`, `--userns`) are checked by [`validate`] at
//! create time, before anything is made, and written by [`generate`].
//!
//! Order matters in one place: the seccomp filter is made from the *final* bounding
//! set (after `--cap-add/--cap-drop`), because Docker's profile opens a syscall only
//! to a container holding the capability that guards it (`seccomp.rs`).
//!
//! `--privileged` is Docker's "no box": every capability the daemon holds, no
//! seccomp filter, no masked or read-only paths, writable /sys, every device node of
//! the host's /dev (moby `WithDevices` with runc's `HostDevices`) and the devices
//! cgroup opened to all (`a *:* rwm`). `--security-opt seccomp=unconfined` drops only
//! the filter; `seccomp=<profile>` replaces Docker's with the user's (the docker CLI
//! sends the file's JSON; a path readable by berthd works too). `apparmor=…` and
//! `label=…` are accepted and not enforced on a host without those LSMs.
//!
//! Devices are resolved against the host when the container is created (moby
//! `getDevicesFromPath`): a missing node is Docker's "error gathering device
//! information" at create, not a failed start.

use std::path::Path;

use serde_json::{json, Value};

use super::model::{Config, HostConfig};
use super::seccomp;
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

/// Capability names by bit number (`linux/capability.h`), for reading `CapBnd`.
const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Sysctls that live in the container's own namespaces (moby `opts.ValidateSysctl`):
/// these exact keys, and the prefixes in [`SYSCTL_PREFIXES`].
const SYSCTL_KEYS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];
const SYSCTL_PREFIXES: &[&str] = &["fs.mqueue.", "net."];

/// `--ulimit` names (go-units `ulimitNameMapping`), each `RLIMIT_<NAME>` in OCI.
const ULIMITS: &[&str] = &[
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// The default `PATH` when the image sets none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where `--init` finds its init on the host (Debian's `tini` package).
pub const INIT_BINARY: &str = "/usr/bin/tini-static";

/// What the spec needs besides the container's configs.
/// The network namespace path of a `--network container:<x>` spec until start.
pub const NETNS_PLACEHOLDER: &str = "/proc/0/ns/net";

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
    /// Volumes, resolved: their `_data` is bind-mounted at the destination.
    pub volumes: &'a [super::model::VolumeUse],
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
    /// For `typ == "volume"`: the volume to get or create (`source` is its name,
    /// empty for an anonymous one; `options` may hold `ro` and `nocopy`).
    pub volume: Option<crate::volume::CreateVolume>,
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
        if !dst.starts_with('/') {
            return Err(Error::invalid(format!("invalid volume specification: '{b}': invalid mount path: '{dst}' mount path must be absolute")));
        }
        if !src.starts_with('/') {
            // A volume name (`name:/path[:ro|rw|nocopy]`), made on first use.
            if !crate::volume::valid_name(src) {
                return Err(Error::invalid(format!(
                    "create {src}: \"{src}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
                )));
            }
            let mut options = Vec::new();
            for o in opts.split(',').filter(|o| !o.is_empty()) {
                match o {
                    "ro" | "nocopy" => options.push(o.to_owned()),
                    "rw" | "z" | "Z" => {}
                    other => {
                        return Err(Error::invalid(format!(
                            "invalid volume specification: '{b}': invalid mode: {other}"
                        )))
                    }
                }
            }
            out.push(UserMount {
                destination: dst.to_owned(),
                typ: "volume",
                source: src.to_owned(),
                options,
                volume: Some(crate::volume::CreateVolume {
                    name: Some(src.to_owned()),
                    ..Default::default()
                }),
            });
            continue;
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
            volume: None,
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
                volume: None,
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
                        volume: None,
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
                        volume: None,
                    });
                }
                "volume" => {
                    let src = m["Source"].as_str().unwrap_or("").to_owned();
                    if !src.is_empty() && !crate::volume::valid_name(&src) {
                        return Err(Error::invalid(format!(
                            "create {src}: \"{src}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
                        )));
                    }
                    let vo = &m["VolumeOptions"];
                    let strings =
                        |v: &serde_json::Value| -> std::collections::BTreeMap<String, String> {
                            v.as_object()
                                .map(|o| {
                                    o.iter()
                                        .map(|(k, v)| {
                                            (k.clone(), v.as_str().unwrap_or("").to_owned())
                                        })
                                        .collect()
                                })
                                .unwrap_or_default()
                        };
                    let mut options = Vec::new();
                    if ro {
                        options.push("ro".to_owned());
                    }
                    if vo["NoCopy"].as_bool().unwrap_or(false) {
                        options.push("nocopy".to_owned());
                    }
                    out.push(UserMount {
                        destination: dst,
                        typ: "volume",
                        source: src.clone(),
                        options,
                        volume: Some(crate::volume::CreateVolume {
                            name: Some(src).filter(|s| !s.is_empty()),
                            driver: vo["DriverConfig"]["Name"].as_str().map(str::to_owned),
                            options: strings(&vo["DriverConfig"]["Options"]),
                            labels: strings(&vo["Labels"]),
                        }),
                    });
                }
                other => {
                    return Err(invalid_mount(other, format!("mount type unknown: {other}")));
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

/// The capabilities in a `CapBnd`/`CapEff` mask of `/proc/<pid>/status`.
fn caps_of_mask(mask: u64) -> Vec<String> {
    CAP_NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .map(|(_, name)| (*name).to_owned())
        .collect()
}

/// Every capability the daemon may hand on: its bounding set. Root without some
/// capability (CAP_SYS_RESOURCE on some CI hosts) must not ask the runtime for it.
fn held_caps() -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .unwrap_or(0);
    caps_of_mask(mask)
}

/// `net_admin`, `CAP_NET_ADMIN` and `all` in Docker's spelling.
fn cap_name(c: &str) -> String {
    let c = c.to_ascii_uppercase();
    if c.starts_with("CAP_") || c == "ALL" {
        c
    } else {
        format!("CAP_{c}")
    }
}

/// The capability sets for the process (Docker: bounding, effective, permitted),
/// after moby's `caps.TweakCapabilities`: `--privileged` gets every capability the
/// daemon holds; `--cap-add ALL` starts from those; drops, then adds, apply.
pub fn capabilities(host: &HostConfig) -> Value {
    let adds: Vec<String> = host.cap_add.iter().flatten().map(|c| cap_name(c)).collect();
    let drops: Vec<String> = host
        .cap_drop
        .iter()
        .flatten()
        .map(|c| cap_name(c))
        .collect();
    let caps = if host.privileged {
        held_caps()
    } else {
        let mut caps: Vec<String> = if adds.iter().any(|a| a == "ALL") {
            held_caps()
        } else {
            DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
        };
        if drops.iter().any(|d| d == "ALL") {
            caps.clear();
        } else {
            caps.retain(|c| !drops.contains(c));
        }
        for a in adds {
            if a != "ALL" && !caps.contains(&a) {
                caps.push(a);
            }
        }
        caps
    };
    json!({ "bounding": caps, "effective": caps, "permitted": caps })
}

/// What `--security-opt` asks for, after moby's `parseSecurityOpt`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SecurityOpts {
    pub no_new_privileges: bool,
    /// `systempaths=unconfined`: no masked or read-only paths.
    pub unconfined_paths: bool,
    pub seccomp: SeccompOpt,
}

/// `--security-opt seccomp=…`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum SeccompOpt {
    /// Docker's default profile (no option, or `seccomp=builtin`).
    #[default]
    Default,
    /// `seccomp=unconfined`: no filter.
    Unconfined,
    /// A profile in Docker's format: its JSON text (what the docker CLI sends) or a
    /// path on the daemon's host.
    Profile(String),
}

/// Parses `HostConfig.SecurityOpt`. `apparmor=…` and `label=…` are accepted and not
/// enforced (see the module's doc); other keys are refused with Docker's message.
pub fn security_opts(h: &HostConfig) -> Result<SecurityOpts> {
    let mut out = SecurityOpts::default();
    let opts = h.extra.get("SecurityOpt").and_then(|v| v.as_array());
    for opt in opts.into_iter().flatten() {
        let opt = opt.as_str().unwrap_or("");
        if opt == "no-new-privileges" {
            out.no_new_privileges = true;
            continue;
        }
        if opt == "disable" {
            continue;
        }
        let (k, v) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .ok_or_else(|| Error::invalid(format!("invalid --security-opt 1: {opt:?}")))?;
        let bad = || Error::invalid(format!("invalid --security-opt 2: {opt:?}"));
        match k {
            "label" | "apparmor" => {}
            "seccomp" => {
                out.seccomp = match v {
                    "unconfined" => SeccompOpt::Unconfined,
                    "builtin" | "" => SeccompOpt::Default,
                    profile => SeccompOpt::Profile(profile.to_owned()),
                }
            }
            "no-new-privileges" => out.no_new_privileges = parse_bool(v).ok_or_else(bad)?,
            "systempaths" if v == "unconfined" => out.unconfined_paths = true,
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// A namespace mode (`PidMode`, `IpcMode`, `UTSMode`) from `HostConfig.extra`.
fn ns_mode<'a>(h: &'a HostConfig, key: &str) -> &'a str {
    h.extra.get(key).and_then(|v| v.as_str()).unwrap_or("")
}

/// Checks the security options before anything is made: `--security-opt` (a
/// seccomp profile is decoded), `--sysctl`, `--ulimit`, `--cap-add/--cap-drop` names,
/// `--device` nodes and the namespace modes.
pub fn validate(h: &HostConfig) -> Result<()> {
    let security = security_opts(h)?;
    for c in h.cap_add.iter().chain(h.cap_drop.iter()).flatten() {
        let name = cap_name(c);
        if name != "ALL" && !CAP_NAMES.contains(&name.as_str()) {
            return Err(Error::invalid(format!("unknown capability: {name:?}")));
        }
    }
    match ns_mode(h, "PidMode") {
        "" | "host" => {}
        m if m.starts_with("container:") => {
            return Err(Error::invalid(format!(
                "--pid={m} is not supported yet; use --pid=host or none"
            )))
        }
        m => return Err(Error::invalid(format!("invalid PID mode: {m}"))),
    }
    let ipc = ns_mode(h, "IpcMode");
    match ipc {
        "" | "host" | "private" | "shareable" | "none" => {}
        m if m.starts_with("container:") => {
            return Err(Error::invalid(format!(
                "--ipc={m} is not supported yet; use --ipc=host, private, shareable or none"
            )))
        }
        m => return Err(Error::invalid(format!("invalid IPC mode: {m}"))),
    }
    match ns_mode(h, "UTSMode") {
        "" | "host" => {}
        m => return Err(Error::invalid(format!("invalid UTS mode: {m}"))),
    }
    match ns_mode(h, "CgroupnsMode") {
        "" | "host" | "private" => {}
        m => {
            return Err(Error::invalid(format!(
                "invalid cgroup namespace mode: {m}"
            )))
        }
    }
    // berthd does not remap users (no `userns-remap`): "private" is the default.
    match ns_mode(h, "UsernsMode") {
        "" | "host" | "private" => {}
        m => return Err(Error::invalid(format!("invalid userns mode: {m}"))),
    }
    seccomp_section(h, &security, &bounding(h))?;
    devices(h)?;
    if let Some(sysctls) = h.extra.get("Sysctls").and_then(|v| v.as_object()) {
        for (k, v) in sysctls {
            let namespaced = SYSCTL_KEYS.contains(&k.as_str())
                || SYSCTL_PREFIXES.iter().any(|p| k.starts_with(p));
            if !namespaced {
                return Err(Error::invalid(format!(
                    "invalid argument: sysctl '{k}' is not whitelisted"
                )));
            }
            if !k.starts_with("net.") && ipc == "host" {
                return Err(Error::invalid(format!(
                    "sysctl {k:?} is not allowed in the host's IPC namespace"
                )));
            }
            if k.starts_with("net.") && h.network_mode == "host" {
                return Err(Error::invalid(format!(
                    "sysctl {k:?} is not allowed in the host's network namespace"
                )));
            }
            if !v.is_string() {
                return Err(Error::invalid(format!(
                    "invalid argument: sysctl '{k}' needs a string value"
                )));
            }
        }
    }
    rlimits(h)?;
    Ok(())
}

/// The container's bounding set, as [`capabilities`] resolves it.
fn bounding(h: &HostConfig) -> Vec<String> {
    capabilities(h)["bounding"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect()
}

/// The OCI `linux.seccomp` section, or none (moby `WithSeccomp`): `--privileged` and
/// `seccomp=unconfined` get no filter; a kernel without seccomp runs the default
/// without one and refuses a custom profile.
pub fn seccomp_section(
    h: &HostConfig,
    security: &SecurityOpts,
    caps: &[String],
) -> Result<Option<Value>> {
    if h.privileged {
        return Ok(None);
    }
    let host = seccomp::Host::current();
    let invalid = |e: seccomp::Error| Error::invalid(e.to_string());
    match &security.seccomp {
        SeccompOpt::Unconfined => Ok(None),
        SeccompOpt::Default if !seccomp::kernel_supported() => {
            tracing::warn!(
                "seccomp is not enabled in your kernel, running container without default profile"
            );
            Ok(None)
        }
        SeccompOpt::Default => Ok(Some(seccomp::default_profile(caps, &host))),
        SeccompOpt::Profile(_) if !seccomp::kernel_supported() => {
            Err(invalid(seccomp::Error::NotInKernel))
        }
        SeccompOpt::Profile(p) => {
            let text = if p.trim_start().starts_with('{') {
                p.clone()
            } else {
                seccomp::read_profile(p).map_err(invalid)?
            };
            seccomp::docker_profile(&text, caps, &host).map_err(invalid)
        }
    }
}

/// A device node of the host, as OCI `linux.devices` wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostDevice {
    typ: &'static str,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
}

impl HostDevice {
    fn entry(&self, path: &str) -> Value {
        json!({
            "path": path, "type": self.typ, "major": self.major, "minor": self.minor,
            "fileMode": self.mode, "uid": self.uid, "gid": self.gid,
        })
    }
    fn rule(&self, access: &str) -> Value {
        json!({"allow": true, "type": self.typ, "major": self.major, "minor": self.minor, "access": access})
    }
}

/// The node at `path` (not followed if a symlink), `Ok(None)` if it is no device.
fn device_at(path: &Path) -> std::io::Result<Option<HostDevice>> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = std::fs::symlink_metadata(path)?;
    let typ = if m.file_type().is_char_device() {
        "c"
    } else if m.file_type().is_block_device() {
        "b"
    } else {
        return Ok(None);
    };
    Ok(Some(HostDevice {
        typ,
        major: rustix::fs::major(m.rdev()) as u64,
        minor: rustix::fs::minor(m.rdev()) as u64,
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
    }))
}

/// Every device node under `dir`, recursively, skipping what runc's `HostDevices`
/// skips: the container gets its own pts, shm and mqueue, and never the host's console.
fn walk_devices(dir: &Path, out: &mut Vec<(String, HostDevice)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            if !matches!(
                name.as_ref(),
                "pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev"
            ) {
                walk_devices(&e.path(), out);
            }
            continue;
        }
        if name == "console" {
            continue;
        }
        if let Ok(Some(d)) = device_at(&e.path()) {
            out.push((e.path().to_string_lossy().into_owned(), d));
        }
    }
}

/// One `--device` (`HostConfig.Devices` entry) resolved against the host (moby
/// `getDevicesFromPath`): a symlink is followed, a directory gives every node in it.
fn device_mapping(on_host: &str, in_container: &str) -> Result<Vec<(String, HostDevice)>> {
    let gather = |msg: String| {
        Error::invalid(format!(
            "error gathering device information while adding custom device {on_host:?}: {msg}"
        ))
    };
    let resolved = std::fs::canonicalize(on_host).unwrap_or_else(|_| on_host.into());
    match device_at(&resolved) {
        Ok(Some(d)) => return Ok(vec![(in_container.to_owned(), d)]),
        Ok(None) => {}
        Err(e) => {
            let msg = e.to_string();
            return Err(gather(
                msg.split(" (os error")
                    .next()
                    .unwrap_or(&msg)
                    .to_lowercase(),
            ));
        }
    }
    let mut found = Vec::new();
    if resolved.is_dir() {
        let mut all = Vec::new();
        walk_devices(&resolved, &mut all);
        let prefix = resolved.to_string_lossy().into_owned();
        for (path, d) in all {
            let rest = path.strip_prefix(&prefix).unwrap_or(&path);
            found.push((format!("{}{rest}", in_container.trim_end_matches('/')), d));
        }
    }
    if found.is_empty() {
        return Err(gather("not a device node".into()));
    }
    Ok(found)
}

/// The user's `--device` list: (`linux.devices` entries, devices cgroup rules).
fn devices(h: &HostConfig) -> Result<(Vec<Value>, Vec<Value>)> {
    let (mut nodes, mut rules) = (Vec::new(), Vec::new());
    let list = h.extra.get("Devices").and_then(|v| v.as_array());
    for d in list.into_iter().flatten() {
        let on_host = d["PathOnHost"].as_str().unwrap_or("");
        let in_container = d["PathInContainer"]
            .as_str()
            .filter(|p| !p.is_empty())
            .unwrap_or(on_host);
        let access = d["CgroupPermissions"]
            .as_str()
            .filter(|p| !p.is_empty())
            .unwrap_or("rwm");
        if !in_container.starts_with('/') {
            return Err(Error::invalid(format!(
                "invalid device path in container: {in_container:?} must be absolute"
            )));
        }
        if access.chars().any(|c| !"rwm".contains(c)) {
            return Err(Error::invalid(format!("invalid device mode: {access}")));
        }
        // Privileged containers have every node already; moby maps only renamed ones.
        if h.privileged && on_host == in_container {
            continue;
        }
        let access = if h.privileged { "rwm" } else { access };
        for (path, dev) in device_mapping(on_host, in_container)? {
            nodes.push(dev.entry(&path));
            rules.push(dev.rule(access));
        }
    }
    Ok((nodes, rules))
}

/// Whether the host mounts cgroup v2 alone (Docker's default cgroupns follows it).
fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// `HostConfig.Ulimits` as OCI `process.rlimits`.
fn rlimits(h: &HostConfig) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let ulimits = h.extra.get("Ulimits").and_then(|v| v.as_array());
    for u in ulimits.into_iter().flatten() {
        let name = u["Name"].as_str().unwrap_or("");
        if !ULIMITS.contains(&name) {
            return Err(Error::invalid(format!("invalid ulimit type: {name}")));
        }
        let (soft, hard) = (
            u["Soft"].as_i64().unwrap_or(0),
            u["Hard"].as_i64().unwrap_or(0),
        );
        if soft > hard {
            return Err(Error::invalid(format!(
                "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )));
        }
        // Docker's -1 is "unlimited": RLIM_INFINITY.
        let limit = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
        out.push(json!({
            "type": format!("RLIMIT_{}", name.to_ascii_uppercase()),
            "soft": limit(soft),
            "hard": limit(hard),
        }));
    }
    Ok(out)
}

/// `--group-add`: numeric gids, or names looked up in the container's `/etc/group`.
fn group_add(rootfs: &Path, groups: &[String]) -> Result<Vec<u32>> {
    let group = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    groups
        .iter()
        .map(|g| {
            let found = group
                .lines()
                .map(|l| l.split(':').collect::<Vec<_>>())
                .find(|f| f.len() >= 3 && f[0] == g)
                .and_then(|f| f[2].parse().ok());
            found.or_else(|| g.parse().ok()).ok_or_else(|| {
                Error::invalid(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            })
        })
        .collect()
}

/// The OCI `config.json` of a container.
pub fn generate(input: &SpecInput<'_>) -> Result<Value> {
    let c = input.config;
    let h = input.host;
    validate(h)?;
    let security = security_opts(h)?;
    let user = resolve_user(input.rootfs, &c.user)?;
    let mut additional_gids = user.additional.clone();
    for g in group_add(input.rootfs, h.group_add.as_deref().unwrap_or_default())? {
        if g != user.gid && !additional_gids.contains(&g) {
            additional_gids.push(g);
        }
    }
    let (pid_host, ipc_mode, uts_host) = (
        ns_mode(h, "PidMode") == "host",
        ns_mode(h, "IpcMode"),
        ns_mode(h, "UTSMode") == "host",
    );
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

    // `--privileged`: /sys and its cgroups are writable (moby `WithSysfs`/`WithCgroups`).
    let sys_mode = if h.privileged { "rw" } else { "ro" };
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", sys_mode]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": [sys_mode, "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
    ];
    match ipc_mode {
        // `--ipc none`: no /dev/shm at all.
        "none" => {}
        // `--ipc host`: the host's /dev/shm (moby `setupIpcDirs`).
        "host" => mounts.push(json!({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind", "rprivate"]})),
        _ => {
            let shm = if h.shm_size > 0 { h.shm_size } else { 64 << 20 };
            mounts.push(json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm}")]}));
        }
    }
    for file in ["resolv.conf", "hostname", "hosts"] {
        mounts.push(json!({
            "destination": format!("/etc/{file}"),
            "type": "bind",
            "source": input.container_dir.join(file),
            "options": ["rbind", "rprivate"],
        }));
    }
    for m in parse_mounts(h)? {
        if m.typ == "volume" {
            continue;
        }
        mounts.retain(|x| x["destination"] != json!(m.destination));
        mounts.push(json!({"destination": m.destination, "type": m.typ, "source": m.source, "options": m.options}));
    }
    for v in input.volumes {
        mounts.retain(|x| x["destination"] != json!(v.destination));
        let mut options = vec!["rbind", "rprivate"];
        if v.read_only {
            options.push("ro");
        }
        mounts.push(json!({"destination": v.destination, "type": "bind", "source": v.source, "options": options}));
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
    let (mut linux_devices, user_rules) = devices(h)?;
    if h.privileged {
        // Every node of the host's /dev, and every device may be used: `a *:* rwm`.
        let mut host = Vec::new();
        walk_devices(Path::new("/dev"), &mut host);
        let mut all: Vec<Value> = host.iter().map(|(path, d)| d.entry(path)).collect();
        all.append(&mut linux_devices);
        linux_devices = all;
        resources["devices"] = json!([{"allow": true, "access": "rwm"}]);
    } else if let Some(rules) = resources["devices"].as_array_mut() {
        rules.extend(user_rules);
    }
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
        "noNewPrivileges": security.no_new_privileges,
    });
    if !additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(additional_gids);
    }
    let rlimits = rlimits(h)?;
    if !rlimits.is_empty() {
        process["rlimits"] = json!(rlimits);
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
    });
    // The network namespace by `--network`: the host's (none in the spec), another
    // container's (its path is filled in at start, when that container's pid is
    // known), or a new one (berthd configures it between create and start).
    let mut namespaces = vec![json!({"type": "mount"})];
    match h.network_mode.as_str() {
        "host" => {}
        m if m.starts_with("container:") => {
            namespaces.push(json!({"type": "network", "path": NETNS_PLACEHOLDER}))
        }
        _ => namespaces.push(json!({"type": "network"})),
    }
    for (ns, host) in [
        ("uts", uts_host),
        ("pid", pid_host),
        ("ipc", ipc_mode == "host"),
    ] {
        if !host {
            namespaces.push(json!({ "type": ns }));
        }
    }
    // Docker's default: the host's cgroup namespace on v1, a private one on v2.
    let cgroupns_private = match ns_mode(h, "CgroupnsMode") {
        "private" => true,
        "host" => false,
        _ => cgroup_v2(),
    };
    if cgroupns_private {
        namespaces.push(json!({"type": "cgroup"}));
    }
    linux["namespaces"] = json!(namespaces);
    if !linux_devices.is_empty() {
        linux["devices"] = json!(linux_devices);
    }
    if let Some(filter) = seccomp_section(h, &security, &bounding(h))? {
        linux["seccomp"] = filter;
    }
    if !h.privileged && !security.unconfined_paths {
        linux["maskedPaths"] = json!(MASKED);
        linux["readonlyPaths"] = json!(READONLY);
    }
    if let Some(sysctls) = h
        .extra
        .get("Sysctls")
        .filter(|s| s.as_object().is_some_and(|m| !m.is_empty()))
    {
        linux["sysctl"] = sysctls.clone();
    }
    let mut spec = json!({
        "ociVersion": "1.0.2-dev",
        "process": process,
        "root": {"path": input.rootfs, "readonly": h.readonly_rootfs},
        "mounts": mounts,
        "linux": linux,
    });
    // `--uts host`: the host's names stay; the runtime must not set any.
    if !uts_host {
        spec["hostname"] = json!(hostname);
        spec["domainname"] = json!(c.domainname);
    }
    Ok(spec)
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

    fn host_with(extra: Value) -> HostConfig {
        HostConfig {
            extra: extra.as_object().cloned().unwrap_or_default(),
            ..HostConfig::default()
        }
    }

    #[test]
    fn volume_sources_in_binds_and_mounts_are_volumes() {
        let mut h = host_with(json!({"Mounts": [
            {"Type": "volume", "Source": "", "Target": "/anon"},
            {"Type": "volume", "Source": "mv", "Target": "/m", "ReadOnly": true,
             "VolumeOptions": {"NoCopy": true, "Labels": {"k": "v"},
                               "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs"}}}},
        ]}));
        h.binds = Some(vec!["data:/data:ro,nocopy".into(), "/tmp:/host".into()]);
        let m = parse_mounts(&h).unwrap();
        assert_eq!((m[0].typ, m[0].source.as_str()), ("volume", "data"));
        assert_eq!(m[0].options, ["ro", "nocopy"]);
        assert_eq!(m[1].typ, "bind");
        assert_eq!(m[2].volume.as_ref().unwrap().name, None);
        let named = m[3].volume.as_ref().unwrap();
        assert_eq!(named.name.as_deref(), Some("mv"));
        assert_eq!(named.labels["k"], "v");
        assert_eq!(named.options["type"], "tmpfs");
        assert_eq!(m[3].options, ["ro", "nocopy"]);

        h.binds = Some(vec!["bad name:/x".into()]);
        let e = parse_mounts(&h).unwrap_err();
        assert!(e
            .message
            .starts_with("create bad name: \"bad name\" includes invalid characters"));
    }

    #[test]
    fn capability_masks_map_to_names() {
        assert_eq!(caps_of_mask(0b101), ["CAP_CHOWN", "CAP_DAC_READ_SEARCH"]);
        // Root without CAP_SYS_RESOURCE (bit 24) is not given it.
        let caps = caps_of_mask(0x1fffeffffff);
        assert_eq!(caps.len(), 40);
        assert!(!caps.contains(&"CAP_SYS_RESOURCE".to_owned()));
        assert!(caps.contains(&"CAP_CHECKPOINT_RESTORE".to_owned()));
    }

    #[test]
    fn privileged_gets_what_the_daemon_holds() {
        let h = HostConfig {
            privileged: true,
            cap_drop: Some(vec!["ALL".into()]),
            ..HostConfig::default()
        };
        assert_eq!(capabilities(&h)["bounding"], json!(held_caps()));
        let h = HostConfig {
            cap_add: Some(vec!["ALL".into()]),
            cap_drop: Some(vec!["chown".into()]),
            ..HostConfig::default()
        };
        let caps = capabilities(&h)["bounding"].clone();
        assert!(!caps.as_array().unwrap().contains(&json!("CAP_CHOWN")));
        assert_eq!(caps.as_array().unwrap().len(), held_caps().len() - 1);
    }

    #[test]
    fn security_opts_parse_as_docker_does() {
        let opts = |o: Value| security_opts(&host_with(json!({ "SecurityOpt": o })));
        assert!(
            opts(json!(["no-new-privileges"]))
                .unwrap()
                .no_new_privileges
        );
        assert!(
            opts(json!(["no-new-privileges=true"]))
                .unwrap()
                .no_new_privileges
        );
        assert!(
            !opts(json!(["no-new-privileges=false"]))
                .unwrap()
                .no_new_privileges
        );
        assert!(
            opts(json!(["systempaths=unconfined"]))
                .unwrap()
                .unconfined_paths
        );
        let accepted = json!(["apparmor=x", "label=disable", "seccomp=builtin"]);
        assert_eq!(opts(accepted).unwrap(), SecurityOpts::default());
        assert_eq!(
            opts(json!(["seccomp=unconfined"])).unwrap().seccomp,
            SeccompOpt::Unconfined
        );
        assert_eq!(
            opts(json!(["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}"]))
                .unwrap()
                .seccomp,
            SeccompOpt::Profile("{\"defaultAction\":\"SCMP_ACT_ALLOW\"}".into())
        );
        let e = opts(json!(["foo=bar"])).unwrap_err();
        assert!(
            e.message.contains("invalid --security-opt 2: \"foo=bar\""),
            "{e}"
        );
        let e = opts(json!(["nonsense"])).unwrap_err();
        assert!(e.message.contains("nonsense"), "{e}");
        let e = opts(json!(["no-new-privileges=maybe"])).unwrap_err();
        assert!(e.message.contains("no-new-privileges=maybe"), "{e}");
    }

    #[test]
    fn seccomp_follows_privileged_unconfined_and_custom_profiles() {
        let section = |h: &HostConfig| {
            seccomp_section(h, &security_opts(h).unwrap(), &bounding(h)).map(|s| s.is_some())
        };
        if !seccomp::kernel_supported() {
            return;
        }
        let h = HostConfig::default();
        let default = seccomp_section(&h, &security_opts(&h).unwrap(), &bounding(&h))
            .unwrap()
            .unwrap();
        assert_eq!(default["defaultAction"], "SCMP_ACT_ERRNO");
        let privileged = HostConfig {
            privileged: true,
            ..HostConfig::default()
        };
        assert!(!section(&privileged).unwrap());
        let h = host_with(json!({"SecurityOpt": ["seccomp=unconfined"]}));
        assert!(!section(&h).unwrap());
        let h = host_with(json!({"SecurityOpt": ["seccomp={\"defaultAction\":\"SCMP_ACT_LOG\"}"]}));
        assert!(section(&h).unwrap());
        let e = validate(&host_with(json!({"SecurityOpt": ["seccomp={bad"]}))).unwrap_err();
        assert_eq!(e.kind, crate::error::Kind::InvalidArgument);
        assert!(
            e.message.starts_with("decoding seccomp profile failed: "),
            "{e}"
        );
        // A path the daemon reads.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.json");
        std::fs::write(&file, r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount"],"action":"SCMP_ACT_ERRNO"}]}"#).unwrap();
        let h = host_with(json!({"SecurityOpt": [format!("seccomp={}", file.display())]}));
        assert!(section(&h).unwrap());
        let h = host_with(json!({"SecurityOpt": ["seccomp=/nonexistent.json"]}));
        let e = validate(&h).unwrap_err();
        assert!(
            e.message
                .contains("opening seccomp profile (/nonexistent.json) failed"),
            "{e}"
        );
        // The filter follows the final capabilities.
        let h = host_with(json!({"CapAdd": ["SYS_ADMIN"]}));
        let h = HostConfig {
            cap_add: Some(vec!["SYS_ADMIN".into()]),
            ..h
        };
        let admin = seccomp_section(&h, &security_opts(&h).unwrap(), &bounding(&h))
            .unwrap()
            .unwrap();
        assert_ne!(admin, default);
    }

    #[test]
    fn devices_resolve_against_the_host() {
        let dev = |d: Value| devices(&host_with(json!({ "Devices": [d] })));
        let (nodes, rules) = dev(json!({"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull", "CgroupPermissions": "r"})).unwrap();
        assert_eq!(nodes[0]["path"], "/dev/mynull");
        assert_eq!(
            (nodes[0]["major"].as_u64(), nodes[0]["minor"].as_u64()),
            (Some(1), Some(3))
        );
        assert_eq!(
            rules[0],
            json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "r"})
        );
        let (nodes, _) = dev(json!({"PathOnHost": "/dev/zero"})).unwrap();
        assert_eq!(nodes[0]["path"], "/dev/zero");
        let e = dev(json!({"PathOnHost": "/dev/nope", "PathInContainer": "/dev/nope", "CgroupPermissions": "rwm"})).unwrap_err();
        assert_eq!(
            e.message,
            "error gathering device information while adding custom device \"/dev/nope\": no such file or directory"
        );
        let e = dev(json!({"PathOnHost": "/etc/hostname"})).unwrap_err();
        assert!(e.message.ends_with("not a device node"), "{e}");
        let e = dev(json!({"PathOnHost": "/dev/null", "CgroupPermissions": "rwx"})).unwrap_err();
        assert!(e.message.contains("invalid device mode: rwx"), "{e}");
        let mut all = Vec::new();
        walk_devices(Path::new("/dev"), &mut all);
        assert!(all.iter().any(|(p, _)| p == "/dev/null"));
        assert!(!all
            .iter()
            .any(|(p, _)| p.starts_with("/dev/pts/") || p == "/dev/console"));
    }

    #[test]
    fn cgroupns_and_userns_modes() {
        for ok in [
            json!({"CgroupnsMode": "host"}),
            json!({"CgroupnsMode": "private"}),
            json!({"UsernsMode": "host"}),
        ] {
            validate(&host_with(ok)).unwrap();
        }
        let e = validate(&host_with(json!({"CgroupnsMode": "shared"}))).unwrap_err();
        assert!(
            e.message.contains("invalid cgroup namespace mode: shared"),
            "{e}"
        );
        let e = validate(&host_with(json!({"UsernsMode": "remap"}))).unwrap_err();
        assert!(e.message.contains("invalid userns mode: remap"), "{e}");
    }

    #[test]
    fn sysctls_must_be_namespaced() {
        let check = |k: &str| validate(&host_with(json!({ "Sysctls": { k: "1" } })));
        for ok in ["net.ipv4.ip_forward", "kernel.shmmax", "fs.mqueue.msg_max"] {
            check(ok).unwrap();
        }
        for bad in ["kernel.hostname", "vm.swappiness", "fs.file-max"] {
            let e = check(bad).unwrap_err();
            assert!(
                e.message
                    .contains(&format!("sysctl '{bad}' is not whitelisted")),
                "{e}"
            );
        }
        let h = host_with(json!({ "Sysctls": { "kernel.shmmax": "1" }, "IpcMode": "host" }));
        assert!(validate(&h).is_err());
    }

    #[test]
    fn ulimits_become_rlimits() {
        let h = host_with(json!({ "Ulimits": [
            {"Name": "nofile", "Soft": 1024, "Hard": 2048},
            {"Name": "core", "Soft": -1, "Hard": -1},
        ] }));
        assert_eq!(
            rlimits(&h).unwrap(),
            [
                json!({"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048}),
                json!({"type": "RLIMIT_CORE", "soft": u64::MAX, "hard": u64::MAX}),
            ]
        );
        let h = host_with(json!({ "Ulimits": [{"Name": "nosuch", "Soft": 1, "Hard": 1}] }));
        assert!(validate(&h).unwrap_err().message.contains("nosuch"));
        let h = host_with(json!({ "Ulimits": [{"Name": "nofile", "Soft": 2, "Hard": 1}] }));
        assert!(validate(&h).is_err());
    }

    #[test]
    fn namespace_modes_and_group_add() {
        validate(&host_with(
            json!({"PidMode": "host", "IpcMode": "host", "UTSMode": "host"}),
        ))
        .unwrap();
        assert!(validate(&host_with(json!({"PidMode": "bogus"}))).is_err());
        assert!(validate(&host_with(json!({"UTSMode": "container:x"}))).is_err());
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/group"), "root:x:0:\naudio:x:29:\n").unwrap();
        let groups = ["audio".to_owned(), "1234".to_owned()];
        assert_eq!(group_add(dir.path(), &groups).unwrap(), [29, 1234]);
        assert!(group_add(dir.path(), &["video".to_owned()]).is_err());
    }
}
