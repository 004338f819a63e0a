//! `compliance report` (CEK-10, 11, 19, 20, 21): for each control and its AI-CAIQ question,
//! a status with its reason, the evidence figures, the mapped standards and what an auditor
//! should sample next. Every figure comes from a query over live data, named in `source`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use keystead_core::{AuditAction, KeyState, Operation, Outcome, Purpose};
use keystead_store::inventory::{InventoryEntry, InventoryFilter, InventoryQuery};
use keystead_store::{AuditFilter, Change, StoredKey};
use serde::Serialize;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;

use super::render::{html, page, table};
use crate::ops::inventory::owner_status;
use crate::{Caller, Error, Service};

/// Event counts cover this many days.
pub const WINDOW_DAYS: i64 = 30;

/// A control's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Status {
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

impl Status {
    fn text(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::PartlyMet => "partly met",
            Status::NotMet => "not met",
        }
    }
}

/// One figure and the query behind it.
#[derive(Clone, Debug, Serialize)]
pub struct Evidence {
    /// What is counted.
    pub name: String,
    /// The figure.
    pub value: Value,
    /// Where it comes from.
    pub source: String,
}

/// One control's assessment.
#[derive(Clone, Debug, Serialize)]
pub struct ControlAssessment {
    /// e.g. `CEK-21`.
    pub id: &'static str,
    /// The control's name.
    pub title: &'static str,
    /// Its AI-CAIQ question.
    pub question: &'static str,
    /// The status.
    pub status: Status,
    /// Why.
    pub reason: String,
    /// The figures.
    pub evidence: Vec<Evidence>,
    /// Mapped standards and CCM v4 id.
    pub standards: Vec<&'static str>,
    /// What an auditor should look at next.
    pub sample_next: Vec<String>,
}

/// The compliance report.
#[derive(Clone, Debug, Serialize)]
pub struct ComplianceReport {
    /// When it was made.
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

fn evidence(name: &str, value: impl Into<Value>, source: &str) -> Evidence {
    Evidence { name: name.to_owned(), value: value.into(), source: source.to_owned() }
}

/// Rows a count query reads at most.
const CAP: u32 = 100_000;

/// A count from a capped query: a number, or a note that the cap was reached.
fn counted(n: usize) -> Value {
    if n >= CAP as usize {
        Value::String(format!("at least {CAP} (the query stops there)"))
    } else {
        Value::from(n as u64)
    }
}

fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        "n/a (none)".to_owned()
    } else {
        format!("{:.1}% ({part} of {whole})", part as f64 * 100.0 / whole as f64)
    }
}

fn event_ref(record: &keystead_store::AuditRecord) -> String {
    format!("{}:{}", record.event.node, record.node_sequence)
}

const PROTECT: &[AuditAction] =
    &[AuditAction::Encrypt, AuditAction::Sign, AuditAction::Mac, AuditAction::Wrap, AuditAction::DataKey];

impl Service {
    /// Builds the compliance report from live data and audits it. Principals that may read the
    /// audit log (auditors, incident responders) and belong to no tenant.
    pub async fn compliance_report(&self, caller: &Caller, format: &str) -> Result<ComplianceReport, Error> {
        let tenant = keystead_core::Tenant::default_tenant();
        let mut event = self.attempt(caller, AuditAction::ComplianceReport, &tenant);
        event.details.insert("format".into(), format.chars().take(8).collect());
        let result = async {
            self.authorize(caller, keystead_core::Action::ReadAudit, None)?;
            if caller.tenant.is_some() {
                return Err(Error::PermissionDenied {
                    reason:
                        "the compliance report covers every tenant; only a principal of no tenant reads it"
                            .into(),
                });
            }
            self.build_compliance_report().await
        }
        .await;
        let report = self.finish(event.clone(), result).await?;
        for control in &report.controls {
            event.details.insert(control.id.to_owned(), control.status.text().to_owned());
        }
        self.store.commit(Change::AuditOnly, event).await?;
        Ok(report)
    }

    async fn all_keys(&self) -> Result<Vec<InventoryEntry>, Error> {
        let mut keys = Vec::new();
        loop {
            let query = InventoryQuery {
                filter: InventoryFilter::default(),
                offset: keys.len() as u64,
                limit: 5_000,
                ..InventoryQuery::default()
            };
            let page = self.store.inventory(&query).await?;
            let read = page.entries.len();
            keys.extend(page.entries);
            if read < 5_000 {
                return Ok(keys);
            }
        }
    }

    pub(crate) async fn build_compliance_report(&self) -> Result<ComplianceReport, Error> {
        let now = self.now();
        let since = now - time::Duration::days(WINDOW_DAYS);
        let entries = self.all_keys().await?;
        let keys: Vec<StoredKey> = entries.iter().map(|e| e.key.clone()).collect();
        let controls = vec![
            self.cek_10(&keys, since).await?,
            self.cek_11(&keys, since).await?,
            self.cek_19(&keys).await?,
            self.cek_20(&keys).await?,
            self.cek_21(&entries, since).await?,
        ];
        Ok(ComplianceReport {
            generated_at: now.format(&Rfc3339).unwrap_or_default(),
            node: self.config.node.to_string(),
            environment: self.config.environment.to_string(),
            window_days: WINDOW_DAYS,
            controls,
        })
    }

    async fn cek_10(
        &self,
        keys: &[StoredKey],
        since: time::OffsetDateTime,
    ) -> Result<ControlAssessment, Error> {
        let all: Vec<_> = keys.iter().flat_map(|k| k.versions.iter().map(move |v| (k, v))).collect();
        // Imported material (bring your own key) was generated outside Keystead: it is counted
        // on its own and never credited to AWS-LC.
        let (imported, versions): (Vec<_>, Vec<_>) =
            all.iter().partition(|(_, v)| v.info.provenance.origin == keystead_core::key::Origin::External);
        let imported_with_material =
            imported.iter().filter(|(_, v)| v.info.provenance.imported.is_some()).count() as u64;
        let waiting = imported.len() as u64 - imported_with_material;
        let total = versions.len() as u64;
        let complete = versions
            .iter()
            .filter(|(_, v)| {
                let p = &v.info.provenance;
                p.library == "aws-lc-rs"
                    && !p.rng.is_empty()
                    && !p.entropy_source.is_empty()
                    && !p.node.is_empty()
                    && p.security_strength_bits > 0
            })
            .count() as u64;
        let weak = all
            .iter()
            .filter(|(k, _)| {
                k.attributes.algorithm.security_strength_bits() < self.config.minimum_strength_bits
            })
            .count() as u64;
        let refused = AuditFilter {
            since: Some(since),
            actions: vec![AuditAction::KeyCreate],
            outcome: Some(Outcome::Denied),
            limit: Some(CAP),
            ..AuditFilter::default()
        };
        let refused = self.store.audit_events(&refused).await?;
        let libraries: BTreeSet<String> = versions
            .iter()
            .map(|(_, v)| format!("{} {}", v.info.provenance.library, v.info.provenance.library_version))
            .collect();
        let status = self.status();
        let imported_note = if imported.is_empty() {
            String::new()
        } else {
            format!(
                "; {} version(s) hold imported material (origin external: generated outside Keystead, not attested) \
                 and {waiting} wait for their import, counted separately",
                imported_with_material
            )
        };
        let (state, reason) = if complete == total && weak == 0 && !status.self_tests.is_empty() {
            (Status::Met, format!("every generated version has complete generation provenance from aws-lc-rs, none is below the minimum strength, and the known-answer self-tests passed at start{imported_note}"))
        } else if weak > 0 {
            (
                Status::NotMet,
                format!(
                    "{weak} version(s) are below the minimum strength of {} bits",
                    self.config.minimum_strength_bits
                ),
            )
        } else {
            (Status::PartlyMet, format!("{} version(s) lack complete provenance", total - complete))
        };
        let mut sample = Vec::new();
        if let Some((k, v)) = versions.iter().max_by_key(|(_, v)| v.info.created_at) {
            sample.push(format!(
                "compare the provenance of {} version {} (`keystead key show {}`) with its key.create audit event",
                k.attributes.name, v.info.number, k.attributes.name
            ));
        }
        sample.extend(refused.iter().rev().take(3).map(|r| {
            format!(
                "refused generation {} by {}: {}",
                event_ref(r),
                r.event.actor,
                r.event.reason.clone().unwrap_or_default()
            )
        }));
        Ok(ControlAssessment {
            id: "CEK-10",
            title: "Key Generation",
            question: "Are cryptographic keys generated using industry-accepted and approved cryptographic libraries that specify algorithm strength and random number generator specifications?",
            status: state,
            reason,
            evidence: vec![
                evidence("generated versions with complete provenance", share(complete, total), "inventory: every version's provenance (library, RNG, entropy source, node, strength)"),
                evidence("versions with imported material (origin external, not attested)", imported_with_material, "inventory: provenance origin external, with who imported it, when and how it was wrapped"),
                evidence("external key versions waiting for material", waiting, "inventory: versions in state pending-import"),
                evidence("versions below the minimum strength", weak, "inventory: algorithm strength against the server's minimum"),
                evidence("minimum strength (bits)", self.config.minimum_strength_bits, "server configuration"),
                evidence("generating libraries", libraries.into_iter().collect::<Vec<_>>().join(", "), "inventory: provenance library and version"),
                evidence("crypto library in use", status.crypto_library, "server status"),
                evidence("FIPS mode", status.fips, "server status"),
                evidence("self-tests passed at start", status.self_tests.len() as u64, "server status: known-answer tests"),
                evidence(&format!("key generations refused ({WINDOW_DAYS} d)"), counted(refused.len()), "audit log: key.create denied"),
            ],
            standards: vec!["ISO/IEC 27001 A.8.24", "ISO/IEC 27002 8.24", "CCM v4 CEK-10"],
            sample_next: sample,
        })
    }

    async fn cek_11(
        &self,
        keys: &[StoredKey],
        since: time::OffsetDateTime,
    ) -> Result<ControlAssessment, Error> {
        let mut used: BTreeMap<keystead_core::KeyId, Vec<Operation>> = BTreeMap::new();
        for (key, action) in self.store.crypto_actions_by_key().await? {
            used.entry(key).or_default().extend(action.operation());
        }
        // More than one purpose: no single purpose allows every operation the key served.
        let multi: Vec<String> = used
            .iter()
            .filter(|(_, ops)| !Purpose::ALL.iter().any(|p| ops.iter().all(|op| op.allowed_for(*p))))
            .map(|(k, _)| k.to_string())
            .collect();
        let mismatched = used
            .iter()
            .filter(|(id, ops)| {
                keys.iter()
                    .find(|k| k.attributes.id == **id)
                    .is_some_and(|k| ops.iter().any(|op| !op.allowed_for(k.attributes.purpose)))
            })
            .count() as u64;
        let unspecified: Vec<&StoredKey> =
            keys.iter().filter(|k| k.attributes.usage_context.as_str() == "x-unspecified").collect();
        let violations = AuditFilter {
            since: Some(since),
            error_code: Some("purpose_violation".into()),
            limit: Some(CAP),
            ..AuditFilter::default()
        };
        let violations = self.store.audit_events(&violations).await?;
        let (status, reason) = if !multi.is_empty() || mismatched > 0 {
            (
                Status::NotMet,
                format!(
                    "{} key(s) were used for more than one purpose or outside their own",
                    multi.len().max(mismatched as usize)
                ),
            )
        } else if !unspecified.is_empty() {
            (Status::PartlyMet, format!("one purpose per key is enforced, but {} key(s) have no declared usage context (x-unspecified)", unspecified.len()))
        } else {
            (Status::Met, "every key has one purpose and a declared usage context, and no key was ever used outside its purpose".to_owned())
        };
        let mut sample: Vec<String> = violations
            .iter()
            .rev()
            .take(3)
            .map(|r| {
                format!(
                    "purpose refusal {}: {} asked {} for {}",
                    event_ref(r),
                    r.event.actor,
                    r.event.key_name.clone().unwrap_or_default(),
                    r.event.action
                )
            })
            .collect();
        sample.extend(
            unspecified
                .iter()
                .take(5)
                .map(|k| format!("declare the usage context of key {}", k.attributes.name)),
        );
        Ok(ControlAssessment {
            id: "CEK-11",
            title: "Key Purpose",
            question: "Are cryptographic secrets and private keys that are provisioned for a unique purpose properly managed?",
            status,
            reason,
            evidence: vec![
                evidence("keys used for more than one purpose", multi.len() as u64, "audit log: successful crypto operations grouped by key, mapped to purposes"),
                evidence("keys used outside their own purpose", mismatched, "audit log against the inventory's purpose"),
                evidence("keys without a declared usage context", unspecified.len() as u64, "inventory: usage context x-unspecified"),
                evidence(&format!("purpose violations refused ({WINDOW_DAYS} d)"), counted(violations.len()), "audit log: error code purpose_violation"),
            ],
            standards: vec!["ISO/IEC 27001 A.8.24", "ISO/IEC 27002 8.24", "CCM v4 CEK-11"],
            sample_next: sample,
        })
    }

    async fn cek_19(&self, keys: &[StoredKey]) -> Result<ControlAssessment, Error> {
        let mut compromised = 0u64;
        let mut outside = Vec::new();
        let mut justified = 0u64;
        let mut process_uses = 0u64;
        let mut sample = Vec::new();
        for key in keys {
            for version in &key.versions {
                let Some(record) = &version.info.compromise else { continue };
                compromised += 1;
                let after = AuditFilter {
                    key_id: Some(key.attributes.id),
                    since: Some(record.reported_at),
                    outcome: Some(Outcome::Success),
                    limit: Some(CAP),
                    ..AuditFilter::default()
                };
                for use_ in self.store.audit_events(&after).await? {
                    if use_.event.version != Some(version.info.number.get())
                        || use_.event.action.operation().is_none()
                    {
                        continue;
                    }
                    if PROTECT.contains(&use_.event.action) {
                        if !use_.event.details.contains_key("exceptional_use") {
                            outside.push(event_ref(&use_));
                        }
                    } else {
                        process_uses += 1;
                        if use_.event.details.contains_key("justification") {
                            justified += 1;
                        }
                    }
                }
                sample.push(format!(
                    "{} version {} (incident {}): `keystead audit list --key {}` for every use since the report",
                    key.attributes.name, version.info.number, record.incident, key.attributes.name
                ));
            }
        }
        let exceptions = self
            .store
            .approvals(&keystead_store::ApprovalFilter {
                operation: Some(keystead_core::approval::ApprovalOperation::CompromisedKeyException),
                ..keystead_store::ApprovalFilter::default()
            })
            .await?;
        let (status, reason) = if !outside.is_empty() {
            (
                Status::NotMet,
                format!(
                    "{} protect operation(s) used a compromised version outside an approved exception",
                    outside.len()
                ),
            )
        } else if justified < process_uses {
            (
                Status::PartlyMet,
                format!("{} use(s) of compromised versions carry no justification", process_uses - justified),
            )
        } else {
            (Status::Met, "compromised versions never protected outside an approved exception, and every decrypt-only use carries a justification linked to its incident".to_owned())
        };
        sample.extend(
            outside
                .iter()
                .take(5)
                .map(|e| format!("explain protect operation {e} with a compromised version")),
        );
        Ok(ControlAssessment {
            id: "CEK-19",
            title: "Key Compromise",
            question: "Are processes, procedures, and technical measures to use compromised keys to encrypt information in specific scenarios (e.g., only in controlled circumstances and thereafter only for data decryption and never for encryption) defined implemented, and evaluated including provisions for legal and regulatory requirement?",
            status,
            reason,
            evidence: vec![
                evidence("compromised versions", compromised, "inventory: versions with a compromise report"),
                evidence("protect operations with compromised versions outside approved exceptions", outside.len() as u64, "audit log: successful protect operations on each compromised version after its report, without an exception"),
                evidence("decrypt-only uses of compromised versions", process_uses, "audit log: successful process operations after the report"),
                evidence("of which justified", justified, "audit log: the justification recorded with each use"),
                evidence("exception requests (all time)", exceptions.len() as u64, "approvals: compromised-key-exception"),
            ],
            standards: vec!["ISO/IEC 27001 A.8.24", "ISO/IEC 27002 8.24", "CCM v4 CEK-19"],
            sample_next: sample,
        })
    }

    async fn cek_20(&self, keys: &[StoredKey]) -> Result<ControlAssessment, Error> {
        use keystead_core::approval::{ApprovalOperation, ApprovalStatus};
        use keystead_core::{AuditAction, Outcome};
        let recoverable = keys.iter().filter(|k| k.attributes.recoverable).count() as u64;
        let critical_unrecoverable: Vec<&StoredKey> = keys
            .iter()
            .filter(|k| {
                !k.attributes.recoverable
                    && matches!(k.attributes.criticality.as_str(), "high" | "critical")
                    && crate::ops::recovery::protects_data(k.attributes.purpose)
            })
            .collect();
        let recovery_events = |actions: Vec<AuditAction>| keystead_store::AuditFilter {
            actions,
            ..keystead_store::AuditFilter::default()
        };
        let drills = self.store.audit_events(&recovery_events(vec![AuditAction::RecoveryDrill])).await?;
        let backups: Vec<_> = self
            .store
            .audit_events(&recovery_events(vec![AuditAction::BackupCreate]))
            .await?
            .into_iter()
            .filter(|r| r.event.outcome == Outcome::Success)
            .collect();
        let restores = self.store.audit_events(&recovery_events(vec![AuditAction::KeyRecover])).await?;
        let reviews = self
            .store
            .approvals(&keystead_store::ApprovalFilter {
                operation: Some(ApprovalOperation::BreakGlassReview),
                ..keystead_store::ApprovalFilter::default()
            })
            .await?;
        let unreviewed: Vec<_> = reviews.iter().filter(|r| r.status != ApprovalStatus::Approved).collect();

        let now = self.now();
        let passed = |r: &&keystead_store::AuditRecord| {
            r.event.outcome == Outcome::Success
                && r.event.details.get("result").is_some_and(|v| v == "passed")
        };
        // Drills that ran (with a result); one refused before it ran (a mistyped share, no
        // permission) says nothing about the backup.
        let last_drill = drills.iter().rfind(|r| r.event.details.contains_key("result"));
        let last_passed = drills.iter().rfind(passed);
        let drill_fresh = last_passed.is_some_and(|r| {
            r.event.occurred_at + time::Duration::seconds(self.config.drill_interval_seconds) > now
        });
        let last_backup = backups.last().map(|r| r.event.occurred_at);
        // A drill proves the bundle it ran on: the newest backup this store made must be one.
        let newest_backup_id = backups.last().and_then(|r| r.event.details.get("backup_id"));
        let newest_drilled = newest_backup_id.is_none_or(|id| {
            drills.iter().any(|d| passed(&d) && d.event.details.get("backup_id") == Some(id))
        });
        // Recoverable keys changed since the newest backup (a new version, a state change): a
        // restore would bring back an older state, or lose a version.
        let uncovered: Vec<&StoredKey> = keys
            .iter()
            .filter(|k| k.attributes.recoverable && k.versions.iter().any(|v| v.sealed_material.is_some()))
            .filter(|k| last_backup.is_none_or(|at| k.attributes.updated_at > at))
            .collect();

        let (status, reason) = if !unreviewed.is_empty() {
            (
                Status::NotMet,
                format!(
                    "{} break-glass restore(s) without a quorum have not been signed off: {}",
                    unreviewed.len(),
                    unreviewed
                        .iter()
                        .map(|r| format!("{} ({})", r.id, r.status))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        } else if last_drill.is_some_and(|d| !passed(&d)) {
            (Status::NotMet, "the newest recovery drill failed: a backup did not prove restorable".to_owned())
        } else if !drill_fresh {
            (
                Status::PartlyMet,
                format!(
                    "no recovery drill passed in the last {} days, so restorability is not shown",
                    self.config.drill_interval_seconds / 86_400
                ),
            )
        } else if !newest_drilled {
            (
                Status::PartlyMet,
                format!(
                    "the newest backup ({}) has not passed a recovery drill",
                    newest_backup_id.map_or("?", String::as_str)
                ),
            )
        } else if !uncovered.is_empty() {
            (
                Status::PartlyMet,
                format!("{} recoverable key(s) changed since the newest backup", uncovered.len()),
            )
        } else if !critical_unrecoverable.is_empty() {
            (
                Status::PartlyMet,
                format!(
                    "{} critical or high data key(s) are marked non-recoverable: confirm the decision or change the policy",
                    critical_unrecoverable.len()
                ),
            )
        } else {
            (
                Status::Met,
                "every recoverable key is in a backup split M-of-N among recovery officers, the newest drill passed within the drill interval, and every break-glass restore is signed off".to_owned(),
            )
        };
        let mut sample: Vec<String> = unreviewed
            .iter()
            .take(5)
            .map(|r| format!("have {} signed off (`keystead approval show {}`)", r.key_name, r.id))
            .collect();
        sample.extend(uncovered.iter().take(5).map(|k| {
            format!(
                "back up again: {}/{} changed after the newest backup",
                k.attributes.tenant, k.attributes.name
            )
        }));
        sample.extend(critical_unrecoverable.iter().take(5).map(|k| {
            format!("confirm that critical data key {} should be non-recoverable", k.attributes.name)
        }));
        if let Some(drill) = last_drill {
            sample.push(format!(
                "re-run drill {} of backup {} with its share holders (`keystead recovery drill`)",
                drill.event.details.get("drill_id").map_or("?", String::as_str),
                drill.event.details.get("backup_id").map_or("?", String::as_str)
            ));
        }
        let drill_summary = |r: &keystead_store::AuditRecord| {
            json!({
                "at": crate::views::rfc3339(r.event.occurred_at),
                "drill": r.event.details.get("drill_id"),
                "backup": r.event.details.get("backup_id"),
                "result": r.event.details.get("result"),
                "keys_verified": r.event.details.get("keys_verified"),
                "failures": r.event.details.get("failures"),
                "duration_ms": r.event.details.get("duration_ms"),
                "event": event_ref(r),
            })
        };
        let seal = self.seal_status();
        Ok(ControlAssessment {
            id: "CEK-20",
            title: "Key Recovery",
            question: "Are processes, procedures, and technical measures to assess operational continuity risks (versus the risk of losing control of keying material and exposing protected data) defined, implemented, and evaluated, including provisions for legal and regulatory requirement provisions?",
            status,
            reason,
            evidence: vec![
                evidence("keys marked recoverable", share(recoverable, keys.len() as u64), "inventory: recovery policy per key"),
                evidence("critical or high data keys marked non-recoverable", critical_unrecoverable.len() as u64, "inventory: criticality against recovery policy"),
                evidence("backups made", backups.len() as u64, "audit log: backup.create, success"),
                evidence("newest backup", last_backup.map_or(json!("none"), |at| json!(crate::views::rfc3339(at))), "audit log: backup.create"),
                evidence("recoverable keys changed after the newest backup", uncovered.len() as u64, "inventory: each key's last change against the newest backup"),
                evidence("last recovery drill", last_drill.map_or(json!("none"), drill_summary), "audit log: recovery.drill"),
                evidence("last passed recovery drill", last_passed.map_or(json!("none"), drill_summary), "audit log: recovery.drill with result passed"),
                evidence("keys restored from backups", restores.iter().filter(|r| r.event.outcome == Outcome::Success).count() as u64, "audit log: key.recover"),
                evidence("break-glass restores", reviews.len() as u64, "approvals: break-glass-review"),
                evidence("break-glass restores not signed off", unreviewed.len() as u64, "approvals: break-glass-review not approved"),
                evidence("root key seal", json!({ "kind": seal.kind, "threshold": seal.threshold, "shares": seal.shares }), "seal status"),
            ],
            standards: vec!["ISO/IEC 27001 A.8.24", "ISO/IEC 27001 6.1.2", "ISO/IEC 27002 8.24", "ISO/IEC 27002 5.7", "CCM v4 CEK-20"],
            sample_next: sample,
        })
    }

    async fn cek_21(
        &self,
        entries: &[InventoryEntry],
        since: time::OffsetDateTime,
    ) -> Result<ControlAssessment, Error> {
        let keys: Vec<&StoredKey> = entries.iter().map(|e| &e.key).collect();
        let now = self.now();
        let principals: BTreeMap<String, keystead_store::StoredPrincipal> =
            self.store.principals().await?.into_iter().map(|p| (p.name.clone(), p)).collect();
        let no_owner: Vec<&StoredKey> = keys
            .iter()
            .copied()
            .filter(|k| {
                matches!(owner_status(&k.attributes.owner, &principals, now), "none" | "disabled" | "expired")
            })
            .collect();
        let overdue: Vec<&StoredKey> = entries
            .iter()
            .filter(|e| self.review_due_at(&e.key, e.last_review.as_ref()) <= now)
            .map(|e| &e.key)
            .collect();
        let versions: u64 = keys.iter().map(|k| k.versions.len() as u64).sum();
        let tombstones = keys
            .iter()
            .flat_map(|k| &k.versions)
            .filter(|v| matches!(v.info.state, KeyState::Destroyed | KeyState::DestroyedCompromised))
            .count() as u64;
        let chain = self.verify_chains().await?;
        let changes = AuditFilter {
            since: Some(since),
            actions: AuditAction::STATUS_CHANGES.to_vec(),
            outcome: Some(Outcome::Success),
            limit: Some(CAP),
            ..AuditFilter::default()
        };
        let changes = counted(self.store.audit_events(&changes).await?.len());
        let anomalies = self
            .store
            .anomalies(&keystead_store::inventory::AnomalyFilter {
                since: Some(since),
                limit: Some(CAP),
                ..Default::default()
            })
            .await?;
        let high_severity = anomalies.iter().filter(|a| a.severity == "high").count();
        let mut by_rule: BTreeMap<String, u64> = BTreeMap::new();
        for a in &anomalies {
            *by_rule.entry(a.rule.clone()).or_default() += 1;
        }
        let verified_at = now.format(&Rfc3339).unwrap_or_default();
        let (status, reason) = if !chain.intact() {
            (
                Status::NotMet,
                format!(
                    "the audit chain is broken: {}",
                    chain
                        .breaks
                        .iter()
                        .map(|b| format!("node {} event {}: {}", b.0, b.1, b.2))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            )
        } else if let Some(node) = chain.nodes.iter().find(|n| n.checkpoints == 0) {
            (
                Status::PartlyMet,
                format!("the audit chain links, but no signed checkpoint covers node {} yet", node.node),
            )
        } else if !no_owner.is_empty() || !overdue.is_empty() {
            (Status::PartlyMet, format!("the inventory and its tamper-evident history are complete, but {} key(s) have no owner and {} review(s) are overdue", no_owner.len(), overdue.len()))
        } else {
            (Status::Met, "every key and version is inventoried with an owner and a current review, and every node's audit chain verifies with signed checkpoints".to_owned())
        };
        let mut sample = vec![format!("export the audit log and verify it offline: `keystead audit export --out F` then `keystead audit verify --file F --public-key PEM`")];
        // Findings that are not breaks (a stopped or retired node, a gap between checkpoints)
        // do not change the status but are for the auditor to look into.
        sample.extend(chain.warnings.iter().map(|w| format!("audit chain: {w}")));
        sample.extend(overdue.iter().take(5).map(|k| {
            format!("review of key {} (owner {}) is overdue", k.attributes.name, k.attributes.owner)
        }));
        sample.extend(no_owner.iter().take(5).map(|k| {
            format!("assign an owner to key {} (owner {} is gone)", k.attributes.name, k.attributes.owner)
        }));
        // High severity first: the ones to look into.
        let mut ordered: Vec<_> = anomalies.iter().collect();
        ordered.sort_by_key(|a| a.severity != "high");
        sample.extend(
            ordered
                .iter()
                .take(5)
                .map(|a| format!("anomaly {} ({}, {}): {}", a.id, a.rule, a.severity, a.summary)),
        );
        Ok(ControlAssessment {
            id: "CEK-21",
            title: "Key Inventory Management",
            question: "Are key management system processes, procedures, and technical measures defined, implemented, and evaluated to track and report all cryptographic materials and status changes including provisions for legal and regulatory requirements?",
            status,
            reason,
            evidence: vec![
                evidence("keys in the inventory", keys.len() as u64, "inventory"),
                evidence("versions in the inventory", versions, "inventory"),
                evidence("destroyed versions kept as tombstones", tombstones, "inventory: destroyed states"),
                evidence("keys with no owner", no_owner.len() as u64, "inventory against principals (empty, disabled, expired)"),
                evidence("keys with an overdue review", overdue.len() as u64, &format!("inventory reviews against the {}-day policy", self.config.review_interval_seconds / 86_400)),
                evidence(&format!("status changes recorded ({WINDOW_DAYS} d)"), changes, "audit log: successful lifecycle, review, approval and exception events"),
                evidence("audit chain verified at", verified_at, "audit verify, run for this report"),
                evidence("audit chain intact", chain.intact(), "audit verify"),
                evidence("audit events verified", chain.events, "audit verify"),
                evidence("signed checkpoints verified", chain.checkpoints, "audit verify with the audit signing key"),
                evidence(&format!("anomalies raised ({WINDOW_DAYS} d)"), json!(by_rule), "anomaly records by rule"),
                evidence(&format!("high-severity anomalies raised ({WINDOW_DAYS} d)"), counted(high_severity), "anomaly records of severity high"),
                evidence("audit chain findings", chain.warnings.len() as u64, "audit verify: stopped nodes, checkpoint gaps, unsigned chains"),
            ],
            standards: vec!["ISO/IEC 27001 A.8.24", "ISO/IEC 27001 A.12.4.1", "ISO/IEC 27002 8.24", "ISO/IEC 27002 12.4.1", "CCM v4 CEK-21"],
            sample_next: sample,
        })
    }
}

/// Text made inert in Markdown: no links, images, HTML, emphasis or table breaks can come
/// from key names, reasons or summaries that principals wrote.
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '!' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            other => out.push(other),
        }
    }
    out
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Object(map) if map.is_empty() => "none".to_owned(),
        other => other.to_string(),
    }
}

impl ComplianceReport {
    /// Markdown, for a ticket or a repository.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "# Keystead compliance evidence\n\nGenerated {} by node {} for environment {}; event counts cover the last {} days.\n\n| Control | Status | Reason |\n|---|---|---|\n",
            self.generated_at, self.node, self.environment, self.window_days
        );
        let cell = |s: &str| md(s);
        for c in &self.controls {
            let _ = writeln!(out, "| {} {} | **{}** | {} |", c.id, c.title, c.status.text(), cell(&c.reason));
        }
        for c in &self.controls {
            let _ = write!(
                out,
                "\n## {} {} — {}\n\n> {}\n\n{}\n\n| Evidence | Value | Source |\n|---|---|---|\n",
                c.id,
                c.title,
                c.status.text(),
                md(c.question),
                md(&c.reason)
            );
            for e in &c.evidence {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    cell(&e.name),
                    cell(&value_text(&e.value)),
                    cell(&e.source)
                );
            }
            let _ = write!(out, "\nStandards: {}\n\nSample next:\n", c.standards.join(", "));
            for s in &c.sample_next {
                let _ = writeln!(out, "- {}", md(s));
            }
        }
        out
    }

    /// One self-contained HTML page.
    pub fn to_html(&self) -> String {
        let mut body = format!(
            "<h1>Keystead compliance evidence</h1><p class=\"meta\">generated {} · node {} · environment {} · event counts over {} days</p>",
            html(&self.generated_at),
            html(&self.node),
            html(&self.environment),
            self.window_days
        );
        body.push_str("<table><thead><tr><th>Control</th><th>Status</th><th>Reason</th></tr></thead><tbody>");
        for c in &self.controls {
            let class = match c.status {
                Status::Met => "status-met",
                Status::PartlyMet => "status-partly",
                Status::NotMet => "status-not",
            };
            let _ = write!(
                body,
                "<tr><td>{} {}</td><td class=\"{class}\">{}</td><td>{}</td></tr>",
                html(c.id),
                html(c.title),
                c.status.text(),
                html(&c.reason)
            );
        }
        body.push_str("</tbody></table>");
        for c in &self.controls {
            let _ = write!(
                body,
                "<h2>{} {} — {}</h2><p><em>{}</em></p><p>{}</p>",
                html(c.id),
                html(c.title),
                c.status.text(),
                html(c.question),
                html(&c.reason)
            );
            let rows: Vec<Vec<String>> = c
                .evidence
                .iter()
                .map(|e| vec![e.name.clone(), value_text(&e.value), e.source.clone()])
                .collect();
            body.push_str(&table(&["Evidence", "Value", "Source"], &rows, 100));
            let _ =
                write!(body, "<p>Standards: {}</p><p>Sample next:</p><ul>", html(&c.standards.join(", ")));
            for s in &c.sample_next {
                let _ = write!(body, "<li>{}</li>", html(s));
            }
            body.push_str("</ul>");
        }
        page("Keystead compliance evidence", &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_from_principals_is_inert() {
        let hostile = "![x](http://evil) <img src=x> [link](y) | *bold* `code`\n# heading";
        assert_eq!(
            md(hostile),
            r"\!\[x\](http://evil) \<img src=x\> \[link\](y) \| \*bold\* \`code\` \# heading"
        );
    }
}
