//! Loading and checking a bundle's `config.json`.
//!
//! Parse, then validate, then act: every check that can be made before a process is
//! forked is made here, so that bad input fails with a message naming the field and
//! leaves nothing behind.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result};

/// runc's `runc spec` output, byte for byte.
pub const DEFAULT_SPEC: &str = include_str!("default-spec.json");

/// Reads `<bundle>/config.json`; a parse error names the JSON path of the bad field.
pub fn load(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::config(format!("cannot read {}: {e}", path.display())))?;
    parse(&text)
}

pub fn parse(text: &str) -> Result<Spec> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if let Some(msg) = crate::seccomp::describe_parse_error(&path, &inner.to_string()) {
            return Error::config(format!("config.json: {msg}"));
        }
        if path == "." || path.is_empty() {
            Error::config(format!("config.json: {inner}"))
        } else {
            Error::config(format!("config.json: {path}: {inner}"))
        }
    })
}

/// The absolute rootfs path of a bundle.
pub fn rootfs(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::config("root: missing (root.path names the container's rootfs)"))?;
    if root.path().as_os_str().is_empty() {
        return Err(Error::config("root.path: must not be empty"));
    }
    Ok(bundle.join(root.path()))
}

/// Checks what the types alone cannot: presence, absolute paths, duplicates, existence.
pub fn validate(spec: &Spec, bundle: &Path) -> Result<()> {
    let rootfs = rootfs(spec, bundle)?;
    match std::fs::metadata(&rootfs) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::config(format!(
                "root.path: {} is not a directory",
                rootfs.display()
            )))
        }
        Err(_) => {
            return Err(Error::config(format!(
                "root.path: {} does not exist",
                rootfs.display()
            )))
        }
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::config("process: missing (it says what to run)"))?;
    validate_process(process)?;
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !m.destination().is_absolute() {
            return Err(Error::config(format!(
                "mounts[{i}].destination: {:?} must be an absolute path",
                m.destination()
            )));
        }
    }
    if let Some(linux) = spec.linux() {
        let mut seen = HashSet::new();
        let mut has_user = false;
        for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
            if !seen.insert(ns.typ()) {
                return Err(Error::config(format!(
                    "linux.namespaces[{i}].type: {} appears twice",
                    ns_name(ns.typ())
                )));
            }
            if let Some(p) = ns.path() {
                if !p.exists() {
                    return Err(Error::config(format!(
                        "linux.namespaces[{i}].path: {} does not exist",
                        p.display()
                    )));
                }
            }
            if ns.typ() == LinuxNamespaceType::User && ns.path().is_none() {
                has_user = true;
            }
            if ns.typ() == LinuxNamespaceType::Time {
                return Err(Error::Unsupported(
                    "linux.namespaces: the time namespace".into(),
                ));
            }
        }
        if has_user
            && (linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty())
                || linux.gid_mappings().as_ref().is_none_or(|m| m.is_empty()))
        {
            return Err(Error::config(
                "linux.uidMappings/gidMappings: a new user namespace needs both mappings",
            ));
        }
        if linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            && !seen.contains(&LinuxNamespaceType::User)
        {
            return Err(Error::config(
                "linux.uidMappings: given without a user namespace in linux.namespaces",
            ));
        }
        if spec.hostname().as_deref().is_some_and(|h| !h.is_empty())
            && !seen.contains(&LinuxNamespaceType::Uts)
        {
            return Err(Error::config(
                "hostname: setting it needs a uts namespace in linux.namespaces",
            ));
        }
        validate_sysctl(linux)?;
        if let Some(label) = linux.mount_label() {
            warn_lsm("linux.mountLabel", label, Lsm::Selinux);
        }
        if let Some(p) = linux.rootfs_propagation() {
            crate::rootfs::propagation_flag(p).ok_or_else(|| {
                Error::config(format!(
                    "linux.rootfsPropagation: {p:?} is not one of shared, slave, private, unbindable, rshared, rslave, rprivate, runbindable"
                ))
            })?;
        }
        if let Some(seccomp) = linux.seccomp() {
            crate::seccomp::validate(seccomp)?;
        }
        for (i, d) in linux.devices().iter().flatten().enumerate() {
            if !d.path().is_absolute() {
                return Err(Error::config(format!(
                    "linux.devices[{i}].path: {:?} must be an absolute path",
                    d.path()
                )));
            }
        }
    }
    Ok(())
}

pub fn validate_process(process: &oci_spec::runtime::Process) -> Result<()> {
    match process.args() {
        Some(a) if !a.is_empty() && !a[0].is_empty() => {}
        _ => return Err(Error::config("process.args: must name a program to run")),
    }
    if !process.cwd().is_absolute() {
        return Err(Error::config(format!(
            "process.cwd: {:?} must be an absolute path",
            process.cwd()
        )));
    }
    for (i, e) in process.env().iter().flatten().enumerate() {
        if !e.contains('=') {
            return Err(Error::config(format!(
                "process.env[{i}]: {e:?} is not of the form NAME=value"
            )));
        }
    }
    crate::rlimits::check(process)?;
    if let Some(label) = process.selinux_label() {
        warn_lsm("process.selinuxLabel", label, Lsm::Selinux);
    }
    if let Some(profile) = process.apparmor_profile() {
        warn_lsm("process.apparmorProfile", profile, Lsm::Apparmor);
    }
    Ok(())
}

/// The namespace a sysctl key belongs to; `None` for a key that is global to the host.
/// The namespaced keys are runc's list: the IPC ones, `net.*`, and the UTS names.
pub fn sysctl_namespace(key: &str) -> Option<LinuxNamespaceType> {
    const IPC: &[&str] = &["kernel.sem"];
    const IPC_PREFIXES: &[&str] = &["kernel.shm", "kernel.msg", "fs.mqueue."];
    if IPC.contains(&key) || IPC_PREFIXES.iter().any(|p| key.starts_with(p)) {
        Some(LinuxNamespaceType::Ipc)
    } else if key.starts_with("net.") {
        Some(LinuxNamespaceType::Network)
    } else if key == "kernel.domainname" || key == "kernel.hostname" {
        Some(LinuxNamespaceType::Uts)
    } else {
        None
    }
}

/// `linux.sysctl`: only keys of a namespace the container has to itself, since the
/// init writes them through /proc/sys before anything is read-only. A key naming a
/// host-wide setting, or the host's own namespace, would change the host.
fn validate_sysctl(linux: &oci_spec::runtime::Linux) -> Result<()> {
    let Some(map) = linux.sysctl() else {
        return Ok(());
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for key in keys {
        let dotted = key.replace('/', ".");
        if dotted.split('.').any(str::is_empty) || key.contains('\0') {
            return Err(Error::config(format!(
                "linux.sysctl: {key:?} is not a sysctl name"
            )));
        }
        let Some(ns) = sysctl_namespace(&dotted) else {
            return Err(Error::config(format!(
                "linux.sysctl: {key:?} is not namespaced: setting it would change the host"
            )));
        };
        let private = linux
            .namespaces()
            .iter()
            .flatten()
            .find(|n| n.typ() == ns)
            .is_some_and(|n| n.path().as_deref().is_none_or(|p| !is_own_namespace(p, ns)));
        if !private {
            return Err(Error::config(format!(
                "linux.sysctl: {key:?} needs a private {} namespace in linux.namespaces",
                ns_name(ns)
            )));
        }
    }
    Ok(())
}

/// Whether the namespace file at `path` is the runtime's own (the host's) namespace.
fn is_own_namespace(path: &Path, t: LinuxNamespaceType) -> bool {
    use std::os::unix::fs::MetadataExt;
    let own = format!("/proc/self/ns/{}", ns_proc_name(t));
    match (std::fs::metadata(path), std::fs::metadata(own)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[derive(Clone, Copy)]
enum Lsm {
    Selinux,
    Apparmor,
}

/// LSM labels and profiles are accepted but not applied; say so rather than drop them
/// silently, and say why when the host lacks the LSM.
fn warn_lsm(field: &str, value: &str, lsm: Lsm) {
    if value.is_empty() {
        return;
    }
    let (name, dir) = match lsm {
        Lsm::Selinux => ("SELinux", "/sys/fs/selinux"),
        Lsm::Apparmor => ("AppArmor", "/sys/kernel/security/apparmor"),
    };
    let why = if Path::new(dir).exists() {
        format!("berth-runc does not apply {name} settings yet")
    } else {
        format!("{name} is not available on this host (no {dir})")
    };
    crate::logging::warn(&format!("{field}: {value:?} is not applied: {why}"));
}

pub fn ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

/// The `/proc/<pid>/ns/<name>` file of a namespace type.
pub fn ns_proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Network => "net",
        other => ns_name(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_parses() {
        let spec = parse(DEFAULT_SPEC).unwrap();
        assert_eq!(spec.hostname().as_deref(), Some("runc"));
    }

    #[test]
    fn unknown_namespace_names_the_field() {
        let text =
            r#"{"ociVersion":"1.0.2","linux":{"namespaces":[{"type":"pid"},{"type":"bogus"}]}}"#;
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains("linux.namespaces[1].type"), "{err}");
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn only_namespaced_sysctls_are_accepted() {
        use LinuxNamespaceType::{Ipc, Network, Uts};
        for (key, ns) in [
            ("net.ipv4.ip_forward", Some(Network)),
            ("kernel.shmmax", Some(Ipc)),
            ("kernel.msgmnb", Some(Ipc)),
            ("kernel.sem", Some(Ipc)),
            ("fs.mqueue.msg_max", Some(Ipc)),
            ("kernel.domainname", Some(Uts)),
            ("kernel.panic", None),
            ("vm.swappiness", None),
            ("kernel.semaphore", None),
            ("fs.file-max", None),
        ] {
            assert_eq!(sysctl_namespace(key), ns, "{key}");
        }
        let spec = |sysctl: &str, ns: &str| {
            parse(&format!(
                r#"{{"ociVersion":"1.0.2","linux":{{"sysctl":{sysctl},"namespaces":{ns}}}}}"#
            ))
            .unwrap()
        };
        let check = |sysctl: &str, ns: &str| {
            validate_sysctl(spec(sysctl, ns).linux().as_ref().unwrap()).map_err(|e| e.to_string())
        };
        let private_net = r#"[{"type":"network"}]"#;
        assert!(check(r#"{"net.ipv4.ip_forward":"1"}"#, private_net).is_ok());
        assert!(check(r#"{"net/ipv4/ip_forward":"1"}"#, private_net).is_ok());
        let err = check(r#"{"vm.swappiness":"1"}"#, private_net).unwrap_err();
        assert!(err.contains("\"vm.swappiness\" is not namespaced"), "{err}");
        let err = check(r#"{"net.ipv4.ip_forward":"1"}"#, r#"[{"type":"ipc"}]"#).unwrap_err();
        assert!(err.contains("needs a private network namespace"), "{err}");
        let host_net = r#"[{"type":"network","path":"/proc/self/ns/net"}]"#;
        assert!(check(r#"{"net.ipv4.ip_forward":"1"}"#, host_net).is_err());
        let err = check(r#"{"net/../vm/swappiness":"1"}"#, private_net).unwrap_err();
        assert!(err.contains("is not a sysctl name"), "{err}");
        assert!(check(r#"{"kernel.shmmax":"1"}"#, r#"[{"type":"ipc"}]"#).is_ok());
    }

    #[test]
    fn malformed_json_is_reported() {
        let err = parse("{\"ociVersion\": ").unwrap_err().to_string();
        assert!(err.starts_with("invalid config: config.json:"), "{err}");
    }
}
