//! `recovery request` and `backup restore`: a bundle comes back into the running store only
//! with M valid shares and either an approved recovery request naming that exact bundle (used
//! once) or the break-glass principal, whose restore raises an anomaly and opens a review at
//! once. Keys the store already holds in another state are never overwritten silently.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keystead_core::approval::{ApprovalOperation, ApprovalStatus};
use keystead_core::key::{Provenance, RecoveryMark, MAX_DURATION_SECONDS};
use keystead_core::{AuditAction, AuditEvent, KeyRef, Tenant};
use keystead_crypto::{LoadedKey, RootKey, SecretBytes};
use keystead_store::inventory::AnomalyRecord;
use keystead_store::{barrier, ApprovalRecord, Change, StoredVersion};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::bundle::{self, Header, KeyRecord, ManifestKey};
use crate::error::invalid;
use crate::ops::approvals::{ApprovalView, NewRequest, RequestSubject};
use crate::{Caller, Error, Service};

/// What to do with keys of the bundle the store holds in another state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnConflict {
    /// Restore nothing and list the conflicts (the default).
    #[default]
    Abort,
    /// Restore the other keys; keep the store's state of the conflicting ones.
    Skip,
}

/// A restore as asked for.
pub struct RestoreInput {
    /// The bundle's text.
    pub bundle: String,
    /// The share files' text, at least M.
    pub shares: Vec<Zeroizing<String>>,
    /// The approved recovery request naming this bundle.
    pub request: Option<String>,
    /// Restore as the break-glass principal, without a request.
    pub break_glass: bool,
    /// Why (required for break-glass).
    pub justification: Option<String>,
    /// What to do with conflicting keys.
    pub on_conflict: OnConflict,
}

/// A restored key.
#[derive(Clone, Debug, Serialize)]
pub struct RestoredKey {
    /// Its id (unchanged from the backup).
    pub key_id: String,
    /// Its tenant.
    pub tenant: String,
    /// Its name.
    pub name: String,
    /// Each version's state as restored, e.g. `1:deactivated`, `2:compromised`.
    pub versions: Vec<String>,
}

/// A key of the bundle the store already holds differently, or whose name another key has.
#[derive(Clone, Debug, Serialize)]
pub struct ConflictingKey {
    /// Its id.
    pub key_id: String,
    /// Its tenant.
    pub tenant: String,
    /// Its name.
    pub name: String,
    /// How the store differs.
    pub reason: String,
}

/// What a restore did.
#[derive(Clone, Debug, Serialize)]
pub struct RestoreReport {
    /// The backup restored.
    pub backup_id: String,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub backed_up_at: OffsetDateTime,
    /// The approved request used, or `break-glass`.
    pub authorized_by: String,
    /// Keys restored.
    pub restored: Vec<RestoredKey>,
    /// Keys the store already held exactly as backed up.
    pub unchanged: Vec<RestoredKey>,
    /// Keys kept as the store holds them (`--on-conflict skip`).
    pub conflicts: Vec<ConflictingKey>,
    /// Keys the backup left out, with why.
    pub excluded: Vec<ManifestKey>,
    /// For a break-glass restore: the review request that must be signed off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
    /// For a break-glass restore: the anomaly raised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anomaly: Option<String>,
    /// What the operator should know, e.g. a restored version whose approved destruction is
    /// scheduled (it runs as approved, at once if its time has passed).
    pub warnings: Vec<String>,
}

/// A request to restore one bundle, as `recovery request` sends it.
#[derive(Clone, Debug, Deserialize)]
pub struct RecoveryRequest {
    /// The bundle's backup id (its header).
    pub backup_id: String,
    /// SHA-256 of the whole bundle file, hex.
    pub bundle_sha256: String,
    /// Keys the bundle holds (its header), shown to approvers.
    pub keys: usize,
    /// When the backup was made (its header), shown to approvers.
    pub backed_up_at: String,
    /// Why the restore is needed.
    pub justification: String,
    /// How long the request stays open (at most the approval TTL).
    pub expires_in: Option<String>,
}

fn version_states(record: &KeyRecord) -> Vec<String> {
    record.versions.iter().map(|v| format!("{}:{}", v.info.number.get(), v.info.state)).collect()
}

fn describe(record: &KeyRecord) -> RestoredKey {
    let attributes = &record.attributes;
    RestoredKey {
        key_id: attributes.id.to_string(),
        tenant: attributes.tenant.to_string(),
        name: attributes.name.to_string(),
        versions: version_states(record),
    }
}

fn is_backup_id(text: &str) -> bool {
    text.strip_prefix("bkp_").is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Service {
    /// Asks for a quorum's approval to restore one bundle (identified by its backup id and
    /// the SHA-256 of the file). The restore itself needs the bundle, the shares and this
    /// approved request, and uses the request up.
    pub async fn request_recovery(
        &self,
        caller: &Caller,
        request: RecoveryRequest,
    ) -> Result<ApprovalView, Error> {
        let mut event = self.attempt(caller, AuditAction::RecoveryRequest, &Tenant::default_tenant());
        event.details.insert("backup_id".into(), request.backup_id.chars().take(40).collect());
        let result = async {
            self.authorize_whole_store(caller, "request a restore")?;
            if !is_backup_id(&request.backup_id) {
                return Err(invalid("backup_id", "expected bkp_ and 32 hex digits (the bundle's header)"));
            }
            let digest = request.bundle_sha256.to_ascii_lowercase();
            if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid("bundle_sha256", "expected 64 hex digits"));
            }
            let subject = RequestSubject {
                tenant: Tenant::default_tenant().to_string(),
                key_id: None,
                name: format!("backup {}", request.backup_id),
            };
            let parameters = BTreeMap::from([
                ("backup_id".to_owned(), request.backup_id.clone()),
                ("bundle_sha256".to_owned(), digest),
                ("keys".to_owned(), request.keys.to_string()),
                ("backed_up_at".to_owned(), request.backed_up_at.chars().take(40).collect()),
            ]);
            let new = NewRequest {
                operation: ApprovalOperation::RestoreBackup,
                version: None,
                parameters,
                justification: request.justification.clone(),
                expires_in: request.expires_in.clone(),
            };
            self.create_request(caller, subject, new, &mut event).await
        }
        .await;
        self.finish(event, result).await
    }

    /// Restores a bundle into the running store. Everything is checked before anything is
    /// written: the shares, the bundle's end tag and every key line, the authorization, each
    /// version's material against its KCV and test vector, and conflicts with the store.
    pub async fn restore_backup(&self, caller: &Caller, input: RestoreInput) -> Result<RestoreReport, Error> {
        let mut event = self.attempt(caller, AuditAction::BackupRestore, &Tenant::default_tenant());
        let result = self.restore_checked(caller, input, &mut event).await;
        self.finish(event, result).await
    }

    async fn restore_checked(
        &self,
        caller: &Caller,
        input: RestoreInput,
        event: &mut AuditEvent,
    ) -> Result<RestoreReport, Error> {
        self.authorize_whole_store(caller, "restore a backup")?;
        let parsed = bundle::parse(&input.bundle)?;
        let header = parsed.header.clone();
        event.details.insert("backup_id".into(), header.backup_id.clone());
        if header.environment != self.config.environment.as_str() {
            // Production and non-production keys are kept apart, in restores too.
            return Err(Error::Bundle {
                reason: format!(
                    "backup {} holds {} keys; this server serves {}",
                    header.backup_id, header.environment, self.config.environment
                ),
            });
        }
        let backup_key = super::unlock(&header, &input.shares)?;
        let opened = parsed.open(&backup_key);
        drop(backup_key);
        if !opened.authenticated {
            return Err(Error::Bundle {
                reason: "it was altered, reordered or truncated (its end tag does not verify over its lines)"
                    .into(),
            });
        }
        let mut records = Vec::with_capacity(opened.keys.len());
        for key in opened.keys {
            let record = key.record.and_then(|record| self.restorable(&record).map(|()| record)).map_err(
                |reason| Error::Bundle {
                    reason: format!("key {} ({}/{}): {reason}", key.key_id, key.tenant, key.name),
                },
            )?;
            records.push(record);
        }
        let bundle_sha256 = hex::encode(keystead_crypto::sha256(input.bundle.as_bytes()));
        event.details.insert("bundle_sha256".into(), bundle_sha256.clone());
        let authorized_by = self.restore_authority(caller, &input, &header, &bundle_sha256).await?;
        event.details.insert("authorized_by".into(), authorized_by.clone());

        let mark = RecoveryMark {
            backup_id: header.backup_id.clone(),
            backed_up_at: header.created_at,
            restored_at: self.now(),
            restored_by: caller.principal.clone(),
            node: self.config.node.to_string(),
            authorized_by: authorized_by.clone(),
        };
        let root = self.root()?;
        let mut report = RestoreReport {
            backup_id: header.backup_id.clone(),
            backed_up_at: header.created_at,
            authorized_by: authorized_by.clone(),
            restored: Vec::new(),
            unchanged: Vec::new(),
            conflicts: Vec::new(),
            excluded: opened.manifest.excluded.clone(),
            review: None,
            anomaly: None,
            warnings: Vec::new(),
        };
        let mut to_restore = Vec::new();
        for record in records {
            match self.conflict_with_store(&record).await? {
                Some(Ok(())) => report.unchanged.push(describe(&record)),
                Some(Err(reason)) => report.conflicts.push(ConflictingKey {
                    key_id: record.attributes.id.to_string(),
                    tenant: record.attributes.tenant.to_string(),
                    name: record.attributes.name.to_string(),
                    reason,
                }),
                None => {
                    let versions = restored_versions(&root, &record, &mark, &header).map_err(|reason| {
                        Error::Bundle {
                            reason: format!(
                                "key {} ({}/{}): {reason}",
                                record.attributes.id, record.attributes.tenant, record.attributes.name
                            ),
                        }
                    })?;
                    for version in record.versions.iter().filter(|v| v.info.destroyed_at.is_none()) {
                        if let Some(at) = version.info.destroy_at {
                            report.warnings.push(format!(
                                "{}/{} version {}: its approved destruction is scheduled for {} and will run",
                                record.attributes.tenant,
                                record.attributes.name,
                                version.info.number,
                                crate::views::rfc3339(at)
                            ));
                        }
                    }
                    to_restore.push((record, versions));
                }
            }
        }
        if !report.conflicts.is_empty() && input.on_conflict == OnConflict::Abort {
            let summary: Vec<String> = report
                .conflicts
                .iter()
                .take(5)
                .map(|c| format!("{}/{} ({})", c.tenant, c.name, c.reason))
                .collect();
            return Err(Error::RestoreConflicts {
                count: report.conflicts.len(),
                summary: summary.join("; "),
            });
        }

        // The authorization is recorded (and a request used up, a break-glass restore made
        // loud) before the first key is written, so a restore cut short still shows.
        event.details.insert("keys_to_restore".into(), to_restore.len().to_string());
        event.details.insert("unchanged".into(), report.unchanged.len().to_string());
        event.details.insert("conflicts_kept".into(), report.conflicts.len().to_string());
        let begin = self.restore_begin(caller, &input, &header, &bundle_sha256, event, &mut report)?;
        self.store.commit(begin, event.clone()).await?;
        if let Some(anomaly) = &report.anomaly {
            tracing::warn!(%anomaly, backup = %header.backup_id, "break-glass restore");
            self.anomaly_counts.add(BREAK_GLASS_RULE);
        }

        for (record, versions) in to_restore {
            let restored = describe(&record);
            let mut key_event = self.attempt(caller, AuditAction::KeyRecover, &record.attributes.tenant);
            key_event.key_id = Some(record.attributes.id);
            key_event.key_name = Some(record.attributes.name.to_string());
            key_event.algorithm = Some(record.attributes.algorithm);
            key_event.purpose = Some(record.attributes.purpose);
            key_event.details.insert("backup_id".into(), header.backup_id.clone());
            key_event.details.insert("authorized_by".into(), authorized_by.clone());
            key_event.details.insert("versions".into(), restored.versions.join(","));
            let change = Change::RestoreKey { key: record.attributes, versions };
            match self.store.commit(change, key_event.clone()).await {
                Ok(_) => report.restored.push(restored),
                // Written by someone else since the check: kept as the store has it.
                Err(
                    err @ (keystead_store::Error::Conflict { .. } | keystead_store::Error::NameTaken { .. }),
                ) => {
                    let reason = format!("changed in the store during the restore: {err}");
                    self.refuse(key_event, Error::Store(err)).await;
                    report.conflicts.push(ConflictingKey {
                        key_id: restored.key_id,
                        tenant: restored.tenant,
                        name: restored.name,
                        reason,
                    });
                }
                Err(err) => return Err(self.refuse(key_event, Error::Store(err)).await),
            }
        }
        Ok(report)
    }

    /// Who authorizes this restore: an approved, unused request for exactly this bundle, or
    /// the configured break-glass principal.
    async fn restore_authority(
        &self,
        caller: &Caller,
        input: &RestoreInput,
        header: &Header,
        bundle_sha256: &str,
    ) -> Result<String, Error> {
        if input.break_glass {
            if input.request.is_some() {
                return Err(invalid(
                    "request",
                    "a break-glass restore does not use a request; pass one or the other",
                ));
            }
            if !self.config.break_glass_principals.iter().any(|p| p == &caller.principal) {
                return Err(Error::PermissionDenied {
                    reason: format!(
                        "{} is not a break-glass principal ([policy] break_glass_principals); restore with an approved recovery request",
                        caller.principal
                    ),
                });
            }
            let justification = input.justification.as_deref().map(str::trim).unwrap_or_default();
            if justification.is_empty()
                || justification.chars().count() > 1024
                || justification.chars().any(char::is_control)
            {
                return Err(invalid(
                    "justification",
                    "a break-glass restore needs a justification of 1 to 1024 printable characters",
                ));
            }
            return Ok("break-glass".into());
        }
        let Some(id) = input.request.as_deref() else {
            return Err(Error::PermissionDenied {
                reason: "a restore needs an approved recovery request (`keystead recovery request`, then --request)".into(),
            });
        };
        let record = self
            .store
            .approval(id)
            .await?
            .ok_or_else(|| Error::ApprovalNotFound { id: id.chars().take(80).collect() })?;
        if record.operation != ApprovalOperation::RestoreBackup {
            return Err(invalid(
                "request",
                format!("{id} is a {} request, not a restore-backup request", record.operation),
            ));
        }
        match record.status {
            ApprovalStatus::Approved => {}
            ApprovalStatus::Pending => {
                let needed = keystead_core::approval::still_needed(&record.policy, &record.votes);
                let needed: Vec<String> = needed.iter().map(|(role, n)| format!("{n} {role}")).collect();
                return Err(Error::PermissionDenied {
                    reason: format!(
                        "recovery request {id} is not approved yet (still needed: {})",
                        needed.join(", ")
                    ),
                });
            }
            status => return Err(Error::ApprovalClosed { id: id.to_owned(), status }),
        }
        let names = |name: &str, value: &str| record.parameters.get(name).is_some_and(|v| v == value);
        if !names("backup_id", &header.backup_id) || !names("bundle_sha256", bundle_sha256) {
            return Err(Error::PermissionDenied {
                reason: format!(
                    "recovery request {id} approves another bundle (backup {}); this file is backup {} with SHA-256 {bundle_sha256}",
                    record.parameters.get("backup_id").map_or("?", String::as_str),
                    header.backup_id
                ),
            });
        }
        let valid_until = record.decided_at.unwrap_or(record.created_at)
            + time::Duration::seconds(self.config.approval_ttl_seconds);
        if self.now() >= valid_until {
            return Err(Error::PermissionDenied {
                reason: format!(
                    "recovery request {id} was approved more than the approval TTL ago; make a new request"
                ),
            });
        }
        Ok(id.to_owned())
    }

    /// The change recorded before any key is written: the request used up, or (break-glass)
    /// the anomaly, its notifications and the review that must be signed off.
    fn restore_begin(
        &self,
        caller: &Caller,
        input: &RestoreInput,
        header: &Header,
        bundle_sha256: &str,
        event: &mut AuditEvent,
        report: &mut RestoreReport,
    ) -> Result<Change, Error> {
        let now = self.now();
        if !input.break_glass {
            return Ok(Change::Batch(vec![
                Change::SetApprovalStatus {
                    id: report.authorized_by.clone(),
                    from: ApprovalStatus::Approved,
                    to: ApprovalStatus::Closed,
                    at: now,
                },
                Change::Notify(self.notification("recovery.restore", event)?),
            ]));
        }
        let justification = input.justification.as_deref().map(str::trim).unwrap_or_default().to_owned();
        let review = ApprovalRecord {
            id: format!("apr_{}", hex::encode(keystead_crypto::random_array::<16>()?)),
            operation: ApprovalOperation::BreakGlassReview,
            tenant: Tenant::default_tenant().to_string(),
            key_id: None,
            key_name: format!("break-glass restore of backup {}", header.backup_id),
            version: None,
            requester: caller.principal.clone(),
            status: ApprovalStatus::Pending,
            created_at: now,
            // A review is mandatory: it never expires, it stays open until signed off.
            expires_at: now + time::Duration::seconds(MAX_DURATION_SECONDS),
            decided_at: None,
            justification: justification.clone(),
            policy: self.config.approval_policy(ApprovalOperation::BreakGlassReview),
            parameters: BTreeMap::from([
                ("backup_id".to_owned(), header.backup_id.clone()),
                ("bundle_sha256".to_owned(), bundle_sha256.to_owned()),
            ]),
            votes: Vec::new(),
        };
        let anomaly = AnomalyRecord {
            id: format!("an_{}", hex::encode(keystead_crypto::random_array::<12>()?)),
            rule: BREAK_GLASS_RULE.to_owned(),
            dedupe: format!("{BREAK_GLASS_RULE}:{}", review.id),
            severity: "high".into(),
            detected_at: now,
            occurred_at: now,
            actor: caller.principal.clone(),
            tenant: Tenant::default_tenant().to_string(),
            key_id: None,
            summary: format!(
                "{} restored backup {} by break-glass, without an approved recovery request",
                caller.principal, header.backup_id
            ),
            evidence: BTreeMap::from([
                ("backup_id".to_owned(), header.backup_id.clone()),
                ("review".to_owned(), review.id.clone()),
                ("justification".to_owned(), justification),
            ]),
        };
        event.reason = Some(anomaly.summary.clone());
        event.details.insert("break_glass".into(), "true".into());
        event.details.insert("review".into(), review.id.clone());
        event.details.insert("anomaly".into(), anomaly.id.clone());
        event.details.insert("rule".into(), BREAK_GLASS_RULE.into());
        event.details.insert("severity".into(), anomaly.severity.clone());
        event.details.insert("subject".into(), caller.principal.clone());
        report.review = Some(review.id.clone());
        report.anomaly = Some(anomaly.id.clone());
        Ok(Change::Batch(vec![
            Change::RaiseAnomaly(anomaly),
            Change::Notify(self.notification("anomaly.detected", event)?),
            Change::Notify(self.notification("recovery.break-glass", event)?),
            Change::Notify(self.notification("recovery.restore", event)?),
            Change::CreateApproval(review),
        ]))
    }

    /// The rules a new key must pass apply to a restored one too: a bundle is authenticated
    /// by its shares, not by who made it, so its keys are checked as if created now.
    pub(super) fn restorable(&self, record: &KeyRecord) -> Result<(), String> {
        use keystead_core::checkpoint::{SIGNING_KEY_NAME, SIGNING_USAGE_CONTEXT};
        let attributes = &record.attributes;
        if !attributes.recoverable {
            return Err("it is marked non-recoverable, which a Keystead backup never holds".into());
        }
        if attributes.name.as_str() == SIGNING_KEY_NAME
            || attributes.usage_context.as_str() == SIGNING_USAGE_CONTEXT
        {
            return Err("it claims the reserved audit-signing name or usage context".into());
        }
        attributes
            .algorithm
            .check_for(attributes.purpose, self.config.minimum_strength_bits)
            .map_err(|err| err.to_string())?;
        if record.versions.iter().any(|v| v.info.provenance.algorithm != attributes.algorithm) {
            return Err("a version's provenance names another algorithm than the key".into());
        }
        Ok(())
    }

    /// `None`: the key is not in the store and its name is free. `Some(Ok)`: the store holds
    /// it exactly as backed up. `Some(Err(why))`: the store holds it (or its name) otherwise.
    async fn conflict_with_store(&self, record: &KeyRecord) -> Result<Option<Result<(), String>>, Error> {
        let attributes = &record.attributes;
        if attributes.environment != self.config.environment {
            // Production and non-production keys are kept apart, in restores too.
            return Ok(Some(Err(format!(
                "it belongs to environment {}, this server serves {}",
                attributes.environment, self.config.environment
            ))));
        }
        if let Some(existing) = self.store.key_by_id(attributes.id).await? {
            let same = existing.versions.len() == record.versions.len()
                && existing.versions.iter().zip(&record.versions).all(|(have, backed)| {
                    let (have, backed) = (&have.info, &backed.info);
                    have.number == backed.number
                        && have.state == backed.state
                        && have.kcv == backed.kcv
                        && have.compromise == backed.compromise
                        && have.destroy_at == backed.destroy_at
                        && have.destroyed_at == backed.destroyed_at
                });
            if same {
                return Ok(Some(Ok(())));
            }
            let have: Vec<String> = existing
                .versions
                .iter()
                .map(|v| format!("{}:{}", v.info.number.get(), v.info.state))
                .collect();
            return Ok(Some(Err(format!(
                "the store holds versions [{}], the backup [{}]",
                have.join(", "),
                version_states(record).join(", ")
            ))));
        }
        let by_name = KeyRef::Name(attributes.name.clone());
        if let Some(other) = self.store.key(&attributes.tenant, &by_name).await? {
            return Ok(Some(Err(format!("its name is taken by another key ({})", other.attributes.id))));
        }
        Ok(None)
    }
}

/// The anomaly rule a break-glass restore raises.
pub(crate) const BREAK_GLASS_RULE: &str = "break-glass-restore";

/// Each version of a backed-up key, ready to store: material checked against its KCV and its
/// test vector, sealed under this store's root key, provenance marked `recovered`.
fn restored_versions(
    root: &RootKey,
    record: &KeyRecord,
    mark: &RecoveryMark,
    header: &Header,
) -> Result<Vec<StoredVersion>, String> {
    let attributes = &record.attributes;
    let key_id = attributes.id.to_string();
    let mut versions = Vec::with_capacity(record.versions.len());
    for backed in &record.versions {
        let number = backed.info.number;
        let mut provenance: Provenance = serde_json::from_str(&backed.provenance_json)
            .map_err(|_| format!("version {number}: its provenance is not readable"))?;
        provenance.recovered = Some(mark.clone());
        let provenance_json =
            serde_json::to_string(&provenance).map_err(|_| format!("version {number}: provenance"))?;
        let mut info = backed.info.clone();
        info.provenance = provenance;
        info.public_key_der = backed
            .public_key_der
            .as_deref()
            .map(|der| STANDARD.decode(der))
            .transpose()
            .map_err(|_| format!("version {number}: its public key is not base64"))?;
        let sealed_material = match &backed.material {
            None => None,
            Some(encoded) => {
                let material = SecretBytes::new(
                    STANDARD
                        .decode(encoded.as_bytes())
                        .map_err(|_| format!("version {number}: material is not base64"))?,
                );
                let loaded = LoadedKey::load(attributes.algorithm, &material).map_err(|_| {
                    format!("version {number}: material is not a {} key", attributes.algorithm)
                })?;
                check_version(
                    &loaded,
                    &info.kcv,
                    backed.test_vector.as_deref(),
                    header,
                    &key_id,
                    number.get(),
                )
                .map_err(|reason| format!("version {number}: {reason}"))?;
                // The public key served by `key public` comes from the material itself, never
                // from what the bundle says it is.
                info.public_key_der = loaded
                    .public_key_der()
                    .map_err(|_| format!("version {number}: no public key can be derived"))?;
                Some(
                    barrier::seal_material(root, attributes, number, &info.kcv, &provenance_json, &material)
                        .map_err(|_| format!("version {number}: sealing failed"))?,
                )
            }
        };
        versions.push(StoredVersion { info, provenance_json, sealed_material });
    }
    Ok(versions)
}

/// Checks material against the KCV recorded for it and the test vector made at backup time.
pub(super) fn check_version(
    loaded: &LoadedKey,
    kcv: &str,
    test_vector: Option<&str>,
    header: &Header,
    key_id: &str,
    number: u32,
) -> Result<(), String> {
    let actual = loaded.kcv().map_err(|_| "no key check value".to_owned())?;
    if !keystead_crypto::ct_eq_str(&actual, kcv) {
        return Err(format!("material does not match its KCV (recorded {kcv})"));
    }
    let vector = test_vector.ok_or("no test vector")?.as_bytes();
    let vector = STANDARD.decode(vector).map_err(|_| "its test vector is not base64".to_owned())?;
    let message = bundle::test_message(&header.backup_id, key_id, number);
    if !loaded.check_test_vector(&message, &vector) {
        return Err("the test vector made at backup time does not check".into());
    }
    Ok(())
}
