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
        Ok(Config {
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
