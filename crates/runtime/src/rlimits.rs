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

/// Refuses limits that cannot be applied: soft above hard, or a hard limit above the
/// caller's when the caller cannot raise it.
pub fn check(process: &Process) -> Result<()> {
    let can_raise = caps::has_cap(
        None,
        caps::CapSet::Effective,
        caps::Capability::CAP_SYS_RESOURCE,
    )
    .unwrap_or(false);
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
        let current = getrlimit(resource(r.typ()));
        let cur_hard = current.maximum.unwrap_or(u64::MAX);
        if r.hard() > cur_hard && !can_raise {
            return Err(Error::config(format!(
                "process.rlimits: {} hard limit {} is above the runtime's hard limit {}, and raising it needs CAP_SYS_RESOURCE, which this process lacks",
                name(r.typ()),
                r.hard(),
                cur_hard
            )));
        }
    }
    Ok(())
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
