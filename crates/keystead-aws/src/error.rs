//! AWS KMS error types: `{"__type": "...", "message": "..."}` with the status AWS uses. One
//! map from Keystead's error kinds; the mapping is documented in docs/aws.md.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keystead_service::{Error, ErrorKind};

/// An error as an AWS client expects it.
#[derive(Debug)]
pub struct AwsError {
    /// The exception name (`NotFoundException`, ...).
    pub kind: &'static str,
    /// The message.
    pub message: String,
    /// The HTTP status.
    pub status: StatusCode,
    /// Seconds to wait before retrying, for throttling.
    pub retry_after_seconds: Option<u64>,
}

impl AwsError {
    /// A client error (HTTP 400).
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), status: StatusCode::BAD_REQUEST, retry_after_seconds: None }
    }

    /// A request field that is missing or wrong (`ValidationException`).
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    /// An operation Keystead does not speak (yet).
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new("UnsupportedOperationException", message)
    }
}

impl From<Error> for AwsError {
    fn from(err: Error) -> Self {
        let message = err.to_string();
        if let Some(kind) = import_error(&err) {
            return Self::new(kind, message);
        }
        let (kind, status) = match err.kind() {
            ErrorKind::Unauthenticated => ("UnrecognizedClientException", StatusCode::BAD_REQUEST),
            ErrorKind::PermissionDenied => ("AccessDeniedException", StatusCode::BAD_REQUEST),
            ErrorKind::NotFound => ("NotFoundException", StatusCode::BAD_REQUEST),
            ErrorKind::AlreadyExists => ("AlreadyExistsException", StatusCode::BAD_REQUEST),
            ErrorKind::InvalidArgument | ErrorKind::PolicyViolation => {
                ("ValidationException", StatusCode::BAD_REQUEST)
            }
            ErrorKind::PurposeViolation => ("InvalidKeyUsageException", StatusCode::BAD_REQUEST),
            // A compromised version is decrypt-only for justified responders: to anyone else
            // the key is in a state that refuses the request.
            ErrorKind::InvalidState | ErrorKind::KeyCompromised => {
                ("KMSInvalidStateException", StatusCode::BAD_REQUEST)
            }
            ErrorKind::DecryptionFailed => ("InvalidCiphertextException", StatusCode::BAD_REQUEST),
            ErrorKind::Conflict => ("ConflictException", StatusCode::BAD_REQUEST),
            ErrorKind::RateLimited => ("ThrottlingException", StatusCode::BAD_REQUEST),
            ErrorKind::Sealed | ErrorKind::NotInitialized | ErrorKind::StorageUnavailable => {
                ("DependencyTimeoutException", StatusCode::SERVICE_UNAVAILABLE)
            }
            ErrorKind::IntegrityFailure | ErrorKind::Internal => {
                ("KMSInternalException", StatusCode::INTERNAL_SERVER_ERROR)
            }
        };
        let retry_after_seconds = match err {
            Error::RateLimited { retry_after_seconds } => Some(retry_after_seconds),
            _ => None,
        };
        Self { kind, message, status, retry_after_seconds }
    }
}

/// The exceptions AWS names for refused imports, which Keystead's kinds do not tell apart.
fn import_error(err: &Error) -> Option<&'static str> {
    use keystead_crypto::Error as Crypto;
    use keystead_service::ImportTokenProblem;
    match err {
        Error::ImportToken { problem: ImportTokenProblem::Invalid, .. } => {
            Some("InvalidImportTokenException")
        }
        Error::ImportToken { problem: ImportTokenProblem::Expired, .. } => {
            Some("ExpiredImportTokenException")
        }
        Error::ImportedMaterialDiffers { .. } | Error::Crypto(Crypto::ImportedMaterial { .. }) => {
            Some("IncorrectKeyMaterialException")
        }
        Error::Crypto(Crypto::ImportUnwrap { .. }) => Some("InvalidCiphertextException"),
        // Not a classification: every error, these included, is classified exhaustively by
        // `Error::kind` (no `_` arm there); this only names the import exceptions AWS has.
        _ => None,
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "__type": self.kind, "message": self.message }).to_string();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert("content-type", HeaderValue::from_static("application/x-amz-json-1.1"));
        headers.insert("x-amzn-errortype", HeaderValue::from_static(self.kind));
        if let Some(seconds) = self.retry_after_seconds {
            headers.insert("retry-after", HeaderValue::from(seconds));
        }
        response
    }
}
