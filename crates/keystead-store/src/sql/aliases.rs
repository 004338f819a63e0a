//! Aliases, key attribute updates and webhook state changes (admin verbs). Each write is a
//! compare-and-set on what the service read.

use keystead_core::envelope::unix_ms;
use keystead_core::key::KeyAttributes;
use keystead_core::KeyId;
use sqlx::{Any, AnyPool, Transaction};
use time::OffsetDateTime;

use super::time_from_ms;
use crate::{AliasRecord, Error};

/// Writes a key's changeable attributes if it is unchanged since `from_updated_at`.
pub(super) async fn update_key(
    tx: &mut Transaction<'_, Any>,
    key: &KeyAttributes,
    from_updated_at: OffsetDateTime,
) -> Result<(), Error> {
    let labels = serde_json::to_string(&key.labels).map_err(|_| Error::Corrupt { what: "labels" })?;
    let updated = sqlx::query(
        "UPDATE keys SET owner = $1, description = $2, classification = $3, labels = $4, \
         rotation_period_seconds = $5, protect_period_seconds = $6, recoverable = $7, criticality = $8, \
         updated_at_ms = $9 WHERE id = $10 AND updated_at_ms = $11",
    )
    .bind(&key.owner)
    .bind(&key.description)
    .bind(key.classification.as_str())
    .bind(labels)
    .bind(key.rotation_period_seconds)
    .bind(key.protect_period_seconds)
    .bind(i64::from(key.recoverable))
    .bind(key.criticality.as_str())
    .bind(unix_ms(key.updated_at))
    .bind(key.id.to_string())
    .bind(unix_ms(from_updated_at))
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(Error::Conflict { what: "the key (changed meanwhile)" });
    }
    Ok(())
}

pub(super) async fn create(tx: &mut Transaction<'_, Any>, alias: &AliasRecord) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO aliases (tenant, alias, key_id, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&alias.tenant)
    .bind(&alias.alias)
    .bind(alias.key_id.to_string())
    .bind(unix_ms(alias.created_at))
    .bind(unix_ms(alias.updated_at))
    .execute(&mut **tx)
    .await
    .map_err(|err| {
        if err.as_database_error().is_some_and(|e| e.is_unique_violation()) {
            Error::NameTaken { tenant: alias.tenant.clone(), name: alias.alias.clone() }
        } else {
            Error::Database(err)
        }
    })?;
    Ok(())
}

pub(super) async fn point(
    tx: &mut Transaction<'_, Any>,
    tenant: &str,
    alias: &str,
    from: KeyId,
    to: KeyId,
    at: OffsetDateTime,
) -> Result<(), Error> {
    let updated = sqlx::query(
        "UPDATE aliases SET key_id = $1, updated_at_ms = $2 WHERE tenant = $3 AND alias = $4 AND key_id = $5",
    )
    .bind(to.to_string())
    .bind(unix_ms(at))
    .bind(tenant)
    .bind(alias)
    .bind(from.to_string())
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(Error::Conflict { what: "the alias (changed meanwhile)" });
    }
    Ok(())
}

pub(super) async fn delete(
    tx: &mut Transaction<'_, Any>,
    tenant: &str,
    alias: &str,
    key_id: KeyId,
) -> Result<(), Error> {
    let deleted = sqlx::query("DELETE FROM aliases WHERE tenant = $1 AND alias = $2 AND key_id = $3")
        .bind(tenant)
        .bind(alias)
        .bind(key_id.to_string())
        .execute(&mut **tx)
        .await?;
    if deleted.rows_affected() != 1 {
        return Err(Error::Conflict { what: "the alias (changed meanwhile)" });
    }
    Ok(())
}

type AliasRow = (String, String, String, i64, i64);

fn from_row((tenant, alias, key_id, created, updated): AliasRow) -> Result<AliasRecord, Error> {
    Ok(AliasRecord {
        tenant,
        alias,
        key_id: KeyId::parse(&key_id).map_err(|_| Error::Corrupt { what: "alias key id" })?,
        created_at: time_from_ms(created)?,
        updated_at: time_from_ms(updated)?,
    })
}

/// Aliases of one tenant or all, of one key or all, ordered by tenant and alias.
pub(super) async fn list(
    pool: &AnyPool,
    tenant: Option<&str>,
    key_id: Option<KeyId>,
) -> Result<Vec<AliasRecord>, Error> {
    let rows: Vec<AliasRow> = sqlx::query_as(
        "SELECT tenant, alias, key_id, created_at_ms, updated_at_ms FROM aliases \
         WHERE ($1 IS NULL OR tenant = $1) AND ($2 IS NULL OR key_id = $2) ORDER BY tenant, alias",
    )
    .bind(tenant)
    .bind(key_id.map(|id| id.to_string()))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// Turns a webhook on or off; a conflict if it is already in that state or unknown.
pub(super) async fn set_webhook_enabled(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    enabled: bool,
) -> Result<(), Error> {
    let updated = sqlx::query("UPDATE webhooks SET disabled = $1 WHERE id = $2 AND disabled = $3")
        .bind(i64::from(!enabled))
        .bind(id)
        .bind(i64::from(enabled))
        .execute(&mut **tx)
        .await?;
    if updated.rows_affected() != 1 {
        return Err(Error::Conflict { what: "the webhook (unknown, or already in that state)" });
    }
    Ok(())
}

/// Deletes a webhook and everything queued for it.
pub(super) async fn delete_webhook(tx: &mut Transaction<'_, Any>, id: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM webhook_outbox WHERE webhook_id = $1").bind(id).execute(&mut **tx).await?;
    let deleted = sqlx::query("DELETE FROM webhooks WHERE id = $1").bind(id).execute(&mut **tx).await?;
    if deleted.rows_affected() != 1 {
        return Err(Error::Conflict { what: "the webhook (unknown)" });
    }
    Ok(())
}

/// Replaces a webhook's sealed secret if it is still `from`.
pub(super) async fn rotate_webhook_secret(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    from: &[u8],
    sealed_secret: &[u8],
    at: OffsetDateTime,
) -> Result<(), Error> {
    let updated = sqlx::query(
        "UPDATE webhooks SET sealed_secret = $1, secret_rotated_at_ms = $2 WHERE id = $3 AND sealed_secret = $4",
    )
    .bind(sealed_secret)
    .bind(unix_ms(at))
    .bind(id)
    .bind(from)
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(Error::Conflict { what: "the webhook's secret (changed meanwhile)" });
    }
    Ok(())
}
