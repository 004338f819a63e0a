//! The inventory's questions (CEK-21): which keys match a filter, who reviewed them, which
//! anomalies were raised. Types only; the queries are in `sql/inventory.rs`.

use std::collections::BTreeMap;

use keystead_core::{Algorithm, Environment, KeyId, KeyState, Purpose, Tenant, UsageContext};
use serde::Serialize;
use time::OffsetDateTime;

use crate::StoredKey;

/// Which keys `inventory list` shows. Every field narrows; an empty filter matches every key,
/// destroyed tombstones included.
#[derive(Clone, Debug, Default)]
pub struct InventoryFilter {
    /// Only this tenant.
    pub tenant: Option<Tenant>,
    /// Keys with at least one version in one of these states.
    pub states: Vec<KeyState>,
    /// Only this purpose.
    pub purpose: Option<Purpose>,
    /// Only this algorithm.
    pub algorithm: Option<Algorithm>,
    /// Only this owner.
    pub owner: Option<String>,
    /// Only this environment.
    pub environment: Option<Environment>,
    /// Only this usage context.
    pub usage_context: Option<UsageContext>,
    /// Keys carrying all these labels.
    pub labels: BTreeMap<String, String>,
    /// Created before this time.
    pub created_before: Option<OffsetDateTime>,
    /// Created at or after this time.
    pub created_after: Option<OffsetDateTime>,
    /// Newest version created before this time.
    pub rotated_before: Option<OffsetDateTime>,
    /// Newest version created at or after this time.
    pub rotated_after: Option<OffsetDateTime>,
    /// Keys past a cryptoperiod at this time: a rotation overdue (the newest version older
    /// than the rotation period while a version is active) or an active version past its
    /// originator-usage period.
    pub past_cryptoperiod_at: Option<OffsetDateTime>,
    /// Keys without an owner at this time: the owner is empty or names a disabled or expired
    /// principal.
    pub no_owner_at: Option<OffsetDateTime>,
    /// Keys with no review at or after this time.
    pub not_reviewed_since: Option<OffsetDateTime>,
    /// Only keys used (successfully, any version) at or after this time.
    pub used_since: Option<OffsetDateTime>,
    /// Only keys not used at or after this time (never-used keys included).
    pub unused_since: Option<OffsetDateTime>,
}

/// How `inventory list` orders keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InventorySort {
    /// By tenant, then name.
    #[default]
    Name,
    /// By creation time.
    Created,
    /// By the newest version's creation time.
    Rotated,
    /// By owner, then name.
    Owner,
}

/// One page of a filtered, sorted inventory.
#[derive(Clone, Debug, Default)]
pub struct InventoryQuery {
    /// What to match.
    pub filter: InventoryFilter,
    /// The order.
    pub sort: InventorySort,
    /// Newest or last first.
    pub descending: bool,
    /// Keys to skip.
    pub offset: u64,
    /// Keys to return at most.
    pub limit: u32,
}

/// A key as the inventory lists it.
#[derive(Clone, Debug)]
pub struct InventoryEntry {
    /// The key and every version (tombstones included).
    pub key: StoredKey,
    /// Its newest review, if any.
    pub last_review: Option<ReviewRecord>,
    /// Its newest successful use (of any version), if any.
    pub last_used_at: Option<OffsetDateTime>,
}

/// One key version's successful uses of one operation, kept by the audit writer.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct UsageRecord {
    /// The version.
    pub version: u32,
    /// The operation (`encrypt`, `decrypt`, `sign`, ...).
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

/// A page of the inventory and the number of keys matching in all.
#[derive(Clone, Debug)]
pub struct InventoryPage {
    /// Keys matching the filter, over all pages.
    pub total: u64,
    /// This page.
    pub entries: Vec<InventoryEntry>,
}

/// An owner's (or custodian's) attestation that a key is still needed and correctly described.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ReviewRecord {
    /// The key.
    pub key_id: KeyId,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub reviewed_at: OffsetDateTime,
    /// Who.
    pub reviewer: String,
    /// Whether the reviewer is the key's owner.
    pub as_owner: bool,
    /// What they attest.
    pub attestation: String,
}

/// A finding of an anomaly rule over the audit stream.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AnomalyRecord {
    /// Its id.
    pub id: String,
    /// The rule that raised it.
    pub rule: String,
    /// The rule and its subject: the same finding is raised once.
    pub dedupe: String,
    /// `high`, `medium` or `low`.
    pub severity: String,
    /// When it was raised.
    #[serde(with = "time::serde::rfc3339")]
    pub detected_at: OffsetDateTime,
    /// When the (last) event behind it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The principal concerned.
    pub actor: String,
    /// The tenant concerned.
    pub tenant: String,
    /// The key concerned, if any.
    pub key_id: Option<KeyId>,
    /// What happened, in a sentence.
    pub summary: String,
    /// The audit events behind it and the figures that tripped the rule.
    pub evidence: BTreeMap<String, String>,
}

/// Which anomalies to list.
#[derive(Clone, Debug, Default)]
pub struct AnomalyFilter {
    /// Only this rule.
    pub rule: Option<String>,
    /// Only about this key.
    pub key_id: Option<KeyId>,
    /// Only raised at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Only about this tenant.
    pub tenant: Option<String>,
    /// At most this many (newest first), default 1000.
    pub limit: Option<u32>,
}
