//! Finding a key for a request and unsealing it into the cache.

use std::collections::BTreeMap;
use std::sync::Arc;

use keystead_core::operation::{check_state, UseFacts};
use keystead_core::{Action, AuditEvent, KeyId, KeyRef, Operation, Tenant, VersionNumber};
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
    async fn load(&self, stored: StoredKey, epoch: u64) -> Result<Arc<CachedKey>, Error> {
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
