//! `ImageStore`: the content store and the metadata database as one service.
//!
//! This is what the daemon holds: `docker load` is [`ImageStore::import_path`],
//! `docker images` is [`ImageStore::list_images`], `docker image inspect` is
//! [`ImageStore::inspect`], `docker save` is [`ImageStore::save`],
//! `docker import` is [`ImageStore::import_rootfs`] and `docker rmi` is
//! [`ImageStore::remove`]. An image's ID is its config digest, as in
//! Docker's classic store; names point at manifests (see metadata.rs).
//!
//! Imports and garbage collection exclude each other through one
//! reader-writer lock: an import commits blobs before it names them, and a
//! collection running in between would see those blobs as garbage. Imports
//! share the lock; [`ImageStore::gc`] takes it alone. The lock covers one
//! process; another process writing the same store must use leases.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use oci_spec_image::image::ImageConfiguration;

use crate::content::{ContentError, ContentStore};
use crate::digest::Digest;
use crate::export::{self, ExportError, ExportFormat, ExportImage};
use crate::gc::{self, GcError, GcOptions, GcStats};
use crate::import::{self, ImportError, ImportOptions, ImportedImage, RootfsConfig};
use crate::manifest::{self, ConfigSummary, Manifest};
use crate::metadata::{Metadata, MetadataError, Resolved};
use crate::reference::{Reference, ReferenceError};
use crate::ErrorKind;

/// Errors from the image store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// From the content store.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// From the metadata database.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// From an import.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// A name given by the caller is invalid.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// From an export.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// From a garbage collection.
    #[error(transparent)]
    Gc(#[from] GcError),
    /// The request conflicts with the store's state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored manifest or config does not parse.
    #[error("stored {what} {digest} is invalid: {source}")]
    Corrupt {
        /// What the blob should be.
        what: &'static str,
        /// The blob.
        digest: Digest,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// Creating the store directory failed.
    #[error("create image store {path}: {source}")]
    Create {
        /// The root.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// The error's class, for the API layer.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Content(e) => e.kind(),
            StoreError::Metadata(e) => e.kind(),
            StoreError::Import(e) => e.kind(),
            StoreError::Reference(e) => e.kind(),
            StoreError::Export(e) => e.kind(),
            StoreError::Gc(e) => e.kind(),
            StoreError::Conflict(_) => ErrorKind::Conflict,
            StoreError::Corrupt { .. } => ErrorKind::DataLoss,
            StoreError::Create { .. } => ErrorKind::Internal,
        }
    }
}

/// One row of `docker images`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    /// The name; `None` for an image kept only by digest.
    pub reference: Option<Reference>,
    /// The image ID: the config digest.
    pub id: Digest,
    /// The manifest digest.
    pub manifest: Digest,
    /// Sum of the layer blob sizes (compressed as stored; the unpacked size
    /// is known only once snapshots exist).
    pub size: u64,
    /// The config's `created` (RFC 3339), if set.
    pub created: Option<String>,
}

/// What `docker image inspect` needs.
#[derive(Debug, Clone)]
pub struct ImageInspect {
    /// The image ID: the config digest.
    pub id: Digest,
    /// The manifest digest.
    pub manifest: Digest,
    /// Every name pointing at the manifest.
    pub references: Vec<Reference>,
    /// The parsed image configuration.
    pub config: ImageConfiguration,
    /// The layer diff IDs, base first.
    pub diff_ids: Vec<Digest>,
    /// The layer descriptors, base first.
    pub layers: Vec<manifest::Descriptor>,
    /// Sum of layer blob sizes.
    pub size: u64,
}

/// What [`ImageStore::remove`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveReport {
    /// The names removed (`Untagged:` lines of `docker rmi`).
    pub untagged: Vec<Reference>,
    /// The image's manifest.
    pub manifest: Digest,
    /// What the collection after it deleted (`Deleted:` lines).
    pub gc: GcStats,
}

/// Content store plus metadata under one root.
#[derive(Debug)]
pub struct ImageStore {
    content: ContentStore,
    metadata: Metadata,
    /// Shared by imports, exclusive for garbage collection (see module docs).
    lock: RwLock<()>,
}

impl ImageStore {
    /// Opens (creating if needed) the store under `root`.
    pub fn open(root: impl AsRef<Path>) -> Result<Self, StoreError> {
        let root = root.as_ref();
        std::fs::create_dir_all(root).map_err(|source| StoreError::Create {
            path: root.to_owned(),
            source,
        })?;
        Ok(ImageStore {
            content: ContentStore::open(root)?,
            metadata: Metadata::open(root)?,
            lock: RwLock::new(()),
        })
    }

    /// The content store.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    /// The metadata database.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// `docker load` of a directory, tar or tar.gz, for the host platform.
    pub fn import_path(&self, path: impl AsRef<Path>) -> Result<Vec<ImportedImage>, StoreError> {
        self.import_path_with(path, &ImportOptions::default())
    }

    /// [`ImageStore::import_path`] with options; names the imported images.
    pub fn import_path_with(
        &self,
        path: impl AsRef<Path>,
        opts: &ImportOptions,
    ) -> Result<Vec<ImportedImage>, StoreError> {
        let _shared = self.shared();
        let images = import::import_path(&self.content, path.as_ref(), opts)?;
        for image in &images {
            if let Some(name) = &image.name {
                self.metadata
                    .tag_with_target(name, &image.manifest, Some(&image.target))?;
            }
        }
        Ok(images)
    }

    pub(crate) fn shared(&self) -> RwLockReadGuard<'_, ()> {
        self.lock.read().unwrap_or_else(|e| e.into_inner())
    }

    fn exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.lock.write().unwrap_or_else(|e| e.into_inner())
    }

    /// `docker import`: stores a rootfs tar (or tar.gz) as a one-layer image
    /// and names it `reference` if given; returns the image ID (the config
    /// digest). See [`import::import_rootfs`].
    pub fn import_rootfs(
        &self,
        reader: impl Read,
        reference: Option<&str>,
        config: &RootfsConfig,
    ) -> Result<Digest, StoreError> {
        let name = reference.map(Reference::parse).transpose()?;
        let _shared = self.shared();
        let image = import::import_rootfs(&self.content, reader, config)?;
        if let Some(name) = &name {
            self.metadata.tag(name, &image.manifest)?;
        }
        Ok(image.config)
    }

    /// What to export for each input: the manifest, and the name when the
    /// input is a name (an image ID or digest exports untagged, as Docker does).
    fn export_images(&self, refs: &[&str]) -> Result<Vec<ExportImage>, StoreError> {
        let mut out: Vec<ExportImage> = Vec::new();
        for input in refs {
            let resolved = self.resolve(input)?;
            let name = Reference::parse(input)
                .ok()
                .filter(|r| resolved.references.contains(r));
            match out.iter_mut().find(|i| i.manifest == resolved.manifest) {
                Some(existing) => {
                    if let Some(n) = name {
                        if !existing.names.contains(&n) {
                            existing.names.push(n);
                        }
                    }
                }
                None => out.push(ExportImage {
                    manifest: resolved.manifest,
                    names: name.into_iter().collect(),
                }),
            }
        }
        Ok(out)
    }

    /// `docker save`: writes the images as a Docker 25+ archive (an OCI
    /// layout that also has `manifest.json` and `repositories`) to `out`.
    pub fn save<W: Write>(&self, refs: &[&str], out: W) -> Result<W, StoreError> {
        let images = self.export_images(refs)?;
        Ok(export::write_tar(
            &self.content,
            &images,
            ExportFormat::DockerArchive,
            out,
        )?)
    }

    /// Writes the images as a plain OCI image layout tar to `out`.
    pub fn save_oci<W: Write>(&self, refs: &[&str], out: W) -> Result<W, StoreError> {
        let images = self.export_images(refs)?;
        Ok(export::write_tar(
            &self.content,
            &images,
            ExportFormat::OciLayout,
            out,
        )?)
    }

    /// Writes the images as an OCI image layout directory at `dir`.
    pub fn save_oci_dir(&self, refs: &[&str], dir: impl AsRef<Path>) -> Result<(), StoreError> {
        let images = self.export_images(refs)?;
        Ok(export::write_dir(
            &self.content,
            &images,
            ExportFormat::OciLayout,
            dir.as_ref(),
        )?)
    }

    /// Garbage collection with default options (see gc.rs).
    pub fn gc(&self) -> Result<GcStats, StoreError> {
        self.gc_with(&GcOptions::default())
    }

    /// Garbage collection; waits for running imports and blocks new ones.
    pub fn gc_with(&self, opts: &GcOptions) -> Result<GcStats, StoreError> {
        let _exclusive = self.exclusive();
        Ok(gc::collect(&self.content, &self.metadata, opts)?)
    }

    /// `docker rmi`: removes a name, then collects garbage, so an image's
    /// blobs go when its last name goes and blobs shared with other images
    /// stay. An image ID or digest removes the image's only name; one with
    /// several names is a conflict (remove them by name, as Docker asks).
    pub fn remove(&self, input: &str) -> Result<RemoveReport, StoreError> {
        let by_name = match Reference::parse(input) {
            Ok(r) => self.metadata.get(&r)?.map(|rec| (r, rec.manifest)),
            Err(_) => None,
        };
        let (untagged, manifest) = match by_name {
            Some((r, manifest)) => {
                self.metadata.untag(&r)?;
                (vec![r], manifest)
            }
            None => {
                let resolved = self.resolve(input)?;
                if resolved.references.len() > 1 {
                    return Err(StoreError::Conflict(format!(
                        "unable to delete {input}: image is referenced by {} names, remove them by name",
                        resolved.references.len()
                    )));
                }
                for r in &resolved.references {
                    self.metadata.untag(r)?;
                }
                (resolved.references, resolved.manifest)
            }
        };
        let gc = self.gc()?;
        Ok(RemoveReport {
            untagged,
            manifest,
            gc,
        })
    }

    /// Names the image `source` resolves to `target`.
    pub fn tag(&self, source: &str, target: &Reference) -> Result<Digest, StoreError> {
        let resolved = self.resolve(source)?;
        // Keep the index the image came from, if the source name knew it.
        let index = match resolved.references.first() {
            Some(r) => self.metadata.get(r)?.and_then(|rec| rec.target),
            None => None,
        };
        self.metadata
            .tag_with_target(target, &resolved.manifest, index.as_ref())?;
        Ok(resolved.manifest)
    }

    /// Removes a name; returns the manifest it pointed at.
    pub fn untag(&self, reference: &str) -> Result<Digest, StoreError> {
        let r = Reference::parse(reference)?;
        Ok(self.metadata.untag(&r)?.manifest)
    }

    /// Resolves a name, manifest digest (prefix) or image ID (prefix).
    pub fn resolve(&self, input: &str) -> Result<Resolved, StoreError> {
        match self.metadata.resolve(input) {
            Err(MetadataError::NotFound(_)) => {}
            other => return Ok(other?),
        }
        // Docker's image ID is the config digest: try it (and its prefixes).
        let prefix = input.strip_prefix("sha256:").unwrap_or(input);
        let is_hex = !prefix.is_empty()
            && prefix.len() <= 64
            && prefix
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if is_hex {
            let mut manifests = Vec::new();
            for (_, record) in self.metadata.list()? {
                let (m, _) = self.read_manifest(&record.manifest)?;
                if m.config.digest.hex().starts_with(prefix)
                    && !manifests.contains(&record.manifest)
                {
                    manifests.push(record.manifest);
                }
            }
            match manifests.as_slice() {
                [one] => return Ok(self.metadata.resolve(&one.to_string())?),
                [] => {}
                _ => return Err(MetadataError::Ambiguous(input.to_owned()).into()),
            }
            // An unnamed image (a commit or import without a repository), kept by a
            // lease: by its ID (prefix) or its manifest digest.
            let unnamed: Vec<_> = self
                .dangling()?
                .into_iter()
                .filter(|(id, manifest)| id.hex().starts_with(prefix) || manifest.hex() == prefix)
                .collect();
            match unnamed.as_slice() {
                [(_, manifest)] => {
                    return Ok(Resolved {
                        manifest: manifest.clone(),
                        references: Vec::new(),
                    })
                }
                [] => {}
                _ => return Err(MetadataError::Ambiguous(input.to_owned()).into()),
            }
        }
        Err(MetadataError::NotFound(input.to_owned()).into())
    }

    fn read_manifest(&self, digest: &Digest) -> Result<(Manifest, Vec<u8>), StoreError> {
        let data = self.content.read_verified(digest)?;
        let m: Manifest = serde_json::from_slice(&data).map_err(|source| StoreError::Corrupt {
            what: "manifest",
            digest: digest.clone(),
            source,
        })?;
        Ok((m, data))
    }

    /// `docker images`: one row per name, sorted by name.
    pub fn list_images(&self) -> Result<Vec<ImageSummary>, StoreError> {
        let mut out = Vec::new();
        for (reference, record) in self.metadata.list()? {
            let (m, _) = self.read_manifest(&record.manifest)?;
            let config_data = self.content.read_verified(&m.config.digest)?;
            let summary: ConfigSummary =
                serde_json::from_slice(&config_data).map_err(|source| StoreError::Corrupt {
                    what: "image config",
                    digest: m.config.digest.clone(),
                    source,
                })?;
            out.push(ImageSummary {
                reference: Some(reference),
                id: m.config.digest.clone(),
                manifest: record.manifest,
                size: m.layers.iter().map(|l| l.size).sum(),
                created: summary.created,
            });
        }
        Ok(out)
    }

    /// `docker image inspect`: the config and layer identities of an image.
    pub fn inspect(&self, input: &str) -> Result<ImageInspect, StoreError> {
        let resolved = self.resolve(input)?;
        self.inspect_manifest(&resolved.manifest, resolved.references)
    }

    /// Inspects a manifest in the content store, named or not.
    pub fn inspect_manifest(
        &self,
        manifest: &Digest,
        references: Vec<Reference>,
    ) -> Result<ImageInspect, StoreError> {
        let (m, _) = self.read_manifest(manifest)?;
        let config_data = self.content.read_verified(&m.config.digest)?;
        let corrupt = |source| StoreError::Corrupt {
            what: "image config",
            digest: m.config.digest.clone(),
            source,
        };
        let config: ImageConfiguration = serde_json::from_slice(&config_data).map_err(corrupt)?;
        let summary: ConfigSummary = serde_json::from_slice(&config_data).map_err(corrupt)?;
        Ok(ImageInspect {
            id: m.config.digest.clone(),
            manifest: manifest.clone(),
            references,
            config,
            diff_ids: summary.rootfs.diff_ids,
            size: m.layers.iter().map(|l| l.size).sum(),
            layers: m.layers,
        })
    }
}
