//! The cgroup v1 manager: one directory per mounted hierarchy.
//!
//! The hierarchies are found once, when the manager is built, by looking for
//! the controller directories under the mount root (`cpu`, `memory`, …, and
//! the named `systemd` one). A co-mounted pair such as `cpu,cpuacct` appears
//! either as a directory of that name or through per-controller symlinks;
//! both are handled, and a hierarchy shared by several controllers is joined
//! and removed once.
//!
//! Write order matters in three places (kernel
//! `Documentation/admin-guide/cgroup-v1/{cpusets,memory}.rst`, `sched-bwc.rst`):
//! cpuset levels get their parent's cpus/mems before any task joins,
//! memory+swap stays ≥ memory while both change, and the CFS period goes in
//! before the quota.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory, LinuxResources,
};

use super::fs::{self, keyed, read_keyed, read_u64};
use super::stats::{self, Stats};
use super::{validate, CgroupError, CgroupManager};

/// The controllers runc joins, by directory name under the mount root.
const CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "net_cls",
    "net_prio",
    "hugetlb",
    "perf_event",
    "misc",
    "rdma",
];

/// The key and directory of the named systemd hierarchy.
const SYSTEMD: (&str, &str) = ("name=systemd", "systemd");

/// Manages one cgroup across all mounted v1 hierarchies.
#[derive(Debug, Clone)]
pub struct V1Manager {
    /// The cgroup path relative to each hierarchy's mount dir.
    rel: PathBuf,
    /// Controller key → mount dir of its hierarchy.
    mounts: BTreeMap<String, PathBuf>,
}

impl V1Manager {
    /// `path` is the absolute cgroup path ("/berth/abc"); `root` holds the
    /// hierarchy mounts.
    pub fn new(root: &Path, path: &Path) -> Self {
        Self {
            rel: super::relative(path),
            mounts: discover(root),
        }
    }

    /// The cgroup dir for a controller, if its hierarchy is mounted.
    fn dir(&self, controller: &str) -> Option<PathBuf> {
        self.mounts.get(controller).map(|m| m.join(&self.rel))
    }

    /// Like [`Self::dir`], but records a warning when the hierarchy is absent.
    fn need(&self, controller: &str, warnings: &mut Vec<String>) -> Option<PathBuf> {
        let dir = self.dir(controller);
        if dir.is_none() {
            warnings.push(format!(
                "{controller} cgroup is not mounted, {controller} limits ignored"
            ));
        }
        dir
    }

    /// Each distinct hierarchy once: (controller keys, mount dir).
    fn hierarchies(&self) -> Vec<(Vec<&str>, &Path)> {
        let mut out: Vec<(Vec<&str>, &Path, PathBuf)> = Vec::new();
        for (key, mount) in &self.mounts {
            let real = std::fs::canonicalize(mount).unwrap_or_else(|_| mount.clone());
            match out.iter_mut().find(|(_, _, r)| *r == real) {
                Some((keys, _, _)) => keys.push(key),
                None => out.push((vec![key], mount, real)),
            }
        }
        out.into_iter().map(|(k, m, _)| (k, m)).collect()
    }

    fn set_memory(&self, mem: &LinuxMemory, warnings: &mut Vec<String>) -> Result<(), CgroupError> {
        validate::memory("linux.resources.memory.limit", mem.limit())?;
        validate::memory("linux.resources.memory.swap", mem.swap())?;
        validate::memory("linux.resources.memory.reservation", mem.reservation())?;
        validate::swappiness(mem.swappiness())?;
        let wanted = mem.limit().is_some()
            || mem.swap().is_some()
            || mem.reservation().is_some()
            || mem.swappiness().is_some()
            || mem.kernel_tcp().is_some()
            || mem.disable_oom_killer() == Some(true);
        if !wanted {
            return Ok(());
        }
        let Some(dir) = self.need("memory", warnings) else {
            return Ok(());
        };
        let limit_file = dir.join("memory.limit_in_bytes");
        let swap_file = dir.join("memory.memsw.limit_in_bytes");
        let mut swap = mem.swap().filter(|&s| s != 0);
        let limit = mem.limit().filter(|&l| l != 0);
        if swap.is_some() && !swap_file.exists() {
            warnings.push(
                "swap limit not supported by the kernel (no memory.memsw.limit_in_bytes), ignored"
                    .to_string(),
            );
            swap = None;
        }
        // Unlimited memory with swap unset means unlimited swap too (runc).
        if limit == Some(-1) && swap.is_none() && swap_file.exists() {
            swap = Some(-1);
        }
        match (limit, swap) {
            (Some(l), Some(s)) => {
                if l != -1 && s != -1 && s < l {
                    return Err(CgroupError::Invalid {
                        field: "linux.resources.memory.swap",
                        value: s.to_string(),
                        reason: format!(
                            "memory+swap must be at least the memory limit {l} on cgroup v1"
                        ),
                    });
                }
                // memsw must stay ≥ limit after each write: when raising,
                // swap goes first. Should the guess be wrong (the current
                // values are not what we read), the other order is tried.
                let current = read_u64(&limit_file);
                let swap_first = s == -1 || current < s as u64;
                let pair = |swap_first: bool| {
                    if swap_first {
                        fs::write(&swap_file, &s.to_string())?;
                        fs::write(&limit_file, &l.to_string())
                    } else {
                        fs::write(&limit_file, &l.to_string())?;
                        fs::write(&swap_file, &s.to_string())
                    }
                };
                if let Err(first) = pair(swap_first) {
                    pair(!swap_first).map_err(|_| first)?;
                }
            }
            (Some(l), None) => fs::write(&limit_file, &l.to_string())?,
            (None, Some(s)) => fs::write(&swap_file, &s.to_string())?,
            (None, None) => {}
        }
        if let Some(r) = mem.reservation() {
            fs::write(&dir.join("memory.soft_limit_in_bytes"), &r.to_string())?;
        }
        if let Some(tcp) = mem.kernel_tcp() {
            let file = dir.join("memory.kmem.tcp.limit_in_bytes");
            if file.exists() {
                fs::write(&file, &tcp.to_string())?;
            } else {
                warnings
                    .push("kernel tcp memory limit not supported by the kernel, ignored".into());
            }
        }
        if let Some(s) = mem.swappiness() {
            fs::write(&dir.join("memory.swappiness"), &s.to_string())?;
        }
        if mem.disable_oom_killer() == Some(true) {
            fs::write(&dir.join("memory.oom_control"), "1")?;
        }
        Ok(())
    }

    fn set_cpu(&self, cpu: &LinuxCpu, warnings: &mut Vec<String>) -> Result<(), CgroupError> {
        validate::cpu(cpu)?;
        let shares = cpu.shares().filter(|&s| s != 0);
        let period = cpu.period().filter(|&p| p != 0);
        let quota = cpu.quota().filter(|&q| q != 0);
        let wanted = shares.is_some()
            || period.is_some()
            || quota.is_some()
            || cpu.burst().is_some()
            || cpu.idle().is_some()
            || cpu.realtime_period().is_some()
            || cpu.realtime_runtime().is_some();
        if wanted {
            if let Some(dir) = self.need("cpu", warnings) {
                set_cpu_dir(&dir, cpu, shares, period, quota, warnings)?;
            }
        }
        let cpus = cpu.cpus().as_deref().filter(|s| !s.is_empty());
        let mems = cpu.mems().as_deref().filter(|s| !s.is_empty());
        if cpus.is_some() || mems.is_some() {
            if let Some(dir) = self.need("cpuset", warnings) {
                if let Some(cpus) = cpus {
                    fs::write(&dir.join("cpuset.cpus"), cpus)?;
                }
                if let Some(mems) = mems {
                    fs::write(&dir.join("cpuset.mems"), mems)?;
                }
            }
        }
        Ok(())
    }

    fn set_blkio(&self, io: &LinuxBlockIo, warnings: &mut Vec<String>) -> Result<(), CgroupError> {
        let weight = io.weight().filter(|&w| w != 0);
        let leaf = io.leaf_weight().filter(|&w| w != 0);
        let devices = io.weight_device().as_deref().unwrap_or_default();
        let throttles = [
            (
                "blkio.throttle.read_bps_device",
                io.throttle_read_bps_device(),
            ),
            (
                "blkio.throttle.write_bps_device",
                io.throttle_write_bps_device(),
            ),
            (
                "blkio.throttle.read_iops_device",
                io.throttle_read_iops_device(),
            ),
            (
                "blkio.throttle.write_iops_device",
                io.throttle_write_iops_device(),
            ),
        ];
        let any_throttle = throttles
            .iter()
            .any(|(_, l)| l.as_ref().is_some_and(|l| !l.is_empty()));
        if weight.is_none() && leaf.is_none() && devices.is_empty() && !any_throttle {
            return Ok(());
        }
        let Some(dir) = self.need("blkio", warnings) else {
            return Ok(());
        };
        // CFQ had blkio.weight; since 5.0 only BFQ's blkio.bfq.weight exists,
        // and neither when no device uses those schedulers.
        let first = |names: &[&str]| names.iter().map(|n| dir.join(n)).find(|p| p.exists());
        if let Some(w) = weight {
            validate::blkio_weight("linux.resources.blockIO.weight", w)?;
            match first(&["blkio.weight", "blkio.bfq.weight"]) {
                Some(file) => fs::write(&file, &w.to_string())?,
                None => warnings.push("blkio weight not supported by the kernel, ignored".into()),
            }
        }
        if let Some(w) = leaf {
            validate::blkio_weight("linux.resources.blockIO.leafWeight", w)?;
            match first(&["blkio.leaf_weight"]) {
                Some(file) => fs::write(&file, &w.to_string())?,
                None => {
                    warnings.push("blkio leaf weight not supported by the kernel, ignored".into())
                }
            }
        }
        for d in devices {
            let Some(w) = d.weight() else { continue };
            validate::blkio_weight("linux.resources.blockIO.weightDevice.weight", w)?;
            match first(&["blkio.weight_device", "blkio.bfq.weight_device"]) {
                Some(file) => fs::write(&file, &format!("{}:{} {w}", d.major(), d.minor()))?,
                None => {
                    warnings.push("blkio weight_device not supported by the kernel, ignored".into())
                }
            }
        }
        for (name, list) in throttles {
            for t in list.as_deref().unwrap_or_default() {
                let value = format!("{}:{} {}", t.major(), t.minor(), t.rate());
                fs::write(&dir.join(name), &value)?;
            }
        }
        Ok(())
    }

    fn set_devices(
        &self,
        rules: &[LinuxDeviceCgroup],
        warnings: &mut Vec<String>,
    ) -> Result<(), CgroupError> {
        if rules.is_empty() {
            return Ok(());
        }
        let Some(dir) = self.need("devices", warnings) else {
            return Ok(());
        };
        for rule in rules {
            let Some(line) = device_rule(rule)? else {
                warnings.push(format!(
                    "device rule {rule} has no cgroup equivalent, ignored"
                ));
                continue;
            };
            let file = if rule.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            fs::write(&dir.join(file), &line)?;
        }
        Ok(())
    }

    fn set_other(&self, r: &LinuxResources, warnings: &mut Vec<String>) -> Result<(), CgroupError> {
        if let Some(pids) = r.pids() {
            if let Some(dir) = self.need("pids", warnings) {
                fs::write(&dir.join("pids.max"), &pids_max(pids.limit()))?;
            }
        }
        for h in r.hugepage_limits().as_deref().unwrap_or_default() {
            let Some(dir) = self.need("hugetlb", warnings) else {
                break;
            };
            let file = dir.join(format!("hugetlb.{}.limit_in_bytes", h.page_size()));
            fs::write(&file, &h.limit().to_string())?;
        }
        if let Some(net) = r.network() {
            if let Some(id) = net.class_id() {
                if let Some(dir) = self.need("net_cls", warnings) {
                    fs::write(&dir.join("net_cls.classid"), &id.to_string())?;
                }
            }
            for p in net.priorities().as_deref().unwrap_or_default() {
                let Some(dir) = self.need("net_prio", warnings) else {
                    break;
                };
                let value = format!("{} {}", p.name(), p.priority());
                fs::write(&dir.join("net_prio.ifpriomap"), &value)?;
            }
        }
        if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
            warnings.push("rdma limits are not supported, ignored".into());
        }
        if r.unified().as_ref().is_some_and(|m| !m.is_empty()) {
            return Err(CgroupError::Unsupported {
                what: "linux.resources.unified",
                reason: "the host uses cgroup v1".into(),
            });
        }
        Ok(())
    }

    fn freezer_state(&self) -> Result<PathBuf, CgroupError> {
        self.dir("freezer")
            .map(|d| d.join("freezer.state"))
            .ok_or_else(|| CgroupError::Unsupported {
                what: "freezing",
                reason: "the freezer cgroup is not mounted".into(),
            })
    }

    fn set_freezer(&self, state: &'static str) -> Result<(), CgroupError> {
        let file = self.freezer_state()?;
        // Writing FROZEN starts freezing; the state reads FREEZING until every
        // task has stopped. Re-writing now and then nudges stragglers.
        fs::wait_for(&file, state, |attempt| {
            if attempt % 100 == 0 {
                fs::write(&file, state)?;
            }
            Ok(fs::read(&file)?.trim() == state)
        })
    }
}

/// Period, quota (with runc's retry), shares (checked by reading back),
/// burst, idle and realtime values in the cpu hierarchy.
fn set_cpu_dir(
    dir: &Path,
    cpu: &LinuxCpu,
    shares: Option<u64>,
    period: Option<u64>,
    quota: Option<i64>,
    warnings: &mut Vec<String>,
) -> Result<(), CgroupError> {
    if let Some(s) = shares {
        let file = dir.join("cpu.shares");
        fs::write(&file, &s.to_string())?;
        let got = read_u64(&file);
        if got != s {
            return Err(CgroupError::Invalid {
                field: "linux.resources.cpu.shares",
                value: s.to_string(),
                reason: format!("the kernel clamped it to {got} (allowed: 2 to 262144)"),
            });
        }
    }
    let period_file = dir.join("cpu.cfs_period_us");
    let mut period_failed = None;
    if let Some(p) = period {
        // A shorter period can be refused while the old quota is larger;
        // retry once the quota is in.
        if let Err(e) = fs::write(&period_file, &p.to_string()) {
            period_failed = Some(e);
        }
    }
    if let Some(q) = quota {
        fs::write(&dir.join("cpu.cfs_quota_us"), &q.to_string())?;
    }
    if let (Some(p), Some(_)) = (period, period_failed) {
        fs::write(&period_file, &p.to_string())?;
    }
    if let Some(b) = cpu.burst() {
        let file = dir.join("cpu.cfs_burst_us");
        if file.exists() {
            fs::write(&file, &b.to_string())?;
        } else {
            warnings.push("cpu burst not supported by the kernel, ignored".into());
        }
    }
    if let Some(i) = cpu.idle() {
        let file = dir.join("cpu.idle");
        if file.exists() {
            fs::write(&file, &i.to_string())?;
        } else {
            warnings.push("cpu idle not supported by the kernel, ignored".into());
        }
    }
    if let Some(p) = cpu.realtime_period() {
        fs::write(&dir.join("cpu.rt_period_us"), &p.to_string())?;
    }
    if let Some(r) = cpu.realtime_runtime() {
        fs::write(&dir.join("cpu.rt_runtime_us"), &r.to_string())?;
    }
    Ok(())
}

/// The pids.max value for an OCI pids limit: ≤0 means unlimited.
pub(super) fn pids_max(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".to_string()
    }
}

/// A devices.allow/deny line ("c 1:3 rwm", "a *:* rwm"); `None` for rule
/// types the kernel has no word for (FIFOs).
fn device_rule(rule: &LinuxDeviceCgroup) -> Result<Option<String>, CgroupError> {
    let typ = match rule.typ().unwrap_or_default() {
        LinuxDeviceType::A => "a",
        LinuxDeviceType::B => "b",
        LinuxDeviceType::C | LinuxDeviceType::U => "c",
        LinuxDeviceType::P => return Ok(None),
    };
    let access = rule
        .access()
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("rwm");
    if !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(CgroupError::Invalid {
            field: "linux.resources.devices.access",
            value: access.to_string(),
            reason: "must be a combination of r, w and m".into(),
        });
    }
    let num = |n: Option<i64>| match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".to_string(),
    };
    Ok(Some(format!(
        "{typ} {}:{} {access}",
        num(rule.major()),
        num(rule.minor())
    )))
}

/// Controller key → mount dir for every hierarchy present under `root`.
fn discover(root: &Path) -> BTreeMap<String, PathBuf> {
    let names: Vec<String> = std::fs::read_dir(root)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let mut mounts = BTreeMap::new();
    for &controller in CONTROLLERS {
        let direct = root.join(controller);
        if direct.is_dir() {
            mounts.insert(controller.to_string(), direct);
            continue;
        }
        let combined = names
            .iter()
            .filter(|n| n.split(',').any(|c| c == controller))
            .map(|n| root.join(n))
            .find(|p| p.is_dir());
        if let Some(dir) = combined {
            mounts.insert(controller.to_string(), dir);
        }
    }
    let systemd = root.join(SYSTEMD.1);
    if systemd.is_dir() {
        mounts.insert(SYSTEMD.0.to_string(), systemd);
    }
    mounts
}

/// mkdir -p `rel` under the cpuset mount, giving each level its parent's
/// cpus and mems when they are empty (attaching to an empty cpuset fails with
/// `ENOSPC`). Only empty values are written, so configured cgroups on the
/// way are left as they are.
fn create_cpuset(mount: &Path, rel: &Path) -> Result<(), CgroupError> {
    let mut dir = mount.to_path_buf();
    for comp in rel.components() {
        let parent = dir.clone();
        dir.push(comp);
        fs::mkdir(&dir)?;
        for name in ["cpuset.cpus", "cpuset.mems"] {
            let own = fs::read_opt(&dir.join(name))?.unwrap_or_default();
            if !own.trim().is_empty() {
                continue;
            }
            let from_parent = fs::read_opt(&parent.join(name))?.unwrap_or_default();
            if !from_parent.trim().is_empty() {
                fs::write(&dir.join(name), from_parent.trim())?;
            }
        }
    }
    Ok(())
}

impl CgroupManager for V1Manager {
    fn create(&self) -> Result<(), CgroupError> {
        for (keys, mount) in self.hierarchies() {
            if keys.contains(&"cpuset") {
                create_cpuset(mount, &self.rel)?;
            } else {
                let dir = mount.join(&self.rel);
                std::fs::create_dir_all(&dir)
                    .map_err(|source| CgroupError::CreateDir { path: dir, source })?;
            }
        }
        Ok(())
    }

    fn join(&self, pid: i32) -> Result<(), CgroupError> {
        for (_, mount) in self.hierarchies() {
            fs::write(
                &mount.join(&self.rel).join("cgroup.procs"),
                &pid.to_string(),
            )?;
        }
        Ok(())
    }

    fn join_self(&self) -> Result<(), CgroupError> {
        for (_, mount) in self.hierarchies() {
            fs::write(&mount.join(&self.rel).join("tasks"), "0")?;
        }
        Ok(())
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
            self.set_blkio(io, &mut warnings)?;
        }
        self.set_devices(r.devices().as_deref().unwrap_or_default(), &mut warnings)?;
        self.set_other(r, &mut warnings)?;
        Ok(warnings)
    }

    fn freeze(&self) -> Result<(), CgroupError> {
        self.set_freezer("FROZEN")
    }

    fn thaw(&self) -> Result<(), CgroupError> {
        self.set_freezer("THAWED")
    }

    fn is_frozen(&self) -> Result<bool, CgroupError> {
        let Some(dir) = self.dir("freezer") else {
            return Ok(false);
        };
        let state = fs::read_opt(&dir.join("freezer.state"))?.unwrap_or_default();
        Ok(state.trim() == "FROZEN")
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let preferred = ["pids", "memory", "freezer", "cpu", "devices", SYSTEMD.0];
        let dir = preferred
            .iter()
            .find_map(|c| self.dir(c))
            .or_else(|| self.mounts.values().next().map(|m| m.join(&self.rel)));
        match dir {
            Some(dir) => fs::read_pids(&dir.join("cgroup.procs")),
            None => Ok(Vec::new()),
        }
    }

    fn stats(&self) -> Result<Stats, CgroupError> {
        let mut s = Stats::default();
        if let Some(dir) = self.dir("cpuacct") {
            s.cpu.usage.total = read_u64(&dir.join("cpuacct.usage"));
            s.cpu.usage.percpu = std::fs::read_to_string(dir.join("cpuacct.usage_percpu"))
                .unwrap_or_default()
                .split_whitespace()
                .map(|v| v.parse().unwrap_or(0))
                .collect();
            // cpuacct.stat counts USER_HZ ticks.
            let tick_ns = 1_000_000_000 / rustix::param::clock_ticks_per_second().max(1);
            let st = read_keyed(&dir.join("cpuacct.stat"));
            s.cpu.usage.user = keyed(&st, "user") * tick_ns;
            s.cpu.usage.kernel = keyed(&st, "system") * tick_ns;
        }
        if let Some(dir) = self.dir("cpu") {
            let st = read_keyed(&dir.join("cpu.stat"));
            s.cpu.throttling.periods = keyed(&st, "nr_periods");
            s.cpu.throttling.throttled_periods = keyed(&st, "nr_throttled");
            s.cpu.throttling.throttled_time = keyed(&st, "throttled_time");
        }
        if let Some(dir) = self.dir("memory") {
            let entry = |prefix: &str| stats::MemoryEntry {
                limit: read_u64(&dir.join(format!("{prefix}limit_in_bytes"))),
                usage: read_u64(&dir.join(format!("{prefix}usage_in_bytes"))),
                max: read_u64(&dir.join(format!("{prefix}max_usage_in_bytes"))),
                failcnt: read_u64(&dir.join(format!("{prefix}failcnt"))),
            };
            s.memory.usage = entry("memory.");
            s.memory.swap = entry("memory.memsw.");
            s.memory.kernel = entry("memory.kmem.");
            s.memory.raw = read_keyed(&dir.join("memory.stat")).into_iter().collect();
            s.memory.cache = s.memory.raw.get("cache").copied().unwrap_or(0);
        }
        if let Some(dir) = self.dir("pids") {
            s.pids.current = read_u64(&dir.join("pids.current"));
            s.pids.limit = match read_u64(&dir.join("pids.max")) {
                u64::MAX => 0,
                n => n,
            };
        }
        if let Some(dir) = self.dir("blkio") {
            let read = |names: &[&str]| {
                names
                    .iter()
                    .map(|n| {
                        stats::parse_blkio_v1(
                            &std::fs::read_to_string(dir.join(n)).unwrap_or_default(),
                        )
                    })
                    .find(|e| !e.is_empty())
                    .unwrap_or_default()
            };
            s.blkio.io_service_bytes_recursive = read(&[
                "blkio.io_service_bytes_recursive",
                "blkio.throttle.io_service_bytes_recursive",
            ]);
            s.blkio.io_serviced_recursive = read(&[
                "blkio.io_serviced_recursive",
                "blkio.throttle.io_serviced_recursive",
            ]);
        }
        Ok(s)
    }

    fn destroy(&self) -> Result<(), CgroupError> {
        if self.rel.as_os_str().is_empty() {
            return Ok(()); // never remove a hierarchy's root
        }
        let mut first_err = None;
        for (_, mount) in self.hierarchies() {
            if let Err(e) = fs::remove_cgroup(&mount.join(&self.rel)) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn paths(&self) -> BTreeMap<String, PathBuf> {
        self.mounts
            .iter()
            .map(|(k, m)| (k.clone(), m.join(&self.rel)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::testutil::{self, read, touch, Cleanup};
    use crate::cgroups::{detect, CgroupVersion};

    const ALL: &[&str] = &[
        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd",
    ];

    /// Files the kernel would create in a new cgroup, per hierarchy dir.
    fn files_for(hierarchy: &str) -> Vec<(&'static str, &'static str)> {
        let mut f = vec![("cgroup.procs", ""), ("tasks", "")];
        f.extend(match hierarchy {
            "cpu" => vec![
                ("cpu.shares", "1024"),
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "-1"),
            ],
            "cpuset" => vec![("cpuset.cpus", ""), ("cpuset.mems", "")],
            "memory" => vec![
                ("memory.limit_in_bytes", "9223372036854771712"),
                ("memory.memsw.limit_in_bytes", "9223372036854771712"),
                ("memory.soft_limit_in_bytes", ""),
                ("memory.swappiness", "60"),
                ("memory.oom_control", ""),
            ],
            "devices" => vec![("devices.allow", ""), ("devices.deny", "")],
            "freezer" => vec![("freezer.state", "THAWED")],
            "pids" => vec![("pids.max", "max")],
            _ => vec![],
        });
        f
    }

    /// A temp cgroupfs root with every hierarchy and `rel` pre-created in each
    /// (the kernel creates files on mkdir; a temp dir does not).
    fn fixture(rel: &str) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        for h in ALL {
            touch(&tmp.path().join(h), &[]);
        }
        touch(
            &tmp.path().join("cpuset"),
            &[("cpuset.cpus", "0-3\n"), ("cpuset.mems", "0\n")],
        );
        let mut level = PathBuf::new();
        for comp in Path::new(rel).components() {
            level.push(comp);
            for h in ALL {
                touch(&tmp.path().join(h).join(&level), &files_for(h));
            }
        }
        tmp
    }

    fn resources(json: serde_json::Value) -> LinuxResources {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn apply_joins_every_hierarchy_and_fills_cpuset_from_parent() {
        let tmp = fixture("berth/ctr");
        // A configured intermediate level is kept and inherited.
        std::fs::write(tmp.path().join("cpuset/berth/cpuset.cpus"), "1").unwrap();
        let mgr = V1Manager::new(tmp.path(), Path::new("/berth/ctr"));
        mgr.apply(42).unwrap();
        let paths = mgr.paths();
        assert_eq!(paths.len(), ALL.len());
        assert_eq!(
            paths["memory"],
            tmp.path().join("memory/berth/ctr"),
            "{paths:?}"
        );
        assert!(paths.contains_key("name=systemd"));
        for dir in paths.values() {
            assert_eq!(read(dir.join("cgroup.procs")), "42");
        }
        assert_eq!(read(tmp.path().join("cpuset/berth/cpuset.cpus")), "1");
        assert_eq!(read(tmp.path().join("cpuset/berth/cpuset.mems")), "0");
        assert_eq!(read(tmp.path().join("cpuset/berth/ctr/cpuset.cpus")), "1");
        assert_eq!(read(tmp.path().join("cpuset/berth/ctr/cpuset.mems")), "0");
    }

    #[test]
    fn join_self_writes_zero_to_tasks_not_cgroup_procs() {
        let tmp = fixture("berth/ctr");
        let mgr = V1Manager::new(tmp.path(), Path::new("/berth/ctr"));
        mgr.create().unwrap();
        mgr.join_self().unwrap();
        for dir in mgr.paths().values() {
            assert_eq!(read(dir.join("tasks")), "0", "{}", dir.display());
            assert_eq!(read(dir.join("cgroup.procs")), "", "{}", dir.display());
        }
    }

    #[test]
    fn apply_creates_missing_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        touch(&tmp.path().join("pids"), &[]);
        let mgr = V1Manager::new(tmp.path(), Path::new("/a/b"));
        // The fixture cannot create cgroup.procs on mkdir, so the join fails,
        // but only after the directories exist; the error names the file.
        let err = mgr.apply(1).unwrap_err().to_string();
        assert!(tmp.path().join("pids/a/b").is_dir());
        assert!(err.contains("pids/a/b/cgroup.procs"), "{err}");
        assert!(err.contains("\"1\""), "{err}");
    }

    #[test]
    fn combined_mounts_are_found_and_joined_once() {
        let tmp = tempfile::tempdir().unwrap();
        let combined = tmp.path().join("cpu,cpuacct");
        touch(&combined.join("ctr"), &[("cgroup.procs", "")]);
        touch(
            &tmp.path().join("net_cls,net_prio/ctr"),
            &[("cgroup.procs", "")],
        );
        std::os::unix::fs::symlink("cpu,cpuacct", tmp.path().join("cpu")).unwrap();
        std::os::unix::fs::symlink("cpu,cpuacct", tmp.path().join("cpuacct")).unwrap();
        let mgr = V1Manager::new(tmp.path(), Path::new("/ctr"));
        let keys: Vec<_> = mgr.paths().into_keys().collect();
        assert_eq!(keys, ["cpu", "cpuacct", "net_cls", "net_prio"]);
        assert_eq!(mgr.hierarchies().len(), 2);
        mgr.apply(7).unwrap();
        assert_eq!(read(combined.join("ctr/cgroup.procs")), "7");
        assert_eq!(
            read(tmp.path().join("net_cls,net_prio/ctr/cgroup.procs")),
            "7"
        );
    }

    #[test]
    fn set_writes_every_controller() {
        let tmp = fixture("ctr");
        let mgr = V1Manager::new(tmp.path(), Path::new("/ctr"));
        let warnings = mgr
            .set(&resources(serde_json::json!({
                "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728,
                           "swappiness": 10, "disableOOMKiller": true, "kernel": 1},
                "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
                "pids": {"limit": 32},
                "blockIO": {"weight": 500},
                "devices": [
                    {"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                    {"allow": true, "type": "b", "major": 8, "access": "r"}
                ]
            })))
            .unwrap();
        let m = tmp.path().join("memory/ctr");
        assert_eq!(read(m.join("memory.limit_in_bytes")), "67108864");
        assert_eq!(read(m.join("memory.memsw.limit_in_bytes")), "134217728");
        assert_eq!(read(m.join("memory.soft_limit_in_bytes")), "33554432");
        assert_eq!(read(m.join("memory.swappiness")), "10");
        assert_eq!(read(m.join("memory.oom_control")), "1");
        let c = tmp.path().join("cpu/ctr");
        assert_eq!(read(c.join("cpu.shares")), "512");
        assert_eq!(read(c.join("cpu.cfs_period_us")), "100000");
        assert_eq!(read(c.join("cpu.cfs_quota_us")), "50000");
        assert_eq!(read(tmp.path().join("cpuset/ctr/cpuset.cpus")), "0-1");
        assert_eq!(read(tmp.path().join("cpuset/ctr/cpuset.mems")), "0");
        assert_eq!(read(tmp.path().join("pids/ctr/pids.max")), "32");
        // Each write replaces the fixture file, so the last rule of each kind shows.
        assert_eq!(
            read(tmp.path().join("devices/ctr/devices.deny")),
            "a *:* rwm"
        );
        assert_eq!(
            read(tmp.path().join("devices/ctr/devices.allow")),
            "b 8:* r"
        );
        assert_eq!(
            warnings,
            ["blkio weight not supported by the kernel, ignored"]
        );
    }

    #[test]
    fn blkio_weight_goes_to_bfq_when_present() {
        let tmp = fixture("ctr");
        touch(
            &tmp.path().join("blkio/ctr"),
            &[("blkio.bfq.weight", "100")],
        );
        let mgr = V1Manager::new(tmp.path(), Path::new("/ctr"));
        let w = mgr
            .set(&resources(serde_json::json!({"blockIO": {"weight": 300}})))
            .unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(read(tmp.path().join("blkio/ctr/blkio.bfq.weight")), "300");
    }

    #[test]
    fn swap_without_memsw_file_is_a_warning() {
        let tmp = fixture("ctr");
        std::fs::remove_file(tmp.path().join("memory/ctr/memory.memsw.limit_in_bytes")).unwrap();
        let mgr = V1Manager::new(tmp.path(), Path::new("/ctr"));
        let w = mgr
            .set(&resources(
                serde_json::json!({"memory": {"limit": 1048576000, "swap": 2097152000}}),
            ))
            .unwrap();
        assert_eq!(
            read(tmp.path().join("memory/ctr/memory.limit_in_bytes")),
            "1048576000"
        );
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("swap limit not supported"), "{w:?}");
    }

    #[test]
    fn unlimited_memory_also_unlimits_swap() {
        let tmp = fixture("ctr");
        let mgr = V1Manager::new(tmp.path(), Path::new("/ctr"));
        mgr.set(&resources(serde_json::json!({"memory": {"limit": -1}})))
            .unwrap();
        let m = tmp.path().join("memory/ctr");
        assert_eq!(read(m.join("memory.limit_in_bytes")), "-1");
        assert_eq!(read(m.join("memory.memsw.limit_in_bytes")), "-1");
    }

    #[test]
    fn invalid_values_name_the_field() {
        let tmp = fixture("ctr");
        let mgr = V1Manager::new(tmp.path(), Path::new("/ctr"));
        for (json, field) in [
            (serde_json::json!({"cpu": {"quota": 500}}), "cpu.quota"),
            (serde_json::json!({"cpu": {"period": 10}}), "cpu.period"),
            (serde_json::json!({"memory": {"limit": -5}}), "memory.limit"),
            (
                serde_json::json!({"memory": {"limit": 2000000, "swap": 1000000}}),
                "memory.swap",
            ),
            (
                serde_json::json!({"memory": {"swappiness": 101}}),
                "memory.swappiness",
            ),
            (
                serde_json::json!({"blockIO": {"weight": 5}}),
                "blockIO.weight",
            ),
            (
                serde_json::json!({"devices": [{"allow": true, "access": "rwx"}]}),
                "devices.access",
            ),
            (
                serde_json::json!({"unified": {"memory.max": "1"}}),
                "unified",
            ),
        ] {
            let err = mgr.set(&resources(json)).unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn kernel_refusal_names_file_and_value() {
        let tmp = fixture("ctr");
        std::fs::remove_file(tmp.path().join("pids/ctr/pids.max")).unwrap();
        let mgr = V1Manager::new(tmp.path(), Path::new("/ctr"));
        let err = mgr
            .set(&resources(serde_json::json!({"pids": {"limit": 0}})))
            .unwrap_err();
        let file = tmp.path().join("pids/ctr/pids.max");
        assert_eq!(
            err.to_string(),
            format!(
                "failed to write \"max\" to {}: No such file or directory",
                file.display()
            )
        );
    }

    #[test]
    fn missing_hierarchy_is_a_warning() {
        let tmp = tempfile::tempdir().unwrap();
        touch(&tmp.path().join("memory/ctr"), &files_for("memory"));
        let mgr = V1Manager::new(tmp.path(), Path::new("/ctr"));
        let w = mgr
            .set(&resources(serde_json::json!({"pids": {"limit": 10}})))
            .unwrap();
        assert_eq!(w, ["pids cgroup is not mounted, pids limits ignored"]);
    }

    #[test]
    fn freeze_thaw_and_pids_on_fixture() {
        let tmp = fixture("ctr");
        let mgr = V1Manager::new(tmp.path(), Path::new("/ctr"));
        std::fs::write(tmp.path().join("pids/ctr/cgroup.procs"), "12\n34\n").unwrap();
        assert_eq!(mgr.pids().unwrap(), [12, 34]);
        assert!(!mgr.is_frozen().unwrap());
        mgr.freeze().unwrap();
        assert!(mgr.is_frozen().unwrap());
        assert_eq!(read(tmp.path().join("freezer/ctr/freezer.state")), "FROZEN");
        mgr.thaw().unwrap();
        assert!(!mgr.is_frozen().unwrap());
    }

    #[test]
    fn stats_from_fixture_files() {
        let tmp = fixture("ctr");
        touch(
            &tmp.path().join("cpuacct/ctr"),
            &[
                ("cpuacct.usage", "1000\n"),
                ("cpuacct.usage_percpu", "600 400 \n"),
                ("cpuacct.stat", "user 10\nsystem 5\n"),
            ],
        );
        touch(
            &tmp.path().join("cpu/ctr"),
            &[(
                "cpu.stat",
                "nr_periods 4\nnr_throttled 2\nthrottled_time 99\n",
            )],
        );
        touch(
            &tmp.path().join("memory/ctr"),
            &[
                ("memory.usage_in_bytes", "4096\n"),
                ("memory.max_usage_in_bytes", "8192\n"),
                ("memory.limit_in_bytes", "67108864\n"),
                ("memory.failcnt", "3\n"),
                ("memory.stat", "cache 100\nrss 200\n"),
            ],
        );
        touch(
            &tmp.path().join("pids/ctr"),
            &[("pids.current", "2\n"), ("pids.max", "max\n")],
        );
        touch(
            &tmp.path().join("blkio/ctr"),
            &[(
                "blkio.throttle.io_service_bytes_recursive",
                "8:0 Read 10\n8:0 Write 20\nTotal 30\n",
            )],
        );
        let s = V1Manager::new(tmp.path(), Path::new("/ctr"))
            .stats()
            .unwrap();
        let ticks = 1_000_000_000 / rustix::param::clock_ticks_per_second();
        assert_eq!(s.cpu.usage.total, 1000);
        assert_eq!(s.cpu.usage.percpu, [600, 400]);
        assert_eq!(s.cpu.usage.user, 10 * ticks);
        assert_eq!(s.cpu.usage.kernel, 5 * ticks);
        assert_eq!(s.cpu.throttling.throttled_periods, 2);
        assert_eq!(s.memory.usage.usage, 4096);
        assert_eq!(s.memory.usage.max, 8192);
        assert_eq!(s.memory.usage.limit, 67108864);
        assert_eq!(s.memory.usage.failcnt, 3);
        assert_eq!(s.memory.cache, 100);
        assert_eq!(s.memory.raw["rss"], 200);
        assert_eq!((s.pids.current, s.pids.limit), (2, 0));
        assert_eq!(s.blkio.io_service_bytes_recursive.len(), 2);
        // Missing files are zeros, not errors.
        let empty = tempfile::tempdir().unwrap();
        let s = V1Manager::new(empty.path(), Path::new("/x"))
            .stats()
            .unwrap();
        assert_eq!(s, Stats::default());
    }

    /// Against the host's real v1 hierarchies: limits land in the kernel
    /// files, the write order for memory+swap holds both ways, then the
    /// shared conformance checks.
    #[test]
    fn real_v1_hierarchy() {
        let root = Path::new(crate::cgroups::DEFAULT_ROOT);
        if !testutil::is_root()
            || !root.join("memory/memory.limit_in_bytes").exists()
            || detect(root) != CgroupVersion::V1
        {
            eprintln!("skipping: needs root and a cgroup v1 memory hierarchy");
            return;
        }
        let parent = format!("/berth-test-{}-v1", std::process::id());
        let path = PathBuf::from(format!("{parent}/ctr"));
        let mgr = V1Manager::new(root, &path);
        let mut cleanup = Cleanup {
            child: Some(testutil::spawn_sleeper()),
            dirs: Vec::new(),
            thaw: Vec::new(),
        };
        for (_, mount) in mgr.hierarchies() {
            cleanup
                .dirs
                .push(mount.join(path.strip_prefix("/").unwrap()));
        }
        for (_, mount) in mgr.hierarchies() {
            cleanup
                .dirs
                .push(mount.join(parent.trim_start_matches('/')));
        }
        if let Some(f) = mgr.dir("freezer") {
            cleanup.thaw.push((f.join("freezer.state"), "THAWED"));
        }
        let pid = cleanup.child.as_ref().unwrap().id() as i32;

        mgr.apply(pid).unwrap();
        let cpuset = mgr.dir("cpuset").unwrap();
        assert!(!read(cpuset.join("cpuset.cpus")).trim().is_empty());
        let warnings = mgr
            .set(&resources(serde_json::json!({
                "memory": {"limit": 64 << 20},
                "cpu": {"quota": 50000, "period": 100000, "shares": 512},
                "pids": {"limit": 32},
                "blockIO": {"weight": 500}
            })))
            .unwrap();
        let mem = mgr.dir("memory").unwrap();
        let cpu = mgr.dir("cpu").unwrap();
        assert_eq!(read(mem.join("memory.limit_in_bytes")).trim(), "67108864");
        assert_eq!(read(cpu.join("cpu.cfs_quota_us")).trim(), "50000");
        assert_eq!(read(cpu.join("cpu.cfs_period_us")).trim(), "100000");
        assert_eq!(read(cpu.join("cpu.shares")).trim(), "512");
        assert_eq!(read(mgr.dir("pids").unwrap().join("pids.max")).trim(), "32");
        let blkio = mgr.dir("blkio").unwrap();
        if !blkio.join("blkio.weight").exists() && !blkio.join("blkio.bfq.weight").exists() {
            assert!(warnings.contains(&"blkio weight not supported by the kernel, ignored".into()));
        }

        if mem.join("memory.memsw.limit_in_bytes").exists() {
            // Lowering needs limit first, raising needs memsw first.
            for (limit, swap) in [(32u64 << 20, 48u64 << 20), (256 << 20, 512 << 20)] {
                mgr.set(&resources(
                    serde_json::json!({"memory": {"limit": limit, "swap": swap}}),
                ))
                .unwrap();
                assert_eq!(
                    read(mem.join("memory.limit_in_bytes")).trim(),
                    limit.to_string()
                );
                assert_eq!(
                    read(mem.join("memory.memsw.limit_in_bytes")).trim(),
                    swap.to_string()
                );
            }
        }
        let err = mgr
            .set(&resources(serde_json::json!({"cpu": {"cpus": "9999"}})))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cpuset.cpus") && err.contains("\"9999\""),
            "{err}"
        );

        testutil::conformance(&mgr, &mut cleanup);
    }
}
