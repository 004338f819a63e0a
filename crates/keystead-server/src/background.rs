//! Work a node does on its own: the scheduler (approval expiry, exception windows, scheduled
//! destruction, rotation and originator-usage periods) and webhook delivery from the outbox.
//! It also writes the failed-authentication counts every summary interval. Every node runs these; the store's compare-and-set changes and delivery leases keep them
//! from doing one step twice.

use std::sync::Arc;
use std::time::Duration;

use keystead_service::{OutgoingDelivery, Service};
use tokio::task::JoinSet;

/// How many deliveries one round claims.
const DELIVERY_BATCH: u32 = 32;
/// How long a receiver may take to answer.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause between two delivery rounds when the outbox had nothing due.
const DELIVERY_POLL: Duration = Duration::from_secs(1);

/// Starts the scheduler (every `scheduler_interval`) and the webhook delivery worker.
pub fn spawn(service: Arc<Service>, scheduler_interval: Duration) -> std::io::Result<()> {
    let client = webhook_client()?;
    let summaries = service.clone();
    tokio::spawn(async move {
        let seconds = summaries.auth_failure_policy().summary_seconds.max(1);
        let mut timer = tokio::time::interval(Duration::from_secs(seconds.unsigned_abs()));
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            timer.tick().await;
            if let Err(err) = summaries.write_auth_failure_summaries().await {
                tracing::warn!(error = %err, "cannot write the failed-authentication counts yet; retrying");
            }
        }
    });
    let scheduler = service.clone();
    tokio::spawn(async move {
        let mut timer = tokio::time::interval(scheduler_interval);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            timer.tick().await;
            // Each run in its own task: even a panic in one run does not stop the scheduler.
            let service = scheduler.clone();
            match tokio::spawn(async move { service.run_due_work().await }).await {
                Ok(Ok(_)) => {}
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "scheduled work failed; retrying on the next run")
                }
                Err(_) => tracing::error!("a scheduler run panicked; retrying on the next run"),
            }
        }
    });
    tokio::spawn(async move {
        loop {
            match service.due_deliveries(DELIVERY_BATCH).await {
                Ok(batch) if !batch.is_empty() => deliver_all(&service, &client, batch).await,
                Ok(_) => tokio::time::sleep(DELIVERY_POLL).await,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read the webhook outbox; retrying");
                    tokio::time::sleep(DELIVERY_POLL).await;
                }
            }
        }
    });
    Ok(())
}

/// An HTTP client for webhooks: rustls on aws-lc-rs with the Mozilla roots, no redirects
/// (a redirect could carry a signed notification elsewhere), a timeout.
fn webhook_client() -> std::io::Result<reqwest::Client> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(DELIVERY_TIMEOUT)
        .user_agent(concat!("keystead/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(std::io::Error::other)
}

async fn deliver_all(service: &Arc<Service>, client: &reqwest::Client, batch: Vec<OutgoingDelivery>) {
    let mut sends = JoinSet::new();
    for outgoing in batch {
        let client = client.clone();
        let service = service.clone();
        sends.spawn(async move {
            let outcome = send(&client, &outgoing).await;
            if let Err(error) = &outcome {
                tracing::info!(delivery = %outgoing.delivery.id, %error, "webhook delivery failed; will retry");
            }
            if let Err(err) = service.record_delivery(&outgoing.delivery, outcome).await {
                tracing::warn!(error = %err, "cannot record a webhook delivery; it will be sent again");
            }
        });
    }
    while sends.join_next().await.is_some() {}
}

async fn send(client: &reqwest::Client, outgoing: &OutgoingDelivery) -> Result<(), String> {
    let delivery = &outgoing.delivery;
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let response = client
        .post(&outgoing.url)
        .header("content-type", "application/json")
        .header("keystead-event", &delivery.event_type)
        .header("keystead-delivery", &delivery.id)
        .header(
            "keystead-signature",
            keystead_crypto::webhook_signature(&outgoing.secret, timestamp, &delivery.body),
        )
        .body(delivery.body.clone())
        .send()
        .await
        .map_err(|err| describe_transport_error(&err))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered {status}"))
    }
}

/// A transport error without the URL (it may carry a path the receiver considers private).
fn describe_transport_error(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "the receiver did not answer in time".into()
    } else if err.is_connect() {
        "cannot connect to the receiver".into()
    } else {
        "the request to the receiver failed".into()
    }
}
