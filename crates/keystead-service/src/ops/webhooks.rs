//! `webhook add|list|deliveries`, and what the delivery worker needs: the due deliveries with
//! their unsealed signing secrets, and recording each attempt.

use keystead_core::{Action, AuditAction, Tenant};
use keystead_crypto::SecretBytes;
use keystead_store::{Change, Delivery, DeliveryResult, WebhookRecord};
use serde::Serialize;
use time::OffsetDateTime;

use crate::error::invalid;
use crate::notify::EVENT_TYPES;
use crate::{Caller, Error, Service};

/// A fresh signing secret (`whsec_` and 64 hex digits), made by keystead-crypto.
pub(super) fn new_secret() -> Result<SecretBytes, Error> {
    Ok(keystead_crypto::generate_webhook_secret()?)
}

/// A webhook as listed, with the state of its deliveries.
#[derive(Clone, Debug, Serialize)]
pub struct WebhookView {
    /// `whk_` and 32 hex digits.
    pub id: String,
    /// Where notifications are POSTed.
    pub url: String,
    /// The subscribed event types or patterns.
    pub events: Vec<String>,
    /// When it was added.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who added it.
    pub created_by: String,
    /// Whether notifications are queued and delivered for it.
    pub enabled: bool,
    /// When its signing secret was last replaced, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub secret_rotated_at: Option<OffsetDateTime>,
    /// Deliveries waiting or being retried.
    pub pending: usize,
    /// Deliveries done.
    pub delivered: usize,
    /// Deliveries given up after the retry window.
    pub expired: usize,
    /// The newest failure, if any.
    pub last_error: Option<String>,
}

/// A webhook just added, with its signing secret: shown once, stored only sealed.
#[derive(Debug)]
pub struct NewWebhookView {
    /// The webhook.
    pub webhook: WebhookView,
    /// The HMAC-SHA256 signing secret (`whsec_` and 64 hex digits) as UTF-8 bytes.
    pub secret: SecretBytes,
}

/// A due delivery for the worker.
pub struct OutgoingDelivery {
    /// The outbox row.
    pub delivery: Delivery,
    /// The receiver.
    pub url: String,
    /// The webhook's signing secret.
    pub secret: SecretBytes,
}

/// Why a tenant-confined principal cannot manage webhooks.
pub(super) const TENANT_CONFINED: &str =
    "webhooks cover every tenant; a tenant-confined principal cannot manage them";

/// How long a claimed delivery is reserved for the node that claimed it.
const LEASE: time::Duration = time::Duration::seconds(60);
/// The longest pause between two attempts.
const MAX_BACKOFF_SECONDS: i64 = 600;

pub(super) fn secret_aad(id: &str) -> Vec<u8> {
    format!("keystead webhook secret|{id}").into_bytes()
}

fn check_url(url: &str) -> Result<(), Error> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest else {
        return Err(invalid("url", "must start with https:// or http://"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if url.len() > 2048 || authority.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("url", "must be an absolute URL of at most 2048 characters without spaces"));
    }
    if authority.contains('@') {
        return Err(invalid("url", "must not carry credentials; receivers check the signature instead"));
    }
    Ok(())
}

/// `scheme://host[:port]` of a URL, without path or query.
fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    format!("{scheme}://{authority}").chars().take(200).collect()
}

fn check_events(events: &[String]) -> Result<Vec<String>, Error> {
    let events: Vec<String> = events.iter().map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()).collect();
    if events.is_empty() {
        return Err(invalid("events", "name at least one event type"));
    }
    for event in &events {
        let known = match event.strip_suffix('*') {
            Some(prefix) => EVENT_TYPES.iter().any(|t| t.starts_with(prefix)),
            None => EVENT_TYPES.contains(&event.as_str()),
        };
        if !known {
            return Err(invalid(
                "events",
                format!(
                    "unknown event type {event}; known: {}, or a pattern such as approval.*",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
    }
    Ok(events)
}

impl Service {
    /// Adds a webhook; its signing secret is returned once.
    pub async fn add_webhook(
        &self,
        caller: &Caller,
        url: &str,
        events: &[String],
    ) -> Result<NewWebhookView, Error> {
        let tenant = Tenant::default_tenant();
        let mut event = self.attempt(caller, AuditAction::WebhookAdd, &tenant);
        // Only the origin: a path or query may be a capability (a secret) of the receiver.
        event.details.insert("url_origin".into(), origin(url));
        let result = async {
            self.authorize(caller, Action::ManageWebhooks, None)?;
            if caller.tenant.is_some() {
                return Err(Error::PermissionDenied { reason: TENANT_CONFINED.into() });
            }
            check_url(url)?;
            let events = check_events(events)?;
            let id = format!("whk_{}", hex::encode(keystead_crypto::random_array::<16>()?));
            let secret = new_secret()?;
            let sealed_secret = self.root()?.seal(&secret_aad(&id), &secret)?;
            let record = WebhookRecord {
                id: id.clone(),
                url: url.to_owned(),
                events: events.clone(),
                sealed_secret,
                created_at: self.now(),
                created_by: caller.principal.clone(),
                enabled: true,
                secret_rotated_at: None,
            };
            event.details.insert("webhook_id".into(), id);
            event.details.insert("events".into(), events.join(","));
            self.store.commit(Change::AddWebhook(record.clone()), event.clone()).await?;
            Ok(NewWebhookView { webhook: view(record, &[]), secret })
        }
        .await;
        self.finish(event, result).await
    }

    /// Every webhook with its delivery counts.
    pub async fn list_webhooks(&self, caller: &Caller) -> Result<Vec<WebhookView>, Error> {
        self.guard_webhooks(caller).await?;
        let mut views = Vec::new();
        for record in self.store.webhooks().await? {
            let deliveries = self.store.deliveries(Some(&record.id), 1000).await?;
            views.push(view(record, &deliveries));
        }
        Ok(views)
    }

    /// The newest deliveries (at most 200), of one webhook or all.
    pub async fn list_deliveries(
        &self,
        caller: &Caller,
        webhook: Option<&str>,
    ) -> Result<Vec<Delivery>, Error> {
        self.guard_webhooks(caller).await?;
        Ok(self.store.deliveries(webhook, 200).await?)
    }

    /// Webhooks span every tenant: reading them needs the role and no tenant confinement.
    async fn guard_webhooks(&self, caller: &Caller) -> Result<(), Error> {
        self.guard(caller, AuditAction::WebhookRead, Action::ManageWebhooks).await?;
        if caller.tenant.is_some() {
            let err = Error::PermissionDenied { reason: TENANT_CONFINED.into() };
            let event = self.attempt(caller, AuditAction::WebhookRead, &Tenant::default_tenant());
            return Err(self.refuse(event, err).await);
        }
        Ok(())
    }

    /// Claims due deliveries for this node, each with its webhook's unsealed secret. Nothing
    /// while sealed.
    pub async fn due_deliveries(&self, limit: u32) -> Result<Vec<OutgoingDelivery>, Error> {
        let Ok(root) = self.root() else { return Ok(Vec::new()) };
        let now = self.now();
        let claimed = self.store.claim_deliveries(now, now + LEASE, limit).await?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let webhooks = self.store.webhooks().await?;
        let mut out = Vec::with_capacity(claimed.len());
        for delivery in claimed {
            let Some(webhook) = webhooks.iter().find(|w| w.id == delivery.webhook_id) else { continue };
            match root.open(&secret_aad(&webhook.id), &webhook.sealed_secret) {
                Ok(secret) => out.push(OutgoingDelivery { delivery, url: webhook.url.clone(), secret }),
                Err(_) => {
                    // Never sent unsigned: recorded as a failed attempt and retried, so the
                    // other deliveries of the batch go out.
                    tracing::error!(webhook = %webhook.id, "a webhook's sealed secret failed its integrity check");
                    let failure = Err("the webhook's signing secret failed its integrity check".to_owned());
                    self.record_delivery(&delivery, failure).await?;
                }
            }
        }
        Ok(out)
    }

    /// Records an attempt: delivered, or failed with a retry after an exponential back-off
    /// (1 s, 2 s, 4 s, ... at most 10 minutes) until the notification expires.
    pub async fn record_delivery(
        &self,
        delivery: &Delivery,
        outcome: Result<(), String>,
    ) -> Result<(), Error> {
        let now = self.now();
        let result = match outcome {
            Ok(()) => DeliveryResult::Delivered,
            Err(error) => {
                let exponent = u32::try_from(delivery.attempts.clamp(0, 20)).unwrap_or(20);
                let backoff = 2_i64.saturating_pow(exponent).min(MAX_BACKOFF_SECONDS);
                DeliveryResult::Failed {
                    error: error.chars().take(300).collect(),
                    retry_at: now + time::Duration::seconds(backoff),
                }
            }
        };
        Ok(self.store.record_delivery(&delivery.id, result, now).await?)
    }
}

pub(super) fn view(record: WebhookRecord, deliveries: &[Delivery]) -> WebhookView {
    let count = |status: &str| deliveries.iter().filter(|d| d.status == status).count();
    WebhookView {
        pending: count("pending"),
        delivered: count("delivered"),
        expired: count("expired"),
        last_error: deliveries.iter().find_map(|d| d.last_error.clone()),
        id: record.id,
        url: record.url,
        events: record.events,
        created_at: record.created_at,
        created_by: record.created_by,
        enabled: record.enabled,
        secret_rotated_at: record.secret_rotated_at,
    }
}
