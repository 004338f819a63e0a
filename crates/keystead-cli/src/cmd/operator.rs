//! `keystead operator ...`: initialize, unseal and seal a server; its status.

use anyhow::{Context, Result};
use clap::Subcommand;
use keystead_api::sys::{Init, Initialized, SealStatus, ServerStatus, Unseal};
use keystead_api::Secret;
use serde_json::Value;

use crate::client::{exit, Client};
use crate::output::{print_typed, text};

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
        share: Option<crate::input::SecretArg>,
    },
    /// Seal this node now: the root key and every unsealed key leave memory. Admins and
    /// incident responders.
    Seal,
}

/// Prints a status document as `field value` lines, the seal's as `seal.field value`.
fn print_status(status: &Value) {
    for (k, v) in status.as_object().into_iter().flatten().filter(|(k, _)| *k != "seal") {
        println!("{k:<24}{}", text(v));
    }
    for (k, v) in status["seal"].as_object().into_iter().flatten() {
        if !matches!(k.as_str(), "node" | "environment") {
            println!("seal.{k:<19}{}", text(v));
        }
    }
}

/// Runs an `operator` subcommand.
pub fn run(client: &Client, command: OperatorCommand, json_out: bool) -> Result<i32> {
    match command {
        OperatorCommand::Status => {
            let seal: SealStatus = client.get_as("/v1/sys/seal-status", &[])?;
            let sealed = seal.sealed;
            // The seal status alone, or (unsealed, with credentials) the node's whole status.
            let document = if !sealed && client.has_credentials() {
                serde_json::to_value(client.get_as::<ServerStatus>("/v1/status", &[])?)?
            } else {
                serde_json::to_value(&seal)?
            };
            if json_out {
                print_typed(&document)?;
            } else {
                print_status(&document);
            }
            Ok(if sealed { exit::SEALED } else { 0 })
        }
        OperatorCommand::Init { shares, threshold } => {
            let body = Init { shares: shares.unwrap_or(0), threshold: threshold.unwrap_or(0) };
            let out: Initialized = client.post_as("/v1/sys/init", &body)?;
            if json_out {
                print_typed(&out)?;
            } else if out.shares.0.is_empty() {
                println!(
                    "Keystead initialized (seal {}, pkcs11): the root key is wrapped by the token's key and the server is unsealed.",
                    out.seal_id
                );
                println!("Root token: {}", out.root_token.expose_secret());
                println!("Create admin principals, then disable the root principal.");
            } else {
                println!(
                    "Keystead initialized (seal {}). Shown once; keep each share with a different operator.",
                    out.seal_id
                );
                for (i, share) in out.shares.0.iter().enumerate() {
                    println!("Unseal share {}: {}", i + 1, share.expose_secret());
                }
                println!("Root token: {}", out.root_token.expose_secret());
                println!();
                println!(
                    "The server is sealed. {} operators unseal it with `keystead operator unseal`.",
                    out.threshold
                );
                println!("Then create admin principals and disable the root principal.");
            }
            Ok(0)
        }
        OperatorCommand::Unseal { share } => {
            let share = match share {
                Some(share) => Secret::new(share.expose_secret().to_owned()),
                None => {
                    let mut line = zeroize::Zeroizing::new(String::new());
                    std::io::stdin().read_line(&mut line).context("cannot read the share from stdin")?;
                    Secret::new(line.trim().to_owned())
                }
            };
            let out: SealStatus = client.post_as("/v1/sys/unseal", &Unseal { share })?;
            if json_out {
                print_typed(&out)?;
            } else if !out.sealed {
                println!("unsealed: node {} is serving", out.node);
            } else {
                let threshold = out.threshold.map_or_else(|| "-".to_owned(), |t| t.to_string());
                println!("share accepted: {} of {threshold} entered; still sealed", out.progress);
            }
            Ok(0)
        }
        OperatorCommand::Seal => {
            let out: SealStatus = client.post_as("/v1/sys/seal", &serde_json::json!({}))?;
            if json_out {
                print_typed(&out)?;
            } else {
                println!("sealed: node {} holds no key material until it is unsealed", out.node);
            }
            Ok(0)
        }
    }
}
