//! Snapshotters: where unpacked layers live, and how a container's root filesystem is
//! assembled from them.
//!
//! The model is containerd's (`core/snapshots/snapshotter.go`): a snapshot is a
//! directory tree named by a key. [`Snapshotter::prepare`] makes an *active* (writable)
//! snapshot on top of a *committed* parent, [`Snapshotter::commit`] freezes an active
//! snapshot under a new name so that it can be a parent, and [`Snapshotter::view`]
//! makes a read-only one. Image layers become a chain of committed snapshots named by
//! their OCI chain ids (see [`chain_id`]), so a layer shared by several images is
//! unpacked and stored once; a container is an active snapshot on the top of its
//! image's chain.
//!
//! Snapshotters never mount anything for their callers: they return [`Mount`]
//! descriptions (type, source, options, as `mount(8)` takes them) and the runtime
//! mounts them (STYLE rule 4). The one exception is [`unpack_layers`], which must write
//! a layer *through* the mounts — on overlayfs that is what turns the layer's `.wh.`
//! entries into the overlay whiteouts (character devices 0:0) and opaque xattrs of the
//! upper directory, which applying into the bare upper directory would not do, since
//! deleting a file that only exists in a lower directory is a no-op there. It mounts
//! with `mount(8)` (see `mount.rs`), so it needs root.
//!
//! The way back, a snapshot's changes as a new layer (`docker commit`), is [`diff`]:
//! each snapshotter says where its changes are ([`Snapshotter::diff_source`]) and
//! `berth_layer::diff` reads them — an overlay upper directory as is, a native copy by
//! comparing it with its parent.
//!
//! Two implementations share one conformance suite (`tests/snapshot.rs`, STYLE rule 9):
//!
//! * [`OverlaySnapshotter`]: each snapshot holds only its own changes; mounts are one
//!   `overlay` mount stacking the parent chain. Needs overlayfs.
//! * [`NativeSnapshotter`]: each snapshot is a full copy of its parent; mounts are
//!   `bind` mounts. Works on any filesystem; costs a copy per snapshot.
//!
//! Both keep their records in `<root>/metadata.json`, described in `meta.rs`.

/// The [`Snapshotter`] methods that only read or change the metadata store are the same
/// for every backend. A backend type has a `store: Store` field and supplies `create`,
/// `mounts_of`, `diff_lower` (its parent chain, nearest first, turned into the lower
/// dirs `diff` wants) and `DIFF_KIND`; this macro writes the rest of the impl.
macro_rules! snapshotter_impl {
    ($backend:ty) => {
        impl $crate::snapshot::Snapshotter for $backend {
            fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
                self.create(key, parent, Kind::Active)
            }

            fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
                self.create(key, parent, Kind::View)
            }

            fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
                let meta = self.store.lock();
                let r = meta.get(key)?;
                let chain = meta.chain(r.parent.as_deref())?;
                Ok(self.mounts_of(&r, &chain))
            }

            fn commit(&self, name: &str, key: &str) -> Result<()> {
                self.store.lock().commit(name, key)
            }

            fn remove(&self, key: &str) -> Result<()> {
                self.store.lock().remove(key)
            }

            fn stat(&self, key: &str) -> Result<Info> {
                self.store.lock().info(key)
            }

            fn list(&self) -> Result<Vec<Info>> {
                Ok(self.store.lock().list())
            }

            fn usage(&self, key: &str) -> Result<u64> {
                let id = self.store.lock().get(key)?.id;
                $crate::snapshot::disk_usage(&self.store.dir(id).join("fs"))
            }

            fn upper_dir(&self, key: &str) -> Result<std::path::PathBuf> {
                let id = self.store.lock().get(key)?.id;
                Ok(self.store.dir(id).join("fs"))
            }

            fn diff_source(&self, key: &str) -> Result<DiffSource> {
                let meta = self.store.lock();
                let r = meta.get(key)?;
                if r.kind == Kind::View {
                    return Err(SnapshotError::NotActive(key.to_owned()));
                }
                let chain = meta.chain(r.parent.as_deref())?;
                Ok(DiffSource {
                    lower: Self::diff_lower(chain),
                    upper: self.store.dir(r.id).join("fs"),
                    kind: Self::DIFF_KIND,
                })
            }
        }
    };
}

mod meta;
pub mod mount;
mod native;
mod overlay;

use std::io::{self, Read, Write};

use berth_layer::diff::{DiffKind, DiffStats};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest as _, Sha256};

pub use native::NativeSnapshotter;
pub use overlay::OverlaySnapshotter;

use crate::ErrorKind;

/// A mount, as containerd and the OCI runtime spec describe one.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mount {
    /// Filesystem type: `overlay` or `bind`.
    pub typ: String,
    /// Source path (`overlay` for overlay mounts).
    pub source: String,
    /// Where to mount it, relative to the root being assembled; `None` is the root.
    pub target: Option<String>,
    /// `mount(8)` options, e.g. `ro`, `rbind`, `lowerdir=…`.
    pub options: Vec<String>,
}

/// The state of a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// Immutable; may be a parent.
    Committed,
    /// Writable; may be committed.
    Active,
    /// Read-only; may not be committed.
    View,
}

/// What a snapshotter knows about one snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// Its key (for committed snapshots, the name it was committed under).
    pub key: String,
    /// The committed snapshot it sits on.
    pub parent: Option<String>,
    /// Its state.
    pub kind: Kind,
    /// When it was prepared (or committed).
    pub created: SystemTime,
}

/// What went wrong in a snapshotter.
#[derive(thiserror::Error, Debug)]
pub enum SnapshotError {
    /// No snapshot has this key.
    #[error("snapshot {0} does not exist")]
    NotFound(String),
    /// A snapshot with this key already exists.
    #[error("snapshot {0} already exists")]
    AlreadyExists(String),
    /// A parent must be committed.
    #[error("parent snapshot {0} is not committed")]
    ParentNotCommitted(String),
    /// Only active snapshots can be committed.
    #[error("snapshot {0} is not active")]
    NotActive(String),
    /// A snapshot with children cannot be removed.
    #[error("snapshot {key} has children ({children}) and cannot be removed")]
    HasChildren { key: String, children: String },
    /// A root directory whose path cannot appear in overlay mount options.
    #[error("snapshotter root {0} contains ',', ':' or a newline, which overlay mount options cannot hold")]
    InvalidRoot(PathBuf),
    /// A key that cannot be stored.
    #[error("invalid snapshot key {0:?}")]
    InvalidKey(String),
    /// A filesystem operation failed.
    #[error("cannot {op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The metadata file is damaged.
    #[error("snapshot metadata {path} is corrupt")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The metadata file was written by a newer berth.
    #[error("snapshot metadata version {found} is newer than supported version {supported}")]
    Version { found: u32, supported: u32 },
    /// An external command (`cp`, `mount`, `umount`) failed.
    #[error("{command} failed: {stderr}")]
    Command { command: String, stderr: String },
    /// Diffing a snapshot failed.
    #[error("diffing snapshot {key} failed")]
    Diff {
        key: String,
        #[source]
        source: berth_layer::diff::DiffError,
    },
    /// Applying a layer failed.
    #[error("applying layer {diff_id} failed")]
    Apply {
        diff_id: String,
        #[source]
        source: berth_layer::LayerError,
    },
}

impl SnapshotError {
    /// The class of the error, for the daemon's HTTP mapping.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SnapshotError::NotFound(_) => ErrorKind::NotFound,
            SnapshotError::AlreadyExists(_) | SnapshotError::HasChildren { .. } => {
                ErrorKind::Conflict
            }
            SnapshotError::ParentNotCommitted(_)
            | SnapshotError::NotActive(_)
            | SnapshotError::Version { .. } => ErrorKind::FailedPrecondition,
            SnapshotError::InvalidKey(_) | SnapshotError::InvalidRoot(_) => {
                ErrorKind::InvalidArgument
            }
            SnapshotError::Corrupt { .. } => ErrorKind::DataLoss,
            SnapshotError::Apply { source, .. } => match source {
                berth_layer::LayerError::DiffIdMismatch { .. } => ErrorKind::DataLoss,
                _ => ErrorKind::Internal,
            },
            SnapshotError::Io { .. }
            | SnapshotError::Command { .. }
            | SnapshotError::Diff { .. } => ErrorKind::Internal,
        }
    }
}

pub(crate) fn io_err<'p>(
    op: &'static str,
    path: &'p Path,
) -> impl FnOnce(io::Error) -> SnapshotError + 'p {
    move |source| SnapshotError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// Result of snapshot operations.
pub type Result<T, E = SnapshotError> = std::result::Result<T, E>;

/// A place to keep snapshots. See the module docs for the model.
pub trait Snapshotter: Send + Sync {
    /// Creates an active (writable) snapshot `key` on `parent` (committed) and returns
    /// the mounts that show it.
    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>>;
    /// Creates a read-only view `key` of `parent` and returns its mounts.
    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>>;
    /// The mounts of an existing active snapshot or view.
    fn mounts(&self, key: &str) -> Result<Vec<Mount>>;
    /// Freezes active snapshot `key` as committed snapshot `name`; `key` is gone after.
    fn commit(&self, name: &str, key: &str) -> Result<()>;
    /// Removes a snapshot; refuses while other snapshots have it as parent.
    fn remove(&self, key: &str) -> Result<()>;
    /// Describes one snapshot.
    fn stat(&self, key: &str) -> Result<Info>;
    /// Describes all snapshots, sorted by key.
    fn list(&self) -> Result<Vec<Info>>;
    /// Disk bytes used by this snapshot's own directory (its layer, not its parents').
    fn usage(&self, key: &str) -> Result<u64>;
    /// The directory holding an active snapshot's changes (the overlay upperdir, or
    /// the full copy), for [`berth_layer::diff::diff`].
    fn upper_dir(&self, key: &str) -> Result<PathBuf>;
    /// What [`diff`] needs to turn the changes of active snapshot `key` into a layer:
    /// the directories below it (lowest first), its own, and how to read them.
    fn diff_source(&self, key: &str) -> Result<DiffSource>;
}

/// Where the changes of a snapshot are, for [`berth_layer::diff::diff`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffSource {
    /// The lower directories, lowest first (empty for a snapshot without parent).
    pub lower: Vec<PathBuf>,
    /// The snapshot's own directory.
    pub upper: PathBuf,
    /// Whether `upper` holds overlay changes or a full tree.
    pub kind: DiffKind,
}

/// Writes the changes of snapshot `key` over its parent to `out` as an uncompressed
/// layer tar (`docker commit`), returning its diff id and size. The snapshot should
/// not be mounted writable meanwhile.
pub fn diff(snapshotter: &dyn Snapshotter, key: &str, out: impl Write) -> Result<DiffStats> {
    let src = snapshotter.diff_source(key)?;
    let lower: Vec<&Path> = src.lower.iter().map(PathBuf::as_path).collect();
    berth_layer::diff::diff(&lower, &src.upper, out, src.kind).map_err(|source| {
        SnapshotError::Diff {
            key: key.to_owned(),
            source,
        }
    })
}

/// The OCI chain id of a layer on top of the chain `parent` (`None` for the base layer):
/// `ChainID(L0) = DiffID(L0)`, `ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))`.
pub fn chain_id(parent: Option<&str>, diff_id: &str) -> String {
    match parent {
        None => diff_id.to_owned(),
        Some(p) => format!(
            "sha256:{}",
            hex::encode(Sha256::digest(format!("{p} {diff_id}").as_bytes()))
        ),
    }
}

/// What [`unpack_layers`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnpackReport {
    /// The chain id of every layer, bottom first; the last one is the image's top.
    pub chain_ids: Vec<String>,
    /// Layers applied now.
    pub unpacked: usize,
    /// Layers whose chain id was already committed and were skipped.
    pub reused: usize,
}

/// Unpacks layers (bottom first, each as `(diff id, compressed or plain tar reader)`)
/// into committed snapshots named by chain id, skipping chains already committed.
///
/// Readers of skipped layers are never read, so a lazy iterator that opens blobs only
/// on demand saves the I/O. Each layer is applied through the mounts of a fresh active
/// snapshot (see the module docs for why) on a temporary mount point, its diff id
/// checked, and the snapshot committed under its chain id; on failure the active
/// snapshot is removed.
pub fn unpack_layers<R: Read>(
    snapshotter: &dyn Snapshotter,
    layers: impl IntoIterator<Item = (String, R)>,
) -> Result<UnpackReport> {
    unpack_layers_in(snapshotter, layers, &std::env::temp_dir())
}

/// [`unpack_layers`], making its temporary mount points in `scratch`.
pub fn unpack_layers_in<R: Read>(
    snapshotter: &dyn Snapshotter,
    layers: impl IntoIterator<Item = (String, R)>,
    scratch: &Path,
) -> Result<UnpackReport> {
    let mut report = UnpackReport::default();
    let mut parent: Option<String> = None;
    for (diff_id, reader) in layers {
        let chain = chain_id(parent.as_deref(), &diff_id);
        match snapshotter.stat(&chain) {
            Ok(info) if info.kind == Kind::Committed => {
                report.reused += 1;
                report.chain_ids.push(chain.clone());
                parent = Some(chain);
                continue;
            }
            Ok(_) => return Err(SnapshotError::AlreadyExists(chain)),
            Err(SnapshotError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let key = format!(
            "extract-{}-{}-{}",
            std::process::id(),
            unique(),
            chain.trim_start_matches("sha256:")
        );
        let result = apply_into(
            snapshotter,
            scratch,
            &key,
            parent.as_deref(),
            &diff_id,
            reader,
        );
        let result = result.and_then(|()| snapshotter.commit(&chain, &key));
        match result {
            Ok(()) => report.unpacked += 1,
            Err(SnapshotError::AlreadyExists(_)) => {
                // Someone else committed the same chain meanwhile: theirs is as good.
                let _ = snapshotter.remove(&key);
                report.reused += 1;
            }
            Err(e) => {
                let _ = snapshotter.remove(&key);
                return Err(e);
            }
        }
        report.chain_ids.push(chain.clone());
        parent = Some(chain);
    }
    Ok(report)
}

fn apply_into<R: Read>(
    snapshotter: &dyn Snapshotter,
    scratch: &Path,
    key: &str,
    parent: Option<&str>,
    diff_id: &str,
    reader: R,
) -> Result<()> {
    let mounts = snapshotter.prepare(key, parent)?;
    let target = scratch.join(format!("berth-unpack-{}-{}", std::process::id(), unique()));
    std::fs::create_dir(&target).map_err(io_err("create mount point", &target))?;
    let result = (|| {
        let guard = mount::MountGuard::mount(&mounts, &target)?;
        let opts = berth_layer::ApplyOptions {
            expected_diff_id: Some(diff_id.to_owned()),
            ..Default::default()
        };
        let applied = berth_layer::apply(reader, &target, &opts);
        guard.unmount()?;
        applied.map(|_| ()).map_err(|source| SnapshotError::Apply {
            diff_id: diff_id.to_owned(),
            source,
        })
    })();
    let _ = std::fs::remove_dir(&target);
    result
}

/// A number unique within this process, for temporary names.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (NEXT.fetch_add(1, Ordering::Relaxed) << 32) | u64::from(nanos)
}

/// Disk bytes of a tree (blocks actually allocated), each inode counted once.
pub(crate) fn disk_usage(root: &Path) -> Result<u64> {
    use std::collections::HashSet;
    use std::os::unix::fs::MetadataExt;
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).map_err(io_err("read directory", &dir))? {
            let e = e.map_err(io_err("read directory", &dir))?;
            let p = e.path();
            let md = std::fs::symlink_metadata(&p).map_err(io_err("stat", &p))?;
            if seen.insert((md.dev(), md.ino())) {
                total += md.blocks() * 512;
            }
            if md.is_dir() {
                stack.push(p);
            }
        }
    }
    Ok(total)
}
