//! Named volumes with Docker's `local` driver.
//!
//! A volume is a directory the daemon owns; containers get its `_data` bind-mounted
//! (`rbind`, `ro` when asked). Its data outlives every container and berthd itself.
//!
//! Layout under the data root (format version [`VOLUME_VERSION`]):
//!
//! ```text
//! <data-root>/volumes/<name>/volume.json   {"Version": 1, "Name", "Driver": "local",
//!                                            "Labels", "Options", "CreatedAt"}
//!                                           written atomically (temp + rename)
//! <data-root>/volumes/<name>/_data/        the data (what containers see)
//! ```
//!
//! Driver options are the `local` driver's (`mount(8)` spelled as Docker does):
//! `type=tmpfs device=tmpfs o=size=10m` mounts a tmpfs on `_data`; `type=none o=bind
//! device=/host/path` bind-mounts a host directory there. Kept simple: such a volume
//! is mounted when it is created and at every daemon start, and unmounted when it is
//! removed or when berthd shuts down with no running container using it; so a
//! tmpfs volume's data lives until the volume goes or berthd stops without it
//! in use (Docker's local driver likewise loses it once no container mounts it).
//!
//! Which containers use a volume is not stored here: the container records name
//! their volumes, and the daemon asks them (`in use`, `RefCount`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustix::mount::MountFlags;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Schema version of `volume.json`.
pub const VOLUME_VERSION: u32 = 1;

/// The label Docker (≥ 23) puts on anonymous volumes.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// One volume's metadata, as stored in `volume.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    #[serde(default)]
    pub version: u32,
    pub name: String,
    pub driver: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    pub created_at: String,
}

/// A request to create a volume (`POST /volumes/create`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateVolume {
    pub name: Option<String>,
    pub driver: Option<String>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// Docker's rule for local volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// How a volume's `_data` gets mounted, from its driver options.
#[derive(Debug, Clone, PartialEq)]
enum Backing {
    Plain,
    Tmpfs { data: String },
    Bind { device: PathBuf },
}

fn backing(opts: &BTreeMap<String, String>) -> Result<Backing> {
    for k in opts.keys() {
        if !matches!(k.as_str(), "type" | "device" | "o" | "size") {
            return Err(Error::invalid(format!("invalid option: \"{k}\"")));
        }
    }
    if opts.is_empty() {
        return Ok(Backing::Plain);
    }
    let typ = opts.get("type").map(String::as_str).unwrap_or("");
    let o = opts.get("o").map(String::as_str).unwrap_or("");
    let device = opts.get("device").map(String::as_str).unwrap_or("");
    match typ {
        "tmpfs" => {
            let mut data: Vec<&str> = o.split(',').filter(|s| !s.is_empty()).collect();
            let size = opts.get("size").map(|s| format!("size={s}"));
            if let Some(s) = &size {
                data.push(s);
            }
            Ok(Backing::Tmpfs {
                data: data.join(","),
            })
        }
        "none" | "" if o.split(',').any(|x| x == "bind" || x == "rbind") => {
            if !device.starts_with('/') {
                return Err(Error::invalid(format!(
                    "invalid option: \"device\": a bind-backed volume needs an absolute host path, got {device:?}"
                )));
            }
            if !Path::new(device).is_dir() {
                return Err(Error::invalid(format!(
                    "failed to mount local volume: mount {device}: no such file or directory"
                )));
            }
            Ok(Backing::Bind {
                device: device.into(),
            })
        }
        other => Err(Error::invalid(format!(
            "invalid option: \"type\": berth's local driver mounts \"tmpfs\" or \"none\" with o=bind, not {other:?}"
        ))),
    }
}

/// The volumes of one daemon.
pub struct VolumeStore {
    root: PathBuf,
    volumes: Mutex<BTreeMap<String, Volume>>,
}

impl VolumeStore {
    /// Loads every `volume.json` under `root` and mounts what should be mounted.
    pub fn load(root: PathBuf) -> Result<VolumeStore> {
        std::fs::create_dir_all(&root)?;
        let mut volumes = BTreeMap::new();
        for entry in std::fs::read_dir(&root)? {
            let entry = entry?;
            let meta = entry.path().join("volume.json");
            let Ok(bytes) = std::fs::read(&meta) else {
                continue;
            };
            match serde_json::from_slice::<Volume>(&bytes) {
                Ok(v) => {
                    let store_dir = entry.path();
                    if let Err(e) = mount_backing(&v, &store_dir.join("_data")) {
                        tracing::warn!("volume {}: {e}", v.name);
                    }
                    volumes.insert(v.name.clone(), v);
                }
                Err(e) => tracing::warn!("skipping {}: {e}", meta.display()),
            }
        }
        Ok(VolumeStore {
            root,
            volumes: Mutex::new(volumes),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Volume>> {
        self.volumes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `<data-root>/volumes/<name>/_data`.
    pub fn mountpoint(&self, name: &str) -> PathBuf {
        self.root.join(name).join("_data")
    }

    /// Creates a volume, or returns the one of that name (blocking).
    pub fn create(&self, req: CreateVolume) -> Result<Volume> {
        let name = req
            .name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(crate::daemon::random_id);
        if !valid_name(&name) {
            return Err(Error::invalid(format!(
                "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
            )));
        }
        let driver = req
            .driver
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "local".into());
        if driver != "local" {
            return Err(Error::not_found(format!(
                "error looking up volume plugin {driver}: plugin \"{driver}\" not found"
            )));
        }
        let mut map = self.lock();
        if let Some(v) = map.get(&name) {
            return Ok(v.clone());
        }
        backing(&req.options)?;
        let v = Volume {
            version: VOLUME_VERSION,
            name: name.clone(),
            driver,
            labels: req.labels,
            options: req.options,
            created_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        };
        let dir = self.root.join(&name);
        let data = dir.join("_data");
        let made = (|| -> Result<()> {
            std::fs::create_dir_all(&data)?;
            mount_backing(&v, &data)?;
            let bytes = serde_json::to_vec_pretty(&v).unwrap_or_default();
            crate::daemon::write_atomic(&dir.join("volume.json"), &bytes)?;
            Ok(())
        })();
        if let Err(e) = made {
            let _ = crate::rootfs::unmount(&data);
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        map.insert(name, v.clone());
        Ok(v)
    }

    pub fn get(&self, name: &str) -> Result<Volume> {
        self.lock()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("get {name}: no such volume")))
    }

    pub fn list(&self) -> Vec<Volume> {
        self.lock().values().cloned().collect()
    }

    /// Removes a volume and its data (blocking). Whether it is in use is the
    /// caller's check.
    pub fn remove(&self, name: &str) -> Result<()> {
        let mut map = self.lock();
        if !map.contains_key(name) {
            return Err(Error::not_found(format!("get {name}: no such volume")));
        }
        let dir = self.root.join(name);
        crate::rootfs::unmount(&dir.join("_data"))?;
        // The metadata goes first: a crash half-way leaves a directory, never a
        // volume whose data is half gone.
        let _ = std::fs::remove_file(dir.join("volume.json"));
        std::fs::remove_dir_all(&dir).or_else(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Ok(())
            } else {
                Err(e)
            }
        })?;
        map.remove(name);
        Ok(())
    }

    /// Unmounts a tmpfs- or bind-backed volume's `_data` (blocking); a plain
    /// volume has nothing mounted. The next daemon start mounts it again.
    pub fn unmount(&self, name: &str) -> Result<()> {
        let Some(v) = self.lock().get(name).cloned() else {
            return Ok(());
        };
        if v.options.is_empty() {
            return Ok(());
        }
        crate::rootfs::unmount(&self.mountpoint(name))
    }

    /// Bytes used under a volume's `_data` (blocking; hard links counted once).
    pub fn size(&self, name: &str) -> i64 {
        let mut seen = std::collections::HashSet::new();
        du(&self.mountpoint(name), &mut seen) as i64
    }
}

fn du(p: &Path, seen: &mut std::collections::HashSet<(u64, u64)>) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    for e in rd.flatten() {
        let Ok(m) = e.path().symlink_metadata() else {
            continue;
        };
        if m.is_dir() {
            total += du(&e.path(), seen);
        } else if seen.insert((m.dev(), m.ino())) {
            total += m.len();
        }
    }
    total
}

/// Mounts a volume's backing (tmpfs, bind) on `data`, unless already mounted.
fn mount_backing(v: &Volume, data: &Path) -> Result<()> {
    let b = backing(&v.options)?;
    if b == Backing::Plain || crate::rootfs::is_mounted(data) {
        return Ok(());
    }
    std::fs::create_dir_all(data)?;
    let res = match &b {
        Backing::Plain => Ok(()),
        Backing::Tmpfs { data: opts } => {
            let opts = std::ffi::CString::new(opts.as_str())
                .map_err(|_| Error::invalid("invalid option: \"o\""))?;
            rustix::mount::mount(
                "tmpfs",
                data,
                "tmpfs",
                MountFlags::NOSUID | MountFlags::NODEV,
                Some(opts.as_c_str()),
            )
        }
        Backing::Bind { device } => rustix::mount::mount_bind_recursive(device.as_path(), data)
            .and_then(|()| {
                rustix::mount::mount_change(data, rustix::mount::MountPropagationFlags::PRIVATE)
            }),
    };
    res.map_err(|e| Error::internal(format!("failed to mount local volume {}: {e}", v.name)))
}

/// Copies the image's content at a mount destination into an empty volume, as
/// Docker does on first mount: owners, modes, symlinks and the top directory's
/// owner and mode (blocking).
pub fn copy_up(from: &Path, to: &Path) -> std::io::Result<()> {
    let Ok(meta) = from.symlink_metadata() else {
        return Ok(());
    };
    if !meta.is_dir() || std::fs::read_dir(to)?.next().is_some() {
        return Ok(());
    }
    copy_dir(from, to)?;
    copy_attrs(&meta, to)
}

fn copy_attrs(meta: &std::fs::Metadata, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()))?;
    if !meta.file_type().is_symlink() {
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let src = e.path();
        let dst = to.join(e.file_name());
        let meta = src.symlink_metadata()?;
        let ft = meta.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&dst)?;
            copy_dir(&src, &dst)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if ft.is_file() {
            std::fs::copy(&src, &dst)?;
        } else {
            // Devices, fifos and sockets are not copied up.
            continue;
        }
        copy_attrs(&meta, &dst)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        assert!(valid_name("data"));
        assert!(valid_name("a1_b.c-d"));
        assert!(!valid_name("a"));
        assert!(!valid_name("_data"));
        assert!(!valid_name("bad name"));
        assert!(!valid_name("x/y"));
    }

    #[test]
    fn options_are_checked() {
        let o = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(backing(&o(&[])).unwrap(), Backing::Plain);
        assert_eq!(
            backing(&o(&[
                ("type", "tmpfs"),
                ("device", "tmpfs"),
                ("o", "size=1m")
            ]))
            .unwrap(),
            Backing::Tmpfs {
                data: "size=1m".into()
            }
        );
        assert!(backing(&o(&[("bogus", "1")])).is_err());
        assert!(backing(&o(&[("type", "nfs")])).is_err());
        assert!(backing(&o(&[("type", "none"), ("o", "bind"), ("device", "rel")])).is_err());
    }

    #[test]
    fn create_get_remove_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let s = VolumeStore::load(dir.path().join("volumes")).unwrap();
        let v = s
            .create(CreateVolume {
                name: Some("data".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(v.driver, "local");
        assert!(s.mountpoint("data").is_dir());
        let again = s
            .create(CreateVolume {
                name: Some("data".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(again, v);
        let err = s
            .create(CreateVolume {
                name: Some("bad name".into()),
                ..Default::default()
            })
            .unwrap_err();
        assert!(err.message.contains("includes invalid characters"));
        let anon = s.create(CreateVolume::default()).unwrap();
        assert_eq!(anon.name.len(), 64);
        drop(s);
        let s = VolumeStore::load(dir.path().join("volumes")).unwrap();
        assert_eq!(s.list().len(), 2);
        s.remove("data").unwrap();
        assert!(!s.mountpoint("data").exists());
        assert_eq!(
            s.get("data").unwrap_err().message,
            "get data: no such volume"
        );
    }

    #[test]
    fn copy_up_keeps_modes_and_symlinks_and_skips_full_volumes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        std::fs::create_dir_all(from.join("sub")).unwrap();
        std::fs::write(from.join("sub/f"), "hi").unwrap();
        std::fs::set_permissions(from.join("sub/f"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        std::os::unix::fs::symlink("sub/f", from.join("link")).unwrap();
        let to = dir.path().join("to");
        std::fs::create_dir(&to).unwrap();
        copy_up(&from, &to).unwrap();
        assert_eq!(std::fs::read_to_string(to.join("link")).unwrap(), "hi");
        assert_eq!(
            std::fs::metadata(to.join("sub/f"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o640
        );
        let full = dir.path().join("full");
        std::fs::create_dir(&full).unwrap();
        std::fs::write(full.join("mine"), "x").unwrap();
        copy_up(&from, &full).unwrap();
        assert!(!full.join("sub").exists());
    }
}
