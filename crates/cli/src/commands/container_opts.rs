//! The flags `run` and `create` share, and their translation into the create request.
//!
//! Parse (clap fills [`ContainerOpts`]) → resolve ([`ContainerOpts::resolve`] validates
//! memory strings, env files, restart policies, ports, and builds the
//! `ContainerCreateBody`) → act (the command posts it). Validation errors are worded as
//! Docker's flag errors and exit 125.
//!
//! `-p` follows go-connections' `ParsePortSpec` (a container range expands to one
//! `PortBindings` key per port); `--ip`/`--ip6`/`--network-alias`/`--mac-address` become
//! the `NetworkingConfig` endpoint of the `--network` named, as docker CLI 28 sends them.
//!
//! `--mount` specs parse as docker CLI 28 parses them ([`opts::parse_mount`]) into
//! `HostConfig.Mounts`; `--tmpfs /path[:opts]` becomes the `HostConfig.Tmpfs` map.
//!
//! `--security-opt seccomp=<file>` is read here, as the docker CLI does: the daemon
//! receives the profile's JSON, not a path it may not be able to read.

use crate::client::{status_err, usage_err};
use crate::opts;
use anyhow::Result;
use bollard::models::{
    ContainerCreateBody, DeviceMapping, EndpointIpamConfig, EndpointSettings, HostConfig,
    HostConfigCgroupnsModeEnum, NetworkingConfig, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};
use clap::{ArgAction, Args};
use std::collections::HashMap;

#[derive(Args, Debug, Clone)]
pub struct ContainerOpts {
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env", action = ArgAction::Append)]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", action = ArgAction::Append)]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label", action = ArgAction::Append)]
    pub label: Vec<String>,
    /// Restart policy to apply when a container exits
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long)]
    pub rm: bool,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Runtime to use for this container
    #[arg(long)]
    pub runtime: Option<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", allow_hyphen_values = true)]
    pub stop_timeout: Option<i64>,
    /// Connect a container to a network
    #[arg(long = "network", alias = "net")]
    pub network: Option<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish", action = ArgAction::Append)]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip")]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long = "ip6")]
    pub ip6: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias", action = ArgAction::Append)]
    pub network_alias: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Set custom DNS servers
    #[arg(long = "dns", action = ArgAction::Append)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", action = ArgAction::Append)]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt", action = ArgAction::Append)]
    pub dns_option: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from", action = ArgAction::Append)]
    pub volumes_from: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long = "expose", action = ArgAction::Append)]
    pub expose: Vec<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", action = ArgAction::Append)]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount", value_name = "mount", action = ArgAction::Append)]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs", value_name = "list", action = ArgAction::Append)]
    pub tmpfs: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add", action = ArgAction::Append)]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", action = ArgAction::Append)]
    pub cap_drop: Vec<String>,
    /// Security Options
    #[arg(long = "security-opt", action = ArgAction::Append)]
    pub security_opt: Vec<String>,
    /// Add a host device to the container
    #[arg(long = "device", action = ArgAction::Append)]
    pub device: Vec<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(long)]
    pub cgroupns: Option<String>,
    /// User namespace to use
    #[arg(long)]
    pub userns: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", action = ArgAction::Append)]
    pub add_host: Vec<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// The image to run
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// The command and its arguments
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

/// The validated create request plus what the caller needs to drive it.
pub struct Resolved {
    pub name: Option<String>,
    pub image: String,
    pub body: ContainerCreateBody,
    pub pull: String,
}

fn flag_err(value: &str, flag: &str, msg: &str, cmd: &str) -> anyhow::Error {
    // pflag quotes the value with Go's %q: a quote or backslash in it is escaped.
    let value = value.replace('\\', "\\\\").replace('"', "\\\"");
    usage_err(
        cmd,
        format!("invalid argument \"{value}\" for \"{flag}\" flag: {msg}"),
    )
}

impl ContainerOpts {
    /// Validate the flags and build the create request.
    pub fn resolve(&self, cmd: &str, attach_stdio: bool) -> Result<Resolved> {
        let image = self.image.clone();
        let args: Vec<String> = self.command.clone();

        let memory = match &self.memory {
            Some(m) => {
                Some(opts::parse_memory(m).map_err(|e| flag_err(m, "-m, --memory", &e, cmd))?)
            }
            None => None,
        };
        let memory_swap = match self.memory_swap.as_deref() {
            Some("-1") => Some(-1),
            Some(m) => {
                Some(opts::parse_memory(m).map_err(|e| flag_err(m, "--memory-swap", &e, cmd))?)
            }
            None => None,
        };
        let nano_cpus = match &self.cpus {
            Some(c) => Some(opts::parse_cpus(c).map_err(|e| flag_err(c, "--cpus", &e, cmd))?),
            None => None,
        };
        let (policy, retries) =
            opts::parse_restart(&self.restart).map_err(|e| status_err(125, e))?;
        if self.rm && policy != "no" {
            return Err(status_err(
                125,
                "conflicting options: cannot specify both --restart and --rm",
            ));
        }

        let mut env = Vec::new();
        for f in &self.env_file {
            let content = std::fs::read_to_string(f)
                .map_err(|e| status_err(125, format!("open {f}: {}", io_msg(&e))))?;
            env.extend(opts::parse_env_file(&content, f).map_err(|e| status_err(125, e))?);
        }
        env.extend(self.env.iter().map(|e| opts::expand_env(e)));

        let labels: HashMap<String, String> = opts::kv_map(&self.label);

        let mut exposed: Vec<String> = Vec::new();
        let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for p in &self.publish {
            for m in opts::parse_port_spec(p).map_err(|e| status_err(125, e))? {
                if !exposed.contains(&m.port) {
                    exposed.push(m.port.clone());
                }
                bindings
                    .entry(m.port)
                    .or_insert_with(|| Some(Vec::new()))
                    .get_or_insert_with(Vec::new)
                    .push(PortBinding {
                        host_ip: Some(m.host_ip),
                        host_port: Some(m.host_port),
                    });
            }
        }
        for e in &self.expose {
            for key in opts::parse_expose(e).map_err(|e| status_err(125, e))? {
                if !exposed.contains(&key) {
                    exposed.push(key);
                }
            }
        }

        for d in &self.dns {
            if d.trim().parse::<std::net::IpAddr>().is_err() {
                return Err(flag_err(
                    d,
                    "--dns",
                    &format!("IP address is not correctly formatted: {d}"),
                    cmd,
                ));
            }
        }
        for d in &self.dns_search {
            if !valid_dns_search(d) {
                return Err(flag_err(
                    d,
                    "--dns-search",
                    &format!("{d} is not a valid domain"),
                    cmd,
                ));
            }
        }
        if let Some(mac) = self.mac_address.as_deref() {
            if !valid_mac(mac) {
                return Err(status_err(125, format!("{mac} is not a valid mac address")));
            }
        }
        let networking_config = endpoints_config(
            self.network.as_deref(),
            &EndpointOpts {
                ip: self.ip.clone(),
                ip6: self.ip6.clone(),
                aliases: self.network_alias.clone(),
                mac: self.mac_address.clone(),
            },
        );

        let entrypoint = self.entrypoint.as_ref().map(|e| {
            if e.is_empty() {
                vec![String::new()]
            } else {
                vec![e.clone()]
            }
        });

        let devices = self
            .device
            .iter()
            .map(|d| parse_device(d).map_err(|e| flag_err(d, "--device", &e, cmd)))
            .collect::<Result<Vec<_>>>()?;
        let cgroupns_mode = match self.cgroupns.as_deref() {
            None | Some("") => None,
            Some("host") => Some(HostConfigCgroupnsModeEnum::HOST),
            Some("private") => Some(HostConfigCgroupnsModeEnum::PRIVATE),
            Some(_) => return Err(status_err(125, "--cgroupns: invalid CGROUP mode")),
        };
        if let Some(u) = self.userns.as_deref() {
            if !matches!(u, "" | "host" | "private") {
                return Err(status_err(125, "--userns: invalid USER mode"));
            }
        }
        let mounts = self
            .mount
            .iter()
            .map(|m| opts::parse_mount(m).map_err(|e| flag_err(m, "--mount", &e, cmd)))
            .collect::<Result<Vec<_>>>()?;
        // The docker CLI's `--tmpfs /path[:opts]`: the options go to the daemon unread.
        let tmpfs: HashMap<String, String> = self
            .tmpfs
            .iter()
            .map(|t| {
                let (path, o) = t.split_once(':').unwrap_or((t, ""));
                (path.to_owned(), o.to_owned())
            })
            .collect();
        let security_opt = self
            .security_opt
            .iter()
            .map(|o| security_opt(o).map_err(|e| status_err(125, e)))
            .collect::<Result<Vec<_>>>()?;

        let restart_name = match policy.as_str() {
            "always" => RestartPolicyNameEnum::ALWAYS,
            "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
            "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
            _ => RestartPolicyNameEnum::NO,
        };

        let host_config = HostConfig {
            auto_remove: Some(self.rm),
            memory,
            memory_swap,
            nano_cpus,
            cpu_shares: self.cpu_shares,
            pids_limit: self.pids_limit,
            readonly_rootfs: Some(self.read_only),
            init: if self.init { Some(true) } else { None },
            runtime: self.runtime.clone(),
            network_mode: Some(self.network.clone().unwrap_or_else(|| "default".into())),
            port_bindings: if bindings.is_empty() {
                None
            } else {
                Some(bindings)
            },
            binds: if self.volume.is_empty() {
                None
            } else {
                Some(self.volume.clone())
            },
            mounts: (!mounts.is_empty()).then_some(mounts),
            tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
            privileged: Some(self.privileged),
            cap_add: if self.cap_add.is_empty() {
                None
            } else {
                Some(self.cap_add.clone())
            },
            cap_drop: if self.cap_drop.is_empty() {
                None
            } else {
                Some(self.cap_drop.clone())
            },
            security_opt: if security_opt.is_empty() {
                None
            } else {
                Some(security_opt)
            },
            devices: if devices.is_empty() {
                None
            } else {
                Some(devices)
            },
            cgroupns_mode,
            userns_mode: self.userns.clone(),
            publish_all_ports: self.publish_all.then_some(true),
            dns: non_empty(&self.dns),
            dns_search: non_empty(&self.dns_search),
            dns_options: non_empty(&self.dns_option),
            volumes_from: non_empty(&self.volumes_from),
            extra_hosts: if self.add_host.is_empty() {
                None
            } else {
                Some(self.add_host.clone())
            },
            restart_policy: Some(RestartPolicy {
                name: Some(restart_name),
                maximum_retry_count: retries,
            }),
            ..Default::default()
        };

        let body = ContainerCreateBody {
            hostname: self.hostname.clone(),
            user: self.user.clone(),
            attach_stdin: Some(attach_stdio && self.interactive),
            attach_stdout: Some(attach_stdio),
            attach_stderr: Some(attach_stdio),
            tty: Some(self.tty),
            open_stdin: Some(self.interactive),
            stdin_once: Some(self.interactive && attach_stdio),
            env: if env.is_empty() { None } else { Some(env) },
            cmd: if args.is_empty() { None } else { Some(args) },
            entrypoint,
            image: Some(image.clone()),
            labels: Some(labels),
            working_dir: self.workdir.clone(),
            exposed_ports: if exposed.is_empty() {
                None
            } else {
                Some(exposed)
            },
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            host_config: Some(host_config),
            networking_config,
            ..Default::default()
        };
        match self.pull.as_str() {
            "always" | "missing" | "never" => {}
            other => {
                return Err(status_err(
                    125,
                    format!("invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""),
                ))
            }
        }
        Ok(Resolved {
            name: self.name.clone(),
            image,
            body,
            pull: self.pull.clone(),
        })
    }
}

fn non_empty(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

/// The per-network flags of `run`/`create` (`--ip`, `--ip6`, `--network-alias`,
/// `--mac-address`), which apply to the network the container is created on.
#[derive(Debug, Clone, Default)]
pub struct EndpointOpts {
    pub ip: Option<String>,
    pub ip6: Option<String>,
    pub aliases: Vec<String>,
    pub mac: Option<String>,
}

/// The create request's `NetworkingConfig`, as docker CLI 28 builds it: the endpoint
/// settings of the `--network` named (or of "default") keyed by that name. Without any
/// per-network flag nothing is sent and the daemon makes the endpoint. The CLI does not
/// judge which networks accept aliases or fixed addresses: like dockerd, berthd refuses
/// them on the default bridge, and its error is the one users see.
pub fn endpoints_config(network: Option<&str>, ep: &EndpointOpts) -> Option<NetworkingConfig> {
    if ep.ip.is_none() && ep.ip6.is_none() && ep.aliases.is_empty() && ep.mac.is_none() {
        return None;
    }
    let name = match network {
        None | Some("") => "default",
        Some(n) => n,
    };
    let ipam_config = (ep.ip.is_some() || ep.ip6.is_some()).then(|| EndpointIpamConfig {
        ipv4_address: ep.ip.clone(),
        ipv6_address: ep.ip6.clone(),
        ..Default::default()
    });
    let settings = EndpointSettings {
        ipam_config,
        aliases: non_empty(&ep.aliases),
        mac_address: ep.mac.clone(),
        ..Default::default()
    };
    Some(NetworkingConfig {
        endpoints_config: Some(HashMap::from([(name.to_string(), settings)])),
    })
}

/// Go's `net.ParseMAC` for the 6-byte forms `aa:bb:cc:dd:ee:ff` and `aa-bb-…`.
fn valid_mac(mac: &str) -> bool {
    let sep = if mac.contains('-') { '-' } else { ':' };
    let parts: Vec<&str> = mac.split(sep).collect();
    matches!(parts.len(), 6 | 8 | 20)
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The docker CLI's `ValidateDNSSearch`: "." or a domain of letters, digits and inner
/// hyphens, at most 255 characters.
fn valid_dns_search(d: &str) -> bool {
    if d == "." {
        return true;
    }
    let d = d.trim_end();
    let d = d.strip_suffix('.').unwrap_or(d);
    !d.is_empty()
        && d.len() <= 255
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// `--device /dev/x[:/dev/y][:rwm]`, as the docker CLI's `parseDevice` reads it.
fn parse_device(spec: &str) -> std::result::Result<DeviceMapping, String> {
    let valid_mode =
        |m: &str| !m.is_empty() && m.len() <= 3 && m.chars().all(|c| "rwm".contains(c));
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, mut dst, mut mode) = (parts[0], "", "rwm");
    match parts.len() {
        1 => {}
        2 if valid_mode(parts[1]) => mode = parts[1],
        2 => dst = parts[1],
        3 => (dst, mode) = (parts[1], parts[2]),
        _ => return Err(format!("invalid device specification: {spec}")),
    }
    if dst.is_empty() {
        dst = src;
    }
    for p in [src, dst] {
        if !p.starts_with('/') {
            return Err(format!("bad format for path: {p}"));
        }
    }
    if !valid_mode(mode) {
        return Err(format!("invalid device mode: {mode}"));
    }
    Ok(DeviceMapping {
        path_on_host: Some(src.to_owned()),
        path_in_container: Some(dst.to_owned()),
        cgroup_permissions: Some(mode.to_owned()),
    })
}

/// One `--security-opt`: a `seccomp=<file>` becomes `seccomp=<the file's JSON>`
/// (compacted), as the docker CLI's `parseSecurityOpts` sends it.
fn security_opt(opt: &str) -> std::result::Result<String, String> {
    let Some(path) = opt
        .strip_prefix("seccomp=")
        .or_else(|| opt.strip_prefix("seccomp:"))
    else {
        return Ok(opt.to_owned());
    };
    if matches!(path, "unconfined" | "builtin") {
        return Ok(opt.to_owned());
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "opening seccomp profile ({path}) failed: open {path}: {}",
            io_msg(&e)
        )
    })?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("compacting json for seccomp profile ({path}) failed: {e}"))?;
    Ok(format!("seccomp={json}"))
}

/// An io error's message without Rust's " (os error N)" suffix, as Go prints it.
pub fn io_msg(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_lowercase(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_as_the_docker_cli_does() {
        let d = parse_device("/dev/sda").unwrap();
        assert_eq!(d.path_in_container.as_deref(), Some("/dev/sda"));
        assert_eq!(d.cgroup_permissions.as_deref(), Some("rwm"));
        let d = parse_device("/dev/sda:r").unwrap();
        assert_eq!(d.path_in_container.as_deref(), Some("/dev/sda"));
        assert_eq!(d.cgroup_permissions.as_deref(), Some("r"));
        let d = parse_device("/dev/sda:/dev/xvda:rw").unwrap();
        assert_eq!(d.path_in_container.as_deref(), Some("/dev/xvda"));
        assert_eq!(d.cgroup_permissions.as_deref(), Some("rw"));
        assert!(parse_device("/dev/a:/dev/b:rwx")
            .unwrap_err()
            .contains("invalid device mode"));
        assert!(parse_device("sda")
            .unwrap_err()
            .contains("bad format for path: sda"));
        assert!(parse_device("/a:/b:r:w").is_err());
    }

    #[test]
    fn seccomp_files_are_sent_as_json() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.json");
        std::fs::write(&file, "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n").unwrap();
        let opt = format!("seccomp={}", file.display());
        assert_eq!(
            security_opt(&opt).unwrap(),
            r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#
        );
        assert_eq!(
            security_opt("seccomp=unconfined").unwrap(),
            "seccomp=unconfined"
        );
        assert_eq!(
            security_opt("no-new-privileges").unwrap(),
            "no-new-privileges"
        );
        let e = security_opt("seccomp=/nonexistent.json").unwrap_err();
        assert!(
            e.starts_with("opening seccomp profile (/nonexistent.json) failed"),
            "{e}"
        );
        std::fs::write(&file, "{bad").unwrap();
        assert!(security_opt(&opt)
            .unwrap_err()
            .starts_with("compacting json"));
    }

    #[derive(clap::Parser)]
    #[command(disable_help_flag = true)]
    struct Wrap {
        #[command(flatten)]
        opts: ContainerOpts,
    }

    /// The create body `berth create ARGS` would send, as JSON.
    fn body(args: &[&str]) -> Result<serde_json::Value> {
        use clap::Parser;
        let w = Wrap::try_parse_from(std::iter::once("create").chain(args.iter().copied()))
            .expect("flags parse");
        let r = w.opts.resolve("create", false)?;
        Ok(serde_json::to_value(r.body).unwrap())
    }

    fn err(args: &[&str]) -> String {
        crate::client::error_text(&body(args).unwrap_err())
    }

    #[test]
    fn publish_ranges_become_one_binding_per_container_port() {
        let b = body(&["-p", "8000-8001:80-81", "-p", "127.0.0.1::90", "busybox"]).unwrap();
        let pb = &b["HostConfig"]["PortBindings"];
        assert_eq!(
            pb["80/tcp"],
            serde_json::json!([{"HostIp": "", "HostPort": "8000"}])
        );
        assert_eq!(
            pb["81/tcp"],
            serde_json::json!([{"HostIp": "", "HostPort": "8001"}])
        );
        assert_eq!(
            pb["90/tcp"],
            serde_json::json!([{"HostIp": "127.0.0.1", "HostPort": ""}])
        );
        let exposed = b["ExposedPorts"].as_object().unwrap();
        assert!(["80/tcp", "81/tcp", "90/tcp"]
            .iter()
            .all(|k| exposed.contains_key(*k)));
        let b = body(&["-p", "8000-8010:80", "busybox"]).unwrap();
        assert_eq!(
            b["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"],
            "8000-8010"
        );
    }

    #[test]
    fn bad_publish_specs_exit_125() {
        for (spec, msg) in [
            ("x", "invalid containerPort: x"),
            ("y:80", "invalid hostPort: y"),
            ("80/sctpx", "invalid proto: sctpx"),
        ] {
            let e = body(&["-p", spec, "busybox"]).unwrap_err();
            assert_eq!(crate::client::exit_code(&e), 125, "{spec}");
            assert_eq!(crate::client::error_text(&e), msg);
        }
    }

    #[test]
    fn publish_all_and_dns_flags_reach_host_config() {
        let b = body(&[
            "-P",
            "--dns",
            "1.1.1.1",
            "--dns",
            "::1",
            "--dns-search",
            "example.com",
            "--dns-option",
            "ndots:2",
            "--dns-opt",
            "rotate",
            "--expose",
            "7000-7001",
            "busybox",
        ])
        .unwrap();
        let hc = &b["HostConfig"];
        assert_eq!(hc["PublishAllPorts"], true);
        assert_eq!(hc["Dns"], serde_json::json!(["1.1.1.1", "::1"]));
        assert_eq!(hc["DnsSearch"], serde_json::json!(["example.com"]));
        assert_eq!(hc["DnsOptions"], serde_json::json!(["ndots:2", "rotate"]));
        assert!(b["ExposedPorts"]
            .as_object()
            .unwrap()
            .contains_key("7001/tcp"));
        let b = body(&["busybox"]).unwrap();
        assert!(b["HostConfig"].get("PublishAllPorts").is_none());
        assert!(b["HostConfig"].get("Dns").is_none());
        assert!(b.get("NetworkingConfig").is_none());
    }

    #[test]
    fn bad_dns_and_mac_values_are_refused() {
        assert_eq!(
            err(&["--dns", "one.one", "busybox"]),
            "invalid argument \"one.one\" for \"--dns\" flag: IP address is not correctly formatted: one.one"
        );
        assert_eq!(
            err(&["--dns-search=-bad-", "busybox"]),
            "invalid argument \"-bad-\" for \"--dns-search\" flag: -bad- is not a valid domain"
        );
        assert_eq!(
            err(&["--mac-address", "92:d0:c6:0a:29", "busybox"]),
            "92:d0:c6:0a:29 is not a valid mac address"
        );
        assert!(valid_mac("92:d0:c6:0a:29:33"));
        assert!(valid_mac("92-D0-C6-0A-29-33"));
        assert!(valid_dns_search("."));
        assert!(valid_dns_search("a.example.com."));
    }

    #[test]
    fn network_flags_become_the_endpoint_config_of_that_network() {
        let b = body(&[
            "--network",
            "appnet",
            "--ip",
            "172.30.0.5",
            "--network-alias",
            "web",
            "--network-alias",
            "www",
            "--mac-address",
            "92:d0:c6:0a:29:33",
            "busybox",
        ])
        .unwrap();
        assert_eq!(b["HostConfig"]["NetworkMode"], "appnet");
        assert_eq!(
            b["NetworkingConfig"],
            serde_json::json!({"EndpointsConfig": {"appnet": {
                "IPAMConfig": {"IPv4Address": "172.30.0.5"},
                "Aliases": ["web", "www"],
                "MacAddress": "92:d0:c6:0a:29:33",
            }}})
        );
        // Only an alias: no IPAMConfig.
        let b = body(&["--network", "appnet", "--network-alias", "db", "busybox"]).unwrap();
        assert_eq!(
            b["NetworkingConfig"],
            serde_json::json!({"EndpointsConfig": {"appnet": {"Aliases": ["db"]}}})
        );
        // No per-network flag: nothing sent, as before.
        let b = body(&["--network", "appnet", "busybox"]).unwrap();
        assert!(b.get("NetworkingConfig").is_none());
        // Without --network the settings go to "default" (docker CLI 28 does the same;
        // the daemon decides whether that network accepts them).
        let b = body(&["--mac-address", "92:d0:c6:0a:29:33", "busybox"]).unwrap();
        assert_eq!(
            b["NetworkingConfig"],
            serde_json::json!({"EndpointsConfig": {"default": {"MacAddress": "92:d0:c6:0a:29:33"}}})
        );
    }

    #[test]
    fn mount_and_tmpfs_flags_reach_host_config() {
        let b = body(&[
            "--mount",
            "type=bind,src=/a,dst=/b,ro,bind-propagation=rshared",
            "--mount",
            "type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770",
            "--mount",
            "src=v,dst=/v,volume-nocopy",
            "--tmpfs",
            "/run:size=1m",
            "--tmpfs",
            "/tmp",
            "busybox",
        ])
        .unwrap();
        let hc = &b["HostConfig"];
        assert_eq!(
            hc["Mounts"],
            serde_json::json!([
                {"Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": true,
                 "BindOptions": {"Propagation": "rshared"}},
                {"Type": "tmpfs", "Target": "/t",
                 "TmpfsOptions": {"SizeBytes": 67108864, "Mode": 1016}},
                {"Type": "volume", "Source": "v", "Target": "/v",
                 "VolumeOptions": {"NoCopy": true, "DriverConfig": {}}},
            ])
        );
        assert_eq!(
            hc["Tmpfs"],
            serde_json::json!({"/run": "size=1m", "/tmp": ""})
        );
        let b = body(&["busybox"]).unwrap();
        assert!(b["HostConfig"].get("Mounts").is_none());
        assert!(b["HostConfig"].get("Tmpfs").is_none());
    }

    #[test]
    fn bad_mounts_are_flag_errors_that_exit_125() {
        // Word for word what `docker run --mount …` prints (docker CLI 28).
        for (spec, msg) in [
            (
                "foo=1",
                "invalid argument \"foo=1\" for \"--mount\" flag: unexpected key 'foo' in 'foo=1'",
            ),
            (
                "type=bind,src=/a",
                "invalid argument \"type=bind,src=/a\" for \"--mount\" flag: target is required",
            ),
            (
                "type=volume,dst=/a,bind-propagation=rshared",
                "invalid argument \"type=volume,dst=/a,bind-propagation=rshared\" for \"--mount\" flag: cannot mix 'bind-*' options with mount type 'volume'",
            ),
            (
                "dst=\"/a",
                "invalid argument \"dst=\\\"/a\" for \"--mount\" flag: parse error on line 1, column 5: bare \" in non-quoted-field",
            ),
        ] {
            let e = body(&["--mount", spec, "busybox"]).unwrap_err();
            assert_eq!(crate::client::exit_code(&e), 125, "{spec}");
            assert_eq!(crate::client::error_text(&e), msg);
        }
    }
}
