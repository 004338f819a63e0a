//! `recovery drill`: proves a bundle can be restored, without touching the running store.
//!
//! The bundle is opened with its shares and every key restored into a private in-memory store
//! under a scratch root key made for the drill. Each version is then read back through the
//! barrier (AEAD binding and KCV) and its test vector, made with the original material at
//! backup time, is checked with the restored key. The report (keys verified, failures,
//! duration) goes into the audit log, where the compliance report reads it. Nothing is
//! printed or kept: the scratch store is dropped, and what it held was sealed under a root
//! key that existed only in this call and is zeroized with it.

use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keystead_core::{AuditAction, AuditEvent, Outcome, Tenant};
use keystead_crypto::{LoadedKey, RootKey, SecretBytes};
use keystead_store::{barrier, Change, SqlStore, Store, StoredVersion};
use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::bundle::{self, Header, KeyRecord};
use super::restore::check_version;
use crate::{Caller, Error, Service};

/// One thing a drill found wrong.
#[derive(Clone, Debug, Serialize)]
pub struct DrillFailure {
    /// The key's id (as its line names it).
    pub key_id: String,
    /// Its tenant and name.
    pub key: String,
    /// The version, when the failure is one version's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// What failed.
    pub reason: String,
}

/// What a drill found.
#[derive(Clone, Debug, Serialize)]
pub struct DrillReport {
    /// `drl_` and 24 hex digits; the audit event carries it.
    pub drill_id: String,
    /// The backup drilled.
    pub backup_id: String,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub backed_up_at: OffsetDateTime,
    /// `passed` or `failed`.
    pub result: &'static str,
    /// Whether the bundle's end tag verified (nothing altered, dropped, added or truncated).
    pub authenticated: bool,
    /// Keys the header announces.
    pub keys_in_bundle: usize,
    /// Keys restored into the scratch store with every version checked.
    pub keys_verified: usize,
    /// Versions whose material passed the KCV and test-vector checks after the round trip.
    pub versions_verified: usize,
    /// Destroyed versions (no material; their records were restored).
    pub versions_without_material: usize,
    /// Keys the backup left out.
    pub keys_excluded: usize,
    /// What failed.
    pub failures: Vec<DrillFailure>,
    /// How long the drill took.
    pub duration_ms: u64,
}

impl Service {
    /// Runs a recovery drill on a bundle with its shares.
    pub async fn recovery_drill(
        &self,
        caller: &Caller,
        bundle_text: &str,
        shares: &[Zeroizing<String>],
    ) -> Result<DrillReport, Error> {
        let mut event = self.attempt(caller, AuditAction::RecoveryDrill, &Tenant::default_tenant());
        let result = self.drill_checked(caller, bundle_text, shares, &mut event).await;
        match result {
            Ok(report) => {
                if report.result != "passed" {
                    event.outcome = Outcome::Failed;
                    event.error_code = Some("drill_failed".into());
                    event.reason = report.failures.first().map(|f| format!("{}: {}", f.key, f.reason));
                }
                self.store.commit(Change::AuditOnly, event).await?;
                Ok(report)
            }
            Err(err) => Err(self.refuse(event, err).await),
        }
    }

    async fn drill_checked(
        &self,
        caller: &Caller,
        bundle_text: &str,
        shares: &[Zeroizing<String>],
        event: &mut AuditEvent,
    ) -> Result<DrillReport, Error> {
        self.authorize_whole_store(caller, "run a recovery drill")?;
        let started = Instant::now();
        let parsed = bundle::parse(bundle_text)?;
        let header = parsed.header.clone();
        event.details.insert("backup_id".into(), header.backup_id.clone());
        let backup_key = super::unlock(&header, shares)?;
        let opened = parsed.open(&backup_key);
        drop(backup_key);

        let drill_id = format!("drl_{}", hex::encode(keystead_crypto::random_array::<12>()?));
        let mut report = DrillReport {
            drill_id,
            backup_id: header.backup_id.clone(),
            backed_up_at: header.created_at,
            result: "failed",
            authenticated: opened.authenticated,
            keys_in_bundle: header.keys,
            keys_verified: 0,
            versions_verified: 0,
            versions_without_material: 0,
            keys_excluded: opened.manifest.excluded.len(),
            failures: Vec::new(),
            duration_ms: 0,
        };
        if header.environment != self.config.environment.as_str() {
            report.failures.push(DrillFailure {
                key_id: String::new(),
                key: "(bundle)".into(),
                version: None,
                reason: format!(
                    "it holds {} keys; this server serves {}, so a restore here would be refused",
                    header.environment, self.config.environment
                ),
            });
        }
        if !opened.authenticated {
            report.failures.push(DrillFailure {
                key_id: String::new(),
                key: "(bundle)".into(),
                version: None,
                reason:
                    "the end tag does not verify: lines were altered, reordered, dropped, added or truncated"
                        .into(),
            });
        }
        let scratch = SqlStore::in_memory().await?;
        let (scratch_root, scratch_material) = RootKey::generate()?;
        drop(scratch_material);
        for key in opened.keys {
            let name = format!("{}/{}", key.tenant, key.name);
            let fail = |version: Option<u32>, reason: String| DrillFailure {
                key_id: key.key_id.clone(),
                key: name.clone(),
                version,
                reason,
            };
            let record = key.record.and_then(|record| {
                self.restorable(&record)
                    .map(|()| record)
                    .map_err(|reason| format!("a restore would refuse it: {reason}"))
            });
            match record {
                Err(reason) => report.failures.push(fail(None, reason)),
                Ok(record) => match self.drill_key(&scratch, &scratch_root, &record, &header).await {
                    Ok((verified, without)) => {
                        report.keys_verified += 1;
                        report.versions_verified += verified;
                        report.versions_without_material += without;
                    }
                    Err((version, reason)) => report.failures.push(fail(version, reason)),
                },
            }
        }
        drop(scratch);
        if report.keys_verified + report.failures.iter().filter(|f| !f.key_id.is_empty()).count()
            != header.keys
        {
            report.failures.push(DrillFailure {
                key_id: String::new(),
                key: "(bundle)".into(),
                version: None,
                reason: format!(
                    "the header announces {} keys but the bundle holds {}",
                    header.keys,
                    report.keys_verified + report.failures.iter().filter(|f| !f.key_id.is_empty()).count()
                ),
            });
        }
        if report.failures.is_empty() {
            report.result = "passed";
        }
        report.duration_ms = started.elapsed().as_millis() as u64;
        event.details.insert("drill_id".into(), report.drill_id.clone());
        event.details.insert("result".into(), report.result.into());
        event.details.insert("keys_in_bundle".into(), report.keys_in_bundle.to_string());
        event.details.insert("keys_verified".into(), report.keys_verified.to_string());
        event.details.insert("versions_verified".into(), report.versions_verified.to_string());
        event.details.insert("failures".into(), report.failures.len().to_string());
        event.details.insert("duration_ms".into(), report.duration_ms.to_string());
        event.details.insert("backed_up_at".into(), crate::views::rfc3339(header.created_at));
        Ok(report)
    }

    /// Restores one key into the scratch store and checks every version after reading it
    /// back. Returns (versions verified, versions without material), or the failing version.
    async fn drill_key(
        &self,
        scratch: &SqlStore,
        scratch_root: &RootKey,
        record: &KeyRecord,
        header: &Header,
    ) -> Result<(usize, usize), (Option<u32>, String)> {
        let attributes = &record.attributes;
        let key_id = attributes.id.to_string();
        let mut versions = Vec::with_capacity(record.versions.len());
        for backed in &record.versions {
            let number = backed.info.number;
            let sealed_material = match &backed.material {
                None => None,
                Some(encoded) => {
                    let at = Some(number.get());
                    let material = SecretBytes::new(
                        STANDARD
                            .decode(encoded.as_bytes())
                            .map_err(|_| (at, "material is not base64".to_owned()))?,
                    );
                    let loaded = LoadedKey::load(attributes.algorithm, &material)
                        .map_err(|_| (at, format!("material is not a {} key", attributes.algorithm)))?;
                    check_version(
                        &loaded,
                        &backed.info.kcv,
                        backed.test_vector.as_deref(),
                        header,
                        &key_id,
                        number.get(),
                    )
                    .map_err(|reason| (at, reason))?;
                    Some(
                        barrier::seal_material(
                            scratch_root,
                            attributes,
                            number,
                            &backed.info.kcv,
                            &backed.provenance_json,
                            &material,
                        )
                        .map_err(|_| (at, "sealing into the scratch store failed".to_owned()))?,
                    )
                }
            };
            versions.push(StoredVersion {
                info: backed.info.clone(),
                provenance_json: backed.provenance_json.clone(),
                sealed_material,
            });
        }
        let event =
            self.attempt(&Caller::system("recovery-drill"), AuditAction::KeyRecover, &attributes.tenant);
        scratch
            .commit(Change::RestoreKey { key: attributes.clone(), versions }, event)
            .await
            .map_err(|err| (None, format!("the scratch store refused the key: {err}")))?;
        let stored = scratch
            .key_by_id(attributes.id)
            .await
            .ok()
            .flatten()
            .ok_or((None, "the key cannot be read back from the scratch store".to_owned()))?;
        let (mut verified, mut without) = (0, 0);
        for (version, backed) in stored.versions.iter().zip(&record.versions) {
            let number = version.info.number.get();
            if version.sealed_material.is_none() {
                without += 1;
                continue;
            }
            let loaded = barrier::open_material(scratch_root, &stored.attributes, version).map_err(|_| {
                (Some(number), "the restored material does not open or match its KCV".to_owned())
            })?;
            check_version(&loaded, &version.info.kcv, backed.test_vector.as_deref(), header, &key_id, number)
                .map_err(|reason| (Some(number), format!("after the round trip: {reason}")))?;
            verified += 1;
        }
        Ok((verified, without))
    }
}
