//! Bodies of the lifecycle and oversight routes: compromise, destruction, approvals,
//! exceptions, webhooks, rewrap.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `POST /v1/keys/{key}/compromise`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApprovalQuery {
    /// Only this status: pending, approved, rejected, expired, closed.
    pub status: Option<String>,
}

/// `POST /v1/approvals/{id}/approve` and `/reject`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoteBody {
    /// The reason (required to reject).
    pub reason: Option<String>,
}

/// `POST /v1/webhooks`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddWebhook {
    /// Where notifications are POSTed.
    pub url: String,
    /// Event types or patterns such as `approval.*`.
    pub events: Vec<String>,
}

/// What `POST /v1/webhooks` returns, once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AddedWebhook {
    /// The webhook.
    #[schema(value_type = Object)]
    pub webhook: keystead_service::WebhookView,
    /// The HMAC-SHA256 signing secret; shown once.
    pub secret: String,
}

/// Query of `GET /v1/webhooks/deliveries`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only this webhook.
    pub webhook: Option<String>,
}

/// `POST /v1/rewrap`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rewrap {
    /// A `ks1:` ciphertext.
    pub ciphertext: String,
    /// The context given at encryption (kept for the new ciphertext).
    #[serde(default)]
    pub context: BTreeMap<String, String>,
    /// Why a compromised key is used (incident responders).
    pub justification: Option<String>,
    /// The systems whose data is processed (with `justification`).
    #[serde(default)]
    pub affected_systems: Vec<String>,
    /// Rewrap data that may be an attacker's (protected after the compromise); refused
    /// otherwise.
    #[serde(default)]
    pub accept_suspect: bool,
}

impl std::fmt::Debug for AddedWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AddedWebhook(redacted)")
    }
}

/// Body of `POST /v1/keys/{key}/reviews`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// What the owner checked and attests (the key is still needed, its owner, purpose and
    /// labels are right).
    pub attestation: String,
    /// The key's tenant.
    pub tenant: Option<String>,
}

/// Query of `GET /v1/anomalies`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
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

/// Query of the report routes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `json` (default), `csv`, `md` or `html`, as the report offers.
    pub format: Option<String>,
    /// Only this tenant (the inventory report).
    pub tenant: Option<String>,
}
