//! The overlayfs snapshotter: each snapshot directory holds only its own changes.
//!
//! An active snapshot is one `overlay` mount: the parent chain's `fs` directories as
//! `lowerdir` (nearest parent first, as overlayfs wants the top layer first), its own
//! `fs` as `upperdir` and `work` as `workdir` (which must be on the same filesystem).
//! Without a parent there is nothing to stack, so it is a bind mount of `fs`, as in
//! containerd. A view stacks only lower directories: overlayfs needs two of them for a
//! read-only overlay, so a view of a single snapshot is a read-only bind mount of it.
//! A committed snapshot's mounts show it read-only, stacked on its parents like a view.
//! Committing only changes the record: the upper directory becomes a lower one as is,
//! whiteouts and opaque xattrs included.
//!
//! `index=off` is passed because a committed upper directory is later mounted under
//! different upper directories, which the inodes index would refuse. The whole option
//! string must fit in a page (overlayfs' limit), which bounds chains to about sixty
//! layers at the path lengths used here.

use std::fs;
use std::path::{Path, PathBuf};

use super::meta::{Record, Store};
use berth_layer::diff::DiffKind;

use super::{io_err, DiffSource, Info, Kind, Mount, Result, SnapshotError};

/// Snapshots as overlayfs layers. See the module docs.
pub struct OverlaySnapshotter {
    store: Store,
}

impl OverlaySnapshotter {
    /// Opens (creating if needed) a snapshotter rooted at `root`, which must be on a
    /// filesystem that can be an overlayfs upper layer (not overlayfs itself).
    pub fn new(root: &Path) -> Result<Self> {
        // Paths go into a comma-separated option with colon-separated lists.
        let text = root.as_os_str().as_encoded_bytes();
        if text.iter().any(|b| matches!(b, b',' | b':' | b'\n')) {
            return Err(SnapshotError::InvalidRoot(root.to_owned()));
        }
        Ok(OverlaySnapshotter {
            store: Store::open(root)?,
        })
    }

    fn create(&self, key: &str, parent: Option<&str>, kind: Kind) -> Result<Vec<Mount>> {
        let mut meta = self.store.lock();
        let id = meta.check_new(key, parent)?;
        let dir = self.store.dir(id);
        let made = fs::create_dir(&dir)
            .and_then(|()| fs::create_dir(dir.join("fs")))
            .and_then(|()| {
                if kind == Kind::Active {
                    fs::create_dir(dir.join("work"))
                } else {
                    Ok(())
                }
            })
            .map_err(io_err("create", &dir))
            .and_then(|()| meta.insert(key, id, parent, kind));
        if let Err(e) = made {
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        let record = meta.get(key)?;
        let chain = meta.chain(parent)?;
        Ok(self.mounts_of(&record, &chain))
    }

    fn mounts_of(&self, r: &Record, chain: &[PathBuf]) -> Vec<Mount> {
        let dir = self.store.dir(r.id);
        let fs_dir = dir.join("fs");
        // What shows read-only: a view stacks its parents; a committed snapshot is
        // shown read-only as itself on its parents (it must never be an upperdir again).
        let mut stack: Vec<PathBuf> = chain.iter().map(|d| d.join("fs")).collect();
        if r.kind == Kind::Committed {
            stack.insert(0, fs_dir.clone());
        }
        let lowerdir = |dirs: &[PathBuf]| {
            let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            format!("lowerdir={}", dirs.join(":"))
        };
        match (r.kind, stack.len()) {
            (Kind::Active, 0) => vec![bind(&fs_dir, false)],
            (Kind::Active, _) => vec![overlay(vec![
                "index=off".into(),
                lowerdir(&stack),
                format!("upperdir={}", fs_dir.display()),
                format!("workdir={}", dir.join("work").display()),
            ])],
            (_, 0) => vec![bind(&fs_dir, true)],
            (_, 1) => vec![bind(&stack[0], true)],
            (_, _) => vec![overlay(vec![
                "ro".into(),
                "index=off".into(),
                lowerdir(&stack),
            ])],
        }
    }
}

pub(crate) fn bind(source: &Path, ro: bool) -> Mount {
    Mount {
        typ: "bind".into(),
        source: source.display().to_string(),
        target: None,
        options: vec!["rbind".into(), if ro { "ro" } else { "rw" }.into()],
    }
}

fn overlay(options: Vec<String>) -> Mount {
    Mount {
        typ: "overlay".into(),
        source: "overlay".into(),
        target: None,
        options,
    }
}

snapshotter_impl!(OverlaySnapshotter);

impl OverlaySnapshotter {
    const DIFF_KIND: DiffKind = DiffKind::Overlay;

    /// overlayfs stacks lowerdirs top first; `diff` wants them lowest first.
    fn diff_lower(chain: Vec<PathBuf>) -> Vec<PathBuf> {
        chain.into_iter().rev().map(|d| d.join("fs")).collect()
    }
}
