//! berth's OCI runtime library.
pub mod cgroups;
