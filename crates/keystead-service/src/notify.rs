//! Notifications for webhooks: built from the audit event of a change and queued in the
//! outbox in the change's own transaction, so a notification exists exactly when its change
//! does.

use keystead_core::AuditEvent;
use keystead_store::Notification;

use crate::{Error, Service};

/// The event types webhooks may subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "key.compromised",
    "key.rotated",
    "key.state_changed",
    "key.destroyed",
    "approval.requested",
    "approval.approved",
    "approval.rejected",
    "approval.expired",
    "exception.opened",
    "exception.closed",
    "anomaly.detected",
    "audit.checkpoint",
    "recovery.restore",
    "recovery.break-glass",
    "recovery.break-glass-signed-off",
];

impl Service {
    /// A notification of type `event_type` describing `event` (never secret: audit events
    /// hold none).
    pub(crate) fn notification(&self, event_type: &str, event: &AuditEvent) -> Result<Notification, Error> {
        let id = format!("evt_{}", hex::encode(keystead_crypto::random_array::<16>()?));
        let body = serde_json::json!({
            "id": id,
            "type": event_type,
            "occurred_at": event.occurred_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "node": event.node,
            "tenant": event.tenant,
            "actor": event.actor,
            "key_id": event.key_id.map(|k| k.to_string()),
            "key_name": event.key_name,
            "version": event.version,
            "details": event.details,
        });
        Ok(Notification {
            id,
            event_type: event_type.to_owned(),
            body: body.to_string(),
            created_at: event.occurred_at,
            expires_at: event.occurred_at + time::Duration::seconds(self.config.webhook_retry_seconds),
        })
    }
}
