//! Bring-your-own-key import tokens (`import_tokens`) and material landing in a version that
//! waits for it.

use keystead_core::envelope::unix_ms;
use keystead_core::{KeyId, KeyState, Tenant};
use sqlx::{Any, AnyPool, Transaction};
use time::OffsetDateTime;

use super::time_from_ms;
use crate::{Error, ImportTokenRecord, StoredVersion};

pub(super) async fn insert(tx: &mut Transaction<'_, Any>, record: &ImportTokenRecord) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO import_tokens (id, tenant, key_id, key_name, wrapping_algorithm, wrapping_key_spec, \
         public_key_der, sealed_private_key, created_at_ms, created_by, expires_at_ms, used_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&record.id)
    .bind(record.tenant.as_str())
    .bind(record.key_id.map(|id| id.to_string()))
    .bind(&record.key_name)
    .bind(record.wrapping_algorithm.as_str())
    .bind(record.wrapping_key_spec.as_str())
    .bind(&record.public_key_der)
    .bind(&record.sealed_private_key)
    .bind(unix_ms(record.created_at))
    .bind(&record.created_by)
    .bind(unix_ms(record.expires_at))
    .bind(record.used_at.map(unix_ms))
    .execute(&mut **tx)
    .await
    .map_err(|err| {
        if err.as_database_error().is_some_and(|e| e.is_unique_violation()) {
            Error::Conflict { what: "the import token id (taken)" }
        } else {
            Error::Database(err)
        }
    })?;
    Ok(())
}

/// Marks the token used, if it is unused and unexpired, and drops its private key.
pub(super) async fn spend(tx: &mut Transaction<'_, Any>, id: &str, at: OffsetDateTime) -> Result<(), Error> {
    let at = unix_ms(at);
    let updated = sqlx::query(
        "UPDATE import_tokens SET used_at_ms = $1, sealed_private_key = NULL \
         WHERE id = $2 AND used_at_ms IS NULL AND expires_at_ms > $1",
    )
    .bind(at)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(Error::Conflict { what: "the import token (used or expired meanwhile)" });
    }
    Ok(())
}

/// Writes imported material into a version still waiting for it.
pub(super) async fn import_material(
    tx: &mut Transaction<'_, Any>,
    key_id: &str,
    expected_kcv: &str,
    version: &StoredVersion,
) -> Result<(), Error> {
    let info = &version.info;
    if version.sealed_material.is_none() {
        return Err(Error::Corrupt { what: "an import without material" });
    }
    let updated = sqlx::query(
        "UPDATE key_versions SET state = $1, kcv = $2, public_key_der = $3, provenance = $4, \
         sealed_material = $5, activated_at_ms = $6, suspended_at_ms = NULL, deactivated_at_ms = NULL \
         WHERE key_id = $7 AND number = $8 AND state = $9 AND kcv = $10 AND destroy_at_ms IS NULL",
    )
    .bind(info.state.as_str())
    .bind(&info.kcv)
    .bind(&info.public_key_der)
    .bind(&version.provenance_json)
    .bind(&version.sealed_material)
    .bind(info.activated_at.map(unix_ms))
    .bind(key_id)
    .bind(i64::from(info.number.get()))
    .bind(KeyState::PendingImport.as_str())
    .bind(expected_kcv)
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(Error::Conflict {
            what: "the version (no longer waiting for this import: imported, deleted or scheduled for destruction meanwhile)",
        });
    }
    sqlx::query("UPDATE keys SET updated_at_ms = $1 WHERE id = $2")
        .bind(unix_ms(info.activated_at.unwrap_or(info.created_at)))
        .bind(key_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

type TokenRow = (
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    Vec<u8>,
    Option<Vec<u8>>,
    i64,
    String,
    i64,
    Option<i64>,
);

pub(super) async fn by_id(pool: &AnyPool, id: &str) -> Result<Option<ImportTokenRecord>, Error> {
    let row: Option<TokenRow> = sqlx::query_as(
        "SELECT id, tenant, key_id, key_name, wrapping_algorithm, wrapping_key_spec, public_key_der, \
         sealed_private_key, created_at_ms, created_by, expires_at_ms, used_at_ms FROM import_tokens WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some((
        id,
        tenant,
        key_id,
        key_name,
        wrapping_algorithm,
        wrapping_key_spec,
        public_key_der,
        sealed_private_key,
        created_at_ms,
        created_by,
        expires_at_ms,
        used_at_ms,
    )) = row
    else {
        return Ok(None);
    };
    let corrupt = |_| Error::Corrupt { what: "import token" };
    Ok(Some(ImportTokenRecord {
        id,
        tenant: Tenant::new(tenant).map_err(corrupt)?,
        key_id: key_id.map(|k| KeyId::parse(&k)).transpose().map_err(corrupt)?,
        key_name,
        wrapping_algorithm: wrapping_algorithm.parse().map_err(corrupt)?,
        wrapping_key_spec: wrapping_key_spec.parse().map_err(corrupt)?,
        public_key_der,
        sealed_private_key,
        created_at: time_from_ms(created_at_ms)?,
        created_by,
        expires_at: time_from_ms(expires_at_ms)?,
        used_at: used_at_ms.map(time_from_ms).transpose()?,
    }))
}
