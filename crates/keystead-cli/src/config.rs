//! `keystead server --config FILE`: the production configuration, in TOML.
//!
//! Unknown keys are errors (a misspelt `client_ca` must not silently turn mTLS off). Relative
//! paths are relative to the configuration file's directory. Parse errors name the line and
//! column but never quote the file, which may hold a database password.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// File name of the development root token in the data directory (written by `server
/// --dev`, read by a loopback client that was given no token).
pub const ROOT_TOKEN_FILE: &str = "dev-root-token";

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on, e.g. `0.0.0.0:8745`.
    pub listen: SocketAddr,
    /// The one environment this server serves.
    pub environment: String,
    /// This node's name (default: the host name).
    pub node: Option<String>,
    /// Where keys live.
    pub storage: StorageConfig,
    /// How the root key is protected.
    #[serde(default)]
    pub seal: SealConfig,
    /// TLS; required unless the server listens on loopback only.
    pub tls: Option<TlsConfig>,
    /// The scheduler.
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    /// Approval, destruction, exception and notification policies.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Signed audit checkpoints.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Anomaly rules over the audit stream.
    #[serde(default)]
    pub anomaly: AnomalyConfig,
    /// Failed-authentication limits.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The AWS KMS endpoint (`POST /`), off unless enabled.
    #[serde(default)]
    pub aws: AwsSection,
    /// The server's log lines.
    #[serde(default)]
    pub log: LogConfig,
}

/// `[log]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (default) or `json`.
    #[serde(default)]
    pub format: LogFormat,
}

/// How the server writes its log lines (on stderr).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event; colours only when stderr is a terminal.
    #[default]
    Text,
    /// One JSON object per line, with the request id of the request being served.
    Json,
}

/// `[anomaly]`: each rule on or off, with its thresholds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalyConfig {
    /// Requests for an operation the key's purpose does not allow (default on).
    pub purpose_violation: Option<bool>,
    /// Any use of a compromised key (default on).
    pub compromised_key_use: Option<bool>,
    /// Compromise or destruction by a principal who never managed the key (default on).
    pub unfamiliar_destroyer: Option<bool>,
    /// Use of a version past its cryptoperiod (default on).
    pub past_cryptoperiod_use: Option<bool>,
    /// Denied requests from one principal: `count` within `window` (default 10 in 60s);
    /// `count = 0` turns the rule off.
    pub denial_burst: Option<DenialBurstConfig>,
    /// Lifecycle changes outside this window are anomalies, e.g. "mon-fri 08:00-18:00" (UTC).
    pub change_window: Option<String>,
}

/// `[anomaly.denial_burst]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenialBurstConfig {
    /// Denials that make a burst (0: rule off).
    pub count: usize,
    /// Within this long, e.g. `60s`.
    pub window: String,
}

impl AnomalyConfig {
    /// Applies the rules to the service's settings.
    pub fn apply(&self, config: &mut keystead_service::Config) -> Result<()> {
        let rules = &mut config.anomaly_rules;
        for (value, target) in [
            (self.purpose_violation, &mut rules.purpose_violation),
            (self.compromised_key_use, &mut rules.compromised_key_use),
            (self.unfamiliar_destroyer, &mut rules.unfamiliar_destroyer),
            (self.past_cryptoperiod_use, &mut rules.past_cryptoperiod_use),
        ] {
            if let Some(on) = value {
                *target = on;
            }
        }
        if let Some(burst) = &self.denial_burst {
            let window = keystead_core::key::parse_duration_seconds(&burst.window)
                .context("anomaly.denial_burst.window")?;
            if !(1..=86_400).contains(&window) {
                bail!("anomaly.denial_burst.window must be between 1s and 1d");
            }
            rules.denial_burst = (burst.count > 0).then_some((burst.count, window));
        }
        if let Some(text) = &self.change_window {
            rules.change_window = Some(text.parse().map_err(|why: String| anyhow::anyhow!(why))?);
        }
        Ok(())
    }
}

/// `[audit]`: when each node signs a checkpoint over its audit chain.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Sign after this many events (default 1000).
    pub checkpoint_events: Option<i64>,
    /// Sign at least this often, e.g. `5m` (default 5m).
    pub checkpoint_interval: Option<String>,
    /// Keep events in the store this many days: `audit archive` without `--before` archives
    /// older ones, and `audit verify` warns while older ones remain (default: keep all).
    pub retain_days: Option<i64>,
}

impl AuditConfig {
    /// Applies the checkpoint settings to the service's settings.
    pub fn apply(&self, config: &mut keystead_service::Config) -> Result<()> {
        if let Some(events) = self.checkpoint_events {
            if !(1..=1_000_000).contains(&events) {
                bail!("audit.checkpoint_events must be between 1 and 1000000");
            }
            config.checkpoint_events = events;
        }
        if let Some(text) = &self.checkpoint_interval {
            let seconds =
                keystead_core::key::parse_duration_seconds(text).context("audit.checkpoint_interval")?;
            if !(1..=86_400).contains(&seconds) {
                bail!("audit.checkpoint_interval must be between 1s and 1d");
            }
            config.checkpoint_interval_seconds = seconds;
        }
        if let Some(days) = self.retain_days {
            if !(1..=36_500).contains(&days) {
                bail!("audit.retain_days must be between 1 and 36500");
            }
            config.audit_retain_days = Some(days);
        }
        Ok(())
    }
}

/// `[aws]`: the AWS KMS endpoint on the same listener (issue 16). Off by default in
/// production: a second authentication scheme is a choice, not a surprise.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSection {
    /// Serve the AWS KMS API at `POST /` (default false; `server --dev` turns it on).
    pub enabled: Option<bool>,
    /// The region clients sign for and ARNs name (default `us-east-1`).
    pub region: Option<String>,
    /// The 12-digit account id in ARNs (default `000000000000`).
    pub account_id: Option<String>,
}

impl AwsSection {
    /// The endpoint's settings when it is enabled (`dev`: on unless `enabled = false`).
    pub fn endpoint(&self, dev: bool) -> Result<Option<keystead_aws::AwsConfig>> {
        if !self.enabled.unwrap_or(dev) {
            return Ok(None);
        }
        let defaults = keystead_aws::AwsConfig::default();
        let region = self.region.clone().unwrap_or(defaults.region);
        let valid_region = !region.is_empty()
            && region.len() <= 32
            && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_region {
            bail!("aws.region must be a region name such as us-east-1");
        }
        let account_id = self.account_id.clone().unwrap_or(defaults.account_id);
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            bail!("aws.account_id must be 12 digits");
        }
        Ok(Some(keystead_aws::AwsConfig { region, account_id }))
    }
}

/// `[auth]`: how failed authentication is rate-limited and summarized in the audit log.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Refuse a source that keeps failing with 429 (default true).
    pub rate_limit: Option<bool>,
    /// Failures within `failure_window` that get a source refused (default 20).
    pub max_failures: Option<u32>,
    /// The window failures are counted in, e.g. `1m` (default 1m).
    pub failure_window: Option<String>,
    /// How long a source is refused, e.g. `1m` (default 1m).
    pub block: Option<String>,
    /// How often the aggregated counts are written to the audit log, e.g. `10s` (default 10s).
    pub summary_interval: Option<String>,
}

impl AuthConfig {
    /// Applies the settings to the service's settings.
    pub fn apply(&self, config: &mut keystead_service::Config) -> Result<()> {
        let policy = &mut config.auth_failures;
        let seconds = |name: &str, text: &Option<String>, max: i64, current: i64| -> Result<i64> {
            let Some(text) = text else { return Ok(current) };
            let seconds =
                keystead_core::key::parse_duration_seconds(text).with_context(|| format!("auth.{name}"))?;
            if !(1..=max).contains(&seconds) {
                bail!("auth.{name} must be between 1s and {max}s");
            }
            Ok(seconds)
        };
        policy.window_seconds =
            seconds("failure_window", &self.failure_window, 86_400, policy.window_seconds)?;
        policy.block_seconds = seconds("block", &self.block, 86_400, policy.block_seconds)?;
        policy.summary_seconds =
            seconds("summary_interval", &self.summary_interval, 3_600, policy.summary_seconds)?;
        if let Some(max) = self.max_failures {
            if !(1..=1_000_000).contains(&max) {
                bail!("auth.max_failures must be between 1 and 1000000");
            }
            policy.max_failures = Some(max);
        }
        if self.rate_limit == Some(false) {
            policy.max_failures = None;
        }
        Ok(())
    }
}

/// `[scheduler]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// How often due work runs (approval expiry, exception windows, destruction, rotation,
    /// originator-usage periods), in milliseconds.
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self { interval_ms: default_interval_ms() }
    }
}

fn default_interval_ms() -> u64 {
    5_000
}

/// `[policy]`: durations as `90d`, `12h`, `30m`, `10s`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// How long an approval request stays open (default 24h).
    pub approval_ttl: Option<String>,
    /// The shortest wait between an approved destruction and its run (default 7d in
    /// production, 1d in staging, 1s elsewhere).
    pub minimum_destroy_wait: Option<String>,
    /// The longest compromised-key exception window (default 24h).
    pub maximum_exception: Option<String>,
    /// How long an undelivered webhook notification is retried (default 24h).
    pub webhook_retry_for: Option<String>,
    /// How often each key's owner must review it (default 180d).
    pub review_interval: Option<String>,
    /// How recent a passed recovery drill must be to count as evidence (default 90d).
    pub drill_interval: Option<String>,
    /// Principals who may restore a backup without an approved request in an emergency
    /// (default none); each such restore raises an anomaly and opens a mandatory review.
    #[serde(default)]
    pub break_glass_principals: Vec<String>,
    /// Approvals per operation (`destroy-key`, `compromised-key-exception`, `restore-backup`,
    /// `break-glass-review`): role = count.
    #[serde(default)]
    pub approvals: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u32>>,
}

impl PolicyConfig {
    /// Applies the policies to the service's settings.
    pub fn apply(&self, config: &mut keystead_service::Config) -> Result<()> {
        use keystead_core::key::parse_duration_seconds;
        let seconds = |name: &str, value: &Option<String>, target: &mut i64| -> Result<()> {
            if let Some(text) = value {
                *target = parse_duration_seconds(text).with_context(|| format!("policy.{name}"))?;
            }
            Ok(())
        };
        seconds("approval_ttl", &self.approval_ttl, &mut config.approval_ttl_seconds)?;
        seconds(
            "minimum_destroy_wait",
            &self.minimum_destroy_wait,
            &mut config.minimum_destroy_wait_seconds,
        )?;
        seconds("maximum_exception", &self.maximum_exception, &mut config.maximum_exception_seconds)?;
        seconds("webhook_retry_for", &self.webhook_retry_for, &mut config.webhook_retry_seconds)?;
        seconds("review_interval", &self.review_interval, &mut config.review_interval_seconds)?;
        seconds("drill_interval", &self.drill_interval, &mut config.drill_interval_seconds)?;
        for name in &self.break_glass_principals {
            keystead_core::PrincipalName::new(name).with_context(|| "policy.break_glass_principals")?;
        }
        config.break_glass_principals = self.break_glass_principals.clone();
        for (operation, roles) in &self.approvals {
            let operation: keystead_core::approval::ApprovalOperation =
                operation.parse().with_context(|| "policy.approvals")?;
            let mut required = std::collections::BTreeMap::new();
            for (role, count) in roles {
                let role: keystead_core::Role =
                    role.parse().with_context(|| format!("policy.approvals.{operation}"))?;
                required.insert(role, *count);
            }
            let policy = keystead_core::approval::ApprovalPolicy { required };
            policy.validate().with_context(|| format!("policy.approvals.{operation}"))?;
            config.approval_policies.insert(operation, policy);
        }
        Ok(())
    }
}

/// `[storage]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `sqlite://PATH` or `postgres://USER@HOST:PORT/DATABASE`.
    pub url: String,
    /// How often a node re-reads the change feed when no notification arrived, in
    /// milliseconds: the bound on how stale its caches can be if a notification is lost.
    #[serde(default = "default_recheck_ms")]
    pub recheck_ms: u64,
}

fn default_recheck_ms() -> u64 {
    2_000
}

/// `[seal]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealConfig {
    /// The seal provider.
    #[serde(default)]
    pub kind: SealKind,
    /// pkcs11: the PKCS#11 module, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: Option<PathBuf>,
    /// pkcs11: the label of the token holding the wrapping key.
    pub token_label: Option<String>,
    /// pkcs11: the label of the wrapping key (default `keystead-root-wrap`; made in the token
    /// at `operator init` if absent).
    pub key_label: Option<String>,
    /// pkcs11: the environment variable holding the user PIN (default `KEYSTEAD_PKCS11_PIN`);
    /// the PIN itself never goes in this file.
    pub pin_env: Option<String>,
}

impl SealConfig {
    /// The service's seal setup; for pkcs11, reads the PIN from its environment variable.
    pub fn setup(&self) -> Result<keystead_service::SealSetup> {
        match self.kind {
            SealKind::Shamir => {
                if self.module.is_some()
                    || self.token_label.is_some()
                    || self.key_label.is_some()
                    || self.pin_env.is_some()
                {
                    bail!("seal: module, token_label, key_label and pin_env belong to kind = \"pkcs11\"");
                }
                Ok(keystead_service::SealSetup::Shamir)
            }
            SealKind::Pkcs11 => {
                let module =
                    self.module.clone().context("seal.module: the PKCS#11 module's path is required")?;
                let token_label =
                    self.token_label.clone().context("seal.token_label: the token's label is required")?;
                let pin_env = self.pin_env.clone().unwrap_or_else(|| "KEYSTEAD_PKCS11_PIN".into());
                let pin = std::env::var(&pin_env).map(zeroize::Zeroizing::new).with_context(|| {
                    format!("seal: set the token's user PIN in the environment variable {pin_env}")
                })?;
                Ok(keystead_service::SealSetup::Pkcs11(keystead_service::hsm::Pkcs11Settings {
                    module,
                    token_label,
                    key_label: self.key_label.clone().unwrap_or_else(|| "keystead-root-wrap".into()),
                    pin,
                }))
            }
        }
    }
}

/// Seal providers available to `--config` (the `file` seal is `--dev` only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SealKind {
    /// M-of-N unseal shares entered by operators.
    #[default]
    Shamir,
    /// The root key wrapped by a key in a PKCS#11 token (HSM); unsealed at start.
    Pkcs11,
}

/// `[tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
    /// PEM CA certificates that sign client certificates. When set, a client may authenticate
    /// with a certificate instead of a token: its subject CN names the principal.
    pub client_ca: Option<PathBuf>,
}

/// Where a SQLite store lives, or the PostgreSQL URL.
#[derive(Debug)]
pub enum Storage {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (may hold a password: never printed).
    Postgres(String),
}

impl ServerConfig {
    /// Reads and checks the file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        let mut config: ServerConfig = toml::from_str(&text).map_err(|err| {
            let at = err.span().map(|span| line_and_column(&text, span.start));
            let at = at.map(|(line, column)| format!(" at line {line}, column {column}")).unwrap_or_default();
            anyhow::anyhow!(
                "invalid configuration file {}{at}: {}",
                path.display(),
                redact_quoted(err.message())
            )
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if let Some(tls) = &mut config.tls {
            tls.cert = base.join(&tls.cert);
            tls.key = base.join(&tls.key);
            tls.client_ca = tls.client_ca.as_ref().map(|ca| base.join(ca));
        }
        if config.tls.is_none() && !config.listen.ip().is_loopback() {
            bail!(
                "{}: listening on {} without TLS would expose tokens and key material; add a [tls] section with cert and key",
                path.display(),
                config.listen
            );
        }
        if !(100..=600_000).contains(&config.scheduler.interval_ms) {
            bail!("{}: scheduler.interval_ms must be between 100 and 600000", path.display());
        }
        if !(50..=600_000).contains(&config.storage.recheck_ms) {
            bail!("{}: storage.recheck_ms must be between 50 and 600000", path.display());
        }
        config.storage.url = match config.storage() {
            Ok(Storage::Sqlite(file)) => format!("sqlite://{}", base.join(file).display()),
            Ok(Storage::Postgres(url)) => url,
            Err(err) => bail!("{}: {err}", path.display()),
        };
        Ok(config)
    }

    /// The storage the URL names.
    pub fn storage(&self) -> Result<Storage> {
        let url = self.storage.url.trim();
        if let Some(file) = url.strip_prefix("sqlite://") {
            if file.is_empty() || file.contains('?') {
                bail!("storage.url: give a file path after sqlite://, without options");
            }
            Ok(Storage::Sqlite(PathBuf::from(file)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Storage::Postgres(url.to_owned()))
        } else {
            bail!("storage.url must start with sqlite:// or postgres://")
        }
    }
}

/// Replaces every double-quoted value in a parser message with `"…"`: serde quotes the value
/// it could not use (`invalid type: string "postgres://user:password@…"`), and a value may be
/// a password. Names in backticks (fields, variants) stay.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for c in message.chars() {
        if c == '"' {
            if inside {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
    use super::*;

    fn load(text: &str) -> Result<ServerConfig> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keystead.toml");
        std::fs::write(&path, text).unwrap();
        ServerConfig::load(&path)
    }

    #[test]
    fn a_full_file_loads_with_paths_relative_to_it() {
        let config = load(
            "listen = \"0.0.0.0:8745\"\nenvironment = \"production\"\nnode = \"a\"\n\
             [storage]\nurl = \"sqlite://data/keystead.db\"\n[seal]\nkind = \"shamir\"\n\
             [tls]\ncert = \"server.pem\"\nkey = \"/abs/server.key\"\nclient_ca = \"ca.pem\"\n",
        )
        .unwrap();
        let tls = config.tls.as_ref().unwrap();
        assert!(tls.cert.is_absolute() && tls.cert.ends_with("server.pem"));
        assert_eq!(tls.key, PathBuf::from("/abs/server.key"));
        assert!(
            matches!(config.storage().unwrap(), Storage::Sqlite(p) if p.is_absolute() && p.ends_with("data/keystead.db"))
        );
    }

    #[test]
    fn anomaly_rules_apply_and_bad_ones_are_refused() {
        let base =
            "listen = \"127.0.0.1:1\"\nenvironment = \"production\"\n[storage]\nurl = \"sqlite://k.db\"\n";
        let node = keystead_core::NodeName::new("a").unwrap();
        let mut settings = keystead_service::Config::new(node, keystead_core::Environment::Production);
        let config = load(&format!(
            "{base}[anomaly]\npurpose_violation = false\nchange_window = \"mon-fri 08:00-18:00\"\n\
             [anomaly.denial_burst]\ncount = 5\nwindow = \"30s\"\n"
        ))
        .unwrap();
        config.anomaly.apply(&mut settings).unwrap();
        let rules = &settings.anomaly_rules;
        assert!(!rules.purpose_violation && rules.compromised_key_use);
        assert_eq!(rules.denial_burst, Some((5, 30)));
        assert!(rules.change_window.is_some());
        let off = load(&format!("{base}[anomaly.denial_burst]\ncount = 0\nwindow = \"1m\"\n")).unwrap();
        off.anomaly.apply(&mut settings).unwrap();
        assert_eq!(settings.anomaly_rules.denial_burst, None);
        for bad in ["change_window = \"weekdays\"", "[anomaly.denial_burst]\ncount = 3\nwindow = \"2d\""] {
            let text = if bad.starts_with('[') {
                format!("{base}{bad}\n")
            } else {
                format!("{base}[anomaly]\n{bad}\n")
            };
            assert!(load(&text).unwrap().anomaly.apply(&mut settings).is_err(), "{bad}");
        }
    }

    #[test]
    fn checkpoint_settings_apply_and_bad_ones_are_refused() {
        let base =
            "listen = \"127.0.0.1:1\"\nenvironment = \"production\"\n[storage]\nurl = \"sqlite://k.db\"\n";
        let node = keystead_core::NodeName::new("a").unwrap();
        let mut settings = keystead_service::Config::new(node, keystead_core::Environment::Production);
        assert_eq!((settings.checkpoint_events, settings.checkpoint_interval_seconds), (1_000, 300));
        let config =
            load(&format!("{base}[audit]\ncheckpoint_events = 50\ncheckpoint_interval = \"30s\"\n")).unwrap();
        config.audit.apply(&mut settings).unwrap();
        assert_eq!((settings.checkpoint_events, settings.checkpoint_interval_seconds), (50, 30));
        for bad in ["checkpoint_events = 0", "checkpoint_interval = \"2d\"", "checkpoint_interval = \"soon\""]
        {
            let config = load(&format!("{base}[audit]\n{bad}\n")).unwrap();
            assert!(config.audit.apply(&mut settings).is_err(), "{bad}");
        }
        assert!(load(&format!("{base}[audit]\nsign_every = 3\n")).is_err(), "unknown keys are refused");
    }

    #[test]
    fn policies_apply_over_the_defaults_and_bad_ones_are_refused() {
        let base =
            "listen = \"127.0.0.1:1\"\nenvironment = \"production\"\n[storage]\nurl = \"sqlite://k.db\"\n";
        let config = load(&format!(
            "{base}[scheduler]\ninterval_ms = 250\n[policy]\nminimum_destroy_wait = \"2d\"\napproval_ttl = \"4h\"\n\
             [policy.approvals.destroy-key]\nkey-custodian = 3\n"
        ))
        .unwrap();
        assert_eq!(config.scheduler.interval_ms, 250);
        let node = keystead_core::NodeName::new("a").unwrap();
        let mut settings = keystead_service::Config::new(node, keystead_core::Environment::Production);
        assert_eq!(settings.minimum_destroy_wait_seconds, 7 * 86_400, "production default");
        config.policy.apply(&mut settings).unwrap();
        assert_eq!(
            (settings.minimum_destroy_wait_seconds, settings.approval_ttl_seconds),
            (2 * 86_400, 4 * 3_600)
        );
        let destroy = settings.approval_policy(keystead_core::approval::ApprovalOperation::DestroyKey);
        assert_eq!(destroy.required, [(keystead_core::Role::KeyCustodian, 3)].into());
        let exception =
            settings.approval_policy(keystead_core::approval::ApprovalOperation::CompromisedKeyException);
        assert_eq!(exception.required.values().sum::<u32>(), 2, "untouched policies keep their default");

        for (bad, needle) in [
            ("[policy.approvals.destroy-key]\nkey-custodian = 0\n", "approval policy"),
            ("[policy.approvals.destroy-key]\nwizard = 1\n", "wizard"),
            ("[policy.approvals.shred]\nadmin = 1\n", "shred"),
            ("[policy]\napproval_ttl = \"soon\"\n", "approval_ttl"),
        ] {
            let config = load(&format!("{base}{bad}")).unwrap();
            let node = keystead_core::NodeName::new("a").unwrap();
            let mut settings = keystead_service::Config::new(node, keystead_core::Environment::Production);
            let err = config.policy.apply(&mut settings).unwrap_err();
            assert!(format!("{err:#}").contains(needle), "{err:#}");
        }
        assert!(load(&format!("{base}[scheduler]\ninterval_ms = 5\n")).is_err());
    }

    #[test]
    fn bad_files_are_clear_errors_that_quote_nothing() {
        let garbage =
            load("listen = \"127.0.0.1:1\"\n[storage\nurl = \"postgres://u:SECRETPW@h/db\"\n").unwrap_err();
        let shown = format!("{garbage:#}");
        assert!(shown.contains("line 2"), "{shown}");
        assert!(!shown.contains("SECRETPW"), "{shown}");
        let unknown = load(
            "listen = \"127.0.0.1:1\"\nenvironment = \"test\"\n[storage]\nurl = \"sqlite://k.db\"\n\
             [tls]\ncert = \"a\"\nkey = \"b\"\nclient_cert_ca = \"c\"\n",
        )
        .unwrap_err();
        assert!(format!("{unknown:#}").contains("client_cert_ca"), "{unknown:#}");
        let plaintext =
            load("listen = \"0.0.0.0:1\"\nenvironment = \"test\"\n[storage]\nurl = \"sqlite://k.db\"\n")
                .unwrap_err();
        assert!(format!("{plaintext:#}").contains("without TLS"), "{plaintext:#}");
        let storage =
            load("listen = \"127.0.0.1:1\"\nenvironment = \"test\"\n[storage]\nurl = \"mysql://x\"\n")
                .unwrap_err();
        assert!(format!("{storage:#}").contains("sqlite:// or postgres://"), "{storage:#}");
        let seal = load(
            "listen = \"127.0.0.1:1\"\nenvironment = \"test\"\n[storage]\nurl = \"sqlite://k.db\"\n[seal]\nkind = \"file\"\n",
        )
        .unwrap_err();
        assert!(format!("{seal:#}").contains("file"), "{seal:#}");
        let misplaced = load(
            "listen = \"127.0.0.1:1\"\nenvironment = \"test\"\nstorage = \"postgres://u:SECRETPW@h/db\"\n",
        )
        .unwrap_err();
        let shown = format!("{misplaced:#}");
        assert!(shown.contains("line 3") && !shown.contains("SECRETPW"), "{shown}");
        let missing = ServerConfig::load(Path::new("/nonexistent/keystead.toml")).unwrap_err();
        assert!(format!("{missing:#}").contains("cannot read the configuration file"), "{missing:#}");
    }
}
