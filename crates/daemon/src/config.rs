//! The daemon's configuration: `/etc/berth/daemon.json` (Docker's keys where they
//! apply), overridden by dockerd-spelled flags, so several berthd can run side by side.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Parser;
use serde::Deserialize;

/// `berthd` flags, spelled as dockerd's.
#[derive(Debug, Parser)]
#[command(name = "berthd", version = option_env!("BERTH_VERSION_LINE").unwrap_or(env!("CARGO_PKG_VERSION")),
          about = "berth's daemon: the Docker Engine API on a Unix socket")]
pub struct Flags {
    /// Daemon socket(s) to listen on (`unix:///path` or a path); repeatable.
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    /// Root directory of persistent state.
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Root directory of execution state (sockets, runtime state).
    #[arg(long)]
    pub exec_root: Option<PathBuf>,
    /// Daemon configuration file.
    #[arg(long, default_value = "/etc/berth/daemon.json")]
    pub config_file: PathBuf,
    /// Debug logging.
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Path of the pid file.
    #[arg(short = 'p', long)]
    pub pidfile: Option<PathBuf>,
    /// The default OCI runtime (`berth-runc`, `runc`, `crun` or a configured name).
    #[arg(long)]
    pub default_runtime: Option<String>,
    /// The `berth-shim` binary (default: beside `berthd`).
    #[arg(long, hide = true)]
    pub shim: Option<PathBuf>,
    /// Parent cgroup of containers (default `/berth`).
    #[arg(long)]
    pub cgroup_parent: Option<String>,
    /// Print the OCI `linux.seccomp` a default container gets here, and exit
    /// (for benchmarks and for comparing with other runtimes).
    #[arg(long, hide = true)]
    pub print_seccomp_profile: bool,
    /// The default bridge network's interface (default `berth0`).
    #[arg(short = 'b', long = "bridge")]
    pub bridge: Option<String>,
    /// The default bridge's address and prefix, as `172.17.0.1/16`.
    #[arg(long)]
    pub bip: Option<String>,
    /// A pool for new networks' subnets, `base=10.10.0.0/16,size=24`; repeatable.
    #[arg(long = "default-address-pool")]
    pub default_address_pools: Vec<String>,
    /// DNS server for containers (and the embedded DNS's upstream); repeatable.
    #[arg(long = "dns")]
    pub dns: Vec<String>,
}

/// `daemon.json`, the keys berthd reads; others are ignored as dockerd would
/// ignore keys it does not know only with a warning.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct FileConfig {
    data_root: Option<PathBuf>,
    exec_root: Option<PathBuf>,
    hosts: Option<Vec<String>>,
    log_driver: Option<String>,
    log_opts: Option<BTreeMap<String, String>>,
    default_runtime: Option<String>,
    runtimes: Option<BTreeMap<String, RuntimeEntry>>,
    live_restore: Option<bool>,
    debug: Option<bool>,
    pidfile: Option<PathBuf>,
    cgroup_parent: Option<String>,
    bridge: Option<String>,
    bip: Option<String>,
    default_address_pools: Option<Vec<PoolEntry>>,
    ip_forward: Option<bool>,
    iptables: Option<bool>,
    userland_proxy: Option<bool>,
    dns: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
struct PoolEntry {
    base: String,
    size: u8,
}

#[derive(Debug, Clone, Deserialize)]
struct RuntimeEntry {
    path: PathBuf,
    #[serde(default, rename = "runtimeArgs")]
    runtime_args: Vec<String>,
}

/// A runtime berthd can run containers with.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub path: PathBuf,
    pub args: Vec<String>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// Socket paths.
    pub hosts: Vec<PathBuf>,
    pub log_driver: String,
    pub log_max_size: u64,
    pub log_max_file: u32,
    pub default_runtime: String,
    pub runtimes: BTreeMap<String, Runtime>,
    pub live_restore: bool,
    pub debug: bool,
    pub pidfile: Option<PathBuf>,
    pub shim: PathBuf,
    pub cgroup_parent: String,
    /// The default bridge's interface name.
    pub bridge: String,
    pub bip: Option<String>,
    pub address_pools: Vec<berth_network::ipam::Pool>,
    /// Turn on the host's `net.ipv4.ip_forward` (dockerd's `ip-forward`).
    pub ip_forward: bool,
    /// Program firewall rules (dockerd's `iptables`).
    pub iptables: bool,
    /// Publish ports through a userland proxy instead of DNAT alone.
    pub userland_proxy: bool,
    /// DNS servers for containers, instead of the host's.
    pub dns: Vec<String>,
}

impl Config {
    /// The name of berth's nftables table (iptables chain prefix): `berth` for the
    /// default bridge name, else one of this daemon's own, so daemons with their
    /// own bridges never overwrite each other's rules.
    pub fn firewall_name(&self) -> String {
        if self.bridge == "berth0" {
            "berth".to_owned()
        } else {
            format!("berth_{}", self.bridge.replace(['-', '.'], "_"))
        }
    }
}

fn parse_pool(base: &str, size: u8) -> anyhow::Result<berth_network::ipam::Pool> {
    let base = berth_network::ipam::Subnet::parse(base)
        .with_context(|| format!("invalid default-address-pools base {base:?}"))?;
    if size < base.prefix() || size > 30 {
        bail!("invalid default-address-pools size {size}: must be between the base's prefix length and 30");
    }
    Ok(berth_network::ipam::Pool { base, size })
}

impl Config {
    /// Reads the file (missing is fine unless named explicitly) and applies the flags.
    pub fn load(flags: Flags) -> anyhow::Result<Config> {
        let file = match std::fs::read(&flags.config_file) {
            Ok(bytes) => serde_json::from_slice::<FileConfig>(&bytes)
                .with_context(|| format!("failed to parse {}", flags.config_file.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileConfig::default(),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("failed to read {}", flags.config_file.display()))
            }
        };
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("/usr/local/bin"));
        let beside = |name: &str| {
            let p = exe_dir.join(name);
            if p.exists() {
                p
            } else {
                PathBuf::from(name)
            }
        };
        let mut runtimes = BTreeMap::new();
        runtimes.insert(
            "berth-runc".to_owned(),
            Runtime {
                path: beside("berth-runc"),
                args: vec![],
            },
        );
        runtimes.insert(
            "runc".to_owned(),
            Runtime {
                path: PathBuf::from("runc"),
                args: vec![],
            },
        );
        runtimes.insert(
            "crun".to_owned(),
            Runtime {
                path: PathBuf::from("crun"),
                args: vec![],
            },
        );
        for (name, r) in file.runtimes.unwrap_or_default() {
            runtimes.insert(
                name,
                Runtime {
                    path: r.path,
                    args: r.runtime_args,
                },
            );
        }
        let default_runtime = flags
            .default_runtime
            .or(file.default_runtime)
            .unwrap_or_else(|| "berth-runc".to_owned());
        if !runtimes.contains_key(&default_runtime) {
            bail!("default runtime {default_runtime:?} is not a configured runtime");
        }
        let hosts = if !flags.hosts.is_empty() {
            flags.hosts
        } else {
            file.hosts.unwrap_or_default()
        };
        let hosts = if hosts.is_empty() {
            vec![PathBuf::from("/run/berth/berth.sock")]
        } else {
            hosts
                .iter()
                .map(|h| parse_host(h))
                .collect::<anyhow::Result<_>>()?
        };
        let log_opts = file.log_opts.unwrap_or_default();
        let log_max_size = match log_opts.get("max-size") {
            Some(s) => parse_size(s).with_context(|| format!("invalid log-opts max-size {s:?}"))?,
            None => 0,
        };
        let log_max_file = match log_opts.get("max-file") {
            Some(s) => s.parse().ok().filter(|n: &u32| *n >= 1).with_context(|| {
                format!("invalid log-opts max-file {s:?}: expected a positive integer")
            })?,
            None => 1,
        };
        let log_driver = file.log_driver.unwrap_or_else(|| "json-file".to_owned());
        if !matches!(log_driver.as_str(), "json-file" | "none") {
            bail!("invalid log-driver {log_driver:?}: berthd has json-file and none");
        }
        let mut address_pools = Vec::new();
        for p in &flags.default_address_pools {
            let mut base = None;
            let mut size = None;
            for kv in p.split(',') {
                match kv.split_once('=') {
                    Some(("base", v)) => base = Some(v.to_owned()),
                    Some(("size", v)) => size = v.parse::<u8>().ok(),
                    _ => {
                        bail!("invalid --default-address-pool {p:?}: expected base=<cidr>,size=<n>")
                    }
                }
            }
            match (base, size) {
                (Some(b), Some(s)) => address_pools.push(parse_pool(&b, s)?),
                _ => bail!("invalid --default-address-pool {p:?}: expected base=<cidr>,size=<n>"),
            }
        }
        if address_pools.is_empty() {
            for p in file.default_address_pools.clone().unwrap_or_default() {
                address_pools.push(parse_pool(&p.base, p.size)?);
            }
        }
        if address_pools.is_empty() {
            address_pools = berth_network::ipam::default_pools();
        }
        let bridge = flags
            .bridge
            .clone()
            .or(file.bridge.clone())
            .unwrap_or_else(|| "berth0".to_owned());
        if bridge.is_empty() || bridge.len() > 15 {
            bail!("invalid bridge name {bridge:?}: 1 to 15 characters");
        }
        let bip = flags.bip.clone().or(file.bip.clone());
        if let Some(b) = &bip {
            berth_network::ipam::Subnet::parse(b).with_context(|| format!("invalid bip {b:?}"))?;
        }
        Ok(Config {
            bridge,
            bip,
            address_pools,
            ip_forward: file.ip_forward.unwrap_or(true),
            iptables: file.iptables.unwrap_or(true),
            userland_proxy: file.userland_proxy.unwrap_or(false),
            dns: if flags.dns.is_empty() {
                file.dns.clone().unwrap_or_default()
            } else {
                flags.dns.clone()
            },
            data_root: flags
                .data_root
                .or(file.data_root)
                .unwrap_or_else(|| PathBuf::from("/var/lib/berth")),
            exec_root: flags
                .exec_root
                .or(file.exec_root)
                .unwrap_or_else(|| PathBuf::from("/run/berth")),
            hosts,
            log_driver,
            log_max_size,
            log_max_file,
            default_runtime,
            runtimes,
            live_restore: file.live_restore.unwrap_or(true),
            debug: flags.debug || file.debug.unwrap_or(false),
            pidfile: flags.pidfile.or(file.pidfile),
            shim: flags.shim.unwrap_or_else(|| beside("berth-shim")),
            cgroup_parent: flags
                .cgroup_parent
                .or(file.cgroup_parent)
                .unwrap_or_else(|| "/berth".to_owned()),
        })
    }
}

/// `unix:///run/x.sock` or a bare path.
fn parse_host(host: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = host.strip_prefix("unix://") {
        return Ok(PathBuf::from(path));
    }
    if host.starts_with('/') {
        return Ok(PathBuf::from(host));
    }
    bail!("invalid host {host:?}: only unix:// sockets are supported")
}

/// Docker's size strings: `10m`, `1g`, `512k`, `100` (bytes), `1.5g`, `64MB`.
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1u64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        't' => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num.parse().ok()?;
    if n.is_nan() || n < 0.0 {
        return None;
    }
    Some((n * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_docker_spells_them() {
        assert_eq!(parse_size("10m"), Some(10 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("64MB"), Some(64 << 20));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("-1m"), None);
    }

    #[test]
    fn hosts_are_unix_sockets() {
        assert_eq!(
            parse_host("unix:///tmp/a.sock").unwrap(),
            PathBuf::from("/tmp/a.sock")
        );
        assert!(parse_host("tcp://0.0.0.0:2375").is_err());
    }
}
