//! Garbage collection of the content store: mark and sweep.
//!
//! **Roots** are every manifest a name points at (metadata `images` table),
//! the index it was picked from if the record keeps one (`target`), and
//! every digest held by a lease (metadata `leases` table). From a root
//! the mark phase follows references: a manifest marks its config and
//! layers, an index marks each child manifest that is present (an import
//! keeps only the wanted platform, so absent children are normal). A lease
//! digest that is a small JSON document is followed the same way, so a lease
//! on a manifest protects the whole image. Every committed blob not marked
//! is deleted.
//!
//! Ingest files are swept too, but only when older than
//! [`GcOptions::ingest_grace`]: a younger one may belong to a writer that is
//! still running. Committed blobs have no such grace; the writer that
//! committed them must hold a lease (or hold the [`crate::ImageStore`]'s
//! import lock, which `ImageStore::gc` takes exclusively) until a name
//! points at them.
//!
//! A root manifest that is damaged stops the collection before anything is
//! deleted: better keep garbage than lose what an unreadable manifest
//! referenced.

use std::collections::HashSet;
use std::io::Read;
use std::time::Duration;

use serde::Deserialize;

use crate::content::{ContentError, ContentStore};
use crate::digest::Digest;
use crate::import::MAX_DOCUMENT_SIZE;
use crate::metadata::{Metadata, MetadataError};
use crate::ErrorKind;

/// Default age below which ingest files are left alone.
pub const DEFAULT_INGEST_GRACE: Duration = Duration::from_secs(10 * 60);

/// Errors from a collection.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// The content store failed.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// The metadata database failed.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// A root manifest or index does not parse.
    #[error("garbage collection stopped: stored document {digest} is invalid: {source}")]
    Corrupt {
        /// The document.
        digest: Digest,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

impl GcError {
    /// The error's class, for the API layer.
    pub fn kind(&self) -> ErrorKind {
        match self {
            GcError::Content(e) => e.kind(),
            GcError::Metadata(e) => e.kind(),
            GcError::Corrupt { .. } => ErrorKind::DataLoss,
        }
    }
}

/// How to collect.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Ingest files younger than this are kept.
    pub ingest_grace: Duration,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            ingest_grace: DEFAULT_INGEST_GRACE,
        }
    }
}

/// What a collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcStats {
    /// The blobs deleted, sorted.
    pub removed: Vec<Digest>,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Ingest files removed.
    pub ingest_removed: usize,
}

/// The shape shared by manifests and indexes, for following references.
#[derive(Deserialize)]
struct Links {
    #[serde(default)]
    config: Option<Link>,
    #[serde(default)]
    layers: Vec<Link>,
    #[serde(default)]
    manifests: Vec<Link>,
}

#[derive(Deserialize)]
struct Link {
    digest: Digest,
}

/// Every blob reachable from names and leases.
pub fn mark(content: &ContentStore, metadata: &Metadata) -> Result<HashSet<Digest>, GcError> {
    let mut live = HashSet::new();
    let mut stack: Vec<(Digest, bool)> = Vec::new();
    for (_, record) in metadata.list()? {
        stack.push((record.manifest, true));
        if let Some(index) = record.target {
            stack.push((index, true));
        }
    }
    for lease in metadata.leases()? {
        for d in metadata.lease_digests(&lease)? {
            stack.push((d, false));
        }
    }
    while let Some((digest, must_parse)) = stack.pop() {
        if !live.insert(digest.clone()) || !content.exists(&digest) {
            continue;
        }
        let Some(data) = read_document(content, &digest, must_parse)? else {
            continue;
        };
        let links: Links = match serde_json::from_slice(&data) {
            Ok(l) => l,
            Err(source) if must_parse => return Err(GcError::Corrupt { digest, source }),
            Err(_) => continue,
        };
        for link in links
            .config
            .into_iter()
            .chain(links.layers)
            .chain(links.manifests)
        {
            // Children of a root are documents too (index → manifest);
            // configs and layers are simply marked, never parsed as roots.
            stack.push((link.digest, false));
        }
    }
    Ok(live)
}

/// Reads a blob if it may be a JSON document worth following. Roots are
/// always read (and verified); other blobs only when small and starting
/// with `{`, so layers are never read.
fn read_document(
    content: &ContentStore,
    digest: &Digest,
    must_parse: bool,
) -> Result<Option<Vec<u8>>, GcError> {
    if !must_parse {
        if content.size(digest)? > MAX_DOCUMENT_SIZE {
            return Ok(None);
        }
        let mut first = [0u8; 1];
        let mut f = content.open_blob(digest)?;
        if f.read(&mut first).unwrap_or(0) != 1 || first[0] != b'{' {
            return Ok(None);
        }
    }
    match content.read_verified(digest) {
        Ok(data) => Ok(Some(data)),
        Err(ContentError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Marks, then deletes every unmarked blob and old ingest files.
pub fn collect(
    content: &ContentStore,
    metadata: &Metadata,
    opts: &GcOptions,
) -> Result<GcStats, GcError> {
    let live = mark(content, metadata)?;
    let mut stats = GcStats::default();
    for digest in content.list()? {
        if live.contains(&digest) {
            continue;
        }
        let size = match content.size(&digest) {
            Ok(s) => s,
            Err(ContentError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        match content.delete(&digest) {
            Ok(()) | Err(ContentError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        stats.bytes += size;
        stats.removed.push(digest);
    }
    stats.ingest_removed = content.cleanup_ingest_older_than(opts.ingest_grace)?;
    Ok(stats)
}
