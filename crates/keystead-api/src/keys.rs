//! `/v1/keys` and `/v1/aliases`: keys, their versions and attributes, aliases.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::audit::AuditEvent;
use crate::inventory::ReviewRecord;

/// `POST /v1/keys`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// Name, unique per tenant.
    pub name: String,
    /// `encrypt`, `sign`, `mac`, `wrap` or `asymmetric-decrypt`.
    pub purpose: String,
    /// An algorithm that fits the purpose, e.g. `aes-256-gcm`.
    pub algorithm: String,
    /// The function the key serves, e.g. `prompt-encryption` or `x-custom`.
    pub usage_context: Option<String>,
    /// The team or person answerable for the key.
    pub owner: Option<String>,
    /// What the key is for (at most 1,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `production`, `staging`, `development` or `test` (the server's own by default).
    pub environment: Option<String>,
    /// `public`, `internal`, `confidential` or `restricted`.
    pub classification: Option<String>,
    /// Free-form labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Rotate after this long, e.g. `90d`.
    pub rotation_period: Option<String>,
    /// A version protects for at most this long after its activation, e.g. `365d`.
    pub protect_period: Option<String>,
    /// Whether backups include the key (default by key type).
    pub recoverable: Option<bool>,
    /// `low`, `medium`, `high` or `critical`.
    pub criticality: Option<String>,
    /// Create the first version pre-active.
    #[serde(default)]
    pub pre_active: bool,
    /// The tenant (the caller's own by default).
    pub tenant: Option<String>,
    /// `generated` (default) or `external`: an external key is created without material, in
    /// state `pending-import`, and takes the owner's material through `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// `POST /v1/keys/{key}/import-params`: a wrapping public key and a single-use import token
/// for an external key waiting for material, or for a new key of that name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportParamsRequest {
    /// `rsa-oaep-sha256` (default) or `rsa-aes-kw-sha256` (needed for RSA private keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapping_algorithm: Option<String>,
    /// `rsa-3072` (default) or `rsa-4096`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapping_key_spec: Option<String>,
    /// The tenant (the caller's own by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// What the owner needs to wrap material for import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportParams {
    /// The key's name.
    pub key: String,
    /// The key's id, when the key exists already (an external key waiting for material).
    pub key_id: Option<String>,
    /// The tenant.
    pub tenant: String,
    /// The import token: `ksit_` and 32 hex digits. It imports once, into this key only.
    pub token: String,
    /// The wrapping public key (SubjectPublicKeyInfo), PEM.
    pub public_key_pem: String,
    /// How to wrap: `rsa-oaep-sha256` or `rsa-aes-kw-sha256`.
    pub wrapping_algorithm: String,
    /// `rsa-3072` or `rsa-4096`.
    pub wrapping_key_spec: String,
    /// When the token stops being accepted (24 hours after it was issued).
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// `POST /v1/keys/{key}/import`: wrapped material and its token. For a new key, `purpose`
/// and `algorithm` are required and the other attributes are as in `CreateKey`; for an
/// existing external key, only its own purpose and algorithm may be restated.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportKey {
    /// The import token from `import-params`.
    pub token: String,
    /// Base64 of the wrapped material.
    pub wrapped: String,
    /// The purpose (required for a new key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The algorithm (required for a new key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// A new key's usage context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_context: Option<String>,
    /// A new key's owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// A new key's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A new key's classification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    /// A new key's labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// A new key's originator-usage period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect_period: Option<String>,
    /// Whether backups include a new key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recoverable: Option<bool>,
    /// A new key's criticality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criticality: Option<String>,
    /// The tenant (the caller's own by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// `PATCH /v1/keys/{key}`: the attributes that may change. Purpose, algorithm and
/// environment never change. Absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKey {
    /// The new owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Labels to set (added or replaced).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set_labels: BTreeMap<String, String>,
    /// Label keys to remove.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_labels: Vec<String>,
    /// The new description (empty clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The new rotation period, e.g. `90d`; `none` clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_period: Option<String>,
    /// The new originator-usage period, e.g. `365d`; `none` clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protect_period: Option<String>,
    /// The new recovery policy (a recovery-policy change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recoverable: Option<bool>,
    /// The new criticality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criticality: Option<String>,
    /// The new classification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    /// The key's tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// Query of `GET /v1/keys`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListKeys {
    /// Only this tenant.
    pub tenant: Option<String>,
    /// Only this purpose.
    pub purpose: Option<String>,
    /// Only keys with a version in this state.
    pub state: Option<String>,
    /// Only this owner.
    pub owner: Option<String>,
    /// Labels as `k=v,k2=v2`; all must match.
    pub label: Option<String>,
    /// Include compromised keys (left out by default).
    #[serde(default)]
    pub all: bool,
}

/// Query naming a tenant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantQuery {
    /// The tenant.
    pub tenant: Option<String>,
}

/// Lifecycle requests that may name one version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionBody {
    /// The version; all eligible versions when absent.
    pub version: Option<u32>,
    /// The tenant.
    pub tenant: Option<String>,
}

/// Query of `GET /v1/keys/{key}/public`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PublicQuery {
    /// The tenant.
    pub tenant: Option<String>,
    /// The version; the primary one when absent.
    pub version: Option<u32>,
}

/// A key with its versions, as `key show` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Key {
    /// Immutable id (a UUID).
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// Name, unique per tenant.
    pub name: String,
    /// The one purpose, fixed at creation.
    pub purpose: String,
    /// The algorithm of every version.
    pub algorithm: String,
    /// The function the key serves.
    pub usage_context: String,
    /// The team or person answerable for the key.
    pub owner: String,
    /// What the key is for, in its owner's words (may be empty).
    #[serde(default)]
    pub description: String,
    /// The environment the key belongs to.
    pub environment: String,
    /// The classification of the data it protects.
    pub classification: String,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
    /// `generated` or `external`.
    pub origin: String,
    /// Rotate after this many seconds, if set.
    pub rotation_period_seconds: Option<i64>,
    /// A version protects for at most this many seconds after its activation.
    pub protect_period_seconds: Option<i64>,
    /// Whether backups include the key.
    pub recoverable: bool,
    /// Business criticality.
    pub criticality: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change of the key or any of its versions.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The version protect operations use now, if any is active.
    pub primary_version: Option<u32>,
    /// Every version, oldest first.
    pub versions: Vec<KeyVersion>,
    /// Every status change of the key, oldest first (`key show` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<AuditEvent>,
    /// The key's newest 50 audit events of any kind, oldest first (`key show` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_events: Vec<AuditEvent>,
    /// The owners' reviews, oldest first (`key show` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reviews: Vec<ReviewRecord>,
    /// The aliases naming the key (`key show` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Each version's successful uses per operation (`key show` only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usage: Vec<VersionUsage>,
}

/// One key version's successful uses of one operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionUsage {
    /// The version.
    pub version: u32,
    /// `encrypt`, `decrypt`, `sign`, `verify`, `mac`, `mac-verify`, `wrap`, `unwrap`, `datakey`
    /// or `rewrap`.
    pub operation: String,
    /// How many times.
    pub uses: u64,
    /// The first of them.
    #[serde(with = "time::serde::rfc3339")]
    pub first_used_at: OffsetDateTime,
    /// The newest of them.
    #[serde(with = "time::serde::rfc3339")]
    pub last_used_at: OffsetDateTime,
}

/// One version of a key, without its material.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyVersion {
    /// Version number, from 1.
    pub number: u32,
    /// Lifecycle state.
    pub state: String,
    /// Key check value: identifies the material without revealing it.
    pub kcv: String,
    /// How the material was generated.
    pub provenance: Provenance,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it became active.
    #[serde(with = "time::serde::rfc3339::option")]
    pub activated_at: Option<OffsetDateTime>,
    /// When it was suspended (cleared on resume).
    #[serde(with = "time::serde::rfc3339::option")]
    pub suspended_at: Option<OffsetDateTime>,
    /// When it was deactivated.
    #[serde(with = "time::serde::rfc3339::option")]
    pub deactivated_at: Option<OffsetDateTime>,
    /// The compromise report, once the version is compromised.
    pub compromise: Option<CompromiseReport>,
    /// When its approved destruction runs, while one is scheduled.
    #[serde(with = "time::serde::rfc3339::option")]
    pub destroy_at: Option<OffsetDateTime>,
    /// When its material was destroyed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub destroyed_at: Option<OffsetDateTime>,
}

/// How a version's material was generated (CEK-10).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Provenance {
    /// The cryptographic library that generated the material.
    pub library: String,
    /// Its version.
    pub library_version: String,
    /// The underlying C library and its version.
    pub backend: String,
    /// Whether the library runs in its FIPS 140-3 validated mode.
    pub fips: bool,
    /// The deterministic random bit generator and its standard.
    pub rng: String,
    /// Where the DRBG's seed comes from.
    pub entropy_source: String,
    /// The algorithm generated.
    pub algorithm: String,
    /// Its security strength.
    pub security_strength_bits: u32,
    /// When the material was generated.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// The environment of the server that generated it.
    pub environment: String,
    /// The node that generated it.
    pub node: String,
    /// `generated` or `external`.
    pub origin: String,
    /// Set when the version was restored from a backup (CEK-20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<RecoveryMark>,
    /// Set when the material was imported (origin `external`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<ImportMark>,
}

/// How imported material came in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportMark {
    /// Who imported it.
    pub imported_by: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub imported_at: OffsetDateTime,
    /// `rsa-oaep-sha256` or `rsa-aes-kw-sha256`.
    pub wrapping_algorithm: String,
    /// `rsa-3072` or `rsa-4096`.
    pub wrapping_key_spec: String,
    /// The import token it came with.
    pub import_token_id: String,
    /// "generated outside Keystead: not attested".
    pub attestation: String,
}

/// How a version came back from a backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecoveryMark {
    /// The backup bundle it was restored from.
    pub backup_id: String,
    /// When the backup was made.
    #[serde(with = "time::serde::rfc3339")]
    pub backed_up_at: OffsetDateTime,
    /// When it was restored.
    #[serde(with = "time::serde::rfc3339")]
    pub restored_at: OffsetDateTime,
    /// Who restored it.
    pub restored_by: String,
    /// The node it was restored on.
    pub node: String,
    /// The approved recovery request, or `break-glass`.
    pub authorized_by: String,
}

/// What was reported when a version was declared compromised (CEK-19).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CompromiseReport {
    /// The incident the compromise belongs to.
    pub incident: String,
    /// When the compromise happened, as far as is known.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// When it was reported to Keystead.
    #[serde(with = "time::serde::rfc3339")]
    pub reported_at: OffsetDateTime,
    /// Who reported it.
    pub reported_by: String,
    /// Why the version is considered compromised.
    pub reason: String,
}

/// A PEM public key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicKey {
    /// SubjectPublicKeyInfo, PEM.
    pub pem: String,
}

/// `POST /v1/aliases`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAlias {
    /// The alias: `alias/` and 1 to 250 characters of a-z, A-Z, 0-9, `/`, `_` or `-`, e.g.
    /// `alias/prompts`; unique per tenant (key names cannot hold a `/`, so never a key's name).
    pub alias: String,
    /// The key it names (name or id).
    pub key: String,
    /// The tenant (the caller's own by default).
    pub tenant: Option<String>,
}

/// `PUT /v1/aliases/{alias}`: point an alias at another key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAlias {
    /// The key it names from now on (name or id).
    pub key: String,
    /// The tenant.
    pub tenant: Option<String>,
}

/// An alias of a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alias {
    /// The alias.
    pub alias: String,
    /// Its tenant.
    pub tenant: String,
    /// The key's id.
    pub key_id: String,
    /// The key's name.
    pub key_name: String,
    /// Whether the key can still be used: false once every version is destroyed (the alias
    /// then only fails; delete it or point it elsewhere).
    pub key_usable: bool,
    /// When the alias was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was last pointed at a key.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}
