//! The REST client behind every subcommand but `server`.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use keystead_api::{ErrorBody, ErrorCode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;
use zeroize::Zeroizing;

/// Exit codes, stable for scripts.
pub mod exit {
    /// A request failed for a reason not listed below.
    pub const FAILURE: i32 = 1;
    /// No or invalid token.
    pub const UNAUTHENTICATED: i32 = 3;
    /// The key or version does not exist.
    pub const NOT_FOUND: i32 = 4;
    /// Refused by a rule: purpose, state, policy, permission, integrity.
    pub const DENIED: i32 = 5;
    /// A signature, MAC tag or audit chain did not verify.
    pub const NOT_VALID: i32 = 6;
    /// The server could not be reached.
    pub const UNREACHABLE: i32 = 7;
    /// The server is sealed or not initialized.
    pub const SEALED: i32 = 8;
    /// The server cannot reach its database; retry later.
    pub const STORAGE_UNAVAILABLE: i32 = 9;
}

/// An error reported by the server, with its stable code.
#[derive(Debug)]
pub struct ApiFailure {
    /// The code, when this client knows it (a newer server may send one it does not).
    pub code: Option<ErrorCode>,
    /// The code as sent.
    pub code_text: String,
    /// The message.
    pub message: String,
    /// The request's id, to quote to the server's operators.
    pub request_id: Option<String>,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code_text)?;
        match &self.request_id {
            Some(id) if self.code == Some(ErrorCode::Internal) || self.code.is_none() => {
                write!(f, " [request id {id}]")
            }
            _ => Ok(()),
        }
    }
}

impl std::error::Error for ApiFailure {}

impl ApiFailure {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        self.code.map_or(exit::FAILURE, exit_code_of)
    }
}

/// The exit code of each error code. No `_` arm: a new code does not compile until it has
/// an exit code.
pub fn exit_code_of(code: ErrorCode) -> i32 {
    match code {
        ErrorCode::Unauthenticated | ErrorCode::RateLimited => exit::UNAUTHENTICATED,
        ErrorCode::NotFound => exit::NOT_FOUND,
        ErrorCode::PurposeViolation
        | ErrorCode::InvalidState
        | ErrorCode::PolicyViolation
        | ErrorCode::PermissionDenied
        | ErrorCode::IntegrityFailure
        | ErrorCode::KeyCompromised => exit::DENIED,
        ErrorCode::Sealed | ErrorCode::NotInitialized => exit::SEALED,
        ErrorCode::StorageUnavailable => exit::STORAGE_UNAVAILABLE,
        ErrorCode::AlreadyExists
        | ErrorCode::InvalidArgument
        | ErrorCode::DecryptionFailed
        | ErrorCode::Conflict
        | ErrorCode::Internal => exit::FAILURE,
    }
}

/// The server could not be reached: its address and the innermost cause (e.g. a refused
/// connection or an untrusted certificate).
#[derive(Debug)]
pub struct Unreachable(pub String, pub String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot reach Keystead at {} ({}); is the server running there? (set --addr or KEYSTEAD_ADDR)",
            self.0, self.1
        )
    }
}

/// The innermost cause of a transport error: the part that says what went wrong.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

impl std::error::Error for Unreachable {}

/// How the client reaches an https server.
#[derive(Debug, Default)]
pub struct TlsOptions {
    /// CA certificates that sign the server's certificate.
    pub ca_cert: Option<PathBuf>,
    /// A client certificate and its key, for mTLS.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// Reads every certificate in a PEM file; errors name the file, never its content.
fn read_certificates(what: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|items| items.collect::<Result<Vec<_>, _>>())
        .map_err(|_| anyhow!("cannot read {what} {}: not a readable PEM certificate file", path.display()))?;
    if certs.is_empty() {
        bail!("{what} {} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

/// rustls on the aws-lc-rs provider, TLS 1.3 and 1.2, trusting only the given CA.
fn tls_config(options: &TlsOptions) -> Result<rustls::ClientConfig> {
    let Some(ca_path) = &options.ca_cert else {
        bail!("an https address needs the CA that signed the server's certificate: give --ca-cert PEM or set KEYSTEAD_CACERT");
    };
    let mut roots = rustls::RootCertStore::empty();
    for ca in read_certificates("the CA certificate", ca_path)? {
        roots.add(ca).map_err(|e| anyhow!("the CA certificate {} is not usable: {e}", ca_path.display()))?;
    }
    let builder =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_root_certificates(roots);
    Ok(match &options.client_cert {
        Some((cert, key)) => {
            let chain = read_certificates("the client certificate", cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|_| {
                anyhow!("cannot read the client key {}: not a readable PEM private key", key.display())
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| anyhow!("the client certificate and key do not go together: {e}"))?
        }
        None => builder.with_no_client_auth(),
    })
}

/// A client of one server.
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    token: Option<Zeroizing<String>>,
    client_certificate: bool,
}

fn is_loopback(addr: &str) -> bool {
    let host_port = addr.trim_start_matches("http://").trim_start_matches("https://");
    let host_port = host_port.split('/').next().unwrap_or_default();
    host_port
        .to_socket_addrs()
        .map(|mut addrs| addrs.all(|a| a.ip().is_loopback()))
        .unwrap_or_else(|_| host_port.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()))
}

/// The development root token, for a loopback server, when no token was given.
fn dev_token(addr: &str) -> Option<Zeroizing<String>> {
    if !is_loopback(addr) {
        return None;
    }
    let dir = std::env::var_os("KEYSTEAD_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("keystead-data"));
    let token = Zeroizing::new(std::fs::read_to_string(dir.join(crate::config::ROOT_TOKEN_FILE)).ok()?);
    Some(Zeroizing::new(token.trim().to_owned()))
}

impl Client {
    /// A client for `addr`, authenticating with `token`, else a client certificate, else (on
    /// loopback) the development root token.
    pub fn new(addr: &str, token: Option<Zeroizing<String>>, tls: &TlsOptions) -> Result<Self> {
        // reqwest builds a TLS context even for http URLs; it must come from aws-lc-rs too.
        let _already_installed = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut builder = reqwest::blocking::Client::builder().timeout(Duration::from_secs(300));
        if addr.starts_with("https://") {
            builder = builder.use_preconfigured_tls(tls_config(tls)?);
        } else if tls.client_cert.is_some() {
            bail!("a client certificate needs an https address");
        }
        let http = builder.build().context("cannot build the HTTP client")?;
        let token = token.filter(|t| !t.is_empty());
        let token = if token.is_none() && tls.client_cert.is_none() { dev_token(addr) } else { token };
        let client_certificate = tls.client_cert.is_some();
        Ok(Self { http, base: addr.trim_end_matches('/').to_owned(), token, client_certificate })
    }

    /// Whether a token or a client certificate is at hand.
    pub fn has_credentials(&self) -> bool {
        self.token.is_some() || self.client_certificate
    }

    /// GET a path and decode the answer as `T` (for answers whose exact bytes matter, such
    /// as embedded raw JSON, which a generic [`Value`] would reorder).
    pub fn get_as<T: serde::de::DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        let body = self.send_raw(self.http.get(format!("{}{path}", self.base)).query(query))?;
        serde_json::from_slice(&body).context("the server sent an answer this client cannot read")
    }

    /// POST a typed body and decode the answer as `T`.
    pub fn post_as<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let bytes = self.send_raw(self.http.post(format!("{}{path}", self.base)).json(body))?;
        serde_json::from_slice(&bytes).context("the server sent an answer this client cannot read")
    }

    /// PUT a typed body and decode the answer as `T`.
    pub fn put_as<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let bytes = self.send_raw(self.http.put(format!("{}{path}", self.base)).json(body))?;
        serde_json::from_slice(&bytes).context("the server sent an answer this client cannot read")
    }

    /// DELETE a path and decode the answer as `T`.
    pub fn delete_as<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        let bytes = self.send_raw(self.http.delete(format!("{}{path}", self.base)))?;
        serde_json::from_slice(&bytes).context("the server sent an answer this client cannot read")
    }

    /// GET a path with a typed query and decode the answer as `T`.
    pub fn get_query_as<Q: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<T> {
        let bytes = self.send_raw(self.http.get(format!("{}{path}", self.base)).query(query))?;
        serde_json::from_slice(&bytes).context("the server sent an answer this client cannot read")
    }

    /// PATCH a typed body and decode the answer as `T`.
    pub fn patch_as<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let bytes = self.send_raw(self.http.patch(format!("{}{path}", self.base)).json(body))?;
        serde_json::from_slice(&bytes).context("the server sent an answer this client cannot read")
    }

    /// GET a path with a typed query and return the answer's bytes as sent (a rendered report).
    pub fn get_raw_query<Q: serde::Serialize>(&self, path: &str, query: &Q) -> Result<Zeroizing<Vec<u8>>> {
        self.send_raw(self.http.get(format!("{}{path}", self.base)).query(query))
    }

    /// POST a body for a long operation (a restore or a drill of a large bundle): up to 6
    /// hours instead of the usual 5 minutes.
    pub fn post_long<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let bytes =
            self.send_raw(self.http.post(format!("{}{path}", self.base)).json(body).timeout(LONG_OPERATION))?;
        serde_json::from_slice(&bytes).context("the server sent an answer this client cannot read")
    }

    /// POST a JSON body and hand back the successful response unread, to be read as a stream
    /// (a backup's lines as the server writes them).
    pub fn post_stream<B: serde::Serialize>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<reqwest::blocking::Response> {
        let request = self.http.post(format!("{}{path}", self.base)).json(body).timeout(LONG_OPERATION);
        let request = match &self.token {
            Some(token) => request.bearer_auth(token.as_str()),
            None => request,
        };
        let response =
            request.send().map_err(|err| anyhow!(Unreachable(self.base.clone(), root_cause(&err))))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let bytes = response.bytes().unwrap_or_default();
        Err(api_failure(status, &bytes))
    }

    /// Sends a request; the successful answer's bytes, zeroized when dropped (they may hold a
    /// plaintext, a token, a share or a webhook secret).
    fn send_raw(&self, request: reqwest::blocking::RequestBuilder) -> Result<Zeroizing<Vec<u8>>> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token.as_str()),
            None => request,
        };
        let response =
            request.send().map_err(|err| anyhow!(Unreachable(self.base.clone(), root_cause(&err))))?;
        let status = response.status();
        let bytes =
            response.bytes().map_err(|err| anyhow!(Unreachable(self.base.clone(), root_cause(&err))))?;
        if status.is_success() {
            return Ok(Zeroizing::new(bytes.to_vec()));
        }
        Err(api_failure(status, &bytes))
    }
}

/// Percent-encodes a path segment (names are restricted, but typos and aliases' `/` must stay
/// in their segment).
pub fn seg(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `?tenant=T` for a path, or nothing.
pub fn tenant_suffix(tenant: &Option<String>) -> String {
    tenant.as_ref().map(|t| format!("?tenant={}", seg(t))).unwrap_or_default()
}

/// How long a backup, restore or drill may take.
const LONG_OPERATION: Duration = Duration::from_secs(6 * 3600);

/// The server's error body as an [`ApiFailure`] (also an `{"error": ...}` line of a stream).
pub fn api_failure(status: reqwest::StatusCode, bytes: &[u8]) -> anyhow::Error {
    if let Ok(body) = serde_json::from_slice::<ErrorBody>(bytes) {
        return anyhow!(ApiFailure {
            code: Some(body.error.code),
            code_text: body.error.code.as_str().to_owned(),
            message: body.error.message,
            request_id: body.error.request_id,
        });
    }
    // A code this client does not know, or no error body at all (a proxy's page).
    let body: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let error = &body["error"];
    anyhow!(ApiFailure {
        code: None,
        code_text: error["code"].as_str().unwrap_or("unknown").to_owned(),
        message: error["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("the server answered {status}")),
        request_id: error["request_id"].as_str().map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exit codes scripts rely on (docs/api.md); every code maps to a failure status.
    #[test]
    fn every_error_code_has_a_failure_exit_code() {
        for code in ErrorCode::ALL {
            let exit = exit_code_of(code);
            assert!((1..=9).contains(&exit) && exit != exit::UNREACHABLE, "{code}: {exit}");
        }
        assert_eq!(exit_code_of(ErrorCode::PurposeViolation), exit::DENIED);
        assert_eq!(exit_code_of(ErrorCode::NotFound), exit::NOT_FOUND);
        assert_eq!(exit_code_of(ErrorCode::Sealed), exit::SEALED);
        assert_eq!(exit_code_of(ErrorCode::DecryptionFailed), exit::FAILURE);
    }

    #[test]
    fn an_unknown_code_is_a_plain_failure_with_its_text_kept() {
        let body = br#"{"error":{"code":"brand_new","message":"m","request_id":"req_1"}}"#;
        let err = api_failure(reqwest::StatusCode::BAD_REQUEST, body);
        let failure = err.downcast_ref::<ApiFailure>().expect("an api failure");
        assert_eq!(failure.exit_code(), exit::FAILURE);
        assert_eq!(failure.code_text, "brand_new");
        assert!(failure.to_string().contains("req_1"), "{failure}");
    }
}
