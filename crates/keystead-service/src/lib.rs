//! Keystead's service layer: one method per operation, always in the same order —
//! authenticate, authorize (tenant), check purpose and state, do the crypto, persist together
//! with the audit event. Adapters (REST, later KMIP) call only these methods.
#![forbid(unsafe_code)]

mod access;
mod audit;
mod auth_failures;
mod backup;
mod cache;
mod caller;
mod error;
mod follow;
pub mod hsm;
mod notify;
mod ops;
pub mod report;
mod seal;
mod share_text;
mod use_audit;
mod views;

use std::sync::{Arc, Mutex};

use std::collections::BTreeMap;

use keystead_core::approval::{ApprovalOperation, ApprovalPolicy};
use keystead_core::{Environment, NodeName};
use keystead_store::Store;
use time::OffsetDateTime;

pub use auth_failures::{AuthFailurePolicy, FailureReason};
pub use backup::{
    BackupHeader, BackupManifest, BackupStream, ConflictingKey, DrillFailure, DrillReport, ManifestKey,
    OnConflict, RecoveryRequest, RestoreInput, RestoreReport, RestoredKey, MAX_SHARES,
};
pub use cache::KeyCacheStats;
pub use caller::{Caller, Justification};
pub use error::{Error, ErrorKind, ImportTokenProblem};
pub use keystead_crypto::SecretBytes;
pub use keystead_store::archive::ArchiveRange;
pub use keystead_store::export::ExportLine;
pub use keystead_store::inventory::{AnomalyRecord, ReviewRecord, UsageRecord};
pub use keystead_store::Delivery;
pub use keystead_store::{AuditRecord, ChainReport, ChainStatus, StoredAuditRow};
pub use keystead_store::{Grant, StoredPrincipal};
pub use notify::EVENT_TYPES;
pub use ops::access_keys::{AccessKeyRefusal, AccessKeyView, NewAccessKeyView, ACCESS_KEY_PREFIX};
pub use ops::anomaly::{AnomalyRules, AnomalyScan, ChangeWindow, ANOMALY_RULES};
pub use ops::approvals::ApprovalView;
pub use ops::archive::{ArchiveDone, ArchivePlan};
pub use ops::compromise::CompromiseReport;
pub use ops::destroy::DestroyRequest;
pub use ops::exception::ExceptionRequest;
pub use ops::import::{ImportKeyRequest, ImportParamsRequest, ImportParamsView};
pub use ops::inventory::{InventoryItem, InventoryRequest, InventoryView};
pub use ops::principals::{NewPrincipalView, PrincipalUpdate};
pub use ops::recovery::{KeyAssessment, RecoveryAssessment};
pub use ops::requests::{CreateKeyRequest, KeyListFilter};
pub use ops::scheduler::DueWork;
pub use ops::update::{AliasView, KeyUpdate};
pub use ops::webhooks::{NewWebhookView, OutgoingDelivery, WebhookView};
pub use seal::{InitOutput, SealSetup, SealStatus, ShareText};
pub use views::{DataKeyView, DecryptView, KeyView, RewrapView, ServerStatus};

/// A source of the current time, injected so tests can control it.
pub type Clock = Arc<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// A request's credential, as the transport received it.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    /// The bearer token of the `Authorization` header, if any.
    Bearer(Option<&'a str>),
    /// The CN of a client certificate the TLS layer verified (used when no token was given).
    Certificate(&'a str),
}

impl Credential<'_> {
    /// `bearer` or `mtls`, as audit events name the method.
    pub fn method(self) -> &'static str {
        match self {
            Credential::Bearer(_) => "bearer",
            Credential::Certificate(_) => "mtls",
        }
    }
}

impl std::fmt::Debug for Credential<'_> {
    /// The method only: a token never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({})", self.method())
    }
}

/// The server's fixed settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// This node's name (recorded in provenance and audit events).
    pub node: NodeName,
    /// The one environment this server serves.
    pub environment: Environment,
    /// Keys below this security strength are refused.
    pub minimum_strength_bits: u32,
    /// The approvals each operation needs.
    pub approval_policies: BTreeMap<ApprovalOperation, ApprovalPolicy>,
    /// How long an approval request stays open at most.
    pub approval_ttl_seconds: i64,
    /// The shortest waiting period between an approved destruction and its run.
    pub minimum_destroy_wait_seconds: i64,
    /// The longest window a compromised-key exception may ask for.
    pub maximum_exception_seconds: i64,
    /// How long the outbox retries an undelivered webhook notification.
    pub webhook_retry_seconds: i64,
    /// A node signs an audit checkpoint after this many events of its chain...
    pub checkpoint_events: i64,
    /// ...or after this many seconds, whichever comes first.
    pub checkpoint_interval_seconds: i64,
    /// How often each key's owner reviews it (the review policy).
    pub review_interval_seconds: i64,
    /// The anomaly rules over the audit stream.
    pub anomaly_rules: AnomalyRules,
    /// Principals who may restore a backup without an approved request, in an emergency;
    /// each such restore raises an anomaly and opens a review at once.
    pub break_glass_principals: Vec<String>,
    /// A passed recovery drill older than this no longer counts as evidence (CEK-20).
    pub drill_interval_seconds: i64,
    /// How failed authentication is rate-limited and summarized in the audit log.
    pub auth_failures: AuthFailurePolicy,
    /// Audit events are kept in the store this many days; older ones are due for
    /// `audit archive` (which archives up to this age when no date is given). None: forever.
    pub audit_retain_days: Option<i64>,
}

impl Config {
    /// Settings with the environment's defaults: its strength policy, the default approval
    /// policies, 24-hour approval requests, a destruction wait of 7 days in production (1 day
    /// in staging, 1 second elsewhere), exceptions of at most 24 hours, webhooks retried for
    /// 24 hours, audit checkpoints every 1000 events or 5 minutes, key reviews every 180 days,
    /// no break-glass principal, a recovery drill every 90 days.
    pub fn new(node: NodeName, environment: Environment) -> Self {
        let approval_policies =
            ApprovalOperation::ALL.iter().map(|op| (*op, ApprovalPolicy::default_for(*op))).collect();
        let minimum_destroy_wait_seconds = match environment {
            Environment::Production => 7 * 86_400,
            Environment::Staging => 86_400,
            Environment::Development | Environment::Test => 1,
        };
        Self {
            node,
            environment,
            minimum_strength_bits: environment.default_minimum_strength_bits(),
            approval_policies,
            approval_ttl_seconds: 86_400,
            minimum_destroy_wait_seconds,
            maximum_exception_seconds: 86_400,
            webhook_retry_seconds: 86_400,
            checkpoint_events: 1_000,
            checkpoint_interval_seconds: 300,
            review_interval_seconds: 180 * 86_400,
            anomaly_rules: AnomalyRules::default(),
            break_glass_principals: Vec::new(),
            drill_interval_seconds: 90 * 86_400,
            auth_failures: AuthFailurePolicy::default(),
            audit_retain_days: None,
        }
    }

    /// The approvals `operation` needs.
    pub fn approval_policy(&self, operation: ApprovalOperation) -> ApprovalPolicy {
        self.approval_policies
            .get(&operation)
            .cloned()
            .unwrap_or_else(|| ApprovalPolicy::default_for(operation))
    }
}

/// The service: every operation of Keystead.
pub struct Service {
    store: Arc<dyn Store>,
    seal: Mutex<seal::SealState>,
    config: Config,
    cache: cache::KeyCache,
    access: access::AccessCache,
    use_audit: use_audit::UseAudit,
    /// Failed authentications counted per source, and sources refused for failing too often.
    auth_failures: auth_failures::AuthFailures,
    clock: Clock,
    /// The known-answer tests that passed when the service was built.
    self_tests: Vec<&'static str>,
    /// The change feed's head when the service was built (`follow.rs`).
    feed_start: i64,
    /// Anomalies raised by this process, by rule.
    anomaly_counts: ops::anomaly::AnomalyCounts,
    /// Sequence gaps the anomaly scanner is waiting for, with when it first saw each.
    anomaly_gaps: Mutex<BTreeMap<i64, OffsetDateTime>>,
    /// Failed attempts of the anomaly scanner per audit event.
    anomaly_failures: Mutex<BTreeMap<i64, u32>>,
    /// `shamir`, `pkcs11` or `file`.
    seal_kind: &'static str,
    /// Counts the times the root key left memory, so work that holds it (a backup being
    /// written) stops when the server is sealed.
    seal_epoch: Arc<std::sync::atomic::AtomicU64>,
    /// The PKCS#11 token session under the pkcs11 seal.
    hsm: Option<Mutex<Box<dyn hsm::RootKeyWrapper>>>,
    /// The checkpoint this process signed last; its lock makes one signer per node.
    checkpoint_memory: tokio::sync::Mutex<ops::checkpoint::CheckpointMemory>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Service {
    /// Key cache counters, for the metrics endpoint.
    pub fn key_cache_stats(&self) -> KeyCacheStats {
        self.cache.stats()
    }

    /// Builds the service. Runs the known-answer self-tests first and refuses to build if one
    /// fails; refuses a store that belongs to another environment or was initialized with
    /// another seal. With the file seal the service starts unsealed; with the shamir seal it
    /// starts sealed (or uninitialized) and operators unseal it.
    pub async fn new(
        store: Arc<dyn Store>,
        seal: SealSetup,
        config: Config,
        clock: Clock,
    ) -> Result<Self, Error> {
        let self_tests = keystead_crypto::selftest::run_all()?;
        let stored_env = store.init_meta("environment", config.environment.as_str()).await?;
        if stored_env != config.environment.as_str() {
            return Err(Error::PermissionDenied {
                reason: format!(
                    "this store holds {stored_env} keys but the server is configured for {}; production and non-production keys are kept apart",
                    config.environment
                ),
            });
        }
        // The change feed's head first: every change committed after it, by any node, is
        // applied to the caches filled from here on.
        let feed_start = store.feed_head().await?;
        let seal_kind = seal.kind();
        let (state, hsm) = match seal {
            SealSetup::Pkcs11(settings) => {
                let opened = hsm::open(settings)?;
                (Self::initial_hsm_state(store.as_ref()).await?, Some(Mutex::new(opened)))
            }
            other => (Self::initial_seal_state(store.as_ref(), other).await?, None),
        };
        let seal = Mutex::new(state);
        let access = access::AccessCache::default();
        access.load_grants(store.grants().await?, access.grant_epoch());
        let use_audit = use_audit::UseAudit::start(store.clone());
        let auth_failures = auth_failures::AuthFailures::new(config.auth_failures.clone());
        let service = Self {
            store,
            auth_failures,
            seal,
            config,
            cache: cache::KeyCache::default(),
            access,
            use_audit,
            clock,
            self_tests,
            feed_start,
            anomaly_counts: ops::anomaly::AnomalyCounts::default(),
            checkpoint_memory: tokio::sync::Mutex::default(),
            anomaly_gaps: Mutex::default(),
            anomaly_failures: Mutex::default(),
            seal_kind,
            seal_epoch: Arc::default(),
            hsm,
        };
        // Under the pkcs11 seal an initialized store unseals at start, or the server refuses
        // to start: a token that cannot unwrap the root key is an operator's problem to see.
        if service.hsm.is_some() && service.seal_status().initialized {
            service.hsm_unseal().await?;
            let mut event = service.attempt(
                &Caller::system("startup"),
                keystead_core::AuditAction::OperatorUnseal,
                &keystead_core::Tenant::default_tenant(),
            );
            event.details.insert("seal".into(), "pkcs11".into());
            service.store.commit(keystead_store::Change::AuditOnly, event).await?;
        }
        Ok(service)
    }

    /// The server's settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current time at millisecond precision, the precision every record is stored with.
    pub fn now(&self) -> OffsetDateTime {
        let now = (self.clock)();
        now.replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000).unwrap_or(now)
    }
}

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(OffsetDateTime::now_utc)
}
