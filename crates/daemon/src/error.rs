//! Errors of the daemon's services, and the one place where their kind becomes an
//! HTTP status (STYLE rule 2, after moby's `httpstatus`). The body is Docker's
//! `{"message": "…"}`, and the messages use Docker's words where scripts match them
//! (`No such container: x`, `Conflict. The container name …`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// The class of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    NotFound,
    Conflict,
    /// Docker's 403 (libnetwork's forbidden: overlapping pools, active endpoints).
    Forbidden,
    InvalidArgument,
    NotModified,
    Unavailable,
    Internal,
}

/// A service error: a kind and the message the client shows.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(Kind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Error {
        Error::new(Kind::Conflict, message)
    }
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(Kind::InvalidArgument, message)
    }
    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(Kind::Internal, message)
    }
    pub fn no_such_container(name: &str) -> Error {
        Error::not_found(format!("No such container: {name}"))
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// The HTTP status of a kind: the only such mapping in berthd.
pub fn status(kind: Kind) -> StatusCode {
    match kind {
        Kind::NotFound => StatusCode::NOT_FOUND,
        Kind::Conflict => StatusCode::CONFLICT,
        Kind::Forbidden => StatusCode::FORBIDDEN,
        Kind::InvalidArgument => StatusCode::BAD_REQUEST,
        Kind::NotModified => StatusCode::NOT_MODIFIED,
        Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = status(self.kind);
        if status == StatusCode::NOT_MODIFIED {
            return status.into_response();
        }
        (
            status,
            axum::Json(serde_json::json!({ "message": self.message })),
        )
            .into_response()
    }
}

impl From<berth_image::StoreError> for Error {
    fn from(e: berth_image::StoreError) -> Error {
        Error::new(image_kind(e.kind()), e.to_string())
    }
}

impl From<berth_image::UnpackError> for Error {
    fn from(e: berth_image::UnpackError) -> Error {
        Error::new(image_kind(e.kind()), e.to_string())
    }
}

impl From<berth_image::snapshot::SnapshotError> for Error {
    fn from(e: berth_image::snapshot::SnapshotError) -> Error {
        Error::new(image_kind(e.kind()), e.to_string())
    }
}

impl From<berth_shim::ShimError> for Error {
    fn from(e: berth_shim::ShimError) -> Error {
        use berth_shim::ShimErrorKind as S;
        let kind = match e.kind() {
            S::InvalidArgument => Kind::InvalidArgument,
            S::Conflict => Kind::Conflict,
            S::NotFound => Kind::NotFound,
            S::Unavailable => Kind::Unavailable,
            S::Internal => Kind::Internal,
        };
        Error::new(kind, e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::internal(e.to_string())
    }
}

fn image_kind(kind: berth_image::ErrorKind) -> Kind {
    use berth_image::ErrorKind as I;
    match kind {
        I::NotFound => Kind::NotFound,
        I::Conflict => Kind::Conflict,
        I::InvalidArgument => Kind::InvalidArgument,
        I::Unavailable => Kind::Unavailable,
        I::FailedPrecondition | I::DataLoss | I::Internal => Kind::Internal,
    }
}
