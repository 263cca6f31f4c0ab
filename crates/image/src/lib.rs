//! berth's image store: content-addressed blobs, image references, import of
//! OCI layouts and docker archives, and the names that make blobs images.
//!
//! Layout of a store root:
//!
//! ```text
//! <root>/blobs/sha256/<hex>   content store (see content.rs)
//! <root>/ingest/              blobs being written
//! <root>/meta.redb            names and leases (see metadata.rs)
//! ```
//!
//! Order of an import: blobs are written and verified in `ingest/`,
//! committed children first, and only then are names written to the
//! database, so a name never points at a manifest that is not all there.
//! Export (`docker save`, OCI layouts) reads the same blobs back out
//! (export.rs); garbage collection deletes blobs no name or lease reaches
//! (gc.rs). Unpacking an image into snapshots, `docker history` and
//! `docker system df` are in unpack.rs.

pub mod commit;
pub mod content;
pub mod digest;
pub mod export;
pub mod gc;
pub mod import;
pub mod manifest;
pub mod metadata;
pub mod reference;
pub mod snapshot;
mod store;
pub mod unpack;

pub use commit::{parse_changes, Change, ChangeError, CommitOptions, Committed};
pub use content::{ContentError, ContentStore};
pub use digest::{Digest, DigestError};
pub use export::{ExportError, ExportFormat};
pub use gc::{GcError, GcOptions, GcStats};
pub use import::{ImportError, ImportOptions, ImportedImage, RootfsConfig};
pub use manifest::{select_platform, PlatformSpec};
pub use metadata::{Metadata, MetadataError};
pub use reference::{Reference, ReferenceError};
pub use store::{ImageInspect, ImageStore, ImageSummary, RemoveReport, StoreError};
pub use unpack::{DiskUsage, HistoryRow, ImageUsage, UnpackError};

/// The class of an error, which the daemon maps to an HTTP status in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The thing asked for does not exist (404).
    NotFound,
    /// The request conflicts with the current state (409).
    Conflict,
    /// The request is malformed or its data is invalid (400).
    InvalidArgument,
    /// The system is not in a state to do it, e.g. a newer schema (412/500).
    FailedPrecondition,
    /// A resource is busy or unavailable (503).
    Unavailable,
    /// Stored data is damaged (500).
    DataLoss,
    /// Anything else (500).
    Internal,
}
