//! The rows a backend stores and the changes it applies.

use std::collections::BTreeMap;

use keystead_core::approval::{ApprovalOperation, ApprovalPolicy, ApprovalStatus, Vote};
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

/// A backup share held for one recovery officer.
#[derive(Clone, Debug)]
pub struct HeldShare {
    /// The backup.
    pub backup_id: String,
    /// The share's index (1..=N).
    pub index: u8,
    /// The principal it is for.
    pub holder: String,
    /// The share sealed under the root key; `None` once collected.
    pub sealed_share: Option<Vec<u8>>,
    /// When it was stored.
    pub created_at: OffsetDateTime,
    /// When its holder collected it.
    pub collected_at: Option<OffsetDateTime>,
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
#[allow(
    clippy::large_enum_variant,
    reason = "one short-lived value per commit; boxing would only add an allocation"
)]
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
    /// Versions take new attributes (state, times, compromise report, destruction schedule),
    /// each only if it is still in the state it was read in (compare-and-set).
    UpdateVersions {
        /// The key.
        key_id: KeyId,
        /// The versions' new attributes.
        updates: Vec<VersionUpdate>,
        /// When.
        at: OffsetDateTime,
    },
    /// A new approval request.
    CreateApproval(ApprovalRecord),
    /// An approver's vote, refused if the request is no longer pending, the principal has
    /// voted already, or the request no longer has `expected_votes` votes (another vote came
    /// in since the decision was worked out: read again and retry); `decides` is the status
    /// the vote moves the request to, if it decides it.
    Vote {
        /// The request.
        approval_id: String,
        /// How many votes the request had when `decides` was worked out.
        expected_votes: usize,
        /// The vote.
        vote: Vote,
        /// The request's new status when this vote decides it.
        decides: Option<ApprovalStatus>,
    },
    /// A request's status moves on (expiry, an exception's window closing), compare-and-set.
    SetApprovalStatus {
        /// The request.
        id: String,
        /// The status it must have now.
        from: ApprovalStatus,
        /// Its new status.
        to: ApprovalStatus,
        /// When.
        at: OffsetDateTime,
    },
    /// A new webhook.
    AddWebhook(WebhookRecord),
    /// A notification, queued in the outbox for every webhook subscribed to its type.
    Notify(Notification),
    /// Several changes in one transaction.
    Batch(Vec<Change>),
    /// An owner's review of a key.
    RecordReview(crate::inventory::ReviewRecord),
    /// An anomaly raised by a rule; a second one with the same `dedupe` is a conflict.
    RaiseAnomaly(crate::inventory::AnomalyRecord),
    /// A new principal.
    CreatePrincipal(NewPrincipal),
    /// A principal can no longer authenticate.
    DisablePrincipal {
        /// Its name.
        name: String,
    },
    /// Grants crypto operations on a key to a principal (added to any it has).
    AddGrant(Grant),
    /// Takes operations back: the grant's operations become `to` if they are still `from`
    /// (compare-and-set); an empty `to` deletes the grant.
    RevokeGrant {
        /// The principal.
        principal: String,
        /// The key.
        key_id: KeyId,
        /// The operations as read.
        from: Vec<keystead_core::Operation>,
        /// The operations left.
        to: Vec<keystead_core::Operation>,
    },
    /// A principal's roles and expiry change, if its roles are still `from_roles`.
    UpdatePrincipal {
        /// Its name.
        name: String,
        /// Its roles as read.
        from_roles: Vec<String>,
        /// Its expiry as read.
        from_expires_at: Option<OffsetDateTime>,
        /// Its roles from now on.
        roles: Vec<String>,
        /// When it stops authenticating, if ever.
        expires_at: Option<OffsetDateTime>,
    },
    /// A disabled principal may authenticate again.
    EnablePrincipal {
        /// Its name.
        name: String,
    },
    /// A key's changeable attributes (owner, description, labels, periods, recoverability,
    /// criticality, classification) take the values of `key`, if the key was not changed
    /// since `from_updated_at` (compare-and-set). Id, tenant, name, purpose, algorithm and
    /// environment are never written.
    UpdateKey {
        /// The key with its new attributes.
        key: KeyAttributes,
        /// Its `updated_at` as read.
        from_updated_at: OffsetDateTime,
    },
    /// A new alias; [`Error::NameTaken`](crate::Error::NameTaken) if the tenant has it.
    CreateAlias(AliasRecord),
    /// An alias names another key, if it still names `from`.
    PointAlias {
        /// The tenant.
        tenant: String,
        /// The alias.
        alias: String,
        /// The key it names as read.
        from: KeyId,
        /// The key it names from now on.
        to: KeyId,
        /// When.
        at: OffsetDateTime,
    },
    /// An alias goes, if it still names `key_id`.
    DeleteAlias {
        /// The tenant.
        tenant: String,
        /// The alias.
        alias: String,
        /// The key it names as read.
        key_id: KeyId,
    },
    /// A webhook is turned on or off (compare-and-set on its state).
    SetWebhookEnabled {
        /// The webhook.
        id: String,
        /// The new state.
        enabled: bool,
    },
    /// A webhook goes, with every notification queued for it.
    DeleteWebhook {
        /// The webhook.
        id: String,
    },
    /// A webhook's signing secret is replaced, if it is still `from` (compare-and-set).
    RotateWebhookSecret {
        /// The webhook.
        id: String,
        /// The sealed secret as read.
        from: Vec<u8>,
        /// The new sealed secret.
        sealed_secret: Vec<u8>,
        /// When.
        at: OffsetDateTime,
    },
    /// Backup shares held for their recovery officers until each collects its own.
    HoldShares(Vec<HeldShare>),
    /// A holder collects its share: the sealed share is deleted, once.
    CollectShare {
        /// The backup.
        backup_id: String,
        /// The holder.
        holder: String,
        /// When.
        at: OffsetDateTime,
    },
    /// A key restored from a backup with all its versions as they were (states, times,
    /// compromise reports). Refused with [`Error::Conflict`](crate::Error::Conflict) if a key
    /// with this id exists, with [`Error::NameTaken`](crate::Error::NameTaken) if its name
    /// is taken in its tenant.
    RestoreKey {
        /// The key.
        key: KeyAttributes,
        /// Every version, oldest first, numbered from 1.
        versions: Vec<StoredVersion>,
    },
    /// Old audit events leave the hot store for an archive file the operator holds: the
    /// archive is recorded per node, key status changes among them are kept, the events are
    /// deleted. Fails with [`Error::Conflict`](crate::Error::Conflict) if another archive
    /// moved a node's boundary since the plan.
    ArchiveAudit(crate::archive::ArchiveRecord),
    /// A new access key.
    CreateAccessKey(AccessKeyRecord),
    /// An access key is refused (`disabled`) or accepted again, if it is not so already.
    SetAccessKeyDisabled {
        /// Its id.
        id: String,
        /// Its new state.
        disabled: bool,
    },
    /// An access key is deleted for good.
    DeleteAccessKey {
        /// Its id.
        id: String,
    },
    /// A new import token (bring your own key).
    CreateImportToken(ImportTokenRecord),
    /// An import token is spent: refused with [`Error::Conflict`](crate::Error::Conflict) if
    /// it was used already or has expired by `at`. Its sealed private key is deleted.
    UseImportToken {
        /// Its id.
        id: String,
        /// When.
        at: OffsetDateTime,
    },
    /// Imported material lands in a version waiting for it (state `pending-import`): the
    /// version takes `version`'s state, KCV, public key, provenance, sealed material and times,
    /// only if it is still pending, unscheduled for destruction, and holds `expected_kcv`
    /// (compare-and-set: a concurrent import or deletion makes it a conflict).
    ImportMaterial {
        /// The key.
        key_id: KeyId,
        /// The KCV the pending version held when read (empty before the first import).
        expected_kcv: String,
        /// The version as it is once imported.
        version: StoredVersion,
    },
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
    /// What other nodes must refresh once this change commits.
    pub fn feed_entries(&self) -> Vec<(FeedKind, String)> {
        match self {
            Change::AuditOnly
            | Change::ArchiveAudit(_)
            | Change::CreateKey { .. }
            | Change::CreatePrincipal(_)
            | Change::CreateApproval(_)
            | Change::Vote { .. }
            | Change::SetApprovalStatus { .. }
            | Change::AddWebhook(_)
            | Change::RecordReview(_)
            | Change::RaiseAnomaly(_)
            | Change::HoldShares(_)
            | Change::CollectShare { .. }
            | Change::Notify(_) => Vec::new(),
            Change::AddVersion { key_id, .. } | Change::UpdateVersions { key_id, .. } => {
                vec![(FeedKind::Key, key_id.to_string())]
            }
            Change::RestoreKey { key, .. } => vec![(FeedKind::Key, key.id.to_string())],
            Change::DisablePrincipal { name } => vec![(FeedKind::Principal, name.clone())],
            Change::ImportMaterial { key_id, .. } => vec![(FeedKind::Key, key_id.to_string())],
            // Import tokens are read from the store on each use.
            Change::CreateImportToken(_) | Change::UseImportToken { .. } => Vec::new(),
            // A new access key is read from the store on its first use: nothing to refresh.
            Change::CreateAccessKey(_) => Vec::new(),
            Change::SetAccessKeyDisabled { id, .. } | Change::DeleteAccessKey { id } => {
                vec![(FeedKind::AccessKey, id.clone())]
            }
            // Forgetting a principal drops its grants from memory: they are reloaded too.
            Change::UpdatePrincipal { name, .. } | Change::EnablePrincipal { name } => {
                vec![(FeedKind::Principal, name.clone()), (FeedKind::Grant, name.clone())]
            }
            Change::RevokeGrant { principal, .. } => vec![(FeedKind::Grant, principal.clone())],
            Change::UpdateKey { key, .. } => vec![(FeedKind::Key, key.id.to_string())],
            // Aliases and webhooks are read from the store on each use: nothing to refresh.
            Change::CreateAlias(_)
            | Change::PointAlias { .. }
            | Change::DeleteAlias { .. }
            | Change::SetWebhookEnabled { .. }
            | Change::DeleteWebhook { .. }
            | Change::RotateWebhookSecret { .. } => Vec::new(),
            Change::AddGrant(grant) => vec![(FeedKind::Grant, grant.principal.clone())],
            Change::Initialize { .. } => vec![(FeedKind::Seal, String::new())],
            Change::Batch(changes) => changes.iter().flat_map(Change::feed_entries).collect(),
        }
    }
}

/// A version's new attributes in [`Change::UpdateVersions`], applied only if the version is
/// still as it was read: in state `from` with destruction schedule `from_destroy_at` (the
/// attributes that change on their own; all others change only with the state).
#[derive(Clone, Debug)]
pub struct VersionUpdate {
    /// The state the version must be in now.
    pub from: KeyState,
    /// The destruction schedule it must have now.
    pub from_destroy_at: Option<OffsetDateTime>,
    /// Its new attributes (number, state, times, compromise, destruction schedule).
    pub info: VersionInfo,
    /// Delete the sealed material (destruction).
    pub destroy_material: bool,
}

impl VersionUpdate {
    /// Moves a version read as `current` to `info`.
    pub fn of(current: &VersionInfo, info: VersionInfo) -> Self {
        Self { from: current.state, from_destroy_at: current.destroy_at, info, destroy_material: false }
    }

    /// The same update, also deleting the sealed material.
    pub fn destroying_material(mut self) -> Self {
        self.destroy_material = true;
        self
    }
}

/// An approval request with its votes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApprovalRecord {
    /// `apr_` and 32 hex digits.
    pub id: String,
    /// What runs once approved.
    pub operation: ApprovalOperation,
    /// The key's tenant.
    pub tenant: String,
    /// The key, for a request about one key (not for a backup restore or its review).
    pub key_id: Option<KeyId>,
    /// The key's name when the request was made, or what the request is about (the backup).
    pub key_name: String,
    /// The version, if the request is for one.
    pub version: Option<u32>,
    /// Who asked.
    pub requester: String,
    /// Where it stands.
    pub status: ApprovalStatus,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Undecided by then, it expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was approved, rejected, expired or closed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    /// The requester's justification.
    pub justification: String,
    /// The approvals it needs.
    pub policy: ApprovalPolicy,
    /// The operation's parameters (e.g. `after_seconds`, `operation`, `for_seconds`).
    pub parameters: BTreeMap<String, String>,
    /// The votes so far, oldest first.
    pub votes: Vec<Vote>,
}

/// Which approval requests to list.
#[derive(Clone, Debug, Default)]
pub struct ApprovalFilter {
    /// Only this status.
    pub status: Option<ApprovalStatus>,
    /// Only about this key.
    pub key_id: Option<KeyId>,
    /// Only this operation.
    pub operation: Option<ApprovalOperation>,
    /// Only by this requester.
    pub requester: Option<String>,
    /// Only those expiring at or before this time.
    pub expires_before: Option<OffsetDateTime>,
}

/// An import token: a wrapping key pair for one import into one key within its lifetime.
#[derive(Clone)]
pub struct ImportTokenRecord {
    /// 32 lower-case hex digits (128 random bits): what the token the owner holds names.
    pub id: String,
    /// The tenant of the key.
    pub tenant: Tenant,
    /// The existing key it imports into, or `None` for a new key named `key_name`.
    pub key_id: Option<KeyId>,
    /// The key's name (a new key's name, or the existing key's name when issued).
    pub key_name: String,
    /// How the material must be wrapped.
    pub wrapping_algorithm: keystead_core::WrappingAlgorithm,
    /// The wrapping key's size.
    pub wrapping_key_spec: keystead_core::WrappingKeySpec,
    /// DER SubjectPublicKeyInfo of the wrapping key.
    pub public_key_der: Vec<u8>,
    /// The PKCS#8 private key, sealed under the root key bound to `id`; gone once used.
    pub sealed_private_key: Option<Vec<u8>>,
    /// When it was issued.
    pub created_at: OffsetDateTime,
    /// Who asked for it.
    pub created_by: String,
    /// When it stops being accepted.
    pub expires_at: OffsetDateTime,
    /// When it was used, if it was.
    pub used_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for ImportTokenRecord {
    /// Everything but the sealed private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportTokenRecord")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("key_id", &self.key_id)
            .field("key_name", &self.key_name)
            .field("expires_at", &self.expires_at)
            .field("used_at", &self.used_at)
            .finish_non_exhaustive()
    }
}

/// An AWS SigV4 access key: it authenticates as its principal.
#[derive(Clone)]
pub struct AccessKeyRecord {
    /// The access key id (`AKKS` and 16 upper-case hex digits), as SDKs send it.
    pub id: String,
    /// The principal it authenticates as.
    pub principal: String,
    /// The secret access key, sealed under the root key (bound to `id`).
    pub sealed_secret: Vec<u8>,
    /// Whether it is refused.
    pub disabled: bool,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// Who created it.
    pub created_by: String,
}

impl std::fmt::Debug for AccessKeyRecord {
    /// Everything but the sealed secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyRecord")
            .field("id", &self.id)
            .field("principal", &self.principal)
            .field("disabled", &self.disabled)
            .field("created_at", &self.created_at)
            .field("created_by", &self.created_by)
            .finish_non_exhaustive()
    }
}

/// A webhook subscription.
#[derive(Clone, Debug)]
pub struct WebhookRecord {
    /// `whk_` and 32 hex digits.
    pub id: String,
    /// Where notifications are POSTed.
    pub url: String,
    /// Event types or patterns (`approval.*`, `*`).
    pub events: Vec<String>,
    /// The HMAC-SHA256 signing secret, sealed under the root key.
    pub sealed_secret: Vec<u8>,
    /// When it was added.
    pub created_at: OffsetDateTime,
    /// Who added it.
    pub created_by: String,
    /// Whether notifications are queued and delivered for it.
    pub enabled: bool,
    /// When its signing secret was last replaced, if ever.
    pub secret_rotated_at: Option<OffsetDateTime>,
}

/// An alias: another name of one key of its tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AliasRecord {
    /// The tenant.
    pub tenant: String,
    /// The alias (`alias/...`).
    pub alias: String,
    /// The key it names.
    pub key_id: KeyId,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When it was last pointed at a key.
    pub updated_at: OffsetDateTime,
}

impl WebhookRecord {
    /// Whether the webhook subscribes to `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.iter().any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => event_type.starts_with(prefix),
            None => pattern == event_type,
        })
    }
}

/// A notification to queue for every subscribed webhook.
#[derive(Clone, Debug)]
pub struct Notification {
    /// Unique id (`evt_` and 32 hex digits), also the receivers' deduplication key.
    pub id: String,
    /// E.g. `key.compromised`.
    pub event_type: String,
    /// The JSON body sent.
    pub body: String,
    /// When it was raised.
    pub created_at: OffsetDateTime,
    /// Undelivered by then, it is given up.
    pub expires_at: OffsetDateTime,
}

/// Where one outbox row stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// Notification id and webhook id.
    pub id: String,
    /// The webhook.
    pub webhook_id: String,
    /// The event type.
    pub event_type: String,
    /// The JSON body.
    #[serde(skip)]
    pub body: String,
    /// `pending`, `delivered` or `expired`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// When it was queued.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The next attempt, while pending.
    #[serde(with = "time::serde::rfc3339")]
    pub next_attempt_at: OffsetDateTime,
    /// Given up after this.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// When it was delivered.
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    /// The last failure (status code or transport error).
    pub last_error: Option<String>,
}

/// The result of one delivery attempt.
#[derive(Clone, Debug)]
pub enum DeliveryResult {
    /// The receiver answered 2xx.
    Delivered,
    /// It failed; try again at `retry_at`, or give up if that is past the expiry.
    Failed {
        /// Why (never the secret or the body).
        error: String,
        /// When to try again.
        retry_at: OffsetDateTime,
    },
}

/// What a change-feed entry invalidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedKind {
    /// A key's versions or states: drop it from the key cache.
    Key,
    /// A principal was disabled, enabled or changed roles: drop it from the token and
    /// certificate caches.
    Principal,
    /// A principal's grants changed: reload grants.
    Grant,
    /// The store was initialized: load the seal settings.
    Seal,
    /// An access key was disabled, enabled or deleted: drop it from the access-key cache.
    AccessKey,
}

impl FeedKind {
    /// The name stored in the feed.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedKind::Key => "key",
            FeedKind::Principal => "principal",
            FeedKind::Grant => "grant",
            FeedKind::Seal => "seal",
            FeedKind::AccessKey => "access-key",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [FeedKind::Key, FeedKind::Principal, FeedKind::Grant, FeedKind::Seal, FeedKind::AccessKey]
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
    /// At most this many (the newest, or with `after_sequence` the oldest), default 1000.
    pub limit: Option<u32>,
    /// Only these actions (all when empty).
    pub actions: Vec<keystead_core::AuditAction>,
    /// Only events after this global sequence, oldest first: a scanner's cursor.
    pub after_sequence: Option<i64>,
    /// Only events with this outcome.
    pub outcome: Option<keystead_core::Outcome>,
    /// Only events with this error code.
    pub error_code: Option<String>,
    /// Only events before this global sequence.
    pub before_sequence: Option<i64>,
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

/// An audit row exactly as stored: what verification and export read.
#[derive(Clone, Debug, Serialize)]
pub struct StoredAuditRow {
    /// Global order of insertion.
    pub sequence: i64,
    /// The node whose chain holds it.
    pub node: String,
    /// Its position in that chain, from 1.
    pub node_seq: i64,
    /// The canonical event JSON as stored.
    pub event_json: String,
    /// The stored previous hash.
    pub prev_hash: String,
    /// The stored hash.
    pub hash: String,
}

impl StoredAuditRow {
    /// The row as the chain verifier reads it.
    pub fn as_chain_row(&self) -> crate::chain::ChainRow<'_> {
        crate::chain::ChainRow {
            node: &self.node,
            node_seq: self.node_seq,
            event_json: &self.event_json,
            prev_hash: &self.prev_hash,
            hash: &self.hash,
        }
    }
}

/// Where a node's chain ends, and its newest checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainHead {
    /// The newest event's position (0 for an empty chain).
    pub node_seq: i64,
    /// The newest event's hash ([`crate::chain::GENESIS`] for an empty chain).
    pub hash: String,
    /// The newest checkpoint event: its position and time.
    pub last_checkpoint: Option<(i64, OffsetDateTime)>,
}

#[cfg(test)]
mod feed_tests {
    use super::*;

    /// Another node caches verified access keys: a disable or delete must reach it.
    #[test]
    fn access_key_changes_reach_other_nodes() {
        let id = "AKKS0123456789ABCDEF".to_owned();
        for change in [
            Change::SetAccessKeyDisabled { id: id.clone(), disabled: true },
            Change::DeleteAccessKey { id: id.clone() },
        ] {
            assert_eq!(change.feed_entries(), vec![(FeedKind::AccessKey, id.clone())]);
        }
        assert_eq!(FeedKind::parse(FeedKind::AccessKey.as_str()), Some(FeedKind::AccessKey));
    }
}
