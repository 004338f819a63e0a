//! The JSON form of the reports: inventory, compliance, recovery assessment. (The server
//! also renders them as CSV, Markdown or HTML; those are files, not JSON.)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Query of the report routes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `json` (default), `csv`, `md` or `html`, as the report offers.
    pub format: Option<String>,
    /// Only this tenant (the inventory report and the recovery assessment).
    pub tenant: Option<String>,
}

/// The inventory report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InventoryReport {
    /// When it was made (RFC 3339).
    pub generated_at: String,
    /// The node that made it.
    pub node: String,
    /// The environment it covers.
    pub environment: String,
    /// `all tenants` or the tenant.
    pub scope: String,
    /// The review policy.
    pub review_interval_days: i64,
    /// The totals.
    pub totals: InventoryTotals,
    /// Active versions whose cryptoperiod ends within 30 days.
    pub near_cryptoperiod: Vec<InventoryRow>,
    /// Active versions past their cryptoperiod.
    pub past_cryptoperiod: Vec<InventoryRow>,
    /// Keys whose next rotation is due within 30 days or overdue (their newest version).
    pub rotations_due: Vec<InventoryRow>,
    /// Compromised versions (destroyed ones included).
    pub compromised: Vec<InventoryRow>,
    /// Destroyed versions (tombstones).
    pub destroyed: Vec<InventoryRow>,
    /// Keys with no owner (empty, disabled or expired), by their newest version.
    pub no_owner: Vec<InventoryRow>,
    /// Keys whose review is overdue, by their newest version.
    pub review_overdue: Vec<InventoryRow>,
    /// Every version.
    pub versions: Vec<InventoryRow>,
}

/// Counts of the inventory report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InventoryTotals {
    /// Keys.
    pub keys: u64,
    /// Versions.
    pub versions: u64,
    /// Versions by state.
    pub versions_by_state: BTreeMap<String, u64>,
    /// Keys by purpose.
    pub keys_by_purpose: BTreeMap<String, u64>,
    /// Keys by algorithm.
    pub keys_by_algorithm: BTreeMap<String, u64>,
    /// Keys by environment.
    pub keys_by_environment: BTreeMap<String, u64>,
    /// Keys by owner.
    pub keys_by_owner: BTreeMap<String, u64>,
    /// Keys by usage context.
    pub keys_by_usage_context: BTreeMap<String, u64>,
}

/// One version in the inventory report (the CSV's row). Empty text means "none".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[allow(missing_docs, reason = "the columns of docs/inventory.md's report table")]
pub struct InventoryRow {
    pub tenant: String,
    pub key: String,
    pub key_id: String,
    pub version: u32,
    pub state: String,
    pub purpose: String,
    pub algorithm: String,
    pub environment: String,
    pub usage_context: String,
    pub owner: String,
    pub owner_status: String,
    pub classification: String,
    pub criticality: String,
    pub created_at: String,
    pub activated_at: String,
    pub cryptoperiod_ends_at: String,
    pub incident: String,
    pub compromised_at: String,
    pub destroyed_at: String,
    pub last_review_at: String,
    pub review_overdue: bool,
}

/// The compliance report: one assessment per control.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ComplianceReport {
    /// When it was made (RFC 3339).
    pub generated_at: String,
    /// By which node.
    pub node: String,
    /// For which environment.
    pub environment: String,
    /// Event counts cover this many days.
    pub window_days: i64,
    /// One per control.
    pub controls: Vec<ControlAssessment>,
}

/// Whether a control holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ControlStatus {
    /// Every check holds.
    #[serde(rename = "met")]
    Met,
    /// Enforced, with gaps the reason names.
    #[serde(rename = "partly met")]
    PartlyMet,
    /// A check fails.
    #[serde(rename = "not met")]
    NotMet,
}

/// One control's assessment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ControlAssessment {
    /// e.g. `CEK-21`.
    pub id: String,
    /// The control's name.
    pub title: String,
    /// Its AI-CAIQ question.
    pub question: String,
    /// The status.
    pub status: ControlStatus,
    /// Why.
    pub reason: String,
    /// The figures.
    pub evidence: Vec<Evidence>,
    /// Mapped standards and CCM v4 id.
    pub standards: Vec<String>,
    /// What an auditor should look at next.
    pub sample_next: Vec<String>,
}

/// One figure behind an assessment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Evidence {
    /// What is counted.
    pub name: String,
    /// The figure: a count, a flag, a text or a list, as the evidence needs. Free-form by
    /// design (on the OpenAPI allow-list): each figure has its own shape.
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
    /// Where it comes from (the query that counts it).
    pub source: String,
}

/// The recovery assessment: each key's continuity impact against its exposure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecoveryAssessment {
    /// When (RFC 3339).
    pub generated_at: String,
    /// Keys assessed.
    pub keys: u64,
    /// Counts by continuity level (rows) and exposure level (columns).
    pub matrix: BTreeMap<String, BTreeMap<String, u64>>,
    /// Keys whose policy does not fit.
    pub mismatches: u64,
    /// Every key.
    pub assessments: Vec<KeyAssessment>,
    /// How the scores were counted.
    pub notes: Vec<String>,
}

/// One key's recovery assessment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyAssessment {
    /// Tenant.
    pub tenant: String,
    /// Key name.
    pub key: String,
    /// Purpose.
    pub purpose: String,
    /// Criticality.
    pub criticality: String,
    /// Classification.
    pub classification: String,
    /// The policy now: recoverable or not.
    pub recoverable: bool,
    /// Continuity impact if the key were lost, 0–10.
    pub continuity: u32,
    /// `low`, `medium`, `high`.
    pub continuity_level: String,
    /// The parts of the continuity score.
    pub continuity_factors: Vec<String>,
    /// Exposure through recovery copies, 0–10.
    pub exposure: u32,
    /// `low`, `medium`, `high`.
    pub exposure_level: String,
    /// The parts of the exposure score.
    pub exposure_factors: Vec<String>,
    /// The recommended policy.
    pub recommend_recoverable: bool,
    /// Why.
    pub recommendation: String,
    /// Set when the policy does not fit the assessment.
    pub mismatch: Option<String>,
}
