//! Cryptographic operations: encrypt, decrypt, sign, verify, MAC, wrap, data keys, rewrap.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Secret;

/// `POST /v1/keys/{key}/encrypt`.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Encrypt {
    /// Base64 plaintext.
    pub plaintext: Secret,
    /// Encryption context, bound as associated data.
    #[serde(default)]
    pub context: BTreeMap<String, String>,
    /// The tenant.
    pub tenant: Option<String>,
}

/// `POST /v1/keys/{key}/datakey`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateDataKey {
    /// Encryption context, bound as associated data of the data key's ciphertext.
    #[serde(default)]
    pub context: BTreeMap<String, String>,
    /// The tenant.
    pub tenant: Option<String>,
}

/// `POST /v1/decrypt`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decrypt {
    /// A `ks1:` ciphertext.
    pub ciphertext: String,
    /// The context given at encryption.
    #[serde(default)]
    pub context: BTreeMap<String, String>,
    /// Why a compromised key is used (incident responders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// The systems whose data is processed (with `justification`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affected_systems: Vec<String>,
}

/// `POST /v1/keys/{key}/sign`, `/mac`, `/verify`, `/mac-verify`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Base64 message.
    pub message: String,
    /// The signature or tag to check (verify operations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Why a compromised key is used (incident responders; verify operations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// The systems whose data is processed (with `justification`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affected_systems: Vec<String>,
}

/// `POST /v1/keys/{key}/wrap`.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Wrap {
    /// Base64 key material to wrap.
    pub key_material: Secret,
    /// The tenant.
    pub tenant: Option<String>,
}

/// `POST /v1/unwrap`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Unwrap {
    /// A `ks1:` wrapped key.
    pub wrapped: String,
    /// Why a compromised key is used (incident responders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// The systems whose data is processed (with `justification`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affected_systems: Vec<String>,
}

/// `POST /v1/rewrap`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rewrap {
    /// A `ks1:` ciphertext.
    pub ciphertext: String,
    /// The context given at encryption (kept for the new ciphertext).
    #[serde(default)]
    pub context: BTreeMap<String, String>,
    /// Why a compromised key is used (incident responders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// The systems whose data is processed (with `justification`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub affected_systems: Vec<String>,
    /// Rewrap data that may be an attacker's (protected after the compromise).
    #[serde(default)]
    pub accept_suspect: bool,
}

/// A ciphertext.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ciphertext {
    /// `ks1:<key-id>:v<version>:<base64>`.
    pub ciphertext: String,
}

/// Decrypted or unwrapped bytes.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Plaintext {
    /// Base64 plaintext.
    pub plaintext: Secret,
    /// Set when a compromised version decrypted data protected after the compromise (or of
    /// unknown protect time): it may have been produced by an attacker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// A signature or tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Signature {
    /// `ks1:<key-id>:v<version>:<base64>`.
    pub signature: String,
}

/// A verification result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Validity {
    /// Whether the signature or tag verified.
    pub valid: bool,
}

/// A wrapped key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Wrapped {
    /// `ks1:<key-id>:v<version>:<base64>`.
    pub wrapped: String,
}

/// A data key: its plaintext for immediate use and its ciphertext to store.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DataKey {
    /// Base64 data key in clear. Use, then drop.
    pub plaintext: Secret,
    /// The data key under the key-encryption key.
    pub ciphertext: String,
}

/// A rewrap's result: the same plaintext under the primary version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rewrapped {
    /// The new ciphertext.
    pub ciphertext: String,
    /// The version that protected the input.
    pub from_version: u32,
    /// The version that protects the output.
    pub to_version: u32,
    /// Set when the input may be an attacker's (see [`Plaintext::warning`]).
    pub warning: Option<String>,
}
