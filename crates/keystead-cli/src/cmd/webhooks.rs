//! `keystead webhook ...`: notifications to other systems (admins not confined to a tenant).

use anyhow::Result;
use clap::Subcommand;
use keystead_api::oversight::{AddWebhook, AddedWebhook, DeliveriesQuery, Delivery, Webhook};
use time::format_description::well_known::Rfc3339;

use crate::client::seg;
use crate::client::Client;
use crate::output::print_typed;

/// `keystead webhook ...`.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Add a webhook; prints its signing secret once.
    Add {
        /// Where notifications are POSTed.
        url: String,
        /// Event types or patterns, e.g. key.compromised,approval.*
        #[arg(long, value_delimiter = ',', required = true)]
        events: Vec<String>,
    },
    /// Webhooks with their state and delivery counts.
    List,
    /// The newest deliveries with status, attempts and last error.
    Deliveries {
        /// Only this webhook.
        #[arg(long)]
        webhook: Option<String>,
    },
    /// Delete a webhook and every notification still queued for it.
    Delete {
        /// The webhook's id.
        id: String,
    },
    /// Stop queuing and sending notifications to a webhook; queued ones wait until enabled.
    Disable {
        /// The webhook's id.
        id: String,
    },
    /// Turn a disabled webhook back on.
    Enable {
        /// The webhook's id.
        id: String,
    },
    /// Replace a webhook's signing secret; prints the new one once. Queued deliveries are
    /// signed with it.
    RotateSecret {
        /// The webhook's id.
        id: String,
    },
}

const SIGNATURE_HELP: &str =
    "Each request carries Keystead-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">.";

/// Runs a `webhook` subcommand.
pub fn run(client: &Client, command: WebhookCommand, json_out: bool) -> Result<i32> {
    match command {
        WebhookCommand::Add { url, events } => {
            let added: AddedWebhook =
                client.post_as("/v1/webhooks", &AddWebhook { url, events: events.clone() })?;
            if json_out {
                return print_typed(&added).map(|()| 0);
            }
            println!("Added webhook {} for {}.", added.webhook.id, events.join(","));
            println!(
                "Signing secret (shown once; give it to the receiver): {}",
                added.secret.expose_secret()
            );
            println!("{SIGNATURE_HELP}");
        }
        WebhookCommand::List => {
            let webhooks: Vec<Webhook> = client.get_as("/v1/webhooks", &[])?;
            if json_out {
                return print_typed(&webhooks).map(|()| 0);
            }
            println!(
                "{:<38}{:<40}{:<9}{:<9}{:<11}{:<9}EVENTS",
                "ID", "URL", "STATE", "PENDING", "DELIVERED", "EXPIRED"
            );
            for w in &webhooks {
                println!(
                    "{:<38}{:<40}{:<9}{:<9}{:<11}{:<9}{}",
                    w.id,
                    w.url,
                    if w.enabled { "enabled" } else { "disabled" },
                    w.pending,
                    w.delivered,
                    w.expired,
                    w.events.join(",")
                );
                if let Some(error) = &w.last_error {
                    println!("    last error: {error}");
                }
            }
        }
        WebhookCommand::Deliveries { webhook } => {
            let query = DeliveriesQuery { webhook };
            let deliveries: Vec<Delivery> = client.get_query_as("/v1/webhooks/deliveries", &query)?;
            if json_out {
                return print_typed(&deliveries).map(|()| 0);
            }
            println!(
                "{:<20}{:<10}{:<9}{:<26}{:<26}LAST ERROR",
                "EVENT", "STATUS", "ATTEMPTS", "CREATED", "NEXT ATTEMPT"
            );
            for d in &deliveries {
                println!(
                    "{:<20}{:<10}{:<9}{:<26}{:<26}{}",
                    d.event_type,
                    d.status,
                    d.attempts,
                    d.created_at.format(&Rfc3339).unwrap_or_default(),
                    d.next_attempt_at.format(&Rfc3339).unwrap_or_default(),
                    d.last_error.as_deref().unwrap_or("")
                );
            }
        }
        WebhookCommand::Delete { id } => {
            let webhook: Webhook = client.delete_as(&format!("/v1/webhooks/{}", seg(&id)))?;
            show(&webhook, json_out, "deleted")?;
        }
        WebhookCommand::Disable { id } => {
            let webhook: Webhook =
                client.post_as(&format!("/v1/webhooks/{}/disable", seg(&id)), &serde_json::json!({}))?;
            show(&webhook, json_out, "disabled")?;
        }
        WebhookCommand::Enable { id } => {
            let webhook: Webhook =
                client.post_as(&format!("/v1/webhooks/{}/enable", seg(&id)), &serde_json::json!({}))?;
            show(&webhook, json_out, "enabled")?;
        }
        WebhookCommand::RotateSecret { id } => {
            let rotated: AddedWebhook = client
                .post_as(&format!("/v1/webhooks/{}/rotate-secret", seg(&id)), &serde_json::json!({}))?;
            if json_out {
                return print_typed(&rotated).map(|()| 0);
            }
            println!("Rotated the signing secret of webhook {}.", rotated.webhook.id);
            println!(
                "New signing secret (shown once; give it to the receiver): {}",
                rotated.secret.expose_secret()
            );
            println!("Notifications already queued are signed with it when they are sent.");
        }
    }
    Ok(0)
}

fn show(webhook: &Webhook, json_out: bool, what: &str) -> Result<()> {
    if json_out {
        return print_typed(webhook);
    }
    println!("webhook {} ({}) {what}; {} deliveries pending", webhook.id, webhook.url, webhook.pending);
    Ok(())
}
