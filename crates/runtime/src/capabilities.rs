//! Applying `process.capabilities`: bounding, effective, permitted, inheritable, ambient.
//!
//! Order matters (capabilities(7)): the bounding set is trimmed while CAP_SETPCAP is
//! still held; the uid switch happens with PR_SET_KEEPCAPS so the permitted set
//! survives it; then inheritable, effective and permitted are set (effective must stay
//! within permitted at each step), and ambient last, since an ambient capability must
//! be both permitted and inheritable.

use std::collections::HashSet;

use caps::{CapSet, Capability};
use oci_spec::runtime::LinuxCapabilities;

use crate::error::{Error, Result};

fn convert(set: Option<&HashSet<oci_spec::runtime::Capability>>) -> Result<HashSet<Capability>> {
    let mut out = HashSet::new();
    for c in set.into_iter().flatten() {
        let name = c.to_string();
        let name = if name.starts_with("CAP_") {
            name
        } else {
            format!("CAP_{name}")
        };
        let cap: Capability = name.parse().map_err(|_| {
            Error::config(format!("process.capabilities: unknown capability {name}"))
        })?;
        out.insert(cap);
    }
    Ok(out)
}

/// The sets to apply, each limited to what this kernel knows.
pub struct Sets {
    bounding: HashSet<Capability>,
    effective: HashSet<Capability>,
    permitted: HashSet<Capability>,
    inheritable: HashSet<Capability>,
    ambient: HashSet<Capability>,
}

pub fn resolve(c: Option<&LinuxCapabilities>) -> Result<Sets> {
    let known = caps::runtime::thread_all_supported();
    let keep = |s: HashSet<Capability>| -> HashSet<Capability> {
        s.intersection(&known).copied().collect()
    };
    Ok(match c {
        None => Sets {
            bounding: HashSet::new(),
            effective: HashSet::new(),
            permitted: HashSet::new(),
            inheritable: HashSet::new(),
            ambient: HashSet::new(),
        },
        Some(c) => Sets {
            bounding: keep(convert(c.bounding().as_ref())?),
            effective: keep(convert(c.effective().as_ref())?),
            permitted: keep(convert(c.permitted().as_ref())?),
            inheritable: keep(convert(c.inheritable().as_ref())?),
            ambient: keep(convert(c.ambient().as_ref())?),
        },
    })
}

/// Drops every capability not in the bounding set. Needs CAP_SETPCAP, so it runs first.
pub fn drop_bounding(sets: &Sets) -> Result<()> {
    for cap in caps::runtime::thread_all_supported() {
        if !sets.bounding.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| {
                Error::Init(format!("failed to drop {cap} from the bounding set: {e}"))
            })?;
        }
    }
    Ok(())
}

/// Sets the other four sets. A capability this process does not hold itself (say
/// CAP_SYS_RESOURCE on a host whose root lacks it) is left out with a warning rather
/// than failing the container, which is what a caller asking for "everything" means.
pub fn apply(sets: &Sets) -> Result<Vec<String>> {
    let held = caps::read(None, CapSet::Permitted).unwrap_or_default();
    let mut warnings = Vec::new();
    let mut limit = |s: &HashSet<Capability>, name: &str| -> HashSet<Capability> {
        let missing: Vec<_> = s.difference(&held).map(|c| c.to_string()).collect();
        if !missing.is_empty() {
            let mut missing = missing;
            missing.sort();
            warnings.push(format!(
                "{name} capabilities not held by the runtime, left out: {}",
                missing.join(", ")
            ));
        }
        s.intersection(&held).copied().collect()
    };
    let permitted = limit(&sets.permitted, "permitted");
    let effective: HashSet<_> = limit(&sets.effective, "effective")
        .intersection(&permitted)
        .copied()
        .collect();
    let inheritable: HashSet<_> = sets
        .inheritable
        .iter()
        .copied()
        .filter(|c| held.contains(c))
        .collect();
    let err = |what: &str, e: caps::errors::CapsError| {
        Error::Init(format!("failed to set the {what} capabilities: {e}"))
    };
    caps::set(None, CapSet::Inheritable, &inheritable).map_err(|e| err("inheritable", e))?;
    caps::set(None, CapSet::Effective, &effective).map_err(|e| err("effective", e))?;
    caps::set(None, CapSet::Permitted, &permitted).map_err(|e| err("permitted", e))?;
    caps::clear(None, CapSet::Ambient).map_err(|e| err("ambient", e))?;
    for cap in &sets.ambient {
        if permitted.contains(cap) && inheritable.contains(cap) {
            caps::raise(None, CapSet::Ambient, *cap).map_err(|e| err("ambient", e))?;
        }
    }
    Ok(warnings)
}
