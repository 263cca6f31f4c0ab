//! Errors of layer application.
//!
//! Every variant that concerns one tar entry names the entry's path (as written in the
//! tar, lossily decoded) so that a failed pull can be traced to the layer member that
//! broke it; failures of the stream as a whole (decompression, tar framing) say so.

use std::io;

use crate::Compression;

/// What went wrong while applying a layer.
#[derive(thiserror::Error, Debug)]
pub enum LayerError {
    /// The target directory could not be opened as the root of the extraction.
    #[error("cannot open target directory {path}")]
    OpenTarget {
        path: String,
        #[source]
        source: io::Error,
    },

    /// The (decompressed) layer stream could not be read: truncated or corrupt input.
    #[error("reading the {compression} layer stream failed (truncated or corrupt?)")]
    Stream {
        compression: Compression,
        #[source]
        source: io::Error,
    },

    /// The tar framing itself is broken (bad checksum, truncated header, …).
    #[error("malformed layer tar")]
    Tar {
        #[source]
        source: io::Error,
    },

    /// A member's data ended before the size its header claims.
    #[error("tar entry {path} is truncated: header says {expected} bytes, stream held {actual}")]
    TruncatedEntry {
        path: String,
        expected: u64,
        actual: u64,
    },

    /// A member's path is longer than any path the kernel accepts.
    #[error("tar entry path is {len} bytes long, more than the limit of {limit}")]
    PathTooLong { len: usize, limit: usize },

    /// Extended headers (PAX records, GNU long names) of one member were absurdly large.
    #[error("tar extended headers of one entry exceed {limit} bytes")]
    HeaderTooLarge { limit: u64 },

    /// A header field could not be parsed.
    #[error("tar entry {path} has an invalid {field}")]
    InvalidHeader {
        path: String,
        field: &'static str,
        #[source]
        source: io::Error,
    },

    /// A member of a type that a container image has no use for (or that we cannot create).
    #[error("tar entry {path} has unsupported type {kind:?}")]
    UnsupportedEntry { path: String, kind: char },

    /// A hardlink with an empty or unusable target.
    #[error("hardlink {path} has an invalid target {target:?}")]
    InvalidLink { path: String, target: String },

    /// An entry tried to turn the target directory itself into a non-directory.
    #[error("tar entry {path} would replace the root directory with a non-directory")]
    ReplaceRoot { path: String },

    /// A whiteout that names nothing (`.wh.`, `.wh..`, `.wh...`).
    #[error("whiteout {path} names no file")]
    InvalidWhiteout { path: String },

    /// A filesystem operation for an entry failed.
    #[error("cannot {op} for tar entry {path}")]
    Fs {
        op: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },

    /// The caller's expected diff id is not a `sha256:<hex>` digest.
    #[error("expected diff id {digest:?} is not a sha256 digest")]
    BadDigest { digest: String },

    /// The uncompressed layer does not hash to the expected diff id.
    #[error("layer diff id mismatch: expected {expected}, got {actual}")]
    DiffIdMismatch { expected: String, actual: String },
}

impl LayerError {
    /// Builds an [`LayerError::Fs`] from an operation name and an entry path.
    ///
    /// The path is only rendered when an error actually happens.
    pub(crate) fn fs<'p>(
        op: &'static str,
        path: &'p [u8],
    ) -> impl FnOnce(io::Error) -> LayerError + 'p {
        move |source| LayerError::Fs {
            op,
            path: show(path),
            source,
        }
    }
}

/// Displays a tar path (arbitrary bytes) for an error message.
pub(crate) fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}
