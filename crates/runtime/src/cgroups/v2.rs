//! The cgroup v2 manager: one directory in the unified tree.
//!
//! A controller's files appear in a cgroup only when its parent lists the
//! controller in `cgroup.subtree_control`, and a parent may only do that when
//! its own parent did. [`CgroupManager::apply`] therefore enables the needed
//! controllers top-down on every ancestor of the leaf before the process joins
//! (kernel `Documentation/admin-guide/cgroup-v2.rst`, "Top-down Constraint").
//!
//! The v1-shaped OCI values are converted as runc and crun do: cpu shares map
//! onto `cpu.weight`, memory+swap becomes the swap alone in
//! `memory.swap.max`, and blkio weights map onto `io.weight`. Device rules
//! need an eBPF program on v2, which is not written yet: they produce a
//! warning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::fs::{self, keyed, read_keyed, read_u64};
use super::stats::{self, Stats};
use super::{validate, CgroupError, CgroupManager};

/// The controllers berth enables for containers, when the kernel has them.
const WANTED: &[&str] = &["cpuset", "cpu", "io", "memory", "pids"];

/// Manages one cgroup in the unified hierarchy.
#[derive(Debug, Clone)]
pub struct V2Manager {
    root: PathBuf,
    rel: PathBuf,
}

impl V2Manager {
    /// `path` is the absolute cgroup path; `root` the cgroup2 mount.
    pub fn new(root: &Path, path: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            rel: super::relative(path),
        }
    }

    fn dir(&self) -> PathBuf {
        self.root.join(&self.rel)
    }

    /// Create the ancestors, enabling controllers in each one's
    /// `cgroup.subtree_control`, then the leaf.
    fn make_dirs(&self) -> Result<(), CgroupError> {
        let mut dir = self.root.clone();
        let mut available = controllers(&dir, WANTED);
        let mut comps = self.rel.components().peekable();
        while let Some(comp) = comps.next() {
            if !available.is_empty() {
                enable(&dir, &available)?;
            }
            dir.push(comp);
            fs::mkdir(&dir)?;
            if comps.peek().is_some() {
                available = controllers(&dir, &available);
            }
        }
        Ok(())
    }

    fn set_memory(&self, mem: &LinuxMemory, warnings: &mut Vec<String>) -> Result<(), CgroupError> {
        validate::memory("linux.resources.memory.limit", mem.limit())?;
        validate::memory("linux.resources.memory.swap", mem.swap())?;
        validate::memory("linux.resources.memory.reservation", mem.reservation())?;
        validate::swappiness(mem.swappiness())?;
        let dir = self.dir();
        if let Some(swap) = swap_max(mem.limit(), mem.swap())? {
            let file = dir.join("memory.swap.max");
            if file.exists() {
                fs::write(&file, &swap)?;
            } else {
                warnings.push(
                    "swap limit not supported by the kernel (no memory.swap.max), ignored".into(),
                );
            }
        }
        if let Some(l) = mem.limit().filter(|&l| l != 0) {
            fs::write(&dir.join("memory.max"), &max_or(l))?;
        }
        if let Some(r) = mem.reservation().filter(|&r| r != 0) {
            fs::write(&dir.join("memory.low"), &max_or(r))?;
        }
        if mem.swappiness().is_some() {
            warnings.push("memory swappiness is not supported on cgroup v2, ignored".into());
        }
        if mem.kernel_tcp().is_some() {
            warnings.push("kernel tcp memory limit is not supported on cgroup v2, ignored".into());
        }
        if mem.disable_oom_killer() == Some(true) {
            warnings.push("disabling the oom killer is not supported on cgroup v2, ignored".into());
        }
        Ok(())
    }

    fn set_cpu(&self, cpu: &LinuxCpu, warnings: &mut Vec<String>) -> Result<(), CgroupError> {
        validate::cpu(cpu)?;
        let dir = self.dir();
        if let Some(s) = cpu.shares().filter(|&s| s != 0) {
            fs::write(&dir.join("cpu.weight"), &shares_to_weight(s).to_string())?;
        }
        if let Some(max) = cpu_max(cpu.quota(), cpu.period()) {
            fs::write(&dir.join("cpu.max"), &max)?;
        }
        if let Some(b) = cpu.burst() {
            fs::write(&dir.join("cpu.max.burst"), &b.to_string())?;
        }
        if let Some(i) = cpu.idle() {
            fs::write(&dir.join("cpu.idle"), &i.to_string())?;
        }
        if cpu.realtime_period().is_some() || cpu.realtime_runtime().is_some() {
            warnings.push("realtime cpu limits are not supported on cgroup v2, ignored".into());
        }
        if let Some(cpus) = cpu.cpus().as_deref().filter(|s| !s.is_empty()) {
            fs::write(&dir.join("cpuset.cpus"), cpus)?;
        }
        if let Some(mems) = cpu.mems().as_deref().filter(|s| !s.is_empty()) {
            fs::write(&dir.join("cpuset.mems"), mems)?;
        }
        Ok(())
    }

    fn set_io(&self, io: &LinuxBlockIo, warnings: &mut Vec<String>) -> Result<(), CgroupError> {
        let dir = self.dir();
        let bfq = dir.join("io.bfq.weight");
        let weight = dir.join("io.weight");
        if let Some(w) = io.weight().filter(|&w| w != 0) {
            validate::blkio_weight("linux.resources.blockIO.weight", w)?;
            // BFQ takes blkio's 10..1000 as is; io.weight wants 1..10000.
            if bfq.exists() {
                fs::write(&bfq, &w.to_string())?;
            } else if weight.exists() {
                fs::write(&weight, &blkio_to_io_weight(w).to_string())?;
            } else {
                warnings.push("io weight not supported by the kernel, ignored".into());
            }
        }
        if io.leaf_weight().is_some() {
            warnings.push("blkio leaf weight is not supported on cgroup v2, ignored".into());
        }
        for d in io.weight_device().as_deref().unwrap_or_default() {
            let Some(w) = d.weight() else { continue };
            validate::blkio_weight("linux.resources.blockIO.weightDevice.weight", w)?;
            if bfq.exists() {
                fs::write(&bfq, &format!("{}:{} {w}", d.major(), d.minor()))?;
            } else {
                warnings.push("io weight_device not supported by the kernel, ignored".into());
            }
        }
        let throttles = [
            ("rbps", io.throttle_read_bps_device()),
            ("wbps", io.throttle_write_bps_device()),
            ("riops", io.throttle_read_iops_device()),
            ("wiops", io.throttle_write_iops_device()),
        ];
        for (key, list) in throttles {
            for t in list.as_deref().unwrap_or_default() {
                let rate = if t.rate() == 0 {
                    "max".to_string()
                } else {
                    t.rate().to_string()
                };
                let value = format!("{}:{} {key}={rate}", t.major(), t.minor());
                fs::write(&dir.join("io.max"), &value)?;
            }
        }
        Ok(())
    }

    fn set_other(&self, r: &LinuxResources, warnings: &mut Vec<String>) -> Result<(), CgroupError> {
        let dir = self.dir();
        if let Some(pids) = r.pids() {
            fs::write(&dir.join("pids.max"), &super::v1::pids_max(pids.limit()))?;
        }
        for h in r.hugepage_limits().as_deref().unwrap_or_default() {
            let file = dir.join(format!("hugetlb.{}.max", h.page_size()));
            fs::write(&file, &max_or(h.limit()))?;
        }
        if r.devices().as_ref().is_some_and(|d| !d.is_empty()) {
            warnings.push("device rules on cgroup v2 are not enforced yet".into());
        }
        if r.network().is_some() {
            warnings.push(
                "network classid and priorities are not supported on cgroup v2, ignored".into(),
            );
        }
        if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
            warnings.push("rdma limits are not supported, ignored".into());
        }
        // Unified: raw "file": "value" pairs, written last so they win.
        let mut unified: Vec<_> = r.unified().iter().flatten().collect();
        unified.sort();
        for (key, value) in unified {
            if key.contains('/') || key.starts_with('.') || key.is_empty() {
                return Err(CgroupError::Invalid {
                    field: "linux.resources.unified",
                    value: key.clone(),
                    reason: "must name a file in the cgroup directory".into(),
                });
            }
            fs::write(&dir.join(key), value)?;
        }
        Ok(())
    }

    fn freeze_to(&self, value: &'static str, frozen: bool) -> Result<(), CgroupError> {
        let dir = self.dir();
        let events = dir.join("cgroup.events");
        if !events.exists() && dir.exists() {
            return Err(CgroupError::Unsupported {
                what: "freezing",
                reason: "the kernel has no cgroup v2 freezer (cgroup.events is absent)".into(),
            });
        }
        fs::write(&dir.join("cgroup.freeze"), value)?;
        let state = if frozen { "frozen 1" } else { "frozen 0" };
        fs::wait_for(&events, state, |_| Ok(self.is_frozen()? == frozen))
    }
}

/// The controllers from `wanted` that `dir/cgroup.controllers` lists; when
/// the file is absent (fixtures), `wanted` as is.
fn controllers(dir: &Path, wanted: &[impl AsRef<str>]) -> Vec<String> {
    let wanted = wanted.iter().map(|w| w.as_ref().to_string());
    match std::fs::read_to_string(dir.join("cgroup.controllers")) {
        Ok(text) => {
            let have: Vec<&str> = text.split_whitespace().collect();
            wanted.filter(|w| have.contains(&w.as_str())).collect()
        }
        Err(_) => wanted.collect(),
    }
}

/// Enable `ctrls` in `dir/cgroup.subtree_control`, skipping those already
/// on. All at once first; on failure one by one, ignoring refusals (runc
/// does the same: a missing controller shows later as a missing file).
fn enable(dir: &Path, ctrls: &[String]) -> Result<(), CgroupError> {
    let file = dir.join("cgroup.subtree_control");
    let on = fs::read_opt(&file)?.unwrap_or_default();
    let on: Vec<&str> = on.split_whitespace().collect();
    let missing: Vec<String> = ctrls
        .iter()
        .filter(|c| !on.contains(&c.as_str()))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if fs::write(&file, &missing.join(" ")).is_err() {
        for c in &missing {
            let _ = fs::write(&file, c);
        }
    }
    Ok(())
}

/// "max" for -1 (unlimited), the number otherwise.
fn max_or(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// cpu.weight (1..10000) from v1 cpu.shares (2..262144), as runc converts.
pub(super) fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// io.weight (1..10000) from blkio.weight (10..1000), as runc converts.
fn blkio_to_io_weight(weight: u16) -> u64 {
    1 + (u64::from(weight.clamp(10, 1000)) - 10) * 9999 / 990
}

/// cpu.max from quota and period: "quota period", "max period", or the quota
/// alone (the kernel keeps the period). `None` when neither is set.
pub(super) fn cpu_max(quota: Option<i64>, period: Option<u64>) -> Option<String> {
    let quota = quota.filter(|&q| q != 0);
    let period = period.filter(|&p| p != 0);
    if quota.is_none() && period.is_none() {
        return None;
    }
    let q = match quota {
        Some(q) if q > 0 => q.to_string(),
        _ => "max".to_string(),
    };
    Some(match period {
        Some(p) => format!("{q} {p}"),
        None => q,
    })
}

/// memory.swap.max from the OCI memory+swap value (runc's
/// `ConvertMemorySwapToCgroupV2Value`): v2 limits swap alone, so it is
/// `swap - limit`; -1 is "max"; unset stays unset.
pub(super) fn swap_max(
    limit: Option<i64>,
    swap: Option<i64>,
) -> Result<Option<String>, CgroupError> {
    let limit = limit.unwrap_or(0);
    match swap.unwrap_or(0) {
        0 if limit == -1 => Ok(Some("max".into())),
        0 => Ok(None),
        -1 => Ok(Some("max".into())),
        _ if limit == 0 || limit == -1 => Err(CgroupError::Invalid {
            field: "linux.resources.memory.swap",
            value: swap.unwrap_or(0).to_string(),
            reason: "a swap limit needs a memory limit on cgroup v2".into(),
        }),
        s if s < limit => Err(CgroupError::Invalid {
            field: "linux.resources.memory.swap",
            value: s.to_string(),
            reason: format!("memory+swap must be at least the memory limit {limit}"),
        }),
        s => Ok(Some((s - limit).to_string())),
    }
}

impl CgroupManager for V2Manager {
    fn create(&self) -> Result<(), CgroupError> {
        self.make_dirs()
    }

    fn join(&self, pid: i32) -> Result<(), CgroupError> {
        fs::write(&self.dir().join("cgroup.procs"), &pid.to_string())
    }

    fn join_self(&self) -> Result<(), CgroupError> {
        fs::write(&self.dir().join("cgroup.procs"), "0")
    }

    fn set(&self, r: &LinuxResources) -> Result<Vec<String>, CgroupError> {
        let mut warnings = Vec::new();
        if let Some(mem) = r.memory() {
            self.set_memory(mem, &mut warnings)?;
        }
        if let Some(cpu) = r.cpu() {
            self.set_cpu(cpu, &mut warnings)?;
        }
        if let Some(io) = r.block_io() {
            self.set_io(io, &mut warnings)?;
        }
        self.set_other(r, &mut warnings)?;
        Ok(warnings)
    }

    fn freeze(&self) -> Result<(), CgroupError> {
        self.freeze_to("1", true)
    }

    fn thaw(&self) -> Result<(), CgroupError> {
        self.freeze_to("0", false)
    }

    fn is_frozen(&self) -> Result<bool, CgroupError> {
        let events = read_keyed(&self.dir().join("cgroup.events"));
        Ok(keyed(&events, "frozen") == 1)
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        fs::read_pids(&self.dir().join("cgroup.procs"))
    }

    fn stats(&self) -> Result<Stats, CgroupError> {
        let dir = self.dir();
        let mut s = Stats::default();
        let cpu = read_keyed(&dir.join("cpu.stat"));
        s.cpu.usage.total = keyed(&cpu, "usage_usec") * 1000;
        s.cpu.usage.user = keyed(&cpu, "user_usec") * 1000;
        s.cpu.usage.kernel = keyed(&cpu, "system_usec") * 1000;
        s.cpu.throttling.periods = keyed(&cpu, "nr_periods");
        s.cpu.throttling.throttled_periods = keyed(&cpu, "nr_throttled");
        s.cpu.throttling.throttled_time = keyed(&cpu, "throttled_usec") * 1000;

        let events = read_keyed(&dir.join("memory.events"));
        s.memory.usage = stats::MemoryEntry {
            limit: read_u64(&dir.join("memory.max")),
            usage: read_u64(&dir.join("memory.current")),
            max: read_u64(&dir.join("memory.peak")),
            failcnt: keyed(&events, "max"),
        };
        // Report swap as v1's memory+swap, as runc does.
        let swap_limit = read_u64(&dir.join("memory.swap.max"));
        s.memory.swap = stats::MemoryEntry {
            limit: swap_limit.saturating_add(s.memory.usage.limit),
            usage: read_u64(&dir.join("memory.swap.current")) + s.memory.usage.usage,
            max: read_u64(&dir.join("memory.swap.peak")),
            failcnt: 0,
        };
        s.memory.raw = read_keyed(&dir.join("memory.stat")).into_iter().collect();
        s.memory.cache = s.memory.raw.get("file").copied().unwrap_or(0);

        s.pids.current = read_u64(&dir.join("pids.current"));
        s.pids.limit = match read_u64(&dir.join("pids.max")) {
            u64::MAX => 0,
            n => n,
        };
        s.blkio =
            stats::parse_io_stat(&std::fs::read_to_string(dir.join("io.stat")).unwrap_or_default());
        Ok(s)
    }

    fn destroy(&self) -> Result<(), CgroupError> {
        if self.rel.as_os_str().is_empty() {
            return Ok(()); // never remove the root
        }
        fs::remove_cgroup(&self.dir())
    }

    fn paths(&self) -> BTreeMap<String, PathBuf> {
        BTreeMap::from([(String::new(), self.dir())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::testutil::{self, read, touch, Cleanup};
    use crate::cgroups::{detect, CgroupVersion};

    /// Files the kernel would create in a new v2 cgroup with all controllers.
    const LEAF: &[(&str, &str)] = &[
        ("cgroup.procs", ""),
        ("cgroup.subtree_control", ""),
        ("cgroup.freeze", "0"),
        ("cgroup.events", "populated 0\nfrozen 0\n"),
        ("cpu.weight", "100"),
        ("cpu.max", "max 100000"),
        ("cpuset.cpus", ""),
        ("cpuset.mems", ""),
        ("memory.max", "max"),
        ("memory.low", "0"),
        ("memory.high", "max"),
        ("memory.swap.max", "max"),
        ("pids.max", "max"),
        ("io.weight", "default 100"),
    ];

    fn fixture(controllers: &str, rel: &str) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        touch(
            tmp.path(),
            &[
                ("cgroup.controllers", controllers),
                ("cgroup.subtree_control", ""),
                ("cgroup.procs", ""),
            ],
        );
        let mut dir = tmp.path().to_path_buf();
        for comp in Path::new(rel).components() {
            dir.push(comp);
            touch(&dir, LEAF);
        }
        tmp
    }

    fn resources(json: serde_json::Value) -> LinuxResources {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn join_self_writes_zero_to_the_leafs_cgroup_procs() {
        let tmp = fixture("cpu memory pids\n", "berth/ctr");
        let mgr = V2Manager::new(tmp.path(), Path::new("/berth/ctr"));
        mgr.create().unwrap();
        mgr.join_self().unwrap();
        assert_eq!(read(tmp.path().join("berth/ctr/cgroup.procs")), "0");
        assert_eq!(read(tmp.path().join("cgroup.procs")), "");
    }

    #[test]
    fn apply_enables_controllers_top_down_but_not_in_the_leaf() {
        let tmp = fixture("cpuset cpu io memory hugetlb pids rdma\n", "berth/ctr");
        let mgr = V2Manager::new(tmp.path(), Path::new("/berth/ctr"));
        mgr.apply(42).unwrap();
        let all = "+cpuset +cpu +io +memory +pids";
        assert_eq!(read(tmp.path().join("cgroup.subtree_control")), all);
        assert_eq!(read(tmp.path().join("berth/cgroup.subtree_control")), all);
        assert_eq!(
            read(tmp.path().join("berth/ctr/cgroup.subtree_control")),
            ""
        );
        assert_eq!(read(tmp.path().join("berth/ctr/cgroup.procs")), "42");
        assert_eq!(
            mgr.paths(),
            BTreeMap::from([(String::new(), tmp.path().join("berth/ctr"))])
        );
    }

    #[test]
    fn apply_only_enables_what_is_available_and_not_yet_on() {
        let tmp = fixture("cpu memory pids", "ctr");
        std::fs::write(tmp.path().join("cgroup.subtree_control"), "memory\n").unwrap();
        let mgr = V2Manager::new(tmp.path(), Path::new("/ctr"));
        mgr.apply(1).unwrap();
        assert_eq!(
            read(tmp.path().join("cgroup.subtree_control")),
            "+cpu +pids"
        );
        // Intermediate levels narrow the set by their own cgroup.controllers.
        let tmp = fixture("cpu memory pids", "a/b");
        std::fs::write(tmp.path().join("a/cgroup.controllers"), "memory").unwrap();
        V2Manager::new(tmp.path(), Path::new("/a/b"))
            .apply(1)
            .unwrap();
        assert_eq!(read(tmp.path().join("a/cgroup.subtree_control")), "+memory");
    }

    #[test]
    fn set_converts_v1_values() {
        let tmp = fixture("cpuset cpu io memory pids", "ctr");
        let mgr = V2Manager::new(tmp.path(), Path::new("/ctr"));
        let warnings = mgr
            .set(&resources(serde_json::json!({
                "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728},
                "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
                "pids": {"limit": 32},
                "blockIO": {"weight": 500},
                "devices": [{"allow": false, "access": "rwm"}],
                "unified": {"memory.high": "50000000"}
            })))
            .unwrap();
        let d = tmp.path().join("ctr");
        assert_eq!(read(d.join("memory.max")), "67108864");
        assert_eq!(read(d.join("memory.low")), "33554432");
        assert_eq!(read(d.join("memory.swap.max")), "67108864");
        assert_eq!(read(d.join("cpu.weight")), "39");
        assert_eq!(read(d.join("cpu.max")), "50000 100000");
        assert_eq!(read(d.join("cpuset.cpus")), "0-1");
        assert_eq!(read(d.join("cpuset.mems")), "0");
        assert_eq!(read(d.join("pids.max")), "32");
        assert_eq!(read(d.join("io.weight")), "4950");
        assert_eq!(read(d.join("memory.high")), "50000000");
        assert_eq!(warnings, ["device rules on cgroup v2 are not enforced yet"]);
    }

    #[test]
    fn set_prefers_bfq_weight_and_warns_without_io_files() {
        let tmp = fixture("io", "ctr");
        let d = tmp.path().join("ctr");
        touch(&d, &[("io.bfq.weight", "default 100")]);
        let mgr = V2Manager::new(tmp.path(), Path::new("/ctr"));
        let io = resources(serde_json::json!({"blockIO": {"weight": 500}}));
        assert!(mgr.set(&io).unwrap().is_empty());
        assert_eq!(read(d.join("io.bfq.weight")), "500");
        std::fs::remove_file(d.join("io.bfq.weight")).unwrap();
        std::fs::remove_file(d.join("io.weight")).unwrap();
        assert_eq!(
            mgr.set(&io).unwrap(),
            ["io weight not supported by the kernel, ignored"]
        );
    }

    #[test]
    fn unlimited_values_write_max() {
        let tmp = fixture("cpu memory pids", "ctr");
        let mgr = V2Manager::new(tmp.path(), Path::new("/ctr"));
        mgr.set(&resources(serde_json::json!({
            "memory": {"limit": -1},
            "cpu": {"quota": -1, "period": 50000},
            "pids": {"limit": -1}
        })))
        .unwrap();
        let d = tmp.path().join("ctr");
        assert_eq!(read(d.join("memory.max")), "max");
        assert_eq!(read(d.join("memory.swap.max")), "max");
        assert_eq!(read(d.join("cpu.max")), "max 50000");
        assert_eq!(read(d.join("pids.max")), "max");
    }

    #[test]
    fn shares_to_weight_matches_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
    }

    #[test]
    fn cpu_max_forms() {
        assert_eq!(cpu_max(None, None), None);
        assert_eq!(cpu_max(Some(0), Some(0)), None);
        assert_eq!(cpu_max(Some(20000), None).as_deref(), Some("20000"));
        assert_eq!(cpu_max(None, Some(100000)).as_deref(), Some("max 100000"));
        assert_eq!(cpu_max(Some(-1), None).as_deref(), Some("max"));
    }

    #[test]
    fn swap_max_arithmetic() {
        let ok = |l, s| swap_max(l, s).unwrap();
        assert_eq!(ok(Some(100), Some(300)).as_deref(), Some("200"));
        assert_eq!(ok(Some(100), Some(100)).as_deref(), Some("0"));
        assert_eq!(ok(Some(100), Some(-1)).as_deref(), Some("max"));
        assert_eq!(ok(Some(-1), None).as_deref(), Some("max"));
        assert_eq!(ok(Some(100), None), None);
        assert_eq!(ok(None, None), None);
        let err = |l, s| swap_max(l, s).unwrap_err().to_string();
        assert!(err(Some(300), Some(100)).contains("at least the memory limit 300"));
        assert!(err(None, Some(100)).contains("needs a memory limit"));
        assert!(err(Some(-1), Some(100)).contains("needs a memory limit"));
    }

    #[test]
    fn unified_keys_cannot_escape_the_cgroup() {
        let tmp = fixture("memory", "ctr");
        let mgr = V2Manager::new(tmp.path(), Path::new("/ctr"));
        for key in ["../cgroup.procs", "..", ""] {
            let r = resources(serde_json::json!({"unified": {key: "1"}}));
            let err = mgr.set(&r).unwrap_err().to_string();
            assert!(err.contains("linux.resources.unified"), "{err}");
        }
    }

    #[test]
    fn freeze_waits_for_cgroup_events() {
        let tmp = fixture("", "ctr");
        let d = tmp.path().join("ctr");
        let mgr = V2Manager::new(tmp.path(), Path::new("/ctr"));
        // The fixture's events file plays the kernel's part.
        std::fs::write(d.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        mgr.freeze().unwrap();
        assert_eq!(read(d.join("cgroup.freeze")), "1");
        assert!(mgr.is_frozen().unwrap());
        std::fs::write(d.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        mgr.thaw().unwrap();
        assert_eq!(read(d.join("cgroup.freeze")), "0");
        assert!(!mgr.is_frozen().unwrap());
        std::fs::remove_file(d.join("cgroup.events")).unwrap();
        let err = mgr.freeze().unwrap_err().to_string();
        assert!(err.contains("cgroup.events"), "{err}");
    }

    #[test]
    fn stats_from_fixture_files() {
        let tmp = fixture("cpu memory pids io", "ctr");
        touch(
            &tmp.path().join("ctr"),
            &[
                (
                    "cpu.stat",
                    "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 3\nnr_throttled 1\nthrottled_usec 2\n",
                ),
                ("memory.current", "4096\n"),
                ("memory.max", "8192\n"),
                ("memory.peak", "5000\n"),
                ("memory.events", "low 0\nhigh 0\nmax 7\noom 0\n"),
                ("memory.swap.current", "100\n"),
                ("memory.swap.max", "max\n"),
                ("memory.stat", "anon 1\nfile 2\n"),
                ("pids.current", "3\n"),
                ("pids.max", "64\n"),
                ("io.stat", "8:0 rbytes=1 wbytes=2 rios=3 wios=4\n"),
            ],
        );
        let s = V2Manager::new(tmp.path(), Path::new("/ctr"))
            .stats()
            .unwrap();
        assert_eq!(
            (s.cpu.usage.total, s.cpu.usage.user, s.cpu.usage.kernel),
            (10_000, 6_000, 4_000)
        );
        assert_eq!(s.cpu.throttling.throttled_time, 2_000);
        assert_eq!(s.memory.usage.usage, 4096);
        assert_eq!(s.memory.usage.limit, 8192);
        assert_eq!(s.memory.usage.max, 5000);
        assert_eq!(s.memory.usage.failcnt, 7);
        assert_eq!(s.memory.swap.usage, 4196);
        assert_eq!(s.memory.swap.limit, u64::MAX);
        assert_eq!(s.memory.cache, 2);
        assert_eq!((s.pids.current, s.pids.limit), (3, 64));
        assert_eq!(s.blkio.io_serviced_recursive.len(), 2);
        let empty = tempfile::tempdir().unwrap();
        let s = V2Manager::new(empty.path(), Path::new("/x"))
            .stats()
            .unwrap();
        assert_eq!(s, Stats::default());
    }

    /// The shared conformance checks on a real cgroup2 mount: the host's
    /// root when it is v2, else the hybrid layout's `unified` tree (which
    /// has no controllers but joins, freezes and removes all the same).
    #[test]
    fn real_v2_hierarchy() {
        let root = [
            Path::new(crate::cgroups::DEFAULT_ROOT),
            Path::new("/sys/fs/cgroup/unified"),
        ]
        .into_iter()
        .find(|r| detect(r) == CgroupVersion::V2);
        let Some(root) = root.filter(|_| testutil::is_root()) else {
            eprintln!("skipping: needs root and a cgroup2 mount");
            return;
        };
        let parent = format!("berth-test-{}-v2", std::process::id());
        let path = PathBuf::from(format!("/{parent}/ctr"));
        let mgr = V2Manager::new(root, &path);
        let mut cleanup = Cleanup {
            child: Some(testutil::spawn_sleeper()),
            dirs: vec![mgr.dir(), root.join(&parent)],
            thaw: vec![(mgr.dir().join("cgroup.freeze"), "0")],
        };
        testutil::conformance(&mgr, &mut cleanup);
    }
}
