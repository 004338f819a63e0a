//! The SQL backends: SQLite (the embedded default: WAL journal, one writer at a time) and
//! PostgreSQL (several nodes on one database). One set of portable queries serves both
//! through sqlx's `Any` driver; only the migrations differ.

use std::path::Path;
use std::str::FromStr;

use keystead_core::envelope::unix_ms;
use keystead_core::key::{KeyAttributes, Labels, VersionInfo};
use keystead_core::{AuditEvent, KeyId, KeyName, KeyRef, Tenant, UsageContext, VersionNumber};
use keystead_crypto::TokenHash;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Row, Transaction};
use time::OffsetDateTime;
use tokio::sync::Mutex;

mod access_keys;
mod admin;
mod aliases;
mod approvals;
mod archive;
mod audit;
mod audit_write;
mod import_tokens;
mod inventory;
mod query;
mod shares;
mod webhooks;

use crate::chain::{ChainReport, SignatureCheck};
use crate::{
    AliasRecord, AuditFilter, AuditRecord, ChainHead, Change, Error, FeedEntry, Grant, KeyFilter, Store,
    StoredAuditRow, StoredKey, StoredPrincipal, StoredVersion,
};

/// `name, roles, tenant, disabled, expires_at_ms` of the principals table.
type PrincipalRow = (String, String, Option<String>, i64, Option<i64>);

fn principal_from_row(
    name: String,
    roles: String,
    tenant: Option<String>,
    disabled: i64,
    expires_at_ms: Option<i64>,
) -> Result<StoredPrincipal, Error> {
    Ok(StoredPrincipal {
        name,
        roles: roles.split(',').filter(|r| !r.is_empty()).map(str::to_owned).collect(),
        tenant,
        disabled: disabled != 0,
        expires_at: optional_time(expires_at_ms)?,
    })
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database a store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A store in a SQL database.
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// One writer per node at a time: SQLite allows one writer (this avoids SQLITE_BUSY on lock
    /// upgrades), and each node's audit chain needs its appends in order.
    write_lock: Mutex<()>,
    /// PostgreSQL only: the URL to open the change listener with (may hold a password; never
    /// printed), and the listener once open.
    listen_url: Option<String>,
    listener: Mutex<Option<sqlx::postgres::PgListener>>,
    /// Whether a failure to listen was already reported (it is retried every wait).
    listen_failure_reported: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore").field("backend", &self.backend).finish_non_exhaustive()
    }
}

/// How long a request waits for a database connection.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// The PostgreSQL channel the change feed's trigger notifies.
const FEED_CHANNEL: &str = "keystead_changes";

/// Pragmas every SQLite connection gets: write-ahead log, full sync, foreign keys, and waiting
/// instead of failing while another connection writes.
/// `secure_delete` overwrites freed content with zeros, so destroyed key material (already
/// sealed) does not linger in free pages of the file.
/// `cache_size` is 16 MiB per connection (the default is 2 MiB): the audit writer's index
/// pages stay in memory instead of being read back for every batch.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                              PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                              PRAGMA secure_delete = ON; PRAGMA cache_size = -16384;";

fn time_from_ms(ms: i64) -> Result<OffsetDateTime, Error> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|_| Error::Corrupt { what: "timestamp" })
}

fn optional_time(ms: Option<i64>) -> Result<Option<OffsetDateTime>, Error> {
    ms.map(time_from_ms).transpose()
}

fn parse<T: FromStr>(text: &str, what: &'static str) -> Result<T, Error> {
    text.parse().map_err(|_| Error::Corrupt { what })
}

impl SqlStore {
    /// Opens a store by URL: `sqlite://PATH` (created if missing) or `postgres://...`, and
    /// brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self, Error> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(Error::UnsupportedUrl);
        };
        // A request waits at most this long for a connection: with the database down it fails
        // fast with `storage_unavailable` instead of hanging.
        let options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 16 })
            .acquire_timeout(ACQUIRE_TIMEOUT);
        let options = match backend {
            // A local file's connection does not go stale: no ping (a round trip to the
            // connection's worker thread) before every query.
            Backend::Sqlite => options.test_before_acquire(false).after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(SQLITE_PRAGMAS).await?;
                    Ok(())
                })
            }),
            Backend::Postgres => options,
        };
        let pool = options.connect(url).await?;
        let mut store = Self::migrate(pool, backend).await?;
        if backend == Backend::Postgres {
            store.listen_url = Some(url.to_owned());
        }
        Ok(store)
    }

    /// Opens (creating if needed) an SQLite file.
    pub async fn open_sqlite(path: &Path) -> Result<Self, Error> {
        let path = path.to_str().ok_or(Error::UnsupportedUrl)?;
        Self::open(&format!("sqlite://{path}?mode=rwc")).await
    }

    /// A private in-memory SQLite store (tests, recovery drills); gone when dropped.
    pub async fn in_memory() -> Result<Self, Error> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA foreign_keys = ON;").await?;
                    Ok(())
                })
            })
            .connect("sqlite::memory:")
            .await?;
        Self::migrate(pool, Backend::Sqlite).await
    }

    async fn migrate(pool: AnyPool, backend: Backend) -> Result<Self, Error> {
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await.map_err(Error::Migration)?;
        Ok(Self {
            pool,
            backend,
            write_lock: Mutex::new(()),
            listen_url: None,
            listener: Mutex::new(None),
            listen_failure_reported: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The database behind the store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    async fn load_versions(&self, key_id: &str) -> Result<Vec<StoredVersion>, Error> {
        let rows = sqlx::query("SELECT * FROM key_versions WHERE key_id = $1 ORDER BY number")
            .bind(key_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(version_from_row).collect()
    }

    async fn with_versions(&self, row: Option<AnyRow>) -> Result<Option<StoredKey>, Error> {
        let Some(row) = row else { return Ok(None) };
        let attributes = key_from_row(&row)?;
        let versions = self.load_versions(&attributes.id.to_string()).await?;
        Ok(Some(StoredKey { attributes, versions }))
    }
}

fn key_from_row(row: &AnyRow) -> Result<KeyAttributes, Error> {
    let labels: String = row.try_get("labels")?;
    Ok(KeyAttributes {
        id: KeyId::parse(&row.try_get::<String, _>("id")?).map_err(|_| Error::Corrupt { what: "key id" })?,
        tenant: Tenant::new(row.try_get::<String, _>("tenant")?)
            .map_err(|_| Error::Corrupt { what: "tenant" })?,
        name: KeyName::new(row.try_get::<String, _>("name")?)
            .map_err(|_| Error::Corrupt { what: "key name" })?,
        purpose: parse(&row.try_get::<String, _>("purpose")?, "purpose")?,
        algorithm: parse(&row.try_get::<String, _>("algorithm")?, "algorithm")?,
        usage_context: UsageContext::new(row.try_get::<String, _>("usage_context")?)
            .map_err(|_| Error::Corrupt { what: "usage context" })?,
        owner: row.try_get("owner")?,
        description: row.try_get("description")?,
        environment: parse(&row.try_get::<String, _>("environment")?, "environment")?,
        classification: parse(&row.try_get::<String, _>("classification")?, "classification")?,
        labels: serde_json::from_str::<Labels>(&labels).map_err(|_| Error::Corrupt { what: "labels" })?,
        origin: parse(&row.try_get::<String, _>("origin")?, "origin")?,
        rotation_period_seconds: row.try_get("rotation_period_seconds")?,
        protect_period_seconds: row.try_get("protect_period_seconds")?,
        recoverable: row.try_get::<i64, _>("recoverable")? != 0,
        criticality: parse(&row.try_get::<String, _>("criticality")?, "criticality")?,
        created_at: time_from_ms(row.try_get("created_at_ms")?)?,
        updated_at: time_from_ms(row.try_get("updated_at_ms")?)?,
    })
}

fn version_from_row(row: &AnyRow) -> Result<StoredVersion, Error> {
    let provenance_json: String = row.try_get("provenance")?;
    let number: i64 = row.try_get("number")?;
    let number = u32::try_from(number)
        .ok()
        .and_then(|n| VersionNumber::new(n).ok())
        .ok_or(Error::Corrupt { what: "version number" })?;
    Ok(StoredVersion {
        info: VersionInfo {
            number,
            state: parse(&row.try_get::<String, _>("state")?, "state")?,
            kcv: row.try_get("kcv")?,
            public_key_der: row.try_get("public_key_der")?,
            provenance: serde_json::from_str(&provenance_json)
                .map_err(|_| Error::Corrupt { what: "provenance" })?,
            created_at: time_from_ms(row.try_get("created_at_ms")?)?,
            activated_at: optional_time(row.try_get("activated_at_ms")?)?,
            suspended_at: optional_time(row.try_get("suspended_at_ms")?)?,
            deactivated_at: optional_time(row.try_get("deactivated_at_ms")?)?,
            compromise: row
                .try_get::<Option<String>, _>("compromise")?
                .map(|json| serde_json::from_str(&json))
                .transpose()
                .map_err(|_| Error::Corrupt { what: "compromise record" })?,
            destroy_at: optional_time(row.try_get("destroy_at_ms")?)?,
            destroyed_at: optional_time(row.try_get("destroyed_at_ms")?)?,
        },
        provenance_json,
        sealed_material: row.try_get("sealed_material")?,
    })
}

fn audit_from_row(row: &AnyRow) -> Result<AuditRecord, Error> {
    let json: String = row.try_get("event_json")?;
    Ok(AuditRecord {
        sequence: row.try_get("seq")?,
        node_sequence: row.try_get("node_seq")?,
        event: serde_json::from_str(&json).map_err(|_| Error::Corrupt { what: "audit event" })?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// Inserts a key's row (not its versions).
async fn insert_key(tx: &mut Transaction<'_, Any>, key: &KeyAttributes) -> Result<(), Error> {
    let labels = serde_json::to_string(&key.labels).map_err(|_| Error::Corrupt { what: "labels" })?;
    let inserted = sqlx::query(
        "INSERT INTO keys (id, tenant, name, purpose, algorithm, usage_context, owner, \
         environment, classification, labels, origin, rotation_period_seconds, recoverable, \
         criticality, created_at_ms, updated_at_ms, protect_period_seconds, description) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(key.id.to_string())
    .bind(key.tenant.as_str())
    .bind(key.name.as_str())
    .bind(key.purpose.as_str())
    .bind(key.algorithm.as_str())
    .bind(key.usage_context.as_str())
    .bind(&key.owner)
    .bind(key.environment.as_str())
    .bind(key.classification.as_str())
    .bind(labels)
    .bind(key.origin.as_str())
    .bind(key.rotation_period_seconds)
    .bind(i64::from(key.recoverable))
    .bind(key.criticality.as_str())
    .bind(unix_ms(key.created_at))
    .bind(unix_ms(key.updated_at))
    .bind(key.protect_period_seconds)
    .bind(&key.description)
    .execute(&mut **tx)
    .await;
    if let Err(err) = inserted {
        let unique = err.as_database_error().is_some_and(|e| e.is_unique_violation());
        return Err(if unique {
            Error::NameTaken { tenant: key.tenant.to_string(), name: key.name.to_string() }
        } else {
            Error::Database(err)
        });
    }
    Ok(())
}

async fn insert_version(
    tx: &mut Transaction<'_, Any>,
    key_id: &str,
    version: &StoredVersion,
) -> Result<(), Error> {
    let info = &version.info;
    sqlx::query(
        "INSERT INTO key_versions (key_id, number, state, kcv, public_key_der, provenance, \
         sealed_material, created_at_ms, activated_at_ms, suspended_at_ms, deactivated_at_ms, \
         compromise, destroy_at_ms, destroyed_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(key_id)
    .bind(i64::from(info.number.get()))
    .bind(info.state.as_str())
    .bind(&info.kcv)
    .bind(&info.public_key_der)
    .bind(&version.provenance_json)
    .bind(&version.sealed_material)
    .bind(unix_ms(info.created_at))
    .bind(info.activated_at.map(unix_ms))
    .bind(info.suspended_at.map(unix_ms))
    .bind(info.deactivated_at.map(unix_ms))
    .bind(compromise_json(info)?)
    .bind(info.destroy_at.map(unix_ms))
    .bind(info.destroyed_at.map(unix_ms))
    .execute(&mut **tx)
    .await?;
    // The inventory sorts and filters by the newest version's time; kept on the key row.
    sqlx::query(
        "UPDATE keys SET rotated_at_ms = $1 WHERE id = $2 AND (rotated_at_ms IS NULL OR rotated_at_ms < $1)",
    )
    .bind(unix_ms(info.created_at))
    .bind(key_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn compromise_json(info: &VersionInfo) -> Result<Option<String>, Error> {
    info.compromise
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|_| Error::Corrupt { what: "compromise record" })
}

/// Writes a version's mutable attributes if it is still in `update.from`.
async fn update_version(
    tx: &mut Transaction<'_, Any>,
    key_id: &str,
    update: &crate::VersionUpdate,
) -> Result<(), Error> {
    let info = &update.info;
    let material = if update.destroy_material { ", sealed_material = NULL" } else { "" };
    let sql = format!(
        "UPDATE key_versions SET state = $1, activated_at_ms = $2, suspended_at_ms = $3, \
         deactivated_at_ms = $4, compromise = $5, destroy_at_ms = $6, destroyed_at_ms = $7{material} \
         WHERE key_id = $8 AND number = $9 AND state = $10 AND destroy_at_ms IS NOT DISTINCT FROM $11"
    );
    let updated = sqlx::query(&sql)
        .bind(info.state.as_str())
        .bind(info.activated_at.map(unix_ms))
        .bind(info.suspended_at.map(unix_ms))
        .bind(info.deactivated_at.map(unix_ms))
        .bind(compromise_json(info)?)
        .bind(info.destroy_at.map(unix_ms))
        .bind(info.destroyed_at.map(unix_ms))
        .bind(key_id)
        .bind(i64::from(info.number.get()))
        .bind(update.from.as_str())
        .bind(update.from_destroy_at.map(unix_ms))
        .execute(&mut **tx)
        .await?;
    if updated.rows_affected() != 1 {
        return Err(Error::Conflict { what: "the version's state" });
    }
    Ok(())
}

async fn apply(tx: &mut Transaction<'_, Any>, change: Change) -> Result<(), Error> {
    match change {
        Change::AuditOnly => {}
        Change::ArchiveAudit(record) => archive::apply(tx, &record).await?,
        Change::Batch(changes) => {
            for change in changes {
                Box::pin(apply(tx, change)).await?;
            }
        }
        Change::UpdateVersions { key_id, updates, at } => {
            let id = key_id.to_string();
            for update in &updates {
                update_version(tx, &id, update).await?;
            }
            sqlx::query("UPDATE keys SET updated_at_ms = $1 WHERE id = $2")
                .bind(unix_ms(at))
                .bind(&id)
                .execute(&mut **tx)
                .await?;
        }
        Change::CreateApproval(record) => approvals::insert(tx, &record).await?,
        Change::Vote { approval_id, expected_votes, vote, decides } => {
            approvals::vote(tx, &approval_id, expected_votes, &vote, decides).await?
        }
        Change::SetApprovalStatus { id, from, to, at } => {
            approvals::set_status(tx, &id, from, to, at).await?
        }
        Change::AddWebhook(webhook) => webhooks::insert(tx, &webhook).await?,
        Change::RecordReview(review) => inventory::insert_review(tx, &review).await?,
        Change::RaiseAnomaly(anomaly) => inventory::insert_anomaly(tx, &anomaly).await?,
        Change::HoldShares(held) => shares::insert(tx, &held).await?,
        Change::CollectShare { backup_id, holder, at } => {
            shares::collect(tx, &backup_id, &holder, at).await?
        }
        Change::Notify(notification) => webhooks::enqueue(tx, &notification).await?,
        Change::CreateKey { key, version } => {
            insert_key(tx, &key).await?;
            insert_version(tx, &key.id.to_string(), &version).await?;
        }
        Change::RestoreKey { key, versions } => {
            let id = key.id.to_string();
            let exists: Option<String> = sqlx::query_scalar("SELECT id FROM keys WHERE id = $1")
                .bind(&id)
                .fetch_optional(&mut **tx)
                .await?;
            if exists.is_some() {
                return Err(Error::Conflict { what: "a key with this id (restore)" });
            }
            let numbered = versions.iter().enumerate().all(|(i, v)| v.info.number.get() as usize == i + 1);
            if versions.is_empty() || !numbered {
                return Err(Error::Corrupt { what: "restored key versions (not numbered 1 to n)" });
            }
            insert_key(tx, &key).await?;
            for version in &versions {
                insert_version(tx, &id, version).await?;
            }
        }
        Change::AddVersion { key_id, version } => {
            let id = key_id.to_string();
            let newest: Option<i64> =
                sqlx::query_scalar("SELECT MAX(number) FROM key_versions WHERE key_id = $1")
                    .bind(&id)
                    .fetch_one(&mut **tx)
                    .await?;
            if newest.map(|n| n + 1) != Some(i64::from(version.info.number.get())) {
                return Err(Error::Conflict { what: "the key's versions" });
            }
            insert_version(tx, &id, &version).await?;
            sqlx::query("UPDATE keys SET updated_at_ms = $1 WHERE id = $2")
                .bind(unix_ms(version.info.created_at))
                .bind(&id)
                .execute(&mut **tx)
                .await?;
        }
        Change::Initialize { meta, root } => {
            for (name, value) in &meta {
                sqlx::query("INSERT INTO meta (name, value) VALUES ($1, $2)")
                    .bind(name)
                    .bind(value)
                    .execute(&mut **tx)
                    .await
                    .map_err(|err| {
                        if err.as_database_error().is_some_and(|e| e.is_unique_violation()) {
                            Error::Conflict { what: "the store's seal settings (already initialized)" }
                        } else {
                            Error::Database(err)
                        }
                    })?;
            }
            Box::pin(apply(tx, Change::CreatePrincipal(root))).await?;
        }
        Change::CreatePrincipal(p) => {
            sqlx::query(
                "INSERT INTO principals (name, token_hash, roles, tenant, disabled, created_at_ms, expires_at_ms) \
                 VALUES ($1, $2, $3, $4, 0, $5, $6)",
            )
            .bind(&p.name)
            .bind(p.token_hash.to_vec())
            .bind(p.roles.join(","))
            .bind(&p.tenant)
            .bind(unix_ms(p.created_at))
            .bind(p.expires_at.map(unix_ms))
            .execute(&mut **tx)
            .await
            .map_err(|err| {
                if err.as_database_error().is_some_and(|e| e.is_unique_violation()) {
                    Error::PrincipalTaken { name: p.name.clone() }
                } else {
                    Error::Database(err)
                }
            })?;
        }
        Change::DisablePrincipal { name } => {
            let updated = sqlx::query("UPDATE principals SET disabled = 1 WHERE name = $1 AND disabled = 0")
                .bind(&name)
                .execute(&mut **tx)
                .await?;
            if updated.rows_affected() != 1 {
                return Err(Error::Conflict { what: "the principal (unknown or already disabled)" });
            }
        }
        Change::RevokeGrant { principal, key_id, from, to } => {
            admin::revoke_grant(tx, &principal, key_id, &from, &to).await?
        }
        Change::UpdatePrincipal { name, from_roles, from_expires_at, roles, expires_at } => {
            admin::update_principal(tx, &name, (from_roles.as_slice(), from_expires_at), &roles, expires_at)
                .await?
        }
        Change::EnablePrincipal { name } => admin::enable_principal(tx, &name).await?,
        Change::CreateAccessKey(record) => access_keys::insert(tx, &record).await?,
        Change::CreateImportToken(record) => import_tokens::insert(tx, &record).await?,
        Change::UseImportToken { id, at } => import_tokens::spend(tx, &id, at).await?,
        Change::ImportMaterial { key_id, expected_kcv, version } => {
            import_tokens::import_material(tx, &key_id.to_string(), &expected_kcv, &version).await?
        }
        Change::SetAccessKeyDisabled { id, disabled } => access_keys::set_disabled(tx, &id, disabled).await?,
        Change::DeleteAccessKey { id } => access_keys::delete(tx, &id).await?,
        Change::UpdateKey { key, from_updated_at } => aliases::update_key(tx, &key, from_updated_at).await?,
        Change::CreateAlias(alias) => aliases::create(tx, &alias).await?,
        Change::PointAlias { tenant, alias, from, to, at } => {
            aliases::point(tx, &tenant, &alias, from, to, at).await?
        }
        Change::DeleteAlias { tenant, alias, key_id } => aliases::delete(tx, &tenant, &alias, key_id).await?,
        Change::SetWebhookEnabled { id, enabled } => aliases::set_webhook_enabled(tx, &id, enabled).await?,
        Change::DeleteWebhook { id } => aliases::delete_webhook(tx, &id).await?,
        Change::RotateWebhookSecret { id, from, sealed_secret, at } => {
            aliases::rotate_webhook_secret(tx, &id, &from, &sealed_secret, at).await?
        }
        Change::AddGrant(grant) => {
            let existing: Option<String> =
                sqlx::query_scalar("SELECT operations FROM grants WHERE principal = $1 AND key_id = $2")
                    .bind(&grant.principal)
                    .bind(grant.key_id.to_string())
                    .fetch_optional(&mut **tx)
                    .await?;
            let mut operations: Vec<String> =
                existing.iter().flat_map(|ops| ops.split(',')).map(str::to_owned).collect();
            for op in &grant.operations {
                if !operations.iter().any(|o| o == op.as_str()) {
                    operations.push(op.as_str().to_owned());
                }
            }
            let joined = operations.join(",");
            if let Some(existing) = &existing {
                // Compare-and-set: another node adding to the same grant meanwhile makes this a
                // conflict to retry, never a lost operation.
                let updated = sqlx::query(
                    "UPDATE grants SET operations = $1 WHERE principal = $2 AND key_id = $3 AND operations = $4",
                )
                .bind(&joined)
                .bind(&grant.principal)
                .bind(grant.key_id.to_string())
                .bind(existing)
                .execute(&mut **tx)
                .await?;
                if updated.rows_affected() != 1 {
                    return Err(Error::Conflict { what: "the grant" });
                }
            } else {
                sqlx::query(
                    "INSERT INTO grants (principal, key_id, operations, created_at_ms) VALUES ($1, $2, $3, $4)",
                )
                .bind(&grant.principal)
                .bind(grant.key_id.to_string())
                .bind(&joined)
                .bind(unix_ms(grant.created_at))
                .execute(&mut **tx)
                .await?;
            }
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl Store for SqlStore {
    async fn commit(&self, change: Change, event: AuditEvent) -> Result<AuditRecord, Error> {
        let _writer = self.write_lock.lock().await;
        let mut tx = self.pool.begin().await?;
        let feed = change.feed_entries();
        apply(&mut tx, change).await.map_err(|err| match err {
            // Another node committed the same step first (two rotations, two grants): the
            // caller learns it lost a race, not that the server broke.
            Error::Database(db) if db.as_database_error().is_some_and(|e| e.is_unique_violation()) => {
                Error::Conflict { what: "the key or grant" }
            }
            other => other,
        })?;
        for (kind, subject) in feed {
            sqlx::query("INSERT INTO changes (node, kind, subject, at_ms) VALUES ($1, $2, $3, $4)")
                .bind(&event.node)
                .bind(kind.as_str())
                .bind(subject)
                .bind(unix_ms(event.occurred_at))
                .execute(&mut *tx)
                .await?;
        }
        let linked = audit_write::link_all(&mut tx, vec![event])
            .await?
            .pop()
            .ok_or(Error::Corrupt { what: "audit event" })?;
        let record = audit_write::insert_one(&mut tx, self.backend, linked).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn append_audit_events(&self, events: Vec<AuditEvent>) -> Result<(), Error> {
        let _writer = self.write_lock.lock().await;
        let mut tx = self.pool.begin().await?;
        // Each chain's head is read once per batch; the batch links on from it in memory.
        let linked = audit_write::link_all(&mut tx, events).await?;
        audit_write::insert_all(&mut tx, self.backend, &linked).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn key(&self, tenant: &Tenant, key: &KeyRef) -> Result<Option<StoredKey>, Error> {
        let row = match key {
            KeyRef::Id(id) => {
                sqlx::query("SELECT * FROM keys WHERE id = $1 AND tenant = $2")
                    .bind(id.to_string())
                    .bind(tenant.as_str())
                    .fetch_optional(&self.pool)
                    .await?
            }
            KeyRef::Name(name) => {
                sqlx::query("SELECT * FROM keys WHERE tenant = $1 AND name = $2")
                    .bind(tenant.as_str())
                    .bind(name.as_str())
                    .fetch_optional(&self.pool)
                    .await?
            }
            KeyRef::Alias(alias) => {
                sqlx::query(
                    "SELECT k.* FROM keys k JOIN aliases a ON a.key_id = k.id                      WHERE a.tenant = $1 AND a.alias = $2 AND k.tenant = $1",
                )
                .bind(tenant.as_str())
                .bind(alias.as_str())
                .fetch_optional(&self.pool)
                .await?
            }
        };
        self.with_versions(row).await
    }

    async fn aliases(
        &self,
        tenant: Option<&Tenant>,
        key_id: Option<KeyId>,
    ) -> Result<Vec<AliasRecord>, Error> {
        aliases::list(&self.pool, tenant.map(Tenant::as_str), key_id).await
    }

    async fn key_by_id(&self, id: KeyId) -> Result<Option<StoredKey>, Error> {
        let row = sqlx::query("SELECT * FROM keys WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        self.with_versions(row).await
    }

    async fn keys(&self, filter: &KeyFilter) -> Result<Vec<StoredKey>, Error> {
        let rows = sqlx::query(
            "SELECT * FROM keys WHERE ($1 IS NULL OR tenant = $1) AND ($2 IS NULL OR purpose = $2) \
             AND ($3 IS NULL OR owner = $3) ORDER BY tenant, name",
        )
        .bind(filter.tenant.as_ref().map(|t| t.to_string()))
        .bind(filter.purpose.map(|p| p.as_str()))
        .bind(filter.owner.as_deref())
        .fetch_all(&self.pool)
        .await?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            let attributes = key_from_row(&row)?;
            if !attributes.labels.contains_all(&filter.labels) {
                continue;
            }
            let versions = self.load_versions(&attributes.id.to_string()).await?;
            if filter.state.is_some_and(|s| !versions.iter().any(|v| v.info.state == s)) {
                continue;
            }
            keys.push(StoredKey { attributes, versions });
        }
        Ok(keys)
    }

    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, Error> {
        let mut clause = query::Clause::default();
        if let Some(id) = filter.key_id {
            let arg = clause.text(id.to_string());
            clause.push(format!("key_id = {arg}"));
        }
        if let Some(actor) = &filter.actor {
            let arg = clause.text(actor.as_str());
            clause.push(format!("actor = {arg}"));
        }
        if let Some(since) = filter.since {
            let arg = clause.int(unix_ms(since));
            clause.push(format!("occurred_at_ms >= {arg}"));
        }
        if !filter.actions.is_empty() {
            let args: Vec<String> = filter.actions.iter().map(|a| clause.text(a.as_str())).collect();
            clause.push(format!("action IN ({})", args.join(", ")));
        }
        if let Some(outcome) = filter.outcome {
            let arg = clause.text(outcome.as_str());
            clause.push(format!("outcome = {arg}"));
        }
        if let Some(code) = &filter.error_code {
            // The code is a JSON string inside the canonical event: an exact substring.
            let needle = format!("\"error_code\":{}", serde_json::to_string(code).unwrap_or_default());
            let arg = clause.text(needle);
            clause.push(inventory::contains(self.backend, "event_json", &arg));
        }
        if let Some(before) = filter.before_sequence {
            let arg = clause.int(before);
            clause.push(format!("seq < {arg}"));
        }
        let newest_first = filter.after_sequence.is_none();
        if let Some(after) = filter.after_sequence {
            let arg = clause.int(after);
            clause.push(format!("seq > {arg}"));
        }
        // A key's events of some actions (its status changes among a million uses): a planner
        // would walk all the key's events backwards by `audit_events_key` for the order, hoping
        // to meet LIMIT rows early; the (key, action, seq) index reads only the wanted ones.
        // SQLite is told the index; PostgreSQL is kept from ordering by an index (`seq + 0`).
        let few_actions_of_a_key = filter.key_id.is_some() && !filter.actions.is_empty();
        let (table, order) = match self.backend {
            Backend::Sqlite if few_actions_of_a_key => {
                ("audit_events INDEXED BY audit_events_key_action", "seq")
            }
            Backend::Postgres if few_actions_of_a_key => ("audit_events", "seq + 0"),
            Backend::Sqlite | Backend::Postgres => ("audit_events", "seq"),
        };
        let sql = format!(
            "SELECT * FROM {table}{} ORDER BY {order} {} LIMIT {}",
            clause.sql(),
            if newest_first { "DESC" } else { "ASC" },
            filter.limit.unwrap_or(1000).clamp(1, 100_000)
        );
        // Planned for its values each time (an unnamed statement): PostgreSQL's generic plan of a
        // prepared `key_id = $1` cannot tell a key with a million events from a quiet one, and
        // for either it may scan the whole log (measured: 0.2 ms planned for the values, 470 ms
        // generic, on a million events).
        let rows =
            query::bind_all(sqlx::query(&sql).persistent(false), &clause.binds).fetch_all(&self.pool).await?;
        let mut records = rows.iter().map(audit_from_row).collect::<Result<Vec<_>, _>>()?;
        if newest_first {
            records.reverse();
        }
        Ok(records)
    }

    async fn crypto_actions_by_key(&self) -> Result<Vec<(KeyId, keystead_core::AuditAction)>, Error> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT key_id, action FROM audit_events WHERE outcome = 'success' AND key_id IS NOT NULL \
             AND action LIKE 'crypto.%' GROUP BY key_id, action",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(key, action)| {
                Ok((
                    KeyId::parse(&key).map_err(|_| Error::Corrupt { what: "audit key id" })?,
                    parse(&action, "audit action")?,
                ))
            })
            .collect()
    }

    async fn inventory(
        &self,
        query: &crate::inventory::InventoryQuery,
    ) -> Result<crate::inventory::InventoryPage, Error> {
        inventory::list(self, query).await
    }

    async fn reviews(&self, key_id: KeyId) -> Result<Vec<crate::inventory::ReviewRecord>, Error> {
        inventory::reviews(&self.pool, key_id).await
    }

    async fn archive_plan(&self, before: OffsetDateTime) -> Result<Vec<crate::archive::ArchiveRange>, Error> {
        archive::plan(&self.pool, before).await
    }

    async fn archive_rows(
        &self,
        node: &str,
        after_seq: i64,
        through_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredAuditRow>, Error> {
        archive::rows(&self.pool, node, after_seq, through_seq, limit).await
    }

    async fn archive_boundaries(&self) -> Result<Vec<crate::archive::ArchiveBoundary>, Error> {
        archive::boundaries(&self.pool).await
    }

    async fn archived_key_history(&self, key_id: KeyId, limit: u32) -> Result<Vec<AuditRecord>, Error> {
        archive::key_history(&self.pool, &key_id.to_string(), limit).await
    }

    async fn oldest_audit_event(&self) -> Result<Option<OffsetDateTime>, Error> {
        archive::oldest(&self.pool).await
    }

    async fn key_usage(&self, key_id: KeyId) -> Result<Vec<crate::inventory::UsageRecord>, Error> {
        inventory::usage(&self.pool, key_id).await
    }

    async fn anomalies(
        &self,
        filter: &crate::inventory::AnomalyFilter,
    ) -> Result<Vec<crate::inventory::AnomalyRecord>, Error> {
        inventory::anomalies(&self.pool, filter).await
    }

    async fn held_share(&self, backup_id: &str, holder: &str) -> Result<Option<crate::HeldShare>, Error> {
        shares::find(&self.pool, backup_id, holder).await
    }

    async fn anomaly_exists(&self, dedupe: &str) -> Result<bool, Error> {
        inventory::anomaly_exists(&self.pool, dedupe).await
    }

    async fn verify_audit_chain(&self, signatures: &dyn SignatureCheck) -> Result<ChainReport, Error> {
        audit::verify(&self.pool, signatures).await
    }

    async fn audit_rows(
        &self,
        after: Option<(String, i64)>,
        limit: u32,
    ) -> Result<Vec<StoredAuditRow>, Error> {
        audit::rows(&self.pool, after, limit).await
    }

    async fn chain_head(&self, node: &str) -> Result<ChainHead, Error> {
        audit::head(&self.pool, node).await
    }

    async fn principal_by_token(&self, hash: &TokenHash) -> Result<Option<StoredPrincipal>, Error> {
        // The lookup is by an index on the SHA-256 of the token: a timing difference can reveal
        // at most a prefix of a hash, never of a token.
        let row: Option<(String, String, Option<String>, Option<i64>, Vec<u8>)> = sqlx::query_as(
            "SELECT name, roles, tenant, expires_at_ms, token_hash FROM principals \
             WHERE token_hash = $1 AND disabled = 0",
        )
        .bind(hash.as_bytes().to_vec())
        .fetch_optional(&self.pool)
        .await?;
        let Some((name, roles, tenant, expires_at_ms, stored)) = row else { return Ok(None) };
        let Ok(stored) = <[u8; 32]>::try_from(stored) else { return Ok(None) };
        if !TokenHash::from_bytes(stored).ct_eq(hash) {
            return Ok(None);
        }
        Ok(Some(principal_from_row(name, roles, tenant, 0, expires_at_ms)?))
    }

    async fn principal_by_name(&self, name: &str) -> Result<Option<StoredPrincipal>, Error> {
        let row: Option<PrincipalRow> = sqlx::query_as(
            "SELECT name, roles, tenant, disabled, expires_at_ms FROM principals WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(name, roles, tenant, disabled, expires)| {
            principal_from_row(name, roles, tenant, disabled, expires)
        })
        .transpose()
    }

    async fn import_token(&self, id: &str) -> Result<Option<crate::ImportTokenRecord>, Error> {
        import_tokens::by_id(&self.pool, id).await
    }

    async fn access_key(&self, id: &str) -> Result<Option<crate::AccessKeyRecord>, Error> {
        access_keys::by_id(&self.pool, id).await
    }

    async fn access_keys(&self, principal: Option<&str>) -> Result<Vec<crate::AccessKeyRecord>, Error> {
        access_keys::list(&self.pool, principal).await
    }

    async fn principals(&self) -> Result<Vec<StoredPrincipal>, Error> {
        let rows: Vec<PrincipalRow> = sqlx::query_as(
            "SELECT name, roles, tenant, disabled, expires_at_ms FROM principals ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(name, roles, tenant, disabled, expires)| {
                principal_from_row(name, roles, tenant, disabled, expires)
            })
            .collect()
    }

    async fn grants(&self) -> Result<Vec<Grant>, Error> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT principal, key_id, operations, created_at_ms FROM grants ORDER BY principal, key_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(principal, key_id, operations, created_at_ms)| {
                Ok(Grant {
                    principal,
                    key_id: KeyId::parse(&key_id).map_err(|_| Error::Corrupt { what: "grant key id" })?,
                    operations: operations
                        .split(',')
                        .filter(|o| !o.is_empty())
                        .map(|o| parse(o, "grant operation"))
                        .collect::<Result<_, _>>()?,
                    created_at: time_from_ms(created_at_ms)?,
                })
            })
            .collect()
    }

    async fn meta(&self, name: &str) -> Result<Option<String>, Error> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn init_meta(&self, name: &str, value: &str) -> Result<String, Error> {
        let _writer = self.write_lock.lock().await;
        sqlx::query("INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await?;
        self.meta(name).await?.ok_or(Error::Corrupt { what: "metadata" })
    }

    async fn swap_meta(&self, name: &str, expected: Option<&str>, value: &str) -> Result<bool, Error> {
        let _writer = self.write_lock.lock().await;
        let done = match expected {
            None => {
                sqlx::query("INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                    .bind(name)
                    .bind(value)
                    .execute(&self.pool)
                    .await?
            }
            Some(old) => {
                sqlx::query("UPDATE meta SET value = $1 WHERE name = $2 AND value = $3")
                    .bind(value)
                    .bind(name)
                    .bind(old)
                    .execute(&self.pool)
                    .await?
            }
        };
        Ok(done.rows_affected() == 1)
    }

    async fn feed_head(&self) -> Result<i64, Error> {
        let head: Option<i64> =
            sqlx::query_scalar("SELECT MAX(seq) FROM changes").fetch_one(&self.pool).await?;
        Ok(head.unwrap_or(0))
    }

    async fn feed_after(&self, seq: i64, limit: u32) -> Result<Vec<Result<FeedEntry, i64>>, Error> {
        let rows: Vec<(i64, String, String, String, i64)> = sqlx::query_as(
            "SELECT seq, node, kind, subject, at_ms FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, node, kind, subject, at_ms)| {
                FeedEntry::from_row(seq, node, &kind, subject, at_ms).ok_or(seq)
            })
            .collect())
    }

    async fn approval(&self, id: &str) -> Result<Option<crate::ApprovalRecord>, Error> {
        approvals::by_id(&self.pool, id).await
    }

    async fn approvals(&self, filter: &crate::ApprovalFilter) -> Result<Vec<crate::ApprovalRecord>, Error> {
        approvals::list(&self.pool, filter).await
    }

    async fn keys_due(&self, now: OffsetDateTime) -> Result<Vec<KeyId>, Error> {
        keys_due_impl(&self.pool, now).await
    }

    async fn webhooks(&self) -> Result<Vec<crate::WebhookRecord>, Error> {
        webhooks::list(&self.pool).await
    }

    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<crate::Delivery>, Error> {
        let _writer = self.write_lock.lock().await;
        webhooks::claim(&self.pool, now, lease_until, limit).await
    }

    async fn record_delivery(
        &self,
        id: &str,
        result: crate::DeliveryResult,
        now: OffsetDateTime,
    ) -> Result<(), Error> {
        let _writer = self.write_lock.lock().await;
        webhooks::record(&self.pool, id, result, now).await
    }

    async fn deliveries(&self, webhook_id: Option<&str>, limit: u32) -> Result<Vec<crate::Delivery>, Error> {
        webhooks::deliveries(&self.pool, webhook_id, limit).await
    }

    async fn wait_for_feed(&self, at_most: std::time::Duration) {
        let Some(url) = &self.listen_url else {
            tokio::time::sleep(at_most).await;
            return;
        };
        let mut slot = self.listener.lock().await;
        if slot.is_none() {
            match connect_listener(url).await {
                Ok(listener) => {
                    if self.listen_failure_reported.swap(false, std::sync::atomic::Ordering::Relaxed) {
                        tracing::info!("listening for changes of other nodes again");
                    }
                    *slot = Some(listener);
                }
                Err(err) => {
                    if !self.listen_failure_reported.swap(true, std::sync::atomic::Ordering::Relaxed) {
                        tracing::warn!(error = %err, "cannot listen for changes of other nodes; re-checking on a timer");
                    }
                    drop(slot);
                    tokio::time::sleep(at_most).await;
                    return;
                }
            }
        }
        let Some(listener) = slot.as_mut() else { return };
        match tokio::time::timeout(at_most, listener.try_recv()).await {
            // A notification, or the timer: the caller reads the feed either way.
            Ok(Ok(Some(_))) | Err(_) => {}
            // The connection dropped (notifications may have been lost meanwhile) or failed:
            // reconnect on the next wait; the caller's read of the feed catches up.
            Ok(Ok(None)) | Ok(Err(_)) => *slot = None,
        }
    }
}

async fn keys_due_impl(pool: &AnyPool, now: OffsetDateTime) -> Result<Vec<KeyId>, Error> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT v.key_id FROM key_versions v JOIN keys k ON k.id = v.key_id \
         WHERE (v.destroy_at_ms IS NOT NULL AND v.destroy_at_ms <= $1 \
                AND v.state NOT IN ('destroyed', 'destroyed-compromised')) \
            OR (v.state = 'active' AND k.protect_period_seconds IS NOT NULL \
                AND v.activated_at_ms + k.protect_period_seconds * 1000 <= $1) \
         UNION \
         SELECT k.id FROM keys k WHERE k.rotation_period_seconds IS NOT NULL \
            AND (SELECT MAX(v.created_at_ms) FROM key_versions v WHERE v.key_id = k.id AND v.state = 'active') \
                + k.rotation_period_seconds * 1000 <= $1",
    )
    .bind(unix_ms(now))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(|(id,)| KeyId::parse(&id).map_err(|_| Error::Corrupt { what: "key id" })).collect()
}

async fn connect_listener(url: &str) -> Result<sqlx::postgres::PgListener, sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(FEED_CHANNEL).await?;
    Ok(listener)
}
