//! `berth port`: a container's published ports from `NetworkSettings.Ports`, as
//! "80/tcp -> 0.0.0.0:8080", or the host addresses of one port.

use crate::client::{status_err, Ctx};
use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct PortArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub port: Option<String>,
}

fn host_addr(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

pub async fn run(ctx: &Ctx, args: PortArgs) -> Result<u8> {
    let info = ctx.docker.inspect_container(&args.container, None).await?;
    let ports = info
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default();
    let mut keys: Vec<&String> = ports.keys().collect();
    keys.sort_by_key(|k| {
        let (p, proto) = k.split_once('/').unwrap_or((k, ""));
        (p.parse::<u32>().unwrap_or(0), proto.to_string())
    });
    if let Some(want) = &args.port {
        let key = if want.contains('/') {
            want.clone()
        } else {
            format!("{want}/tcp")
        };
        if let Some(Some(bindings)) = ports.get(&key) {
            if !bindings.is_empty() {
                for b in bindings {
                    println!(
                        "{}",
                        host_addr(
                            b.host_ip.as_deref().unwrap_or(""),
                            b.host_port.as_deref().unwrap_or("")
                        )
                    );
                }
                return Ok(0);
            }
        }
        return Err(status_err(
            1,
            format!(
                "Error: No public port '{want}' published for {}",
                args.container
            ),
        ));
    }
    for k in keys {
        if let Some(Some(bindings)) = ports.get(k) {
            for b in bindings {
                println!(
                    "{k} -> {}",
                    host_addr(
                        b.host_ip.as_deref().unwrap_or(""),
                        b.host_port.as_deref().unwrap_or("")
                    )
                );
            }
        }
    }
    Ok(0)
}
