//! `recovery assess` (CEK-20): weighs, for every key, the risk to operational continuity if
//! it were lost against the risk of its material leaking through a recovery path, shows the
//! matrix, flags policies that do not fit, and recommends one.
//!
//! The scores are simple and stated: an auditor can recompute each from the key's attributes.

use std::collections::BTreeMap;

use keystead_core::{AuditAction, Environment, KeyState, Purpose};
use keystead_store::inventory::{InventoryFilter, InventoryQuery};
use keystead_store::{Change, StoredKey};
use serde::Serialize;
use time::OffsetDateTime;

use super::resolve::parse_tenant;
use crate::{Caller, Error, Service};

/// Whether a key of this purpose protects stored data: losing it loses the data; a signing or
/// MAC key is replaced instead (a new key signs from now on).
pub fn protects_data(purpose: Purpose) -> bool {
    matches!(purpose, Purpose::Encrypt | Purpose::Wrap | Purpose::AsymmetricDecrypt)
}

/// The default recovery policy of a new key: recoverable when it protects stored data.
pub fn default_recoverable(purpose: Purpose) -> bool {
    protects_data(purpose)
}

/// `low`, `medium` or `high` for a 0–10 score.
fn level(score: u32) -> &'static str {
    match score {
        0..=3 => "low",
        4..=6 => "medium",
        _ => "high",
    }
}

/// One key's assessment.
#[derive(Clone, Debug, Serialize)]
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
    /// Continuity impact if the key were lost, 0–10, with its parts.
    pub continuity: u32,
    /// `low`, `medium`, `high`.
    pub continuity_level: &'static str,
    /// Why: the parts of the score.
    pub continuity_factors: Vec<String>,
    /// Exposure through recovery copies, 0–10, with its parts.
    pub exposure: u32,
    /// `low`, `medium`, `high`.
    pub exposure_level: &'static str,
    /// Why: the parts of the score.
    pub exposure_factors: Vec<String>,
    /// The recommended policy.
    pub recommend_recoverable: bool,
    /// Why.
    pub recommendation: String,
    /// Set when the policy does not fit the assessment.
    pub mismatch: Option<String>,
}

/// The whole assessment.
#[derive(Clone, Debug, Serialize)]
pub struct RecoveryAssessment {
    /// When.
    pub generated_at: String,
    /// Keys assessed.
    pub keys: usize,
    /// Counts by continuity level (rows) and exposure level (columns).
    pub matrix: BTreeMap<String, BTreeMap<String, u64>>,
    /// Keys whose policy does not fit.
    pub mismatches: usize,
    /// Every key.
    pub assessments: Vec<KeyAssessment>,
    /// How the scores were counted.
    pub notes: Vec<String>,
}

/// A backup as the assessment counts it: when it was made and how its key was split.
#[derive(Clone, Copy, Debug)]
pub struct BackupCopy {
    /// When it was made.
    pub at: OffsetDateTime,
    /// Shares issued (N): how many people hold a part of it.
    pub shares: u8,
    /// Shares needed (M).
    pub threshold: u8,
}

/// Assesses one key at `now`, given the backups on record.
pub fn assess(stored: &StoredKey, now: OffsetDateTime, backups: &[BackupCopy]) -> KeyAssessment {
    let a = &stored.attributes;
    let mut continuity_factors = Vec::new();
    let criticality = match a.criticality.as_str() {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        _ => 1,
    };
    continuity_factors.push(format!("criticality {} +{criticality}", a.criticality));
    let classification = match a.classification.as_str() {
        "restricted" => 3,
        "confidential" => 2,
        "internal" => 1,
        _ => 0,
    };
    continuity_factors.push(format!("classification {} +{classification}", a.classification));
    let decrypting = stored
        .versions
        .iter()
        .filter(|v| {
            matches!(
                v.info.state,
                KeyState::Active | KeyState::Suspended | KeyState::Deactivated | KeyState::Compromised
            )
        })
        .count();
    let mut continuity = criticality + classification;
    if protects_data(a.purpose) && decrypting > 0 {
        continuity += 2;
        continuity_factors.push(format!("protects stored data ({}) +2", a.purpose));
        if decrypting > 1 {
            continuity += 1;
            continuity_factors.push(format!("{decrypting} versions still needed for decryption +1"));
        }
    } else if !protects_data(a.purpose) {
        continuity_factors.push(format!("{} key: replaced, not recovered +0", a.purpose));
    }
    let continuity = continuity.min(10);

    // Backups made since the key was created hold a copy of it while it is recoverable.
    let copies: Vec<&BackupCopy> =
        if a.recoverable { backups.iter().filter(|b| b.at >= a.created_at).collect() } else { Vec::new() };
    let copy_score = match copies.len() {
        0 => 0,
        1..=2 => 1,
        _ => 2,
    };
    let holders = copies.iter().map(|b| u32::from(b.shares)).max().unwrap_or(0);
    // Few shares needed from many holders: a smaller group can open a copy.
    let holder_score = u32::from(copies.iter().any(|b| b.shares >= 2 * b.threshold));
    let mut exposure_factors = vec![format!("backup copies: {} +{copy_score}", copies.len())];
    if holders > 0 {
        exposure_factors.push(format!("share holders: up to {holders} +{holder_score}"));
    }
    let environment = match a.environment {
        Environment::Production => 3,
        Environment::Staging => 2,
        Environment::Development | Environment::Test => 1,
    };
    exposure_factors.push(format!("environment {} +{environment}", a.environment));
    exposure_factors
        .push(format!("classification {} (what a leak exposes) +{classification}", a.classification));
    let years = u32::try_from((now - a.created_at).whole_days().max(0) / 365).unwrap_or(u32::MAX).min(3);
    if years > 0 {
        exposure_factors.push(format!("age {years} year(s) +{years}"));
    }
    let compromised = stored
        .versions
        .iter()
        .any(|v| matches!(v.info.state, KeyState::Compromised | KeyState::DestroyedCompromised));
    let history = if compromised { 3 } else { 0 };
    if compromised {
        exposure_factors.push("compromise history +3".to_owned());
    }
    let exposure = (copy_score + holder_score + environment + classification + years + history).min(10);

    let (continuity_level, exposure_level) = (level(continuity), level(exposure));
    let (recommend_recoverable, recommendation) = if !protects_data(a.purpose) {
        (false, format!("a {} key can be replaced: a new key takes over, nothing is lost; a recovery copy would only add exposure", a.purpose))
    } else if continuity_level == "low" && exposure_level != "low" {
        (
            false,
            "losing it costs little, and a recovery copy would add exposure: rotate or re-create instead"
                .to_owned(),
        )
    } else if decrypting == 0 {
        (false, "no version can decrypt any more: nothing left to recover".to_owned())
    } else {
        (true, format!("data protected by it would be lost with it (continuity {continuity_level}): keep it recoverable, under split-knowledge backups"))
    };
    let mismatch = match (a.recoverable, recommend_recoverable) {
        (false, true) if continuity_level == "high" => {
            Some("critical data key marked non-recoverable: losing it loses the data it protects".to_owned())
        }
        (false, true) => Some("data key marked non-recoverable".to_owned()),
        (true, false) => {
            Some("marked recoverable without need: a recovery copy only adds exposure".to_owned())
        }
        _ if continuity_level == "low" && copies.len() >= 3 => Some(format!(
            "low-value key with {} backup copies: each copy adds exposure for little continuity",
            copies.len()
        )),
        _ => None,
    };
    KeyAssessment {
        tenant: a.tenant.to_string(),
        key: a.name.to_string(),
        purpose: a.purpose.to_string(),
        criticality: a.criticality.to_string(),
        classification: a.classification.to_string(),
        recoverable: a.recoverable,
        continuity,
        continuity_level,
        continuity_factors,
        exposure,
        exposure_level,
        exposure_factors,
        recommend_recoverable,
        recommendation,
        mismatch,
    }
}

impl Service {
    /// Every backup made, from the audit log.
    async fn backup_copies(&self) -> Result<Vec<BackupCopy>, Error> {
        let filter = keystead_store::AuditFilter {
            actions: vec![AuditAction::BackupCreate],
            outcome: Some(keystead_core::Outcome::Success),
            ..keystead_store::AuditFilter::default()
        };
        Ok(self
            .store
            .audit_events(&filter)
            .await?
            .into_iter()
            .map(|r| {
                let number = |name: &str| r.event.details.get(name).and_then(|v| v.parse().ok()).unwrap_or(0);
                BackupCopy {
                    at: r.event.occurred_at,
                    shares: number("shares"),
                    threshold: number("threshold"),
                }
            })
            .collect())
    }

    /// Assesses every key the caller may read (a tenant's when it is confined to one), and
    /// audits the assessment.
    pub async fn recovery_assess(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
    ) -> Result<RecoveryAssessment, Error> {
        let requested = tenant;
        let (_, mut event) = self.attempt_in_tenant(caller, requested, AuditAction::RecoveryAssess).await?;
        let result = async {
            self.authorize(caller, keystead_core::Action::ReadKeys, None)?;
            let requested = parse_tenant(requested)?;
            let tenant = caller.listing_scope(requested.as_ref())?;
            let now = self.now();
            let backups = self.backup_copies().await?;
            let mut assessments = Vec::new();
            loop {
                let query = InventoryQuery {
                    filter: InventoryFilter { tenant: tenant.clone(), ..InventoryFilter::default() },
                    offset: assessments.len() as u64,
                    limit: 5_000,
                    ..InventoryQuery::default()
                };
                let page = self.store.inventory(&query).await?;
                let read = page.entries.len();
                assessments.extend(page.entries.iter().map(|e| assess(&e.key, now, &backups)));
                if read < 5_000 {
                    break;
                }
            }
            let mut matrix: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
            for row in ["low", "medium", "high"] {
                matrix.insert(
                    row.into(),
                    ["low", "medium", "high"].iter().map(|c| ((*c).to_owned(), 0)).collect(),
                );
            }
            for a in &assessments {
                *matrix
                    .entry(a.continuity_level.into())
                    .or_default()
                    .entry(a.exposure_level.into())
                    .or_default() += 1;
            }
            Ok(RecoveryAssessment {
                generated_at: now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                keys: assessments.len(),
                matrix,
                mismatches: assessments.iter().filter(|a| a.mismatch.is_some()).count(),
                assessments,
                notes: vec![format!(
                    "{} backup(s) on record (audit log: backup.create); a key counts a copy for each backup made since its creation while it is recoverable",
                    backups.len()
                )],
            })
        }
        .await;
        let assessment = self.finish(event.clone(), result).await?;
        event.details.insert("keys".into(), assessment.keys.to_string());
        event.details.insert("mismatches".into(), assessment.mismatches.to_string());
        self.store.commit(Change::AuditOnly, event).await?;
        Ok(assessment)
    }
}

impl RecoveryAssessment {
    /// Markdown: the matrix, the mismatches, then every key.
    pub fn to_markdown(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!(
            "# Key recovery assessment\n\nGenerated {}; {} key(s), {} policy mismatch(es).\n\n## Matrix (continuity × exposure)\n\n| continuity \\\\ exposure | low | medium | high |\n|---|---|---|---|\n",
            self.generated_at, self.keys, self.mismatches
        );
        for row in ["high", "medium", "low"] {
            let cells = &self.matrix[row];
            let _ = writeln!(out, "| {row} | {} | {} | {} |", cells["low"], cells["medium"], cells["high"]);
        }
        out.push_str("\n## Keys\n\n| key | purpose | policy | continuity | exposure | recommended | mismatch |\n|---|---|---|---|---|---|---|\n");
        for a in &self.assessments {
            let policy = |r: bool| if r { "recoverable" } else { "non-recoverable" };
            let _ = writeln!(
                out,
                "| {}/{} | {} | {} | {} ({}) | {} ({}) | {} | {} |",
                a.tenant,
                a.key,
                a.purpose,
                policy(a.recoverable),
                a.continuity_level,
                a.continuity,
                a.exposure_level,
                a.exposure,
                policy(a.recommend_recoverable),
                a.mismatch.as_deref().unwrap_or("")
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "\nNote: {note}");
        }
        out
    }
}
