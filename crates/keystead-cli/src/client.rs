//! The REST client behind every subcommand but `server`.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde_json::Value;

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
}

/// An error reported by the server, with its stable code.
#[derive(Debug)]
pub struct ApiFailure {
    /// The `code` field.
    pub code: String,
    /// The `message` field.
    pub message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ApiFailure {}

impl ApiFailure {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self.code.as_str() {
            "unauthenticated" => exit::UNAUTHENTICATED,
            "not_found" => exit::NOT_FOUND,
            "purpose_violation" | "invalid_state" | "policy_violation" | "permission_denied"
            | "integrity_failure" => exit::DENIED,
            "sealed" | "not_initialized" => exit::SEALED,
            _ => exit::FAILURE,
        }
    }
}

/// The server could not be reached.
#[derive(Debug)]
pub struct Unreachable(pub String);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot reach Keystead at {}; is `keystead server --dev` running there? (set --addr or KEYSTEAD_ADDR)", self.0)
    }
}

impl std::error::Error for Unreachable {}

/// A client of one server.
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    token: Option<String>,
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
fn dev_token(addr: &str) -> Option<String> {
    if !is_loopback(addr) {
        return None;
    }
    let dir = std::env::var_os("KEYSTEAD_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("keystead-data"));
    let token = std::fs::read_to_string(dir.join(crate::server::ROOT_TOKEN_FILE)).ok()?;
    Some(token.trim().to_owned())
}

impl Client {
    /// A client for `addr`, authenticating with `token` or the development root token.
    pub fn new(addr: &str, token: Option<String>) -> Result<Self> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .context("cannot build the HTTP client")?;
        let token = token.filter(|t| !t.is_empty()).or_else(|| dev_token(addr));
        Ok(Self { http, base: addr.trim_end_matches('/').to_owned(), token })
    }

    /// Whether a token is at hand.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// GET a path with query pairs.
    pub fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.base)).query(query))
    }

    /// POST a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
    }

    fn send(&self, request: reqwest::blocking::RequestBuilder) -> Result<Value> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().map_err(|_| anyhow!(Unreachable(self.base.clone())))?;
        let status = response.status();
        let body: Value = response.json().unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let error = &body["error"];
        Err(anyhow!(ApiFailure {
            code: error["code"].as_str().unwrap_or("internal").to_owned(),
            message: error["message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("the server answered {status}")),
        }))
    }
}
