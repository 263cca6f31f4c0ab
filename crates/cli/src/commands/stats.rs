//! `berth stats`: resource usage per container, computed as Docker's CLI computes it
//! (CPU % from the delta against `precpu_stats`, memory without the page cache, network
//! and block I/O summed over interfaces/devices). `--no-stream` prints one sample;
//! otherwise the table is redrawn every second.

use crate::client::{status_err, Ctx};
use crate::format::{bytes_size, human_size};
use anyhow::Result;
use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::{ListContainersOptions, StatsOptions};
use clap::Args;
use futures_util::StreamExt;
use serde_json::{json, Value};

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

const DEFAULT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

pub async fn run(ctx: &Ctx, args: StatsArgs) -> Result<u8> {
    let fmt = match args.format.as_deref() {
        None | Some("table") => DEFAULT.to_string(),
        Some("json") => "{{json .}}".into(),
        Some(f) => f.to_string(),
    };
    loop {
        let names = if args.containers.is_empty() {
            ctx.docker
                .list_containers(Some(ListContainersOptions {
                    all: args.all,
                    ..Default::default()
                }))
                .await?
                .into_iter()
                .filter_map(|c| c.id)
                .collect()
        } else {
            args.containers.clone()
        };
        let mut rows = Vec::new();
        let mut errors = Vec::new();
        for n in &names {
            let mut s = ctx.docker.stats(
                n,
                Some(StatsOptions {
                    stream: false,
                    one_shot: false,
                }),
            );
            match s.next().await {
                Some(Ok(st)) => rows.push(row(n, &st, !args.no_trunc)),
                Some(Err(e)) => errors.push(crate::client::error_text(&e.into())),
                None => {}
            }
        }
        if !errors.is_empty() {
            return Err(status_err(1, errors.join("\n")));
        }
        if !args.no_stream {
            print!("\x1b[2J\x1b[H");
        }
        super::ps::render_list(&fmt, &rows, &headers())?;
        if args.no_stream {
            return Ok(0);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

fn headers() -> Value {
    json!({
        "ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
        "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
    })
}

fn row(name: &str, st: &ContainerStatsResponse, trunc: bool) -> Value {
    let v = serde_json::to_value(st).unwrap_or(Value::Null);
    let u = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0) as f64;
    // CPU: (container delta / system delta) * online CPUs * 100.
    let cpu_delta =
        u("/cpu_stats/cpu_usage/total_usage") - u("/precpu_stats/cpu_usage/total_usage");
    let sys_delta = u("/cpu_stats/system_cpu_usage") - u("/precpu_stats/system_cpu_usage");
    let mut online = u("/cpu_stats/online_cpus");
    if online == 0.0 {
        online = v
            .pointer("/cpu_stats/cpu_usage/percpu_usage")
            .and_then(Value::as_array)
            .map_or(0, |a| a.len()) as f64;
    }
    let cpu = if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    // Memory: usage minus cache (cgroup v1 total_inactive_file, v2 inactive_file).
    let usage = u("/memory_stats/usage");
    let cache = {
        let v1 = u("/memory_stats/stats/total_inactive_file");
        if v1 > 0.0 && v1 < usage {
            v1
        } else {
            let v2 = u("/memory_stats/stats/inactive_file");
            if v2 < usage {
                v2
            } else {
                0.0
            }
        }
    };
    let mem = usage - cache;
    let limit = u("/memory_stats/limit");
    let mem_perc = if limit > 0.0 {
        mem / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    if let Some(nets) = v.get("networks").and_then(Value::as_object) {
        for n in nets.values() {
            rx += n.get("rx_bytes").and_then(Value::as_u64).unwrap_or(0) as f64;
            tx += n.get("tx_bytes").and_then(Value::as_u64).unwrap_or(0) as f64;
        }
    }
    let (mut br, mut bw) = (0.0, 0.0);
    if let Some(list) = v
        .pointer("/blkio_stats/io_service_bytes_recursive")
        .and_then(Value::as_array)
    {
        for e in list {
            let val = e.get("value").and_then(Value::as_u64).unwrap_or(0) as f64;
            match e
                .get("op")
                .and_then(Value::as_str)
                .map(str::to_lowercase)
                .as_deref()
            {
                Some("read") => br += val,
                Some("write") => bw += val,
                _ => {}
            }
        }
    }
    let id = st.id.clone().unwrap_or_else(|| name.to_string());
    let cname = st
        .name
        .clone()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string();
    json!({
        "ID": if trunc { crate::format::short_id(&id) } else { id },
        "Container": name,
        "Name": if cname.is_empty() { "--".into() } else { cname },
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", bytes_size(mem), bytes_size(limit)),
        "MemPerc": format!("{mem_perc:.2}%"),
        "NetIO": format!("{} / {}", human_size(rx), human_size(tx)),
        "BlockIO": format!("{} / {}", human_size(br), human_size(bw)),
        "PIDs": u("/pids_stats/current").to_string(),
    })
}
