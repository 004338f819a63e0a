//! `keystead inventory list | review` (CEK-21).

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::client::Client;
use crate::commands::{opt, print_json, seg, text, Code};

/// `keystead inventory ...`.
#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// Every key and version, destroyed tombstones included, filtered, sorted and paginated.
    List(Box<ListArgs>),
    /// The inventory report: totals, cryptoperiods, rotations due, compromised and destroyed
    /// keys, owners and reviews. HTML is one self-contained file with charts.
    Report {
        /// json, csv (one row per version) or html.
        #[arg(long, default_value = "json", value_parser = ["json", "csv", "html"])]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Anomalies raised by the rules over the audit stream, newest first.
    Anomalies {
        /// Only this rule.
        #[arg(long)]
        rule: Option<String>,
        /// Only raised at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// At most this many.
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Record your periodic review of a key you own (key custodians may review any key).
    Review {
        /// The key's name or id.
        key: String,
        /// What you checked and attest: still needed, owner, purpose and labels right.
        #[arg(long)]
        attest: String,
        /// The key's tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// Filters of `inventory list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Keys with a version in one of these states (pre-active, active, suspended,
    /// deactivated, compromised, destroyed, destroyed-compromised).
    #[arg(long, value_delimiter = ',')]
    state: Vec<String>,
    /// Only this purpose.
    #[arg(long)]
    purpose: Option<String>,
    /// Only this algorithm.
    #[arg(long)]
    algorithm: Option<String>,
    /// Only this owner.
    #[arg(long)]
    owner: Option<String>,
    /// Only this tenant.
    #[arg(long)]
    tenant: Option<String>,
    /// Only this environment.
    #[arg(long)]
    environment: Option<String>,
    /// Only this usage context.
    #[arg(long = "usage-context")]
    usage_context: Option<String>,
    /// Only keys with this label (repeat for several).
    #[arg(long, value_name = "K=V")]
    label: Vec<String>,
    /// Created before this RFC 3339 time.
    #[arg(long = "created-before")]
    created_before: Option<String>,
    /// Created at or after this RFC 3339 time.
    #[arg(long = "created-after")]
    created_after: Option<String>,
    /// Newest version created before this RFC 3339 time.
    #[arg(long = "rotated-before")]
    rotated_before: Option<String>,
    /// Newest version created at or after this RFC 3339 time.
    #[arg(long = "rotated-after")]
    rotated_after: Option<String>,
    /// Only keys past a cryptoperiod: rotation overdue or an active version past its
    /// originator-usage period.
    #[arg(long = "past-cryptoperiod")]
    past_cryptoperiod: bool,
    /// Only keys whose owner is empty, disabled or expired.
    #[arg(long = "no-owner")]
    no_owner: bool,
    /// Only keys not reviewed since this RFC 3339 time or this long ago (e.g. 90d).
    #[arg(long = "not-reviewed-since")]
    not_reviewed_since: Option<String>,
    /// Only keys whose review is overdue under the review policy.
    #[arg(long = "review-overdue")]
    review_overdue: bool,
    /// Order: name, created, rotated, owner.
    #[arg(long, default_value = "name")]
    sort: String,
    /// Reverse the order.
    #[arg(long)]
    desc: bool,
    /// Keys to skip (the `next_offset` of the previous page).
    #[arg(long, default_value_t = 0)]
    offset: u64,
    /// Keys per page (at most 10,000).
    #[arg(long, default_value_t = 100)]
    limit: u32,
}

impl ListArgs {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        if !self.state.is_empty() {
            query.push(("state", self.state.join(",")));
        }
        opt(&mut query, "purpose", &self.purpose);
        opt(&mut query, "algorithm", &self.algorithm);
        opt(&mut query, "owner", &self.owner);
        opt(&mut query, "tenant", &self.tenant);
        opt(&mut query, "environment", &self.environment);
        opt(&mut query, "usage_context", &self.usage_context);
        if !self.label.is_empty() {
            query.push(("label", self.label.join(",")));
        }
        opt(&mut query, "created_before", &self.created_before);
        opt(&mut query, "created_after", &self.created_after);
        opt(&mut query, "rotated_before", &self.rotated_before);
        opt(&mut query, "rotated_after", &self.rotated_after);
        opt(&mut query, "not_reviewed_since", &self.not_reviewed_since);
        for (name, on) in [
            ("past_cryptoperiod", self.past_cryptoperiod),
            ("no_owner", self.no_owner),
            ("review_overdue", self.review_overdue),
            ("descending", self.desc),
        ] {
            if on {
                query.push((name, "true".into()));
            }
        }
        query.push(("sort", self.sort.clone()));
        query.push(("offset", self.offset.to_string()));
        query.push(("limit", self.limit.to_string()));
        query
    }
}

/// The states of a key's versions, e.g. `active,deactivated×2`.
fn states(key: &Value) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for version in key["versions"].as_array().into_iter().flatten() {
        let state = text(&version["state"]);
        match counts.iter_mut().find(|(s, _)| *s == state) {
            Some((_, n)) => *n += 1,
            None => counts.push((state, 1)),
        }
    }
    counts.into_iter().map(|(s, n)| if n == 1 { s } else { format!("{s}×{n}") }).collect::<Vec<_>>().join(",")
}

fn flags(key: &Value) -> String {
    let mut flags = Vec::new();
    if key["past_cryptoperiod"] == true {
        flags.push("past-cryptoperiod");
    }
    if key["review_overdue"] == true {
        flags.push("review-overdue");
    }
    if matches!(key["owner_status"].as_str(), Some("none" | "disabled" | "expired")) {
        flags.push("no-owner");
    }
    flags.join(",")
}

/// Runs an `inventory` subcommand.
pub fn run(client: &Client, command: InventoryCommand, json_out: bool) -> Result<Code> {
    match command {
        InventoryCommand::List(args) => {
            let out = client.get("/v1/inventory", &args.query())?;
            if json_out {
                print_json(&out)?;
                return Ok(0);
            }
            println!(
                "{:<28}{:<10}{:<10}{:<18}{:<16}{:<34}{:<22}FLAGS",
                "NAME", "TENANT", "PURPOSE", "ALGORITHM", "OWNER", "VERSION STATES", "ROTATED"
            );
            let keys = out["keys"].as_array().cloned().unwrap_or_default();
            for key in &keys {
                println!(
                    "{:<28}{:<10}{:<10}{:<18}{:<16}{:<34}{:<22}{}",
                    text(&key["name"]),
                    text(&key["tenant"]),
                    text(&key["purpose"]),
                    text(&key["algorithm"]),
                    text(&key["owner"]),
                    states(key),
                    text(&key["last_rotated_at"]).chars().take(19).collect::<String>(),
                    flags(key)
                );
            }
            let offset = out["offset"].as_u64().unwrap_or(0);
            let shown = if keys.is_empty() { 0 } else { offset + 1 };
            let next = match out["next_offset"].as_u64() {
                Some(next) => format!("; next page: --offset {next}"),
                None => String::new(),
            };
            println!("keys {shown}–{} of {}{next}", offset + keys.len() as u64, text(&out["total"]));
            Ok(0)
        }
        InventoryCommand::Report { format, out, tenant } => {
            let mut query = vec![("format", format)];
            opt(&mut query, "tenant", &tenant);
            let body = client.get_raw("/v1/inventory/report", &query)?;
            write_report(&body, out.as_deref())
        }
        InventoryCommand::Anomalies { rule, since, limit } => {
            let mut query = Vec::new();
            opt(&mut query, "rule", &rule);
            opt(&mut query, "since", &since);
            if let Some(limit) = limit {
                query.push(("limit", limit.to_string()));
            }
            let out = client.get("/v1/anomalies", &query)?;
            if json_out {
                print_json(&out)?;
                return Ok(0);
            }
            println!("{:<26}{:<24}{:<9}{:<16}SUMMARY", "DETECTED", "RULE", "SEVERITY", "ACTOR");
            for a in out.as_array().into_iter().flatten() {
                println!(
                    "{:<26}{:<24}{:<9}{:<16}{}",
                    text(&a["detected_at"]),
                    text(&a["rule"]),
                    text(&a["severity"]),
                    text(&a["actor"]),
                    text(&a["summary"])
                );
            }
            Ok(0)
        }
        InventoryCommand::Review { key, attest, tenant } => {
            let out = client.post(
                &format!("/v1/keys/{}/reviews", seg(&key)),
                &json!({ "attestation": attest, "tenant": tenant }),
            )?;
            if json_out {
                print_json(&out)?;
            } else {
                let role = if out["as_owner"] == true { "owner" } else { "key custodian" };
                println!(
                    "reviewed {key} as {role} {} at {}",
                    text(&out["reviewer"]),
                    text(&out["reviewed_at"])
                );
            }
            Ok(0)
        }
    }
}

/// Writes a report to `out` (whole or not at all: a temporary file renamed into place) or to
/// standard output.
pub(crate) fn write_report(body: &[u8], out: Option<&std::path::Path>) -> Result<Code> {
    use std::io::Write as _;
    match out {
        None => std::io::stdout().lock().write_all(body)?,
        Some(path) => {
            let mut partial = path.as_os_str().to_owned();
            partial.push(".partial");
            std::fs::write(&partial, body)
                .with_context(|| format!("cannot write {}", std::path::Path::new(&partial).display()))?;
            std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {} ({} bytes)", path.display(), body.len());
        }
    }
    Ok(0)
}
