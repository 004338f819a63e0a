//! Prometheus metrics at `/metrics`: requests by operation and outcome, denials by reason,
//! latency per operation, key cache hits, seal state.
//!
//! Label values come from two closed sets only: the route template (`POST
//! /v1/keys/{key}/encrypt`, never the key's name) and the stable error codes. No request
//! content, key name, principal or token can reach a label.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keystead_service::Service;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The error code of a failed response, left by [`crate::ApiError`] for the metrics layer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ResponseCode(pub &'static str);

/// Error codes that mean "refused by a rule" rather than "failed".
const DENIAL_CODES: &[&str] = &[
    "unauthenticated",
    "permission_denied",
    "purpose_violation",
    "policy_violation",
    "invalid_state",
    "key_compromised",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DenialLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

/// Latency buckets from 250 µs to about 16 s: crypto operations answer in microseconds,
/// key creation waits for a durable commit.
fn latency_histogram() -> Histogram {
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.000_25, 2.0, 17))
}

/// Every metric of one server.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    denials: Family<DenialLabels, Counter>,
    latency: Family<OperationLabels, Histogram, fn() -> Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Reads the service's own state at each scrape.
#[derive(Debug)]
struct ServiceCollector(Arc<Service>);

impl Collector for ServiceCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let seal = self.0.seal_status();
        let cache = self.0.key_cache_stats();
        let gauge = |encoder: &mut DescriptorEncoder, name: &str, help: &str, value: i64| {
            let metric = ConstGauge::new(value);
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
        };
        let counter = |encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64| {
            let metric = ConstCounter::new(value);
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
        };
        gauge(
            &mut encoder,
            "keystead_sealed",
            "1 while the root key is out of memory",
            i64::from(seal.sealed),
        )?;
        gauge(
            &mut encoder,
            "keystead_initialized",
            "1 once the store has a root key",
            i64::from(seal.initialized),
        )?;
        gauge(
            &mut encoder,
            "keystead_unseal_progress",
            "Unseal shares entered towards the next unseal",
            i64::try_from(seal.progress).unwrap_or(i64::MAX),
        )?;
        counter(&mut encoder, "keystead_key_cache_hits", "Key lookups answered from memory", cache.hits)?;
        counter(
            &mut encoder,
            "keystead_key_cache_misses",
            "Key lookups that read and unsealed the key",
            cache.misses,
        )?;
        gauge(
            &mut encoder,
            "keystead_key_cache_entries",
            "Unsealed keys in memory",
            i64::try_from(cache.entries).unwrap_or(i64::MAX),
        )?;
        let raised = self.0.anomaly_counts();
        let mut family = encoder.encode_descriptor(
            "keystead_anomalies",
            "Anomalies this node raised over the audit stream, by rule",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for rule in keystead_service::ANOMALY_RULES {
            let metric = ConstCounter::new(raised.get(rule).copied().unwrap_or(0));
            metric.encode(family.encode_family(&[("rule", *rule)])?)?;
        }
        Ok(())
    }
}

impl Metrics {
    /// Metrics for `service`.
    pub fn new(service: Arc<Service>) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let denials = Family::<DenialLabels, Counter>::default();
        let latency = Family::<OperationLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "keystead_requests",
            "REST requests by operation (method and route template) and outcome (success or error code)",
            requests.clone(),
        );
        registry.register(
            "keystead_denials",
            "Requests refused by a rule, by reason (the error code)",
            denials.clone(),
        );
        registry.register_with_unit(
            "keystead_request_duration",
            "REST request latency by operation",
            prometheus_client::registry::Unit::Seconds,
            latency.clone(),
        );
        registry.register_collector(Box::new(ServiceCollector(service)));
        Self { registry, requests, denials, latency }
    }

    fn record(&self, operation: String, code: Option<&'static str>, seconds: f64) {
        let outcome = code.unwrap_or("success");
        self.requests.get_or_create(&RequestLabels { operation: operation.clone(), outcome }).inc();
        if let Some(reason) = code.filter(|c| DENIAL_CODES.contains(c)) {
            self.denials.get_or_create(&DenialLabels { reason }).inc();
        }
        self.latency.get_or_create(&OperationLabels { operation }).observe(seconds);
    }

    /// The text exposition format.
    fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Middleware on every matched route: counts and times the request.
pub(crate) async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let operation = match request.extensions().get::<MatchedPath>() {
        Some(path) => format!("{} {}", request.method(), path.as_str()),
        None => "unmatched".to_owned(),
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let code = response.extensions().get::<ResponseCode>().map(|c| c.0).or_else(|| {
        // Failures axum answers itself (unknown method, malformed path) carry no code.
        (!response.status().is_success()).then_some("invalid_argument")
    });
    metrics.record(operation, code, started.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`. Public like a seal status: aggregate counts only, nothing per key or caller.
pub(crate) async fn render(State(metrics): State<Arc<Metrics>>) -> Response {
    match metrics.render() {
        Ok(text) => {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
