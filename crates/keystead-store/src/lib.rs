//! Keystead storage: the [`Store`] trait, its SQLite and PostgreSQL backends, the sealed barrier and the
//! hash-chained audit log.
//!
//! A backend stores rows; it never sees plaintext material. [`barrier`] seals material under
//! the root key with associated data naming the key, so an edited or moved row fails to open.
#![forbid(unsafe_code)]

pub mod archive;
pub mod barrier;
pub mod chain;
mod error;
pub mod export;
pub mod inventory;
mod model;
mod sql;

pub use chain::{ChainReport, ChainStatus, SignatureCheck};
pub use error::Error;
pub use model::{
    AccessKeyRecord, AliasRecord, ApprovalFilter, ApprovalRecord, AuditFilter, AuditRecord, ChainHead,
    Change, Delivery, DeliveryResult, FeedEntry, FeedKind, Grant, HeldShare, ImportTokenRecord, KeyFilter,
    NewPrincipal, Notification, StoredAuditRow, StoredKey, StoredPrincipal, StoredVersion, VersionUpdate,
    WebhookRecord,
};
pub use sql::{Backend, SqlStore};

use keystead_core::{AuditEvent, KeyId, KeyRef, Tenant};
use keystead_crypto::TokenHash;
use time::OffsetDateTime;

/// What every storage backend provides. Every state change is committed together with its
/// audit event in one transaction: both are stored or neither.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies `change` and appends `event` to this node's audit chain, atomically.
    async fn commit(&self, change: Change, event: AuditEvent) -> Result<AuditRecord, Error>;

    /// Appends several audit events (no state change) in one transaction: all or none. Lets a
    /// busy node record every key use with one durable commit per batch.
    async fn append_audit_events(&self, events: Vec<AuditEvent>) -> Result<(), Error>;

    /// A key with its versions, looked up by id or by name within `tenant`.
    async fn key(&self, tenant: &Tenant, key: &KeyRef) -> Result<Option<StoredKey>, Error>;

    /// Aliases of one tenant (or every tenant), of one key (or every key), ordered by tenant
    /// and alias.
    async fn aliases(
        &self,
        tenant: Option<&Tenant>,
        key_id: Option<KeyId>,
    ) -> Result<Vec<AliasRecord>, Error>;

    /// A key with its versions, by id in any tenant (ciphertexts name keys by id).
    async fn key_by_id(&self, id: KeyId) -> Result<Option<StoredKey>, Error>;

    /// Keys matching the filter, ordered by tenant and name.
    async fn keys(&self, filter: &KeyFilter) -> Result<Vec<StoredKey>, Error>;

    /// Audit events matching the filter, oldest first.
    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, Error>;

    /// Recomputes every node's hash chain and checks its checkpoints with `signatures`.
    async fn verify_audit_chain(&self, signatures: &dyn SignatureCheck) -> Result<ChainReport, Error>;

    /// Up to `limit` audit rows exactly as stored, ordered by node and node sequence, after
    /// the given (node, node sequence) position: the pages of an export.
    async fn audit_rows(
        &self,
        after: Option<(String, i64)>,
        limit: u32,
    ) -> Result<Vec<StoredAuditRow>, Error>;

    /// Every (key, crypto action) pair that succeeded at least once: what each key was
    /// actually used for, from the audit log.
    async fn crypto_actions_by_key(&self) -> Result<Vec<(KeyId, keystead_core::AuditAction)>, Error>;

    /// One page of the filtered, sorted inventory, with the total matching.
    async fn inventory(&self, query: &inventory::InventoryQuery) -> Result<inventory::InventoryPage, Error>;

    /// Every review of a key, oldest first.
    async fn reviews(&self, key_id: KeyId) -> Result<Vec<inventory::ReviewRecord>, Error>;

    /// Per node, the range an archive of events before `before` would move (up to the newest
    /// signed checkpoint before it, from the node's newest archive boundary).
    async fn archive_plan(&self, before: OffsetDateTime) -> Result<Vec<archive::ArchiveRange>, Error>;

    /// Rows of `node`'s chain after `after_seq` up to `through_seq`, `limit` at most.
    async fn archive_rows(
        &self,
        node: &str,
        after_seq: i64,
        through_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredAuditRow>, Error>;

    /// Each node's newest archive boundary.
    async fn archive_boundaries(&self) -> Result<Vec<archive::ArchiveBoundary>, Error>;

    /// A key's status changes kept from archived events, newest `limit`, oldest first.
    async fn archived_key_history(&self, key_id: KeyId, limit: u32) -> Result<Vec<AuditRecord>, Error>;

    /// When the oldest event still in the hot store occurred.
    async fn oldest_audit_event(&self) -> Result<Option<OffsetDateTime>, Error>;

    /// A key's use counters per version and operation (kept by the audit writer).
    async fn key_usage(&self, key_id: KeyId) -> Result<Vec<inventory::UsageRecord>, Error>;

    /// Anomalies matching the filter, newest first.
    async fn anomalies(
        &self,
        filter: &inventory::AnomalyFilter,
    ) -> Result<Vec<inventory::AnomalyRecord>, Error>;

    /// The share of a backup held for `holder`, collected or not.
    async fn held_share(&self, backup_id: &str, holder: &str) -> Result<Option<HeldShare>, Error>;

    /// Whether an anomaly with this dedupe key was raised already.
    async fn anomaly_exists(&self, dedupe: &str) -> Result<bool, Error>;

    /// Where `node`'s chain ends and its newest checkpoint.
    async fn chain_head(&self, node: &str) -> Result<ChainHead, Error>;

    /// The principal holding a token with this hash, if any and not disabled.
    async fn principal_by_token(&self, hash: &TokenHash) -> Result<Option<StoredPrincipal>, Error>;

    /// The principal of this name, disabled or expired ones included.
    async fn principal_by_name(&self, name: &str) -> Result<Option<StoredPrincipal>, Error>;

    /// Every principal, disabled ones included, by name.
    async fn principals(&self) -> Result<Vec<StoredPrincipal>, Error>;

    /// The access key with this id, disabled or not.
    async fn access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>, Error>;

    /// The import token with this id, used or not.
    async fn import_token(&self, id: &str) -> Result<Option<ImportTokenRecord>, Error>;

    /// Access keys of one principal, or of all, by principal and creation time.
    async fn access_keys(&self, principal: Option<&str>) -> Result<Vec<AccessKeyRecord>, Error>;

    /// Every grant.
    async fn grants(&self) -> Result<Vec<Grant>, Error>;

    /// A value from the store's metadata.
    async fn meta(&self, name: &str) -> Result<Option<String>, Error>;

    /// Sets a metadata value if it is not set yet; returns the value now stored.
    async fn init_meta(&self, name: &str, value: &str) -> Result<String, Error>;

    /// Sets a metadata value only if it is still `expected` (`None`: not set): a shared
    /// cursor several nodes advance. Returns whether it was set.
    async fn swap_meta(&self, name: &str, expected: Option<&str>, value: &str) -> Result<bool, Error>;

    /// The newest position of the change feed (0 when empty).
    async fn feed_head(&self) -> Result<i64, Error>;

    /// Change-feed entries after `seq`, oldest first, at most `limit`. An entry of a kind
    /// this version does not know comes back as `Err(seq)` in the list's place.
    async fn feed_after(&self, seq: i64, limit: u32) -> Result<Vec<Result<FeedEntry, i64>>, Error>;

    /// Waits until another node may have committed a change, or `at_most` passes. PostgreSQL
    /// wakes on NOTIFY; a store that cannot be shared by several nodes just waits.
    async fn wait_for_feed(&self, at_most: std::time::Duration);

    /// An approval request with its votes.
    async fn approval(&self, id: &str) -> Result<Option<ApprovalRecord>, Error>;

    /// Approval requests matching the filter, newest first, at most 500.
    async fn approvals(&self, filter: &ApprovalFilter) -> Result<Vec<ApprovalRecord>, Error>;

    /// Keys the scheduler must look at `now`: a scheduled destruction is due, an active
    /// version is past the key's originator-usage period, or a rotation is due.
    async fn keys_due(&self, now: OffsetDateTime) -> Result<Vec<KeyId>, Error>;

    /// Every webhook, oldest first.
    async fn webhooks(&self) -> Result<Vec<WebhookRecord>, Error>;

    /// Gives up on expired deliveries, then leases up to `limit` due ones to the caller until
    /// `lease_until` (another node does not send them meanwhile) and returns them.
    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Delivery>, Error>;

    /// Records the result of a delivery attempt and releases its lease.
    async fn record_delivery(
        &self,
        id: &str,
        result: DeliveryResult,
        now: OffsetDateTime,
    ) -> Result<(), Error>;

    /// Deliveries, newest first, of one webhook or all.
    async fn deliveries(&self, webhook_id: Option<&str>, limit: u32) -> Result<Vec<Delivery>, Error>;
}
