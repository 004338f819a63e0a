//! `key rotate`, `key activate`, `key deactivate`. The rest of the lifecycle (suspend, resume,
//! compromise, destroy) follows the same pattern.

use keystead_core::{AuditAction, AuditEvent, KeyState, VersionNumber};
use keystead_store::{Change, StoredKey};

use crate::audit::describe_key;
use crate::{Caller, Error, KeyView, Service};

impl Service {
    /// Generates a new version, which becomes primary. Older versions keep their state, so data
    /// they protected still decrypts.
    pub async fn rotate_key(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
    ) -> Result<KeyView, Error> {
        self.managed(caller, tenant, key, AuditAction::KeyRotate, |service, stored, event| {
            Box::pin(service.rotate_checked(stored, event))
        })
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
        self.managed(caller, tenant, key, AuditAction::KeyActivate, move |service, stored, event| {
            Box::pin(service.transition(stored, event, version, &[KeyState::PreActive], KeyState::Active))
        })
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
        self.managed(caller, tenant, key, AuditAction::KeyDeactivate, move |service, stored, event| {
            Box::pin(service.transition(
                stored,
                event,
                version,
                &[KeyState::Active, KeyState::Suspended],
                KeyState::Deactivated,
            ))
        })
        .await
    }

    /// The common frame of management operations: resolve tenant and key, check tenant and
    /// environment, run the change, invalidate the cache, audit a refusal or failure.
    async fn managed<F>(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        action: AuditAction,
        change: F,
    ) -> Result<KeyView, Error>
    where
        F: for<'a> FnOnce(
            &'a Service,
            StoredKey,
            &'a mut AuditEvent,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<KeyView, Error>> + Send + 'a>,
        >,
    {
        let (tenant, mut event) = self.attempt_in_tenant(caller, tenant, action).await?;
        event.key_name = Some(key.to_owned());
        let result = async {
            self.authorize(caller, keystead_core::Action::ManageKeyLifecycle, None)?;
            let stored = self.stored_key(&tenant, key).await?;
            describe_key(&mut event, &stored.attributes);
            caller.check_tenant(&stored.attributes.tenant)?;
            self.check_environment(&stored)?;
            let id = stored.attributes.id;
            let view = change(self, stored, &mut event).await;
            self.cache.invalidate(id);
            view
        }
        .await;
        self.finish(event, result).await
    }

    async fn rotate_checked(&self, stored: StoredKey, event: &mut AuditEvent) -> Result<KeyView, Error> {
        let attributes = stored.attributes.clone();
        attributes.algorithm.check_for(attributes.purpose, self.config.minimum_strength_bits)?;
        let number =
            stored.versions.last().and_then(|v| v.info.number.next()).unwrap_or(VersionNumber::FIRST);
        let version = self.generate_version(&attributes, number, KeyState::Active).await?;
        event.version = Some(number.get());
        event.details.insert("kcv".into(), version.info.kcv.clone());
        let mut after = stored;
        after.versions.push(version.clone());
        self.store.commit(Change::AddVersion { key_id: attributes.id, version }, event.clone()).await?;
        Ok(KeyView::from(&after))
    }

    async fn transition(
        &self,
        stored: StoredKey,
        event: &mut AuditEvent,
        version: Option<u32>,
        from: &[KeyState],
        to: KeyState,
    ) -> Result<KeyView, Error> {
        let name = stored.attributes.name.to_string();
        let targets: Vec<(VersionNumber, KeyState)> = match version {
            Some(number) => {
                let number = VersionNumber::new(number)?;
                let found = stored
                    .version(number)
                    .ok_or_else(|| Error::VersionNotFound { key: name.clone(), version: number.get() })?;
                let state = found.info.state;
                if !state.can_transition_to(to) || !from.contains(&state) {
                    return Err(keystead_core::Error::InvalidTransition {
                        key: name,
                        version: number.get(),
                        from: state,
                        to,
                    }
                    .into());
                }
                vec![(number, state)]
            }
            None => stored
                .versions
                .iter()
                .filter(|v| from.contains(&v.info.state))
                .map(|v| (v.info.number, v.info.state))
                .collect(),
        };
        if targets.is_empty() {
            let newest = stored.versions.last().map(|v| (v.info.number.get(), v.info.state));
            let (version, state) = newest.unwrap_or((1, KeyState::PreActive));
            return Err(
                keystead_core::Error::InvalidTransition { key: name, version, from: state, to }.into()
            );
        }
        let now = self.now();
        let numbers: Vec<String> = targets.iter().map(|(n, _)| n.to_string()).collect();
        event.version = targets.last().map(|(n, _)| n.get());
        event.details.insert("versions".into(), numbers.join(","));
        event.details.insert("to_state".into(), to.to_string());
        let mut after = stored;
        for version in after.versions.iter_mut() {
            if targets.iter().any(|(n, _)| *n == version.info.number) {
                version.info.state = to;
                match to {
                    KeyState::Active => {
                        version.info.activated_at.get_or_insert(now);
                        version.info.suspended_at = None;
                    }
                    KeyState::Deactivated => version.info.deactivated_at = Some(now),
                    _ => {}
                }
            }
        }
        let change = Change::SetVersionStates { key_id: after.attributes.id, versions: targets, to, at: now };
        self.store.commit(change, event.clone()).await?;
        Ok(KeyView::from(&after))
    }
}
