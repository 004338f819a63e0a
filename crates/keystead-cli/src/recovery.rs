//! `keystead recovery assess|request|drill`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::{json, Value};

use crate::client::Client;
use crate::commands::{opt, print_json, text, Code};

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
pub fn run(client: &Client, command: RecoveryCommand, json_out: bool) -> Result<Code> {
    match command {
        RecoveryCommand::Assess { format, tenant } => {
            let format = if json_out { "json".to_owned() } else { format };
            let mut query = vec![("format", format)];
            opt(&mut query, "tenant", &tenant);
            let body = client.get_raw("/v1/recovery/assessment", &query)?;
            crate::inventory::write_report(&body, None)
        }
        RecoveryCommand::Request { file, justification, expires_in } => {
            let bundle = crate::backup::read_bundle(&file)?;
            let header_line = bundle.lines().next().unwrap_or_default();
            let header: Value =
                serde_json::from_str(header_line).context("the bundle's header is not readable")?;
            let mut body = json!({
                "backup_id": header["backup_id"],
                "bundle_sha256": keystead_crypto::sha256(bundle.as_bytes()).iter().map(|b| format!("{b:02x}")).collect::<String>(),
                "keys": header["keys"],
                "backed_up_at": header["created_at"],
                "justification": justification,
            });
            if let Some(expires_in) = expires_in {
                body["expires_in"] = json!(expires_in);
            }
            let view = client.post("/v1/recovery/requests", &body)?;
            if json_out {
                print_json(&view)?;
            } else {
                println!("Request         {}", text(&view["id"]));
                println!("Backup          {} ({} keys)", text(&header["backup_id"]), text(&header["keys"]));
                println!("Expires         {}", text(&view["expires_at"]));
                println!("Approvers run `keystead approval approve {}`.", text(&view["id"]));
            }
            Ok(0)
        }
        RecoveryCommand::Drill { file, share_files } => {
            let bundle = crate::backup::read_bundle(&file)?;
            let shares = crate::backup::read_shares(&share_files)?;
            #[derive(serde::Serialize)]
            struct DrillBody<'a> {
                bundle: &'a str,
                shares: &'a [zeroize::Zeroizing<String>],
            }
            let report =
                client.post_long("/v1/recovery/drills", &DrillBody { bundle: &bundle, shares: &shares })?;
            if json_out {
                print_json(&report)?;
            } else {
                print_drill(&report);
            }
            Ok(if report["result"] == "passed" { 0 } else { crate::client::exit::NOT_VALID })
        }
    }
}

fn print_drill(report: &Value) {
    println!("Drill           {} of backup {}", text(&report["drill_id"]), text(&report["backup_id"]));
    println!("Result          {}", text(&report["result"]).to_uppercase());
    println!("Authenticated   {}", text(&report["authenticated"]));
    println!(
        "Keys verified   {} of {} ({} versions; {} destroyed versions without material)",
        text(&report["keys_verified"]),
        text(&report["keys_in_bundle"]),
        text(&report["versions_verified"]),
        text(&report["versions_without_material"])
    );
    println!("Excluded        {} key(s) by their recovery policy", text(&report["keys_excluded"]));
    println!("Duration        {} ms", text(&report["duration_ms"]));
    for failure in report["failures"].as_array().into_iter().flatten() {
        let version = failure.get("version").map(|v| format!(" version {v}")).unwrap_or_default();
        println!("FAILED          {}{version}: {}", text(&failure["key"]), text(&failure["reason"]));
    }
}
