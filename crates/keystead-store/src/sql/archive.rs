//! Audit archives in SQL: the plan (per node, up to the newest signed checkpoint before a
//! date), the rows of a range, the move itself (record, keep key status changes, delete), and
//! the boundaries verification resumes from.

use keystead_core::envelope::unix_ms;
use keystead_core::AuditAction;
use sqlx::{Any, AnyPool, Transaction};
use time::OffsetDateTime;

use super::{audit_from_row, time_from_ms};
use crate::archive::{ArchiveBoundary, ArchiveRange, ArchiveRecord};
use crate::chain::GENESIS;
use crate::{AuditRecord, Error, StoredAuditRow};

/// The newest archive boundary of every node that has one.
pub(super) async fn boundaries(pool: &AnyPool) -> Result<Vec<ArchiveBoundary>, Error> {
    let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
        "SELECT a.id, a.node, a.through_seq, a.through_hash FROM audit_archives a \
         WHERE a.through_seq = (SELECT MAX(b.through_seq) FROM audit_archives b WHERE b.node = a.node) \
         ORDER BY a.node",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(archive_id, node, through_seq, through_hash)| ArchiveBoundary {
            archive_id,
            node,
            through_seq,
            through_hash,
        })
        .collect())
}

/// Per node with events before `before`: the range from its boundary (or its first event) to
/// its newest successful checkpoint that occurred before `before`.
pub(super) async fn plan(pool: &AnyPool, before: OffsetDateTime) -> Result<Vec<ArchiveRange>, Error> {
    let nodes: Vec<(String,)> =
        sqlx::query_as("SELECT node FROM audit_events GROUP BY node ORDER BY node").fetch_all(pool).await?;
    let boundaries = boundaries(pool).await?;
    let mut ranges = Vec::new();
    for (node,) in nodes {
        let (after_seq, after_hash) = boundaries
            .iter()
            .find(|b| b.node == node)
            .map_or((0, GENESIS.to_owned()), |b| (b.through_seq, b.through_hash.clone()));
        let newest: Option<(i64, String)> = sqlx::query_as(
            "SELECT node_seq, hash FROM audit_events WHERE node = $1 AND node_seq > $2 \
             AND action = 'audit.checkpoint' AND outcome = 'success' AND occurred_at_ms < $3 \
             ORDER BY node_seq DESC LIMIT 1",
        )
        .bind(&node)
        .bind(after_seq)
        .bind(unix_ms(before))
        .fetch_optional(pool)
        .await?;
        if let Some((through_seq, through_hash)) = newest {
            ranges.push(ArchiveRange {
                node,
                first_seq: after_seq + 1,
                after_hash,
                through_seq,
                through_hash,
            });
        }
    }
    Ok(ranges)
}

/// Rows of `node` after `after_seq` up to `through_seq`, in chain order, `limit` at most.
pub(super) async fn rows(
    pool: &AnyPool,
    node: &str,
    after_seq: i64,
    through_seq: i64,
    limit: u32,
) -> Result<Vec<StoredAuditRow>, Error> {
    let rows: Vec<super::audit::Row> = sqlx::query_as(
        "SELECT seq, node, node_seq, event_json, prev_hash, hash FROM audit_events \
         WHERE node = $1 AND node_seq > $2 AND node_seq <= $3 ORDER BY node_seq LIMIT $4",
    )
    .bind(node)
    .bind(after_seq)
    .bind(through_seq)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(super::audit::stored_row).collect())
}

/// Records the archive, keeps the key status changes among its events, and deletes them.
pub(super) async fn apply(tx: &mut Transaction<'_, Any>, record: &ArchiveRecord) -> Result<(), Error> {
    let statuses: Vec<String> =
        AuditAction::STATUS_CHANGES.iter().map(|a| format!("'{}'", a.as_str())).collect();
    let statuses = statuses.join(", ");
    for range in &record.ranges {
        // The boundary must still be where the plan found it: a concurrent archive lost.
        let newest: Option<i64> =
            sqlx::query_scalar("SELECT MAX(through_seq) FROM audit_archives WHERE node = $1")
                .bind(&range.node)
                .fetch_one(&mut **tx)
                .await?;
        if newest.unwrap_or(0) != range.first_seq - 1 {
            return Err(Error::Conflict { what: "the audit archive boundary" });
        }
        sqlx::query(
            "INSERT INTO audit_archives (id, node, first_seq, through_seq, through_hash, events, file_sha256, \
             before_ms, archived_at_ms, archived_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&record.id)
        .bind(&range.node)
        .bind(range.first_seq)
        .bind(range.through_seq)
        .bind(&range.through_hash)
        .bind(range.events())
        .bind(&record.file_sha256)
        .bind(unix_ms(record.before))
        .bind(unix_ms(record.archived_at))
        .bind(&record.archived_by)
        .execute(&mut **tx)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO key_history (seq, key_id, node, node_seq, event_json, prev_hash, hash) \
             SELECT seq, key_id, node, node_seq, event_json, prev_hash, hash FROM audit_events \
             WHERE node = $1 AND node_seq >= $2 AND node_seq <= $3 AND key_id IS NOT NULL \
             AND outcome = 'success' AND action IN ({statuses})"
        ))
        .bind(&range.node)
        .bind(range.first_seq)
        .bind(range.through_seq)
        .execute(&mut **tx)
        .await?;
        let deleted =
            sqlx::query("DELETE FROM audit_events WHERE node = $1 AND node_seq >= $2 AND node_seq <= $3")
                .bind(&range.node)
                .bind(range.first_seq)
                .bind(range.through_seq)
                .execute(&mut **tx)
                .await?
                .rows_affected();
        if i64::try_from(deleted).ok() != Some(range.events()) {
            // Rows missing from the hot store already: the chain has a gap; archive nothing.
            return Err(Error::Corrupt { what: "audit chain (events missing from the archived range)" });
        }
    }
    Ok(())
}

/// A key's archived status changes, newest `limit`, oldest first.
pub(super) async fn key_history(pool: &AnyPool, key_id: &str, limit: u32) -> Result<Vec<AuditRecord>, Error> {
    let rows = sqlx::query(
        "SELECT seq, node_seq, event_json, prev_hash, hash FROM key_history WHERE key_id = $1 \
         ORDER BY seq DESC LIMIT $2",
    )
    .bind(key_id)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    let mut records = rows.iter().map(audit_from_row).collect::<Result<Vec<_>, _>>()?;
    records.reverse();
    Ok(records)
}

/// When the oldest event in the hot store occurred.
pub(super) async fn oldest(pool: &AnyPool) -> Result<Option<OffsetDateTime>, Error> {
    let first: Option<i64> =
        sqlx::query_scalar("SELECT occurred_at_ms FROM audit_events ORDER BY seq LIMIT 1")
            .fetch_optional(pool)
            .await?;
    first.map(time_from_ms).transpose()
}

/// The `audit.archive` events that occurred at `at` (the archive's time), as stored JSON.
pub(super) async fn archive_events_at(pool: &AnyPool, at: i64) -> Result<Vec<String>, Error> {
    Ok(sqlx::query_scalar(
        "SELECT event_json FROM audit_events WHERE occurred_at_ms = $1 AND action = 'audit.archive' AND outcome = 'success'",
    )
    .bind(at)
    .fetch_all(pool)
    .await?)
}

/// When archive `id` was made.
pub(super) async fn archived_at(pool: &AnyPool, id: &str) -> Result<Option<i64>, Error> {
    Ok(sqlx::query_scalar("SELECT MAX(archived_at_ms) FROM audit_archives WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await?)
}
