//! Bring your own key: `keystead key import-params`, `key import`, `key delete-material`.

use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use base64::Engine as _;
use clap::Args;
use keystead_api::keys::{ImportKey, ImportParams, ImportParamsRequest, Key};

use crate::client::{seg, Client};
use crate::input::pairs;
use crate::output::{print_typed, rfc3339};

/// `keystead key import-params`.
#[derive(Debug, Args)]
pub struct ImportParamsArgs {
    /// An external key waiting for material (name or id; see `key create --origin external`),
    /// or the name of a key that `key import` will create.
    pub key: String,
    /// rsa-oaep-sha256 (default: symmetric, EC and Ed25519 keys) | rsa-aes-kw-sha256 (any key,
    /// needed for RSA private keys)
    #[arg(long = "wrapping-algorithm")]
    pub wrapping_algorithm: Option<String>,
    /// rsa-3072 (default) | rsa-4096
    #[arg(long = "wrapping-key-spec")]
    pub wrapping_key_spec: Option<String>,
    /// Write the wrapping public key (PEM) to this file instead of printing it.
    #[arg(long = "public-key-out", value_name = "FILE")]
    pub public_key_out: Option<PathBuf>,
    /// Write the import token to this file instead of printing it.
    #[arg(long = "token-out", value_name = "FILE")]
    pub token_out: Option<PathBuf>,
    /// Tenant.
    #[arg(long)]
    pub tenant: Option<String>,
}

/// `keystead key import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The key: an external key waiting for material (name or id), or the name of a new key.
    pub name: String,
    /// The material wrapped under the import parameters' public key: raw bytes or base64.
    #[arg(long, value_name = "FILE")]
    pub wrapped: PathBuf,
    /// The import token file from `key import-params` (the token text, or base64 of it).
    /// Spelled `--token FILE` on the command line (see `cli::key_import_token_flag`): this
    /// command authenticates with KEYSTEAD_TOKEN or a --token given before `key import`.
    #[arg(long = "import-token", value_name = "FILE")]
    pub import_token: PathBuf,
    /// The purpose (required for a new key; must be the key's for an existing one).
    #[arg(long)]
    pub purpose: Option<String>,
    /// The algorithm (required for a new key; must be the key's for an existing one).
    #[arg(long)]
    pub algorithm: Option<String>,
    /// A new key's usage context.
    #[arg(long = "usage-context")]
    pub usage_context: Option<String>,
    /// A new key's owner.
    #[arg(long)]
    pub owner: Option<String>,
    /// A new key's description.
    #[arg(long)]
    pub description: Option<String>,
    /// A new key's classification.
    #[arg(long)]
    pub classification: Option<String>,
    /// A new key's labels.
    #[arg(long = "label", value_name = "K=V")]
    pub labels: Vec<String>,
    /// A new key's originator-usage period, e.g. 365d.
    #[arg(long = "protect-period", value_name = "DURATION")]
    pub protect_period: Option<String>,
    /// low | medium | high | critical
    #[arg(long)]
    pub criticality: Option<String>,
    /// Tenant.
    #[arg(long)]
    pub tenant: Option<String>,
}

/// Runs `key import-params`.
pub fn run_params(client: &Client, args: ImportParamsArgs, json_out: bool) -> Result<i32> {
    let body = ImportParamsRequest {
        wrapping_algorithm: args.wrapping_algorithm,
        wrapping_key_spec: args.wrapping_key_spec,
        tenant: args.tenant,
    };
    let params: ImportParams =
        client.post_as(&format!("/v1/keys/{}/import-params", seg(&args.key)), &body)?;
    if let Some(path) = &args.public_key_out {
        write_new(path, params.public_key_pem.as_bytes())?;
    }
    if let Some(path) = &args.token_out {
        write_new(path, format!("{}\n", params.token).as_bytes())?;
    }
    if json_out {
        print_typed(&params)?;
        return Ok(0);
    }
    let target = match &params.key_id {
        Some(id) => format!("{} ({id})", params.key),
        None => format!("{} (a new key, created by the import)", params.key),
    };
    println!("Key                 {target}");
    println!("Wrapping algorithm  {}", params.wrapping_algorithm);
    println!("Wrapping key        {}", params.wrapping_key_spec);
    println!("Expires             {} (the token imports once)", rfc3339(params.expires_at));
    match &args.token_out {
        Some(path) => println!("Token               written to {}", path.display()),
        None => println!("Token               {}", params.token),
    }
    match &args.public_key_out {
        Some(path) => println!("Public key          written to {}", path.display()),
        None => print!("\n{}", params.public_key_pem),
    }
    Ok(0)
}

/// Runs `key import`.
pub fn run_import(client: &Client, args: ImportArgs) -> Result<Key> {
    let path = &args.import_token;
    if path.to_str().is_some_and(|p| p.starts_with("kst_")) {
        // Never echo it: it is a bearer token given where the import token file belongs.
        anyhow::bail!(
            "in key import, --token names the import token file from key import-params; give the bearer token \
             with KEYSTEAD_TOKEN or before the command (keystead --token ... key import ...)"
        );
    }
    let token = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let token = String::from_utf8(token).map_err(|_| anyhow!("{}: not an import token", path.display()))?;
    let wrapped =
        std::fs::read(&args.wrapped).with_context(|| format!("cannot read {}", args.wrapped.display()))?;
    let body = ImportKey {
        token: token.trim().to_owned(),
        wrapped: wrapped_base64(&wrapped),
        purpose: args.purpose,
        algorithm: args.algorithm,
        usage_context: args.usage_context,
        owner: args.owner,
        description: args.description,
        classification: args.classification,
        labels: pairs(&args.labels, "label")?,
        protect_period: args.protect_period,
        recoverable: None,
        criticality: args.criticality,
        tenant: args.tenant,
    };
    client.post_as(&format!("/v1/keys/{}/import", seg(&args.name)), &body)
}

/// The wrapped material as base64: a file of base64 text is sent as it is, raw bytes are
/// encoded (an RSA ciphertext is never all base64 characters by chance).
fn wrapped_base64(bytes: &[u8]) -> String {
    let text = std::str::from_utf8(bytes).unwrap_or_default().trim();
    let is_base64 = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\n' | b'\r'))
        && base64::engine::general_purpose::STANDARD.decode(text.replace(['\n', '\r'], "")).is_ok();
    if is_base64 {
        text.replace(['\n', '\r'], "")
    } else {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

fn write_new(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}
