//! JSON request and response bodies. Binary fields are standard base64.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `POST /v1/keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "fields mirror `keystead key create` flags")]
pub struct CreateKey {
    pub name: String,
    pub purpose: String,
    pub algorithm: String,
    pub usage_context: Option<String>,
    pub owner: Option<String>,
    pub environment: Option<String>,
    pub classification: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub rotation_period: Option<String>,
    pub protect_period: Option<String>,
    pub recoverable: Option<bool>,
    pub criticality: Option<String>,
    #[serde(default)]
    pub pre_active: bool,
    pub tenant: Option<String>,
}

/// Query of `GET /v1/keys`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[allow(missing_docs, reason = "fields mirror `keystead key list` flags")]
#[into_params(parameter_in = Query)]
pub struct ListKeys {
    pub tenant: Option<String>,
    pub purpose: Option<String>,
    pub state: Option<String>,
    pub owner: Option<String>,
    /// Labels as `k=v,k2=v2`.
    pub label: Option<String>,
    /// Include compromised keys (left out by default).
    #[serde(default)]
    pub all: bool,
}

/// Query naming a tenant.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantQuery {
    /// The tenant.
    pub tenant: Option<String>,
}

/// Lifecycle requests that may name one version.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionBody {
    /// The version; all eligible versions when absent.
    pub version: Option<u32>,
    /// The tenant.
    pub tenant: Option<String>,
}

/// `POST /v1/keys/{key}/encrypt` and `/datakey`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Encrypt {
    /// Base64 plaintext (absent for datakey).
    #[serde(default)]
    pub plaintext: String,
    /// Encryption context, bound as associated data.
    #[serde(default)]
    pub context: BTreeMap<String, String>,
    /// The tenant.
    pub tenant: Option<String>,
}

/// `POST /v1/decrypt`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decrypt {
    /// A `ks1:` ciphertext.
    pub ciphertext: String,
    /// The context given at encryption.
    #[serde(default)]
    pub context: BTreeMap<String, String>,
    /// Why a compromised key is used (incident responders).
    pub justification: Option<String>,
    /// The systems whose data is processed (with `justification`).
    #[serde(default)]
    pub affected_systems: Vec<String>,
}

/// `POST /v1/keys/{key}/sign`, `/mac`, `/verify`, `/mac-verify`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Base64 message.
    pub message: String,
    /// The signature or tag to check (verify operations).
    pub signature: Option<String>,
    /// The tenant.
    pub tenant: Option<String>,
    /// Why a compromised key is used (incident responders; verify operations).
    pub justification: Option<String>,
    /// The systems whose data is processed (with `justification`).
    #[serde(default)]
    pub affected_systems: Vec<String>,
}

/// `POST /v1/keys/{key}/wrap`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Wrap {
    /// Base64 key material to wrap.
    pub key_material: String,
    /// The tenant.
    pub tenant: Option<String>,
}

/// `POST /v1/unwrap`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Unwrap {
    /// A `ks1:` wrapped key.
    pub wrapped: String,
    /// Why a compromised key is used (incident responders).
    pub justification: Option<String>,
    /// The systems whose data is processed (with `justification`).
    #[serde(default)]
    pub affected_systems: Vec<String>,
}

/// Query of `GET /v1/audit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[allow(missing_docs, reason = "fields mirror `keystead audit list` flags")]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub key: Option<String>,
    pub actor: Option<String>,
    pub since: Option<String>,
    pub limit: Option<u32>,
    pub tenant: Option<String>,
}

/// Query of `GET /v1/audit/export`: the page after a (node, node sequence) position.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// The node of the last row already read.
    pub after_node: Option<String>,
    /// The node sequence of the last row already read.
    pub after_node_seq: Option<i64>,
    /// Rows per page (at most 10,000; default 1,000).
    pub limit: Option<u32>,
}

/// Query of `GET /v1/keys/{key}/public`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PublicQuery {
    /// The tenant.
    pub tenant: Option<String>,
    /// The version; the primary one when absent.
    pub version: Option<u32>,
}

/// A single text result.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[allow(missing_docs, reason = "self-describing response fields")]
pub struct CiphertextOut {
    pub ciphertext: String,
}

/// Decrypted or unwrapped bytes.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(missing_docs, reason = "self-describing response fields")]
pub struct PlaintextOut {
    pub plaintext: String,
    /// Set when a compromised version decrypted data protected after the compromise (or of
    /// unknown protect time): it may have been produced by an attacker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// A signature or tag.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[allow(missing_docs, reason = "self-describing response fields")]
pub struct SignatureOut {
    pub signature: String,
}

/// A verification result.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[allow(missing_docs, reason = "self-describing response fields")]
pub struct ValidOut {
    pub valid: bool,
}

/// A wrapped key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[allow(missing_docs, reason = "self-describing response fields")]
pub struct WrappedOut {
    pub wrapped: String,
}

/// A data key.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(missing_docs, reason = "self-describing response fields")]
pub struct DataKeyOut {
    pub plaintext: String,
    pub ciphertext: String,
}

/// A PEM public key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[allow(missing_docs, reason = "self-describing response fields")]
pub struct PublicKeyOut {
    pub pem: String,
}

/// `POST /v1/principals`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePrincipal {
    /// Unique name.
    pub name: String,
    /// Roles, e.g. `["crypto-user"]`.
    pub roles: Vec<String>,
    /// The tenant it is confined to.
    pub tenant: Option<String>,
    /// Seconds until it stops authenticating (default: never).
    pub expires_in_seconds: Option<u64>,
}

/// A created principal and its token (shown once).
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedPrincipal {
    /// The principal.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub principal: keystead_service::StoredPrincipal,
    /// Its bearer token; only its hash is stored.
    pub token: String,
}

/// `POST /v1/grants`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddGrant {
    /// The principal.
    pub principal: String,
    /// Key name or id.
    pub key: String,
    /// Operations, e.g. `["encrypt", "decrypt"]`.
    pub ops: Vec<String>,
    /// The key's tenant.
    pub tenant: Option<String>,
}

/// Bodies that carry key material or tokens print only their type name.
macro_rules! redacted_debug {
    ($($ty:ty),+) => {
        $(impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($ty), "(redacted)"))
            }
        })+
    };
}
redacted_debug!(Wrap, PlaintextOut, DataKeyOut, CreatedPrincipal, InitOut, Unseal);

/// `POST /v1/sys/init`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Init {
    /// Shares to issue (1..=255).
    pub shares: u8,
    /// Shares needed to unseal.
    pub threshold: u8,
}

/// What `POST /v1/sys/init` returns, once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InitOut {
    /// The store's seal id (printed in every share).
    pub seal_id: String,
    /// Shares needed to unseal.
    pub threshold: u8,
    /// One unseal share per operator.
    pub shares: Vec<String>,
    /// The root principal's token.
    pub root_token: String,
}

/// `POST /v1/sys/unseal`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Unseal {
    /// One unseal share.
    pub share: String,
}

/// Every error: a stable code (see docs/api.md) and a message for people.
#[derive(utoipa::ToSchema, utoipa::ToResponse)]
#[response(description = "An error with a stable code (docs/api.md)")]
#[allow(dead_code, reason = "describes the body `ApiError` writes; never built")]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "describes the body `ApiError` writes; never built")]
pub struct ErrorDetail {
    /// Stable code, e.g. `permission_denied`, `sealed`, `purpose_violation`.
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
}
