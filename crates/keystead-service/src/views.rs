//! What the service returns. Adapters encode these; they carry no secret material except
//! [`DataKeyView::plaintext`], which is a [`SecretBytes`] the adapter must hand over and drop.

use keystead_core::key::{KeyAttributes, VersionInfo};
use keystead_crypto::SecretBytes;
use keystead_store::{AuditRecord, StoredKey};
use serde::Serialize;

/// A key with its versions, as shown by `key show`.
#[derive(Clone, Debug, Serialize)]
pub struct KeyView {
    /// The key's attributes.
    #[serde(flatten)]
    pub attributes: KeyAttributes,
    /// The version protect operations use now, if any is active.
    pub primary_version: Option<u32>,
    /// Every version, oldest first, with provenance and KCV.
    pub versions: Vec<VersionInfo>,
    /// The key's audit events, oldest first (`key show` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<AuditRecord>,
    /// The key's newest 50 audit events of any kind, oldest first (`key show` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recent_events: Vec<AuditRecord>,
    /// The key's reviews, oldest first (`key show` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reviews: Vec<keystead_store::inventory::ReviewRecord>,
    /// The aliases naming the key (`key show` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Each version's successful uses per operation, with the first and newest (`key show` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub usage: Vec<keystead_store::inventory::UsageRecord>,
}

impl From<&StoredKey> for KeyView {
    fn from(stored: &StoredKey) -> Self {
        Self {
            attributes: stored.attributes.clone(),
            primary_version: stored.primary().map(|v| v.info.number.get()),
            versions: stored.versions.iter().map(|v| v.info.clone()).collect(),
            history: Vec::new(),
            recent_events: Vec::new(),
            reviews: Vec::new(),
            aliases: Vec::new(),
            usage: Vec::new(),
        }
    }
}

/// A fresh data key: its plaintext for immediate use and its ciphertext to store.
#[derive(Debug)]
pub struct DataKeyView {
    /// The data key in clear. Use, then drop.
    pub plaintext: SecretBytes,
    /// The data key encrypted under the key-encryption key (a ks1 ciphertext).
    pub ciphertext: String,
}

/// A decryption's result.
#[derive(Debug)]
pub struct DecryptView {
    /// The plaintext. Use, then drop.
    pub plaintext: SecretBytes,
    /// Set when the version is compromised and the data was protected after the compromise
    /// time (or its protect time is unknown): it may have been produced by an attacker.
    pub warning: Option<String>,
}

/// A rewrap's result: the same plaintext under the primary version.
#[derive(Clone, Debug, Serialize)]
pub struct RewrapView {
    /// The new ciphertext.
    pub ciphertext: String,
    /// The version that protected the input.
    pub from_version: u32,
    /// The version that protects the output.
    pub to_version: u32,
    /// As for [`DecryptView::warning`].
    pub warning: Option<String>,
}

/// What `status` reports.
#[derive(Clone, Debug, Serialize)]
pub struct ServerStatus {
    /// This node.
    pub node: String,
    /// The environment served.
    pub environment: String,
    /// The cryptographic library in use.
    pub crypto_library: String,
    /// Whether it runs in FIPS mode.
    pub fips: bool,
    /// The minimum security strength of new keys.
    pub minimum_strength_bits: u32,
    /// Self-tests that passed at start-up.
    pub self_tests: Vec<&'static str>,
    /// The seal: kind, state, threshold; a loud warning for the development file seal.
    pub seal: crate::SealStatus,
}

/// A time as RFC 3339 text (for audit details and notifications).
pub(crate) fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
