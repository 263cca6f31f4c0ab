//! The seccomp filter of a container, as the OCI `linux.seccomp` section the runtime
//! compiles to BPF (seccomp(2), `SECCOMP_SET_MODE_FILTER`).
//!
//! Two sources, one shape out:
//!
//! - Docker's default profile, which berth keeps as data in `seccomp-default.json`
//!   (its own layout: an always-allowed list, then groups keyed by what unlocks them —
//!   a capability, the host's architecture, a minimum kernel — then the rules that
//!   look at arguments). [`default_profile`] selects what applies to one container.
//! - A profile in Docker's format (`--security-opt seccomp=<file>`: the docker CLI sends
//!   the file's JSON inline), converted by [`docker_profile`] with moby's rules
//!   (`profiles/seccomp/seccomp_linux.go`): `architectures` or the `archMap` entry of
//!   the host, `includes`/`excludes` on capabilities, architectures and `minKernel`.
//!
//! Capabilities are those of the container's bounding set, so the filter must be made
//! after `--cap-add/--cap-drop` are resolved: a container with CAP_SYS_ADMIN may call
//! `mount`, one without may not even ask the kernel. A profile opens what the
//! capability already guards, never more (moby's reasoning: the syscalls behind a
//! missing capability are attack surface the container cannot use anyway).
//!
//! Unknown syscall names are passed on: the runtime skips the names its libseccomp
//! does not know, as runc does, so one list serves old and new kernels.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

/// Why a profile was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The JSON does not decode as a Docker profile.
    #[error("decoding seccomp profile failed: {0}")]
    Decode(#[source] serde_json::Error),
    /// The profile decodes but cannot mean anything.
    #[error("invalid seccomp profile: {0}")]
    Invalid(String),
    /// A profile path the daemon cannot read.
    #[error("opening seccomp profile ({path}) failed: {message}")]
    Open {
        path: String,
        message: String,
        #[source]
        source: std::io::Error,
    },
    /// The kernel has no seccomp (`Seccomp:` missing from `/proc/self/status`).
    #[error("seccomp is not enabled in your kernel, cannot run a custom seccomp profile")]
    NotInKernel,
}

/// What a profile is made for: the host's architecture and kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    /// Rust's name of the architecture (`std::env::consts::ARCH`).
    pub arch: &'static str,
    /// The running kernel's major and minor version.
    pub kernel: (u32, u32),
}

impl Host {
    /// This machine.
    pub fn current() -> Host {
        let uname = rustix::system::uname();
        let release = uname.release().to_string_lossy();
        Host {
            arch: std::env::consts::ARCH,
            kernel: parse_kernel(&release).unwrap_or((0, 0)),
        }
    }

    /// The architecture as Docker's profiles spell it (Go's `GOARCH` through moby's
    /// `goToNative`), for `includes.arches`/`excludes.arches`.
    fn docker_arch(&self) -> &'static str {
        match self.arch {
            "x86_64" => "amd64",
            "x86" => "x86",
            "aarch64" => "arm64",
            "arm" => "arm",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "powerpc64" => "ppc64",
            "mips64" if cfg!(target_endian = "little") => "mipsel64",
            "mips64" => "mips64",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            "loongarch64" => "loong64",
            other => other,
        }
    }

    /// The libseccomp name of the native architecture, for `archMap`.
    fn seccomp_arch(&self) -> Option<&'static str> {
        Some(match self.docker_arch() {
            "amd64" => "SCMP_ARCH_X86_64",
            "x86" => "SCMP_ARCH_X86",
            "arm64" => "SCMP_ARCH_AARCH64",
            "arm" => "SCMP_ARCH_ARM",
            "ppc64le" => "SCMP_ARCH_PPC64LE",
            "ppc64" => "SCMP_ARCH_PPC64",
            "mipsel64" => "SCMP_ARCH_MIPSEL64",
            "mips64" => "SCMP_ARCH_MIPS64",
            "s390x" => "SCMP_ARCH_S390X",
            "riscv64" => "SCMP_ARCH_RISCV64",
            "loong64" => "SCMP_ARCH_LOONGARCH64",
            _ => return None,
        })
    }
}

/// `6.18.44-fc` → (6, 18); also Docker's `minKernel` spelling `4.8`.
fn parse_kernel(s: &str) -> Option<(u32, u32)> {
    let mut parts = s.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()
        .and_then(|m| {
            let digits: String = m.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .unwrap_or(0);
    Some((major, minor))
}

/// Whether this kernel filters system calls at all (moby's `sysinfo.Seccomp`).
pub fn kernel_supported() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Seccomp:")))
        .unwrap_or(false)
}

/// The errno names the data files use.
fn errno(name: &str) -> Option<u32> {
    Some(match name {
        "EPERM" => 1,
        "ENOENT" => 2,
        "EACCES" => 13,
        "EINVAL" => 22,
        "ENOSYS" => 38,
        _ => return None,
    })
}

/// berth's comparison spellings, as libseccomp's operators.
fn op(name: &str) -> Option<&'static str> {
    Some(match name {
        "==" => "SCMP_CMP_EQ",
        "!=" => "SCMP_CMP_NE",
        "<" => "SCMP_CMP_LT",
        "<=" => "SCMP_CMP_LE",
        ">" => "SCMP_CMP_GT",
        ">=" => "SCMP_CMP_GE",
        "masked==" => "SCMP_CMP_MASKED_EQ",
        _ => return None,
    })
}

const ACTIONS: &[&str] = &[
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];

const OPS: &[&str] = &[
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

/// `seccomp-default.json`, decoded.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Builtin {
    #[allow(dead_code)]
    about: String,
    #[cfg_attr(not(test), allow(dead_code))]
    version: u32,
    default_action: String,
    default_errno: String,
    architectures: BTreeMap<String, Vec<String>>,
    allow: Vec<String>,
    allow_on_arch: BTreeMap<String, Vec<String>>,
    allow_with_cap: BTreeMap<String, Vec<String>>,
    allow_from_kernel: BTreeMap<String, KernelGroup>,
    argument_rules: Vec<ArgumentRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KernelGroup {
    #[allow(dead_code)]
    why: String,
    syscalls: Vec<String>,
}

/// One syscall whose permission depends on its arguments (or that gets a special
/// errno instead of the default one).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ArgumentRule {
    syscall: String,
    #[allow(dead_code)]
    why: String,
    /// The rule applies only when the container lacks this capability.
    #[serde(default)]
    unless_cap: Option<String>,
    /// Allowed when every condition holds.
    #[serde(default)]
    when: Vec<Condition>,
    /// Allowed when argument `arg` is one of these values.
    #[serde(default)]
    arg: Option<u32>,
    #[serde(default)]
    one_of: Vec<u64>,
    /// Instead of allowing, fail with this errno.
    #[serde(default)]
    errno: Option<String>,
    /// Architectures where the examined argument has another index.
    #[serde(default)]
    arg_on_arch: BTreeMap<String, u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Condition {
    arg: u32,
    op: String,
    value: u64,
    #[serde(default)]
    mask: Option<u64>,
}

const BUILTIN_JSON: &str = include_str!("seccomp-default.json");

fn builtin() -> &'static Builtin {
    static B: OnceLock<Builtin> = OnceLock::new();
    B.get_or_init(|| {
        serde_json::from_str(BUILTIN_JSON)
            .expect("seccomp-default.json decodes (checked by this module's tests)")
    })
}

fn allow(names: &[String]) -> Value {
    json!({"names": names, "action": "SCMP_ACT_ALLOW"})
}

/// Docker's default profile for a container whose bounding set is `caps`.
pub fn default_profile(caps: &[String], host: &Host) -> Value {
    let b = builtin();
    let has = |cap: &str| caps.iter().any(|c| c == cap);
    let mut syscalls = vec![allow(&b.allow)];
    if let Some(names) = b.allow_on_arch.get(host.arch) {
        syscalls.push(allow(names));
    }
    for (version, group) in &b.allow_from_kernel {
        if parse_kernel(version).is_some_and(|v| host.kernel >= v) {
            syscalls.push(allow(&group.syscalls));
        }
    }
    for (cap, names) in &b.allow_with_cap {
        if has(cap) {
            syscalls.push(allow(names));
        }
    }
    for rule in &b.argument_rules {
        if rule.unless_cap.as_deref().is_some_and(has) {
            continue;
        }
        let index = |arg: u32| rule.arg_on_arch.get(host.arch).copied().unwrap_or(arg);
        let names = [rule.syscall.clone()];
        if let Some(e) = &rule.errno {
            syscalls.push(json!({
                "names": names,
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": errno(e).unwrap_or(1),
            }));
        } else if let Some(arg) = rule.arg {
            // One entry per value: the conditions of one entry must all hold.
            for v in &rule.one_of {
                syscalls.push(json!({
                    "names": names,
                    "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": index(arg), "value": v, "op": "SCMP_CMP_EQ"}],
                }));
            }
        } else {
            let args: Vec<Value> = rule
                .when
                .iter()
                .map(|c| {
                    let op = op(&c.op).unwrap_or("SCMP_CMP_EQ");
                    match c.mask {
                        // libseccomp's MASKED_EQ: `value` is the mask, `valueTwo` the datum.
                        Some(mask) => json!({"index": index(c.arg), "value": mask, "valueTwo": c.value, "op": op}),
                        None => json!({"index": index(c.arg), "value": c.value, "op": op}),
                    }
                })
                .collect();
            syscalls.push(json!({"names": names, "action": "SCMP_ACT_ALLOW", "args": args}));
        }
    }
    json!({
        "defaultAction": b.default_action,
        "defaultErrnoRet": errno(&b.default_errno).unwrap_or(1),
        "architectures": b.architectures.get(host.arch).cloned().unwrap_or_default(),
        "syscalls": syscalls,
    })
}

/// Go's `json.Unmarshal` leaves a field alone on `null`: the default here.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A profile in Docker's format (moby `profiles/seccomp/seccomp.go`'s `Seccomp`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct DockerProfile {
    default_action: String,
    default_errno_ret: Option<u32>,
    #[serde(deserialize_with = "null_default")]
    architectures: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    arch_map: Vec<DockerArchMap>,
    #[serde(deserialize_with = "null_default")]
    flags: Vec<String>,
    listener_path: String,
    listener_metadata: String,
    #[serde(deserialize_with = "null_default")]
    syscalls: Vec<DockerSyscall>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct DockerArchMap {
    architecture: String,
    #[serde(deserialize_with = "null_default")]
    sub_architectures: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct DockerSyscall {
    name: String,
    #[serde(deserialize_with = "null_default")]
    names: Vec<String>,
    action: String,
    errno_ret: Option<u32>,
    #[serde(deserialize_with = "null_default")]
    args: Vec<DockerArg>,
    #[serde(deserialize_with = "null_default")]
    includes: DockerFilter,
    #[serde(deserialize_with = "null_default")]
    excludes: DockerFilter,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct DockerArg {
    index: u32,
    value: u64,
    value_two: u64,
    op: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct DockerFilter {
    #[serde(deserialize_with = "null_default")]
    caps: Vec<String>,
    #[serde(deserialize_with = "null_default")]
    arches: Vec<String>,
    min_kernel: Option<String>,
}

fn kernel_at_least(v: &str, host: &Host) -> Result<bool, Error> {
    let want = parse_kernel(v)
        .filter(|_| v.split('.').count() == 2)
        .ok_or_else(|| Error::Invalid(format!("invalid kernel version: {v:?}")))?;
    Ok(host.kernel >= want)
}

/// A profile in Docker's format, for a container whose bounding set is `caps`, as
/// the OCI `linux.seccomp` section. `None`: the profile filters nothing (no default
/// action, no syscalls), which moby takes as "no seccomp".
pub fn docker_profile(text: &str, caps: &[String], host: &Host) -> Result<Option<Value>, Error> {
    let p: DockerProfile = serde_json::from_str(text).map_err(Error::Decode)?;
    if p.default_action.is_empty() && p.syscalls.is_empty() {
        return Ok(None);
    }
    if !p.architectures.is_empty() && !p.arch_map.is_empty() {
        return Err(Error::Invalid(
            "'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'".into(),
        ));
    }
    let check_action = |a: &str, at: &str| {
        if ACTIONS.contains(&a) {
            Ok(())
        } else {
            Err(Error::Invalid(format!("{at}: unknown action {a:?}")))
        }
    };
    check_action(&p.default_action, "defaultAction")?;
    let mut arches = p.architectures.clone();
    if let Some(native) = host.seccomp_arch() {
        if let Some(m) = p.arch_map.iter().find(|m| m.architecture == native) {
            arches.push(m.architecture.clone());
            arches.extend(m.sub_architectures.iter().cloned());
        }
    }
    let has = |c: &String| caps.contains(c);
    let arch = host.docker_arch();
    let mut syscalls = Vec::new();
    for (i, call) in p.syscalls.iter().enumerate() {
        let at = format!("syscalls[{i}]");
        if call.excludes.arches.iter().any(|a| a == arch) || call.excludes.caps.iter().any(has) {
            continue;
        }
        if let Some(v) = &call.excludes.min_kernel {
            if kernel_at_least(v, host)? {
                continue;
            }
        }
        if !call.includes.arches.is_empty() && !call.includes.arches.iter().any(|a| a == arch) {
            continue;
        }
        if !call.includes.caps.iter().all(has) {
            continue;
        }
        if let Some(v) = &call.includes.min_kernel {
            if !kernel_at_least(v, host)? {
                continue;
            }
        }
        if !call.name.is_empty() && !call.names.is_empty() {
            return Err(Error::Invalid(
                "'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'".into(),
            ));
        }
        let names = if call.name.is_empty() {
            call.names.clone()
        } else {
            vec![call.name.clone()]
        };
        if names.is_empty() {
            return Err(Error::Invalid(format!("{at}: no syscall names")));
        }
        check_action(&call.action, &format!("{at}.action"))?;
        let mut out = json!({"names": names, "action": call.action});
        if let Some(e) = call.errno_ret {
            out["errnoRet"] = json!(e);
        }
        if !call.args.is_empty() {
            let mut args = Vec::new();
            for (j, a) in call.args.iter().enumerate() {
                if !OPS.contains(&a.op.as_str()) {
                    return Err(Error::Invalid(format!(
                        "{at}.args[{j}].op: unknown operator {:?}",
                        a.op
                    )));
                }
                if a.index > 5 {
                    return Err(Error::Invalid(format!(
                        "{at}.args[{j}].index: {} is not an argument (0 to 5)",
                        a.index
                    )));
                }
                let mut arg = json!({"index": a.index, "value": a.value, "op": a.op});
                if a.value_two != 0 {
                    arg["valueTwo"] = json!(a.value_two);
                }
                args.push(arg);
            }
            out["args"] = json!(args);
        }
        syscalls.push(out);
    }
    let mut out = json!({"defaultAction": p.default_action, "syscalls": syscalls});
    if !arches.is_empty() {
        out["architectures"] = json!(arches);
    }
    if let Some(e) = p.default_errno_ret {
        out["defaultErrnoRet"] = json!(e);
    }
    if !p.flags.is_empty() {
        out["flags"] = json!(p.flags);
    }
    if !p.listener_path.is_empty() {
        out["listenerPath"] = json!(p.listener_path);
    }
    if !p.listener_metadata.is_empty() {
        out["listenerMetadata"] = json!(p.listener_metadata);
    }
    Ok(Some(out))
}

/// Reads a profile named by path (a client that sent `seccomp=/path` instead of the
/// file's content, as the docker CLI does).
pub fn read_profile(path: &str) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Open {
        path: path.to_owned(),
        message: go_io_message(&source),
        source,
    })
}

/// An io error as Go prints it: lowercase, without Rust's " (os error N)".
fn go_io_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s);
    s.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    const X86: Host = Host {
        arch: "x86_64",
        kernel: (6, 1),
    };

    fn caps(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn default_caps() -> Vec<String> {
        super::super::spec::DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// The entries that name `syscall`.
    fn entries<'a>(p: &'a Value, syscall: &str) -> Vec<&'a Value> {
        p["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["names"].as_array().unwrap().iter().any(|n| n == syscall))
            .collect()
    }

    /// Allowed whatever its arguments.
    fn allowed(p: &Value, syscall: &str) -> bool {
        entries(p, syscall)
            .iter()
            .any(|e| e["action"] == "SCMP_ACT_ALLOW" && e.get("args").is_none())
    }

    #[test]
    fn builtin_profile_decodes_and_is_consistent() {
        let b = builtin();
        assert_eq!(b.version, 1);
        assert!(errno(&b.default_errno).is_some());
        let mut seen = std::collections::BTreeSet::new();
        for n in &b.allow {
            assert!(seen.insert(n), "{n} listed twice in allow");
        }
        for (cap, names) in &b.allow_with_cap {
            assert!(cap.starts_with("CAP_"), "{cap}");
            for n in names {
                assert!(
                    !seen.contains(n),
                    "{n} is always allowed and also under {cap}"
                );
            }
        }
        for r in &b.argument_rules {
            assert!(!seen.contains(&r.syscall), "{} always allowed", r.syscall);
            for c in &r.when {
                assert!(op(&c.op).is_some(), "{}: op {}", r.syscall, c.op);
            }
            if let Some(e) = &r.errno {
                assert!(errno(e).is_some(), "{e}");
            }
        }
    }

    #[test]
    fn default_allows_read_and_denies_mount_without_sys_admin() {
        let p = default_profile(&default_caps(), &X86);
        assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(p["defaultErrnoRet"], 1);
        assert_eq!(
            p["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        for s in [
            "read",
            "write",
            "execve",
            "futex",
            "arch_prctl",
            "mknod",
            "chroot",
        ] {
            assert!(allowed(&p, s), "{s}");
        }
        for s in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "sethostname",
            "init_module",
            "finit_module",
            "reboot",
            "settimeofday",
            "syslog",
            "bpf",
            "kexec_load",
            "open_by_handle_at",
            "iopl",
            "acct",
            "keyctl",
            "add_key",
        ] {
            assert!(
                entries(&p, s).is_empty(),
                "{s} should fall to the default errno"
            );
        }
        let with = default_profile(&caps(&["CAP_SYS_ADMIN"]), &X86);
        for s in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "sethostname",
            "clone",
            "clone3",
        ] {
            assert!(allowed(&with, s), "{s} with CAP_SYS_ADMIN");
        }
    }

    #[test]
    fn capabilities_unlock_their_groups() {
        let none = default_profile(&[], &X86);
        for (cap, s) in [
            ("CAP_SYS_MODULE", "init_module"),
            ("CAP_SYS_MODULE", "delete_module"),
            ("CAP_SYS_BOOT", "reboot"),
            ("CAP_SYS_TIME", "clock_settime"),
            ("CAP_SYSLOG", "syslog"),
            ("CAP_SYS_NICE", "mbind"),
            ("CAP_SYS_RAWIO", "ioperm"),
            ("CAP_SYS_PACCT", "acct"),
            ("CAP_SYS_CHROOT", "chroot"),
            ("CAP_BPF", "bpf"),
            ("CAP_PERFMON", "perf_event_open"),
            ("CAP_SYS_PTRACE", "kcmp"),
            ("CAP_SYS_PTRACE", "pidfd_getfd"),
            ("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
        ] {
            assert!(!allowed(&none, s), "{s} without {cap}");
            assert!(
                allowed(&default_profile(&caps(&[cap]), &X86), s),
                "{s} with {cap}"
            );
        }
    }

    #[test]
    fn ptrace_needs_the_capability_before_4_8_only() {
        let old = Host {
            arch: "x86_64",
            kernel: (4, 4),
        };
        assert!(!allowed(&default_profile(&default_caps(), &old), "ptrace"));
        let mut with = default_caps();
        with.push("CAP_SYS_PTRACE".into());
        assert!(allowed(&default_profile(&with, &old), "ptrace"));
        assert!(allowed(&default_profile(&with, &old), "process_vm_writev"));
        // Docker's profile allows ptrace from 4.8 on: the filter is re-checked after a tracer.
        let new = Host {
            arch: "x86_64",
            kernel: (4, 8),
        };
        assert!(allowed(&default_profile(&default_caps(), &new), "ptrace"));
    }

    #[test]
    fn clone_without_sys_admin_cannot_make_namespaces() {
        let p = default_profile(&default_caps(), &X86);
        let clone = entries(&p, "clone");
        assert_eq!(clone.len(), 1, "{clone:?}");
        assert_eq!(clone[0]["action"], "SCMP_ACT_ALLOW");
        assert_eq!(
            clone[0]["args"],
            json!([{"index": 0, "value": 0x7E02_0000u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}])
        );
        let clone3 = entries(&p, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(clone3[0]["action"], "SCMP_ACT_ERRNO");
        assert_eq!(clone3[0]["errnoRet"], 38);
        // s390 passes the flags second.
        let s390 = Host {
            arch: "s390x",
            kernel: (6, 1),
        };
        let p = default_profile(&default_caps(), &s390);
        assert_eq!(entries(&p, "clone")[0]["args"][0]["index"], 1);
        assert!(allowed(&p, "s390_runtime_instr"));
        assert!(!allowed(&p, "arch_prctl"));
        // With CAP_SYS_ADMIN: no argument rule, no ENOSYS.
        let p = default_profile(&caps(&["CAP_SYS_ADMIN"]), &X86);
        assert!(entries(&p, "clone3")
            .iter()
            .all(|e| e["action"] == "SCMP_ACT_ALLOW"));
        assert!(entries(&p, "clone").iter().all(|e| e.get("args").is_none()));
    }

    #[test]
    fn argument_rules_socket_and_personality() {
        let p = default_profile(&default_caps(), &X86);
        let socket = entries(&p, "socket");
        assert_eq!(
            socket[0]["args"],
            json!([{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}])
        );
        let values: Vec<u64> = entries(&p, "personality")
            .iter()
            .map(|e| e["args"][0]["value"].as_u64().unwrap())
            .collect();
        assert_eq!(values, [0, 8, 0x20000, 0x20008, 0xffff_ffff]);
    }

    #[test]
    fn architectures_follow_the_host() {
        let arm = Host {
            arch: "aarch64",
            kernel: (6, 1),
        };
        let p = default_profile(&[], &arm);
        assert_eq!(
            p["architectures"],
            json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
        );
        assert!(allowed(&p, "set_tls"));
        let unknown = Host {
            arch: "sparc64",
            kernel: (6, 1),
        };
        assert_eq!(default_profile(&[], &unknown)["architectures"], json!([]));
    }

    #[test]
    fn docker_profiles_convert_with_includes_and_excludes() {
        let text = r#"{
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "archMap": [
                {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": null}
            ],
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "args": null},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
                {"names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
                {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"name": "socket", "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]}
            ]
        }"#;
        let p = docker_profile(text, &default_caps(), &X86)
            .unwrap()
            .unwrap();
        assert_eq!(
            p["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
        );
        assert_eq!(p["defaultErrnoRet"], 1);
        let names: Vec<&Value> = p["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| &s["names"][0])
            .collect();
        assert_eq!(names, ["read", "arch_prctl", "ptrace", "clone3", "socket"]);
        assert_eq!(entries(&p, "clone3")[0]["errnoRet"], 38);
        assert_eq!(entries(&p, "socket")[0]["args"][0]["op"], "SCMP_CMP_NE");

        let admin = docker_profile(text, &caps(&["CAP_SYS_ADMIN"]), &X86)
            .unwrap()
            .unwrap();
        assert!(allowed(&admin, "mount"));
        assert!(entries(&admin, "clone3").is_empty());

        let old = Host {
            arch: "x86_64",
            kernel: (4, 4),
        };
        let p = docker_profile(text, &[], &old).unwrap().unwrap();
        assert!(entries(&p, "ptrace").is_empty());
    }

    #[test]
    fn docker_profiles_bad_input() {
        let e = docker_profile("{not json", &[], &X86).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("decoding seccomp profile failed: "),
            "{e}"
        );
        let e = docker_profile(r#"{"defaultAction": 5}"#, &[], &X86).unwrap_err();
        assert!(
            e.to_string().contains("decoding seccomp profile failed"),
            "{e}"
        );
        let e = docker_profile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#,
            &[],
            &X86,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("use either 'architectures' or 'archMap'"),
            "{e}"
        );
        let e = docker_profile(r#"{"defaultAction": "SCMP_ACT_NOPE"}"#, &[], &X86).unwrap_err();
        assert!(e.to_string().contains("SCMP_ACT_NOPE"), "{e}");
        let e = docker_profile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}"#,
            &[],
            &X86,
        )
        .unwrap_err();
        assert!(e.to_string().contains("syscalls[0].args[0].op"), "{e}");
        // An empty profile is no filter at all, as in moby.
        assert!(docker_profile("{}", &[], &X86).unwrap().is_none());
        let e = read_profile("/nonexistent/profile.json").unwrap_err();
        assert_eq!(
            e.to_string(),
            "opening seccomp profile (/nonexistent/profile.json) failed: no such file or directory"
        );
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(parse_kernel("6.18.44-fc-v657"), Some((6, 18)));
        assert_eq!(parse_kernel("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel("5.10.0-rc1"), Some((5, 10)));
        assert_eq!(parse_kernel("x"), None);
        assert!(Host::current().kernel >= (3, 0));
    }
}
