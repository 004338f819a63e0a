//! The rows a backend stores and the changes it applies.

use std::collections::BTreeMap;

use keystead_core::key::{KeyAttributes, VersionInfo};
use keystead_core::{AuditEvent, KeyId, KeyState, Purpose, Tenant, VersionNumber};
use serde::Serialize;
use time::OffsetDateTime;

/// A version as stored: its public attributes and its sealed material.
#[derive(Clone, Debug)]
pub struct StoredVersion {
    /// Public attributes.
    pub info: VersionInfo,
    /// The provenance exactly as stored (its digest is bound into the sealed material).
    pub provenance_json: String,
    /// Material sealed by [`crate::barrier`]; `None` once destroyed.
    pub sealed_material: Option<Vec<u8>>,
}

/// A key with all its versions, oldest first.
#[derive(Clone, Debug)]
pub struct StoredKey {
    /// The key's attributes.
    pub attributes: KeyAttributes,
    /// Its versions in ascending order.
    pub versions: Vec<StoredVersion>,
}

impl StoredKey {
    /// The newest active version: the one protect operations use.
    pub fn primary(&self) -> Option<&StoredVersion> {
        self.versions.iter().rev().find(|v| v.info.state == KeyState::Active)
    }

    /// A version by number.
    pub fn version(&self, number: VersionNumber) -> Option<&StoredVersion> {
        self.versions.iter().find(|v| v.info.number == number)
    }
}

/// A principal to create.
#[derive(Clone, Debug)]
pub struct NewPrincipal {
    /// Unique name.
    pub name: String,
    /// SHA-256 of its token.
    pub token_hash: [u8; 32],
    /// Its roles, comma separated.
    pub roles: Vec<String>,
    /// The tenant it is confined to, if any.
    pub tenant: Option<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// When it stops authenticating, if ever.
    pub expires_at: Option<OffsetDateTime>,
}

/// A stored principal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoredPrincipal {
    /// Unique name.
    pub name: String,
    /// Its roles.
    pub roles: Vec<String>,
    /// The tenant it is confined to, if any.
    pub tenant: Option<String>,
    /// Whether it can no longer authenticate.
    pub disabled: bool,
    /// When it stops authenticating, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

impl StoredPrincipal {
    /// Whether it may authenticate at `now`: not disabled, not expired.
    pub fn is_active_at(&self, now: OffsetDateTime) -> bool {
        !self.disabled && self.expires_at.is_none_or(|at| now < at)
    }
}

/// A state change, applied atomically with its audit event.
#[derive(Clone, Debug)]
pub enum Change {
    /// Nothing changes; only the audit event is appended (refusals, failures, uses).
    AuditOnly,
    /// A new key with its first version.
    CreateKey {
        /// The key.
        key: KeyAttributes,
        /// Version 1.
        version: StoredVersion,
    },
    /// A new version of an existing key (rotation).
    AddVersion {
        /// The key.
        key_id: KeyId,
        /// The new version; its number must be the next one.
        version: StoredVersion,
    },
    /// Versions move to one state, each from the state it must be in now (compare-and-set).
    SetVersionStates {
        /// The key.
        key_id: KeyId,
        /// Each version with the state it must be in now.
        versions: Vec<(VersionNumber, KeyState)>,
        /// The state they move to.
        to: KeyState,
        /// When.
        at: OffsetDateTime,
    },
    /// A new principal.
    CreatePrincipal(NewPrincipal),
    /// A principal can no longer authenticate.
    DisablePrincipal {
        /// Its name.
        name: String,
    },
    /// Grants crypto operations on a key to a principal (added to any it has).
    AddGrant(Grant),
    /// First initialization of a sealed store: its seal settings and the root principal,
    /// stored together or not at all. Fails with [`Error::Conflict`](crate::Error::Conflict)
    /// if any of the settings exists already (another node initialized the store first).
    Initialize {
        /// Settings written once (`name`, `value`).
        meta: Vec<(String, String)>,
        /// The root principal whose token `operator init` prints.
        root: NewPrincipal,
    },
}

impl Change {
    /// What other nodes must refresh once this change commits, if anything.
    pub fn feed_entry(&self) -> Option<(FeedKind, String)> {
        match self {
            Change::AuditOnly | Change::CreateKey { .. } | Change::CreatePrincipal(_) => None,
            Change::AddVersion { key_id, .. } | Change::SetVersionStates { key_id, .. } => {
                Some((FeedKind::Key, key_id.to_string()))
            }
            Change::DisablePrincipal { name } => Some((FeedKind::Principal, name.clone())),
            Change::AddGrant(grant) => Some((FeedKind::Grant, grant.principal.clone())),
            Change::Initialize { .. } => Some((FeedKind::Seal, String::new())),
        }
    }
}

/// What a change-feed entry invalidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedKind {
    /// A key's versions or states: drop it from the key cache.
    Key,
    /// A principal was disabled: drop it from the token and certificate caches.
    Principal,
    /// A principal's grants changed: reload grants.
    Grant,
    /// The store was initialized: load the seal settings.
    Seal,
}

impl FeedKind {
    /// The name stored in the feed.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedKind::Key => "key",
            FeedKind::Principal => "principal",
            FeedKind::Grant => "grant",
            FeedKind::Seal => "seal",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [FeedKind::Key, FeedKind::Principal, FeedKind::Grant, FeedKind::Seal]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// One entry of the change feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedEntry {
    /// Position in the feed (increasing, with possible gaps).
    pub seq: i64,
    /// The node that committed the change.
    pub node: String,
    /// What changed.
    pub kind: FeedKind,
    /// Its subject: a key id or a principal name (empty for the seal).
    pub subject: String,
    /// When the writer committed it (its clock, Unix milliseconds).
    pub at_ms: i64,
}

impl FeedEntry {
    /// Builds an entry from its stored columns; `None` for an unknown kind (a newer version
    /// wrote it), which the reader treats as "refresh everything".
    pub fn from_row(seq: i64, node: String, kind: &str, subject: String, at_ms: i64) -> Option<Self> {
        Some(Self { seq, node, kind: FeedKind::parse(kind)?, subject, at_ms })
    }
}

/// Crypto operations a principal may perform on one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// The principal.
    pub principal: String,
    /// The key.
    pub key_id: KeyId,
    /// The operations, e.g. `encrypt`, `decrypt`.
    pub operations: Vec<keystead_core::Operation>,
    /// When the grant was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Which keys to list.
#[derive(Clone, Debug, Default)]
pub struct KeyFilter {
    /// Only this tenant.
    pub tenant: Option<Tenant>,
    /// Only keys of this purpose.
    pub purpose: Option<Purpose>,
    /// Only keys whose owner is this.
    pub owner: Option<String>,
    /// Only keys with at least one version in this state.
    pub state: Option<KeyState>,
    /// Only keys carrying all these labels.
    pub labels: BTreeMap<String, String>,
}

/// Which audit events to list.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only events about this key.
    pub key_id: Option<KeyId>,
    /// Only events by this actor.
    pub actor: Option<String>,
    /// Only events at or after this time.
    pub since: Option<OffsetDateTime>,
    /// At most this many (the newest), default 1000.
    pub limit: Option<u32>,
}

/// An audit event as stored in the chain.
#[derive(Clone, Debug, Serialize)]
pub struct AuditRecord {
    /// Global order of insertion.
    pub sequence: i64,
    /// Position in its node's chain, from 1.
    pub node_sequence: i64,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// Hash of the previous event of the node's chain (hex), zeros for the first.
    pub prev_hash: String,
    /// SHA-256 over the previous hash and this event's canonical bytes (hex).
    pub hash: String,
}

/// The result of checking every chain.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ChainReport {
    /// Events checked.
    pub events: u64,
    /// Chains (nodes) checked.
    pub chains: u64,
    /// Where each broken chain first breaks: (node, node sequence, what is wrong).
    pub breaks: Vec<(String, i64, String)>,
}

impl ChainReport {
    /// Whether every chain is intact.
    pub fn intact(&self) -> bool {
        self.breaks.is_empty()
    }
}
