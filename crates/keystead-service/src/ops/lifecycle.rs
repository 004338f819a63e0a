//! `key rotate`, `activate`, `suspend`, `resume`, `deactivate`, and the frame every key
//! management operation runs in. Compromise and destruction are in `compromise.rs` and
//! `destroy.rs`.

use keystead_core::key::VersionInfo;
use keystead_core::{Action, AuditAction, AuditEvent, KeyState, VersionNumber};
use keystead_store::{Change, StoredKey, StoredVersion, VersionUpdate};
use time::OffsetDateTime;

use crate::audit::describe_key;
use crate::{Caller, Error, KeyView, Service};

/// The boxed future a management change returns.
pub(crate) type ChangeFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, Error>> + Send + 'a>>;

impl Service {
    /// Generates a new version, which becomes primary. Older versions keep their state, so data
    /// they protected still decrypts.
    pub async fn rotate_key(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
    ) -> Result<KeyView, Error> {
        self.managed(
            caller,
            tenant,
            key,
            AuditAction::KeyRotate,
            Action::ManageKeyLifecycle,
            |service, stored, event| Box::pin(service.rotate_checked(stored, event)),
        )
        .await
    }

    /// Moves pre-active versions (one, or all without `version`) to active.
    pub async fn activate_key(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        version: Option<u32>,
    ) -> Result<KeyView, Error> {
        self.simple_transition(
            caller,
            tenant,
            key,
            version,
            AuditAction::KeyActivate,
            &[KeyState::PreActive],
            KeyState::Active,
        )
        .await
    }

    /// Suspends active versions: they stop protecting, and process only data protected
    /// before the suspension.
    pub async fn suspend_key(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        version: Option<u32>,
    ) -> Result<KeyView, Error> {
        self.simple_transition(
            caller,
            tenant,
            key,
            version,
            AuditAction::KeySuspend,
            &[KeyState::Active],
            KeyState::Suspended,
        )
        .await
    }

    /// Resumes suspended versions: they are active again.
    pub async fn resume_key(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        version: Option<u32>,
    ) -> Result<KeyView, Error> {
        self.simple_transition(
            caller,
            tenant,
            key,
            version,
            AuditAction::KeyResume,
            &[KeyState::Suspended],
            KeyState::Active,
        )
        .await
    }

    /// Deactivates active or suspended versions (one, or all without `version`): they then only
    /// process existing data.
    pub async fn deactivate_key(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        version: Option<u32>,
    ) -> Result<KeyView, Error> {
        self.simple_transition(
            caller,
            tenant,
            key,
            version,
            AuditAction::KeyDeactivate,
            &[KeyState::Active, KeyState::Suspended],
            KeyState::Deactivated,
        )
        .await
    }

    #[allow(clippy::too_many_arguments, reason = "one call per lifecycle command, all named")]
    async fn simple_transition(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        version: Option<u32>,
        action: AuditAction,
        from: &'static [KeyState],
        to: KeyState,
    ) -> Result<KeyView, Error> {
        self.managed(
            caller,
            tenant,
            key,
            action,
            Action::ManageKeyLifecycle,
            move |service, stored, event| {
                Box::pin(async move {
                    let targets = select_versions(&stored, version, from, to)?;
                    // A version waiting for its approved destruction is not put back into use.
                    if let Some(v) = targets.iter().find(|v| to == KeyState::Active && v.info.destroy_at.is_some()) {
                        return Err(crate::error::invalid(
                            "version",
                            format!(
                                "version {} is scheduled for destruction; call it off first with `keystead key destroy {} --cancel`",
                                v.info.number, stored.attributes.name
                            ),
                        ));
                    }
                    let now = service.now();
                    let updates = targets.iter().map(|v| VersionUpdate::of(&v.info, moved(&v.info, to, now)));
                    service
                        .commit_versions(stored.clone(), updates.collect(), event, "key.state_changed")
                        .await
                })
            },
        )
        .await
    }

    /// The common frame of management operations: resolve tenant and key, check the
    /// permission, tenant and environment, run the change, invalidate the cache, audit a
    /// refusal or failure.
    pub(crate) async fn managed<T, F>(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        action: AuditAction,
        permission: Action,
        change: F,
    ) -> Result<T, Error>
    where
        F: for<'a> FnOnce(&'a Service, StoredKey, &'a mut AuditEvent) -> ChangeFuture<'a, T>,
    {
        let (tenant, mut event) = self.attempt_in_tenant(caller, tenant, action).await?;
        event.key_name = Some(key.to_owned());
        let result = async {
            self.authorize(caller, permission, None)?;
            let stored = self.stored_key(&tenant, key).await?;
            describe_key(&mut event, &stored.attributes);
            caller.check_tenant(&stored.attributes.tenant)?;
            self.check_environment(&stored)?;
            if super::checkpoint::is_audit_signing(&stored.attributes)
                && !matches!(action, AuditAction::KeyRotate | AuditAction::KeyCompromise)
            {
                return Err(Error::AuditSigningKeyFixed { key: stored.attributes.name.to_string() });
            }
            let id = stored.attributes.id;
            let view = change(self, stored, &mut event).await;
            self.cache.invalidate(id);
            view
        }
        .await;
        self.finish(event, result).await
    }

    pub(crate) async fn rotate_checked(
        &self,
        stored: StoredKey,
        event: &mut AuditEvent,
    ) -> Result<KeyView, Error> {
        let attributes = stored.attributes.clone();
        if attributes.origin == keystead_core::key::Origin::External {
            return Err(Error::WrongState {
                reason: format!(
                    "key {} holds imported material (origin external): rotating would generate material here; \
                     create a new external key, import the new material into it and point the alias at it",
                    attributes.name
                ),
            });
        }
        attributes.algorithm.check_for(attributes.purpose, self.config.minimum_strength_bits)?;
        let number =
            stored.versions.last().and_then(|v| v.info.number.next()).unwrap_or(VersionNumber::FIRST);
        let version = self.generate_version(&attributes, number, KeyState::Active).await?;
        event.version = Some(number.get());
        event.details.insert("kcv".into(), version.info.kcv.clone());
        let mut after = stored;
        after.versions.push(version.clone());
        let notification = self.notification("key.rotated", event)?;
        let change = Change::Batch(vec![
            Change::AddVersion { key_id: attributes.id, version },
            Change::Notify(notification),
        ]);
        self.store.commit(change, event.clone()).await?;
        Ok(KeyView::from(&after))
    }

    /// Commits new attributes of some versions with the event and a notification of
    /// `event_type`, and returns the key as it is after.
    pub(crate) async fn commit_versions(
        &self,
        stored: StoredKey,
        updates: Vec<VersionUpdate>,
        event: &mut AuditEvent,
        event_type: &str,
    ) -> Result<KeyView, Error> {
        let now = self.now();
        let numbers: Vec<String> = updates.iter().map(|u| u.info.number.to_string()).collect();
        let states: Vec<String> = updates.iter().map(|u| format!("{}:{}", u.from, u.info.state)).collect();
        event.version = updates.last().map(|u| u.info.number.get());
        event.details.insert("versions".into(), numbers.join(","));
        event.details.insert("transitions".into(), states.join(","));
        if let Some(to) = updates.last().map(|u| u.info.state) {
            event.details.insert("to_state".into(), to.to_string());
        }
        let mut after = stored;
        for update in &updates {
            if let Some(version) = after.versions.iter_mut().find(|v| v.info.number == update.info.number) {
                version.info = update.info.clone();
                if update.destroy_material {
                    version.sealed_material = None;
                }
            }
        }
        let notification = self.notification(event_type, event)?;
        let change = Change::Batch(vec![
            Change::UpdateVersions { key_id: after.attributes.id, updates, at: now },
            Change::Notify(notification),
        ]);
        self.store.commit(change, event.clone()).await?;
        Ok(KeyView::from(&after))
    }
}

/// A version's attributes after moving to `to` at `now`.
pub(crate) fn moved(info: &VersionInfo, to: KeyState, now: OffsetDateTime) -> VersionInfo {
    let mut info = info.clone();
    info.state = to;
    match to {
        KeyState::Active => {
            // A resumed version keeps its first activation time.
            info.activated_at.get_or_insert(now);
            info.suspended_at = None;
        }
        KeyState::Suspended => info.suspended_at = Some(now),
        KeyState::Deactivated => info.deactivated_at = Some(now),
        KeyState::Destroyed | KeyState::DestroyedCompromised => {
            info.destroyed_at.get_or_insert(now);
            info.destroy_at = None;
        }
        KeyState::PreActive | KeyState::Compromised | KeyState::PendingImport => {}
    }
    info
}

/// The versions a lifecycle command acts on: the one named (which must be able to move to
/// `to` from one of `from`), or every version in one of `from`.
pub(crate) fn select_versions<'a>(
    stored: &'a StoredKey,
    version: Option<u32>,
    from: &[KeyState],
    to: KeyState,
) -> Result<Vec<&'a StoredVersion>, Error> {
    let name = stored.attributes.name.to_string();
    let invalid = |version: u32, from: KeyState| -> Error {
        keystead_core::Error::InvalidTransition { key: name.clone(), version, from, to }.into()
    };
    let targets: Vec<&StoredVersion> = match version {
        Some(number) => {
            let number = VersionNumber::new(number)?;
            let found = stored
                .version(number)
                .ok_or_else(|| Error::VersionNotFound { key: name.clone(), version: number.get() })?;
            let state = found.info.state;
            let target = target_state(state, to);
            if !from.contains(&state) || !state.can_transition_to(target) {
                return Err(invalid(number.get(), state));
            }
            vec![found]
        }
        None => stored.versions.iter().filter(|v| from.contains(&v.info.state)).collect(),
    };
    if targets.is_empty() {
        let (number, state) = stored
            .versions
            .last()
            .map(|v| (v.info.number.get(), v.info.state))
            .unwrap_or((1, KeyState::PreActive));
        return Err(invalid(number, state));
    }
    Ok(targets)
}

/// Where `to` lands for a version in `state`: a destroyed version reported compromised, or a
/// compromised one destroyed, becomes destroyed-compromised.
pub(crate) fn target_state(state: KeyState, to: KeyState) -> KeyState {
    match (state, to) {
        (KeyState::Destroyed, KeyState::Compromised) | (KeyState::Compromised, KeyState::Destroyed) => {
            KeyState::DestroyedCompromised
        }
        _ => to,
    }
}
