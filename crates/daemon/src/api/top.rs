//! `docker top` and `docker stats`: a running container's processes and
//! resource usage, read from its cgroup.
//!
//! The OCI spec berthd writes puts a container in `<cgroup_parent>/<id>`. On
//! cgroup v2 that is one directory under `/sys/fs/cgroup`; on v1 (and the hybrid
//! layout, where `/sys/fs/cgroup/unified` is v2 with no controllers) there is one
//! such directory per controller hierarchy (`pids/`, `memory/`, `cpuacct/` or
//! `cpu,cpuacct/`, `blkio/`). Which one applies is decided by
//! `/sys/fs/cgroup/cgroup.controllers`, which exists only on a v2 mount.
//!
//! `top` runs the host's `ps` with the client's `ps_args` and keeps the rows
//! whose PID is in the cgroup, as Docker does (so PIDs are the host's). `stats`
//! turns the cgroup files into Docker's stats JSON; CPU percentages are the
//! client's business, computed from two samples (`precpu_stats`, one second
//! apart unless `one-shot`) and `/proc/stat`'s total (`system_cpu_usage`, ns).
//! All file parsing takes a root directory, so it is tested on fixture trees.

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::{json, AppState, Query};
use crate::container::model::Status;
use crate::daemon::{blocking, now_rfc3339, Daemon, Entry};
use crate::error::{Error, Result};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/top", get(top))
        .route("/containers/{id}/stats", get(stats))
}

/// Nanoseconds per `USER_HZ` tick (`/proc/stat`, `cpuacct.stat`): 100 Hz on Linux.
const NANOS_PER_TICK: u64 = 10_000_000;

// ------------------------------------------------------------------ cgroup files

/// Where one container's cgroup is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cgroup {
    /// The unified hierarchy: one directory.
    V2(PathBuf),
    /// Controller name → directory, for those that exist.
    V1(BTreeMap<String, PathBuf>),
}

impl Cgroup {
    /// Locates `<cgroup_path>` (e.g. `/berth/<id>`) under the cgroup mount `root`.
    pub fn locate(root: &FsPath, cgroup_path: &str) -> Cgroup {
        let rel = cgroup_path.trim_start_matches('/');
        if root.join("cgroup.controllers").exists() {
            return Cgroup::V2(root.join(rel));
        }
        let mut map = BTreeMap::new();
        for (name, dirs) in [
            ("pids", &["pids"][..]),
            ("memory", &["memory"][..]),
            ("cpuacct", &["cpuacct", "cpu,cpuacct", "cpuacct,cpu"][..]),
            ("cpu", &["cpu", "cpu,cpuacct", "cpuacct,cpu"][..]),
            ("blkio", &["blkio"][..]),
            ("systemd", &["systemd"][..]),
            ("unified", &["unified"][..]),
        ] {
            if let Some(p) = dirs
                .iter()
                .map(|d| root.join(d).join(rel))
                .find(|p| p.is_dir())
            {
                map.insert(name.to_owned(), p);
            }
        }
        Cgroup::V1(map)
    }

    fn dir(&self, controller: &str) -> Option<&FsPath> {
        match self {
            Cgroup::V2(p) => Some(p),
            Cgroup::V1(m) => m.get(controller).map(PathBuf::as_path),
        }
    }

    /// Every process in the cgroup and its descendants.
    pub fn pids(&self) -> Vec<u32> {
        let dirs: Vec<&FsPath> = match self {
            Cgroup::V2(p) => vec![p.as_path()],
            Cgroup::V1(m) => ["pids", "memory", "cpuacct", "systemd", "unified"]
                .iter()
                .filter_map(|c| m.get(*c).map(PathBuf::as_path))
                .take(1)
                .collect(),
        };
        let mut out = Vec::new();
        for d in dirs {
            collect_procs(d, &mut out);
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

fn collect_procs(dir: &FsPath, out: &mut Vec<u32>) {
    if let Ok(s) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(s.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_procs(&e.path(), out);
            }
        }
    }
}

fn read_u64(p: &FsPath) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// `key value` lines (`memory.stat`, `cpu.stat`, `cpuacct.stat`).
fn read_kv(p: &FsPath) -> BTreeMap<String, u64> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_owned(), it.next()?.parse().ok()?))
        })
        .collect()
}

/// The sum of the `cpu ` line of `/proc/stat`, in nanoseconds (Docker's
/// `system_cpu_usage`: user..steal, the first seven fields).
pub fn system_cpu_usage(proc_stat: &str) -> u64 {
    proc_stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(7)
                .filter_map(|f| f.parse::<u64>().ok())
                .sum::<u64>()
        })
        .unwrap_or(0)
        * NANOS_PER_TICK
}

/// Host memory in bytes from `/proc/meminfo` (the limit of an unlimited cgroup).
fn mem_total(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// One reading of a cgroup, in Docker's shape (everything but `read`,
/// `preread`, `name`, `id` and `precpu_stats`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    pub pids: u64,
    pub pids_limit: Option<u64>,
    pub cpu_total: u64,
    pub cpu_percpu: Vec<u64>,
    pub cpu_kernel: u64,
    pub cpu_user: u64,
    pub system_cpu: u64,
    pub online_cpus: u64,
    pub throttling: [u64; 3],
    pub mem_usage: u64,
    pub mem_max_usage: Option<u64>,
    pub mem_limit: u64,
    pub mem_stats: BTreeMap<String, u64>,
    /// `(major, minor, op, value)`.
    pub io_bytes: Vec<(u64, u64, String, u64)>,
    /// Per interface of the container's namespace (not `lo`): Docker's eight counters.
    pub networks: BTreeMap<String, Value>,
}

/// `/proc/<pid>/net/dev` as Docker's `networks` (rx/tx bytes, packets, errors,
/// drops per interface; loopback left out, as Docker leaves it).
pub fn parse_net_dev(text: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if f.len() < 12 {
            continue;
        }
        out.insert(
            name.to_owned(),
            json!({
                "rx_bytes": f[0], "rx_packets": f[1], "rx_errors": f[2], "rx_dropped": f[3],
                "tx_bytes": f[8], "tx_packets": f[9], "tx_errors": f[10], "tx_dropped": f[11],
            }),
        );
    }
    out
}

impl Sample {
    /// Reads a cgroup; `proc_root` is `/proc` (for `stat` and `meminfo`).
    pub fn read(cg: &Cgroup, proc_root: &FsPath) -> Sample {
        let proc_stat = std::fs::read_to_string(proc_root.join("stat")).unwrap_or_default();
        let host_mem =
            mem_total(&std::fs::read_to_string(proc_root.join("meminfo")).unwrap_or_default());
        let host_cpus = proc_stat
            .lines()
            .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
            .count() as u64;
        let mut s = Sample {
            system_cpu: system_cpu_usage(&proc_stat),
            online_cpus: host_cpus.max(1),
            ..Default::default()
        };
        match cg {
            Cgroup::V2(dir) => {
                s.pids = read_u64(&dir.join("pids.current")).unwrap_or(0);
                s.pids_limit = read_u64(&dir.join("pids.max"));
                let cpu = read_kv(&dir.join("cpu.stat"));
                s.cpu_total = cpu.get("usage_usec").copied().unwrap_or(0) * 1000;
                s.cpu_user = cpu.get("user_usec").copied().unwrap_or(0) * 1000;
                s.cpu_kernel = cpu.get("system_usec").copied().unwrap_or(0) * 1000;
                s.throttling = [
                    cpu.get("nr_periods").copied().unwrap_or(0),
                    cpu.get("nr_throttled").copied().unwrap_or(0),
                    cpu.get("throttled_usec").copied().unwrap_or(0) * 1000,
                ];
                s.mem_usage = read_u64(&dir.join("memory.current")).unwrap_or(0);
                s.mem_max_usage = read_u64(&dir.join("memory.peak"));
                s.mem_limit = read_u64(&dir.join("memory.max")).unwrap_or(host_mem);
                s.mem_stats = read_kv(&dir.join("memory.stat"));
                for line in std::fs::read_to_string(dir.join("io.stat"))
                    .unwrap_or_default()
                    .lines()
                {
                    let mut it = line.split_whitespace();
                    let Some((maj, min)) = it.next().and_then(|d| d.split_once(':')) else {
                        continue;
                    };
                    let (Ok(maj), Ok(min)) = (maj.parse(), min.parse()) else {
                        continue;
                    };
                    for kv in it {
                        let Some((k, v)) = kv.split_once('=') else {
                            continue;
                        };
                        let op = match k {
                            "rbytes" => "read",
                            "wbytes" => "write",
                            _ => continue,
                        };
                        s.io_bytes
                            .push((maj, min, op.to_owned(), v.parse().unwrap_or(0)));
                    }
                }
            }
            Cgroup::V1(_) => {
                if let Some(d) = cg.dir("pids") {
                    s.pids = read_u64(&d.join("pids.current")).unwrap_or(0);
                    s.pids_limit = read_u64(&d.join("pids.max"));
                }
                if let Some(d) = cg.dir("cpuacct") {
                    s.cpu_total = read_u64(&d.join("cpuacct.usage")).unwrap_or(0);
                    s.cpu_percpu = std::fs::read_to_string(d.join("cpuacct.usage_percpu"))
                        .unwrap_or_default()
                        .split_whitespace()
                        .filter_map(|v| v.parse().ok())
                        .collect();
                    let st = read_kv(&d.join("cpuacct.stat"));
                    s.cpu_user = st.get("user").copied().unwrap_or(0) * NANOS_PER_TICK;
                    s.cpu_kernel = st.get("system").copied().unwrap_or(0) * NANOS_PER_TICK;
                }
                if let Some(d) = cg.dir("cpu") {
                    let st = read_kv(&d.join("cpu.stat"));
                    s.throttling = [
                        st.get("nr_periods").copied().unwrap_or(0),
                        st.get("nr_throttled").copied().unwrap_or(0),
                        st.get("throttled_time").copied().unwrap_or(0),
                    ];
                }
                if let Some(d) = cg.dir("memory") {
                    s.mem_usage = read_u64(&d.join("memory.usage_in_bytes")).unwrap_or(0);
                    s.mem_max_usage = read_u64(&d.join("memory.max_usage_in_bytes"));
                    // "No limit" is a huge number on v1: report the host's memory.
                    s.mem_limit = read_u64(&d.join("memory.limit_in_bytes"))
                        .unwrap_or(host_mem)
                        .min(host_mem.max(1));
                    s.mem_stats = read_kv(&d.join("memory.stat"));
                }
                if let Some(d) = cg.dir("blkio") {
                    for line in std::fs::read_to_string(d.join("blkio.throttle.io_service_bytes"))
                        .unwrap_or_default()
                        .lines()
                    {
                        let f: Vec<&str> = line.split_whitespace().collect();
                        let [dev, op, v] = f.as_slice() else { continue };
                        let Some((maj, min)) = dev.split_once(':') else {
                            continue;
                        };
                        let (Ok(maj), Ok(min), Ok(v)) = (maj.parse(), min.parse(), v.parse())
                        else {
                            continue;
                        };
                        s.io_bytes.push((maj, min, op.to_ascii_lowercase(), v));
                    }
                }
            }
        }
        if !s.cpu_percpu.is_empty() {
            s.online_cpus = s.cpu_percpu.len() as u64;
        }
        s
    }

    fn cpu_json(&self) -> Value {
        json!({
            "cpu_usage": {
                "total_usage": self.cpu_total,
                "percpu_usage": if self.cpu_percpu.is_empty() { Value::Null } else { json!(self.cpu_percpu) },
                "usage_in_kernelmode": self.cpu_kernel,
                "usage_in_usermode": self.cpu_user,
            },
            "system_cpu_usage": self.system_cpu,
            "online_cpus": self.online_cpus,
            "throttling_data": {
                "periods": self.throttling[0],
                "throttled_periods": self.throttling[1],
                "throttled_time": self.throttling[2],
            },
        })
    }
}

/// Docker's stats JSON of a sample and the one before it.
pub fn stats_json(
    name: &str,
    id: &str,
    read: &str,
    cur: &Sample,
    pre: Option<(&str, &Sample)>,
) -> Value {
    let (preread, precpu) = match pre {
        Some((t, p)) => (t.to_owned(), p.cpu_json()),
        None => (
            "0001-01-01T00:00:00Z".to_owned(),
            json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0}, "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}),
        ),
    };
    let mut memory =
        json!({"usage": cur.mem_usage, "stats": cur.mem_stats, "limit": cur.mem_limit});
    if let Some(m) = cur.mem_max_usage {
        memory["max_usage"] = json!(m);
    }
    let io: Vec<Value> = cur
        .io_bytes
        .iter()
        .map(|(maj, min, op, v)| json!({"major": maj, "minor": min, "op": op, "value": v}))
        .collect();
    let mut pids = json!({"current": cur.pids});
    if let Some(l) = cur.pids_limit {
        pids["limit"] = json!(l);
    }
    json!({
        "name": format!("/{name}"),
        "id": id,
        "read": read,
        "preread": preread,
        "pids_stats": pids,
        "blkio_stats": {
            "io_service_bytes_recursive": if io.is_empty() { Value::Null } else { Value::Array(io) },
            "io_serviced_recursive": null,
            "io_queue_recursive": null,
            "io_service_time_recursive": null,
            "io_wait_time_recursive": null,
            "io_merged_recursive": null,
            "io_time_recursive": null,
            "sectors_recursive": null,
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cur.cpu_json(),
        "precpu_stats": precpu,
        "memory_stats": memory,
        "networks": cur.networks,
    })
}

/// A stopped container's stats: all zero, as Docker sends them.
fn empty_stats(name: &str, id: &str) -> Value {
    json!({
        "name": format!("/{name}"), "id": id,
        "read": "0001-01-01T00:00:00Z", "preread": "0001-01-01T00:00:00Z",
        "pids_stats": {}, "blkio_stats": {"io_service_bytes_recursive": null, "io_serviced_recursive": null, "io_queue_recursive": null, "io_service_time_recursive": null, "io_wait_time_recursive": null, "io_merged_recursive": null, "io_time_recursive": null, "sectors_recursive": null},
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0}, "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
        "precpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0}, "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
        "memory_stats": {},
    })
}

// ------------------------------------------------------------------ ps

/// Docker's `top` on `ps` output: the header's columns become the titles, and
/// a row is kept when its PID is in `pids` (the last column keeps its spaces).
pub fn parse_ps(
    output: &str,
    pids: &[u32],
) -> std::result::Result<(Vec<String>, Vec<Vec<String>>), String> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let pid_index = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| "Couldn't find PID field in ps output".to_owned())?;
    let mut procs = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(pid) = fields.get(pid_index).and_then(|p| p.parse::<u32>().ok()) else {
            return Err(format!(
                "Unexpected pid '{}'",
                fields.get(pid_index).unwrap_or(&"")
            ));
        };
        if !pids.contains(&pid) {
            continue;
        }
        let n = titles.len().max(1);
        let mut row: Vec<String> = fields.iter().take(n - 1).map(|s| (*s).to_owned()).collect();
        // The last column is the rest of the line, spaces included.
        if fields.len() >= n {
            let mut rest = line;
            for f in fields.iter().take(n - 1) {
                let at = rest.find(f).map_or(0, |i| i + f.len());
                rest = &rest[at..];
            }
            row.push(rest.trim().to_owned());
        }
        procs.push(row);
    }
    Ok((titles, procs))
}

// ------------------------------------------------------------------ handlers

fn cgroup_of(d: &Daemon, id: &str) -> Cgroup {
    let path = format!("{}/{}", d.config.cgroup_parent.trim_end_matches('/'), id);
    Cgroup::locate(FsPath::new("/sys/fs/cgroup"), &path)
}

fn require_running(e: &Entry) -> Result<()> {
    let s = e.snapshot().state.status;
    if !matches!(s, Status::Running | Status::Paused | Status::Restarting) {
        return Err(Error::conflict(format!(
            "Container {} is not running",
            e.id
        )));
    }
    Ok(())
}

async fn top(
    State(d): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let e = d.get(&id)?;
    require_running(&e)?;
    let args: Vec<String> = match q.get("ps_args").filter(|a| !a.trim().is_empty()) {
        Some(a) => a.split_whitespace().map(str::to_owned).collect(),
        None => vec!["-ef".to_owned()],
    };
    let cg = cgroup_of(&d, &e.id);
    let mut pids = cg.pids();
    if pids.is_empty() {
        // No cgroup found (or the runtime put it elsewhere): fall back to the init pid.
        let pid = e.snapshot().state.pid;
        if pid != 0 {
            pids.push(pid);
        }
    }
    let out = tokio::process::Command::new("ps")
        .args(&args)
        .env("LC_ALL", "C")
        .output()
        .await
        .map_err(|err| Error::internal(format!("Error running ps: {err}")))?;
    if !out.status.success() {
        return Err(Error::internal(format!(
            "ps: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let (titles, procs) =
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids).map_err(Error::internal)?;
    Ok(json(
        StatusCode::OK,
        json!({"Titles": titles, "Processes": procs}),
    ))
}

async fn sample(cg: Cgroup, pid: u32) -> Result<(String, Sample)> {
    blocking(move || {
        let mut s = Sample::read(&cg, FsPath::new("/proc"));
        if pid != 0 {
            let dev = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
            s.networks = parse_net_dev(&dev);
        }
        Ok((now_rfc3339(), s))
    })
    .await
}

async fn stats(
    State(d): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let q = Query::parse(q.as_deref());
    let stream = q.get("stream").is_none() || q.bool("stream");
    let one_shot = q.bool("one-shot");
    let e = d.get(&id)?;
    let name = e.snapshot().name;
    let cid = e.id.clone();
    let running = |e: &Entry| e.snapshot().state.status.is_live();
    if !stream {
        if !running(&e) {
            return Ok(json(StatusCode::OK, empty_stats(&name, &cid)));
        }
        let cg = cgroup_of(&d, &cid);
        let v = if one_shot {
            let (t, s) = sample(cg, e.snapshot().state.pid).await?;
            stats_json(&name, &cid, &t, &s, None)
        } else {
            let pid = e.snapshot().state.pid;
            let (t0, s0) = sample(cg.clone(), pid).await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (t1, s1) = sample(cg, pid).await?;
            stats_json(&name, &cid, &t1, &s1, Some((&t0, &s0)))
        };
        return Ok(json(StatusCode::OK, v));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(2);
    tokio::spawn(async move {
        let cg = cgroup_of(&d, &cid);
        let mut pre: Option<(String, Sample)> = None;
        loop {
            let v = if running(&e) {
                let Ok((t, s)) = sample(cg.clone(), e.snapshot().state.pid).await else {
                    break;
                };
                let v = stats_json(
                    &name,
                    &cid,
                    &t,
                    &s,
                    pre.as_ref().map(|(t, s)| (t.as_str(), s)),
                );
                pre = Some((t, s));
                v
            } else {
                empty_stats(&name, &cid)
            };
            let mut line = v.to_string();
            line.push('\n');
            if tx.send(Ok(Bytes::from(line))).await.is_err() || !running(&e) {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let mut resp = Response::new(body);
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_becomes_dockers_networks_without_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:     140       2    0    0    0     0          0         0      140       2    0    0    0     0       0          0\n  \
eth0:    1836      17    1    2    0     0          0         0      746       9    3    4    0     0       0          0\n";
        let n = parse_net_dev(text);
        assert_eq!(n.keys().collect::<Vec<_>>(), ["eth0"]);
        assert_eq!(
            n["eth0"],
            json!({"rx_bytes": 1836, "rx_packets": 17, "rx_errors": 1, "rx_dropped": 2,
                   "tx_bytes": 746, "tx_packets": 9, "tx_errors": 3, "tx_dropped": 4})
        );
    }

    fn write(p: &FsPath, s: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, s).unwrap();
    }

    #[test]
    fn v1_hybrid_layout_is_read() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("cgroup");
        let proc_root = t.path().join("proc");
        let id = "abc";
        write(&root.join("pids/berth/abc/cgroup.procs"), "10\n12\n");
        write(&root.join("pids/berth/abc/sub/cgroup.procs"), "14\n");
        write(&root.join("pids/berth/abc/pids.current"), "3\n");
        write(&root.join("pids/berth/abc/pids.max"), "max\n");
        write(&root.join("cpuacct/berth/abc/cpuacct.usage"), "5000000\n");
        write(
            &root.join("cpuacct/berth/abc/cpuacct.usage_percpu"),
            "2000000 3000000 \n",
        );
        write(
            &root.join("cpuacct/berth/abc/cpuacct.stat"),
            "user 3\nsystem 1\n",
        );
        write(
            &root.join("cpu/berth/abc/cpu.stat"),
            "nr_periods 4\nnr_throttled 1\nthrottled_time 99\n",
        );
        write(
            &root.join("memory/berth/abc/memory.usage_in_bytes"),
            "4096\n",
        );
        write(
            &root.join("memory/berth/abc/memory.max_usage_in_bytes"),
            "8192\n",
        );
        write(
            &root.join("memory/berth/abc/memory.limit_in_bytes"),
            "9223372036854771712\n",
        );
        write(
            &root.join("memory/berth/abc/memory.stat"),
            "cache 0\ntotal_inactive_file 100\n",
        );
        write(
            &root.join("blkio/berth/abc/blkio.throttle.io_service_bytes"),
            "8:0 Read 512\n8:0 Write 1024\nTotal 1536\n",
        );
        write(
            &proc_root.join("stat"),
            "cpu  10 0 5 100 0 0 0 0 0 0\ncpu0 5 0 2 50 0 0 0 0 0 0\ncpu1 5 0 3 50 0 0 0 0 0 0\n",
        );
        write(&proc_root.join("meminfo"), "MemTotal:       2048 kB\n");
        let cg = Cgroup::locate(&root, &format!("/berth/{id}"));
        assert!(matches!(cg, Cgroup::V1(_)));
        assert_eq!(cg.pids(), vec![10, 12, 14]);
        let s = Sample::read(&cg, &proc_root);
        assert_eq!(s.pids, 3);
        assert_eq!(s.pids_limit, None);
        assert_eq!(s.cpu_total, 5_000_000);
        assert_eq!(s.cpu_percpu, vec![2_000_000, 3_000_000]);
        assert_eq!(s.cpu_user, 30_000_000);
        assert_eq!(s.online_cpus, 2);
        assert_eq!(s.system_cpu, 115 * NANOS_PER_TICK);
        assert_eq!(s.throttling, [4, 1, 99]);
        assert_eq!(s.mem_usage, 4096);
        assert_eq!(s.mem_limit, 2048 * 1024);
        assert_eq!(s.mem_stats["total_inactive_file"], 100);
        assert_eq!(
            s.io_bytes,
            vec![
                (8, 0, "read".to_owned(), 512),
                (8, 0, "write".to_owned(), 1024)
            ]
        );
        let v = stats_json("web", "abc", "now", &s, None);
        assert_eq!(v["name"], "/web");
        assert_eq!(v["cpu_stats"]["cpu_usage"]["total_usage"], 5_000_000);
        assert_eq!(v["memory_stats"]["max_usage"], 8192);
    }

    #[test]
    fn v2_layout_is_read() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("cgroup");
        let proc_root = t.path().join("proc");
        write(&root.join("cgroup.controllers"), "cpu memory pids io\n");
        write(&root.join("berth/abc/cgroup.procs"), "7\n");
        write(&root.join("berth/abc/pids.current"), "1\n");
        write(&root.join("berth/abc/pids.max"), "100\n");
        write(&root.join("berth/abc/cpu.stat"), "usage_usec 20\nuser_usec 15\nsystem_usec 5\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n");
        write(&root.join("berth/abc/memory.current"), "1000\n");
        write(&root.join("berth/abc/memory.max"), "max\n");
        write(
            &root.join("berth/abc/memory.stat"),
            "anon 10\ninactive_file 5\n",
        );
        write(
            &root.join("berth/abc/io.stat"),
            "8:0 rbytes=10 wbytes=20 rios=1 wios=2\n",
        );
        write(
            &proc_root.join("stat"),
            "cpu  1 0 1 1 0 0 0\ncpu0 1 0 1 1 0 0 0\n",
        );
        write(&proc_root.join("meminfo"), "MemTotal: 4 kB\n");
        let cg = Cgroup::locate(&root, "/berth/abc");
        assert_eq!(cg, Cgroup::V2(root.join("berth/abc")));
        assert_eq!(cg.pids(), vec![7]);
        let s = Sample::read(&cg, &proc_root);
        assert_eq!(s.cpu_total, 20_000);
        assert_eq!(s.cpu_kernel, 5_000);
        assert_eq!(s.pids_limit, Some(100));
        assert_eq!(s.mem_limit, 4096);
        assert_eq!(s.online_cpus, 1);
        assert_eq!(s.io_bytes.len(), 2);
    }

    #[test]
    fn ps_rows_are_filtered_by_pid() {
        let out = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
                   root           1       0  0 10:00 ?        00:00:01 /sbin/init splash\n\
                   root        4242       1  0 10:01 ?        00:00:00 sh -c sleep 100\n";
        let (titles, procs) = parse_ps(out, &[4242]).unwrap();
        assert_eq!(
            titles,
            ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        );
        assert_eq!(
            procs,
            vec![vec![
                "root",
                "4242",
                "1",
                "0",
                "10:01",
                "?",
                "00:00:00",
                "sh -c sleep 100"
            ]]
        );
        assert!(parse_ps("USER COMMAND\nroot x\n", &[1]).is_err());
    }
}
