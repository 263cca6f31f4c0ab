//! berth's NAT and filter rules: the whole set, rendered from one [`Ruleset`] and
//! swapped into the kernel in one step.
//!
//! Why the whole set every time: the daemon owns a description (its networks and
//! published ports) and the kernel should hold exactly its rendering. Rendering it
//! all and replacing berth's rules atomically means there is no incremental state
//! to drift (a crashed daemon, a port removed twice, a restart), and applying the
//! same [`Ruleset`] twice is a no-op. This is rule 4 of STYLE.md: the daemon passes a
//! description, this module acts.
//!
//! Two backends behind [`Firewall`], checked by one conformance suite
//! (`tests/firewall.rs`, run against both):
//! - [`Nftables`]: one table, `ip berth`, replaced by a single `nft -f -`
//!   transaction. Other tables (Docker's, firewalld's, the user's) are never read or
//!   touched.
//! - [`Iptables`]: berth's own chains (`BERTH-PREROUTING`, `BERTH-OUTPUT`,
//!   `BERTH-POSTROUTING` in nat, `BERTH-FORWARD` and `BERTH-ISOLATION` in filter),
//!   refilled by one `iptables-restore --noflush` (declaring a chain flushes it), and
//!   one jump to each from the built-in chain of the same hook.
//!
//! What the rules say is Docker's bridge driver with `--userland-proxy=false`
//! (moby `integration/network/bridge/nftablesdoc`, `iptablesdoc`): outbound
//! masquerade per network, masquerade of host-sourced (also loopback) traffic DNATed
//! into a bridge, isolation between bridges, internal networks cut off, published
//! ports DNATed for every local destination address (no proxy catches what the
//! rules miss, so the DNAT applies to packets from containers too — hairpin — with a
//! masquerade for a container reaching its own published port), and forwarding into
//! a bridge accepted only for published ports, replies and traffic from the same
//! bridge ("unpublished port drop").
//!
//! Loopback host addresses (`-p 127.0.0.1:8080:80`) need `route_localnet=1` on the
//! bridge, as dockerd sets it; that sysctl is the caller's job (it belongs to the
//! link, not the ruleset).
//!
//! The tools run with [`std::process::Command`]: a child inherits the network
//! namespace of the calling thread, which is how the tests and the daemon aim the
//! rules at a namespace.

pub mod iptables;
pub mod nft;

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::ipam::Subnet;
use crate::Proto;

/// The rules of one bridge network.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NetRules {
    /// The bridge's interface name.
    pub bridge: String,
    pub subnet: Subnet,
    /// `docker network create --internal`: no traffic in or out of the bridge.
    pub internal: bool,
    /// `com.docker.network.bridge.enable_ip_masquerade`: masquerade outbound traffic.
    pub masquerade: bool,
}

/// One published port.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PortMap {
    pub proto: Proto,
    /// [`Ipv4Addr::UNSPECIFIED`]: every host address.
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
    /// The bridge the container is reached through.
    pub bridge: String,
}

/// Everything berth wants in the kernel's firewall.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ruleset {
    pub networks: Vec<NetRules>,
    pub ports: Vec<PortMap>,
}

impl Ruleset {
    /// Checks what goes into a rule verbatim: interface names (nothing a rule
    /// script could misread) and port numbers.
    pub fn validate(&self) -> Result<()> {
        let bridges = self
            .networks
            .iter()
            .map(|n| &n.bridge)
            .chain(self.ports.iter().map(|p| &p.bridge));
        for b in bridges {
            let ok = !b.is_empty()
                && b.len() < 16
                && b.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"._-@".contains(&c));
            if !ok {
                return Err(Error::BadRuleset(format!("invalid bridge name {b:?}")));
            }
        }
        for p in &self.ports {
            if p.host_port == 0 || p.container_port == 0 {
                return Err(Error::BadRuleset(format!(
                    "port 0 in mapping {}:{}->{}:{}/{}",
                    p.host_ip,
                    p.host_port,
                    p.container_ip,
                    p.container_port,
                    p.proto.as_str()
                )));
            }
        }
        Ok(())
    }

    /// Whether `bridge` belongs to an internal network (its ports are not
    /// published, as Docker ignores them).
    pub(crate) fn is_internal(&self, bridge: &str) -> bool {
        self.networks
            .iter()
            .any(|n| n.internal && n.bridge == bridge)
    }

    /// The published ports that get rules: those not on an internal network.
    pub(crate) fn published(&self) -> impl Iterator<Item = &PortMap> {
        self.ports.iter().filter(|p| !self.is_internal(&p.bridge))
    }
}

/// A firewall backend.
pub trait Firewall: Send + Sync {
    /// `"nftables"` or `"iptables"`.
    fn name(&self) -> &'static str;
    /// Replaces everything berth has in the kernel with `rs`, atomically (one nft
    /// transaction / `iptables-restore --noflush` of berth's own chains). Idempotent.
    fn apply(&self, rs: &Ruleset) -> Result<()>;
    /// Removes all of berth's tables/chains/jump rules.
    fn clear(&self) -> Result<()>;
}

/// The nftables backend: table `ip berth` (or a name of the daemon's own).
#[derive(Debug, Clone)]
pub struct Nftables {
    pub table: std::borrow::Cow<'static, str>,
}

impl Nftables {
    /// The table `ip berth`.
    pub const DEFAULT: Nftables = Nftables {
        table: std::borrow::Cow::Borrowed("berth"),
    };

    pub fn new(table: &str) -> Nftables {
        Nftables {
            table: std::borrow::Cow::Owned(table.to_owned()),
        }
    }
}

impl Default for Nftables {
    fn default() -> Nftables {
        Nftables::DEFAULT
    }
}

/// The iptables backend: chains `BERTH-*`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Iptables;

/// nftables when `nft` works here, else iptables; env `BERTH_FIREWALL=nftables|iptables`
/// forces one. `table` names the nftables table (the iptables chains are always
/// `BERTH-*`: one iptables-backed daemon per host).
pub fn detect(table: &str) -> Box<dyn Firewall> {
    match std::env::var("BERTH_FIREWALL").as_deref() {
        Ok("nftables") | Ok("nft") => return Box::new(Nftables::new(table)),
        Ok("iptables") => return Box::new(Iptables),
        Ok(other) => tracing::warn!("BERTH_FIREWALL={other:?} unknown, detecting"),
        Err(_) => {}
    }
    if run("nft", &["list", "tables"], None).is_ok() {
        Box::new(Nftables::new(table))
    } else {
        Box::new(Iptables)
    }
}

/// Runs `tool args…`, feeding `stdin` if given; its stdout on success,
/// [`Error::Command`] with its stderr on failure.
pub(crate) fn run(tool: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
    tracing::debug!(tool, ?args, "running");
    let mut child = Command::new(tool)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Command {
            tool: tool.to_owned(),
            stderr: format!("cannot run: {e}"),
        })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A tool that dies early closes its stdin; its stderr says why.
        let _ = pipe.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| Error::Command {
        tool: tool.to_owned(),
        stderr: format!("cannot wait: {e}"),
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if stderr.is_empty() {
            stderr = out.status.to_string();
        }
        Err(Error::Command {
            tool: tool.to_owned(),
            stderr,
        })
    }
}

/// `nft`/`iptables` spelling of a protocol.
pub(crate) fn proto(p: Proto) -> &'static str {
    p.as_str()
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// Two networks (one internal), three ports (one on every address, one on
    /// loopback, one on the internal network).
    pub fn sample() -> Ruleset {
        Ruleset {
            networks: vec![
                NetRules {
                    bridge: "br-a".into(),
                    subnet: Subnet::parse("172.18.0.0/16").unwrap(),
                    internal: false,
                    masquerade: true,
                },
                NetRules {
                    bridge: "br-b".into(),
                    subnet: Subnet::parse("172.19.0.0/16").unwrap(),
                    internal: false,
                    masquerade: false,
                },
                NetRules {
                    bridge: "br-i".into(),
                    subnet: Subnet::parse("172.20.0.0/16").unwrap(),
                    internal: true,
                    masquerade: true,
                },
            ],
            ports: vec![
                PortMap {
                    proto: Proto::Tcp,
                    host_ip: Ipv4Addr::UNSPECIFIED,
                    host_port: 8080,
                    container_ip: Ipv4Addr::new(172, 18, 0, 2),
                    container_port: 80,
                    bridge: "br-a".into(),
                },
                PortMap {
                    proto: Proto::Udp,
                    host_ip: Ipv4Addr::LOCALHOST,
                    host_port: 5300,
                    container_ip: Ipv4Addr::new(172, 19, 0, 3),
                    container_port: 53,
                    bridge: "br-b".into(),
                },
                PortMap {
                    proto: Proto::Tcp,
                    host_ip: Ipv4Addr::UNSPECIFIED,
                    host_port: 9000,
                    container_ip: Ipv4Addr::new(172, 20, 0, 2),
                    container_port: 9000,
                    bridge: "br-i".into(),
                },
            ],
        }
    }

    #[test]
    fn validation_refuses_names_a_script_could_misread() {
        let mut rs = sample();
        assert!(rs.validate().is_ok());
        rs.networks[0].bridge = "br\"; flush ruleset".into();
        assert!(matches!(rs.validate(), Err(Error::BadRuleset(_))));
        let mut rs = sample();
        rs.ports[0].bridge = "a-very-long-bridge-name".into();
        assert!(matches!(rs.validate(), Err(Error::BadRuleset(_))));
        let mut rs = sample();
        rs.ports[0].host_port = 0;
        assert!(matches!(rs.validate(), Err(Error::BadRuleset(_))));
    }
}
