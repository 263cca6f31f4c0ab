//! `berth-shim`: one small process per container, and the protocol berthd uses to
//! talk to it (see [`protocol`]), with the blocking client berthd calls ([`client`]).
//!
//! The shim runs the OCI runtime's `create` and `start`, becomes the parent of the
//! container's init (a child subreaper), owns its stdio or pty, writes its json-file
//! log, keeps its exit status, and serves attach, resize, kill, exec and wait over a
//! Unix socket. It outlives berthd; berthd reconnects to it after a restart.

pub mod client;
pub mod protocol;

pub use client::{spawn, write_config, ShimClient, ShimError, ShimErrorKind, Spawned};
