//! The command line, per `shared/INTERFACE.md`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Keystead: a key management service that enforces key generation, purpose, inventory,
/// compromise and recovery controls by construction.
#[derive(Debug, Parser)]
#[command(name = "keystead", version, about)]
pub struct Cli {
    /// Server address.
    #[arg(long, global = true, env = "KEYSTEAD_ADDR", default_value = "http://127.0.0.1:8745")]
    pub addr: String,
    /// Bearer token. Without one, a loopback client uses `<data-dir>/dev-root-token` of a
    /// development server (KEYSTEAD_DATA_DIR, default ./keystead-data) if it exists.
    #[arg(long, global = true, env = "KEYSTEAD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM CA certificate(s) that signed the server's certificate; needed for an https address.
    #[arg(long, global = true, env = "KEYSTEAD_CACERT", value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    /// PEM client certificate for mTLS: its subject CN names the principal (instead of a token).
    #[arg(long, global = true, env = "KEYSTEAD_CLIENT_CERT", value_name = "PEM", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[arg(long, global = true, env = "KEYSTEAD_CLIENT_KEY", value_name = "PEM", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable.
    Table,
    /// One JSON document on stdout.
    Json,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Server(ServerArgs),
    /// Manage keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Encrypt data (stdin by default) under a key's primary version.
    Encrypt {
        /// Key name or id.
        key: String,
        /// Encryption context pairs bound as associated data.
        #[arg(long = "context", value_name = "K=V")]
        context: Vec<String>,
        /// Read the plaintext from FILE instead of stdin.
        #[arg(long = "in", value_name = "FILE")]
        input: Option<PathBuf>,
        /// Tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Decrypt a ks1 ciphertext (stdin by default); writes the plaintext to stdout.
    Decrypt {
        #[command(flatten)]
        justify: JustifyArgs,
        /// The context given at encryption.
        #[arg(long = "context", value_name = "K=V")]
        context: Vec<String>,
        /// Read the ciphertext from FILE instead of stdin.
        #[arg(long = "in", value_name = "FILE")]
        input: Option<PathBuf>,
    },
    /// Sign data (stdin by default) with a sign key.
    Sign(MessageArgs),
    /// Verify a signature; exits 6 when it does not verify.
    Verify {
        #[command(flatten)]
        message: MessageArgs,
        #[command(flatten)]
        justify: JustifyArgs,
        /// The ks1 signature.
        #[arg(long)]
        signature: String,
    },
    /// Compute an HMAC tag with a mac key.
    Mac(MessageArgs),
    /// Verify an HMAC tag; exits 6 when it does not match.
    MacVerify {
        #[command(flatten)]
        message: MessageArgs,
        #[command(flatten)]
        justify: JustifyArgs,
        /// The ks1 tag.
        #[arg(long)]
        mac: String,
    },
    /// Wrap key material (RFC 3394 AES key wrap) with a wrap key.
    Wrap {
        /// Key name or id.
        key: String,
        /// File holding the raw key material (16 to 4096 bytes, a multiple of 8).
        #[arg(long = "in", value_name = "FILE")]
        input: PathBuf,
        /// Tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Unwrap a ks1 wrapped key; writes the raw material to --out (mode 0600) or stdout.
    Unwrap {
        #[command(flatten)]
        justify: JustifyArgs,
        /// File holding the wrapped key (stdin by default).
        #[arg(long = "in", value_name = "FILE")]
        input: Option<PathBuf>,
        /// Write the material to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Generate a data key: its plaintext and its ciphertext under KEY.
    Datakey {
        /// Key name or id.
        key: String,
        /// Encryption context pairs.
        #[arg(long = "context", value_name = "K=V")]
        context: Vec<String>,
        /// Tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Read and verify the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Manage principals (admin).
    #[command(subcommand)]
    Principal(crate::cmd::principals::PrincipalCommand),
    /// Grant crypto operations on keys to crypto users (admin).
    #[command(subcommand)]
    Grant(crate::cmd::principals::GrantCommand),
    /// Initialize, unseal and seal the server; its status.
    #[command(subcommand)]
    Operator(OperatorCommand),
    /// Re-encrypt ciphertexts under their key's primary version; the plaintext never leaves
    /// the server. One ciphertext from --in or stdin, or a file of them with --file.
    Rewrap {
        /// The context given at encryption.
        #[arg(long = "context", value_name = "K=V")]
        context: Vec<String>,
        /// File holding one ciphertext (stdin by default).
        #[arg(long = "in", value_name = "FILE", conflicts_with = "file")]
        input: Option<PathBuf>,
        /// Bulk: a file with one ciphertext per line; shows progress on stderr.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Bulk: where the new ciphertexts go, line for line (must not exist; stdout by default).
        #[arg(long, value_name = "FILE", requires = "file")]
        out: Option<PathBuf>,
        /// Also rewrap data protected after a reported compromise (it may be the attacker's);
        /// without it such data is refused and, in bulk, kept unchanged.
        #[arg(long = "accept-suspect")]
        accept_suspect: bool,
        #[command(flatten)]
        justify: JustifyArgs,
    },
    /// Quorum approvals: list, show, approve, reject.
    #[command(subcommand)]
    Approval(ApprovalCommand),
    /// Time-boxed exceptions to protect with a compromised key.
    #[command(subcommand)]
    Exception(ExceptionCommand),
    /// Webhooks for key and approval events.
    #[command(subcommand)]
    Webhook(crate::cmd::webhooks::WebhookCommand),
    /// Aliases: other names for keys (alias/...), usable wherever a key name is.
    #[command(subcommand)]
    Alias(crate::cmd::aliases::AliasCommand),
    /// The key inventory: list with filters, owners' reviews.
    #[command(subcommand)]
    Inventory(crate::inventory::InventoryCommand),
    /// Compliance evidence for the five controls, from live data.
    #[command(subcommand)]
    Compliance(crate::compliance::ComplianceCommand),
    /// Key recovery: the risk assessment of each key's recovery policy, restore requests,
    /// recovery drills.
    #[command(subcommand)]
    Recovery(crate::recovery::RecoveryCommand),
    /// Backups of every recoverable key, split among recovery officers, and restores.
    #[command(subcommand)]
    Backup(crate::backup::BackupCommand),
}

/// Why a compromised key is used (incident responders must give both).
#[derive(Debug, Args)]
pub struct JustifyArgs {
    /// Why the compromised key must be used.
    #[arg(long)]
    pub justification: Option<String>,
    /// The systems whose data is processed, comma separated.
    #[arg(long = "affected-systems", value_delimiter = ',', value_name = "SYSTEM,...")]
    pub affected_systems: Vec<String>,
}

/// `keystead approval ...`.
#[derive(Debug, Subcommand)]
pub enum ApprovalCommand {
    /// Requests, newest first.
    List {
        /// Only this status: pending, approved, rejected, expired, closed.
        #[arg(long)]
        status: Option<String>,
    },
    /// One request with its votes.
    Show {
        /// The request id (apr_...).
        id: String,
    },
    /// Approve; the approval that completes the quorum runs the operation.
    Approve {
        /// The request id.
        id: String,
        /// An optional note.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reject (final).
    Reject {
        /// The request id.
        id: String,
        /// Why (required).
        #[arg(long, required = true)]
        reason: String,
    },
}

/// `keystead exception ...`.
#[derive(Debug, Subcommand)]
pub enum ExceptionCommand {
    /// Ask for a window to protect with a compromised version (needs a quorum's approval).
    Request {
        /// Key name or id.
        key: String,
        /// The protect operation: encrypt, datakey, sign, mac, wrap.
        #[arg(long)]
        operation: String,
        /// The window, e.g. 1h, counted from the approval.
        #[arg(long = "for", value_name = "DURATION")]
        duration: String,
        /// Why.
        #[arg(long, required = true)]
        justification: String,
        /// The compromised version (the newest compromised one by default).
        #[arg(long)]
        version: Option<u32>,
        /// How long the request stays open for approvals.
        #[arg(long = "expires-in", value_name = "DURATION")]
        expires_in: Option<String>,
        /// Tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// A message-taking operation.
#[derive(Debug, Args)]
pub struct MessageArgs {
    /// Key name or id.
    pub key: String,
    /// Read the message from FILE instead of stdin.
    #[arg(long = "in", value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Tenant.
    #[arg(long)]
    pub tenant: Option<String>,
}

/// `keystead server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Development mode: embedded SQLite, file seal, root token printed once.
    #[arg(long)]
    pub dev: bool,
    /// Production configuration file (TOML; see docs/operations.md). Listen address,
    /// environment and node name then come from the file.
    #[arg(long, conflicts_with_all = ["dev", "listen", "environment", "node"])]
    pub config: Option<PathBuf>,
    /// Where the store, the seal key and the dev root token live (`--dev` only).
    #[arg(long, env = "KEYSTEAD_DATA_DIR", default_value = "keystead-data")]
    pub data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8745")]
    pub listen: String,
    /// The environment this server serves.
    #[arg(long, default_value = "development")]
    pub environment: String,
    /// This node's name in audit events and provenance (default: the host name).
    #[arg(long)]
    pub node: Option<String>,
    /// Log line format on stderr (overrides `[log] format` of the configuration file).
    #[arg(long, value_enum, value_name = "text|json")]
    pub log_format: Option<crate::config::LogFormat>,
}

/// `keystead key ...`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create a key and its first version.
    Create(CreateArgs),
    /// Change a key's owner, labels, description, periods, recovery policy, criticality or
    /// classification. Purpose, algorithm and environment never change.
    Update(crate::cmd::keys::UpdateArgs),
    /// List keys.
    List {
        /// Only keys with a version in this state.
        #[arg(long)]
        state: Option<String>,
        /// Only keys of this purpose.
        #[arg(long)]
        purpose: Option<String>,
        /// Only keys of this owner.
        #[arg(long)]
        owner: Option<String>,
        /// Only keys with these labels.
        #[arg(long = "label", value_name = "K=V")]
        labels: Vec<String>,
        /// Tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Include compromised keys (left out unless --state compromised asks for them).
        #[arg(long)]
        all: bool,
    },
    /// Show a key: attributes, versions, provenance, KCVs.
    Show(KeyArgs),
    /// Generate a new primary version.
    Rotate(KeyArgs),
    /// Activate pre-active versions.
    Activate(VersionArgs),
    /// Deactivate active or suspended versions (they keep decrypting and verifying).
    Deactivate(VersionArgs),
    /// Print the public key (PEM) of an asymmetric key.
    Public(VersionArgs),
    /// Suspend active versions: no protecting; they process only data protected before.
    Suspend(VersionArgs),
    /// Resume suspended versions.
    Resume(VersionArgs),
    /// Report versions compromised (incident responder or key custodian): from now on they
    /// never protect and process only for incident responders with a justification.
    Compromise {
        /// Key name or id.
        key: String,
        /// One version (every version not compromised yet by default).
        #[arg(long)]
        version: Option<u32>,
        /// The incident (security event record) id.
        #[arg(long, required = true)]
        incident: String,
        /// When the compromise happened, RFC 3339 (data protected after it is flagged).
        #[arg(long = "occurred-at", required = true, value_name = "RFC3339")]
        occurred_at: String,
        /// Why the key is considered compromised.
        #[arg(long, required = true)]
        reason: String,
        /// Tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Request the destruction of versions: it needs approval, then runs after the wait;
    /// material is deleted, metadata and history stay. --cancel calls a scheduled one off.
    Destroy {
        /// Key name or id.
        key: String,
        /// One version (every version with material by default).
        #[arg(long)]
        version: Option<u32>,
        /// The waiting period after approval (default 7d).
        #[arg(long, value_name = "DURATION", conflicts_with = "cancel")]
        after: Option<String>,
        /// Why.
        #[arg(long, conflicts_with = "cancel")]
        justification: Option<String>,
        /// How long the request stays open for approvals.
        #[arg(long = "expires-in", value_name = "DURATION", conflicts_with = "cancel")]
        expires_in: Option<String>,
        /// Call off a scheduled destruction that has not run.
        #[arg(long)]
        cancel: bool,
        /// Tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// A key and its tenant.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// Key name or id.
    pub key: String,
    /// Tenant.
    #[arg(long)]
    pub tenant: Option<String>,
}

/// A key, optionally one version.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Key name or id.
    pub key: String,
    /// One version (default: every eligible version, or the primary for `public`).
    #[arg(long)]
    pub version: Option<u32>,
    /// Tenant.
    #[arg(long)]
    pub tenant: Option<String>,
}

/// `keystead key create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Key name, unique in its tenant.
    pub name: String,
    /// encrypt | sign | mac | wrap | asymmetric-decrypt
    #[arg(long)]
    pub purpose: String,
    /// aes-128-gcm | aes-256-gcm | chacha20-poly1305 | hmac-sha256 | hmac-sha384 | hmac-sha512 |
    /// ecdsa-p256 | ecdsa-p384 | ed25519 | rsa-{2048,3072,4096}-pss | rsa-{2048,3072,4096}-oaep |
    /// aes-256-kw
    #[arg(long)]
    pub algorithm: String,
    /// What the key is for, e.g. prompt-encryption or x-custom.
    #[arg(long = "usage-context")]
    pub usage_context: Option<String>,
    /// Owning team or person.
    #[arg(long)]
    pub owner: Option<String>,
    /// What the key is for (at most 1,000 characters).
    #[arg(long)]
    pub description: Option<String>,
    /// production | staging | development | test (must match the server's).
    #[arg(long)]
    pub environment: Option<String>,
    /// public | internal | confidential | restricted
    #[arg(long)]
    pub classification: Option<String>,
    /// Labels.
    #[arg(long = "label", value_name = "K=V")]
    pub labels: Vec<String>,
    /// Rotation period such as 90d.
    #[arg(long = "rotation-period")]
    pub rotation_period: Option<String>,
    /// Originator-usage period, e.g. 365d: each version protects at most this long after
    /// its activation, then deactivates on its own.
    #[arg(long = "protect-period", value_name = "DURATION")]
    pub protect_period: Option<String>,
    /// Recoverable (include in backups). Default for encrypt, wrap and asymmetric-decrypt keys.
    #[arg(long, conflicts_with = "non_recoverable")]
    pub recoverable: bool,
    /// Not recoverable (replaced, never backed up). Default for sign and mac keys.
    #[arg(long = "non-recoverable")]
    pub non_recoverable: bool,
    /// low | medium | high | critical
    #[arg(long)]
    pub criticality: Option<String>,
    /// Create version 1 pre-active.
    #[arg(long = "pre-active")]
    pub pre_active: bool,
    /// Tenant.
    #[arg(long)]
    pub tenant: Option<String>,
}

/// `keystead audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit events, oldest first.
    List {
        /// Only events about this key.
        #[arg(long)]
        key: Option<String>,
        /// Only events by this principal.
        #[arg(long)]
        actor: Option<String>,
        /// Only events at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// At most this many (the newest).
        #[arg(long)]
        limit: Option<u32>,
        /// Tenant (for --key by name).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Recompute every hash chain and check every signed checkpoint; exits 6 if one is
    /// broken. With --file, checks an export offline (no server) against the audit signing
    /// key's public key(s).
    Verify {
        /// An export written by `audit export` to check offline.
        #[arg(long, requires = "public_keys")]
        file: Option<PathBuf>,
        /// PEM public key of the audit signing key (`keystead key public keystead-audit-signing
        /// [--version N]`), once per version; only with --file.
        #[arg(long = "public-key", value_name = "PEM", requires = "file")]
        public_keys: Vec<PathBuf>,
    },
    /// Write every audit event exactly as stored, one JSON object per line, for an offline
    /// verifier.
    Export {
        /// The export format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Formats of `audit export`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
}

/// `keystead operator ...`.
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Seal state (no token needed); with a token on an unsealed server also node,
    /// environment, crypto library and self-tests. Exits 8 while sealed or uninitialized.
    Status,
    /// Initialize a new store: under the shamir seal prints the unseal shares (give each to a
    /// different operator) and the root token once; under the pkcs11 seal (no --shares) the
    /// token wraps the root key and only the root token is printed.
    Init {
        /// Shares to issue (1 to 255; shamir seal only).
        #[arg(long, requires = "threshold")]
        shares: Option<u8>,
        /// Shares needed to unseal (at least 2 when more than one share is issued).
        #[arg(long, requires = "shares")]
        threshold: Option<u8>,
    },
    /// Enter one unseal share. Without SHARE, reads it from stdin (keeps it out of the shell
    /// history).
    Unseal {
        /// The share (`kss1.…`).
        share: Option<String>,
    },
    /// Seal this node now: the root key and every unsealed key leave memory. Admins and
    /// incident responders.
    Seal,
}

/// Parses `90d`, `12h`, `30m`, `45s` (or bare seconds) into seconds.
pub fn parse_duration_seconds(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().last() {
        Some((at, c)) if c.is_ascii_alphabetic() => (&text[..at], c),
        _ => (text, 's'),
    };
    let multiplier = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return Err(format!("unknown unit {unit:?}: use s, m, h, d or w (e.g. 90d)")),
    };
    let count: u64 = digits.parse().map_err(|_| format!("{text:?} is not a duration such as 90d or 12h"))?;
    count.checked_mul(multiplier).ok_or_else(|| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::parse_duration_seconds;

    #[test]
    fn durations_parse_with_units_and_refuse_garbage() {
        assert_eq!(parse_duration_seconds("90d"), Ok(90 * 86_400));
        assert_eq!(parse_duration_seconds("12h"), Ok(43_200));
        assert_eq!(parse_duration_seconds("30m"), Ok(1_800));
        assert_eq!(parse_duration_seconds("45"), Ok(45));
        assert_eq!(parse_duration_seconds("2w"), Ok(1_209_600));
        assert!(parse_duration_seconds("5y").is_err());
        assert!(parse_duration_seconds("d").is_err());
        assert!(parse_duration_seconds("-3h").is_err());
        assert!(parse_duration_seconds("99999999999999999999d").is_err());
    }
}
