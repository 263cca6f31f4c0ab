//! The flags `run` and `create` share, and their translation into the create request.
//!
//! Parse (clap fills [`ContainerOpts`]) → resolve ([`ContainerOpts::resolve`] validates
//! memory strings, env files, restart policies, ports, and builds the
//! `ContainerCreateBody`) → act (the command posts it). Validation errors are worded as
//! Docker's flag errors and exit 125.
//!
//! `--security-opt seccomp=<file>` is read here, as the docker CLI does: the daemon
//! receives the profile's JSON, not a path it may not be able to read.

use crate::client::{status_err, usage_err};
use crate::opts;
use anyhow::Result;
use bollard::models::{
    ContainerCreateBody, DeviceMapping, HostConfig, HostConfigCgroupnsModeEnum, PortBinding,
    RestartPolicy, RestartPolicyNameEnum,
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
    /// Expose a port or a range of ports
    #[arg(long = "expose", action = ArgAction::Append)]
    pub expose: Vec<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", action = ArgAction::Append)]
    pub volume: Vec<String>,
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
            let (key, ip, host) = opts::parse_publish(p).map_err(|e| status_err(125, e))?;
            if !exposed.contains(&key) {
                exposed.push(key.clone());
            }
            bindings
                .entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: Some(ip),
                    host_port: Some(host),
                });
        }
        for e in &self.expose {
            let key = if e.contains('/') {
                e.clone()
            } else {
                format!("{e}/tcp")
            };
            if !exposed.contains(&key) {
                exposed.push(key);
            }
        }

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
}
