//! Layer tars: applying an OCI/Docker image layer onto a directory.
//!
//! A container image is a stack of tar "changesets". Applying one means extracting it
//! over the result of the layers below, with the OCI image spec's whiteouts turning
//! members into deletions, while computing the layer's diff id (the sha256 of the
//! uncompressed tar) that the image config pins. This crate does exactly that and
//! nothing else: the snapshot directory to apply into, and removing it on failure, are
//! the image store's business.
//!
//! The tar comes from the network, so extraction is hostile-input parsing: names with
//! `..`, absolute names, symlinks planted by earlier members or lower layers, hardlinks
//! to host files, gzip bombs in headers. Nothing outside the target may be touched;
//! `root` explains how that is enforced (by the kernel, with `RESOLVE_IN_ROOT`),
//! `apply` the layer semantics, `stream` the decompression and hashing.
//!
//! ```no_run
//! let blob = std::fs::File::open("blobs/sha256/…")?;
//! let opts = berth_layer::ApplyOptions {
//!     expected_diff_id: Some("sha256:…".into()),
//!     ..Default::default()
//! };
//! let stats = berth_layer::apply(blob, std::path::Path::new("/snapshots/3/fs"), &opts)?;
//! println!("{} ({} bytes, {} entries)", stats.diff_id, stats.size, stats.entries);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod apply;
pub mod diff;
mod error;
mod path;
mod root;
mod stream;

pub use apply::{apply, ApplyOptions, ApplyStats, MAX_PATH};
pub use error::LayerError;
pub use stream::{detect, Compression};
