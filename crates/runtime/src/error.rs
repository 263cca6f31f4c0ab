//! The runtime's error type.
//!
//! Every message names what went wrong and where (the config field, the file, the
//! state), because `berth-runc` prints it as its one-line error and containerd copies it
//! into the user's face.

use crate::cgroups::CgroupError;
use crate::state::Status;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bundle's config.json is malformed or asks for something impossible.
    #[error("invalid config: {0}")]
    Config(String),
    /// A command-line argument is wrong.
    #[error("{0}")]
    Usage(String),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("container with id {0} already exists")]
    Exists(String),
    #[error("cannot {op} container {id}: it is {status}")]
    WrongState {
        op: &'static str,
        id: String,
        status: Status,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error("{0}")]
    Hook(String),
    /// An error reported by the container's init process during create or exec.
    #[error("{0}")]
    Init(String),
    #[error("{0} is not supported")]
    Unsupported(String),
}

impl Error {
    pub fn config(msg: impl Into<String>) -> Self {
        Error::Config(msg.into())
    }
}

/// Adds a "what was being done" context to io and errno results.
pub trait Context<T> {
    fn ctx<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T>;
}

impl<T> Context<T> for std::io::Result<T> {
    fn ctx<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: f().into(),
            source,
        })
    }
}

impl<T> Context<T> for rustix::io::Result<T> {
    fn ctx<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::Io {
            context: f().into(),
            source: e.into(),
        })
    }
}
