//! Keystead's REST wire layer: every request and response body of `/v1`, as typed structs
//! with OpenAPI schemas, plus the error body and its closed set of codes.
//!
//! The server converts the service's results into these types and the CLI deserializes into
//! the same types, so a renamed field fails to compile on both sides instead of silently
//! changing the public API. Nothing here does I/O.
//!
//! Conventions: binary fields are standard base64; times are RFC 3339; names of purposes,
//! algorithms, states and roles are the command-line names (`encrypt`, `aes-256-gcm`,
//! `active`, `key-custodian`). Secrets (plaintexts, tokens, shares, webhook secrets) are
//! [`Secret`]s: zeroized on drop and redacted in `Debug`.
#![forbid(unsafe_code)]

pub mod audit;
pub mod crypto;
pub mod error;
pub mod inventory;
pub mod keys;
pub mod oversight;
pub mod principals;
pub mod recovery;
pub mod report;
mod secret;
pub mod sys;

pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use secret::{Secret, SecretList};
