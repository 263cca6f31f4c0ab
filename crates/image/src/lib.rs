//! berth image store (work in progress).
