//! A container's persisted state and its lifecycle statuses.
//!
//! Layout under the runtime root (default `/run/berth-runc`):
//!
//! ```text
//! <root>/<id>/state.json   this struct, written atomically (temp file, rename)
//! <root>/<id>/exec.fifo    exists between create and start; init blocks opening it
//! ```
//!
//! The saved status is only what the runtime last did (created, running). The status a
//! caller sees is derived: a dead or zombie init means stopped, a frozen cgroup means
//! paused. The init's start time is saved with its pid so a recycled pid is not
//! mistaken for the container.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};

/// State format version, bumped on incompatible changes.
pub const STATE_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
    Paused,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Paused => "paused",
        })
    }
}

impl Status {
    pub fn can_start(self) -> bool {
        self == Status::Created
    }
    pub fn can_kill(self) -> bool {
        matches!(self, Status::Created | Status::Running | Status::Paused)
    }
    pub fn can_delete(self) -> bool {
        matches!(self, Status::Stopped | Status::Created)
    }
    pub fn can_pause(self) -> bool {
        self == Status::Running
    }
    pub fn can_resume(self) -> bool {
        self == Status::Paused
    }
    pub fn can_exec(self) -> bool {
        matches!(self, Status::Created | Status::Running)
    }
    pub fn can_update(self) -> bool {
        matches!(self, Status::Created | Status::Running | Status::Paused)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub id: String,
    /// The init's pid in the runtime's pid namespace; 0 before it exists.
    pub pid: i32,
    /// Field 22 of `/proc/<pid>/stat`, to tell the init from a recycled pid.
    pub pid_start_time: u64,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 with nanoseconds, as runc prints it.
    pub created: String,
    pub owner: String,
    /// The absolute cgroup path the container lives in.
    pub cgroup_path: PathBuf,
    /// The bundle's config as it was at create (kept as a JSON string, parsed by the
    /// same code as config.json: one deserializer for `Spec` in the binary, not two).
    #[serde(with = "spec_text")]
    pub config: Spec,
}

mod spec_text {
    use oci_spec::runtime::Spec;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(spec: &Spec, s: S) -> Result<S::Ok, S::Error> {
        let text = serde_json::to_string(spec).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Spec, D::Error> {
        let text = String::deserialize(d)?;
        crate::spec::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl State {
    pub fn dir(root: &Path, id: &str) -> PathBuf {
        root.join(id)
    }

    pub fn load(root: &Path, id: &str) -> Result<State> {
        let path = Self::dir(root, id).join("state.json");
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(e).ctx(|| format!("failed to read {}", path.display())),
        };
        serde_json::from_slice(&text)
            .map_err(|e| Error::Init(format!("corrupt state file {}: {e}", path.display())))
    }

    pub fn save(&self, root: &Path) -> Result<()> {
        let dir = Self::dir(root, &self.id);
        let bytes = serde_json::to_vec(self).expect("state always serializes");
        write_atomic(&dir.join("state.json"), &bytes)
    }

    /// The status as a caller should see it now.
    pub fn current_status(&self) -> Status {
        if self.status == Status::Creating {
            return if self.pid > 0 && self.init_alive() {
                Status::Creating
            } else {
                Status::Stopped
            };
        }
        if self.status == Status::Stopped || !self.init_alive() {
            return Status::Stopped;
        }
        if self.is_frozen() {
            return Status::Paused;
        }
        self.status
    }

    pub fn init_alive(&self) -> bool {
        self.pid > 0
            && matches!(proc_stat(self.pid), Some((state, start)) if start == self.pid_start_time && state != 'Z' && state != 'X')
    }

    fn is_frozen(&self) -> bool {
        crate::cgroup_manager(&self.cgroup_path)
            .is_frozen()
            .unwrap_or(false)
    }

    /// The state JSON of the OCI runtime spec, as `runc state` prints it and hooks read it.
    pub fn oci_json(&self, status: Status) -> serde_json::Value {
        let pid = if status == Status::Stopped {
            0
        } else {
            self.pid
        };
        let mut v = serde_json::json!({
            "ociVersion": self.config.version(),
            "id": self.id,
            "pid": pid,
            "status": status,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
        });
        if let Some(a) = self.config.annotations() {
            if !a.is_empty() {
                v["annotations"] = serde_json::to_value(a).unwrap_or_default();
            }
        }
        v
    }

    pub fn annotations(&self) -> HashMap<String, String> {
        self.config.annotations().clone().unwrap_or_default()
    }
}

/// `(state letter, start time)` from `/proc/<pid>/stat`, or None if there is no such pid.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parses a `/proc/<pid>/stat` line; the command name may hold spaces and parentheses.
pub fn parse_stat(text: &str) -> Option<(char, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // rest starts at field 3 (state); start time is field 22.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Writes a file so that readers see the old content or the new, never a mix.
/// Not fsynced: runtime state lives for as long as its containers, which a power
/// loss ends too (runc keeps it on tmpfs), while a sync costs ~0.7 ms per write on
/// a disk, four times per container.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f =
        std::fs::File::create(&tmp).ctx(|| format!("failed to create {}", tmp.display()))?;
    f.write_all(bytes)
        .ctx(|| format!("failed to write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).ctx(|| format!("failed to rename {} into place", tmp.display()))
}

/// Container ids are used as directory and cgroup names: keep them to a safe alphabet.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+'));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "invalid container id {id:?}: use letters, digits, '_', '-', '.', '+'"
        )))
    }
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_names() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10 18446744073709551615";
        assert_eq!(parse_stat(line), Some(('S', 98765)));
    }

    #[test]
    fn statuses_gate_operations() {
        assert!(Status::Created.can_start());
        assert!(!Status::Running.can_start());
        assert!(!Status::Running.can_delete());
        assert!(Status::Stopped.can_delete());
        assert!(Status::Paused.can_resume());
        assert!(!Status::Stopped.can_exec());
    }

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("abc-1.2_x").is_ok());
        assert!(validate_id("../etc").is_err());
        assert!(validate_id("").is_err());
    }
}
