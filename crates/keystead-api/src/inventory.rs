//! `/v1/inventory`, reviews and anomalies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::keys::Key;

/// Query of `GET /v1/inventory` (the `inventory list` filters).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InventoryQuery {
    /// Only this tenant.
    pub tenant: Option<String>,
    /// Keys with a version in one of these states (comma-separated).
    pub state: Option<String>,
    /// Only this purpose.
    pub purpose: Option<String>,
    /// Only this algorithm.
    pub algorithm: Option<String>,
    /// Only this owner.
    pub owner: Option<String>,
    /// Only this environment.
    pub environment: Option<String>,
    /// Only this usage context.
    pub usage_context: Option<String>,
    /// Labels `k=v`, comma-separated; all must match.
    pub label: Option<String>,
    /// Created before (RFC 3339).
    pub created_before: Option<String>,
    /// Created at or after (RFC 3339).
    pub created_after: Option<String>,
    /// Newest version created before (RFC 3339).
    pub rotated_before: Option<String>,
    /// Newest version created at or after (RFC 3339).
    pub rotated_after: Option<String>,
    /// Only keys past a cryptoperiod now.
    #[serde(default)]
    pub past_cryptoperiod: bool,
    /// Only keys whose owner is empty, disabled or expired.
    #[serde(default)]
    pub no_owner: bool,
    /// Only keys not reviewed since (RFC 3339, or a duration such as `90d`).
    pub not_reviewed_since: Option<String>,
    /// Only keys whose review is overdue under the review policy.
    #[serde(default)]
    pub review_overdue: bool,
    /// Only keys used since (RFC 3339, or a duration such as `30d`).
    pub used_since: Option<String>,
    /// Only keys not used since (RFC 3339 or a duration); never-used keys included.
    pub unused_since: Option<String>,
    /// `name` (default), `created`, `rotated` or `owner`.
    pub sort: Option<String>,
    /// Reverse the order.
    #[serde(default)]
    pub descending: bool,
    /// Keys to skip.
    pub offset: Option<u64>,
    /// Keys per page (default 100, at most 10,000).
    pub limit: Option<u32>,
}

/// One page of the inventory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InventoryPage {
    /// Keys matching, over all pages.
    pub total: u64,
    /// Keys skipped before this page.
    pub offset: u64,
    /// The page.
    pub keys: Vec<InventoryItem>,
    /// The offset of the next page, if there is one.
    pub next_offset: Option<u64>,
}

/// One key in the inventory: the key and what the inventory computes of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InventoryItem {
    /// The key and its versions.
    #[serde(flatten)]
    pub key: Key,
    /// When its newest version was created.
    #[serde(with = "time::serde::rfc3339")]
    pub last_rotated_at: OffsetDateTime,
    /// When the rotation period makes the next rotation due, if it has one.
    #[serde(with = "time::serde::rfc3339::option")]
    pub rotation_due_at: Option<OffsetDateTime>,
    /// Whether a rotation or an originator-usage period is overdue now.
    pub past_cryptoperiod: bool,
    /// `active`, `disabled`, `expired`, `not-a-principal` (a team or system name) or `none`.
    pub owner_status: String,
    /// The newest review.
    pub last_review: Option<ReviewRecord>,
    /// The newest successful use of any of its versions, if any.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// When the next review is due under the review policy.
    #[serde(with = "time::serde::rfc3339")]
    pub review_due_at: OffsetDateTime,
    /// Whether that is past.
    pub review_overdue: bool,
}

/// Body of `POST /v1/keys/{key}/reviews`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// What the owner checked and attests.
    pub attestation: String,
    /// The key's tenant.
    pub tenant: Option<String>,
}

/// An owner's periodic review of a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReviewRecord {
    /// The key.
    pub key_id: String,
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

/// Query of `GET /v1/anomalies`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnomalyQuery {
    /// Only this rule (purpose-violation, compromised-key-use, unfamiliar-destroyer,
    /// denial-burst, past-cryptoperiod-use, outside-change-window).
    pub rule: Option<String>,
    /// Only raised at or after this RFC 3339 time.
    pub since: Option<String>,
    /// At most this many (newest first; default 1000).
    pub limit: Option<u32>,
}

/// A finding of the anomaly rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Anomaly {
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
    pub key_id: Option<String>,
    /// What happened, in a sentence.
    pub summary: String,
    /// The audit events behind it and the figures that tripped the rule.
    pub evidence: BTreeMap<String, String>,
}
