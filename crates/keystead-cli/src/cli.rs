//! The top-level command line, per `shared/INTERFACE.md`: global flags and one subcommand
//! per area. Each area's arguments and its `run` live in `cmd/<area>.rs`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::cmd::{
    aliases, approvals, audit, backup, compliance, crypto, grants, inventory, keys, operator, principals,
    recovery, server, webhooks,
};
use crate::input::SecretArg;

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
    pub token: Option<SecretArg>,
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
    Server(server::ServerArgs),
    /// Manage keys.
    #[command(subcommand)]
    Key(keys::KeyCommand),
    /// Encrypt data (stdin by default) under a key's primary version.
    Encrypt(crypto::EncryptArgs),
    /// Decrypt a ks1 ciphertext (stdin by default); writes the plaintext to stdout.
    Decrypt(crypto::DecryptArgs),
    /// Sign data (stdin by default) with a sign key.
    Sign(crypto::MessageArgs),
    /// Verify a signature; exits 6 when it does not verify.
    Verify(crypto::VerifyArgs),
    /// Compute an HMAC tag with a mac key.
    Mac(crypto::MessageArgs),
    /// Verify an HMAC tag; exits 6 when it does not match.
    MacVerify(crypto::MacVerifyArgs),
    /// Wrap key material (RFC 3394 AES key wrap) with a wrap key.
    Wrap(crypto::WrapArgs),
    /// Unwrap a ks1 wrapped key; writes the raw material to --out (mode 0600) or stdout.
    Unwrap(crypto::UnwrapArgs),
    /// Generate a data key: its plaintext and its ciphertext under KEY.
    Datakey(crypto::DatakeyArgs),
    /// Read and verify the audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Manage principals (admin).
    #[command(subcommand)]
    Principal(principals::PrincipalCommand),
    /// Grant crypto operations on keys to crypto users, or take them back (admin).
    #[command(subcommand)]
    Grant(grants::GrantCommand),
    /// Initialize, unseal and seal the server; its status.
    #[command(subcommand)]
    Operator(operator::OperatorCommand),
    /// Re-encrypt ciphertexts under their key's primary version; the plaintext never leaves
    /// the server. One ciphertext from --in or stdin, or a file of them with --file.
    Rewrap(crypto::RewrapArgs),
    /// Quorum approvals: list, show, approve, reject.
    #[command(subcommand)]
    Approval(approvals::ApprovalCommand),
    /// Time-boxed exceptions to protect with a compromised key.
    #[command(subcommand)]
    Exception(approvals::ExceptionCommand),
    /// Webhooks for key and approval events.
    #[command(subcommand)]
    Webhook(webhooks::WebhookCommand),
    /// Aliases: other names for keys (alias/...), usable wherever a key name is.
    #[command(subcommand)]
    Alias(aliases::AliasCommand),
    /// The key inventory: list with filters, owners' reviews.
    #[command(subcommand)]
    Inventory(inventory::InventoryCommand),
    /// Compliance evidence for the five controls, from live data.
    #[command(subcommand)]
    Compliance(compliance::ComplianceCommand),
    /// Key recovery: the risk assessment of each key's recovery policy, restore requests,
    /// recovery drills.
    #[command(subcommand)]
    Recovery(recovery::RecoveryCommand),
    /// Backups of every recoverable key, split among recovery officers, and restores.
    #[command(subcommand)]
    Backup(backup::BackupCommand),
}

/// `keystead key import NAME --wrapped FILE --token FILE` is the contract's spelling, but
/// `--token` is also the global bearer-token flag. In `key import` (and only there), `--token`
/// names the import token file: it is passed on as `--import-token`, and the command
/// authenticates with `KEYSTEAD_TOKEN`, a `--token` given before the command, or a development server's root token file.
pub fn key_import_token_flag(args: impl IntoIterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    /// The global flags that take a separate value (`--flag value`).
    const VALUED: &[&str] = &["--addr", "--token", "--ca-cert", "--client-cert", "--client-key", "--output"];
    let mut args: Vec<std::ffi::OsString> = args.into_iter().collect();
    // The command is the first two positional words after the program name and global flags;
    // only flags after them are the command's own.
    let mut positional = Vec::new();
    let mut command_end = None;
    let mut skip_value = false;
    for (i, arg) in args.iter().enumerate().skip(1) {
        if skip_value {
            skip_value = false;
        } else if let Some(flag) = arg.to_str().filter(|a| a.starts_with("--")) {
            skip_value = VALUED.contains(&flag);
        } else {
            positional.push(arg.clone());
            if positional.len() == 2 {
                command_end = Some(i);
                break;
            }
        }
    }
    if let (Some(end), true) = (command_end, positional == ["key", "import"]) {
        for arg in args.iter_mut().skip(end + 1) {
            if arg == "--token" {
                *arg = "--import-token".into();
            } else if let Some(value) = arg.to_str().and_then(|a| a.strip_prefix("--token=")) {
                *arg = format!("--import-token={value}").into();
            }
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_import_takes_its_token_file_as_token() {
        let args = |list: &[&str]| list.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        let rewritten = key_import_token_flag(args(&[
            "keystead",
            "key",
            "import",
            "k",
            "--wrapped",
            "w",
            "--token",
            "t",
        ]));
        assert_eq!(
            rewritten,
            args(&["keystead", "key", "import", "k", "--wrapped", "w", "--import-token", "t"])
        );
        let cli = Cli::try_parse_from(rewritten).unwrap();
        assert!(cli.token.is_none(), "the import token is not the bearer token");
        let with_globals =
            args(&["keystead", "--addr", "http://127.0.0.1:1", "key", "import", "k", "--token=t"]);
        assert_eq!(key_import_token_flag(with_globals)[6], "--import-token=t");
        for other in [
            args(&["keystead", "key", "import-params", "k", "--token", "kst_x"]),
            args(&["keystead", "alias", "create", "key", "import", "--token", "kst_x"]),
        ] {
            assert_eq!(key_import_token_flag(other.clone()), other);
        }
    }
}
