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
use keystead_core::{
    Algorithm, AuditAction, KeyId, KeyName, KeyRef, KeyState, Operation, Purpose, Tenant, UsageContext,
    VersionNumber,
};
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

/// Checks checkpoint signatures with the unsealed audit signing key.
struct UnsealedSigningKeys(BTreeMap<KeyId, Arc<CachedKey>>);

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
    /// wins, the other reads the winner's.
    async fn audit_signing_key(&self) -> Result<StoredKey, Error> {
        let tenant = Tenant::default_tenant();
        let name = KeyRef::Name(KeyName::new(SIGNING_KEY_NAME)?);
        if let Some(stored) = self.store.key(&tenant, &name).await? {
            return Ok(stored);
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
            owner: caller.principal.clone(),
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
        self.store
            .key(&tenant, &name)
            .await?
            .ok_or(Error::Store(keystead_store::Error::Corrupt { what: "audit signing key" }))
    }

    /// Signs this node's chain head when `checkpoint_events` events have passed since the
    /// last checkpoint or `checkpoint_interval_seconds` have (a quiet node still signs, so a
    /// removed tail shows as a gap in checkpoint times). Returns whether it signed.
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
    /// signed up to its start).
    pub(crate) async fn sign_checkpoint(&self) -> Result<(), Error> {
        // The key first: creating it appends an event the checkpoint then covers.
        let stored = self.audit_signing_key().await?;
        let node = self.config.node.to_string();
        let head = self.store.chain_head(&node).await?;
        let now = self.now();
        let caller = Caller::system("checkpoint");
        let mut event = self.attempt(&caller, AuditAction::AuditCheckpoint, &stored.attributes.tenant);
        describe_key(&mut event, &stored.attributes);
        let cached = self.load(stored, self.cache.epoch()).await?;
        let (version, loaded) = cached.primary_for(Operation::Sign, &mut event)?;
        let signed_at = now.format(&Rfc3339).map_err(|_| crate::error::invalid("time", "cannot format"))?;
        let signature = loaded.sign(&statement(&node, head.node_seq, &head.hash, &signed_at))?;
        let claim = Checkpoint {
            covers_node_seq: head.node_seq,
            covers_hash: head.hash,
            signed_at,
            key_id: cached.stored.attributes.id.to_string(),
            key_version: version.info.number.get(),
            signature,
        };
        claim.describe(&mut event);
        self.store.commit(Change::AuditOnly, event).await?;
        Ok(())
    }

    /// Recomputes every chain and checks every checkpoint's signature with the unsealed
    /// audit signing key; warns about chains whose newest checkpoint is overdue.
    pub(crate) async fn verify_chains(&self) -> Result<ChainReport, Error> {
        let tenant = Tenant::default_tenant();
        let mut keys = BTreeMap::new();
        let name = KeyRef::Name(KeyName::new(SIGNING_KEY_NAME)?);
        if let Some(stored) = self.store.key(&tenant, &name).await? {
            let cached = self.load(stored, self.cache.epoch()).await?;
            keys.insert(cached.stored.attributes.id, cached);
        }
        let mut report = self.store.verify_audit_chain(&UnsealedSigningKeys(keys)).await?;
        let now = self.now();
        let overdue = 2 * self.config.checkpoint_interval_seconds;
        for status in &report.nodes {
            let last =
                status.signed_at.as_deref().and_then(|t| time::OffsetDateTime::parse(t, &Rfc3339).ok());
            match last {
                Some(at) if (now - at).whole_seconds() > overdue => report.warnings.push(format!(
                    "node {}: the newest checkpoint was signed at {}; checkpoints are due every {} s, so the node is stopped or newer events were removed",
                    status.node,
                    status.signed_at.as_deref().unwrap_or_default(),
                    self.config.checkpoint_interval_seconds
                )),
                None if status.events > 0 => report.warnings.push(format!(
                    "node {}: no verified checkpoint; its {} events are linked but not signed",
                    status.node, status.events
                )),
                _ => {}
            }
        }
        Ok(report)
    }
}
