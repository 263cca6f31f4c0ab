//! The daemon's shared state: configuration, the image store and snapshotter, the
//! containers (in memory, each persisted in its own directory), execs and events.
//!
//! Layout under the data root:
//!
//! ```text
//! <data-root>/image/                      the image store (berth-image)
//! <data-root>/snapshots/                  overlay snapshots
//! <data-root>/volumes/<name>/             volumes (see `volume.rs`)
//! <data-root>/network/<id>.json           networks (see `network.rs`)
//! <data-root>/containers/<id>/container.json   the record (versioned, atomic writes)
//! <data-root>/containers/<id>/<id>-json.log    json-file log (written by the shim)
//! <data-root>/containers/<id>/{hostname,hosts,resolv.conf}
//! <data-root>/containers/<id>/bundle/     OCI bundle: config.json, rootfs/ (mounted)
//! <exec-root>/s/<id prefix>.sock          shim sockets
//! <exec-root>/runtime/<name>/             `--root` of each OCI runtime
//! ```

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_image::snapshot::OverlaySnapshotter;
use berth_image::ImageStore;
use tokio::sync::watch;

use crate::config::Config;
use crate::container::model::{Record, Status};
use crate::error::{Error, Result};
use crate::events::Events;

/// What waiters watch: the status, how many times the container has exited, and
/// whether it is gone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase {
    pub status: Status,
    pub exit_code: i32,
    pub exits: u64,
    pub removed: bool,
}

/// An attach that arrived before its container's task exists: connected to the
/// shim when the container starts.
pub struct PendingAttach {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tx: tokio::sync::oneshot::Sender<std::os::unix::net::UnixStream>,
}

/// One container.
pub struct Entry {
    pub id: String,
    pub record: Mutex<Record>,
    pub phase: watch::Sender<Phase>,
    pub pending: Mutex<Vec<PendingAttach>>,
    /// Serializes lifecycle operations (start, stop, restart, remove).
    pub op: tokio::sync::Mutex<()>,
}

impl Entry {
    pub fn new(record: Record) -> Arc<Entry> {
        let phase = Phase {
            status: record.state.status,
            exit_code: record.state.exit_code,
            exits: 0,
            removed: false,
        };
        Arc::new(Entry {
            id: record.id.clone(),
            record: Mutex::new(record),
            phase: watch::channel(phase).0,
            pending: Mutex::new(Vec::new()),
            op: tokio::sync::Mutex::new(()),
        })
    }

    pub fn snapshot(&self) -> Record {
        self.record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn update<T>(&self, f: impl FnOnce(&mut Record) -> T) -> T {
        let mut r = self.record.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut r)
    }
}

/// An exec instance (`POST /containers/{id}/exec`).
#[derive(Debug, Clone)]
pub struct Exec {
    pub id: String,
    pub container: String,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub working_dir: String,
    pub tty: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub privileged: bool,
    pub detach_keys: String,
    pub running: bool,
    pub started: bool,
    pub exit_code: Option<i32>,
    pub pid: u32,
}

/// The daemon.
pub struct Daemon {
    pub config: Config,
    pub images: Arc<ImageStore>,
    pub snapshotter: Arc<OverlaySnapshotter>,
    pub events: Events,
    pub containers: Mutex<HashMap<String, Arc<Entry>>>,
    pub execs: Mutex<HashMap<String, Exec>>,
    /// Unpacks of one image must not race to commit the same snapshots.
    pub unpack_lock: tokio::sync::Mutex<()>,
    /// Named and anonymous volumes (`<data-root>/volumes`).
    pub volumes: Arc<crate::volume::VolumeStore>,
    /// Networks and their leases (`<data-root>/network`).
    pub networks: Arc<crate::network::NetworkStore>,
    /// Firewall, published ports and DNS servers of running containers.
    pub net: crate::container::net::NetState,
    pub id: String,
}

impl Daemon {
    pub fn containers_dir(&self) -> PathBuf {
        self.config.data_root.join("containers")
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.containers_dir().join(id)
    }

    pub fn bundle_dir(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("bundle")
    }

    pub fn shim_socket(&self, id: &str) -> PathBuf {
        self.config
            .exec_root
            .join("s")
            .join(format!("{}.sock", &id[..16]))
    }

    pub fn runtime_root(&self, runtime: &str) -> PathBuf {
        self.config.exec_root.join("runtime").join(runtime)
    }

    /// Every container, newest first.
    pub fn all(&self) -> Vec<Arc<Entry>> {
        let map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = map.values().cloned().collect();
        drop(map);
        v.sort_by_key(|e| std::cmp::Reverse(e.snapshot().created));
        v
    }

    /// Resolves a full id, a name (with or without `/`) or a unique id prefix.
    pub fn get(&self, input: &str) -> Result<Arc<Entry>> {
        let map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = map.get(input) {
            return Ok(e.clone());
        }
        let name = input.strip_prefix('/').unwrap_or(input);
        if let Some(e) = map.values().find(|e| e.snapshot().name == name) {
            return Ok(e.clone());
        }
        if !input.is_empty() {
            let found: Vec<_> = map.values().filter(|e| e.id.starts_with(input)).collect();
            match found.as_slice() {
                [one] => return Ok((*one).clone()),
                [] => {}
                _ => {
                    return Err(Error::invalid(format!(
                        "Multiple IDs found with provided prefix: {input}"
                    )))
                }
            }
        }
        Err(Error::no_such_container(input))
    }

    pub fn name_taken(&self, name: &str) -> Option<String> {
        let map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        map.values()
            .find(|e| e.snapshot().name == name)
            .map(|e| e.id.clone())
    }
}

/// Runs blocking work (the image store, the shim client, the file system) off the
/// async workers.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("internal task failed: {e}")))?
}

/// 64 hex digits from the kernel's random source.
pub fn random_id() -> String {
    let mut buf = [0u8; 32];
    let _ = rustix::rand::getrandom(&mut buf, rustix::rand::GetRandomFlags::empty());
    hex::encode(buf)
}

/// Writes `bytes` to `path` atomically: a temp file renamed over it, so a kill -9
/// of berthd at any moment leaves the old or the new file, never a torn one.
///
/// Not fsynced, deliberately: a durable write costs ~9 ms on this machine's disk
/// and a `run` makes four state transitions. What fsync would add is survival of
/// a power loss, after which every container is stopped anyway; ext4 flushes a
/// file replaced by rename before the rename commits (`auto_da_alloc`).
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("f")
    ));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
    }
    std::fs::rename(&tmp, path)
}

/// The time now as Docker prints it (RFC 3339, nanoseconds, UTC).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}
