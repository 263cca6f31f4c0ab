//! Snapshotters (work in progress).
