//! The JSON form of the reports.

use keystead_api as api;
use keystead_service::report::compliance::{ComplianceReport, ControlAssessment, Evidence, Status};
use keystead_service::report::inventory::{InventoryReport, ReportRow, Totals};
use keystead_service::{KeyAssessment, RecoveryAssessment};

use super::{count, IntoWire};

impl IntoWire for &InventoryReport {
    type Wire = api::report::InventoryReport;
    fn into_wire(self) -> api::report::InventoryReport {
        let rows = |rows: &[ReportRow]| rows.iter().map(IntoWire::into_wire).collect();
        api::report::InventoryReport {
            generated_at: self.generated_at.clone(),
            node: self.node.clone(),
            environment: self.environment.clone(),
            scope: self.scope.clone(),
            review_interval_days: self.review_interval_days,
            totals: (&self.totals).into_wire(),
            near_cryptoperiod: rows(&self.near_cryptoperiod),
            past_cryptoperiod: rows(&self.past_cryptoperiod),
            rotations_due: rows(&self.rotations_due),
            compromised: rows(&self.compromised),
            destroyed: rows(&self.destroyed),
            no_owner: rows(&self.no_owner),
            review_overdue: rows(&self.review_overdue),
            versions: rows(&self.versions),
        }
    }
}

impl IntoWire for &Totals {
    type Wire = api::report::InventoryTotals;
    fn into_wire(self) -> api::report::InventoryTotals {
        api::report::InventoryTotals {
            keys: self.keys,
            versions: self.versions,
            versions_by_state: self.versions_by_state.clone(),
            keys_by_purpose: self.keys_by_purpose.clone(),
            keys_by_algorithm: self.keys_by_algorithm.clone(),
            keys_by_environment: self.keys_by_environment.clone(),
            keys_by_owner: self.keys_by_owner.clone(),
            keys_by_usage_context: self.keys_by_usage_context.clone(),
        }
    }
}

impl IntoWire for &ReportRow {
    type Wire = api::report::InventoryRow;
    fn into_wire(self) -> api::report::InventoryRow {
        let r = self.clone();
        api::report::InventoryRow {
            tenant: r.tenant,
            key: r.key,
            key_id: r.key_id,
            version: r.version,
            state: r.state,
            purpose: r.purpose,
            algorithm: r.algorithm,
            environment: r.environment,
            usage_context: r.usage_context,
            owner: r.owner,
            owner_status: r.owner_status,
            classification: r.classification,
            criticality: r.criticality,
            created_at: r.created_at,
            activated_at: r.activated_at,
            cryptoperiod_ends_at: r.cryptoperiod_ends_at,
            incident: r.incident,
            compromised_at: r.compromised_at,
            destroyed_at: r.destroyed_at,
            last_review_at: r.last_review_at,
            review_overdue: r.review_overdue,
        }
    }
}

impl IntoWire for &ComplianceReport {
    type Wire = api::report::ComplianceReport;
    fn into_wire(self) -> api::report::ComplianceReport {
        api::report::ComplianceReport {
            generated_at: self.generated_at.clone(),
            node: self.node.clone(),
            environment: self.environment.clone(),
            window_days: self.window_days,
            controls: self.controls.iter().map(IntoWire::into_wire).collect(),
        }
    }
}

impl IntoWire for &ControlAssessment {
    type Wire = api::report::ControlAssessment;
    fn into_wire(self) -> api::report::ControlAssessment {
        api::report::ControlAssessment {
            id: self.id.to_owned(),
            title: self.title.to_owned(),
            question: self.question.to_owned(),
            status: match self.status {
                Status::Met => api::report::ControlStatus::Met,
                Status::PartlyMet => api::report::ControlStatus::PartlyMet,
                Status::NotMet => api::report::ControlStatus::NotMet,
            },
            reason: self.reason.clone(),
            evidence: self.evidence.iter().map(IntoWire::into_wire).collect(),
            standards: self.standards.iter().map(|s| (*s).to_owned()).collect(),
            sample_next: self.sample_next.clone(),
        }
    }
}

impl IntoWire for &Evidence {
    type Wire = api::report::Evidence;
    fn into_wire(self) -> api::report::Evidence {
        api::report::Evidence {
            name: self.name.clone(),
            value: self.value.clone(),
            source: self.source.clone(),
        }
    }
}

impl IntoWire for &RecoveryAssessment {
    type Wire = api::report::RecoveryAssessment;
    fn into_wire(self) -> api::report::RecoveryAssessment {
        api::report::RecoveryAssessment {
            generated_at: self.generated_at.clone(),
            keys: count(self.keys),
            matrix: self.matrix.clone(),
            mismatches: count(self.mismatches),
            assessments: self.assessments.iter().map(IntoWire::into_wire).collect(),
            notes: self.notes.clone(),
        }
    }
}

impl IntoWire for &KeyAssessment {
    type Wire = api::report::KeyAssessment;
    fn into_wire(self) -> api::report::KeyAssessment {
        let a = self.clone();
        api::report::KeyAssessment {
            tenant: a.tenant,
            key: a.key,
            purpose: a.purpose,
            criticality: a.criticality,
            classification: a.classification,
            recoverable: a.recoverable,
            continuity: a.continuity,
            continuity_level: a.continuity_level.to_owned(),
            continuity_factors: a.continuity_factors,
            exposure: a.exposure,
            exposure_level: a.exposure_level.to_owned(),
            exposure_factors: a.exposure_factors,
            recommend_recoverable: a.recommend_recoverable,
            recommendation: a.recommendation,
            mismatch: a.mismatch,
        }
    }
}
