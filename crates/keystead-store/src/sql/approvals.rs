//! Approval requests and their votes.

use std::collections::BTreeMap;

use keystead_core::approval::{ApprovalPolicy, ApprovalStatus, Vote};
use keystead_core::envelope::unix_ms;
use keystead_core::KeyId;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row, Transaction};
use time::OffsetDateTime;

use super::{optional_time, parse, time_from_ms};
use crate::{ApprovalFilter, ApprovalRecord, Error};

/// The JSON of the `body` column: what has no column of its own.
#[derive(serde::Serialize, serde::Deserialize)]
struct Body {
    key_name: String,
    justification: String,
    policy: ApprovalPolicy,
    parameters: BTreeMap<String, String>,
}

pub(super) async fn insert(tx: &mut Transaction<'_, Any>, record: &ApprovalRecord) -> Result<(), Error> {
    let body = Body {
        key_name: record.key_name.clone(),
        justification: record.justification.clone(),
        policy: record.policy.clone(),
        parameters: record.parameters.clone(),
    };
    let body = serde_json::to_string(&body).map_err(|_| Error::Corrupt { what: "approval" })?;
    sqlx::query(
        "INSERT INTO approvals (id, operation, tenant, key_id, version, requester, status, created_at_ms, \
         expires_at_ms, decided_at_ms, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&record.id)
    .bind(record.operation.as_str())
    .bind(&record.tenant)
    .bind(record.key_id.map(|id| id.to_string()))
    .bind(record.version.map(i64::from))
    .bind(&record.requester)
    .bind(record.status.as_str())
    .bind(unix_ms(record.created_at))
    .bind(unix_ms(record.expires_at))
    .bind(record.decided_at.map(unix_ms))
    .bind(body)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) async fn vote(
    tx: &mut Transaction<'_, Any>,
    approval_id: &str,
    expected_votes: usize,
    vote: &Vote,
    decides: Option<ApprovalStatus>,
) -> Result<(), Error> {
    // A no-op update takes the request's row lock (portable: PostgreSQL locks the row, SQLite
    // the database), so concurrent votes on one request are counted one after the other.
    let locked = sqlx::query("UPDATE approvals SET status = status WHERE id = $1 AND status = $2")
        .bind(approval_id)
        .bind(ApprovalStatus::Pending.as_str())
        .execute(&mut **tx)
        .await?;
    if locked.rows_affected() != 1 {
        return Err(Error::Conflict { what: "the approval request (it is no longer pending)" });
    }
    let votes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM approval_votes WHERE approval_id = $1")
        .bind(approval_id)
        .fetch_one(&mut **tx)
        .await?;
    if usize::try_from(votes).ok() != Some(expected_votes) {
        return Err(Error::Conflict { what: "the approval request (another vote came in meanwhile)" });
    }
    let inserted = sqlx::query(
        "INSERT INTO approval_votes (approval_id, principal, role, approve, reason, at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(approval_id)
    .bind(&vote.principal)
    .bind(vote.role.as_str())
    .bind(i64::from(vote.approve))
    .bind(&vote.reason)
    .bind(unix_ms(vote.at))
    .execute(&mut **tx)
    .await;
    if let Err(err) = inserted {
        let unique = err.as_database_error().is_some_and(|e| e.is_unique_violation());
        return Err(if unique { Error::Conflict { what: "the vote (already voted)" } } else { err.into() });
    }
    if let Some(to) = decides {
        set_status(tx, approval_id, ApprovalStatus::Pending, to, vote.at).await?;
    }
    Ok(())
}

pub(super) async fn set_status(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    from: ApprovalStatus,
    to: ApprovalStatus,
    at: OffsetDateTime,
) -> Result<(), Error> {
    // An exception's window is measured from its approval: closing keeps that time.
    let decided = if from == ApprovalStatus::Pending { ", decided_at_ms = $4" } else { "" };
    let sql = format!("UPDATE approvals SET status = $1{decided} WHERE id = $2 AND status = $3");
    let mut query = sqlx::query(&sql).bind(to.as_str()).bind(id).bind(from.as_str());
    if !decided.is_empty() {
        query = query.bind(unix_ms(at));
    }
    if query.execute(&mut **tx).await?.rows_affected() != 1 {
        return Err(Error::Conflict { what: "the approval request's status" });
    }
    Ok(())
}

fn from_row(row: &AnyRow) -> Result<ApprovalRecord, Error> {
    let corrupt = || Error::Corrupt { what: "approval" };
    let body: Body = serde_json::from_str(&row.try_get::<String, _>("body")?).map_err(|_| corrupt())?;
    let version: Option<i64> = row.try_get("version")?;
    Ok(ApprovalRecord {
        id: row.try_get("id")?,
        operation: parse(&row.try_get::<String, _>("operation")?, "approval operation")?,
        tenant: row.try_get("tenant")?,
        key_id: row
            .try_get::<Option<String>, _>("key_id")?
            .map(|id| KeyId::parse(&id))
            .transpose()
            .map_err(|_| corrupt())?,
        key_name: body.key_name,
        version: version.map(u32::try_from).transpose().map_err(|_| corrupt())?,
        requester: row.try_get("requester")?,
        status: parse(&row.try_get::<String, _>("status")?, "approval status")?,
        created_at: time_from_ms(row.try_get("created_at_ms")?)?,
        expires_at: time_from_ms(row.try_get("expires_at_ms")?)?,
        decided_at: optional_time(row.try_get("decided_at_ms")?)?,
        justification: body.justification,
        policy: body.policy,
        parameters: body.parameters,
        votes: Vec::new(),
    })
}

async fn with_votes(pool: &AnyPool, mut record: ApprovalRecord) -> Result<ApprovalRecord, Error> {
    let rows: Vec<(String, String, i64, Option<String>, i64)> = sqlx::query_as(
        "SELECT principal, role, approve, reason, at_ms FROM approval_votes WHERE approval_id = $1 \
         ORDER BY at_ms, principal",
    )
    .bind(&record.id)
    .fetch_all(pool)
    .await?;
    record.votes = rows
        .into_iter()
        .map(|(principal, role, approve, reason, at_ms)| {
            Ok(Vote {
                principal,
                role: parse(&role, "role")?,
                approve: approve != 0,
                reason,
                at: time_from_ms(at_ms)?,
            })
        })
        .collect::<Result<_, Error>>()?;
    Ok(record)
}

pub(super) async fn by_id(pool: &AnyPool, id: &str) -> Result<Option<ApprovalRecord>, Error> {
    let row = sqlx::query("SELECT * FROM approvals WHERE id = $1").bind(id).fetch_optional(pool).await?;
    match row {
        Some(row) => Ok(Some(with_votes(pool, from_row(&row)?).await?)),
        None => Ok(None),
    }
}

pub(super) async fn list(pool: &AnyPool, filter: &ApprovalFilter) -> Result<Vec<ApprovalRecord>, Error> {
    let rows = sqlx::query(
        "SELECT * FROM approvals WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR key_id = $2) \
         AND ($3 IS NULL OR operation = $3) AND ($4 IS NULL OR requester = $4) \
         AND ($5 IS NULL OR expires_at_ms <= $5) \
         ORDER BY created_at_ms DESC, id LIMIT 500",
    )
    .bind(filter.status.map(|s| s.as_str()))
    .bind(filter.key_id.map(|id| id.to_string()))
    .bind(filter.operation.map(|o| o.as_str()))
    .bind(filter.requester.as_deref())
    .bind(filter.expires_before.map(unix_ms))
    .fetch_all(pool)
    .await?;
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        records.push(with_votes(pool, from_row(&row)?).await?);
    }
    Ok(records)
}
