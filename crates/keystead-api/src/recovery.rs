//! `/v1/backups` and `/v1/recovery`: backups, restore requests, restores, drills.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{Secret, SecretList};

/// Body of `POST /v1/backups`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBackup {
    /// Shares to split the backup key into (N, at most 16).
    pub shares: u8,
    /// Shares needed to open the bundle (M, at least 2).
    pub threshold: u8,
    /// One recovery officer per share (not the caller): the shares are kept for them, each
    /// collects its own with `POST /v1/backups/{id}/share`, and the response holds none.
    #[serde(default)]
    pub holders: Vec<String>,
}

/// The first line of `POST /v1/backups`' newline-delimited response; the bundle's lines
/// follow.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BackupStart {
    /// The backup's id.
    pub backup_id: String,
    /// Shares needed to open the bundle.
    pub threshold: u8,
    /// The shares, shown once (empty when they are held for `held_for`).
    pub shares: SecretList,
    /// The recovery officers who collect the shares themselves.
    pub held_for: Vec<String>,
    /// Keys in the bundle.
    pub keys: u64,
    /// Keys left out (non-recoverable, or nothing left to recover).
    pub excluded: u64,
}

/// Body of `POST /v1/recovery/requests`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryRequest {
    /// The bundle's backup id (from its header).
    pub backup_id: String,
    /// SHA-256 of the whole bundle file, hex.
    pub bundle_sha256: String,
    /// Keys in the bundle (from its header), shown to approvers.
    pub keys: u64,
    /// When the backup was made (from its header), shown to approvers.
    pub backed_up_at: String,
    /// Why the restore is needed.
    pub justification: String,
    /// How long the request stays open, e.g. `12h` (at most the approval TTL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<String>,
}

/// Body of `POST /v1/backups/restore`.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreBackup {
    /// The bundle file's text.
    pub bundle: String,
    /// The share files' text, at least M.
    pub shares: SecretList,
    /// The approved recovery request for this bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// Restore as a break-glass principal, without a request (raises an anomaly, opens a
    /// review).
    #[serde(default)]
    pub break_glass: bool,
    /// Why (required for break-glass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    /// `abort` (default: restore nothing if a key conflicts) or `skip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_conflict: Option<String>,
}

/// Body of `POST /v1/recovery/drills`.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrillBackup {
    /// The bundle file's text.
    pub bundle: String,
    /// The share files' text, at least M.
    pub shares: SecretList,
}

/// What a restore did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RestoreReport {
    /// The backup restored.
    pub backup_id: String,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub backed_up_at: OffsetDateTime,
    /// The approved request used, or `break-glass`.
    pub authorized_by: String,
    /// Keys restored.
    pub restored: Vec<RestoredKey>,
    /// Keys the store already held exactly as backed up.
    pub unchanged: Vec<RestoredKey>,
    /// Keys kept as the store holds them (`on_conflict: skip`).
    pub conflicts: Vec<ConflictingKey>,
    /// Keys the backup left out, with why.
    pub excluded: Vec<BackedUpKey>,
    /// For a break-glass restore: the review request that must be signed off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
    /// For a break-glass restore: the anomaly raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anomaly: Option<String>,
    /// What the operator should know (e.g. a scheduled destruction that will run).
    pub warnings: Vec<String>,
}

/// A key a restore wrote or found unchanged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RestoredKey {
    /// Its id (unchanged from the backup).
    pub key_id: String,
    /// Its tenant.
    pub tenant: String,
    /// Its name.
    pub name: String,
    /// Each version's state as restored, e.g. `1:deactivated`, `2:compromised`.
    pub versions: Vec<String>,
}

/// A key whose stored state differs from the backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConflictingKey {
    /// Its id.
    pub key_id: String,
    /// Its tenant.
    pub tenant: String,
    /// Its name.
    pub name: String,
    /// How the store differs.
    pub reason: String,
}

/// A key as a backup's manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BackedUpKey {
    /// The key's id.
    pub key_id: String,
    /// Its tenant.
    pub tenant: String,
    /// Its name.
    pub name: String,
    /// Its purpose.
    pub purpose: String,
    /// Version count (included keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<u32>,
    /// Why it is excluded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a recovery drill proved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DrillReport {
    /// `drl_` and 24 hex digits; the audit event carries it.
    pub drill_id: String,
    /// The backup drilled.
    pub backup_id: String,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub backed_up_at: OffsetDateTime,
    /// `passed` or `failed`.
    pub result: String,
    /// Whether the bundle's end tag verified.
    pub authenticated: bool,
    /// Keys the header announces.
    pub keys_in_bundle: u64,
    /// Keys restored into the scratch store with every version checked.
    pub keys_verified: u64,
    /// Versions whose material passed the KCV and test-vector checks.
    pub versions_verified: u64,
    /// Destroyed versions (no material; their records were restored).
    pub versions_without_material: u64,
    /// Keys the backup left out.
    pub keys_excluded: u64,
    /// What failed.
    pub failures: Vec<DrillFailure>,
    /// How long the drill took.
    pub duration_ms: u64,
}

/// One failure found by a drill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DrillFailure {
    /// The key's id.
    pub key_id: String,
    /// Its tenant and name.
    pub key: String,
    /// The version, when the failure is one version's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// What failed.
    pub reason: String,
}

/// What `POST /v1/backups/{id}/share` returns, once.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CollectedShare {
    /// The backup.
    pub backup_id: String,
    /// The share's text (`ksb1.…`), for the holder's share file.
    pub share: Secret,
}
