//! Backup shares held for their recovery officers until collected.

use keystead_core::envelope::unix_ms;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row, Transaction};
use time::OffsetDateTime;

use super::{optional_time, time_from_ms};
use crate::{Error, HeldShare};

pub(super) async fn insert(tx: &mut Transaction<'_, Any>, shares: &[HeldShare]) -> Result<(), Error> {
    for share in shares {
        sqlx::query(
            "INSERT INTO backup_shares (backup_id, share_index, holder, sealed_share, created_at_ms, collected_at_ms) \
             VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(&share.backup_id)
        .bind(i64::from(share.index))
        .bind(&share.holder)
        .bind(&share.sealed_share)
        .bind(unix_ms(share.created_at))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Deletes the sealed share and records the collection, once.
pub(super) async fn collect(
    tx: &mut Transaction<'_, Any>,
    backup_id: &str,
    holder: &str,
    at: OffsetDateTime,
) -> Result<(), Error> {
    let done = sqlx::query(
        "UPDATE backup_shares SET sealed_share = NULL, collected_at_ms = $1 \
         WHERE backup_id = $2 AND holder = $3 AND collected_at_ms IS NULL",
    )
    .bind(unix_ms(at))
    .bind(backup_id)
    .bind(holder)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(Error::Conflict { what: "the held backup share (collected already)" });
    }
    Ok(())
}

pub(super) async fn find(pool: &AnyPool, backup_id: &str, holder: &str) -> Result<Option<HeldShare>, Error> {
    let row = sqlx::query("SELECT * FROM backup_shares WHERE backup_id = $1 AND holder = $2")
        .bind(backup_id)
        .bind(holder)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(from_row).transpose()
}

fn from_row(row: &AnyRow) -> Result<HeldShare, Error> {
    let index: i64 = row.try_get("share_index")?;
    Ok(HeldShare {
        backup_id: row.try_get("backup_id")?,
        index: u8::try_from(index).map_err(|_| Error::Corrupt { what: "backup share index" })?,
        holder: row.try_get("holder")?,
        sealed_share: row.try_get("sealed_share")?,
        created_at: time_from_ms(row.try_get("created_at_ms")?)?,
        collected_at: optional_time(row.try_get("collected_at_ms")?)?,
    })
}
