//! Appending to the audit chain: links computed in memory from the chain's head (read once per
//! transaction), rows inserted many per statement, and each key version's use counters kept in
//! the same transaction.

use std::collections::HashMap;

use keystead_core::envelope::unix_ms;
use keystead_core::{AuditEvent, Outcome};
use sqlx::{Any, Row, Transaction};

use super::Backend;
use crate::chain::{link, GENESIS};
use crate::{AuditRecord, Error};

/// Rows per INSERT statement: 11 parameters each keeps a statement far below SQLite's and
/// PostgreSQL's parameter limits, and few statements make a batch.
const ROWS_PER_STATEMENT: usize = 64;

const COLUMNS: &str =
    "node, node_seq, occurred_at_ms, actor, tenant, action, outcome, key_id, event_json, prev_hash, hash";

/// An event with its place in its node's chain.
pub(super) struct Linked {
    pub event: AuditEvent,
    pub node_sequence: i64,
    pub json: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The next position and the previous hash of `node`'s chain.
pub(super) async fn chain_head(tx: &mut Transaction<'_, Any>, node: &str) -> Result<(i64, String), Error> {
    let last: Option<(i64, String)> = sqlx::query_as(
        "SELECT node_seq, hash FROM audit_events WHERE node = $1 ORDER BY node_seq DESC LIMIT 1",
    )
    .bind(node)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((seq, hash)) = last {
        return Ok((seq + 1, hash));
    }
    // Every event of the node archived: it continues from its last archived event.
    let archived: Option<(i64, String)> = sqlx::query_as(
        "SELECT through_seq, through_hash FROM audit_archives WHERE node = $1 ORDER BY through_seq DESC LIMIT 1",
    )
    .bind(node)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match archived {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS.to_owned()),
    })
}

/// Links `events` onto their nodes' chains in order (each head read once).
pub(super) async fn link_all(
    tx: &mut Transaction<'_, Any>,
    events: Vec<AuditEvent>,
) -> Result<Vec<Linked>, Error> {
    let mut heads: HashMap<String, (i64, String)> = HashMap::new();
    let mut linked = Vec::with_capacity(events.len());
    for event in events {
        let (node_sequence, prev_hash) = match heads.remove(&event.node) {
            Some(head) => head,
            None => chain_head(tx, &event.node).await?,
        };
        let canonical = event.canonical_bytes();
        let hash = link(&prev_hash, &canonical);
        let json = String::from_utf8(canonical).map_err(|_| Error::Corrupt { what: "audit event" })?;
        heads.insert(event.node.clone(), (node_sequence + 1, hash.clone()));
        linked.push(Linked { event, node_sequence, json, prev_hash, hash });
    }
    Ok(linked)
}

/// Inserts linked events, [`ROWS_PER_STATEMENT`] per statement, and counts their key uses.
pub(super) async fn insert_all(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    rows: &[Linked],
) -> Result<(), Error> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let placeholders: Vec<String> = (0..chunk.len())
            .map(|row| {
                let first = row * 11 + 1;
                let args: Vec<String> = (first..first + 11)
                    .map(|n| match backend {
                        // Anonymous parameters: SQLite looks a numbered one up by name, a
                        // linear search per parameter, quadratic in a 700-parameter statement.
                        Backend::Sqlite => "?".to_owned(),
                        Backend::Postgres => format!("${n}"),
                    })
                    .collect();
                format!("({})", args.join(", "))
            })
            .collect();
        let sql = format!("INSERT INTO audit_events ({COLUMNS}) VALUES {}", placeholders.join(", "));
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = bind_row(query, row);
        }
        query.execute(&mut **tx).await?;
    }
    count_uses(tx, backend, rows.iter().map(|row| &row.event)).await
}

/// Inserts one linked event and returns it as stored (with its global sequence).
pub(super) async fn insert_one(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    row: Linked,
) -> Result<AuditRecord, Error> {
    let sql = format!(
        "INSERT INTO audit_events ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING seq"
    );
    let sequence: i64 = bind_row(sqlx::query(&sql), &row).fetch_one(&mut **tx).await?.try_get(0)?;
    count_uses(tx, backend, std::iter::once(&row.event)).await?;
    Ok(AuditRecord {
        sequence,
        node_sequence: row.node_sequence,
        event: row.event,
        prev_hash: row.prev_hash,
        hash: row.hash,
    })
}

type AnyQuery<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

/// Binds the [`COLUMNS`] of one row.
fn bind_row<'q>(query: AnyQuery<'q>, row: &'q Linked) -> AnyQuery<'q> {
    query
        .bind(row.event.node.as_str())
        .bind(row.node_sequence)
        .bind(unix_ms(row.event.occurred_at))
        .bind(row.event.actor.as_str())
        .bind(row.event.tenant.as_str())
        .bind(row.event.action.as_str())
        .bind(row.event.outcome.as_str())
        .bind(row.event.key_id.map(|id| id.to_string()))
        .bind(row.json.as_str())
        .bind(row.prev_hash.as_str())
        .bind(row.hash.as_str())
}

/// One key version's uses of one operation within a batch.
struct Uses {
    count: i64,
    first_ms: i64,
    last_ms: i64,
}

/// Adds the successful key uses among `events` to `key_usage` and each key's last use: one
/// statement per key version and operation of the batch, not per event.
async fn count_uses<'e>(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    events: impl Iterator<Item = &'e AuditEvent>,
) -> Result<(), Error> {
    let mut uses: HashMap<(String, u32, &'static str), Uses> = HashMap::new();
    for event in events {
        let (Some(key_id), Some(version), Some(operation)) =
            (event.key_id, event.version, event.action.as_str().strip_prefix("crypto."))
        else {
            continue;
        };
        if event.outcome != Outcome::Success {
            continue;
        }
        let at = unix_ms(event.occurred_at);
        let entry = uses.entry((key_id.to_string(), version, operation)).or_insert(Uses {
            count: 0,
            first_ms: at,
            last_ms: at,
        });
        entry.count += 1;
        entry.first_ms = entry.first_ms.min(at);
        entry.last_ms = entry.last_ms.max(at);
    }
    let greatest = match backend {
        Backend::Sqlite => "max",
        Backend::Postgres => "GREATEST",
    };
    let mut newest_per_key: HashMap<&str, i64> = HashMap::new();
    for ((key_id, version, operation), counted) in &uses {
        sqlx::query(&format!(
            "INSERT INTO key_usage (key_id, version, operation, uses, first_used_at_ms, last_used_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key_id, version, operation) DO UPDATE SET \
             uses = key_usage.uses + excluded.uses, \
             last_used_at_ms = {greatest}(key_usage.last_used_at_ms, excluded.last_used_at_ms)"
        ))
        .bind(key_id.as_str())
        .bind(i64::from(*version))
        .bind(*operation)
        .bind(counted.count)
        .bind(counted.first_ms)
        .bind(counted.last_ms)
        .execute(&mut **tx)
        .await?;
        let newest = newest_per_key.entry(key_id.as_str()).or_insert(counted.last_ms);
        *newest = (*newest).max(counted.last_ms);
    }
    for (key_id, last_ms) in newest_per_key {
        sqlx::query(
            "UPDATE keys SET last_used_at_ms = $1 WHERE id = $2 AND (last_used_at_ms IS NULL OR last_used_at_ms < $1)",
        )
        .bind(last_ms)
        .bind(key_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
