//! `webhook delete|disable|enable|rotate-secret`: a webhook's life after `webhook add`.

use keystead_core::{Action, AuditAction, Tenant};
use keystead_store::{Change, WebhookRecord};

use super::webhooks::{new_secret, secret_aad, view, NewWebhookView, WebhookView, TENANT_CONFINED};
use crate::{Caller, Error, Service};

/// What to do to a webhook.
enum Step {
    Delete,
    Enable(bool),
}

impl Service {
    /// Deletes a webhook and every notification still queued for it.
    pub async fn delete_webhook(&self, caller: &Caller, id: &str) -> Result<WebhookView, Error> {
        self.webhook_step(caller, id, AuditAction::WebhookDelete, Step::Delete).await
    }

    /// Stops queuing and delivering notifications to a webhook; queued ones wait (until they
    /// expire) and go out if it is enabled again.
    pub async fn disable_webhook(&self, caller: &Caller, id: &str) -> Result<WebhookView, Error> {
        self.webhook_step(caller, id, AuditAction::WebhookDisable, Step::Enable(false)).await
    }

    /// Turns a disabled webhook back on.
    pub async fn enable_webhook(&self, caller: &Caller, id: &str) -> Result<WebhookView, Error> {
        self.webhook_step(caller, id, AuditAction::WebhookEnable, Step::Enable(true)).await
    }

    /// Replaces a webhook's signing secret; the new one is returned once. Deliveries already
    /// queued are signed with the secret current when each is sent.
    pub async fn rotate_webhook_secret(&self, caller: &Caller, id: &str) -> Result<NewWebhookView, Error> {
        let mut event = self.attempt(caller, AuditAction::WebhookRotateSecret, &Tenant::default_tenant());
        event.details.insert("webhook_id".into(), id.chars().take(64).collect());
        let result = async {
            let current = self.webhook_in_reach(caller, id).await?;
            let secret = new_secret()?;
            let sealed_secret = self.root()?.seal(&secret_aad(&current.id), &secret)?;
            let at = self.now();
            // Read before the commit: once the new secret is stored, nothing may fail before
            // it is handed over (it is shown once).
            let deliveries = self.store.deliveries(Some(&current.id), 1000).await?;
            let change = Change::RotateWebhookSecret {
                id: current.id.clone(),
                from: current.sealed_secret.clone(),
                sealed_secret: sealed_secret.clone(),
                at,
            };
            self.store.commit(change, event.clone()).await?;
            let record = WebhookRecord { sealed_secret, secret_rotated_at: Some(at), ..current };
            Ok(NewWebhookView { webhook: view(record, &deliveries), secret })
        }
        .await;
        self.finish(event, result).await
    }

    async fn webhook_step(
        &self,
        caller: &Caller,
        id: &str,
        action: AuditAction,
        step: Step,
    ) -> Result<WebhookView, Error> {
        let mut event = self.attempt(caller, action, &Tenant::default_tenant());
        event.details.insert("webhook_id".into(), id.chars().take(64).collect());
        let result = async {
            let current = self.webhook_in_reach(caller, id).await?;
            let deliveries = self.store.deliveries(Some(&current.id), 1000).await?;
            let (change, record) = match step {
                Step::Delete => {
                    let dropped = deliveries.iter().filter(|d| d.status == "pending").count();
                    event.details.insert("pending_dropped".into(), dropped.to_string());
                    (Change::DeleteWebhook { id: current.id.clone() }, current)
                }
                Step::Enable(enabled) => {
                    if current.enabled == enabled {
                        let state = if enabled { "enabled" } else { "disabled" };
                        return Err(Error::WrongState { reason: format!("webhook {id} is already {state}") });
                    }
                    let change = Change::SetWebhookEnabled { id: current.id.clone(), enabled };
                    (change, WebhookRecord { enabled, ..current })
                }
            };
            self.store.commit(change, event.clone()).await?;
            Ok(view(record, &deliveries))
        }
        .await;
        self.finish(event, result).await
    }

    /// A webhook the caller may manage: the role, no tenant confinement (webhooks span every
    /// tenant), and the webhook exists.
    async fn webhook_in_reach(&self, caller: &Caller, id: &str) -> Result<WebhookRecord, Error> {
        self.authorize(caller, Action::ManageWebhooks, None)?;
        if caller.tenant.is_some() {
            return Err(Error::PermissionDenied { reason: TENANT_CONFINED.into() });
        }
        self.store
            .webhooks()
            .await?
            .into_iter()
            .find(|w| w.id == id)
            .ok_or_else(|| Error::WebhookNotFound { id: id.to_owned() })
    }
}
