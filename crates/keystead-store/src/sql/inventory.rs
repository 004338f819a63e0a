//! Inventory queries: filters and sorts run in the database (indexes on owner, creation
//! time and version state), so a filter over 100,000 keys answers without loading them.

use keystead_core::envelope::unix_ms;
use std::collections::HashMap;

use keystead_core::KeyId;
use sqlx::{Any, AnyPool, Row, Transaction};

use super::query::{bind_all, Bind, Clause};
use super::{key_from_row, time_from_ms, version_from_row, Backend, SqlStore};
use crate::inventory::{
    AnomalyFilter, AnomalyRecord, InventoryEntry, InventoryPage, InventoryQuery, InventorySort, ReviewRecord,
    UsageRecord,
};
use crate::{Error, StoredKey, StoredVersion};

/// `"key":"value"` exactly as it appears in the stored labels JSON (keys and values are JSON
/// strings, so the quotes delimit them: `"team":"ml"` never matches `"team":"ml-ops"`).
fn label_needle(key: &str, value: &str) -> String {
    format!(
        "{}:{}",
        serde_json::to_string(key).unwrap_or_default(),
        serde_json::to_string(value).unwrap_or_default()
    )
}

/// A case-sensitive substring test in the backend's dialect (SQLite's LIKE ignores case).
pub(super) fn contains(backend: Backend, column: &str, needle_arg: &str) -> String {
    match backend {
        Backend::Sqlite => format!("instr({column}, {needle_arg}) > 0"),
        Backend::Postgres => format!("strpos({column}, {needle_arg}) > 0"),
    }
}

/// The newest version's creation time of key `k`, kept on the key row by every version insert.
const ROTATED_MS: &str = "k.rotated_at_ms";

fn where_clause(query: &InventoryQuery, backend: Backend) -> Clause {
    let filter = &query.filter;
    let mut clause = Clause::default();
    if let Some(tenant) = &filter.tenant {
        let arg = clause.text(tenant.as_str());
        clause.push(format!("k.tenant = {arg}"));
    }
    if !filter.states.is_empty() {
        let args: Vec<String> = filter.states.iter().map(|s| clause.text(s.as_str())).collect();
        // IN over the (state, key_id) index: one pass over the few versions in those states.
        clause.push(format!(
            "k.id IN (SELECT v.key_id FROM key_versions v WHERE v.state IN ({}))",
            args.join(", ")
        ));
    }
    let equal = |clause: &mut Clause, column: &str, value: Option<String>| {
        if let Some(value) = value {
            let arg = clause.text(value);
            clause.push(format!("k.{column} = {arg}"));
        }
    };
    equal(&mut clause, "purpose", filter.purpose.map(|p| p.as_str().to_owned()));
    equal(&mut clause, "algorithm", filter.algorithm.map(|a| a.as_str().to_owned()));
    equal(&mut clause, "owner", filter.owner.clone());
    equal(&mut clause, "environment", filter.environment.map(|e| e.as_str().to_owned()));
    equal(&mut clause, "usage_context", filter.usage_context.as_ref().map(|u| u.as_str().to_owned()));
    for (key, value) in &filter.labels {
        let arg = clause.text(label_needle(key, value));
        clause.push(contains(backend, "k.labels", &arg));
    }
    if let Some(at) = filter.created_before {
        let arg = clause.int(unix_ms(at));
        clause.push(format!("k.created_at_ms < {arg}"));
    }
    if let Some(at) = filter.created_after {
        let arg = clause.int(unix_ms(at));
        clause.push(format!("k.created_at_ms >= {arg}"));
    }
    if let Some(at) = filter.rotated_before {
        let arg = clause.int(unix_ms(at));
        clause.push(format!("{ROTATED_MS} < {arg}"));
    }
    if let Some(at) = filter.rotated_after {
        let arg = clause.int(unix_ms(at));
        clause.push(format!("{ROTATED_MS} >= {arg}"));
    }
    if let Some(at) = filter.past_cryptoperiod_at {
        let now = clause.int(unix_ms(at));
        clause.push(format!(
            "((k.rotation_period_seconds IS NOT NULL \
               AND {ROTATED_MS} + k.rotation_period_seconds * 1000 <= {now} \
               AND EXISTS (SELECT 1 FROM key_versions v WHERE v.key_id = k.id AND v.state = 'active')) \
              OR (k.protect_period_seconds IS NOT NULL AND EXISTS (SELECT 1 FROM key_versions v \
               WHERE v.key_id = k.id AND v.state = 'active' AND v.activated_at_ms IS NOT NULL \
               AND v.activated_at_ms + k.protect_period_seconds * 1000 <= {now})))"
        ));
    }
    if let Some(at) = filter.no_owner_at {
        let now = clause.int(unix_ms(at));
        clause.push(format!(
            "(k.owner = '' OR k.owner IN (SELECT p.name FROM principals p WHERE p.disabled <> 0 \
              OR (p.expires_at_ms IS NOT NULL AND p.expires_at_ms <= {now})))"
        ));
    }
    if let Some(at) = filter.used_since {
        let since = clause.int(unix_ms(at));
        // The newest use is kept on the key row by the audit writer.
        clause.push(format!("k.last_used_at_ms >= {since}"));
    }
    if let Some(at) = filter.unused_since {
        let since = clause.int(unix_ms(at));
        clause.push(format!("(k.last_used_at_ms IS NULL OR k.last_used_at_ms < {since})"));
    }
    if let Some(at) = filter.not_reviewed_since {
        let since = clause.int(unix_ms(at));
        // The newest review's time is kept on the key row by every review insert.
        clause.push(format!("(k.reviewed_at_ms IS NULL OR k.reviewed_at_ms < {since})"));
    }
    clause
}

fn order_by(query: &InventoryQuery) -> String {
    let direction = if query.descending { "DESC" } else { "ASC" };
    match query.sort {
        InventorySort::Name => format!("k.tenant {direction}, k.name {direction}"),
        InventorySort::Created => format!("k.created_at_ms {direction}, k.id {direction}"),
        InventorySort::Rotated => format!("{ROTATED_MS} {direction}, k.id {direction}"),
        InventorySort::Owner => format!("k.owner {direction}, k.tenant {direction}, k.name {direction}"),
    }
}

pub(super) async fn list(store: &SqlStore, query: &InventoryQuery) -> Result<InventoryPage, Error> {
    let clause = where_clause(query, store.backend);
    let where_sql = clause.sql();
    let count_sql = format!("SELECT COUNT(*) FROM keys k{where_sql}");
    let total: i64 = {
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql);
        for bind in &clause.binds {
            count = match bind {
                Bind::Text(text) => count.bind(text.as_str()),
                Bind::Int(int) => count.bind(*int),
            };
        }
        count.fetch_one(&store.pool).await?
    };
    let page_sql = format!(
        "SELECT k.* FROM keys k{where_sql} ORDER BY {} LIMIT {} OFFSET {}",
        order_by(query),
        query.limit.clamp(1, 10_000),
        query.offset
    );
    let rows = bind_all(sqlx::query(&page_sql), &clause.binds).fetch_all(&store.pool).await?;
    let keys = rows.iter().map(key_from_row).collect::<Result<Vec<_>, _>>()?;
    let mut last_used: HashMap<KeyId, Option<i64>> = HashMap::new();
    for (row, key) in rows.iter().zip(&keys) {
        last_used.insert(key.id, row.try_get("last_used_at_ms")?);
    }
    // One query each for the page's versions and reviews, not one per key.
    let mut ids = Clause::default();
    let placeholders: Vec<String> = keys.iter().map(|k| ids.text(k.id.to_string())).collect();
    let mut versions: HashMap<String, Vec<StoredVersion>> = HashMap::new();
    let mut reviews: HashMap<KeyId, ReviewRecord> = HashMap::new();
    if !keys.is_empty() {
        let list = placeholders.join(", ");
        let sql = format!("SELECT * FROM key_versions WHERE key_id IN ({list}) ORDER BY key_id, number");
        for row in bind_all(sqlx::query(&sql), &ids.binds).fetch_all(&store.pool).await? {
            let key_id: String = row.try_get("key_id")?;
            versions.entry(key_id).or_default().push(version_from_row(&row)?);
        }
        let sql = format!(
            "SELECT key_id, reviewed_at_ms, reviewer, as_owner, attestation FROM key_reviews \
             WHERE key_id IN ({list}) ORDER BY reviewed_at_ms"
        );
        let mut query = sqlx::query_as::<_, ReviewRow>(&sql);
        for bind in &ids.binds {
            if let Bind::Text(text) = bind {
                query = query.bind(text.as_str());
            }
        }
        for row in query.fetch_all(&store.pool).await? {
            let review = review_from_row(row)?;
            reviews.insert(review.key_id, review);
        }
    }
    let entries = keys
        .into_iter()
        .map(|attributes| InventoryEntry {
            last_review: reviews.remove(&attributes.id),
            last_used_at: last_used.remove(&attributes.id).flatten().and_then(|ms| time_from_ms(ms).ok()),
            key: StoredKey {
                versions: versions.remove(&attributes.id.to_string()).unwrap_or_default(),
                attributes,
            },
        })
        .collect();
    Ok(InventoryPage { total: u64::try_from(total).unwrap_or(0), entries })
}

type ReviewRow = (String, i64, String, i64, String);

fn review_from_row((key_id, at, reviewer, as_owner, attestation): ReviewRow) -> Result<ReviewRecord, Error> {
    Ok(ReviewRecord {
        key_id: KeyId::parse(&key_id).map_err(|_| Error::Corrupt { what: "review key id" })?,
        reviewed_at: time_from_ms(at)?,
        reviewer,
        as_owner: as_owner != 0,
        attestation,
    })
}

pub(super) async fn reviews(pool: &AnyPool, key_id: KeyId) -> Result<Vec<ReviewRecord>, Error> {
    let rows: Vec<ReviewRow> = sqlx::query_as(
        "SELECT key_id, reviewed_at_ms, reviewer, as_owner, attestation FROM key_reviews \
         WHERE key_id = $1 ORDER BY reviewed_at_ms",
    )
    .bind(key_id.to_string())
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(review_from_row).collect()
}

pub(super) async fn insert_review(tx: &mut Transaction<'_, Any>, review: &ReviewRecord) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO key_reviews (key_id, reviewed_at_ms, reviewer, as_owner, attestation) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(review.key_id.to_string())
    .bind(unix_ms(review.reviewed_at))
    .bind(&review.reviewer)
    .bind(i64::from(review.as_owner))
    .bind(&review.attestation)
    .execute(&mut **tx)
    .await
    .map_err(|err| {
        let unique = err.as_database_error().is_some_and(|e| e.is_unique_violation());
        if unique {
            Error::Conflict { what: "the review (one per reviewer and millisecond)" }
        } else {
            err.into()
        }
    })?;
    sqlx::query(
        "UPDATE keys SET reviewed_at_ms = $1 WHERE id = $2 AND (reviewed_at_ms IS NULL OR reviewed_at_ms < $1)",
    )
    .bind(unix_ms(review.reviewed_at))
    .bind(review.key_id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn insert_anomaly(
    tx: &mut Transaction<'_, Any>,
    anomaly: &AnomalyRecord,
) -> Result<(), Error> {
    let evidence =
        serde_json::to_string(&anomaly.evidence).map_err(|_| Error::Corrupt { what: "anomaly evidence" })?;
    sqlx::query(
        "INSERT INTO anomalies (id, rule, dedupe, severity, detected_at_ms, occurred_at_ms, actor, tenant, key_id, \
         summary, evidence) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&anomaly.id)
    .bind(&anomaly.rule)
    .bind(&anomaly.dedupe)
    .bind(&anomaly.severity)
    .bind(unix_ms(anomaly.detected_at))
    .bind(unix_ms(anomaly.occurred_at))
    .bind(&anomaly.actor)
    .bind(&anomaly.tenant)
    .bind(anomaly.key_id.map(|id| id.to_string()))
    .bind(&anomaly.summary)
    .bind(evidence)
    .execute(&mut **tx)
    .await
    .map_err(|err| {
        let unique = err.as_database_error().is_some_and(|e| e.is_unique_violation());
        if unique {
            Error::Conflict { what: "the anomaly (already raised)" }
        } else {
            err.into()
        }
    })?;
    Ok(())
}

type AnomalyRow = (String, String, String, String, i64, i64, String, String, Option<String>, String, String);

pub(super) async fn anomalies(pool: &AnyPool, filter: &AnomalyFilter) -> Result<Vec<AnomalyRecord>, Error> {
    let rows: Vec<AnomalyRow> = sqlx::query_as(
        "SELECT id, rule, dedupe, severity, detected_at_ms, occurred_at_ms, actor, tenant, key_id, summary, evidence \
         FROM anomalies WHERE ($1 IS NULL OR rule = $1) AND ($2 IS NULL OR key_id = $2) \
         AND ($3 IS NULL OR detected_at_ms >= $3) AND ($5 IS NULL OR tenant = $5) \
         ORDER BY detected_at_ms DESC, id LIMIT $4",
    )
    .bind(filter.rule.as_deref())
    .bind(filter.key_id.map(|id| id.to_string()))
    .bind(filter.since.map(unix_ms))
    .bind(i64::from(filter.limit.unwrap_or(1000).clamp(1, 100_000)))
    .bind(filter.tenant.as_deref())
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(id, rule, dedupe, severity, detected, occurred, actor, tenant, key_id, summary, evidence)| {
            Ok(AnomalyRecord {
                id,
                rule,
                dedupe,
                severity,
                detected_at: time_from_ms(detected)?,
                occurred_at: time_from_ms(occurred)?,
                actor,
                tenant,
                key_id: key_id
                    .map(|k| KeyId::parse(&k))
                    .transpose()
                    .map_err(|_| Error::Corrupt { what: "anomaly key id" })?,
                summary,
                evidence: serde_json::from_str(&evidence)
                    .map_err(|_| Error::Corrupt { what: "anomaly evidence" })?,
            })
        })
        .collect()
}

pub(super) async fn anomaly_exists(pool: &AnyPool, dedupe: &str) -> Result<bool, Error> {
    let found: Option<(String,)> = sqlx::query_as("SELECT id FROM anomalies WHERE dedupe = $1")
        .bind(dedupe)
        .fetch_optional(pool)
        .await?;
    Ok(found.is_some())
}

pub(super) async fn usage(pool: &AnyPool, key_id: KeyId) -> Result<Vec<UsageRecord>, Error> {
    let rows: Vec<(i64, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT version, operation, uses, first_used_at_ms, last_used_at_ms FROM key_usage \
         WHERE key_id = $1 ORDER BY version, operation",
    )
    .bind(key_id.to_string())
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(version, operation, uses, first, last)| {
            Ok(UsageRecord {
                version: u32::try_from(version).map_err(|_| Error::Corrupt { what: "usage version" })?,
                operation,
                uses: u64::try_from(uses).map_err(|_| Error::Corrupt { what: "usage count" })?,
                first_used_at: time_from_ms(first)?,
                last_used_at: time_from_ms(last)?,
            })
        })
        .collect()
}
