//! `keystead compliance report`.

use anyhow::Result;
use clap::Subcommand;

use crate::client::Client;

/// `keystead compliance ...`.
#[derive(Debug, Subcommand)]
pub enum ComplianceCommand {
    /// For each control (CEK-10, 11, 19, 20, 21) and its AI-CAIQ question: status with its
    /// reason, evidence figures from live data, mapped standards, what to sample next.
    Report {
        /// md, json or html.
        #[arg(long, default_value = "md", value_parser = ["md", "json", "html"])]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

/// Runs a `compliance` subcommand.
pub fn run(client: &Client, command: ComplianceCommand) -> Result<i32> {
    match command {
        ComplianceCommand::Report { format, out } => {
            let query = keystead_api::report::ReportQuery { format: Some(format), tenant: None };
            let body = client.get_raw_query("/v1/compliance/report", &query)?;
            crate::output::write_report(&body, out.as_deref())
        }
    }
}
