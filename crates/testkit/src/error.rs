//! Errors of the fallible fixture constructors.

use std::path::PathBuf;

/// Why a fixture could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation on a fixture path failed.
    #[error("failed to {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `busybox --list-full` did not run or did not succeed.
    #[error("failed to list the applets of {}", path.display())]
    BusyboxList {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The embedded default spec or a config.json on disk is not valid JSON.
    #[error("invalid config.json")]
    Config(#[from] serde_json::Error),
}

/// Shorthand for mapping an `io::Error` to [`Error::Io`].
pub(crate) fn io(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}
