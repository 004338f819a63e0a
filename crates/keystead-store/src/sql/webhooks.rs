//! Webhooks and their outbox.

use keystead_core::envelope::unix_ms;
use sqlx::{Any, AnyPool, Transaction};
use time::OffsetDateTime;

use super::{optional_time, time_from_ms};
use crate::{Delivery, DeliveryResult, Error, Notification, WebhookRecord};

pub(super) async fn insert(tx: &mut Transaction<'_, Any>, webhook: &WebhookRecord) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO webhooks (id, url, events, sealed_secret, created_at_ms, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&webhook.id)
    .bind(&webhook.url)
    .bind(webhook.events.join(","))
    .bind(&webhook.sealed_secret)
    .bind(unix_ms(webhook.created_at))
    .bind(&webhook.created_by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

type WebhookRow = (String, String, String, Vec<u8>, i64, String, i64, Option<i64>);

fn webhook_from_row(
    (id, url, events, sealed_secret, created_at_ms, created_by, disabled, rotated): WebhookRow,
) -> Result<WebhookRecord, Error> {
    Ok(WebhookRecord {
        id,
        url,
        events: events.split(',').filter(|e| !e.is_empty()).map(str::to_owned).collect(),
        sealed_secret,
        created_at: time_from_ms(created_at_ms)?,
        created_by,
        enabled: disabled == 0,
        secret_rotated_at: optional_time(rotated)?,
    })
}

const WEBHOOK_COLUMNS: &str = "SELECT id, url, events, sealed_secret, created_at_ms, created_by, disabled, \
                               secret_rotated_at_ms FROM webhooks";

/// Queues the notification for every subscribed webhook, in the transaction of its change.
pub(super) async fn enqueue(tx: &mut Transaction<'_, Any>, notification: &Notification) -> Result<(), Error> {
    let rows: Vec<WebhookRow> = sqlx::query_as(WEBHOOK_COLUMNS).fetch_all(&mut **tx).await?;
    for webhook in rows.into_iter().map(webhook_from_row) {
        let webhook = webhook?;
        if !webhook.enabled || !webhook.wants(&notification.event_type) {
            continue;
        }
        sqlx::query(
            "INSERT INTO webhook_outbox (id, webhook_id, event_type, body, status, attempts, created_at_ms, \
             next_attempt_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5, $6)",
        )
        .bind(format!("{}.{}", notification.id, webhook.id))
        .bind(&webhook.id)
        .bind(&notification.event_type)
        .bind(&notification.body)
        .bind(unix_ms(notification.created_at))
        .bind(unix_ms(notification.expires_at))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

pub(super) async fn list(pool: &AnyPool) -> Result<Vec<WebhookRecord>, Error> {
    let rows: Vec<WebhookRow> =
        sqlx::query_as(&format!("{WEBHOOK_COLUMNS} ORDER BY created_at_ms, id")).fetch_all(pool).await?;
    rows.into_iter().map(webhook_from_row).collect()
}

type DeliveryRow = (String, String, String, String, String, i64, i64, i64, i64, Option<i64>, Option<String>);

const DELIVERY_COLUMNS: &str = "SELECT id, webhook_id, event_type, body, status, attempts, created_at_ms, \
                                next_attempt_at_ms, expires_at_ms, delivered_at_ms, last_error FROM webhook_outbox";

fn delivery_from_row(row: DeliveryRow) -> Result<Delivery, Error> {
    let (id, webhook_id, event_type, body, status, attempts, created, next, expires, delivered, last_error) =
        row;
    Ok(Delivery {
        id,
        webhook_id,
        event_type,
        body,
        status,
        attempts,
        created_at: time_from_ms(created)?,
        next_attempt_at: time_from_ms(next)?,
        expires_at: time_from_ms(expires)?,
        delivered_at: optional_time(delivered)?,
        last_error,
    })
}

/// Gives up on expired rows, then leases due rows to the caller until `lease_until`.
pub(super) async fn claim(
    pool: &AnyPool,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    limit: u32,
) -> Result<Vec<Delivery>, Error> {
    let now_ms = unix_ms(now);
    sqlx::query(
        "UPDATE webhook_outbox SET status = 'expired' WHERE status = 'pending' AND expires_at_ms <= $1",
    )
    .bind(now_ms)
    .execute(pool)
    .await?;
    let due: Vec<DeliveryRow> = sqlx::query_as(&format!(
        "{DELIVERY_COLUMNS} WHERE status = 'pending' AND next_attempt_at_ms <= $1 \
         AND (lease_until_ms IS NULL OR lease_until_ms <= $1) \
         AND webhook_id NOT IN (SELECT id FROM webhooks WHERE disabled = 1) \
         ORDER BY next_attempt_at_ms, id LIMIT $2"
    ))
    .bind(now_ms)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    let mut claimed = Vec::with_capacity(due.len());
    for row in due {
        // Compare-and-set on the lease: of two nodes claiming the same row, one wins.
        let taken = sqlx::query(
            "UPDATE webhook_outbox SET lease_until_ms = $1 WHERE id = $2 AND status = 'pending' \
             AND (lease_until_ms IS NULL OR lease_until_ms <= $3)",
        )
        .bind(unix_ms(lease_until))
        .bind(&row.0)
        .bind(now_ms)
        .execute(pool)
        .await?;
        if taken.rows_affected() == 1 {
            claimed.push(delivery_from_row(row)?);
        }
    }
    Ok(claimed)
}

pub(super) async fn record(
    pool: &AnyPool,
    id: &str,
    result: DeliveryResult,
    now: OffsetDateTime,
) -> Result<(), Error> {
    match result {
        DeliveryResult::Delivered => {
            sqlx::query(
                "UPDATE webhook_outbox SET status = 'delivered', attempts = attempts + 1, delivered_at_ms = $1, \
                 lease_until_ms = NULL, last_error = NULL WHERE id = $2 AND status = 'pending'",
            )
            .bind(unix_ms(now))
            .bind(id)
            .execute(pool)
            .await?;
        }
        DeliveryResult::Failed { error, retry_at } => {
            sqlx::query(
                "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at_ms = $2, \
                 lease_until_ms = NULL, \
                 status = CASE WHEN $2 >= expires_at_ms THEN 'expired' ELSE 'pending' END \
                 WHERE id = $3 AND status = 'pending'",
            )
            .bind(error)
            .bind(unix_ms(retry_at))
            .bind(id)
            .execute(pool)
            .await?;
        }
    }
    Ok(())
}

pub(super) async fn deliveries(
    pool: &AnyPool,
    webhook_id: Option<&str>,
    limit: u32,
) -> Result<Vec<Delivery>, Error> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
        "{DELIVERY_COLUMNS} WHERE ($1 IS NULL OR webhook_id = $1) ORDER BY created_at_ms DESC, id LIMIT $2"
    ))
    .bind(webhook_id)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(delivery_from_row).collect()
}
