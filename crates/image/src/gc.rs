//! Garbage collection (work in progress).
