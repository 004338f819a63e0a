//! HTTPS: rustls on the aws-lc-rs provider, TLS 1.3 and 1.2 only, optional client
//! certificates (mTLS). A verified client certificate's subject CN names a principal.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpListener;
use tower::Service as _;

/// How long a client has to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long running requests may take to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A TLS configuration problem, naming the file concerned; never the key's content.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no usable PEM item.
    #[error("cannot load {what} from {path}: {reason}")]
    File {
        /// Which file (certificate, private key, client CA).
        what: &'static str,
        /// Its path.
        path: String,
        /// Why.
        reason: String,
    },
    /// rustls refused the configuration (e.g. the key does not match the certificate).
    #[error("invalid TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// The client CA set could not build a verifier.
    #[error("invalid client CA: {0}")]
    ClientCa(String),
}

/// The subject common name of a verified client certificate, if the client presented one.
#[derive(Clone, Debug)]
pub struct ClientCertificate(pub Option<String>);

fn file_error(what: &'static str, path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File { what, path: path.display().to_string(), reason: reason.to_string() }
}

fn load_certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(what, path, pem_reason(&e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(what, path, pem_reason(&e)))?;
    if certs.is_empty() {
        return Err(file_error(what, path, "no PEM certificate in the file"));
    }
    Ok(certs)
}

/// Describes a PEM error without echoing file content.
fn pem_reason(err: &rustls::pki_types::pem::Error) -> String {
    match err {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM item found".into(),
        _ => "malformed PEM".into(),
    }
}

/// Builds the server's TLS configuration from PEM files.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = load_certificates("the TLS certificate", cert)?;
    let private_key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| file_error("the TLS private key", key, pem_reason(&e)))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let builder = match client_ca {
        Some(ca_path) => {
            let mut roots = RootCertStore::empty();
            for ca in load_certificates("the client CA", ca_path)? {
                roots.add(ca).map_err(|e| file_error("the client CA", ca_path, e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                // Tokens remain valid over TLS; a certificate is one more way in, not the only one.
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::ClientCa(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, private_key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The subject CN of a DER certificate.
fn subject_common_name(der: &CertificateDer<'_>) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let name = cert.subject().iter_common_name().next()?.as_str().ok()?.to_owned();
    Some(name)
}

/// Serves `app` over TLS until `shutdown` completes, then lets running requests finish.
pub async fn serve_tls(
    listener: TcpListener,
    app: Router,
    config: Arc<ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait and go on serving.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(err)) => {
                    tracing::debug!(%peer, error = %err, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let identity = ClientCertificate(
                tls.get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .and_then(subject_common_name),
            );
            let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.extensions_mut().insert(identity.clone());
                app.clone().call(request)
            });
            let connection =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service);
            if let Err(err) = watcher.watch(connection).await {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still running after {SHUTDOWN_GRACE:?}; stopping anyway");
    }
    Ok(())
}
