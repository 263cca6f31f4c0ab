//! The container record: what `docker inspect` shows and what berthd persists.
//!
//! Field names are Docker's (PascalCase) so the record serializes straight into
//! inspect's `Config` and `HostConfig`. Keys berthd does not use are kept as the
//! client sent them (`extra`) and echoed back, as dockerd echoes its full structs.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// Docker's `StrSlice`: a JSON string or an array of strings.
fn str_slice<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum S {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<S>::deserialize(d)? {
        None => None,
        Some(S::One(s)) => Some(vec![s]),
        Some(S::Many(v)) => Some(v),
    })
}

/// Docker's container `Config`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Option<Vec<String>>,
    #[serde(deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    pub image: String,
    pub volumes: Option<BTreeMap<String, serde_json::Value>>,
    pub working_dir: String,
    #[serde(deserialize_with = "str_slice")]
    pub entrypoint: Option<Vec<String>>,
    pub on_build: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `HostConfig.RestartPolicy`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: i64,
}

/// `HostConfig.LogConfig`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub typ: String,
    pub config: BTreeMap<String, String>,
}

/// Docker's `HostConfig`: the keys berthd acts on are typed; the rest echo back.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub binds: Option<Vec<String>>,
    pub log_config: LogConfig,
    pub network_mode: String,
    pub port_bindings: Option<serde_json::Value>,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    pub runtime: String,
    pub init: Option<bool>,
    pub memory: i64,
    pub memory_swap: i64,
    pub memory_reservation: i64,
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub pids_limit: Option<i64>,
    pub shm_size: i64,
    pub oom_score_adj: i64,
    pub group_add: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub console_size: Option<[u32; 2]>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            binds: None,
            log_config: LogConfig::default(),
            network_mode: String::new(),
            port_bindings: None,
            restart_policy: RestartPolicy::default(),
            auto_remove: false,
            cap_add: None,
            cap_drop: None,
            privileged: false,
            readonly_rootfs: false,
            runtime: String::new(),
            init: None,
            memory: 0,
            memory_swap: 0,
            memory_reservation: 0,
            nano_cpus: 0,
            cpu_shares: 0,
            cpu_period: 0,
            cpu_quota: 0,
            cpuset_cpus: String::new(),
            cpuset_mems: String::new(),
            pids_limit: None,
            shm_size: 0,
            oom_score_adj: 0,
            group_add: None,
            extra_hosts: None,
            console_size: None,
            extra: serde_json::Map::new(),
        }
    }
}

/// The body of `POST /containers/create`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateBody {
    #[serde(flatten)]
    pub config: Config,
    pub host_config: Option<HostConfig>,
    pub networking_config: Option<serde_json::Value>,
}

/// The lifecycle status, Docker's words.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
    /// The container has a live task (a shim with a running or paused init).
    pub fn is_live(self) -> bool {
        matches!(self, Status::Running | Status::Paused)
    }
    pub fn can_start(self) -> bool {
        matches!(self, Status::Created | Status::Exited | Status::Dead)
    }
    pub fn can_exec(self) -> bool {
        self == Status::Running
    }
}

/// `State` of inspect.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    pub pid: u32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    pub oom_killed: bool,
}

pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Default for State {
    fn default() -> Self {
        State {
            status: Status::Created,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            started_at: ZERO_TIME.to_owned(),
            finished_at: ZERO_TIME.to_owned(),
            oom_killed: false,
        }
    }
}

/// Everything berthd persists about one container (`container.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// Schema version of this file.
    pub version: u32,
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub created: String,
    /// The image as the user named it.
    pub image_name: String,
    /// The image ID (`sha256:` config digest).
    pub image_id: String,
    /// The snapshot key of the container's writable layer.
    pub snapshot: String,
    pub path: String,
    pub args: Vec<String>,
    pub config: Config,
    pub host_config: HostConfig,
    pub state: State,
    pub restart_count: u32,
    /// Stopped by the user (`stop`, `kill`): `unless-stopped` and `always`
    /// leave it down at daemon start.
    pub manually_stopped: bool,
    /// The runtime name.
    pub runtime: String,
    /// The shim socket of the current task, if any.
    pub shim_socket: Option<std::path::PathBuf>,
    pub log_path: String,
    /// The volumes mounted into the container, resolved at create (named, from
    /// `Binds`/`Mounts`, and anonymous, from those or the image's `VOLUME`).
    #[serde(default)]
    pub volumes: Vec<VolumeUse>,
    /// The networks the container is connected to, by network name.
    #[serde(default)]
    pub endpoints: BTreeMap<String, Endpoint>,
    /// Published ports of the running task (host side as bound).
    #[serde(default)]
    pub ports: Vec<PublishedPort>,
}

impl Record {
    /// A record with nothing in it (for cleanup of half-made containers and for
    /// checks that need a record's shape).
    pub fn empty() -> Record {
        Record {
            version: RECORD_VERSION,
            id: String::new(),
            name: String::new(),
            created: String::new(),
            image_name: String::new(),
            image_id: String::new(),
            snapshot: String::new(),
            path: String::new(),
            args: vec![],
            config: Config::default(),
            host_config: HostConfig::default(),
            state: State::default(),
            restart_count: 0,
            manually_stopped: false,
            runtime: String::new(),
            shim_socket: None,
            log_path: String::new(),
            volumes: Vec::new(),
            endpoints: BTreeMap::new(),
            ports: Vec::new(),
        }
    }
}

/// A container's endpoint on one network: what was asked (aliases, `--ip`,
/// `--mac-address`) and, while the container runs, what it got.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Endpoint {
    pub network_id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub want_ip: Option<std::net::Ipv4Addr>,
    #[serde(default)]
    pub want_mac: Option<String>,
    /// While running: the endpoint's id, address, interface names.
    #[serde(default)]
    pub endpoint_id: String,
    #[serde(default)]
    pub ip: Option<std::net::Ipv4Addr>,
    #[serde(default)]
    pub prefix: u8,
    #[serde(default)]
    pub gateway: Option<std::net::Ipv4Addr>,
    #[serde(default)]
    pub mac: String,
    #[serde(default)]
    pub host_if: String,
    /// The interface inside the container (`eth0`, …).
    #[serde(default)]
    pub if_name: String,
}

/// One published port of a running container.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PublishedPort {
    pub proto: berth_network::Proto,
    pub container_port: u16,
    pub host_ip: std::net::Ipv4Addr,
    pub host_port: u16,
}

/// One volume mounted into a container.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct VolumeUse {
    pub name: String,
    pub destination: String,
    /// The volume's `_data` directory.
    pub source: String,
    pub read_only: bool,
    /// Skip copy-up of the image's content (`nocopy`).
    pub nocopy: bool,
    /// Made for this container (removed with `rm -v` and `--rm`).
    pub anonymous: bool,
    /// A bind mount taken over from another container by `--volumes-from`
    /// (`name` is empty: no volume).
    #[serde(default)]
    pub bind: bool,
}

pub const RECORD_VERSION: u32 = 1;
