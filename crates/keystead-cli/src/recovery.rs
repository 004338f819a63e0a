//! `keystead recovery assess`.

use anyhow::Result;
use clap::Subcommand;

use crate::client::Client;
use crate::commands::{opt, Code};

/// `keystead recovery ...`.
#[derive(Debug, Subcommand)]
pub enum RecoveryCommand {
    /// Every key's continuity impact against its exposure: the matrix, policies that do not
    /// fit (e.g. a critical data key marked non-recoverable), and a recommended policy.
    Assess {
        /// md or json.
        #[arg(long, default_value = "md", value_parser = ["md", "json"])]
        format: String,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// Runs a `recovery` subcommand.
pub fn run(client: &Client, command: RecoveryCommand, json_out: bool) -> Result<Code> {
    match command {
        RecoveryCommand::Assess { format, tenant } => {
            let format = if json_out { "json".to_owned() } else { format };
            let mut query = vec![("format", format)];
            opt(&mut query, "tenant", &tenant);
            let body = client.get_raw("/v1/recovery/assessment", &query)?;
            crate::inventory::write_report(&body, None)
        }
    }
}
