//! Export: `docker save` archives and plain OCI image layouts.
//!
//! Two formats are written, both from the blobs exactly as stored, so every
//! digest (manifest, config, layers) survives a save and a load:
//!
//! * [`ExportFormat::DockerArchive`], what `docker save` writes since
//!   Docker 25: one tar that is at once an **OCI image layout**
//!   (`oci-layout`, `index.json`, `blobs/sha256/<hex>`) and a **legacy
//!   docker archive** (`manifest.json` with `Config`, `RepoTags` and
//!   `Layers` naming files under `blobs/sha256/`, plus `repositories`).
//!   Old loaders read `manifest.json`; new ones (and berth's import) read
//!   `index.json`. Each named entry of `index.json` carries the full name in
//!   `io.containerd.image.name` and the tag in
//!   `org.opencontainers.image.ref.name`, as Docker writes them.
//! * [`ExportFormat::OciLayout`]: the OCI layout part alone, as a tar or as
//!   a directory ([`write_dir`]).
//!
//! Every blob is written once, however many images share it (a common base
//! layer appears once in the tar). Layers are streamed from the content
//! store, never held in memory; each blob's size is checked against its
//! descriptor before it is written, so a damaged store fails the export
//! instead of producing an archive that no loader accepts.
//!
//! The tar output is deterministic: fixed modes, owner 0, mtime 0, entries
//! in a fixed order (directories, blobs children first, then the index
//! files), so saving the same images twice gives the same bytes.
//!
//! `repositories` maps each repository to `{tag: <top layer hex>}`; Docker
//! reads it only when `manifest.json` is absent, so the value is informative.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::content::{ContentError, ContentStore};
use crate::digest::Digest;
use crate::manifest::{
    self, Descriptor, Index, Manifest, ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME,
};
use crate::reference::Reference;
use crate::ErrorKind;

/// The `oci-layout` file written.
pub const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// Errors from an export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Nothing was asked for.
    #[error("no images to save")]
    Empty,
    /// A stored manifest does not parse.
    #[error("stored manifest {digest} is invalid: {source}")]
    Corrupt {
        /// The manifest.
        digest: Digest,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A stored blob's size differs from its descriptor.
    #[error("stored blob {digest} has {actual} bytes, its descriptor says {expected}")]
    BlobSize {
        /// The blob.
        digest: Digest,
        /// The descriptor's size.
        expected: u64,
        /// The size on disk.
        actual: u64,
    },
    /// The content store failed (a blob is missing, for instance).
    #[error(transparent)]
    Content(#[from] ContentError),
    /// Writing the output failed.
    #[error("write {path}: {source}")]
    Write {
        /// The entry or file being written.
        path: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl ExportError {
    /// The error's class, for the API layer.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ExportError::Empty => ErrorKind::InvalidArgument,
            ExportError::Corrupt { .. } | ExportError::BlobSize { .. } => ErrorKind::DataLoss,
            ExportError::Content(e) => e.kind(),
            ExportError::Write { .. } => ErrorKind::Internal,
        }
    }
}

/// Which archive to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Docker 25+ `docker save`: OCI layout plus `manifest.json` and `repositories`.
    DockerArchive,
    /// A plain OCI image layout.
    OciLayout,
}

/// One image to export: a manifest and the names to give it (none: saved
/// by digest only, as `docker save <image id>` does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportImage {
    /// The manifest digest.
    pub manifest: Digest,
    /// Names written into the archive.
    pub names: Vec<Reference>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveEntry {
    config: String,
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Destination of an export: a tar stream or a directory.
trait Sink {
    fn dir(&mut self, path: &str) -> Result<(), ExportError>;
    fn file(&mut self, path: &str, size: u64, data: &mut dyn Read) -> Result<(), ExportError>;
}

fn write_err(path: &str) -> impl FnOnce(io::Error) -> ExportError + '_ {
    move |source| ExportError::Write {
        path: path.to_owned(),
        source,
    }
}

struct TarSink<W: Write> {
    builder: tar::Builder<W>,
}

impl<W: Write> TarSink<W> {
    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(size);
        h
    }
}

impl<W: Write> Sink for TarSink<W> {
    fn dir(&mut self, path: &str) -> Result<(), ExportError> {
        let mut h = Self::header(tar::EntryType::Directory, 0o755, 0);
        self.builder
            .append_data(&mut h, format!("{path}/"), io::empty())
            .map_err(write_err(path))
    }

    fn file(&mut self, path: &str, size: u64, data: &mut dyn Read) -> Result<(), ExportError> {
        let mut h = Self::header(tar::EntryType::Regular, 0o644, size);
        // `append_data` writes exactly `size` bytes; a short read is an error.
        self.builder
            .append_data(&mut h, path, data.take(size))
            .map_err(write_err(path))
    }
}

struct DirSink {
    root: PathBuf,
}

impl Sink for DirSink {
    fn dir(&mut self, path: &str) -> Result<(), ExportError> {
        fs::create_dir_all(self.root.join(path)).map_err(write_err(path))
    }

    fn file(&mut self, path: &str, size: u64, data: &mut dyn Read) -> Result<(), ExportError> {
        let target = self.root.join(path);
        let mut f = File::create(&target).map_err(write_err(path))?;
        let n = io::copy(&mut data.take(size), &mut f).map_err(write_err(path))?;
        if n != size {
            return Err(ExportError::Write {
                path: path.to_owned(),
                source: io::Error::new(io::ErrorKind::UnexpectedEof, "blob ended early"),
            });
        }
        f.sync_all().map_err(write_err(path))
    }
}

/// Writes `images` as a tar in `format` to `out`; returns `out`.
pub fn write_tar<W: Write>(
    content: &ContentStore,
    images: &[ExportImage],
    format: ExportFormat,
    out: W,
) -> Result<W, ExportError> {
    let mut builder = tar::Builder::new(out);
    builder.mode(tar::HeaderMode::Deterministic);
    let mut sink = TarSink { builder };
    write(content, images, format, &mut sink)?;
    sink.builder.into_inner().map_err(write_err("tar trailer"))
}

/// Writes `images` as an OCI layout (or docker archive, unpacked) into the
/// directory `dir`, which is created if needed.
pub fn write_dir(
    content: &ContentStore,
    images: &[ExportImage],
    format: ExportFormat,
    dir: &Path,
) -> Result<(), ExportError> {
    fs::create_dir_all(dir).map_err(write_err("."))?;
    let mut sink = DirSink {
        root: dir.to_owned(),
    };
    write(content, images, format, &mut sink)
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn write_blob(
    content: &ContentStore,
    sink: &mut dyn Sink,
    written: &mut HashSet<Digest>,
    digest: &Digest,
    expected: u64,
) -> Result<(), ExportError> {
    if written.contains(digest) {
        return Ok(());
    }
    let actual = content.size(digest)?;
    if actual != expected {
        return Err(ExportError::BlobSize {
            digest: digest.clone(),
            expected,
            actual,
        });
    }
    let mut f = content.open_blob(digest)?;
    sink.file(&blob_path(digest), expected, &mut f)?;
    written.insert(digest.clone());
    Ok(())
}

fn write(
    content: &ContentStore,
    images: &[ExportImage],
    format: ExportFormat,
    sink: &mut dyn Sink,
) -> Result<(), ExportError> {
    if images.is_empty() {
        return Err(ExportError::Empty);
    }
    sink.dir("blobs")?;
    sink.dir("blobs/sha256")?;
    let mut written = HashSet::new();
    let mut index_entries = Vec::new();
    let mut archive_entries = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut seen_manifests: Vec<Digest> = Vec::new();
    for image in images {
        let data = content.read_verified(&image.manifest)?;
        let m: Manifest = serde_json::from_slice(&data).map_err(|source| ExportError::Corrupt {
            digest: image.manifest.clone(),
            source,
        })?;
        // Children first, like the content store commits them.
        for layer in &m.layers {
            write_blob(content, sink, &mut written, &layer.digest, layer.size)?;
        }
        write_blob(content, sink, &mut written, &m.config.digest, m.config.size)?;
        if !written.contains(&image.manifest) {
            sink.file(
                &blob_path(&image.manifest),
                data.len() as u64,
                &mut data.as_slice(),
            )?;
            written.insert(image.manifest.clone());
        }

        let media_type = m
            .media_type
            .clone()
            .unwrap_or_else(|| manifest::MEDIA_TYPE_OCI_MANIFEST.to_owned());
        let descriptor = |annotations| Descriptor {
            annotations,
            ..Descriptor::new(&media_type, image.manifest.clone(), data.len() as u64)
        };
        if image.names.is_empty() {
            if !seen_manifests.contains(&image.manifest) {
                index_entries.push(descriptor(BTreeMap::new()));
            }
        } else {
            for name in &image.names {
                let mut ann = BTreeMap::new();
                ann.insert(ANNOTATION_CONTAINERD_NAME.to_owned(), name.to_string());
                if let Some(tag) = name.tag() {
                    ann.insert(ANNOTATION_REF_NAME.to_owned(), tag.to_owned());
                    if let Some(top) = m.layers.last() {
                        repositories
                            .entry(name.familiar_name())
                            .or_default()
                            .insert(tag.to_owned(), top.digest.hex().to_owned());
                    }
                }
                index_entries.push(descriptor(ann));
            }
        }
        seen_manifests.push(image.manifest.clone());

        let tags: Vec<String> = image.names.iter().map(|n| n.familiar()).collect();
        archive_entries.push(ArchiveEntry {
            config: blob_path(&m.config.digest),
            repo_tags: (!tags.is_empty()).then_some(tags),
            layers: m.layers.iter().map(|l| blob_path(&l.digest)).collect(),
        });
    }

    let index = Index {
        schema_version: 2,
        media_type: Some(manifest::MEDIA_TYPE_OCI_INDEX.to_owned()),
        manifests: index_entries,
        annotations: BTreeMap::new(),
    };
    let index_json = serde_json::to_vec(&index).expect("index serialises");
    sink.file(
        "index.json",
        index_json.len() as u64,
        &mut index_json.as_slice(),
    )?;
    if format == ExportFormat::DockerArchive {
        let manifest_json = serde_json::to_vec(&archive_entries).expect("entries serialise");
        sink.file(
            "manifest.json",
            manifest_json.len() as u64,
            &mut manifest_json.as_slice(),
        )?;
        let repos_json = serde_json::to_vec(&repositories).expect("repositories serialise");
        sink.file(
            "repositories",
            repos_json.len() as u64,
            &mut repos_json.as_slice(),
        )?;
    }
    sink.file(
        "oci-layout",
        OCI_LAYOUT.len() as u64,
        &mut OCI_LAYOUT.as_bytes(),
    )?;
    Ok(())
}
