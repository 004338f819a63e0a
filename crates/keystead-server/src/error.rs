//! The one place where service errors become HTTP responses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use keystead_api::{ErrorBody, ErrorCode, ErrorDetail};
use keystead_service::{Error, ErrorKind};

/// An error as the API reports it: `{"error": {"code": ..., "message": ...}}`. The request id
/// is added on the way out by the request-id layer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    /// Seconds for the `Retry-After` header (a rate-limited source).
    retry_after: Option<u64>,
}

/// The wire code of each service error kind. No `_` arm: a new kind does not compile until
/// it is mapped.
fn code_of(kind: ErrorKind) -> ErrorCode {
    match kind {
        ErrorKind::Unauthenticated => ErrorCode::Unauthenticated,
        ErrorKind::PermissionDenied => ErrorCode::PermissionDenied,
        ErrorKind::NotFound => ErrorCode::NotFound,
        ErrorKind::AlreadyExists => ErrorCode::AlreadyExists,
        ErrorKind::InvalidArgument => ErrorCode::InvalidArgument,
        ErrorKind::PurposeViolation => ErrorCode::PurposeViolation,
        ErrorKind::InvalidState => ErrorCode::InvalidState,
        ErrorKind::KeyCompromised => ErrorCode::KeyCompromised,
        ErrorKind::PolicyViolation => ErrorCode::PolicyViolation,
        ErrorKind::DecryptionFailed => ErrorCode::DecryptionFailed,
        ErrorKind::IntegrityFailure => ErrorCode::IntegrityFailure,
        ErrorKind::Conflict => ErrorCode::Conflict,
        ErrorKind::Sealed => ErrorCode::Sealed,
        ErrorKind::NotInitialized => ErrorCode::NotInitialized,
        ErrorKind::StorageUnavailable => ErrorCode::StorageUnavailable,
        ErrorKind::RateLimited => ErrorCode::RateLimited,
        ErrorKind::Internal => ErrorCode::Internal,
    }
}

/// The HTTP status of each wire code. No `_` arm.
fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::PermissionDenied | ErrorCode::PurposeViolation | ErrorCode::PolicyViolation => {
            StatusCode::FORBIDDEN
        }
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::AlreadyExists
        | ErrorCode::Conflict
        | ErrorCode::InvalidState
        | ErrorCode::KeyCompromised => StatusCode::CONFLICT,
        ErrorCode::InvalidArgument | ErrorCode::DecryptionFailed => StatusCode::BAD_REQUEST,
        ErrorCode::IntegrityFailure => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::Sealed | ErrorCode::NotInitialized | ErrorCode::StorageUnavailable => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        let code = code_of(err.kind());
        let retry_after = match &err {
            Error::RateLimited { retry_after_seconds } => Some(*retry_after_seconds),
            _ => None,
        };
        let message = match code {
            ErrorCode::Internal => {
                tracing::error!(error = %err, "internal error");
                "internal error; the server log has the details under this request's id".to_owned()
            }
            ErrorCode::StorageUnavailable => {
                tracing::warn!(error = ?err, "storage unavailable");
                "the server cannot reach its database; the request did not complete (a key use's result is withheld); retry later".to_owned()
            }
            _ => err.to_string(),
        };
        Self { status: status_of(code), code, message, retry_after }
    }
}

impl ApiError {
    /// A request the adapter itself could not decode.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: ErrorCode::InvalidArgument,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A body over the size limit.
    pub fn too_large(limit: usize) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: ErrorCode::InvalidArgument,
            message: format!(
                "request body larger than {limit} bytes ({} for a backup bundle); encrypt large data locally with a data key (keystead datakey)",
                crate::MAX_BUNDLE_BYTES
            ),
            retry_after: None,
        }
    }

    /// The error as one line of a newline-delimited JSON stream that has already begun.
    pub fn to_json_line(&self, request_id: Option<&str>) -> String {
        serde_json::to_string(&self.body(request_id)).unwrap_or_default() + "\n"
    }

    fn body(&self, request_id: Option<&str>) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
                request_id: request_id.map(str::to_owned),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The request-id layer fills in `request_id` (it knows the id; a handler's error
        // does not), so every error body names it, 5xx ones above all.
        let mut response = (self.status, Json(self.body(None))).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response.extensions_mut().insert(crate::metrics::ResponseCode(self.code.as_str()));
        response.extensions_mut().insert(ErrorMarker(self.code, self.message));
        response
    }
}

/// Left on an error response so that the request-id layer can rewrite the body with the id.
#[derive(Clone, Debug)]
pub(crate) struct ErrorMarker(pub(crate) ErrorCode, pub(crate) String);
