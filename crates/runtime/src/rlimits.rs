//! Process resource limits (`process.rlimits`).
//!
//! Raising a hard limit needs CAP_SYS_RESOURCE. Hosts whose root lacks it (this
//! project's CI among them) would otherwise fail deep inside the container's init with
//! a bare EPERM, so the check happens in the parent before anything is created.

use oci_spec::runtime::{PosixRlimit, PosixRlimitType, Process};
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

use crate::error::{Error, Result};

pub fn resource(t: PosixRlimitType) -> Resource {
    match t {
        PosixRlimitType::RlimitCpu => Resource::Cpu,
        PosixRlimitType::RlimitFsize => Resource::Fsize,
        PosixRlimitType::RlimitData => Resource::Data,
        PosixRlimitType::RlimitStack => Resource::Stack,
        PosixRlimitType::RlimitCore => Resource::Core,
        PosixRlimitType::RlimitRss => Resource::Rss,
        PosixRlimitType::RlimitNproc => Resource::Nproc,
        PosixRlimitType::RlimitNofile => Resource::Nofile,
        PosixRlimitType::RlimitMemlock => Resource::Memlock,
        PosixRlimitType::RlimitAs => Resource::As,
        PosixRlimitType::RlimitLocks => Resource::Locks,
        PosixRlimitType::RlimitSigpending => Resource::Sigpending,
        PosixRlimitType::RlimitMsgqueue => Resource::Msgqueue,
        PosixRlimitType::RlimitNice => Resource::Nice,
        PosixRlimitType::RlimitRtprio => Resource::Rtprio,
        PosixRlimitType::RlimitRttime => Resource::Rttime,
    }
}

fn name(t: PosixRlimitType) -> String {
    t.to_string()
}

fn as_limit(v: u64) -> Option<u64> {
    (v != u64::MAX).then_some(v)
}

/// Whether this process may raise a hard limit: CAP_SYS_RESOURCE, effective, in the
/// initial user namespace (the kernel checks it there, so the capability a process
/// holds inside a user namespace of its own does not count).
pub fn can_raise_hard_limits() -> bool {
    caps::has_cap(
        None,
        caps::CapSet::Effective,
        caps::Capability::CAP_SYS_RESOURCE,
    )
    .unwrap_or(false)
        && std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|m| is_initial_uid_map(&m))
}

/// The initial user namespace maps every id onto itself.
fn is_initial_uid_map(map: &str) -> bool {
    let fields: Vec<&str> = map.split_whitespace().collect();
    fields == ["0", "0", "4294967295"]
}

/// Refuses limits that cannot be applied: soft above hard, a type given twice, or a
/// hard limit above the caller's when the caller cannot raise it. Runs before anything
/// is created, so the error names the limit instead of surfacing as a bare EPERM from
/// the container's init.
pub fn check(process: &Process) -> Result<()> {
    let mut can_raise = None;
    let mut seen = Vec::new();
    for r in process.rlimits().iter().flatten() {
        if seen.contains(&r.typ()) {
            return Err(Error::config(format!(
                "process.rlimits: {} appears twice",
                name(r.typ())
            )));
        }
        seen.push(r.typ());
        if r.soft() > r.hard() {
            return Err(Error::config(format!(
                "process.rlimits: {} soft limit {} is above its hard limit {}",
                name(r.typ()),
                r.soft(),
                r.hard()
            )));
        }
        let cur_hard = getrlimit(resource(r.typ())).maximum.unwrap_or(u64::MAX);
        if r.hard() > cur_hard && !*can_raise.get_or_insert_with(can_raise_hard_limits) {
            return Err(Error::config(above_hard_limit(r, cur_hard)));
        }
    }
    Ok(())
}

fn above_hard_limit(r: &PosixRlimit, cur_hard: u64) -> String {
    let show = |v: u64| {
        if v == u64::MAX {
            "unlimited".to_string()
        } else {
            v.to_string()
        }
    };
    format!(
        "process.rlimits: {} hard {} is above the caller's hard limit {} and CAP_SYS_RESOURCE is missing",
        name(r.typ()),
        show(r.hard()),
        show(cur_hard)
    )
}

/// Applies the limits to the calling process (the container's init or exec process).
pub fn apply(rlimits: &[PosixRlimit]) -> Result<()> {
    for r in rlimits {
        setrlimit(
            resource(r.typ()),
            Rlimit {
                current: as_limit(r.soft()),
                maximum: as_limit(r.hard()),
            },
        )
        .map_err(|e| {
            Error::Init(format!(
                "failed to set {} to soft {} hard {}: {e}",
                name(r.typ()),
                r.soft(),
                r.hard()
            ))
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_identity_map_is_the_initial_user_namespace() {
        assert!(is_initial_uid_map("         0          0 4294967295\n"));
        assert!(!is_initial_uid_map("0 1000 1\n"));
        assert!(!is_initial_uid_map("0 100000 65536\n"));
        assert!(!is_initial_uid_map(""));
    }

    #[test]
    fn the_error_names_the_limit_the_value_and_the_hard_limit() {
        let r = oci_spec::runtime::PosixRlimitBuilder::default()
            .typ(PosixRlimitType::RlimitNofile)
            .hard(2097152u64)
            .soft(1024u64)
            .build()
            .unwrap();
        assert_eq!(
            above_hard_limit(&r, 1048576),
            "process.rlimits: RLIMIT_NOFILE hard 2097152 is above the caller's hard limit 1048576 and CAP_SYS_RESOURCE is missing"
        );
    }
}
