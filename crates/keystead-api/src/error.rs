//! The error body every failed request answers with, and its closed set of codes.

use serde::{Deserialize, Serialize};

/// Every error: `{"error": {"code": ..., "message": ..., "request_id": ...}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, utoipa::ToResponse)]
#[response(description = "An error with a stable code (docs/api.md)")]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable code for scripts.
    pub code: ErrorCode,
    /// What went wrong and what to do, for people. Never key material.
    pub message: String,
    /// The request's id (the `x-request-id` response header): the server log's lines of
    /// this request carry it. Always set on a 5xx answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The stable error codes. A client maps each to its own behaviour (the CLI to an exit code)
/// in one exhaustive `match`, so a new code does not compile until it is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No token, an unknown, disabled or expired one, or an unknown client certificate.
    Unauthenticated,
    /// The caller's roles, grants or tenant do not allow the request.
    PermissionDenied,
    /// The key, version, principal, approval or other named thing does not exist.
    NotFound,
    /// A thing of that name exists already.
    AlreadyExists,
    /// The request is malformed or a value is out of range.
    InvalidArgument,
    /// The key's purpose does not allow the operation.
    PurposeViolation,
    /// The key's or version's state does not allow the operation.
    InvalidState,
    /// The version is compromised: only incident responders may process with it.
    KeyCompromised,
    /// A policy refuses the request (strength, environment, approvals, separation of duties).
    PolicyViolation,
    /// A ciphertext, wrapped key or context does not open.
    DecryptionFailed,
    /// Stored or supplied data failed an integrity check.
    IntegrityFailure,
    /// The request conflicts with a concurrent or earlier change.
    Conflict,
    /// The server is sealed: its root key is not in memory.
    Sealed,
    /// The store has no root key yet (`operator init`).
    NotInitialized,
    /// The server cannot reach its database; nothing was done, retry later.
    StorageUnavailable,
    /// Too many failed authentications from this address: retry after `Retry-After` seconds.
    RateLimited,
    /// A fault inside the server; the log has the details under the request id.
    Internal,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::Unauthenticated,
        ErrorCode::PermissionDenied,
        ErrorCode::NotFound,
        ErrorCode::AlreadyExists,
        ErrorCode::InvalidArgument,
        ErrorCode::PurposeViolation,
        ErrorCode::InvalidState,
        ErrorCode::KeyCompromised,
        ErrorCode::PolicyViolation,
        ErrorCode::DecryptionFailed,
        ErrorCode::IntegrityFailure,
        ErrorCode::Conflict,
        ErrorCode::Sealed,
        ErrorCode::NotInitialized,
        ErrorCode::StorageUnavailable,
        ErrorCode::RateLimited,
        ErrorCode::Internal,
    ];

    /// The code as it appears on the wire, e.g. `purpose_violation`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::NotFound => "not_found",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::PurposeViolation => "purpose_violation",
            ErrorCode::InvalidState => "invalid_state",
            ErrorCode::KeyCompromised => "key_compromised",
            ErrorCode::PolicyViolation => "policy_violation",
            ErrorCode::DecryptionFailed => "decryption_failed",
            ErrorCode::IntegrityFailure => "integrity_failure",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Sealed => "sealed",
            ErrorCode::NotInitialized => "not_initialized",
            ErrorCode::StorageUnavailable => "storage_unavailable",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_serde() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).expect("serializes");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).expect("deserializes");
            assert_eq!(back, code);
        }
    }

    #[test]
    fn an_unknown_code_does_not_parse() {
        assert!(serde_json::from_str::<ErrorCode>("\"brand_new\"").is_err());
    }
}
