//! A service over a real SQLite file, with the root principal as caller.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use keystead_core::{AuditAction, Environment, NodeName};
use keystead_crypto::{RootKey, SecretBytes};
use keystead_service::{AuditRecord, Caller, Config, CreateKeyRequest, KeyView, SealSetup, Service};
use keystead_store::SqlStore;

pub const NODE: &str = "test-node";

pub struct Harness {
    pub dir: tempfile::TempDir,
    root_material: SecretBytes,
    pub service: Service,
    pub caller: Caller,
    pub environment: Environment,
    /// Milliseconds added to the wall clock: tests move time forward (or back).
    offset_ms: Arc<AtomicI64>,
    /// Changes to the default settings, applied again on every restart.
    tweak: Tweak,
}

/// Changes a test makes to the service's default settings.
pub type Tweak = Arc<dyn Fn(&mut Config) + Send + Sync>;

async fn service_on(
    path: &std::path::Path,
    root: &SecretBytes,
    environment: Environment,
    offset_ms: Arc<AtomicI64>,
    tweak: &Tweak,
) -> Result<Service, keystead_service::Error> {
    let store = SqlStore::open_sqlite(path).await.expect("the store opens");
    let root = RootKey::from_material(root).expect("a 32-byte root key");
    let clock: keystead_service::Clock = Arc::new(move || {
        time::OffsetDateTime::now_utc() + time::Duration::milliseconds(offset_ms.load(Ordering::SeqCst))
    });
    let mut config = Config::new(NodeName::new(NODE).expect("valid"), environment);
    tweak(&mut config);
    Service::new(Arc::new(store), SealSetup::File(root), config, clock).await
}

impl Harness {
    pub async fn new(environment: Environment) -> Self {
        Self::with(environment, Arc::new(|_: &mut Config| {})).await
    }

    /// A harness whose settings `tweak` changes.
    pub async fn with(environment: Environment, tweak: Tweak) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (_, root_material) = RootKey::generate().expect("a root key");
        let offset_ms = Arc::new(AtomicI64::new(0));
        let service = service_on(
            &dir.path().join("keystead.db"),
            &root_material,
            environment,
            offset_ms.clone(),
            &tweak,
        )
        .await
        .expect("the service starts");
        let token =
            service.bootstrap_root().await.expect("bootstrap").expect("a fresh store gives a root token");
        let caller = service
            .authenticate(Some(token.expose_secret()), "test")
            .await
            .expect("the root token authenticates");
        Self { dir, root_material, service, caller, environment, offset_ms, tweak }
    }

    /// Moves the service's clock by `by` (negative: back).
    pub fn advance(&self, by: time::Duration) {
        self.offset_ms.fetch_add(by.whole_milliseconds() as i64, Ordering::SeqCst);
    }

    pub async fn dev() -> Self {
        Self::new(Environment::Development).await
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("keystead.db")
    }

    /// A second service over the same file and root key, as after a restart.
    pub async fn restart(mut self) -> Self {
        let fresh = self.reopen(self.environment).await.expect("the service restarts");
        self.service = fresh;
        self
    }

    /// A service over the same file and root key, with any environment.
    pub async fn reopen(&self, environment: Environment) -> Result<Service, keystead_service::Error> {
        service_on(&self.db_path(), &self.root_material, environment, self.offset_ms.clone(), &self.tweak)
            .await
    }

    /// A raw connection for editing the file behind the service's back.
    pub async fn raw(&self) -> sqlx::SqlitePool {
        sqlx::SqlitePool::connect(&format!("sqlite://{}", self.db_path().display()))
            .await
            .expect("the file opens")
    }

    pub async fn create(&self, name: &str, purpose: &str, algorithm: &str) -> KeyView {
        self.service
            .create_key(&self.caller, request(name, purpose, algorithm))
            .await
            .unwrap_or_else(|e| panic!("create {name} ({algorithm}): {e}"))
    }

    /// A principal with these roles, authenticated.
    pub async fn principal(&self, name: &str, roles: &[&str]) -> Caller {
        let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        let created =
            self.service.create_principal(&self.caller, name, &roles, None).await.expect("principal");
        self.service.authenticate(Some(created.token.expose_secret()), "test").await.expect("authenticates")
    }

    /// Grants `ops` on `key` to `principal`.
    pub async fn grant(&self, principal: &str, key: &str, ops: &[&str]) {
        let ops: Vec<String> = ops.iter().map(|o| (*o).to_owned()).collect();
        self.service.add_grant(&self.caller, None, principal, key, &ops).await.expect("grant");
    }

    pub async fn audit(&self) -> Vec<AuditRecord> {
        self.service.audit_list(&self.caller, None, None, None, None, Some(10_000)).await.expect("audit list")
    }

    pub async fn audit_of(&self, action: AuditAction) -> Vec<AuditRecord> {
        self.audit().await.into_iter().filter(|r| r.event.action == action).collect()
    }
}

pub fn request(name: &str, purpose: &str, algorithm: &str) -> CreateKeyRequest {
    CreateKeyRequest {
        name: name.into(),
        purpose: purpose.into(),
        algorithm: algorithm.into(),
        usage_context: Some("x-test".into()),
        ..Default::default()
    }
}
