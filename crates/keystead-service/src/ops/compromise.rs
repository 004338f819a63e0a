//! `key compromise` (CEK-19): from the commit on, on every node, the versions never protect
//! (outside an approved exception) and process only for incident responders with a
//! justification. Reporting is unilateral and immediate: it only ever restricts.

use keystead_core::key::CompromiseRecord;
use keystead_core::{Action, AuditAction, KeyState};
use keystead_store::VersionUpdate;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::lifecycle::{moved, select_versions, target_state};
use crate::error::invalid;
use crate::{Caller, Error, KeyView, Service};

/// A compromise report.
#[derive(Clone, Debug, Default)]
pub struct CompromiseReport {
    /// One version, or every version that is not compromised yet.
    pub version: Option<u32>,
    /// The incident (security event record) id.
    pub incident: String,
    /// When the compromise happened, RFC 3339.
    pub occurred_at: String,
    /// Why the key is considered compromised.
    pub reason: String,
}

/// A report may name a time at most this far ahead of the server's clock (clock skew).
const FUTURE_TOLERANCE: time::Duration = time::Duration::minutes(5);

/// Versions a compromise report can apply to.
const REPORTABLE: &[KeyState] =
    &[KeyState::PreActive, KeyState::Active, KeyState::Suspended, KeyState::Deactivated, KeyState::Destroyed];

impl Service {
    /// Marks versions compromised (incident responders and key custodians).
    pub async fn compromise_key(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        report: CompromiseReport,
    ) -> Result<KeyView, Error> {
        let reporter = caller.principal.clone();
        self.managed(caller, tenant, key, AuditAction::KeyCompromise, Action::ReportCompromise, move |service, stored, event| {
            Box::pin(async move {
                let printable = |s: &str, max: usize| !s.trim().is_empty() && s.len() <= max && !s.chars().any(char::is_control);
                if !printable(&report.incident, 128) {
                    return Err(invalid("incident", "give the incident id, 1 to 128 printable characters"));
                }
                if !printable(&report.reason, 1024) {
                    return Err(invalid("reason", "say why, 1 to 1024 printable characters"));
                }
                let occurred_at = OffsetDateTime::parse(report.occurred_at.trim(), &Rfc3339)
                    .map_err(|_| invalid("occurred-at", "an RFC 3339 time such as 2026-11-25T08:00:00Z"))?;
                let now = service.now();
                if occurred_at > now + FUTURE_TOLERANCE {
                    return Err(invalid("occurred-at", "lies in the future"));
                }
                let record = CompromiseRecord {
                    incident: report.incident.trim().to_owned(),
                    occurred_at,
                    reported_at: now,
                    reported_by: reporter,
                    reason: report.reason.trim().to_owned(),
                };
                event.details.insert("incident".into(), record.incident.clone());
                event.details.insert("occurred_at".into(), report.occurred_at.trim().to_owned());
                event.details.insert("compromise_reason".into(), record.reason.clone());
                let targets = select_versions(&stored, report.version, REPORTABLE, KeyState::Compromised)?;
                let updates = targets
                    .iter()
                    .map(|v| {
                        let mut info = moved(&v.info, target_state(v.info.state, KeyState::Compromised), now);
                        info.compromise = Some(record.clone());
                        VersionUpdate::of(&v.info, info)
                    })
                    .collect();
                let view = service.commit_versions(stored.clone(), updates, event, "key.compromised").await?;
                if view.primary_version.is_none() {
                    tracing::warn!(key = %stored.attributes.name, "key has no usable version after a compromise report; rotate it");
                }
                Ok(view)
            })
        })
        .await
    }
}
