//! `keystead inventory list | review` (CEK-21).

use anyhow::Result;
use clap::{Args, Subcommand};
use keystead_api::inventory::{
    Anomaly, AnomalyQuery, InventoryItem, InventoryPage, InventoryQuery, Review, ReviewRecord,
};
use keystead_api::report::ReportQuery;

use crate::client::{seg, Client};
use crate::output::{print_typed, rfc3339};

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
    /// Only keys used since this RFC 3339 time or this long ago (e.g. 30d).
    #[arg(long = "used-since")]
    used_since: Option<String>,
    /// Only keys not used since this RFC 3339 time or this long ago (e.g. 365d); keys never
    /// used are included.
    #[arg(long = "unused-since")]
    unused_since: Option<String>,
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
    fn query(&self) -> InventoryQuery {
        let joined = |items: &[String]| (!items.is_empty()).then(|| items.join(","));
        InventoryQuery {
            tenant: self.tenant.clone(),
            state: joined(&self.state),
            purpose: self.purpose.clone(),
            algorithm: self.algorithm.clone(),
            owner: self.owner.clone(),
            environment: self.environment.clone(),
            usage_context: self.usage_context.clone(),
            label: joined(&self.label),
            created_before: self.created_before.clone(),
            created_after: self.created_after.clone(),
            rotated_before: self.rotated_before.clone(),
            rotated_after: self.rotated_after.clone(),
            past_cryptoperiod: self.past_cryptoperiod,
            no_owner: self.no_owner,
            not_reviewed_since: self.not_reviewed_since.clone(),
            review_overdue: self.review_overdue,
            used_since: self.used_since.clone(),
            unused_since: self.unused_since.clone(),
            sort: Some(self.sort.clone()),
            descending: self.desc,
            offset: Some(self.offset),
            limit: Some(self.limit),
        }
    }
}

/// The states of a key's versions, e.g. `active,deactivated×2`.
fn states(item: &InventoryItem) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for version in &item.key.versions {
        let state = version.state.clone();
        match counts.iter_mut().find(|(s, _)| *s == state) {
            Some((_, n)) => *n += 1,
            None => counts.push((state, 1)),
        }
    }
    counts.into_iter().map(|(s, n)| if n == 1 { s } else { format!("{s}×{n}") }).collect::<Vec<_>>().join(",")
}

fn flags(item: &InventoryItem) -> String {
    let mut flags = Vec::new();
    if item.past_cryptoperiod {
        flags.push("past-cryptoperiod");
    }
    if item.review_overdue {
        flags.push("review-overdue");
    }
    if matches!(item.owner_status.as_str(), "none" | "disabled" | "expired") {
        flags.push("no-owner");
    }
    flags.join(",")
}

/// Runs an `inventory` subcommand.
pub fn run(client: &Client, command: InventoryCommand, json_out: bool) -> Result<i32> {
    match command {
        InventoryCommand::List(args) => {
            let page: InventoryPage = client.get_query_as("/v1/inventory", &args.query())?;
            if json_out {
                print_typed(&page)?;
                return Ok(0);
            }
            println!(
                "{:<28}{:<10}{:<10}{:<18}{:<16}{:<34}{:<22}{:<22}FLAGS",
                "NAME", "TENANT", "PURPOSE", "ALGORITHM", "OWNER", "VERSION STATES", "ROTATED", "LAST USED"
            );
            for item in &page.keys {
                let key = &item.key;
                println!(
                    "{:<28}{:<10}{:<10}{:<18}{:<16}{:<34}{:<22}{:<22}{}",
                    key.name,
                    key.tenant,
                    key.purpose,
                    key.algorithm,
                    key.owner,
                    states(item),
                    rfc3339(item.last_rotated_at).chars().take(19).collect::<String>(),
                    item.last_used_at
                        .map_or_else(|| "never".to_owned(), |at| rfc3339(at).chars().take(19).collect()),
                    flags(item)
                );
            }
            let offset = page.offset;
            let shown = if page.keys.is_empty() { 0 } else { offset + 1 };
            let next = match page.next_offset {
                Some(next) => format!("; next page: --offset {next}"),
                None => String::new(),
            };
            println!("keys {shown}–{} of {}{next}", offset + page.keys.len() as u64, page.total);
            Ok(0)
        }
        InventoryCommand::Report { format, out, tenant } => {
            let body = client
                .get_raw_query("/v1/inventory/report", &ReportQuery { format: Some(format), tenant })?;
            crate::output::write_report(&body, out.as_deref())
        }
        InventoryCommand::Anomalies { rule, since, limit } => {
            let anomalies: Vec<Anomaly> =
                client.get_query_as("/v1/anomalies", &AnomalyQuery { rule, since, limit })?;
            if json_out {
                print_typed(&anomalies)?;
                return Ok(0);
            }
            println!("{:<26}{:<24}{:<9}{:<16}SUMMARY", "DETECTED", "RULE", "SEVERITY", "ACTOR");
            for a in &anomalies {
                println!(
                    "{:<26}{:<24}{:<9}{:<16}{}",
                    rfc3339(a.detected_at),
                    a.rule,
                    a.severity,
                    a.actor,
                    a.summary
                );
            }
            Ok(0)
        }
        InventoryCommand::Review { key, attest, tenant } => {
            let review: ReviewRecord = client.post_as(
                &format!("/v1/keys/{}/reviews", seg(&key)),
                &Review { attestation: attest, tenant },
            )?;
            if json_out {
                print_typed(&review)?;
            } else {
                let role = if review.as_owner { "owner" } else { "key custodian" };
                println!("reviewed {key} as {role} {} at {}", review.reviewer, rfc3339(review.reviewed_at));
            }
            Ok(0)
        }
    }
}
