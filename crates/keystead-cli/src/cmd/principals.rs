//! `keystead principal ...` and `keystead grant ...`: who may do what (admin).

use anyhow::Result;
use clap::Subcommand;
use keystead_api::principals::{
    AddGrant, CreatePrincipal, CreatedPrincipal, Grant, Principal, RevokeGrant, UpdatePrincipal,
};
use time::format_description::well_known::Rfc3339;

use crate::client::Client;
use crate::commands::{print_typed, seg, Code};

/// `keystead principal ...`.
#[derive(Debug, Subcommand)]
pub enum PrincipalCommand {
    /// Create a principal; prints its token once.
    Create {
        /// Unique name.
        name: String,
        /// admin, key-custodian, crypto-user, auditor, incident-responder, recovery-officer
        #[arg(long = "role", value_delimiter = ',', required = true)]
        roles: Vec<String>,
        /// Confine it to this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Lifetime, e.g. `90d`, `12h`, `30m`, `45s`: afterwards its token and certificate
        /// stop working (default: until disabled).
        #[arg(long, value_name = "DURATION", value_parser = crate::cli::parse_duration_seconds)]
        expires_in: Option<u64>,
    },
    /// List principals.
    List,
    /// Disable a principal: its token stops working at once, on every node.
    Disable {
        /// The principal.
        name: String,
    },
    /// Enable a disabled principal: its token works again.
    Enable {
        /// The principal.
        name: String,
    },
    /// Change a principal's roles (replacing them) or its expiry; every node applies it at once.
    Update {
        /// The principal.
        name: String,
        /// The roles from now on, e.g. crypto-user,incident-responder.
        #[arg(long = "role", value_delimiter = ',')]
        roles: Option<Vec<String>>,
        /// A new lifetime from now, e.g. `90d`.
        #[arg(long, value_name = "DURATION", value_parser = crate::cli::parse_duration_seconds, conflicts_with = "never_expires")]
        expires_in: Option<u64>,
        /// Remove the expiry: it authenticates until disabled.
        #[arg(long)]
        never_expires: bool,
    },
}

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

/// Runs a `principal` subcommand.
pub fn run_principal(client: &Client, command: PrincipalCommand, json_out: bool) -> Result<Code> {
    match command {
        PrincipalCommand::Create { name, roles, tenant, expires_in } => {
            let body = CreatePrincipal { name, roles: roles.clone(), tenant, expires_in_seconds: expires_in };
            let created: CreatedPrincipal = client.post_as("/v1/principals", &body)?;
            if json_out {
                print_typed(&created)?;
            } else {
                println!("Created principal {} with roles {}.", created.principal.name, roles.join(","));
                println!("Token (shown once; store it now): {}", created.token.expose_secret());
            }
        }
        PrincipalCommand::List => {
            let principals: Vec<Principal> = client.get_as("/v1/principals", &[])?;
            if json_out {
                print_typed(&principals)?;
            } else {
                println!("{:<24}{:<40}{:<16}{:<26}STATUS", "NAME", "ROLES", "TENANT", "EXPIRES");
                for p in &principals {
                    println!(
                        "{:<24}{:<40}{:<16}{:<26}{}",
                        p.name,
                        p.roles.join(","),
                        p.tenant.as_deref().unwrap_or("-"),
                        expiry(p),
                        if p.disabled { "disabled" } else { "active" }
                    );
                }
            }
        }
        PrincipalCommand::Disable { name } => {
            let principal: Principal =
                client.post_as(&format!("/v1/principals/{}/disable", seg(&name)), &serde_json::json!({}))?;
            show(&principal, json_out, "disabled")?;
        }
        PrincipalCommand::Enable { name } => {
            let principal: Principal =
                client.post_as(&format!("/v1/principals/{}/enable", seg(&name)), &serde_json::json!({}))?;
            show(&principal, json_out, "enabled")?;
        }
        PrincipalCommand::Update { name, roles, expires_in, never_expires } => {
            let body = UpdatePrincipal { roles, expires_in_seconds: expires_in, never_expires };
            let principal: Principal = client.patch_as(&format!("/v1/principals/{}", seg(&name)), &body)?;
            show(&principal, json_out, "updated")?;
        }
    }
    Ok(0)
}

/// Runs a `grant` subcommand.
pub fn run_grant(client: &Client, command: GrantCommand, json_out: bool) -> Result<Code> {
    match command {
        GrantCommand::Add { principal, key, ops, tenant } => {
            let body = AddGrant { principal, key: key.clone(), ops, tenant };
            let grant: Grant = client.post_as("/v1/grants", &body)?;
            if json_out {
                print_typed(&grant)?;
            } else {
                println!("granted {} on key {key} to {}", grant.operations.join(","), grant.principal);
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

fn expiry(principal: &Principal) -> String {
    principal.expires_at.and_then(|at| at.format(&Rfc3339).ok()).unwrap_or_else(|| "-".to_owned())
}

fn show(principal: &Principal, json_out: bool, what: &str) -> Result<()> {
    if json_out {
        return print_typed(principal);
    }
    println!(
        "principal {} {what}: roles {}, {}, expires {}",
        principal.name,
        principal.roles.join(","),
        if principal.disabled { "disabled" } else { "active" },
        expiry(principal)
    );
    Ok(())
}
