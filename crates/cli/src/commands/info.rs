//! `berth info`: the client section and the daemon's `/info`, in Docker's layout, or
//! through `--format` (the template sees `/info`'s fields at the top level, as Docker's).

use crate::client::{status_err, Ctx};
use crate::format::bytes_size;
use anyhow::Result;
use clap::Args;
use serde_json::Value;

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

pub async fn run(ctx: &Ctx, args: InfoArgs) -> Result<u8> {
    // Raw JSON: /info grows fields every release; show what the daemon sent.
    let v: Value = serde_json::from_str(&crate::raw::get_json(ctx, "/info").await?)?;
    if let Some(f) = args.format.as_deref() {
        let f = if f == "json" { "{{json .}}" } else { f };
        let out = crate::template::render(f, &v).map_err(|e| status_err(1, e.to_string()))?;
        println!("{out}");
        return Ok(0);
    }
    let s = |p: &str| {
        v.pointer(p)
            .map(crate::template::go_fmt)
            .unwrap_or_default()
    };
    let mut o = String::new();
    o.push_str("Client:\n");
    o.push_str(&format!(" Version:    {}\n", env!("CARGO_PKG_VERSION")));
    o.push_str(
        " Context:    default
 Debug Mode: false

Server:
",
    );
    o.push_str(&format!(" Containers: {}\n", s("/Containers")));
    o.push_str(&format!("  Running: {}\n", s("/ContainersRunning")));
    o.push_str(&format!("  Paused: {}\n", s("/ContainersPaused")));
    o.push_str(&format!("  Stopped: {}\n", s("/ContainersStopped")));
    o.push_str(&format!(" Images: {}\n", s("/Images")));
    o.push_str(&format!(" Server Version: {}\n", s("/ServerVersion")));
    o.push_str(&format!(" Storage Driver: {}\n", s("/Driver")));
    if let Some(ds) = v.get("DriverStatus").and_then(Value::as_array) {
        for kv in ds {
            if let Some(a) = kv.as_array() {
                if a.len() == 2 {
                    o.push_str(&format!(
                        "  {}: {}\n",
                        crate::template::go_fmt(&a[0]),
                        crate::template::go_fmt(&a[1])
                    ));
                }
            }
        }
    }
    o.push_str(&format!(" Logging Driver: {}\n", s("/LoggingDriver")));
    o.push_str(&format!(" Cgroup Driver: {}\n", s("/CgroupDriver")));
    o.push_str(&format!(" Cgroup Version: {}\n", s("/CgroupVersion")));
    if let Some(p) = v.get("Plugins").and_then(Value::as_object) {
        o.push_str(" Plugins:\n");
        for (k, title) in [("Volume", "Volume"), ("Network", "Network"), ("Log", "Log")] {
            if let Some(list) = p.get(k).and_then(Value::as_array) {
                let names: Vec<String> = list.iter().map(crate::template::go_fmt).collect();
                o.push_str(&format!("  {title}: {}\n", names.join(" ")));
            }
        }
    }
    let swarm = s("/Swarm/LocalNodeState");
    if !swarm.is_empty() {
        o.push_str(&format!(" Swarm: {swarm}\n"));
    }
    if let Some(r) = v.get("Runtimes").and_then(Value::as_object) {
        let mut names: Vec<&String> = r.keys().collect();
        names.sort();
        o.push_str(&format!(
            " Runtimes: {}\n",
            names
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }
    o.push_str(&format!(" Default Runtime: {}\n", s("/DefaultRuntime")));
    o.push_str(&format!(" Init Binary: {}\n", s("/InitBinary")));
    o.push_str(&format!(
        " containerd version: {}\n",
        s("/ContainerdCommit/ID")
    ));
    o.push_str(&format!(" runc version: {}\n", s("/RuncCommit/ID")));
    o.push_str(&format!(" init version: {}\n", s("/InitCommit/ID")));
    if let Some(so) = v.get("SecurityOptions").and_then(Value::as_array) {
        o.push_str(" Security Options:\n");
        for opt in so {
            let opt = crate::template::go_fmt(opt);
            // "name=seccomp,profile=default" -> "  seccomp\n   Profile: default"
            for kv in opt.split(',') {
                match kv.split_once('=') {
                    Some(("name", n)) => o.push_str(&format!("  {n}\n")),
                    Some((k, val)) => {
                        let mut key = k.to_string();
                        if let Some(f) = key.get_mut(0..1) {
                            f.make_ascii_uppercase();
                        }
                        o.push_str(&format!("   {key}: {val}\n"));
                    }
                    None => o.push_str(&format!("  {kv}\n")),
                }
            }
        }
    }
    o.push_str(&format!(" Kernel Version: {}\n", s("/KernelVersion")));
    o.push_str(&format!(" Operating System: {}\n", s("/OperatingSystem")));
    o.push_str(&format!(" OSType: {}\n", s("/OSType")));
    o.push_str(&format!(" Architecture: {}\n", s("/Architecture")));
    o.push_str(&format!(" CPUs: {}\n", s("/NCPU")));
    let mem = v.get("MemTotal").and_then(Value::as_f64).unwrap_or(0.0);
    o.push_str(&format!(" Total Memory: {}\n", bytes_size(mem)));
    o.push_str(&format!(" Name: {}\n", s("/Name")));
    o.push_str(&format!(" ID: {}\n", s("/ID")));
    o.push_str(&format!(" Docker Root Dir: {}\n", s("/DockerRootDir")));
    o.push_str(&format!(" Debug Mode: {}\n", s("/Debug")));
    o.push_str(&format!(" Experimental: {}\n", s("/ExperimentalBuild")));
    if let Some(regs) = v
        .pointer("/RegistryConfig/InsecureRegistryCIDRs")
        .and_then(Value::as_array)
    {
        if !regs.is_empty() {
            o.push_str(" Insecure Registries:\n");
            for r in regs {
                o.push_str(&format!("  {}\n", crate::template::go_fmt(r)));
            }
        }
    }
    o.push_str(&format!(
        " Live Restore Enabled: {}\n",
        s("/LiveRestoreEnabled")
    ));
    o.push('\n');
    print!("{o}");
    if let Some(w) = v.get("Warnings").and_then(Value::as_array) {
        for w in w {
            eprintln!("{}", crate::template::go_fmt(w));
        }
    }
    Ok(0)
}
