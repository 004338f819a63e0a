//! The one place where service errors become HTTP responses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keystead_service::{Error, ErrorKind};
use serde::Serialize;

/// An error as the API reports it: `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: &'a str,
}

fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::PermissionDenied | ErrorKind::PurposeViolation | ErrorKind::PolicyViolation => {
            StatusCode::FORBIDDEN
        }
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists
        | ErrorKind::Conflict
        | ErrorKind::InvalidState
        | ErrorKind::KeyCompromised => StatusCode::CONFLICT,
        ErrorKind::InvalidArgument | ErrorKind::DecryptionFailed => StatusCode::BAD_REQUEST,
        ErrorKind::IntegrityFailure => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Sealed | ErrorKind::NotInitialized | ErrorKind::StorageUnavailable => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        let kind = err.kind();
        let message = match kind {
            ErrorKind::Internal => {
                tracing::error!(error = %err, "internal error");
                "internal error; the server log has the details".to_owned()
            }
            ErrorKind::StorageUnavailable => {
                tracing::warn!(error = ?err, "storage unavailable");
                "the server cannot reach its database; the request did not complete (a key use's result is withheld); retry later".to_owned()
            }
            _ => err.to_string(),
        };
        Self { status: status_of(kind), code: kind.code(), message }
    }
}

impl ApiError {
    /// A request the adapter itself could not decode.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: ErrorKind::InvalidArgument.code(),
            message: message.into(),
        }
    }
}

impl ApiError {
    /// The error as one line of a newline-delimited JSON stream that has already begun.
    pub fn to_json_line(&self) -> String {
        let body = Body { error: Detail { code: self.code, message: &self.message } };
        serde_json::to_string(&body).unwrap_or_default() + "\n"
    }

    /// A body over the size limit.
    pub fn too_large(limit: usize) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: ErrorKind::InvalidArgument.code(),
            message: format!(
                "request body larger than {limit} bytes ({} for a backup bundle); encrypt large data locally with a data key (keystead datakey)",
                crate::MAX_BUNDLE_BYTES
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body { error: Detail { code: self.code, message: &self.message } };
        let mut response = (self.status, Json(body)).into_response();
        response.extensions_mut().insert(crate::metrics::ResponseCode(self.code));
        response
    }
}
