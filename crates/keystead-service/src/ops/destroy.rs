//! `key destroy`: a quorum-approved, scheduled destruction. The request names the versions
//! and the waiting period; the approval that completes the quorum schedules it; until it
//! runs, `key destroy --cancel` calls it off. When it runs the sealed material is deleted and
//! every other attribute and the whole history stay (a tombstone).

use std::collections::BTreeMap;

use keystead_core::approval::ApprovalOperation;
use keystead_core::key::parse_duration_seconds;
use keystead_core::{Action, AuditAction, KeyState, VersionNumber};
use keystead_store::{ApprovalFilter, ApprovalRecord, Change, StoredKey, VersionUpdate};

use super::approvals::{ApprovalView, NewRequest};
use super::lifecycle::{moved, target_state};
use crate::error::invalid;
use crate::{Caller, Error, KeyView, Service};

/// States a version can be destroyed from (a pending-import version holds no material, but its
/// key is retired for good by destroying it, as AWS deletes a key pending import).
const DESTROYABLE: &[KeyState] =
    &[KeyState::PreActive, KeyState::Deactivated, KeyState::Compromised, KeyState::PendingImport];

/// Whether a version is not destroyed yet: it holds material, or waits for imported material.
fn not_destroyed(state: KeyState) -> bool {
    state.has_material() || state == KeyState::PendingImport
}

/// The waiting period when the request names none.
const DEFAULT_WAIT: &str = "7d";

/// A destruction request.
#[derive(Clone, Debug, Default)]
pub struct DestroyRequest {
    /// One version, or every version that still has material.
    pub version: Option<u32>,
    /// The waiting period after approval, such as `7d`.
    pub after: Option<String>,
    /// Why.
    pub justification: Option<String>,
    /// How long the request stays open for approvals.
    pub expires_in: Option<String>,
}

impl Service {
    /// Asks for the destruction of versions; it runs once approved and after the wait.
    pub async fn request_destruction(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        request: DestroyRequest,
    ) -> Result<ApprovalView, Error> {
        let requester = caller.clone();
        self.managed(caller, tenant, key, AuditAction::KeyDestroyRequest, Action::ManageKeyLifecycle, move |service, stored, event| {
            Box::pin(async move {
                let after_text = request.after.as_deref().unwrap_or(DEFAULT_WAIT);
                let after = parse_duration_seconds(after_text)?;
                if after < service.config.minimum_destroy_wait_seconds {
                    return Err(invalid(
                        "after",
                        format!(
                            "the waiting period must be at least {} seconds in {}",
                            service.config.minimum_destroy_wait_seconds, service.config.environment
                        ),
                    ));
                }
                let targets = destroyable(&stored, request.version)?;
                let pending = service
                    .store
                    .approvals(&ApprovalFilter {
                        status: Some(keystead_core::approval::ApprovalStatus::Pending),
                        key_id: Some(stored.attributes.id),
                        operation: Some(ApprovalOperation::DestroyKey),
                        requester: None,
                        expires_before: None,
                    })
                    .await?;
                if let Some(open) = pending.iter().find(|r| service.now() < r.expires_at) {
                    return Err(invalid(
                        "key",
                        format!("destruction request {} for this key is still pending; approve or reject it first", open.id),
                    ));
                }
                let versions: Vec<String> = targets.iter().map(|n| n.to_string()).collect();
                let parameters = BTreeMap::from([
                    ("after_seconds".to_owned(), after.to_string()),
                    ("versions".to_owned(), versions.join(",")),
                ]);
                let new = NewRequest {
                    operation: ApprovalOperation::DestroyKey,
                    version: request.version,
                    parameters,
                    justification: request.justification.unwrap_or_else(|| "no justification given".into()),
                    expires_in: request.expires_in,
                };
                service.create_request(&requester, (&stored).into(), new, event).await
            })
        })
        .await
    }

    /// The id of an undecided destruction request for `key`, if there is one: what an adapter
    /// checks before it changes anything on the way to a new request (AWS ScheduleKeyDeletion).
    pub async fn pending_destruction(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
    ) -> Result<Option<String>, Error> {
        self.guard(caller, AuditAction::ApprovalRead, Action::ManageKeyLifecycle).await?;
        let tenant = caller.resolve_tenant(super::resolve::parse_tenant(tenant)?.as_ref())?;
        let stored = self.stored_key(&tenant, key).await?;
        let pending = self
            .store
            .approvals(&ApprovalFilter {
                status: Some(keystead_core::approval::ApprovalStatus::Pending),
                key_id: Some(stored.attributes.id),
                operation: Some(ApprovalOperation::DestroyKey),
                ..ApprovalFilter::default()
            })
            .await?;
        Ok(pending.into_iter().find(|r| self.now() < r.expires_at).map(|r| r.id))
    }

    /// Calls off scheduled destructions that have not run yet.
    pub async fn cancel_destruction(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        version: Option<u32>,
    ) -> Result<KeyView, Error> {
        self.managed(
            caller,
            tenant,
            key,
            AuditAction::KeyDestroyCancel,
            Action::ManageKeyLifecycle,
            move |service, stored, event| {
                Box::pin(async move {
                    let scheduled: Vec<_> = stored
                        .versions
                        .iter()
                        .filter(|v| {
                            v.info.destroy_at.is_some() && version.is_none_or(|n| v.info.number.get() == n)
                        })
                        .collect();
                    if scheduled.is_empty() {
                        return Err(invalid("key", "no destruction is scheduled for this key or version"));
                    }
                    let updates = scheduled
                        .iter()
                        .map(|v| {
                            let mut info = v.info.clone();
                            info.destroy_at = None;
                            VersionUpdate::of(&v.info, info)
                        })
                        .collect();
                    service.commit_versions(stored.clone(), updates, event, "key.state_changed").await
                })
            },
        )
        .await
    }

    /// The changes of an approved destruction request: each version still destroyable gets
    /// its destruction time.
    pub(crate) async fn schedule_destruction(
        &self,
        record: &ApprovalRecord,
        event: &mut keystead_core::AuditEvent,
    ) -> Result<Vec<Change>, Error> {
        let not_found = || Error::KeyNotFound { tenant: record.tenant.clone(), key: record.key_name.clone() };
        let key_id = record.key_id.ok_or_else(not_found)?;
        let stored = self.store.key_by_id(key_id).await?.ok_or_else(not_found)?;
        let after: i64 =
            record.parameters.get("after_seconds").and_then(|s| s.parse().ok()).unwrap_or(7 * 86_400);
        let wanted: Vec<u32> = record
            .parameters
            .get("versions")
            .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
            .unwrap_or_default();
        let destroy_at = self.now() + time::Duration::seconds(after);
        let updates: Vec<VersionUpdate> = stored
            .versions
            .iter()
            // A version already scheduled (by another approved request) keeps its schedule.
            .filter(|v| wanted.contains(&v.info.number.get()) && DESTROYABLE.contains(&v.info.state))
            .filter(|v| v.info.destroy_at.is_none())
            .map(|v| {
                let mut info = v.info.clone();
                info.destroy_at = Some(destroy_at);
                VersionUpdate::of(&v.info, info)
            })
            .collect();
        let scheduled: Vec<String> = updates.iter().map(|u| u.info.number.to_string()).collect();
        event.details.insert("destroy_at".into(), crate::views::rfc3339(destroy_at));
        event.details.insert("scheduled_versions".into(), scheduled.join(","));
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![Change::UpdateVersions { key_id: stored.attributes.id, updates, at: self.now() }])
    }

    /// Runs the destructions of `stored` that are due: material deleted, state destroyed (or
    /// destroyed-compromised), everything else kept.
    pub(crate) async fn destroy_due(&self, stored: &StoredKey) -> Result<(), Error> {
        let now = self.now();
        let due: Vec<VersionUpdate> = stored
            .versions
            .iter()
            .filter(|v| v.info.destroy_at.is_some_and(|at| at <= now) && not_destroyed(v.info.state))
            .filter(|v| DESTROYABLE.contains(&v.info.state))
            .map(|v| {
                let info = moved(&v.info, target_state(v.info.state, KeyState::Destroyed), now);
                VersionUpdate::of(&v.info, info).destroying_material()
            })
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let caller = Caller::system("scheduler");
        let mut event = self.attempt(&caller, AuditAction::KeyDestroy, &stored.attributes.tenant);
        crate::audit::describe_key(&mut event, &stored.attributes);
        let result = self.commit_versions(stored.clone(), due, &mut event, "key.destroyed").await;
        self.cache.invalidate(stored.attributes.id);
        result.map(|_| ())
    }
}

/// The versions a destruction request covers; each must be destroyable now.
fn destroyable(stored: &StoredKey, version: Option<u32>) -> Result<Vec<VersionNumber>, Error> {
    let name = stored.attributes.name.to_string();
    let live: Vec<_> = match version {
        Some(number) => {
            let number = VersionNumber::new(number)?;
            vec![stored
                .version(number)
                .ok_or_else(|| Error::VersionNotFound { key: name.clone(), version: number.get() })?]
        }
        None => stored.versions.iter().filter(|v| not_destroyed(v.info.state)).collect(),
    };
    if live.is_empty() {
        return Err(invalid("key", "every version is destroyed already"));
    }
    for v in &live {
        if matches!(v.info.state, KeyState::Active | KeyState::Suspended) {
            return Err(Error::NotDestroyable {
                key: name,
                version: v.info.number.get(),
                state: v.info.state,
            });
        }
        if !DESTROYABLE.contains(&v.info.state) {
            return Err(keystead_core::Error::InvalidTransition {
                key: name,
                version: v.info.number.get(),
                from: v.info.state,
                to: KeyState::Destroyed,
            }
            .into());
        }
        if v.info.destroy_at.is_some() {
            return Err(invalid(
                "version",
                format!("version {} is already scheduled for destruction", v.info.number),
            ));
        }
    }
    Ok(live.iter().map(|v| v.info.number).collect())
}
