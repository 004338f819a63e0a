//! `keystead recovery assess|request|drill`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use keystead_api::oversight::Approval;
use keystead_api::recovery::{DrillBackup, DrillReport, RecoveryRequest};
use keystead_api::report::ReportQuery;

use crate::client::Client;
use crate::output::{print_typed, rfc3339};

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
    /// Ask for a quorum's approval to restore a bundle (default policy: 2 recovery officers
    /// and 1 key custodian, the requester not counting). The approved request is good for
    /// one restore of exactly this file.
    Request {
        /// The bundle file.
        file: PathBuf,
        /// Why the restore is needed.
        #[arg(long)]
        justification: String,
        /// How long the request stays open, e.g. 12h (at most the approval TTL).
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// Prove a bundle restores: open it with M share files, restore every key into a scratch
    /// in-memory store, check each version's KCV and test vector. Prints and keeps no
    /// material; the report goes into the audit log. Exits 6 when the drill fails.
    Drill {
        /// The bundle file.
        file: PathBuf,
        /// A share file (repeat for each, at least M).
        #[arg(long = "share-file", required = true)]
        share_files: Vec<PathBuf>,
    },
}

/// Runs a `recovery` subcommand.
pub fn run(client: &Client, command: RecoveryCommand, json_out: bool) -> Result<i32> {
    match command {
        RecoveryCommand::Assess { format, tenant } => {
            let format = if json_out { "json".to_owned() } else { format };
            let query = ReportQuery { format: Some(format), tenant };
            let body = client.get_raw_query("/v1/recovery/assessment", &query)?;
            crate::output::write_report(&body, None)
        }
        RecoveryCommand::Request { file, justification, expires_in } => {
            let bundle = crate::input::read_bundle(&file)?;
            let header_line = bundle.lines().next().unwrap_or_default();
            let header: keystead_service::BackupHeader =
                serde_json::from_str(header_line).context("the bundle's header is not readable")?;
            let body = RecoveryRequest {
                backup_id: header.backup_id.clone(),
                bundle_sha256: keystead_crypto::sha256(bundle.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
                keys: u64::try_from(header.keys).unwrap_or(u64::MAX),
                backed_up_at: rfc3339(header.created_at),
                justification,
                expires_in,
            };
            let view: Approval = client.post_as("/v1/recovery/requests", &body)?;
            if json_out {
                print_typed(&view)?;
            } else {
                println!("Request         {}", view.id);
                println!("Backup          {} ({} keys)", header.backup_id, header.keys);
                println!("Expires         {}", rfc3339(view.expires_at));
                println!("Approvers run `keystead approval approve {}`.", view.id);
            }
            Ok(0)
        }
        RecoveryCommand::Drill { file, share_files } => {
            let bundle = crate::input::read_bundle(&file)?;
            let shares = crate::input::read_shares(&share_files)?;
            let report: DrillReport =
                client.post_long("/v1/recovery/drills", &DrillBackup { bundle, shares })?;
            if json_out {
                print_typed(&report)?;
            } else {
                print_drill(&report);
            }
            Ok(if report.result == "passed" { 0 } else { crate::client::exit::NOT_VALID })
        }
    }
}

fn print_drill(report: &DrillReport) {
    println!("Drill           {} of backup {}", report.drill_id, report.backup_id);
    println!("Result          {}", report.result.to_uppercase());
    println!("Authenticated   {}", report.authenticated);
    println!(
        "Keys verified   {} of {} ({} versions; {} destroyed versions without material)",
        report.keys_verified,
        report.keys_in_bundle,
        report.versions_verified,
        report.versions_without_material
    );
    println!("Excluded        {} key(s) by their recovery policy", report.keys_excluded);
    println!("Duration        {} ms", report.duration_ms);
    for failure in &report.failures {
        let version = failure.version.map(|v| format!(" version {v}")).unwrap_or_default();
        println!("FAILED          {}{version}: {}", failure.key, failure.reason);
    }
}
