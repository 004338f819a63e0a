//! `inventory list` and `inventory review` (CEK-21): every key and version, tombstones
//! included, filtered and sorted in the database; owners' periodic attestations and the
//! review policy that marks keys overdue.

use std::collections::BTreeMap;

use keystead_core::{Action, AuditAction, KeyState, Tenant};
use keystead_store::inventory::{InventoryFilter, InventoryQuery, InventorySort, ReviewRecord};
use keystead_store::{Change, StoredKey, StoredPrincipal};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::resolve::parse_tenant;
use crate::audit::describe_key;
use crate::error::invalid;
use crate::{Caller, Error, KeyView, Service};

/// Largest attestation text.
const MAX_ATTESTATION: usize = 2_000;

/// `inventory list` parameters, as text from the CLI or REST query.
#[derive(Clone, Debug, Default)]
pub struct InventoryRequest {
    /// Only this tenant.
    pub tenant: Option<String>,
    /// Keys with a version in one of these states (comma-separated).
    pub state: Option<String>,
    /// Only this purpose.
    pub purpose: Option<String>,
    /// Only this algorithm.
    pub algorithm: Option<String>,
    /// Only this owner.
    pub owner: Option<String>,
    /// Only this environment.
    pub environment: Option<String>,
    /// Only this usage context.
    pub usage_context: Option<String>,
    /// Labels `k=v`, comma-separated; all must match.
    pub label: Option<String>,
    /// Created before (RFC 3339).
    pub created_before: Option<String>,
    /// Created at or after (RFC 3339).
    pub created_after: Option<String>,
    /// Newest version created before (RFC 3339).
    pub rotated_before: Option<String>,
    /// Newest version created at or after (RFC 3339).
    pub rotated_after: Option<String>,
    /// Only keys past a cryptoperiod now.
    pub past_cryptoperiod: bool,
    /// Only keys whose owner is empty, disabled or expired.
    pub no_owner: bool,
    /// Only keys not reviewed since (RFC 3339, or a duration such as `90d` meaning that long ago).
    pub not_reviewed_since: Option<String>,
    /// Only keys whose review is overdue under the review policy.
    pub review_overdue: bool,
    /// Only keys used since (RFC 3339, or a duration such as `30d` meaning that long ago).
    pub used_since: Option<String>,
    /// Only keys not used since (RFC 3339 or a duration); never-used keys included.
    pub unused_since: Option<String>,
    /// `name` (default), `created`, `rotated` or `owner`.
    pub sort: Option<String>,
    /// Reverse the order.
    pub descending: bool,
    /// Keys to skip.
    pub offset: Option<u64>,
    /// Keys per page (default 100, at most 10,000).
    pub limit: Option<u32>,
}

/// One key in the inventory.
#[derive(Clone, Debug, Serialize)]
pub struct InventoryItem {
    /// The key and its versions.
    #[serde(flatten)]
    pub key: KeyView,
    /// When its newest version was created.
    #[serde(with = "time::serde::rfc3339")]
    pub last_rotated_at: OffsetDateTime,
    /// When the rotation period makes the next rotation due, if it has one.
    #[serde(with = "time::serde::rfc3339::option")]
    pub rotation_due_at: Option<OffsetDateTime>,
    /// Whether a rotation or an originator-usage period is overdue now.
    pub past_cryptoperiod: bool,
    /// `active`, `disabled`, `expired`, `not-a-principal` (a team or system name) or `none`.
    pub owner_status: &'static str,
    /// The newest review.
    pub last_review: Option<ReviewRecord>,
    /// Its newest successful use (of any version), if any.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// When the next review is due under the review policy.
    #[serde(with = "time::serde::rfc3339")]
    pub review_due_at: OffsetDateTime,
    /// Whether that is past.
    pub review_overdue: bool,
}

/// A page of the inventory.
#[derive(Clone, Debug, Serialize)]
pub struct InventoryView {
    /// Keys matching, over all pages.
    pub total: u64,
    /// Keys skipped before this page.
    pub offset: u64,
    /// The page.
    pub keys: Vec<InventoryItem>,
    /// The offset of the next page, if there is one.
    pub next_offset: Option<u64>,
}

fn time_arg(field: &'static str, text: Option<&str>) -> Result<Option<OffsetDateTime>, Error> {
    text.map(|t| {
        OffsetDateTime::parse(t, &Rfc3339)
            .map_err(|_| invalid(field, "must be an RFC 3339 time such as 2026-11-23T10:00:00Z"))
    })
    .transpose()
}

/// Whether a key is past a cryptoperiod at `now` (the same rule as the store's filter).
pub(crate) fn past_cryptoperiod(stored: &StoredKey, now: OffsetDateTime) -> bool {
    let attributes = &stored.attributes;
    let active = |v: &&keystead_store::StoredVersion| v.info.state == KeyState::Active;
    let newest = stored.versions.iter().map(|v| v.info.created_at).max();
    let rotation_overdue = match (attributes.rotation_period_seconds, newest) {
        (Some(period), Some(newest)) => {
            newest + time::Duration::seconds(period) <= now && stored.versions.iter().any(|v| active(&v))
        }
        _ => false,
    };
    let protect_overdue = attributes.protect_period_seconds.is_some_and(|period| {
        stored
            .versions
            .iter()
            .filter(active)
            .any(|v| v.info.activated_at.is_some_and(|at| at + time::Duration::seconds(period) <= now))
    });
    rotation_overdue || protect_overdue
}

/// The owner's standing: a key whose owner left (disabled, expired) has no owner.
pub(crate) fn owner_status(
    owner: &str,
    principals: &BTreeMap<String, StoredPrincipal>,
    now: OffsetDateTime,
) -> &'static str {
    if owner.is_empty() {
        return "none";
    }
    match principals.get(owner) {
        None => "not-a-principal",
        Some(p) if p.disabled => "disabled",
        Some(p) if p.expires_at.is_some_and(|at| at <= now) => "expired",
        Some(_) => "active",
    }
}

impl Service {
    /// The review policy's due date for a key.
    pub(crate) fn review_due_at(&self, stored: &StoredKey, last: Option<&ReviewRecord>) -> OffsetDateTime {
        let since = last.map_or(stored.attributes.created_at, |r| r.reviewed_at);
        since + time::Duration::seconds(self.config.review_interval_seconds)
    }

    /// One page of the inventory: every key with its versions (tombstones included),
    /// cryptoperiod, owner and review standing.
    pub async fn inventory_list(
        &self,
        caller: &Caller,
        request: InventoryRequest,
    ) -> Result<InventoryView, Error> {
        self.guard(caller, AuditAction::InventoryRead, Action::ReadKeys).await?;
        let now = self.now();
        let requested = parse_tenant(request.tenant.as_deref())?;
        let tenant = match caller.listing_scope(requested.as_ref()) {
            Ok(tenant) => tenant,
            Err(err) => {
                let own = caller.tenant.clone().unwrap_or_else(Tenant::default_tenant);
                return Err(self.refuse(self.attempt(caller, AuditAction::InventoryRead, &own), err).await);
            }
        };
        let states = request
            .state
            .as_deref()
            .map(|s| s.split(',').map(|s| s.trim().parse::<KeyState>()).collect::<Result<Vec<_>, _>>())
            .transpose()?
            .unwrap_or_default();
        let labels = keystead_core::key::parse_pairs(
            "label",
            request.label.as_deref().unwrap_or_default().split(','),
        )?;
        let not_reviewed_since = since_arg("not-reviewed-since", request.not_reviewed_since.as_deref(), now)?;
        let used_since = since_arg("used-since", request.used_since.as_deref(), now)?;
        let unused_since = since_arg("unused-since", request.unused_since.as_deref(), now)?;
        let review_cutoff = now - time::Duration::seconds(self.config.review_interval_seconds);
        let mut filter = InventoryFilter {
            tenant,
            states,
            purpose: request.purpose.as_deref().map(str::parse).transpose()?,
            algorithm: request.algorithm.as_deref().map(str::parse).transpose()?,
            owner: request.owner,
            environment: request.environment.as_deref().map(str::parse).transpose()?,
            usage_context: request
                .usage_context
                .as_deref()
                .map(keystead_core::UsageContext::new)
                .transpose()?,
            labels,
            created_before: time_arg("created-before", request.created_before.as_deref())?,
            created_after: time_arg("created-after", request.created_after.as_deref())?,
            rotated_before: time_arg("rotated-before", request.rotated_before.as_deref())?,
            rotated_after: time_arg("rotated-after", request.rotated_after.as_deref())?,
            past_cryptoperiod_at: request.past_cryptoperiod.then_some(now),
            no_owner_at: request.no_owner.then_some(now),
            not_reviewed_since,
            used_since,
            unused_since,
        };
        if request.review_overdue {
            // Overdue: created before the cutoff and not reviewed since it.
            filter.created_before =
                Some(filter.created_before.map_or(review_cutoff, |t| t.min(review_cutoff)));
            // Both must hold: no review since either time, i.e. none since the earlier one.
            filter.not_reviewed_since =
                Some(filter.not_reviewed_since.map_or(review_cutoff, |t| t.min(review_cutoff)));
        }
        let sort = match request.sort.as_deref().unwrap_or("name") {
            "name" => InventorySort::Name,
            "created" => InventorySort::Created,
            "rotated" => InventorySort::Rotated,
            "owner" => InventorySort::Owner,
            _ => return Err(invalid("sort", "must be name, created, rotated or owner")),
        };
        let offset = request.offset.unwrap_or(0);
        let limit = request.limit.unwrap_or(100).clamp(1, 10_000);
        let query = InventoryQuery { filter, sort, descending: request.descending, offset, limit };
        let page = self.store.inventory(&query).await?;
        let principals: BTreeMap<String, StoredPrincipal> =
            self.store.principals().await?.into_iter().map(|p| (p.name.clone(), p)).collect();
        let keys: Vec<InventoryItem> = page
            .entries
            .into_iter()
            .map(|entry| {
                let mut item = self.inventory_item(entry.key, entry.last_review, &principals, now);
                item.last_used_at = entry.last_used_at;
                item
            })
            .collect();
        let next = offset + keys.len() as u64;
        Ok(InventoryView {
            total: page.total,
            offset,
            next_offset: (next < page.total).then_some(next),
            keys,
        })
    }

    pub(crate) fn inventory_item(
        &self,
        stored: StoredKey,
        last_review: Option<ReviewRecord>,
        principals: &BTreeMap<String, StoredPrincipal>,
        now: OffsetDateTime,
    ) -> InventoryItem {
        let last_rotated_at =
            stored.versions.iter().map(|v| v.info.created_at).max().unwrap_or(stored.attributes.created_at);
        let rotation_due_at =
            stored.attributes.rotation_period_seconds.map(|p| last_rotated_at + time::Duration::seconds(p));
        let review_due_at = self.review_due_at(&stored, last_review.as_ref());
        InventoryItem {
            past_cryptoperiod: past_cryptoperiod(&stored, now),
            owner_status: owner_status(&stored.attributes.owner, principals, now),
            review_overdue: review_due_at <= now,
            review_due_at,
            last_rotated_at,
            rotation_due_at,
            last_review,
            last_used_at: None,
            key: KeyView::from(&stored),
        }
    }

    /// Records a review: the key's owner (or a key custodian) attests that the key is still
    /// needed and correctly described. Resets the review clock.
    pub async fn review_key(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        attestation: &str,
    ) -> Result<ReviewRecord, Error> {
        let (tenant, mut event) = self.attempt_in_tenant(caller, tenant, AuditAction::KeyReview).await?;
        event.key_name = Some(key.to_owned());
        let result = self.review_checked(caller, &tenant, key, attestation, &mut event).await;
        self.finish(event, result).await
    }

    async fn review_checked(
        &self,
        caller: &Caller,
        tenant: &Tenant,
        key: &str,
        attestation: &str,
        event: &mut keystead_core::AuditEvent,
    ) -> Result<ReviewRecord, Error> {
        self.authorize(caller, Action::ReadKeys, None)?;
        let stored = self.stored_key(tenant, key).await?;
        describe_key(event, &stored.attributes);
        let as_owner = caller.principal == stored.attributes.owner && !caller.root;
        if !as_owner {
            self.authorize(caller, Action::ReviewKey, Some(&stored.attributes)).map_err(|_| {
                Error::PermissionDenied {
                    reason: format!(
                        "only the key's owner ({}) or a key custodian may review key {key}",
                        stored.attributes.owner
                    ),
                }
            })?;
        }
        let attestation = attestation.trim();
        if attestation.is_empty()
            || attestation.chars().count() > MAX_ATTESTATION
            || attestation.chars().any(|c| c.is_control() && c != '\n')
        {
            return Err(invalid("attest", "must be 1 to 2000 printable characters saying what you checked"));
        }
        let review = ReviewRecord {
            key_id: stored.attributes.id,
            reviewed_at: self.now(),
            reviewer: caller.principal.clone(),
            as_owner,
            attestation: attestation.to_owned(),
        };
        event.details.insert("as_owner".into(), as_owner.to_string());
        event.details.insert("attestation".into(), review.attestation.clone());
        self.store.commit(Change::RecordReview(review.clone()), event.clone()).await?;
        Ok(review)
    }
}

/// A time filter given as RFC 3339 or as a duration (`90d`: that long before `now`).
fn since_arg(
    name: &'static str,
    text: Option<&str>,
    now: OffsetDateTime,
) -> Result<Option<OffsetDateTime>, Error> {
    match text {
        None => Ok(None),
        Some(text) if text.ends_with(['s', 'm', 'h', 'd']) && !text.contains('T') => {
            Ok(Some(now - time::Duration::seconds(keystead_core::key::parse_duration_seconds(text)?)))
        }
        Some(text) => time_arg(name, Some(text)),
    }
}
