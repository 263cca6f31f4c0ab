//! The records both snapshotters keep, and the directories they name.
//!
//! ```text
//! <root>/metadata.json          {"version": 1, "next_id": 7, "snapshots": {
//!                                  "<key>": {"id": 3, "parent": "<key>"|null,
//!                                            "kind": "Committed"|"Active"|"View",
//!                                            "created": <unix seconds>}, …}}
//! <root>/snapshots/<id>/fs      the snapshot's tree (overlay: its upperdir)
//! <root>/snapshots/<id>/work    overlay's workdir (overlay only)
//! ```
//!
//! Directories are named by a number, never by the key: keys are arbitrary strings
//! (chain ids contain `:`, which overlay's `lowerdir=` list cannot hold), and commit
//! renames a key without moving any file. The file is rewritten whole after every
//! change, atomically (temp file, rename), so a crash leaves the old or the new
//! records, never a mix; a directory without a record (a crash between `mkdir` and
//! the save) is garbage that nothing points at. A change that involves a committed
//! snapshot (an image layer) is also made durable (fsync of the file and the
//! directory); the making and removing of active snapshots (containers' writable
//! layers) is not, as a container's own record is not: two fsyncs cost ~1 ms each
//! on every `docker run --rm`, and a crash that loses such a change loses it for the
//! container's record too. `version` is
//! bumped when the schema changes; a newer version is refused rather than misread.
//! A mutex serialises the operations of one process; one root belongs to one daemon.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use super::{io_err, Info, Kind, Result, SnapshotError};

/// The schema version written.
const VERSION: u32 = 1;
const FILE: &str = "metadata.json";

#[derive(serde::Serialize, serde::Deserialize)]
struct Meta {
    version: u32,
    next_id: u64,
    snapshots: BTreeMap<String, Record>,
}

#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
pub(crate) struct Record {
    pub id: u64,
    pub parent: Option<String>,
    pub kind: Kind,
    pub created: u64,
}

pub(crate) struct Store {
    root: PathBuf,
    meta: Mutex<Meta>,
}

pub(crate) struct Locked<'a> {
    store: &'a Store,
    meta: MutexGuard<'a, Meta>,
}

impl Store {
    pub fn open(root: &Path) -> Result<Store> {
        let snaps = root.join("snapshots");
        fs::create_dir_all(&snaps).map_err(io_err("create", &snaps))?;
        let path = root.join(FILE);
        let meta = match fs::read(&path) {
            Ok(bytes) => {
                let meta: Meta =
                    serde_json::from_slice(&bytes).map_err(|source| SnapshotError::Corrupt {
                        path: path.clone(),
                        source,
                    })?;
                if meta.version > VERSION {
                    return Err(SnapshotError::Version {
                        found: meta.version,
                        supported: VERSION,
                    });
                }
                meta
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Meta {
                version: VERSION,
                next_id: 1,
                snapshots: BTreeMap::new(),
            },
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        Ok(Store {
            root: root.to_owned(),
            meta: Mutex::new(meta),
        })
    }

    pub fn lock(&self) -> Locked<'_> {
        Locked {
            store: self,
            meta: self.meta.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// `<root>/snapshots/<id>`.
    pub fn dir(&self, id: u64) -> PathBuf {
        self.root.join("snapshots").join(id.to_string())
    }
}

impl Locked<'_> {
    pub fn get(&self, key: &str) -> Result<Record> {
        self.meta
            .snapshots
            .get(key)
            .cloned()
            .ok_or_else(|| SnapshotError::NotFound(key.to_owned()))
    }

    pub fn info(&self, key: &str) -> Result<Info> {
        let r = self.get(key)?;
        Ok(to_info(key, &r))
    }

    pub fn list(&self) -> Vec<Info> {
        self.meta
            .snapshots
            .iter()
            .map(|(k, r)| to_info(k, r))
            .collect()
    }

    /// The directories of `parent` and its ancestors, nearest first.
    pub fn chain(&self, parent: Option<&str>) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        let mut next = parent.map(str::to_owned);
        while let Some(key) = next {
            let r = self.get(&key)?;
            out.push(self.store.dir(r.id));
            next = r.parent;
        }
        Ok(out)
    }

    /// Checks that `key` is free and `parent` committed, and reserves a directory id.
    pub fn check_new(&mut self, key: &str, parent: Option<&str>) -> Result<u64> {
        if key.is_empty() || key.contains('\0') {
            return Err(SnapshotError::InvalidKey(key.to_owned()));
        }
        if self.meta.snapshots.contains_key(key) {
            return Err(SnapshotError::AlreadyExists(key.to_owned()));
        }
        if let Some(p) = parent {
            if self.get(p)?.kind != Kind::Committed {
                return Err(SnapshotError::ParentNotCommitted(p.to_owned()));
            }
        }
        let id = self.meta.next_id;
        self.meta.next_id += 1;
        Ok(id)
    }

    pub fn insert(&mut self, key: &str, id: u64, parent: Option<&str>, kind: Kind) -> Result<()> {
        self.meta.snapshots.insert(
            key.to_owned(),
            Record {
                id,
                parent: parent.map(str::to_owned),
                kind,
                created: now(),
            },
        );
        self.save(kind == Kind::Committed)
    }

    pub fn commit(&mut self, name: &str, key: &str) -> Result<()> {
        let r = self.get(key)?;
        if r.kind != Kind::Active {
            return Err(SnapshotError::NotActive(key.to_owned()));
        }
        if self.meta.snapshots.contains_key(name) {
            return Err(SnapshotError::AlreadyExists(name.to_owned()));
        }
        if name.is_empty() || name.contains('\0') {
            return Err(SnapshotError::InvalidKey(name.to_owned()));
        }
        self.meta.snapshots.remove(key);
        self.meta.snapshots.insert(
            name.to_owned(),
            Record {
                kind: Kind::Committed,
                created: now(),
                ..r
            },
        );
        self.save(true)
    }

    /// Drops the record of `key` (refusing while it has children) and its directory.
    pub fn remove(&mut self, key: &str) -> Result<()> {
        let r = self.get(key)?;
        let children: Vec<&str> = self
            .meta
            .snapshots
            .iter()
            .filter(|(_, c)| c.parent.as_deref() == Some(key))
            .map(|(k, _)| k.as_str())
            .collect();
        if !children.is_empty() {
            return Err(SnapshotError::HasChildren {
                key: key.to_owned(),
                children: children.join(", "),
            });
        }
        self.meta.snapshots.remove(key);
        self.save(r.kind == Kind::Committed)?;
        // The record is gone first: a crash now leaves an orphan directory, not a
        // record pointing at half a tree.
        let dir = self.store.dir(r.id);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &dir)(e)),
        }
    }

    /// Rewrites the file atomically; `durable` also syncs it and the directory.
    fn save(&self, durable: bool) -> Result<()> {
        let path = self.store.root.join(FILE);
        let tmp = self.store.root.join(format!("{FILE}.tmp"));
        let bytes =
            serde_json::to_vec_pretty(&*self.meta).map_err(|source| SnapshotError::Corrupt {
                path: path.clone(),
                source,
            })?;
        let mut f = fs::File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all(&bytes).map_err(io_err("write", &tmp))?;
        if durable {
            f.sync_all().map_err(io_err("sync", &tmp))?;
        }
        fs::rename(&tmp, &path).map_err(io_err("rename", &tmp))?;
        if !durable {
            return Ok(());
        }
        fs::File::open(&self.store.root)
            .and_then(|d| d.sync_all())
            .map_err(io_err("sync", &self.store.root))
    }
}

fn to_info(key: &str, r: &Record) -> Info {
    Info {
        key: key.to_owned(),
        parent: r.parent.clone(),
        kind: r.kind,
        created: SystemTime::UNIX_EPOCH + Duration::from_secs(r.created),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
