//! `keystead alias ...`: other names for keys (`alias/...`), usable wherever a key name is.

use anyhow::Result;
use clap::Subcommand;
use keystead_api::keys::{Alias, CreateAlias, TenantQuery, UpdateAlias};

use crate::client::seg;
use crate::client::Client;
use crate::output::print_typed;

/// `keystead alias ...`.
#[derive(Debug, Subcommand)]
pub enum AliasCommand {
    /// Make an alias name a key (key custodian). Aliases start with alias/.
    Create {
        /// The alias, e.g. alias/prompts.
        alias: String,
        /// The key it names (name or id).
        #[arg(long)]
        key: String,
        /// The tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Aliases with the key each names.
    List {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Point an alias at another key (key custodian).
    Update {
        /// The alias.
        alias: String,
        /// The key it names from now on (name or id).
        #[arg(long)]
        key: String,
        /// The tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Delete an alias; the key is untouched (key custodian).
    Delete {
        /// The alias.
        alias: String,
        /// The tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// Runs an `alias` subcommand.
pub fn run(client: &Client, command: AliasCommand, json_out: bool) -> Result<i32> {
    match command {
        AliasCommand::Create { alias, key, tenant } => {
            let made: Alias = client.post_as("/v1/aliases", &CreateAlias { alias, key, tenant })?;
            show(&made, json_out, "now names")?;
        }
        AliasCommand::List { tenant } => {
            let aliases: Vec<Alias> = client.get_query_as("/v1/aliases", &TenantQuery { tenant })?;
            if json_out {
                return print_typed(&aliases).map(|()| 0);
            }
            println!("{:<40}{:<16}{:<30}{:<38}NOTE", "ALIAS", "TENANT", "KEY", "KEY ID");
            for a in &aliases {
                let note = if a.key_usable { "" } else { "key destroyed: delete or update this alias" };
                println!("{:<40}{:<16}{:<30}{:<38}{note}", a.alias, a.tenant, a.key_name, a.key_id);
            }
        }
        AliasCommand::Update { alias, key, tenant } => {
            let moved: Alias =
                client.put_as(&format!("/v1/aliases/{}", seg(&alias)), &UpdateAlias { key, tenant })?;
            show(&moved, json_out, "now names")?;
        }
        AliasCommand::Delete { alias, tenant } => {
            let suffix = tenant.map(|t| format!("?tenant={}", seg(&t))).unwrap_or_default();
            let gone: Alias = client.delete_as(&format!("/v1/aliases/{}{suffix}", seg(&alias)))?;
            show(&gone, json_out, "deleted; it named")?;
        }
    }
    Ok(0)
}

fn show(alias: &Alias, json_out: bool, what: &str) -> Result<()> {
    if json_out {
        return print_typed(alias);
    }
    println!("{} {what} key {} ({})", alias.alias, alias.key_name, alias.key_id);
    Ok(())
}
