//! What the store does with an image once it is in: unpack it into snapshots
//! (`docker run` needs a root filesystem), and the per-image accounting of
//! `docker history` and `docker system df`.
//!
//! Unpacking names each layer's snapshot by its OCI chain id, so a layer that
//! two images share (busybox under an image built `FROM busybox`) is unpacked
//! once; [`ImageStore::unpack`] hands the layers to
//! [`snapshot::unpack_layers`] as blobs that are opened only when read, so a
//! skipped layer costs no I/O. The store's lock is held shared while the blobs
//! are read, so garbage collection cannot delete them from under the unpack.
//!
//! Sizes here are the layer blob sizes as stored (compressed), the same sizes
//! `docker images` shows for this store (see [`crate::ImageSummary`]); the
//! unpacked size is the snapshotter's business ([`Snapshotter::usage`]).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read};

use serde::Deserialize;

use crate::content::{ContentError, ContentStore};
use crate::digest::Digest;
use crate::manifest::{Descriptor, Manifest};
use crate::reference::Reference;
use crate::snapshot::{self, SnapshotError, Snapshotter};
use crate::store::{ImageStore, StoreError};
use crate::ErrorKind;

/// Errors from unpacking an image.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// Resolving or reading the image failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A layer blob is missing or unreadable.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// The snapshotter failed (this includes a layer whose diff id does not match).
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The manifest and the config disagree on the number of layers.
    #[error("image {image} has {layers} layers but {diff_ids} diff ids")]
    LayerCount {
        /// The image ID.
        image: Digest,
        /// Layers in the manifest.
        layers: usize,
        /// Diff ids in the config.
        diff_ids: usize,
    },
    /// An image without layers has no root filesystem to unpack.
    #[error("image {0} has no layers")]
    NoLayers(Digest),
}

impl UnpackError {
    /// The error's class, for the API layer.
    pub fn kind(&self) -> ErrorKind {
        match self {
            UnpackError::Store(e) => e.kind(),
            UnpackError::Content(e) => e.kind(),
            UnpackError::Snapshot(e) => e.kind(),
            UnpackError::LayerCount { .. } => ErrorKind::DataLoss,
            UnpackError::NoLayers(_) => ErrorKind::InvalidArgument,
        }
    }
}

/// One row of `docker history`, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// The image ID on the newest row, `None` (Docker's `<missing>`) below it.
    pub id: Option<Digest>,
    /// RFC 3339 creation time, if recorded.
    pub created: Option<String>,
    /// The command that made the step.
    pub created_by: String,
    /// Bytes the step added: 0 for an empty layer, else its layer blob's size.
    pub size: u64,
    /// The step's comment.
    pub comment: String,
    /// Whether the step made no layer (`ENV`, `CMD`, …).
    pub empty_layer: bool,
    /// The image's names, on the newest row only.
    pub tags: Vec<Reference>,
}

/// One image in `docker system df`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUsage {
    /// The image ID: the config digest.
    pub id: Digest,
    /// The manifest digest.
    pub manifest: Digest,
    /// Every name pointing at the manifest.
    pub references: Vec<Reference>,
    /// The config's `created`, if set.
    pub created: Option<String>,
    /// Sum of the image's layer sizes.
    pub size: u64,
    /// Bytes of layers also used by other images.
    pub shared_size: u64,
    /// Bytes of layers only this image uses (`size - shared_size`).
    pub unique_size: u64,
}

/// The images part of `docker system df`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// One entry per manifest, sorted by manifest digest.
    pub images: Vec<ImageUsage>,
    /// Bytes of all layers, each distinct layer counted once.
    pub layers_size: u64,
}

/// The `history` and `created` of an image config, read leniently: old and
/// hand-made configs omit any of these fields.
#[derive(Debug, Default, Deserialize)]
struct HistoryConfig {
    #[serde(default)]
    history: Vec<HistoryEntry>,
    #[serde(default)]
    created: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct HistoryEntry {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    created_by: Option<String>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    empty_layer: bool,
}

/// A layer blob opened on first read, so that [`snapshot::unpack_layers`] can skip
/// layers without touching their blobs.
struct LazyBlob<'a> {
    content: &'a ContentStore,
    digest: Digest,
    file: Option<File>,
}

impl Read for LazyBlob<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.file.is_none() {
            let file = self
                .content
                .open_blob(&self.digest)
                .map_err(io::Error::other)?;
            self.file = Some(file);
        }
        match &mut self.file {
            Some(f) => f.read(buf),
            None => Ok(0),
        }
    }
}

impl ImageStore {
    /// The manifest and raw config of a manifest digest.
    fn manifest_and_config(&self, digest: &Digest) -> Result<(Manifest, Vec<u8>), StoreError> {
        let data = self.content().read_verified(digest)?;
        let m: Manifest = serde_json::from_slice(&data).map_err(|source| StoreError::Corrupt {
            what: "manifest",
            digest: digest.clone(),
            source,
        })?;
        let config = self.content().read_verified(&m.config.digest)?;
        Ok((m, config))
    }

    /// Unpacks the image `reference` (name, digest or ID) into `sn`, one committed
    /// snapshot per layer named by its chain id, and returns the top chain id: the
    /// parent to prepare a container's snapshot on. Layers whose chain id is already
    /// committed are skipped without reading their blobs.
    pub fn unpack(&self, reference: &str, sn: &dyn Snapshotter) -> Result<String, UnpackError> {
        self.unpack_in(reference, sn, &std::env::temp_dir())
    }

    /// [`ImageStore::unpack`], making temporary mount points in `scratch`.
    pub fn unpack_in(
        &self,
        reference: &str,
        sn: &dyn Snapshotter,
        scratch: &std::path::Path,
    ) -> Result<String, UnpackError> {
        let _shared = self.shared();
        let image = self.inspect(reference)?;
        if image.layers.len() != image.diff_ids.len() {
            return Err(UnpackError::LayerCount {
                image: image.id,
                layers: image.layers.len(),
                diff_ids: image.diff_ids.len(),
            });
        }
        if image.layers.is_empty() {
            return Err(UnpackError::NoLayers(image.id));
        }
        // Fail early and clearly on a missing blob, rather than in the middle.
        for layer in &image.layers {
            if !self.content().exists(&layer.digest) {
                return Err(ContentError::NotFound(layer.digest.clone()).into());
            }
        }
        let content = self.content();
        let layers = image
            .diff_ids
            .iter()
            .zip(&image.layers)
            .map(|(diff_id, layer)| {
                (
                    diff_id.to_string(),
                    LazyBlob {
                        content,
                        digest: layer.digest.clone(),
                        file: None,
                    },
                )
            });
        let report = snapshot::unpack_layers_in(sn, layers, scratch)?;
        report
            .chain_ids
            .last()
            .cloned()
            .ok_or(UnpackError::NoLayers(image.id))
    }

    /// `docker history`: one row per entry of the config's `history`, newest
    /// first. Steps that made a layer are matched with the manifest's layers in
    /// order; an image without history gets one row per layer.
    pub fn history(&self, reference: &str) -> Result<Vec<HistoryRow>, StoreError> {
        let image = self.inspect(reference)?;
        let config_data = self.content().read_verified(&image.id)?;
        let config: HistoryConfig =
            serde_json::from_slice(&config_data).map_err(|source| StoreError::Corrupt {
                what: "image config",
                digest: image.id.clone(),
                source,
            })?;
        let mut rows = Vec::new();
        if config.history.is_empty() {
            for layer in &image.layers {
                rows.push(HistoryRow {
                    id: None,
                    created: config.created.clone(),
                    created_by: String::new(),
                    size: layer.size,
                    comment: String::new(),
                    empty_layer: false,
                    tags: Vec::new(),
                });
            }
        } else {
            let mut layers = image.layers.iter();
            for h in &config.history {
                let size = if h.empty_layer {
                    0
                } else {
                    layers.next().map_or(0, |l: &Descriptor| l.size)
                };
                rows.push(HistoryRow {
                    id: None,
                    created: h.created.clone(),
                    created_by: h.created_by.clone().unwrap_or_default(),
                    size,
                    comment: h.comment.clone().unwrap_or_default(),
                    empty_layer: h.empty_layer,
                    tags: Vec::new(),
                });
            }
        }
        rows.reverse();
        if let Some(top) = rows.first_mut() {
            top.id = Some(image.id.clone());
            top.tags = image.references.clone();
        }
        Ok(rows)
    }

    /// The images part of `docker system df`: each image's size, the part of it
    /// shared with other images (layers that more than one manifest lists), the
    /// part only it uses, and the size of all layers counted once.
    pub fn disk_usage(&self) -> Result<DiskUsage, StoreError> {
        // Manifest -> names, from every name in the store.
        let mut manifests: BTreeMap<Digest, Vec<Reference>> = BTreeMap::new();
        for (reference, record) in self.metadata().list()? {
            manifests
                .entry(record.manifest)
                .or_default()
                .push(reference);
        }
        struct Loaded {
            manifest: Digest,
            references: Vec<Reference>,
            id: Digest,
            created: Option<String>,
            layers: Vec<(Digest, u64)>,
        }
        let mut loaded = Vec::new();
        let mut users: HashMap<Digest, (u64, usize)> = HashMap::new();
        for (manifest, references) in manifests {
            let (m, config_data) = self.manifest_and_config(&manifest)?;
            let config: HistoryConfig =
                serde_json::from_slice(&config_data).map_err(|source| StoreError::Corrupt {
                    what: "image config",
                    digest: m.config.digest.clone(),
                    source,
                })?;
            let mut layers: Vec<(Digest, u64)> = Vec::new();
            for l in &m.layers {
                // A layer listed twice in one manifest is one layer of it.
                if !layers.iter().any(|(d, _)| *d == l.digest) {
                    layers.push((l.digest.clone(), l.size));
                    users.entry(l.digest.clone()).or_insert((l.size, 0)).1 += 1;
                }
            }
            loaded.push(Loaded {
                manifest,
                references,
                id: m.config.digest.clone(),
                created: config.created,
                layers,
            });
        }
        let mut usage = DiskUsage {
            images: Vec::new(),
            layers_size: users.values().map(|(size, _)| size).sum(),
        };
        for image in loaded {
            let size: u64 = image.layers.iter().map(|(_, s)| s).sum();
            let shared_size: u64 = image
                .layers
                .iter()
                .filter(|(d, _)| users.get(d).is_some_and(|(_, n)| *n > 1))
                .map(|(_, s)| s)
                .sum();
            usage.images.push(ImageUsage {
                id: image.id,
                manifest: image.manifest,
                references: image.references,
                created: image.created,
                size,
                shared_size,
                unique_size: size - shared_size,
            });
        }
        Ok(usage)
    }
}
