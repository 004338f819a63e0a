//! Keystead's REST adapter (axum). It authenticates the bearer token, decodes JSON, calls one
//! service method and encodes the result. Errors map to HTTP in one place (`error.rs`, [`ApiError`]).
#![forbid(unsafe_code)]

pub mod background;
mod error;
mod metrics;
mod openapi;
pub mod request_id;
mod routes;
#[cfg(test)]
mod schema_tests;
mod tls;
pub mod wire;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use keystead_service::Service;
use tokio::net::TcpListener;

pub use error::ApiError;
pub use routes::openapi;
pub use tls::{server_config, ClientCertificate, TlsError};

/// Largest request body accepted: a 16 MiB payload in base64 plus JSON framing.
pub const MAX_BODY_BYTES: usize = 23 * 1024 * 1024;

/// The largest backup bundle a restore or drill accepts in its request body (256 MiB).
pub const MAX_BUNDLE_BYTES: usize = 256 * 1024 * 1024;

/// Requests served at once; further ones wait. Bounds memory: each may hold a full body.
pub const MAX_CONCURRENT_REQUESTS: usize = 64;

/// Serves the REST API on `listener` until `shutdown` completes: over TLS when `tls` is
/// given, else plain HTTP (development and loopback only).
pub async fn serve(
    listener: TcpListener,
    service: Arc<Service>,
    tls: Option<Arc<rustls::ServerConfig>>,
    aws: Option<keystead_aws::AwsConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // `POST /` with `X-Amz-Target`: the AWS KMS endpoint on the same listener.
    let aws = aws.map(|config| keystead_aws::router(service.clone(), config));
    let router = routes::router(service, aws);
    match tls {
        Some(config) => tls::serve_tls(listener, router, config, shutdown).await,
        None => {
            let app = router.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, app).with_graceful_shutdown(shutdown).await
        }
    }
}
