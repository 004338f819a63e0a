//! `inventory report` (CEK-21): totals by state, purpose, algorithm, environment and owner;
//! versions near or past their cryptoperiod; rotations due; compromised and destroyed keys;
//! keys with no owner or an overdue review. JSON, CSV (one row per version) or one
//! self-contained HTML file with inline SVG charts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use keystead_core::{AuditAction, KeyState};
use keystead_store::inventory::{InventoryFilter, InventoryQuery, ReviewRecord};
use keystead_store::{Change, StoredKey, StoredPrincipal, StoredVersion};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::render::{bar_chart, csv_line, html, page, state_colour, table, BAR_COLOUR};
use crate::ops::inventory::owner_status;
use crate::{Caller, Error, Service};

/// A version whose cryptoperiod ends within this many days is "near" it.
pub const NEAR_DAYS: i64 = 30;
/// Keys read per page while building a report.
const PAGE: u32 = 5_000;

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// One key version in a report.
#[derive(Clone, Debug, Serialize)]
pub struct ReportRow {
    /// Tenant.
    pub tenant: String,
    /// Key name.
    pub key: String,
    /// Key id.
    pub key_id: String,
    /// Version number.
    pub version: u32,
    /// Version state.
    pub state: String,
    /// Purpose.
    pub purpose: String,
    /// Algorithm.
    pub algorithm: String,
    /// Environment.
    pub environment: String,
    /// Usage context.
    pub usage_context: String,
    /// Owner.
    pub owner: String,
    /// `active`, `disabled`, `expired`, `not-a-principal` or `none`.
    pub owner_status: String,
    /// Classification.
    pub classification: String,
    /// Criticality.
    pub criticality: String,
    /// When the version was created.
    pub created_at: String,
    /// When it was activated.
    pub activated_at: String,
    /// When its cryptoperiod ends (rotation due for the newest version, or the end of its
    /// originator-usage period), if it has one and is active.
    pub cryptoperiod_ends_at: String,
    /// The compromise report's incident.
    pub incident: String,
    /// When the compromise happened.
    pub compromised_at: String,
    /// When its material was destroyed.
    pub destroyed_at: String,
    /// The key's newest review.
    pub last_review_at: String,
    /// Whether the key's review is overdue.
    pub review_overdue: bool,
}

/// Totals of a report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Totals {
    /// Keys.
    pub keys: u64,
    /// Versions.
    pub versions: u64,
    /// Versions by state.
    pub versions_by_state: BTreeMap<String, u64>,
    /// Keys by purpose.
    pub keys_by_purpose: BTreeMap<String, u64>,
    /// Keys by algorithm.
    pub keys_by_algorithm: BTreeMap<String, u64>,
    /// Keys by environment.
    pub keys_by_environment: BTreeMap<String, u64>,
    /// Keys by owner.
    pub keys_by_owner: BTreeMap<String, u64>,
    /// Keys by usage context.
    pub keys_by_usage_context: BTreeMap<String, u64>,
}

/// The inventory report.
#[derive(Clone, Debug, Serialize)]
pub struct InventoryReport {
    /// When it was made.
    pub generated_at: String,
    /// The node that made it.
    pub node: String,
    /// The environment it covers.
    pub environment: String,
    /// `all tenants` or the tenant.
    pub scope: String,
    /// The review policy.
    pub review_interval_days: i64,
    /// The totals.
    pub totals: Totals,
    /// Active versions whose cryptoperiod ends within 30 days.
    pub near_cryptoperiod: Vec<ReportRow>,
    /// Active versions past their cryptoperiod.
    pub past_cryptoperiod: Vec<ReportRow>,
    /// Keys whose next rotation is due within 30 days or overdue (their newest version).
    pub rotations_due: Vec<ReportRow>,
    /// Compromised versions (destroyed ones included).
    pub compromised: Vec<ReportRow>,
    /// Destroyed versions (tombstones).
    pub destroyed: Vec<ReportRow>,
    /// Keys with no owner (empty, disabled or expired), by their newest version.
    pub no_owner: Vec<ReportRow>,
    /// Keys whose review is overdue, by their newest version.
    pub review_overdue: Vec<ReportRow>,
    /// Every version.
    pub versions: Vec<ReportRow>,
}

/// When a version's cryptoperiod ends, if it is active and has one.
fn cryptoperiod_end(stored: &StoredKey, version: &StoredVersion) -> Option<OffsetDateTime> {
    if version.info.state != KeyState::Active {
        return None;
    }
    let attributes = &stored.attributes;
    let newest = stored.versions.iter().map(|v| v.info.number).max() == Some(version.info.number);
    let rotation = attributes
        .rotation_period_seconds
        .filter(|_| newest)
        .map(|p| version.info.created_at + time::Duration::seconds(p));
    let protect = attributes
        .protect_period_seconds
        .zip(version.info.activated_at)
        .map(|(p, at)| at + time::Duration::seconds(p));
    match (rotation, protect) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Service {
    /// Builds the inventory report over every key the caller may read, and audits it.
    pub async fn inventory_report(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        format: &str,
    ) -> Result<InventoryReport, Error> {
        let requested = tenant;
        let (_, mut event) = self.attempt_in_tenant(caller, requested, AuditAction::InventoryRead).await?;
        let result = async {
            self.authorize(caller, keystead_core::Action::ReadKeys, None)?;
            let requested = crate::ops::resolve::parse_tenant(requested)?;
            let tenant = caller.listing_scope(requested.as_ref())?;
            self.build_inventory_report(InventoryFilter { tenant, ..InventoryFilter::default() }).await
        }
        .await;
        event.details.insert("report".into(), "inventory".into());
        event.details.insert("format".into(), format.chars().take(8).collect());
        let report = self.finish(event.clone(), result).await?;
        self.store.commit(Change::AuditOnly, event).await?;
        Ok(report)
    }

    pub(crate) async fn build_inventory_report(
        &self,
        filter: InventoryFilter,
    ) -> Result<InventoryReport, Error> {
        let now = self.now();
        let principals: BTreeMap<String, StoredPrincipal> =
            self.store.principals().await?.into_iter().map(|p| (p.name.clone(), p)).collect();
        let scope = filter.tenant.as_ref().map_or("all tenants".to_owned(), |t| format!("tenant {t}"));
        let mut report = InventoryReport {
            generated_at: rfc3339(now),
            node: self.config.node.to_string(),
            environment: self.config.environment.to_string(),
            scope,
            review_interval_days: self.config.review_interval_seconds / 86_400,
            totals: Totals::default(),
            near_cryptoperiod: Vec::new(),
            past_cryptoperiod: Vec::new(),
            rotations_due: Vec::new(),
            compromised: Vec::new(),
            destroyed: Vec::new(),
            no_owner: Vec::new(),
            review_overdue: Vec::new(),
            versions: Vec::new(),
        };
        let mut offset = 0;
        loop {
            let query =
                InventoryQuery { filter: filter.clone(), offset, limit: PAGE, ..InventoryQuery::default() };
            let page = self.store.inventory(&query).await?;
            let read = page.entries.len();
            for entry in page.entries {
                self.add_key(&mut report, &entry.key, entry.last_review.as_ref(), &principals, now);
            }
            offset += read as u64;
            if read < PAGE as usize {
                break;
            }
        }
        Ok(report)
    }

    fn add_key(
        &self,
        report: &mut InventoryReport,
        stored: &StoredKey,
        last_review: Option<&ReviewRecord>,
        principals: &BTreeMap<String, StoredPrincipal>,
        now: OffsetDateTime,
    ) {
        let attributes = &stored.attributes;
        let totals = &mut report.totals;
        totals.keys += 1;
        for (map, value) in [
            (&mut totals.keys_by_purpose, attributes.purpose.to_string()),
            (&mut totals.keys_by_algorithm, attributes.algorithm.to_string()),
            (&mut totals.keys_by_environment, attributes.environment.to_string()),
            (&mut totals.keys_by_owner, attributes.owner.clone()),
            (&mut totals.keys_by_usage_context, attributes.usage_context.to_string()),
        ] {
            *map.entry(value).or_default() += 1;
        }
        let owner_status = owner_status(&attributes.owner, principals, now);
        let review_overdue = self.review_due_at(stored, last_review) <= now;
        let row = |version: &StoredVersion| {
            let info = &version.info;
            ReportRow {
                tenant: attributes.tenant.to_string(),
                key: attributes.name.to_string(),
                key_id: attributes.id.to_string(),
                version: info.number.get(),
                state: info.state.to_string(),
                purpose: attributes.purpose.to_string(),
                algorithm: attributes.algorithm.to_string(),
                environment: attributes.environment.to_string(),
                usage_context: attributes.usage_context.to_string(),
                owner: attributes.owner.clone(),
                owner_status: owner_status.to_owned(),
                classification: attributes.classification.to_string(),
                criticality: attributes.criticality.to_string(),
                created_at: rfc3339(info.created_at),
                activated_at: info.activated_at.map(rfc3339).unwrap_or_default(),
                cryptoperiod_ends_at: cryptoperiod_end(stored, version).map(rfc3339).unwrap_or_default(),
                incident: info.compromise.as_ref().map(|c| c.incident.clone()).unwrap_or_default(),
                compromised_at: info.compromise.as_ref().map(|c| rfc3339(c.occurred_at)).unwrap_or_default(),
                destroyed_at: info.destroyed_at.map(rfc3339).unwrap_or_default(),
                last_review_at: last_review.map(|r| rfc3339(r.reviewed_at)).unwrap_or_default(),
                review_overdue,
            }
        };
        for version in &stored.versions {
            report.totals.versions += 1;
            *report.totals.versions_by_state.entry(version.info.state.to_string()).or_default() += 1;
            let this = row(version);
            if let Some(end) = cryptoperiod_end(stored, version) {
                if end <= now {
                    report.past_cryptoperiod.push(this.clone());
                } else if end <= now + time::Duration::days(NEAR_DAYS) {
                    report.near_cryptoperiod.push(this.clone());
                }
            }
            if matches!(version.info.state, KeyState::Compromised | KeyState::DestroyedCompromised) {
                report.compromised.push(this.clone());
            }
            if matches!(version.info.state, KeyState::Destroyed | KeyState::DestroyedCompromised) {
                report.destroyed.push(this.clone());
            }
            report.versions.push(this);
        }
        let Some(newest) = stored.versions.last() else { return };
        let newest_row = row(newest);
        let has_active = stored.versions.iter().any(|v| v.info.state == KeyState::Active);
        if let Some(period) = attributes.rotation_period_seconds.filter(|_| has_active) {
            if newest.info.created_at + time::Duration::seconds(period)
                <= now + time::Duration::days(NEAR_DAYS)
            {
                report.rotations_due.push(newest_row.clone());
            }
        }
        if matches!(owner_status, "none" | "disabled" | "expired") {
            report.no_owner.push(newest_row.clone());
        }
        if review_overdue {
            report.review_overdue.push(newest_row);
        }
    }
}

/// The CSV columns, in order.
const COLUMNS: &[&str] = &[
    "tenant",
    "key",
    "key_id",
    "version",
    "state",
    "purpose",
    "algorithm",
    "environment",
    "usage_context",
    "owner",
    "owner_status",
    "classification",
    "criticality",
    "created_at",
    "activated_at",
    "cryptoperiod_ends_at",
    "incident",
    "compromised_at",
    "destroyed_at",
    "last_review_at",
    "review_overdue",
];

fn cells(row: &ReportRow) -> Vec<String> {
    vec![
        row.tenant.clone(),
        row.key.clone(),
        row.key_id.clone(),
        row.version.to_string(),
        row.state.clone(),
        row.purpose.clone(),
        row.algorithm.clone(),
        row.environment.clone(),
        row.usage_context.clone(),
        row.owner.clone(),
        row.owner_status.clone(),
        row.classification.clone(),
        row.criticality.clone(),
        row.created_at.clone(),
        row.activated_at.clone(),
        row.cryptoperiod_ends_at.clone(),
        row.incident.clone(),
        row.compromised_at.clone(),
        row.destroyed_at.clone(),
        row.last_review_at.clone(),
        row.review_overdue.to_string(),
    ]
}

impl InventoryReport {
    /// One row per version, with a header.
    pub fn to_csv(&self) -> String {
        let mut out = csv_line(COLUMNS.iter().copied());
        for row in &self.versions {
            out.push_str(&csv_line(cells(row).iter().map(String::as_str)));
        }
        out
    }

    /// One self-contained HTML page with inline SVG charts.
    pub fn to_html(&self) -> String {
        let t = &self.totals;
        let sorted = |map: &BTreeMap<String, u64>, top: usize| {
            let mut bars: Vec<(String, u64)> = map.iter().map(|(k, v)| (k.clone(), *v)).collect();
            bars.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            bars.truncate(top);
            bars
        };
        let plain = |_: &str| BAR_COLOUR;
        let mut body = format!(
            "<h1>Keystead key inventory</h1><p class=\"meta\">{scope} · environment {env} · node {node} · generated {at} · review policy every {days} days</p>",
            scope = html(&self.scope),
            env = html(&self.environment),
            node = html(&self.node),
            at = html(&self.generated_at),
            days = self.review_interval_days
        );
        body.push_str("<div class=\"cards\">");
        for (label, value, alert) in [
            ("keys", t.keys, false),
            ("versions", t.versions, false),
            ("compromised versions", self.compromised.len() as u64, !self.compromised.is_empty()),
            ("past cryptoperiod", self.past_cryptoperiod.len() as u64, !self.past_cryptoperiod.is_empty()),
            ("rotations due (30 d)", self.rotations_due.len() as u64, false),
            ("no owner", self.no_owner.len() as u64, !self.no_owner.is_empty()),
            ("review overdue", self.review_overdue.len() as u64, !self.review_overdue.is_empty()),
            ("destroyed versions", self.destroyed.len() as u64, false),
        ] {
            let class = if alert { "card alert" } else { "card" };
            let _ = write!(body, "<div class=\"{class}\"><b>{value}</b>{}</div>", html(label));
        }
        body.push_str("</div><h2>Totals</h2><div class=\"charts\">");
        body.push_str(&bar_chart("Versions by state", &sorted(&t.versions_by_state, 10), &state_colour));
        body.push_str(&bar_chart("Keys by purpose", &sorted(&t.keys_by_purpose, 10), &plain));
        body.push_str(&bar_chart("Keys by algorithm", &sorted(&t.keys_by_algorithm, 16), &plain));
        body.push_str(&bar_chart("Keys by environment", &sorted(&t.keys_by_environment, 4), &plain));
        body.push_str(&bar_chart("Keys by owner (top 10)", &sorted(&t.keys_by_owner, 10), &plain));
        body.push_str("</div>");
        let headers = ["tenant", "key", "version", "state", "owner", "ends / happened", "detail"];
        let section = |body: &mut String,
                       title: &str,
                       rows: &[ReportRow],
                       when: &dyn Fn(&ReportRow) -> String,
                       detail: &dyn Fn(&ReportRow) -> String| {
            let _ = write!(body, "<h2>{} ({})</h2>", html(title), rows.len());
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.tenant.clone(),
                        r.key.clone(),
                        r.version.to_string(),
                        r.state.clone(),
                        r.owner.clone(),
                        when(r),
                        detail(r),
                    ]
                })
                .collect();
            body.push_str(&table(&headers, &cells, 200));
        };
        let ends = |r: &ReportRow| r.cryptoperiod_ends_at.clone();
        let none = |_: &ReportRow| String::new();
        section(&mut body, "Past their cryptoperiod", &self.past_cryptoperiod, &ends, &|r| {
            r.algorithm.clone()
        });
        section(&mut body, "Near their cryptoperiod (30 days)", &self.near_cryptoperiod, &ends, &|r| {
            r.algorithm.clone()
        });
        section(
            &mut body,
            "Rotations due (30 days or overdue)",
            &self.rotations_due,
            &|r| r.created_at.clone(),
            &|_| "newest version created".into(),
        );
        section(&mut body, "Compromised", &self.compromised, &|r| r.compromised_at.clone(), &|r| {
            format!("incident {}", r.incident)
        });
        section(&mut body, "Destroyed (tombstones)", &self.destroyed, &|r| r.destroyed_at.clone(), &none);
        section(&mut body, "No owner", &self.no_owner, &none, &|r| format!("owner {}", r.owner_status));
        section(&mut body, "Review overdue", &self.review_overdue, &|r| r.last_review_at.clone(), &|r| {
            if r.last_review_at.is_empty() {
                "never reviewed".into()
            } else {
                "last review".into()
            }
        });
        page("Keystead key inventory", &body)
    }
}
