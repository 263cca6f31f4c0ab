//! Diff a directory against its lower layers into a layer tar (work in progress).
