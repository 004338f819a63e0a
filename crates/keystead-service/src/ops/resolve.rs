//! Finding a key for a request and unsealing it into the cache.

use std::collections::BTreeMap;
use std::sync::Arc;

use keystead_core::operation::{check_state, UseFacts};
use keystead_core::{Action, AuditEvent, KeyId, KeyRef, KeyState, Operation, Role, Tenant, VersionNumber};
use keystead_crypto::LoadedKey;
use keystead_store::{barrier, StoredKey, StoredVersion};

use crate::audit::describe_key;
use crate::cache::CachedKey;
use crate::{Caller, Error, Service};

/// Parses an optional tenant text.
pub(crate) fn parse_tenant(text: Option<&str>) -> Result<Option<Tenant>, Error> {
    Ok(text.map(Tenant::new).transpose()?)
}

impl Service {
    /// Reads a key from the store (management operations always read fresh rows).
    pub(crate) async fn stored_key(&self, tenant: &Tenant, key: &str) -> Result<StoredKey, Error> {
        let key_ref = KeyRef::parse(key)?;
        self.store
            .key(tenant, &key_ref)
            .await?
            .ok_or_else(|| Error::KeyNotFound { tenant: tenant.to_string(), key: key.to_owned() })
    }

    /// Checks that this server may use keys of the stored key's environment.
    pub(crate) fn check_environment(&self, stored: &StoredKey) -> Result<(), Error> {
        let attributes = &stored.attributes;
        if attributes.environment != self.config.environment {
            return Err(Error::EnvironmentMismatch {
                key: attributes.name.to_string(),
                key_environment: attributes.environment,
                server_environment: self.config.environment,
            });
        }
        Ok(())
    }

    /// Unseals every version that still has material and caches the key. Any version that
    /// fails its integrity check makes the whole key unusable. `epoch` is the cache epoch read
    /// before `stored` was: if the key changed since, the copy is used once but not cached.
    pub(crate) async fn load(&self, stored: StoredKey, epoch: u64) -> Result<Arc<CachedKey>, Error> {
        self.check_environment(&stored)?;
        let root = self.root()?;
        let mut loaded = BTreeMap::new();
        for version in stored.versions.iter().filter(|v| v.info.state.has_material()) {
            let key = barrier::open_material(&root, &stored.attributes, version)?;
            loaded.insert(version.info.number, key);
        }
        let cached = Arc::new(CachedKey { stored, loaded });
        self.cache.insert(cached.clone(), epoch);
        Ok(cached)
    }

    /// A key named in a request, from the cache or unsealed from the store, after the tenant,
    /// environment and purpose checks. Fills the event's key fields as soon as they are known.
    pub(crate) async fn key_for_use(
        &self,
        caller: &Caller,
        tenant: &Tenant,
        key: &str,
        operation: Operation,
        event: &mut AuditEvent,
    ) -> Result<Arc<CachedKey>, Error> {
        // The role check first: a caller who may not use keys learns nothing about them.
        self.authorize(caller, Action::Use(operation), None)?;
        let key_ref = KeyRef::parse(key)?;
        event.key_name = Some(key.to_owned());
        let cached = match &key_ref {
            KeyRef::Id(id) => self.cache.by_id(*id).filter(|k| &k.stored.attributes.tenant == tenant),
            KeyRef::Name(name) => self.cache.by_name(tenant, name),
            // Aliases are not cached: the store says which key an alias names now.
            KeyRef::Alias(_) => None,
        };
        let cached = match cached {
            Some(cached) => cached,
            None => {
                let epoch = self.cache.epoch();
                let stored = self.stored_key(tenant, key).await?;
                describe_key(event, &stored.attributes);
                self.load(stored, epoch).await?
            }
        };
        self.check_use(caller, &cached, operation, event)?;
        Ok(cached)
    }

    /// A key named by an envelope (ciphertext, wrapped key): by id, in whatever tenant it lives.
    pub(crate) async fn key_by_id_for_use(
        &self,
        caller: &Caller,
        id: KeyId,
        operation: Operation,
        event: &mut AuditEvent,
    ) -> Result<Arc<CachedKey>, Error> {
        self.authorize(caller, Action::Use(operation), None)?;
        event.key_id = Some(id);
        let cached = match self.cache.by_id(id) {
            Some(cached) => cached,
            None => {
                let epoch = self.cache.epoch();
                let stored = self
                    .store
                    .key_by_id(id)
                    .await?
                    .ok_or_else(|| Error::KeyNotFound { tenant: "any".to_owned(), key: id.to_string() })?;
                describe_key(event, &stored.attributes);
                caller.check_tenant(&stored.attributes.tenant)?;
                self.load(stored, epoch).await?
            }
        };
        self.check_use(caller, &cached, operation, event)?;
        Ok(cached)
    }

    fn check_use(
        &self,
        caller: &Caller,
        cached: &CachedKey,
        operation: Operation,
        event: &mut AuditEvent,
    ) -> Result<(), Error> {
        let attributes = &cached.stored.attributes;
        describe_key(event, attributes);
        caller.check_tenant(&attributes.tenant)?;
        self.authorize(caller, Action::Use(operation), Some(attributes))?;
        self.check_environment(&cached.stored)?;
        operation.check_purpose(attributes.name.as_str(), attributes.purpose)?;
        Ok(())
    }
}

/// A warning returned with a decryption whose data may come from an attacker.
pub(crate) const POST_COMPROMISE_WARNING: &str =
    "the data was protected after the key version's reported compromise time and may have been produced by an attacker";

impl Service {
    /// The version a protect operation uses: the primary, or, when the key has none and the
    /// caller holds an open approved exception, that exception's compromised version (the
    /// use is recorded as exceptional).
    pub(crate) async fn protect_version<'a>(
        &self,
        caller: &Caller,
        cached: &'a CachedKey,
        operation: Operation,
        event: &mut AuditEvent,
    ) -> Result<(&'a StoredVersion, &'a LoadedKey), Error> {
        let has_compromised = cached.stored.versions.iter().any(|v| v.info.state == KeyState::Compromised);
        if cached.stored.primary().is_none() && has_compromised {
            if let Some(exception) = self.open_exception(caller, cached, operation).await? {
                let number = exception
                    .version
                    .and_then(|n| VersionNumber::new(n).ok())
                    .ok_or(keystead_store::Error::Corrupt { what: "exception version" })?;
                let facts = UseFacts { exception_open: true, ..UseFacts::default() };
                let loaded = cached.version_for(number, operation, facts, event)?;
                let version = cached
                    .stored
                    .version(number)
                    .ok_or(keystead_store::Error::Corrupt { what: "exception version" })?;
                event.details.insert("exceptional_use".into(), "true".into());
                event.details.insert("exception".into(), exception.id);
                return Ok((version, loaded));
            }
        }
        cached.primary_for(operation, event)
    }

    /// The version a process operation names, after the state check for `caller`. Incident
    /// responders (without another role allowing the operation) process only with
    /// compromised versions. A use of a compromised version records the justification,
    /// the affected systems and the incident; the result is a warning when the data was
    /// protected after the compromise (or when its protect time is unknown).
    pub(crate) fn process_version<'a>(
        &self,
        caller: &Caller,
        cached: &'a CachedKey,
        number: VersionNumber,
        operation: Operation,
        protected_at: Option<time::OffsetDateTime>,
        event: &mut AuditEvent,
    ) -> Result<(&'a LoadedKey, Option<&'static str>), Error> {
        let name = cached.stored.attributes.name.as_str();
        let version = cached
            .stored
            .version(number)
            .ok_or_else(|| Error::VersionNotFound { key: name.to_owned(), version: number.get() })?;
        let state = version.info.state;
        let responder_only = self.responder_access_only(caller, cached, operation);
        if responder_only && !matches!(state, KeyState::Compromised) {
            return Err(Error::PermissionDenied {
                reason: format!(
                    "principal {} is an incident responder and processes only with compromised key versions; key {name} version {number} is {state}",
                    caller.principal
                ),
            });
        }
        if let Some(justification) = &caller.justification {
            event.details.insert("justification".into(), justification.text.clone());
            event.details.insert("affected_systems".into(), justification.affected_systems.join(","));
        }
        let facts = UseFacts {
            protected_at,
            caller_is_incident_responder: caller.is_incident_responder(),
            has_justification: caller.justification.is_some(),
            ..UseFacts::default()
        };
        if let Some(record) = &version.info.compromise {
            event.details.insert("incident".into(), record.incident.clone());
            event.details.insert("compromise_occurred_at".into(), crate::views::rfc3339(record.occurred_at));
        }
        let loaded = cached.version_for(number, operation, facts, event)?;
        let mut warning = None;
        if let (KeyState::Compromised, Some(record)) = (state, &version.info.compromise) {
            event.details.insert("compromised_key_use".into(), "true".into());
            let suspect = match protected_at {
                Some(at) => (at > record.occurred_at).to_string(),
                None => "unknown".to_owned(),
            };
            if suspect != "false" {
                warning = Some(POST_COMPROMISE_WARNING);
            }
            event.details.insert("post_compromise_data".into(), suspect);
        }
        Ok((loaded, warning))
    }
}

impl Service {
    /// Whether the caller may use this key for `operation` only as an incident responder:
    /// no other role of its allows it here (with the grant that role needs). Such access
    /// covers compromised versions only, so holding a second role never widens it.
    pub(crate) fn responder_access_only(
        &self,
        caller: &Caller,
        cached: &CachedKey,
        operation: Operation,
    ) -> bool {
        if caller.root || !caller.is_incident_responder() {
            return false;
        }
        let key = cached.stored.attributes.id;
        !caller.roles.iter().any(|role| {
            *role != Role::IncidentResponder
                && role.allows(Action::Use(operation))
                && (!role.needs_grant() || self.access.granted(&caller.principal, key, operation))
        })
    }
}

impl CachedKey {
    /// The version a protect operation uses: the newest active one. When none is active, the
    /// newest version's state explains the refusal.
    pub(crate) fn primary_for(
        &self,
        operation: Operation,
        event: &mut AuditEvent,
    ) -> Result<(&StoredVersion, &LoadedKey), Error> {
        let name = self.stored.attributes.name.as_str();
        let version = match self.stored.primary() {
            Some(version) => version,
            None => {
                let newest = self
                    .stored
                    .versions
                    .last()
                    .ok_or_else(|| Error::NoActiveVersion { key: name.to_owned() })?;
                event.version = Some(newest.info.number.get());
                check_state(
                    name,
                    newest.info.number.get(),
                    newest.info.state,
                    operation,
                    &UseFacts::default(),
                )?;
                return Err(Error::NoActiveVersion { key: name.to_owned() });
            }
        };
        event.version = Some(version.info.number.get());
        let loaded = self
            .loaded
            .get(&version.info.number)
            .ok_or_else(|| Error::NoActiveVersion { key: name.to_owned() })?;
        Ok((version, loaded))
    }

    /// The version a process operation names, after the state check with `facts`.
    pub(crate) fn version_for(
        &self,
        number: VersionNumber,
        operation: Operation,
        mut facts: UseFacts,
        event: &mut AuditEvent,
    ) -> Result<&LoadedKey, Error> {
        let name = self.stored.attributes.name.as_str();
        event.version = Some(number.get());
        let version = self
            .stored
            .version(number)
            .ok_or_else(|| Error::VersionNotFound { key: name.to_owned(), version: number.get() })?;
        facts.suspended_at = version.info.suspended_at;
        check_state(name, number.get(), version.info.state, operation, &facts)?;
        self.loaded
            .get(&number)
            .ok_or_else(|| Error::VersionNotFound { key: name.to_owned(), version: number.get() })
    }
}
