//! Usage statistics in the JSON shape of runc's `events --stats`
//! (`runc/types/events.go`), so tools written against runc read ours.
//!
//! Numbers are always present (zero when the kernel lacks the file); lists and
//! maps are omitted when empty, as Go's `omitempty` does for them. Times are
//! nanoseconds on both cgroup versions.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct CpuStats {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct CpuUsage {
    /// Total CPU time consumed, in nanoseconds.
    pub total: u64,
    /// Per-CPU time in nanoseconds (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Time in kernel mode, in nanoseconds.
    pub kernel: u64,
    /// Time in user mode, in nanoseconds.
    pub user: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    pub periods: u64,
    pub throttled_periods: u64,
    /// Nanoseconds.
    pub throttled_time: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryStats {
    /// Page cache (v1 `cache`, v2 `file` in memory.stat).
    pub cache: u64,
    pub usage: MemoryEntry,
    /// Memory plus swap, as v1's memsw counts it (v2 values are added up).
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    /// Every line of memory.stat.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryEntry {
    /// Bytes; "unlimited" is the kernel's huge number (v1) or `u64::MAX` (v2 "max").
    pub limit: u64,
    pub usage: u64,
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct PidsStats {
    pub current: u64,
    /// 0 means unlimited.
    pub limit: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlkioStats {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

/// Parse a v1 blkio file: lines "8:0 Read 4096", and a final "Total N".
pub(super) fn parse_blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (dev, op, value) = (f.next()?, f.next()?, f.next()?);
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op: op.to_string(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// Parse v2 io.stat ("8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0")
/// into runc's (bytes, ios) entry lists.
pub(super) fn parse_io_stat(text: &str) -> BlkioStats {
    let mut out = BlkioStats::default();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some((major, minor)) = fields.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for field in fields {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            let Ok(value) = value.parse() else { continue };
            let (list, op) = match key {
                "rbytes" => (&mut out.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut out.io_service_bytes_recursive, "Write"),
                "dbytes" => (&mut out.io_service_bytes_recursive, "Discard"),
                "rios" => (&mut out.io_serviced_recursive, "Read"),
                "wios" => (&mut out.io_serviced_recursive, "Write"),
                "dios" => (&mut out.io_serviced_recursive, "Discard"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_stats_have_runc_shape() {
        let v = serde_json::to_value(Stats::default()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "cpu": {"usage": {"total": 0, "kernel": 0, "user": 0},
                        "throttling": {"periods": 0, "throttledPeriods": 0, "throttledTime": 0}},
                "memory": {"cache": 0,
                           "usage": {"limit": 0, "usage": 0, "max": 0, "failcnt": 0},
                           "swap": {"limit": 0, "usage": 0, "max": 0, "failcnt": 0},
                           "kernel": {"limit": 0, "usage": 0, "max": 0, "failcnt": 0}},
                "pids": {"current": 0, "limit": 0},
                "blkio": {}
            })
        );
    }

    #[test]
    fn blkio_v1_lines() {
        let e = parse_blkio_v1("8:0 Read 4096\n8:0 Write 10\nTotal 4106\n");
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[0].major, e[0].minor, e[0].op.as_str(), e[0].value),
            (8, 0, "Read", 4096)
        );
    }

    #[test]
    fn io_stat_v2_lines() {
        let s = parse_io_stat("259:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(s.io_service_bytes_recursive.len(), 3);
        assert_eq!(s.io_service_bytes_recursive[1].value, 200);
        assert_eq!(s.io_serviced_recursive[0].op, "Read");
        assert_eq!(s.io_serviced_recursive[0].major, 259);
    }
}
