//! `ImageStore`: the content store and the metadata database as one service.
//!
//! This is what the daemon holds: `docker load` is [`ImageStore::import_path`],
//! `docker images` is [`ImageStore::list_images`], `docker image inspect` is
//! [`ImageStore::inspect`]. An image's ID is its config digest, as in
//! Docker's classic store; names point at manifests (see metadata.rs).

use std::path::{Path, PathBuf};

use oci_spec_image::image::ImageConfiguration;

use crate::content::{ContentError, ContentStore};
use crate::digest::Digest;
use crate::import::{self, ImportError, ImportOptions, ImportedImage};
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

/// Content store plus metadata under one root.
#[derive(Debug)]
pub struct ImageStore {
    content: ContentStore,
    metadata: Metadata,
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
        let images = import::import_path(&self.content, path.as_ref(), opts)?;
        for image in &images {
            if let Some(name) = &image.name {
                self.metadata.tag(name, &image.manifest)?;
            }
        }
        Ok(images)
    }

    /// Names the image `source` resolves to `target`.
    pub fn tag(&self, source: &str, target: &Reference) -> Result<Digest, StoreError> {
        let resolved = self.resolve(source)?;
        self.metadata.tag(target, &resolved.manifest)?;
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
