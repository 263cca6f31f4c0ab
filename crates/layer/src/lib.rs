//! Layer tars (work in progress).
