//! Errors: `ServerError` for the library API, `ApiError` for what an HTTP client sees.
//!
//! The two are kept apart so that an internal failure (a database error, say) is logged
//! in full on the server but reaches the client only as a generic 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::net::SocketAddr;

/// What went wrong inside the server or in a call to its in-process API.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listening socket could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// A socket-level failure after binding.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// SQLite refused a statement or could not open the database.
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// The database holds something this server did not write (a broken secret, say).
    #[error("database is corrupt: {0}")]
    Corrupt(String),
    /// A token could not be signed.
    #[error("cannot sign a token: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
    /// A password could not be hashed.
    #[error("cannot hash a password: {0}")]
    Hash(String),
    /// `create_user` with a name that is taken.
    #[error("user {0:?} already exists")]
    UserExists(String),
    /// An operation named a user that does not exist.
    #[error("no user named {0:?}")]
    UnknownUser(String),
    /// An argument was out of range or empty.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The TLS certificate or key could not be used.
    #[error("TLS: {0}")]
    Tls(String),
}

/// An HTTP error answer, always a JSON body with a `detail` (SimpleJWT's shape).
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    detail: String,
    code: Option<&'static str>,
}

impl ApiError {
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            detail: detail.into(),
            code: None,
        }
    }

    pub(crate) fn unauthorized(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            detail: detail.into(),
            code: None,
        }
    }

    /// SimpleJWT's answer to a bad token: 401 with `code: token_not_valid`.
    pub(crate) fn token_not_valid() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            detail: "Token is invalid or expired".into(),
            code: Some("token_not_valid"),
        }
    }

    pub(crate) fn forbidden() -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            detail: "You do not have permission to perform this action.".into(),
            code: None,
        }
    }

    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            detail: detail.into(),
            code: None,
        }
    }

    pub(crate) fn internal() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            detail: "Internal server error".into(),
            code: None,
        }
    }
}

impl From<ServerError> for ApiError {
    fn from(err: ServerError) -> Self {
        match err {
            ServerError::UserExists(_) => Self {
                status: StatusCode::CONFLICT,
                detail: err.to_string(),
                code: None,
            },
            ServerError::UnknownUser(_) => Self::not_found(err.to_string()),
            ServerError::InvalidInput(_) => Self::bad_request(err.to_string()),
            other => {
                tracing::error!(error = %other, "request failed");
                Self::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.code {
            Some(code) => json!({ "detail": self.detail, "code": code }),
            None => json!({ "detail": self.detail }),
        };
        (self.status, Json(body)).into_response()
    }
}
