//! `keystead grant ...`: which crypto operations a principal may run with which key (admin).

use anyhow::Result;
use clap::Subcommand;
use keystead_api::principals::{AddGrant, Grant, RevokeGrant};

use crate::client::Client;
use crate::output::print_typed;

/// `keystead grant ...`.
#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// Allow a principal to run operations with a key.
    Add {
        /// The principal.
        #[arg(long)]
        principal: String,
        /// Key name or id.
        #[arg(long)]
        key: String,
        /// Operations, e.g. encrypt,decrypt.
        #[arg(long, value_delimiter = ',', required = true)]
        ops: Vec<String>,
        /// The key's tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Take operations back from a principal's grant on a key (every operation without --ops);
    /// every node applies it at once.
    Revoke {
        /// The principal.
        #[arg(long)]
        principal: String,
        /// Key name or id.
        #[arg(long)]
        key: String,
        /// Operations to take back, e.g. encrypt; all of them when absent.
        #[arg(long, value_delimiter = ',')]
        ops: Vec<String>,
        /// The key's tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// Runs a `grant` subcommand.
pub fn run(client: &Client, command: GrantCommand, json_out: bool) -> Result<i32> {
    match command {
        GrantCommand::Add { principal, key, ops, tenant } => {
            let body = AddGrant { principal: principal.clone(), key: key.clone(), ops: ops.clone(), tenant };
            let grant: Grant = client.post_as("/v1/grants", &body)?;
            if json_out {
                print_typed(&grant)?;
            } else {
                println!("granted {} on key {key} to {principal}", ops.join(","));
            }
        }
        GrantCommand::Revoke { principal, key, ops, tenant } => {
            let body = RevokeGrant { principal, key: key.clone(), ops, tenant };
            let grant: Grant = client.post_as("/v1/grants/revoke", &body)?;
            if json_out {
                print_typed(&grant)?;
            } else if grant.operations.is_empty() {
                println!("revoked every operation on key {key} from {}: the grant is gone", grant.principal);
            } else {
                println!(
                    "revoked; {} may still {} with key {key}",
                    grant.principal,
                    grant.operations.join(",")
                );
            }
        }
    }
    Ok(0)
}
