//! Reading the audit chain back: verification pages, export pages, a node's head.

use sqlx::AnyPool;

use super::time_from_ms;
use crate::chain::{ChainReport, ChainVerifier, SignatureCheck, GENESIS};
use crate::{ChainHead, Error, StoredAuditRow};

/// Rows read per query while verifying, so a long log is never held in memory at once.
const VERIFY_PAGE: u32 = 5_000;

pub(super) type Row = (i64, String, i64, String, String, String);

pub(super) async fn rows(
    pool: &AnyPool,
    after: Option<(String, i64)>,
    limit: u32,
) -> Result<Vec<StoredAuditRow>, Error> {
    let (after_node, after_seq) = after.unwrap_or_default();
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT seq, node, node_seq, event_json, prev_hash, hash FROM audit_events \
         WHERE node > $1 OR (node = $1 AND node_seq > $2) ORDER BY node, node_seq LIMIT $3",
    )
    .bind(after_node)
    .bind(after_seq)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(stored_row).collect())
}

/// A row of `SELECT seq, node, node_seq, event_json, prev_hash, hash`.
pub(super) fn stored_row((sequence, node, node_seq, event_json, prev_hash, hash): Row) -> StoredAuditRow {
    StoredAuditRow { sequence, node, node_seq, event_json, prev_hash, hash }
}

pub(super) async fn verify(pool: &AnyPool, signatures: &dyn SignatureCheck) -> Result<ChainReport, Error> {
    let mut verifier = ChainVerifier::new(signatures);
    // A node with an archive continues from its last archived event, and only from there.
    let boundaries = super::archive::boundaries(pool).await?;
    for boundary in &boundaries {
        verifier.start_after(&boundary.node, boundary.through_seq, &boundary.through_hash);
    }
    let mut after = None;
    loop {
        let page = rows(pool, after.take(), VERIFY_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.node.clone(), last.node_seq));
        for row in &page {
            verifier.push(row.as_chain_row());
        }
        if page.len() < VERIFY_PAGE as usize {
            break;
        }
    }
    let mut report = verifier.finish();
    for boundary in &boundaries {
        if !archive_is_recorded(pool, boundary).await? {
            report.breaks.push((
                boundary.node.clone(),
                boundary.through_seq + 1,
                format!(
                    "events 1 to {} are recorded as archived (archive {}), but no audit.archive event in the chain says so",
                    boundary.through_seq, boundary.archive_id
                ),
            ));
        }
    }
    Ok(report)
}

/// Whether the chain holds the `audit.archive` event that moved `boundary`: an archive
/// record alone (written straight into the database) does not excuse a gap.
async fn archive_is_recorded(
    pool: &AnyPool,
    boundary: &crate::archive::ArchiveBoundary,
) -> Result<bool, Error> {
    let Some(at) = super::archive::archived_at(pool, &boundary.archive_id).await? else { return Ok(false) };
    let expected = format!("-{} {}", boundary.through_seq, boundary.through_hash);
    for json in super::archive::archive_events_at(pool, at).await? {
        let Ok(event) = serde_json::from_str::<keystead_core::AuditEvent>(&json) else { continue };
        let named = event.details.get("archive_id") == Some(&boundary.archive_id);
        let range = event.details.get(&format!("range {}", boundary.node));
        if named && range.is_some_and(|r| r.ends_with(&expected)) {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(super) async fn head(pool: &AnyPool, node: &str) -> Result<ChainHead, Error> {
    let last: Option<(i64, String)> = sqlx::query_as(
        "SELECT node_seq, hash FROM audit_events WHERE node = $1 ORDER BY node_seq DESC LIMIT 1",
    )
    .bind(node)
    .fetch_optional(pool)
    .await?;
    let checkpoint: Option<(i64, i64)> = sqlx::query_as(
        "SELECT node_seq, occurred_at_ms FROM audit_events WHERE node = $1 AND action = 'audit.checkpoint' \
         AND outcome = 'success' ORDER BY node_seq DESC LIMIT 1",
    )
    .bind(node)
    .fetch_optional(pool)
    .await?;
    let (node_seq, hash) = last.unwrap_or_else(|| (0, GENESIS.to_owned()));
    let last_checkpoint = checkpoint.map(|(seq, ms)| time_from_ms(ms).map(|at| (seq, at))).transpose()?;
    Ok(ChainHead { node_seq, hash, last_checkpoint })
}
