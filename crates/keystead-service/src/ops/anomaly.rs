//! Anomaly detection over the audit stream (CEK-19, CEK-21): rules read each new audit event
//! once, and each finding is an anomaly record, a metric and an `anomaly.detected` webhook
//! event, committed together with its own audit event.
//!
//! Nodes share one cursor (the last global sequence scanned, compare-and-set in `meta`), and
//! every finding has a dedupe key, so two nodes scanning at once raise it once. A gap in the
//! sequence younger than a minute is waited for (a transaction that took its number earlier
//! may still commit); an older gap is a rolled-back transaction and is passed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use keystead_core::{AuditAction, AuditEvent, KeyId, KeyState, Outcome};
use keystead_store::inventory::{AnomalyFilter, AnomalyRecord};
use keystead_store::{AuditFilter, AuditRecord, Change, StoredKey};
use serde::Serialize;
use time::OffsetDateTime;

use crate::{Caller, Error, Service};

/// The shared cursor's name in `meta`.
const CURSOR: &str = "anomaly_cursor";
/// Events read per scan.
pub(crate) const SCAN_BATCH: u32 = 2_000;
/// Attempts at one event before the scanner passes it (logged as an error).
const MAX_ATTEMPTS: u32 = 5;
/// How long a gap in the sequence is waited for.
const GAP_WAIT_SECONDS: i64 = 60;

/// The rules and their settings (`[anomaly]` in the server configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnomalyRules {
    /// A request asked a key for an operation its purpose does not allow.
    pub purpose_violation: bool,
    /// Any use or attempted use of a compromised key version.
    pub compromised_key_use: bool,
    /// A compromise report or destruction request by a principal who never managed the key
    /// (never created, rotated, activated, suspended, resumed, deactivated or reviewed it)
    /// and does not own it.
    pub unfamiliar_destroyer: bool,
    /// At least `count` denied requests from one principal within `window_seconds`.
    pub denial_burst: Option<(usize, i64)>,
    /// A protect operation with a version past its cryptoperiod (rotation or
    /// originator-usage period): once per key version and day.
    pub past_cryptoperiod_use: bool,
    /// Lifecycle changes by people outside this window (the scheduler's own are exempt, and
    /// so are compromise reports: an incident does not wait for office hours).
    pub change_window: Option<ChangeWindow>,
}

impl Default for AnomalyRules {
    fn default() -> Self {
        Self {
            purpose_violation: true,
            compromised_key_use: true,
            unfamiliar_destroyer: true,
            denial_burst: Some((10, 60)),
            past_cryptoperiod_use: true,
            change_window: None,
        }
    }
}

/// Days and UTC hours when lifecycle changes are expected, e.g. `mon-fri 08:00-18:00`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeWindow {
    /// Monday first.
    days: [bool; 7],
    /// Minutes after midnight UTC, start inclusive, end exclusive.
    start: u32,
    end: u32,
    text: String,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl std::str::FromStr for ChangeWindow {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("change window {text:?}: expected e.g. \"mon-fri 08:00-18:00\" (UTC)");
        let (days_text, hours) = text.trim().split_once(' ').ok_or_else(bad)?;
        let day = |name: &str| DAYS.iter().position(|d| *d == name.to_ascii_lowercase()).ok_or_else(bad);
        let mut days = [false; 7];
        for part in days_text.split(',') {
            match part.split_once('-') {
                Some((from, to)) => {
                    let (from, to) = (day(from)?, day(to)?);
                    if from > to {
                        return Err(bad());
                    }
                    days[from..=to].iter_mut().for_each(|d| *d = true);
                }
                None => days[day(part)?] = true,
            }
        }
        let minute = |hhmm: &str| -> Result<u32, String> {
            let (h, m) = hhmm.split_once(':').ok_or_else(bad)?;
            let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
            if h > 24 || m > 59 || h * 60 + m > 24 * 60 {
                return Err(bad());
            }
            Ok(h * 60 + m)
        };
        let (start, end) = hours.trim().split_once('-').ok_or_else(bad)?;
        let (start, end) = (minute(start)?, minute(end)?);
        if start >= end {
            return Err(bad());
        }
        Ok(Self { days, start, end, text: text.trim().to_owned() })
    }
}

impl ChangeWindow {
    /// Whether `at` falls inside the window.
    pub fn contains(&self, at: OffsetDateTime) -> bool {
        let at = at.to_offset(time::UtcOffset::UTC);
        let minute = u32::from(at.hour()) * 60 + u32::from(at.minute());
        self.days[usize::from(at.weekday().number_days_from_monday())]
            && minute >= self.start
            && minute < self.end
    }
}

/// What one scan did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AnomalyScan {
    /// Events read.
    pub events: usize,
    /// Anomalies raised.
    pub raised: usize,
}

/// Counts raised by this process, by rule, for the metrics endpoint.
#[derive(Debug, Default)]
pub(crate) struct AnomalyCounts(Mutex<BTreeMap<&'static str, u64>>);

impl AnomalyCounts {
    pub(crate) fn add(&self, rule: &'static str) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(rule).or_default() += 1;
    }

    fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// The rules' names, as recorded and as labels of `keystead_anomalies_total`.
pub const ANOMALY_RULES: &[&str] = &[
    "purpose-violation",
    "compromised-key-use",
    "unfamiliar-destroyer",
    "denial-burst",
    "past-cryptoperiod-use",
    "outside-change-window",
    // Raised by the restore itself (`backup/restore.rs`), not by a scan of the audit stream.
    "break-glass-restore",
];

/// A finding before it is stored.
struct Finding {
    rule: &'static str,
    dedupe: String,
    severity: &'static str,
    summary: String,
    evidence: BTreeMap<String, String>,
}

fn event_ref(record: &AuditRecord) -> String {
    format!("{}:{}", record.event.node, record.node_sequence)
}

fn is_crypto(action: AuditAction) -> bool {
    action.as_str().starts_with("crypto.")
}

/// Whether the event records a protect operation (a rewrap protects under the primary).
fn is_protect(action: AuditAction) -> bool {
    action.operation().is_some_and(|op| op.class() == keystead_core::OperationClass::Protect)
}

/// Actions that count as having managed a key.
const MANAGEMENT: &[AuditAction] = &[
    AuditAction::KeyCreate,
    AuditAction::KeyRotate,
    AuditAction::KeyActivate,
    AuditAction::KeyDeactivate,
    AuditAction::KeySuspend,
    AuditAction::KeyResume,
    AuditAction::KeyReview,
];

/// Per-scan memory: keys read, each actor's recent denials.
#[derive(Default)]
struct ScanState {
    keys: HashMap<KeyId, Option<StoredKey>>,
    denials: HashMap<String, VecDeque<OffsetDateTime>>,
}

impl Service {
    /// Anomalies raised by this process since it started, by rule.
    pub fn anomaly_counts(&self) -> BTreeMap<&'static str, u64> {
        self.anomaly_counts.snapshot()
    }

    /// Anomalies, newest first (`inventory anomalies`).
    pub async fn list_anomalies(
        &self,
        caller: &Caller,
        rule: Option<String>,
        since: Option<OffsetDateTime>,
        limit: Option<u32>,
    ) -> Result<Vec<AnomalyRecord>, Error> {
        self.guard(caller, AuditAction::AuditRead, keystead_core::Action::ReadAudit).await?;
        let tenant = caller.tenant.as_ref().map(|t| t.to_string());
        Ok(self.store.anomalies(&AnomalyFilter { rule, key_id: None, since, tenant, limit }).await?)
    }

    /// Reads the audit events after the shared cursor and raises what the rules find.
    pub async fn detect_anomalies(&self) -> Result<AnomalyScan, Error> {
        let cursor_text = self.store.meta(CURSOR).await?;
        let cursor: i64 = cursor_text.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0);
        let filter =
            AuditFilter { after_sequence: Some(cursor), limit: Some(SCAN_BATCH), ..AuditFilter::default() };
        let records = self.store.audit_events(&filter).await?;
        let now = self.now();
        let mut scan = AnomalyScan::default();
        let mut state = ScanState::default();
        let mut reached = cursor;
        let mut failure = None;
        for record in &records {
            if record.sequence != reached + 1 && !self.gap_given_up(reached + 1, now) {
                break;
            }
            match self.scan_one(record, &mut state).await {
                Ok(raised) => scan.raised += raised,
                Err(err) if self.failed_too_often(record.sequence) => {
                    // One bad event must not stop detection for good.
                    tracing::error!(sequence = record.sequence, error = %err, "anomaly rules failed on this audit event {MAX_ATTEMPTS} times; passing it");
                }
                Err(err) => {
                    // Keep what was scanned; this event is tried again on the next run.
                    failure = Some(err);
                    break;
                }
            }
            scan.events += 1;
            reached = record.sequence;
        }
        if reached != cursor {
            // Another node advancing it first is fine: what both saw is raised once.
            self.store.swap_meta(CURSOR, cursor_text.as_deref(), &reached.to_string()).await?;
        }
        match failure {
            Some(err) => Err(err),
            None => Ok(scan),
        }
    }

    async fn scan_one(&self, record: &AuditRecord, state: &mut ScanState) -> Result<usize, Error> {
        let mut raised = 0;
        for finding in self.findings(record, state).await? {
            if self.raise(record, finding).await? {
                raised += 1;
            }
        }
        Ok(raised)
    }

    /// Counts a failed attempt at event `sequence`; whether it has failed often enough to pass.
    fn failed_too_often(&self, sequence: i64) -> bool {
        let mut failures = self.anomaly_failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        failures.retain(|seq, _| *seq >= sequence);
        let attempts = failures.entry(sequence).or_default();
        *attempts += 1;
        *attempts >= MAX_ATTEMPTS
    }

    /// Whether the scanner stops waiting for sequence `missing`: it waits a minute from when
    /// this process first saw the gap (on its own clock, not the next event's time), then
    /// takes it for a rolled-back transaction.
    fn gap_given_up(&self, missing: i64, now: OffsetDateTime) -> bool {
        let mut gaps = self.anomaly_gaps.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        gaps.retain(|seq, _| *seq >= missing);
        let first_seen = *gaps.entry(missing).or_insert(now);
        now - first_seen >= time::Duration::seconds(GAP_WAIT_SECONDS)
    }

    async fn stored_for_scan(&self, state: &mut ScanState, id: KeyId) -> Result<Option<StoredKey>, Error> {
        if let Some(found) = state.keys.get(&id) {
            return Ok(found.clone());
        }
        let found = self.store.key_by_id(id).await?;
        state.keys.insert(id, found.clone());
        Ok(found)
    }

    async fn findings(&self, record: &AuditRecord, state: &mut ScanState) -> Result<Vec<Finding>, Error> {
        let rules = &self.config.anomaly_rules;
        let event = &record.event;
        let mut findings = Vec::new();
        let mut evidence = BTreeMap::from([("event".to_owned(), event_ref(record))]);
        if let Some(name) = &event.key_name {
            evidence.insert("key".into(), name.clone());
        }
        let code = event.error_code.as_deref();
        // A request outside the key's purpose is refused as purpose_violation, or earlier as
        // permission_denied when a grant check comes first (no grant can name such an
        // operation): both are purpose violations.
        let outside_purpose = code == Some("permission_denied")
            && matches!((event.action.operation(), event.purpose), (Some(op), Some(p)) if !op.allowed_for(p));
        if rules.purpose_violation && (code == Some("purpose_violation") || outside_purpose) {
            findings.push(Finding {
                rule: "purpose-violation",
                dedupe: format!("purpose-violation:{}", event_ref(record)),
                severity: "high",
                summary: format!(
                    "{} asked key {} (purpose {}) for {}",
                    event.actor,
                    event.key_name.as_deref().unwrap_or("?"),
                    event.purpose.map_or("?", |p| p.as_str()),
                    event.action
                ),
                evidence: evidence.clone(),
            });
        }
        let compromised_use = is_crypto(event.action)
            && (code == Some("key_compromised")
                || event.details.contains_key("post_compromise_data")
                || event.details.contains_key("exceptional_use"));
        if rules.compromised_key_use && compromised_use {
            let (severity, how) = match (code, event.outcome) {
                (Some("key_compromised"), _) => ("high", "tried to use"),
                (_, Outcome::Success) if event.details.contains_key("exceptional_use") => {
                    ("medium", "used under an approved exception")
                }
                _ => ("medium", "processed data with"),
            };
            findings.push(Finding {
                rule: "compromised-key-use",
                dedupe: format!("compromised-key-use:{}", event_ref(record)),
                severity,
                summary: format!(
                    "{} {how} compromised key {} (version {})",
                    event.actor,
                    event.key_name.as_deref().unwrap_or("?"),
                    event.version.map_or("?".to_owned(), |v| v.to_string())
                ),
                evidence: evidence.clone(),
            });
        }
        let destructive = matches!(event.action, AuditAction::KeyCompromise | AuditAction::KeyDestroyRequest);
        if rules.unfamiliar_destroyer && destructive && event.outcome == Outcome::Success {
            if let Some(key_id) = event.key_id {
                let owner = self.stored_for_scan(state, key_id).await?.map(|k| k.attributes.owner);
                let managed = AuditFilter {
                    key_id: Some(key_id),
                    actor: Some(event.actor.clone()),
                    actions: MANAGEMENT.to_vec(),
                    outcome: Some(Outcome::Success),
                    before_sequence: Some(record.sequence),
                    limit: Some(1),
                    ..AuditFilter::default()
                };
                let familiar = owner.as_deref() == Some(event.actor.as_str())
                    || !self.store.audit_events(&managed).await?.is_empty();
                if !familiar {
                    findings.push(Finding {
                        rule: "unfamiliar-destroyer",
                        dedupe: format!("unfamiliar-destroyer:{}", event_ref(record)),
                        severity: "high",
                        summary: format!(
                            "{} {} key {}, which they never managed and do not own",
                            event.actor,
                            if event.action == AuditAction::KeyCompromise {
                                "reported compromised"
                            } else {
                                "asked to destroy"
                            },
                            event.key_name.as_deref().unwrap_or("?")
                        ),
                        evidence: evidence.clone(),
                    });
                }
            }
        }
        if let (Some((count, window)), Outcome::Denied) = (rules.denial_burst, event.outcome) {
            if let Some(finding) = self.denial_burst(record, state, count, window).await? {
                findings.push(finding);
            }
        }
        if rules.past_cryptoperiod_use && is_protect(event.action) && event.outcome == Outcome::Success {
            if let (Some(key_id), Some(number)) = (event.key_id, event.version) {
                if let Some(stored) = self.stored_for_scan(state, key_id).await? {
                    if let Some(why) = past_period_at(&stored, number, event.occurred_at) {
                        let day = event.occurred_at.unix_timestamp().div_euclid(86_400);
                        findings.push(Finding {
                            rule: "past-cryptoperiod-use",
                            dedupe: format!("past-cryptoperiod-use:{key_id}:{number}:{day}"),
                            severity: "medium",
                            summary: format!(
                                "key {} version {number} was used for {} past its {why}",
                                stored.attributes.name, event.action
                            ),
                            evidence: evidence.clone(),
                        });
                    }
                }
            }
        }
        if let Some(window) = &rules.change_window {
            let lifecycle = AuditAction::STATUS_CHANGES.contains(&event.action)
                && !matches!(event.action, AuditAction::KeyCompromise | AuditAction::KeyReview);
            let by_person = event.details.get("auth_method").map(String::as_str) != Some("system");
            if lifecycle
                && by_person
                && event.outcome == Outcome::Success
                && !window.contains(event.occurred_at)
            {
                let mut evidence = evidence.clone();
                evidence.insert("change_window".into(), window.text.clone());
                findings.push(Finding {
                    rule: "outside-change-window",
                    dedupe: format!("outside-change-window:{}", event_ref(record)),
                    severity: "medium",
                    summary: format!(
                        "{} ran {} on key {} outside the change window ({})",
                        event.actor,
                        event.action,
                        event.key_name.as_deref().unwrap_or("?"),
                        window.text
                    ),
                    evidence,
                });
            }
        }
        Ok(findings)
    }

    async fn denial_burst(
        &self,
        record: &AuditRecord,
        state: &mut ScanState,
        count: usize,
        window: i64,
    ) -> Result<Option<Finding>, Error> {
        let event = &record.event;
        let start = event.occurred_at - time::Duration::seconds(window);
        if !state.denials.contains_key(&event.actor) {
            // The actor's denials before this scan reached this event.
            let earlier = AuditFilter {
                actor: Some(event.actor.clone()),
                since: Some(start),
                outcome: Some(Outcome::Denied),
                before_sequence: Some(record.sequence),
                limit: Some(10_000),
                ..AuditFilter::default()
            };
            let times =
                self.store.audit_events(&earlier).await?.into_iter().map(|r| r.event.occurred_at).collect();
            state.denials.insert(event.actor.clone(), times);
        }
        let times = state.denials.entry(event.actor.clone()).or_default();
        times.push_back(event.occurred_at);
        while times.front().is_some_and(|t| *t < start) {
            times.pop_front();
        }
        if times.len() < count {
            return Ok(None);
        }
        let bucket = event.occurred_at.unix_timestamp().div_euclid(window.max(1));
        Ok(Some(Finding {
            rule: "denial-burst",
            dedupe: format!("denial-burst:{}:{bucket}", event.actor),
            severity: "medium",
            summary: format!("{} was denied {} times within {window} s", event.actor, times.len()),
            evidence: BTreeMap::from([
                ("event".to_owned(), event_ref(record)),
                ("denied".to_owned(), times.len().to_string()),
                ("window_seconds".to_owned(), window.to_string()),
            ]),
        }))
    }

    /// Stores a finding with its notification and audit event; `false` if it was raised
    /// already (by this node earlier or by another node).
    async fn raise(&self, record: &AuditRecord, finding: Finding) -> Result<bool, Error> {
        if self.store.anomaly_exists(&finding.dedupe).await? {
            return Ok(false);
        }
        let source = &record.event;
        let anomaly = AnomalyRecord {
            id: format!("an_{}", hex::encode(keystead_crypto::random_array::<12>()?)),
            rule: finding.rule.to_owned(),
            dedupe: finding.dedupe,
            severity: finding.severity.to_owned(),
            detected_at: self.now(),
            occurred_at: source.occurred_at,
            actor: source.actor.clone(),
            tenant: source.tenant.clone(),
            key_id: source.key_id,
            summary: finding.summary,
            evidence: finding.evidence,
        };
        let caller = Caller::system("anomaly-detection");
        let tenant = keystead_core::Tenant::new(&source.tenant)
            .unwrap_or_else(|_| keystead_core::Tenant::default_tenant());
        let mut event: AuditEvent = self.attempt(&caller, AuditAction::AnomalyDetected, &tenant);
        event.key_id = source.key_id;
        event.key_name = source.key_name.clone();
        event.version = source.version;
        event.reason = Some(anomaly.summary.clone());
        event.details.insert("anomaly".into(), anomaly.id.clone());
        event.details.insert("rule".into(), anomaly.rule.clone());
        event.details.insert("severity".into(), anomaly.severity.clone());
        event.details.insert("subject".into(), anomaly.actor.clone());
        event.details.insert("source_event".into(), event_ref(record));
        let notification = self.notification("anomaly.detected", &event)?;
        let change = Change::Batch(vec![Change::RaiseAnomaly(anomaly), Change::Notify(notification)]);
        match self.store.commit(change, event).await {
            Ok(_) => {
                self.anomaly_counts.add(finding.rule);
                tracing::warn!(rule = finding.rule, "anomaly raised");
                Ok(true)
            }
            Err(keystead_store::Error::Conflict { .. }) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }
}

/// Why version `number` was past a cryptoperiod at `at`, if it was.
fn past_period_at(stored: &StoredKey, number: u32, at: OffsetDateTime) -> Option<&'static str> {
    let version = stored.versions.iter().find(|v| v.info.number.get() == number)?;
    let attributes = &stored.attributes;
    if let Some(period) = attributes.protect_period_seconds {
        if version.info.activated_at.is_some_and(|a| a + time::Duration::seconds(period) <= at) {
            return Some("originator-usage period");
        }
    }
    if let Some(period) = attributes.rotation_period_seconds {
        // The rotation period bounds how long a version is the one that protects.
        if version.info.created_at + time::Duration::seconds(period) <= at
            && version.info.state != KeyState::Compromised
        {
            return Some("rotation period");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_windows_parse_and_contain() {
        let window: ChangeWindow = "mon-fri 08:00-18:00".parse().unwrap();
        // 2026-11-23 is a Monday.
        let monday = time::macros::datetime!(2026-11-23 09:30 UTC);
        assert!(window.contains(monday));
        assert!(!window.contains(time::macros::datetime!(2026-11-23 18:00 UTC)));
        assert!(!window.contains(time::macros::datetime!(2026-11-28 10:00 UTC)), "saturday");
        let weekend: ChangeWindow = "sat,sun 00:00-24:00".parse().unwrap();
        assert!(weekend.contains(time::macros::datetime!(2026-11-29 23:59 UTC)));
        for bad in ["mon-fri", "fri-mon 08:00-18:00", "mon 18:00-08:00", "funday 08:00-09:00", "mon 8-9"] {
            assert!(bad.parse::<ChangeWindow>().is_err(), "{bad}");
        }
    }
}
