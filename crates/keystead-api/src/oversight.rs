//! Compromise, destruction, approvals, exceptions and webhooks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::Secret;

/// `POST /v1/keys/{key}/compromise`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Compromise {
    /// One version; every version not compromised yet when absent.
    pub version: Option<u32>,
    /// The incident (security event record) id.
    pub incident: String,
    /// When the compromise happened (RFC 3339); data protected after it is flagged.
    pub occurred_at: String,
    /// Why the key is considered compromised.
    pub reason: String,
    /// The tenant.
    pub tenant: Option<String>,
}

/// `POST /v1/keys/{key}/destroy`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Destroy {
    /// One version; every version with material when absent.
    pub version: Option<u32>,
    /// The waiting period after approval, such as `7d` (the default).
    pub after: Option<String>,
    /// Why.
    pub justification: Option<String>,
    /// How long the request stays open for approvals (at most the configured TTL).
    pub expires_in: Option<String>,
    /// The tenant.
    pub tenant: Option<String>,
}

/// `POST /v1/keys/{key}/exceptions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestException {
    /// The compromised version; the newest compromised one when absent.
    pub version: Option<u32>,
    /// The protect operation, e.g. `encrypt`.
    pub operation: String,
    /// The window, such as `1h`, from the approval on.
    #[serde(rename = "for")]
    pub duration: String,
    /// Why.
    pub justification: String,
    /// How long the request stays open for approvals.
    pub expires_in: Option<String>,
    /// The tenant.
    pub tenant: Option<String>,
}

/// Query of `GET /v1/approvals`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApprovalQuery {
    /// Only this status: pending, approved, rejected, expired, closed.
    pub status: Option<String>,
}

/// `POST /v1/approvals/{id}/approve` and `/reject`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoteBody {
    /// The reason (required to reject).
    pub reason: Option<String>,
}

/// A request for a quorum's approval, its votes and what it still needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Approval {
    /// `apr_` and 32 hex digits.
    pub id: String,
    /// What runs once approved, e.g. `destroy`, `exception`, `restore-backup`.
    pub operation: String,
    /// The key's tenant.
    pub tenant: String,
    /// The key, for a request about one key.
    pub key_id: Option<String>,
    /// The key's name when the request was made, or what the request is about.
    pub key_name: String,
    /// The version, if the request is for one.
    pub version: Option<u32>,
    /// Who asked.
    pub requester: String,
    /// `pending`, `approved`, `rejected`, `expired` or `closed`.
    pub status: String,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Undecided by then, it expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was approved, rejected, expired or closed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    /// The requester's justification.
    pub justification: String,
    /// The approvals it needs.
    pub policy: ApprovalPolicy,
    /// The operation's parameters (e.g. `after_seconds`, `operation`, `for_seconds`).
    pub parameters: BTreeMap<String, String>,
    /// The votes so far, oldest first.
    pub votes: Vec<Vote>,
    /// Approvals still missing per role (empty once decided).
    pub still_needed: BTreeMap<String, u32>,
    /// For an approved exception: when its window closes.
    #[serde(with = "time::serde::rfc3339::option")]
    pub window_closes_at: Option<OffsetDateTime>,
}

/// The approvals a request needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApprovalPolicy {
    /// Approvals needed per role.
    pub required: BTreeMap<String, u32>,
}

/// One approver's decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Vote {
    /// The approver.
    pub principal: String,
    /// The role the approval counts for.
    pub role: String,
    /// Approved (true) or rejected.
    pub approve: bool,
    /// The approver's reason (required for a rejection).
    pub reason: Option<String>,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// `POST /v1/webhooks`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddWebhook {
    /// Where notifications are POSTed.
    pub url: String,
    /// Event types or patterns such as `approval.*`.
    pub events: Vec<String>,
}

/// A webhook and its delivery counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Webhook {
    /// `whk_` and 32 hex digits.
    pub id: String,
    /// Where notifications are POSTed.
    pub url: String,
    /// The subscribed event types or patterns.
    pub events: Vec<String>,
    /// When it was added.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who added it.
    pub created_by: String,
    /// Whether notifications are queued and delivered for it.
    pub enabled: bool,
    /// When its signing secret was last replaced, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub secret_rotated_at: Option<OffsetDateTime>,
    /// Deliveries waiting or being retried.
    pub pending: u64,
    /// Deliveries done.
    pub delivered: u64,
    /// Deliveries given up after the retry window.
    pub expired: u64,
    /// The newest failure, if any.
    pub last_error: Option<String>,
}

/// What `POST /v1/webhooks` and `/v1/webhooks/{id}/rotate-secret` return, once.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddedWebhook {
    /// The webhook.
    pub webhook: Webhook,
    /// The HMAC-SHA256 signing secret; shown once.
    pub secret: Secret,
}

/// Query of `GET /v1/webhooks/deliveries`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only this webhook.
    pub webhook: Option<String>,
}

/// One notification to one webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    /// Notification id and webhook id.
    pub id: String,
    /// The webhook.
    pub webhook_id: String,
    /// The event type.
    pub event_type: String,
    /// `pending`, `delivered` or `expired`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// When it was queued.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The next attempt, while pending.
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    /// Given up after this.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was delivered.
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    /// The last failure (status code or transport error).
    pub last_error: Option<String>,
}
