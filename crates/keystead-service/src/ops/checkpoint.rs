//! Signed audit checkpoints (CEK-21): every node signs its own chain head with the audit
//! signing key every N events or T seconds, and `audit verify` checks every checkpoint.
//!
//! The signing key is an ordinary inventory key (Ed25519, purpose `sign`, usage context
//! `audit-log-signing`, owner `keystead`) that no principal may sign with: a principal able to
//! sign with it could vouch for a rewritten log. Verification online uses the public key
//! derived from the unsealed private material, never the stored public key, so an edited
//! key row cannot substitute an attacker's key.

use std::collections::BTreeMap;
use std::sync::Arc;

use keystead_core::checkpoint::{statement, Checkpoint, SIGNING_KEY_NAME, SIGNING_USAGE_CONTEXT};
use keystead_core::key::{Classification, Criticality, KeyAttributes, Labels, Origin};
use keystead_core::AuditEvent;
use keystead_core::{
    Algorithm, AuditAction, KeyId, KeyName, KeyRef, KeyState, Operation, Purpose, Tenant, UsageContext,
    VersionNumber,
};
use keystead_store::chain::ChainVerifier;
use keystead_store::{ChainReport, Change, SignatureCheck, StoredKey};
use time::format_description::well_known::Rfc3339;

use crate::audit::describe_key;
use crate::cache::CachedKey;
use crate::{Caller, Error, Service};

/// The audit signing key rotates itself yearly; old versions stay to verify old checkpoints.
const SIGNING_KEY_ROTATION_SECONDS: i64 = 365 * 86_400;

/// Whether a key is the reserved audit signing key (or any key of its usage context).
pub(crate) fn is_audit_signing(attributes: &KeyAttributes) -> bool {
    attributes.usage_context.as_str() == SIGNING_USAGE_CONTEXT
}

/// Whether a key holding the reserved name is really the one Keystead made: an older store
/// may hold a principal's key of that name, which must never sign or vouch for checkpoints.
fn is_genuine_signing_key(attributes: &KeyAttributes) -> bool {
    is_audit_signing(attributes)
        && attributes.name.as_str() == SIGNING_KEY_NAME
        && attributes.purpose == Purpose::Sign
        && attributes.algorithm == Algorithm::Ed25519
        && attributes.owner == SYSTEM_OWNER
}

/// The owner (and actor) of the audit signing key.
const SYSTEM_OWNER: &str = "keystead";

/// Why a node cannot sign its next checkpoint.
pub(crate) enum CheckFailure {
    /// The store could not be read: not a finding about the log.
    Unreadable(keystead_store::Error),
    /// The log does not verify.
    Tampered(String),
}

impl From<String> for CheckFailure {
    fn from(why: String) -> Self {
        Self::Tampered(why)
    }
}

/// What this process signed last: a checkpoint in the store that is not this one means
/// someone removed or replaced checkpoints behind the node's back.
#[derive(Debug, Default)]
pub(crate) struct CheckpointMemory {
    /// The newest checkpoint event this process committed: position and hash.
    last_signed: Option<(i64, String)>,
    /// The last refusal recorded, and when.
    last_refusal: Option<(String, time::OffsetDateTime)>,
}

/// Checks checkpoint signatures with the unsealed audit signing key.
pub(crate) struct UnsealedSigningKeys(BTreeMap<KeyId, Arc<CachedKey>>);

impl Service {
    /// The audit signing key's versions, to check checkpoint signatures with (none before the
    /// first checkpoint made the key, or if the key of that name is not Keystead's own).
    pub(crate) async fn signing_keys(&self) -> Result<UnsealedSigningKeys, Error> {
        let tenant = Tenant::default_tenant();
        let mut keys = BTreeMap::new();
        let name = KeyRef::Name(KeyName::new(SIGNING_KEY_NAME)?);
        if let Some(stored) = self.store.key(&tenant, &name).await? {
            if is_genuine_signing_key(&stored.attributes) {
                let cached = self.load(stored, self.cache.epoch()).await?;
                keys.insert(cached.stored.attributes.id, cached);
            }
        }
        Ok(UnsealedSigningKeys(keys))
    }
}

impl SignatureCheck for UnsealedSigningKeys {
    fn check(&self, key_id: &str, version: u32, statement: &[u8], signature: &[u8]) -> Result<bool, String> {
        let cached = KeyId::parse(key_id)
            .ok()
            .and_then(|id| self.0.get(&id))
            .ok_or_else(|| format!("key {key_id} is not this store's audit signing key"))?;
        let number = VersionNumber::new(version).map_err(|e| e.to_string())?;
        let loaded = cached.loaded.get(&number).ok_or_else(|| {
            format!("version {version} of the audit signing key has no material (destroyed); check this checkpoint offline with its saved public key")
        })?;
        loaded.verify(statement, signature).map_err(|e| e.to_string())
    }
}

impl Service {
    /// The audit signing key, created on first need. Two nodes creating it at once: one
    /// wins, the other reads the winner's. A key of the reserved name that Keystead did not
    /// make is refused.
    async fn audit_signing_key(&self) -> Result<StoredKey, Error> {
        let tenant = Tenant::default_tenant();
        let name = KeyRef::Name(KeyName::new(SIGNING_KEY_NAME)?);
        if let Some(stored) = self.store.key(&tenant, &name).await? {
            return genuine(stored);
        }
        let caller = Caller::system("checkpoint");
        let mut event = self.attempt(&caller, AuditAction::KeyCreate, &tenant);
        let now = self.now();
        let attributes = KeyAttributes {
            id: KeyId::from_random_bytes(keystead_crypto::random_array()?),
            tenant: tenant.clone(),
            name: KeyName::new(SIGNING_KEY_NAME)?,
            purpose: Purpose::Sign,
            algorithm: Algorithm::Ed25519,
            usage_context: UsageContext::new(SIGNING_USAGE_CONTEXT)?,
            owner: SYSTEM_OWNER.to_owned(),
            description: "Signs this node's audit checkpoints".to_owned(),
            environment: self.config.environment,
            classification: Classification::Restricted,
            labels: Labels::default(),
            origin: Origin::Generated,
            rotation_period_seconds: Some(SIGNING_KEY_ROTATION_SECONDS),
            protect_period_seconds: None,
            // A signing key is replaced, not recovered: a new one signs from now on.
            recoverable: false,
            criticality: Criticality::High,
            created_at: now,
            updated_at: now,
        };
        let version = self.generate_version(&attributes, VersionNumber::FIRST, KeyState::Active).await?;
        describe_key(&mut event, &attributes);
        event.version = Some(1);
        event.details.insert("kcv".into(), version.info.kcv.clone());
        event.details.insert("state".into(), KeyState::Active.to_string());
        event.reason = Some("created to sign audit checkpoints".into());
        match self.store.commit(Change::CreateKey { key: attributes, version }, event).await {
            Ok(_) | Err(keystead_store::Error::NameTaken { .. }) => {}
            Err(err) => return Err(err.into()),
        }
        let stored = self
            .store
            .key(&tenant, &name)
            .await?
            .ok_or(Error::Store(keystead_store::Error::Corrupt { what: "audit signing key" }))?;
        genuine(stored)
    }

    /// Signs this node's chain head when `checkpoint_events` events have passed since the
    /// last checkpoint or `checkpoint_interval_seconds` have (a quiet node still signs, so a
    /// stopped node or removed checkpoints show as a gap between checkpoint times). Returns
    /// whether it signed.
    pub(crate) async fn checkpoint_if_due(&self) -> Result<bool, Error> {
        let node = self.config.node.to_string();
        let head = self.store.chain_head(&node).await?;
        if head.node_seq == 0 {
            return Ok(false);
        }
        let now = self.now();
        let due = match head.last_checkpoint {
            None => true,
            Some((seq, at)) => {
                head.node_seq - seq >= self.config.checkpoint_events
                    || (now - at).whole_seconds() >= self.config.checkpoint_interval_seconds
            }
        };
        if !due {
            return Ok(false);
        }
        self.sign_checkpoint().await?;
        Ok(true)
    }

    /// Signs this node's chain head now (an export starts with one, so the file it writes is
    /// signed up to its start). Before signing it checks everything since the previous
    /// checkpoint: the links, that checkpoint's signature, and that it is the one this
    /// process signed last; the service never vouches for a log it cannot verify.
    pub(crate) async fn sign_checkpoint(&self) -> Result<(), Error> {
        // One signer per node at a time: each checkpoint names the one before it.
        let mut memory = self.checkpoint_memory.lock().await;
        // The key first: creating or rotating it appends events the checkpoint then covers.
        let mut stored = self.audit_signing_key().await?;
        if stored.primary().is_none() {
            // Compromised: a new version signs from now on; the old ones still verify.
            stored = self.rotate_signing_key(stored).await?;
        }
        let node = self.config.node.to_string();
        let head = self.store.chain_head(&node).await?;
        let cached = self.load(stored, self.cache.epoch()).await?;
        let keys = UnsealedSigningKeys(BTreeMap::from([(cached.stored.attributes.id, cached.clone())]));
        let previous =
            self.verify_since_last_checkpoint(&node, &head, &keys, memory.last_signed.as_ref()).await;
        let caller = Caller::system("checkpoint");
        let mut event = self.attempt(&caller, AuditAction::AuditCheckpoint, &cached.stored.attributes.tenant);
        describe_key(&mut event, &cached.stored.attributes);
        let previous = match previous {
            Ok(previous) => previous,
            // Not a finding about the log: retried on the next run, nothing recorded.
            Err(CheckFailure::Unreadable(err)) => return Err(err.into()),
            Err(CheckFailure::Tampered(why)) => {
                tracing::error!(%why, "the audit log changed since the last checkpoint; not signing");
                let err = Error::AuditTampered { reason: why.clone() };
                // Recorded once per finding and interval, not on every scheduler run.
                let now = self.now();
                let repeat = memory.last_refusal.as_ref().is_some_and(|(seen, at)| {
                    *seen == why && (now - *at).whole_seconds() < self.config.checkpoint_interval_seconds
                });
                if repeat {
                    return Err(err);
                }
                memory.last_refusal = Some((why, now));
                return Err(self.refuse(event, err).await);
            }
        };
        let (version, loaded) = cached.primary_for(Operation::Sign, &mut event)?;
        let mut claim = Checkpoint {
            previous,
            covers_node_seq: head.node_seq,
            covers_hash: head.hash,
            signed_at: self
                .now()
                .format(&Rfc3339)
                .map_err(|_| crate::error::invalid("time", "cannot format"))?,
            key_id: cached.stored.attributes.id.to_string(),
            key_version: version.info.number.get(),
            signature: Vec::new(),
        };
        claim.signature = loaded.sign(&statement(&node, &claim))?;
        claim.describe(&mut event);
        // Receivers outside the database keep the signed claims: a copy no database
        // administrator can rewrite.
        let notification = self.notification("audit.checkpoint", &event)?;
        let record = self.store.commit(Change::Notify(notification), event).await?;
        memory.last_signed = Some((record.node_sequence, record.hash));
        Ok(())
    }

    async fn rotate_signing_key(&self, stored: StoredKey) -> Result<StoredKey, Error> {
        let caller = Caller::system("checkpoint");
        let mut event = self.attempt(&caller, AuditAction::KeyRotate, &stored.attributes.tenant);
        describe_key(&mut event, &stored.attributes);
        event.details.insert("trigger".into(), "the audit signing key has no active version".into());
        let id = stored.attributes.id;
        self.rotate_checked(stored, &mut event).await?;
        self.cache.invalidate(id);
        self.store
            .key_by_id(id)
            .await?
            .ok_or(Error::Store(keystead_store::Error::Corrupt { what: "audit signing key" }))
    }

    /// Checks this node's chain from what its newest checkpoint covers up to `head`: links,
    /// the checkpoints on the way and their signatures. Returns the newest checkpoint event
    /// (position, hash) for the next checkpoint to name, or why it cannot sign.
    async fn verify_since_last_checkpoint(
        &self,
        node: &str,
        head: &keystead_store::ChainHead,
        keys: &UnsealedSigningKeys,
        last_signed: Option<&(i64, String)>,
    ) -> Result<Option<(i64, String)>, CheckFailure> {
        let read = CheckFailure::Unreadable;
        let newest = match head.last_checkpoint {
            None => None,
            Some((seq, _)) => self
                .store
                .audit_rows(Some((node.to_owned(), seq - 1)), 1)
                .await
                .map_err(read)?
                .into_iter()
                .find(|r| r.node == node && r.node_seq == seq),
        };
        if let Some(mine) = last_signed {
            if newest.as_ref().map(|r| (r.node_seq, r.hash.as_str())) != Some((mine.0, mine.1.as_str())) {
                return Err(CheckFailure::Tampered(format!(
                    "the newest checkpoint in the store is not event {} that this node signed last: checkpoints were removed or replaced",
                    mine.0
                )));
            }
        }
        // Start where the newest checkpoint's claim starts, so that claim is checked too.
        let start = match &newest {
            Some(row) => {
                let event: AuditEvent = serde_json::from_str(&row.event_json)
                    .map_err(|_| "the newest checkpoint is not a valid event".to_owned())?;
                match Checkpoint::of(&event) {
                    Some(Ok(claim)) => claim.covers_node_seq,
                    _ => return Err(CheckFailure::Tampered("the newest checkpoint is malformed".into())),
                }
            }
            None => 0,
        };
        let anchor = if start == 0 {
            keystead_store::chain::GENESIS.to_owned()
        } else {
            self.store
                .audit_rows(Some((node.to_owned(), start - 1)), 1)
                .await
                .map_err(read)?
                .into_iter()
                .find(|r| r.node == node && r.node_seq == start)
                .map(|r| r.hash)
                .ok_or_else(|| format!("event {start} covered by the newest checkpoint is missing"))?
        };
        let mut verifier = ChainVerifier::resume(keys, node, start, &anchor);
        let mut after = Some((node.to_owned(), start));
        'pages: loop {
            let page = self.store.audit_rows(after.take(), 1_000).await.map_err(read)?;
            for row in &page {
                if row.node != node || row.node_seq > head.node_seq {
                    break 'pages;
                }
                verifier.push(row.as_chain_row());
            }
            match page.last() {
                Some(last) if page.len() == 1_000 => after = Some((last.node.clone(), last.node_seq)),
                _ => break,
            }
        }
        let report = verifier.finish();
        if let Some((_, seq, why)) = report.breaks.first() {
            return Err(CheckFailure::Tampered(format!("event {seq}: {why}")));
        }
        Ok(newest.map(|r| (r.node_seq, r.hash)))
    }

    /// Recomputes every chain and checks every checkpoint's signature with the unsealed
    /// audit signing key; warns about nodes without a checkpoint, with a stale newest one,
    /// or with a gap between two checkpoints longer than twice the interval.
    pub(crate) async fn verify_chains(&self) -> Result<ChainReport, Error> {
        let mut report = self.store.verify_audit_chain(&self.signing_keys().await?).await?;
        if let (Some(days), Some(oldest)) =
            (self.config.audit_retain_days, self.store.oldest_audit_event().await?)
        {
            // A day of grace: the newest checkpoint before the limit may be up to an interval old.
            if oldest < self.now() - time::Duration::days(days + 1) {
                report.warnings.push(format!(
                    "the store holds audit events from {} but keeps {days} days ([audit] retain_days): run `keystead audit archive --out FILE`",
                    oldest.format(&Rfc3339).unwrap_or_default()
                ));
            }
        }
        let now = self.now();
        let interval = self.config.checkpoint_interval_seconds;
        for status in &report.nodes {
            let last =
                status.signed_at.as_deref().and_then(|t| time::OffsetDateTime::parse(t, &Rfc3339).ok());
            match last {
                Some(at) if (now - at).whole_seconds() > 2 * interval => report.warnings.push(format!(
                    "node {}: the newest checkpoint was signed at {}; checkpoints are due every {interval} s, so the node is stopped or newer events were removed",
                    status.node,
                    status.signed_at.as_deref().unwrap_or_default(),
                )),
                None if status.events > 0 => report.warnings.push(format!(
                    "node {}: no verified checkpoint; its {} events are linked but not signed",
                    status.node, status.events
                )),
                _ => {}
            }
            if let Some(gap) = status.longest_checkpoint_gap_seconds.filter(|g| *g > 2 * interval) {
                report.warnings.push(format!(
                    "node {}: {gap} s passed between two of its checkpoints (they are due every {interval} s): the node was stopped then, or checkpoints were removed",
                    status.node
                ));
            }
        }
        Ok(report)
    }
}

fn genuine(stored: StoredKey) -> Result<StoredKey, Error> {
    if is_genuine_signing_key(&stored.attributes) {
        Ok(stored)
    } else {
        Err(Error::AuditTampered {
            reason: format!(
                "key {SIGNING_KEY_NAME} exists but is not Keystead's audit signing key (owner {}, usage context {}); no checkpoint is signed until an operator resolves it",
                stored.attributes.owner, stored.attributes.usage_context
            ),
        })
    }
}
