//! `berth port`: a container's published ports from `NetworkSettings.Ports`, as
//! "80/tcp -> 0.0.0.0:8080", or the host addresses of one port ("0.0.0.0:8080").
//! Lines are sorted in natural order, as the docker CLI sorts them.

use crate::client::{status_err, Ctx};
use crate::format::{join_host_port, natural_cmp};
use anyhow::Result;
use bollard::models::PortBinding;
use clap::Args;
use std::collections::HashMap;

#[derive(Args, Debug)]
pub struct PortArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub port: Option<String>,
}

type PortMap = HashMap<String, Option<Vec<PortBinding>>>;

pub async fn run(ctx: &Ctx, args: PortArgs) -> Result<u8> {
    let info = ctx.docker.inspect_container(&args.container, None).await?;
    let ports = info
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default();
    let out = lines(&ports, args.port.as_deref(), &args.container).map_err(|e| status_err(1, e))?;
    for l in out {
        println!("{l}");
    }
    Ok(0)
}

/// What `port` prints: every mapping, or the host addresses of `want` ("80", "53/udp").
pub fn lines(ports: &PortMap, want: Option<&str>, container: &str) -> Result<Vec<String>, String> {
    let addr = |b: &PortBinding| {
        join_host_port(
            b.host_ip.as_deref().unwrap_or(""),
            b.host_port.as_deref().unwrap_or(""),
        )
    };
    let mut out = Vec::new();
    match want {
        Some(want) => {
            let key = match want.split_once('/') {
                Some((p, proto)) if !proto.is_empty() => format!("{p}/{proto}"),
                Some((p, _)) => format!("{p}/tcp"),
                None => format!("{want}/tcp"),
            };
            match ports.get(&key) {
                Some(Some(b)) if !b.is_empty() => out.extend(b.iter().map(addr)),
                _ => {
                    return Err(format!(
                        "Error: No public port '{key}' published for {container}"
                    ))
                }
            }
        }
        None => {
            for (k, b) in ports {
                for b in b.iter().flatten() {
                    out.push(format!("{k} -> {}", addr(b)));
                }
            }
        }
    }
    out.sort_by(|a, b| natural_cmp(a, b));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> PortMap {
        let b = |ip: &str, port: &str| PortBinding {
            host_ip: Some(ip.into()),
            host_port: Some(port.into()),
        };
        HashMap::from([
            (
                "80/tcp".to_string(),
                Some(vec![b("::", "8080"), b("0.0.0.0", "8080")]),
            ),
            ("8000/tcp".to_string(), Some(vec![b("127.0.0.1", "9000")])),
            ("81/tcp".to_string(), None),
            ("443/udp".to_string(), Some(vec![])),
        ])
    }

    #[test]
    fn every_mapping_sorted_naturally() {
        assert_eq!(
            lines(&map(), None, "c").unwrap(),
            [
                "80/tcp -> 0.0.0.0:8080",
                "80/tcp -> [::]:8080",
                "8000/tcp -> 127.0.0.1:9000",
            ]
        );
    }

    #[test]
    fn one_port_prints_its_host_addresses() {
        assert_eq!(
            lines(&map(), Some("80"), "c").unwrap(),
            ["0.0.0.0:8080", "[::]:8080"]
        );
        assert_eq!(
            lines(&map(), Some("80/tcp"), "c").unwrap(),
            ["0.0.0.0:8080", "[::]:8080"]
        );
    }

    #[test]
    fn unpublished_port_is_an_error_naming_port_and_proto() {
        for want in ["81", "81/tcp"] {
            assert_eq!(
                lines(&map(), Some(want), "c").unwrap_err(),
                "Error: No public port '81/tcp' published for c"
            );
        }
        assert_eq!(
            lines(&map(), Some("443/udp"), "c").unwrap_err(),
            "Error: No public port '443/udp' published for c"
        );
    }
}
