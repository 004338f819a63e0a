//! AWS SigV4 access keys (`access_keys`).

use keystead_core::envelope::unix_ms;
use sqlx::{Any, AnyPool, Transaction};

use super::time_from_ms;
use crate::{AccessKeyRecord, Error};

pub(super) async fn insert(tx: &mut Transaction<'_, Any>, record: &AccessKeyRecord) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO access_keys (id, principal, sealed_secret, disabled, created_at_ms, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&record.id)
    .bind(&record.principal)
    .bind(&record.sealed_secret)
    .bind(i64::from(record.disabled))
    .bind(unix_ms(record.created_at))
    .bind(&record.created_by)
    .execute(&mut **tx)
    .await
    .map_err(|err| {
        if err.as_database_error().is_some_and(|e| e.is_unique_violation()) {
            Error::Conflict { what: "the access key id (taken)" }
        } else {
            Error::Database(err)
        }
    })?;
    Ok(())
}

pub(super) async fn set_disabled(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    disabled: bool,
) -> Result<(), Error> {
    let updated = sqlx::query("UPDATE access_keys SET disabled = $1 WHERE id = $2 AND disabled = $3")
        .bind(i64::from(disabled))
        .bind(id)
        .bind(i64::from(!disabled))
        .execute(&mut **tx)
        .await?;
    if updated.rows_affected() != 1 {
        return Err(Error::Conflict { what: "the access key (unknown, or already in that state)" });
    }
    Ok(())
}

pub(super) async fn delete(tx: &mut Transaction<'_, Any>, id: &str) -> Result<(), Error> {
    let deleted = sqlx::query("DELETE FROM access_keys WHERE id = $1").bind(id).execute(&mut **tx).await?;
    if deleted.rows_affected() != 1 {
        return Err(Error::Conflict { what: "the access key (unknown or already deleted)" });
    }
    Ok(())
}

type AccessKeyRow = (String, String, Vec<u8>, i64, i64, String);

const COLUMNS: &str =
    "SELECT id, principal, sealed_secret, disabled, created_at_ms, created_by FROM access_keys";

fn from_row(
    (id, principal, sealed_secret, disabled, created_at_ms, created_by): AccessKeyRow,
) -> Result<AccessKeyRecord, Error> {
    Ok(AccessKeyRecord {
        id,
        principal,
        sealed_secret,
        disabled: disabled != 0,
        created_at: time_from_ms(created_at_ms)?,
        created_by,
    })
}

pub(super) async fn by_id(pool: &AnyPool, id: &str) -> Result<Option<AccessKeyRecord>, Error> {
    let row: Option<AccessKeyRow> =
        sqlx::query_as(&format!("{COLUMNS} WHERE id = $1")).bind(id).fetch_optional(pool).await?;
    row.map(from_row).transpose()
}

pub(super) async fn list(pool: &AnyPool, principal: Option<&str>) -> Result<Vec<AccessKeyRecord>, Error> {
    let rows: Vec<AccessKeyRow> = match principal {
        Some(name) => {
            sqlx::query_as(&format!("{COLUMNS} WHERE principal = $1 ORDER BY created_at_ms, id"))
                .bind(name)
                .fetch_all(pool)
                .await?
        }
        None => {
            sqlx::query_as(&format!("{COLUMNS} ORDER BY principal, created_at_ms, id"))
                .fetch_all(pool)
                .await?
        }
    };
    rows.into_iter().map(from_row).collect()
}
