//! `keystead principal ...`: who may authenticate, with which roles (admin).

use anyhow::Result;
use clap::Subcommand;
use keystead_api::principals::{
    AccessKey, AccessKeyQuery, CreatePrincipal, CreatedAccessKey, CreatedPrincipal, Principal,
    UpdatePrincipal,
};
use time::format_description::well_known::Rfc3339;

use crate::client::seg;
use crate::client::Client;
use crate::output::print_typed;

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
        #[arg(long, value_name = "DURATION", value_parser = crate::input::parse_duration_seconds)]
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
        #[arg(long, value_name = "DURATION", value_parser = crate::input::parse_duration_seconds, conflicts_with = "never_expires")]
        expires_in: Option<u64>,
        /// Remove the expiry: it authenticates until disabled.
        #[arg(long)]
        never_expires: bool,
    },
    /// AWS SigV4 access keys: how AWS SDKs and the aws CLI authenticate as a principal.
    #[command(subcommand)]
    AccessKey(AccessKeyCommand),
}

/// `keystead principal access-key ...`.
#[derive(Debug, Subcommand)]
pub enum AccessKeyCommand {
    /// Create an access key for a principal; prints its id and secret once.
    Create {
        /// The principal it authenticates as.
        name: String,
    },
    /// List access keys (never their secrets).
    List {
        /// Only this principal's.
        #[arg(long)]
        principal: Option<String>,
    },
    /// Refuse requests signed with the access key from now on.
    Disable {
        /// The access key id.
        id: String,
    },
    /// Accept a disabled access key again.
    Enable {
        /// The access key id.
        id: String,
    },
    /// Delete the access key for good.
    Delete {
        /// The access key id.
        id: String,
    },
}

/// Runs a `principal` subcommand.
pub fn run_principal(client: &Client, command: PrincipalCommand, json_out: bool) -> Result<i32> {
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
            if json_out {
                print_typed(&principal)?;
            } else {
                println!("principal {} disabled", principal.name);
            }
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
        PrincipalCommand::AccessKey(command) => run_access_key(client, command, json_out)?,
    }
    Ok(0)
}

fn run_access_key(client: &Client, command: AccessKeyCommand, json_out: bool) -> Result<()> {
    let changed = |key: &AccessKey, what: &str| {
        if json_out {
            print_typed(key)
        } else {
            println!("access key {} of principal {} {what}", key.access_key_id, key.principal);
            Ok(())
        }
    };
    match command {
        AccessKeyCommand::Create { name } => {
            let path = format!("/v1/principals/{}/access-keys", seg(&name));
            let created: CreatedAccessKey = client.post_as(&path, &serde_json::json!({}))?;
            if json_out {
                return print_typed(&created);
            }
            println!("Created an access key for principal {}.", created.access_key.principal);
            println!("Access key id:     {}", created.access_key.access_key_id);
            println!(
                "Secret access key (shown once; store it now): {}",
                created.secret_access_key.expose_secret()
            );
        }
        AccessKeyCommand::List { principal } => {
            let keys: Vec<AccessKey> =
                client.get_query_as("/v1/access-keys", &AccessKeyQuery { principal })?;
            if json_out {
                return print_typed(&keys);
            }
            println!("{:<24}{:<24}{:<26}{:<16}STATUS", "ACCESS KEY ID", "PRINCIPAL", "CREATED", "CREATED BY");
            for key in &keys {
                println!(
                    "{:<24}{:<24}{:<26}{:<16}{}",
                    key.access_key_id,
                    key.principal,
                    key.created_at.format(&Rfc3339).unwrap_or_default(),
                    key.created_by,
                    if key.disabled { "disabled" } else { "active" }
                );
            }
        }
        AccessKeyCommand::Disable { id } => {
            let path = format!("/v1/access-keys/{}/disable", seg(&id));
            changed(&client.post_as(&path, &serde_json::json!({}))?, "disabled")?;
        }
        AccessKeyCommand::Enable { id } => {
            let path = format!("/v1/access-keys/{}/enable", seg(&id));
            changed(&client.post_as(&path, &serde_json::json!({}))?, "enabled")?;
        }
        AccessKeyCommand::Delete { id } => {
            changed(&client.delete_as(&format!("/v1/access-keys/{}", seg(&id)))?, "deleted")?;
        }
    }
    Ok(())
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
