//! The native snapshotter: every snapshot is a complete copy of its parent, for
//! filesystems where overlayfs is unavailable (overlayfs on overlayfs, some network
//! filesystems, rootless setups without it).
//!
//! Preparing on a parent copies the parent's whole tree with `cp -a` (GNU coreutils),
//! which keeps owners, modes, times, xattrs, hardlinks, device nodes and fifos — what a
//! layer can contain — and uses reflinks where the filesystem has them. A view does
//! not copy: a committed snapshot is immutable, so a read-only bind mount of it is an
//! exact view. All mounts are bind mounts; changes of an active snapshot are found by
//! comparing trees (`berth_layer::diff::DiffKind::Compare`). The records lock is held
//! during the copy, so operations wait for it; copies are rare (one per layer and
//! container) and the simple lock rules out two copies racing for one key.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::meta::{Record, Store};
use super::overlay::bind;
use berth_layer::diff::DiffKind;

use super::{io_err, DiffSource, Info, Kind, Mount, Result, SnapshotError};

/// Snapshots as full copies. See the module docs.
pub struct NativeSnapshotter {
    store: Store,
}

impl NativeSnapshotter {
    /// Opens (creating if needed) a snapshotter rooted at `root`.
    pub fn new(root: &Path) -> Result<Self> {
        Ok(NativeSnapshotter {
            store: Store::open(root)?,
        })
    }

    fn create(&self, key: &str, parent: Option<&str>, kind: Kind) -> Result<Vec<Mount>> {
        let mut meta = self.store.lock();
        let id = meta.check_new(key, parent)?;
        let dir = self.store.dir(id);
        let fs_dir = dir.join("fs");
        let chain = meta.chain(parent)?;
        let made = fs::create_dir(&dir)
            .and_then(|()| fs::create_dir(&fs_dir))
            .map_err(io_err("create", &dir))
            .and_then(|()| match (kind, chain.first()) {
                (Kind::Active, Some(p)) => copy_tree(&p.join("fs"), &fs_dir),
                _ => Ok(()),
            })
            .and_then(|()| meta.insert(key, id, parent, kind));
        if let Err(e) = made {
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        let record = meta.get(key)?;
        Ok(self.mounts_of(&record, &chain))
    }

    fn mounts_of(&self, r: &Record, chain: &[PathBuf]) -> Vec<Mount> {
        match (r.kind, chain.first()) {
            (Kind::View, Some(p)) => vec![bind(&p.join("fs"), true)],
            (kind, _) => vec![bind(&self.store.dir(r.id).join("fs"), kind != Kind::Active)],
        }
    }
}

/// Copies the contents of `from` into the existing directory `to`, keeping everything.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let mut src = from.as_os_str().to_owned();
    src.push("/.");
    let out = Command::new("cp")
        .arg("-a")
        .arg("--reflink=auto")
        .arg("--no-target-directory")
        .arg(&src)
        .arg(to)
        .output()
        .map_err(io_err("run cp to copy", from))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(SnapshotError::Command {
            command: format!("cp -a {} {}", from.display(), to.display()),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

snapshotter_impl!(NativeSnapshotter);

impl NativeSnapshotter {
    const DIFF_KIND: DiffKind = DiffKind::Compare;

    /// Every snapshot is complete: the parent alone is the lower tree.
    fn diff_lower(chain: Vec<PathBuf>) -> Vec<PathBuf> {
        chain.into_iter().take(1).map(|d| d.join("fs")).collect()
    }
}
