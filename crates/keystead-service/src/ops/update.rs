//! `key update` and aliases: a key's changeable attributes, and other names for keys.
//! Purpose, algorithm, environment, tenant and name never change.

use keystead_core::key::{parse_duration_seconds, KeyAttributes, Labels};
use keystead_core::{Action, AliasName, AuditAction, Classification, KeyRef, Tenant};
use keystead_store::{AliasRecord, Change};

use crate::audit::describe_key;
use crate::error::invalid;
use crate::{Caller, Error, KeyView, Service};

/// The longest description accepted, in characters.
const MAX_DESCRIPTION: usize = 1_000;

/// Checks a description: at most 1,000 printable characters (empty clears it).
pub(crate) fn description(text: Option<&str>) -> Result<String, Error> {
    let text = text.unwrap_or_default();
    if text.chars().count() > MAX_DESCRIPTION || text.chars().any(char::is_control) {
        return Err(invalid("description", "must be at most 1000 printable characters"));
    }
    Ok(text.to_owned())
}

/// What `key update` changes; absent fields stay as they are.
#[derive(Clone, Debug, Default)]
pub struct KeyUpdate {
    /// The new owner.
    pub owner: Option<String>,
    /// Labels to set.
    pub set_labels: std::collections::BTreeMap<String, String>,
    /// Label keys to remove.
    pub remove_labels: Vec<String>,
    /// The new description.
    pub description: Option<String>,
    /// The new rotation period (`none` clears it).
    pub rotation_period: Option<String>,
    /// The new originator-usage period (`none` clears it).
    pub protect_period: Option<String>,
    /// The new recovery policy.
    pub recoverable: Option<bool>,
    /// The new criticality.
    pub criticality: Option<String>,
    /// The new classification.
    pub classification: Option<String>,
}

/// A period that may be cleared with `none`.
fn period(text: &str) -> Result<Option<i64>, Error> {
    if text == "none" {
        return Ok(None);
    }
    Ok(Some(parse_duration_seconds(text)?))
}

/// The key with `update` applied, and the names of the fields that changed.
fn apply(current: &KeyAttributes, update: &KeyUpdate) -> Result<(KeyAttributes, Vec<&'static str>), Error> {
    let mut next = current.clone();
    if let Some(owner) = &update.owner {
        if owner.is_empty() || owner.len() > 128 || owner.chars().any(char::is_control) {
            return Err(invalid("owner", "must be 1 to 128 printable characters"));
        }
        next.owner = owner.clone();
    }
    if !update.set_labels.is_empty() || !update.remove_labels.is_empty() {
        let mut labels = current.labels.as_map().clone();
        for key in &update.remove_labels {
            if labels.remove(key).is_none() {
                return Err(invalid("remove-label", format!("the key has no label {key}")));
            }
        }
        labels.extend(update.set_labels.clone());
        next.labels = Labels::new(labels)?;
    }
    if update.description.is_some() {
        next.description = description(update.description.as_deref())?;
    }
    if let Some(text) = &update.rotation_period {
        next.rotation_period_seconds = period(text)?;
    }
    if let Some(text) = &update.protect_period {
        next.protect_period_seconds = period(text)?;
    }
    if let (Some(protect), Some(rotation)) = (next.protect_period_seconds, next.rotation_period_seconds) {
        if protect < rotation {
            return Err(invalid(
                "protect-period",
                "must be at least the rotation period, or each version stops protecting before the next is rotated in",
            ));
        }
    }
    if let Some(recoverable) = update.recoverable {
        next.recoverable = recoverable;
    }
    if let Some(text) = &update.criticality {
        next.criticality = text.parse()?;
    }
    if let Some(text) = &update.classification {
        next.classification = text.parse::<Classification>()?;
    }
    let mut changed = Vec::new();
    let fields: [(&'static str, bool); 8] = [
        ("owner", next.owner != current.owner),
        ("labels", next.labels != current.labels),
        ("description", next.description != current.description),
        ("rotation_period", next.rotation_period_seconds != current.rotation_period_seconds),
        ("protect_period", next.protect_period_seconds != current.protect_period_seconds),
        ("recoverable", next.recoverable != current.recoverable),
        ("criticality", next.criticality != current.criticality),
        ("classification", next.classification != current.classification),
    ];
    for (name, differs) in fields {
        if differs {
            changed.push(name);
        }
    }
    Ok((next, changed))
}

impl Service {
    /// Changes a key's attributes (key custodian). A change of recoverability is recorded as
    /// a recovery-policy change (`key.recovery-policy`), with the rest of the update.
    pub async fn update_key(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        update: KeyUpdate,
    ) -> Result<KeyView, Error> {
        let action = if update.recoverable.is_some() {
            AuditAction::KeyRecoveryPolicy
        } else {
            AuditAction::KeyUpdate
        };
        let (tenant, mut event) = self.attempt_in_tenant(caller, tenant, action).await?;
        event.key_name = Some(key.to_owned());
        let result = async {
            self.authorize(caller, Action::ManageKeyLifecycle, None)?;
            let stored = self.stored_key(&tenant, key).await?;
            describe_key(&mut event, &stored.attributes);
            caller.check_tenant(&stored.attributes.tenant)?;
            self.check_environment(&stored)?;
            if super::checkpoint::is_audit_signing(&stored.attributes) {
                return Err(Error::AuditSigningKeyFixed { key: stored.attributes.name.to_string() });
            }
            let current = &stored.attributes;
            let (mut next, changed) = apply(current, &update)?;
            if changed.is_empty() {
                return Err(invalid("update", "nothing would change; name at least one new value"));
            }
            next.updated_at = self.now().max(current.updated_at + time::Duration::milliseconds(1));
            event.details.insert("changed".into(), changed.join(","));
            if changed.contains(&"owner") {
                event.details.insert("owner_from".into(), current.owner.clone());
                event.details.insert("owner_to".into(), next.owner.clone());
            }
            if changed.contains(&"recoverable") {
                event.details.insert("recoverable_from".into(), current.recoverable.to_string());
                event.details.insert("recoverable_to".into(), next.recoverable.to_string());
            } else if action == AuditAction::KeyRecoveryPolicy {
                // Asked for the policy it already has: an ordinary update, recorded as one.
                event.action = AuditAction::KeyUpdate;
            }
            let change = Change::UpdateKey { key: next.clone(), from_updated_at: current.updated_at };
            self.store.commit(change, event.clone()).await?;
            self.cache.invalidate(next.id);
            let mut view = KeyView::from(&stored);
            view.attributes = next;
            Ok(view)
        }
        .await;
        self.finish(event, result).await
    }

    /// Makes an alias name a key of its tenant (key custodian).
    pub async fn create_alias(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        alias: &str,
        key: &str,
    ) -> Result<AliasView, Error> {
        let (tenant, mut event) = self.attempt_in_tenant(caller, tenant, AuditAction::AliasCreate).await?;
        event.key_name = Some(key.to_owned());
        event.details.insert("alias".into(), alias.chars().take(260).collect());
        let result = async {
            self.authorize(caller, Action::ManageKeyLifecycle, None)?;
            let name = AliasName::new(alias)?;
            let target = self.alias_target(&tenant, key).await?;
            describe_key(&mut event, &target);
            let now = self.now();
            let record = AliasRecord {
                tenant: tenant.to_string(),
                alias: name.to_string(),
                key_id: target.id,
                created_at: now,
                updated_at: now,
            };
            self.store.commit(Change::CreateAlias(record.clone()), event.clone()).await.map_err(|err| {
                match err {
                    keystead_store::Error::NameTaken { .. } => {
                        Error::AliasTaken { alias: record.alias.clone() }
                    }
                    other => Error::Store(other),
                }
            })?;
            Ok(AliasView { record, key_name: target.name.to_string(), key_live: true })
        }
        .await;
        self.finish(event, result).await
    }

    /// Points an alias at another key of its tenant (key custodian).
    pub async fn update_alias(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        alias: &str,
        key: &str,
    ) -> Result<AliasView, Error> {
        let (tenant, mut event) = self.attempt_in_tenant(caller, tenant, AuditAction::AliasUpdate).await?;
        event.key_name = Some(key.to_owned());
        event.details.insert("alias".into(), alias.chars().take(260).collect());
        let result = async {
            self.authorize(caller, Action::ManageKeyLifecycle, None)?;
            let current = self.alias_record(&tenant, alias).await?;
            let target = self.alias_target(&tenant, key).await?;
            describe_key(&mut event, &target);
            event.details.insert("previous_key_id".into(), current.key_id.to_string());
            let at = self.now();
            let change = Change::PointAlias {
                tenant: tenant.to_string(),
                alias: current.alias.clone(),
                from: current.key_id,
                to: target.id,
                at,
            };
            self.store.commit(change, event.clone()).await?;
            let record = AliasRecord { key_id: target.id, updated_at: at, ..current };
            Ok(AliasView { record, key_name: target.name.to_string(), key_live: true })
        }
        .await;
        self.finish(event, result).await
    }

    /// Deletes an alias (key custodian). The key is untouched.
    pub async fn delete_alias(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        alias: &str,
    ) -> Result<AliasView, Error> {
        let (tenant, mut event) = self.attempt_in_tenant(caller, tenant, AuditAction::AliasDelete).await?;
        event.details.insert("alias".into(), alias.chars().take(260).collect());
        let result = async {
            self.authorize(caller, Action::ManageKeyLifecycle, None)?;
            let current = self.alias_record(&tenant, alias).await?;
            event.key_id = Some(current.key_id);
            // Read before the commit, so nothing after it can fail.
            let view = self.alias_view(current).await?;
            let change = Change::DeleteAlias {
                tenant: tenant.to_string(),
                alias: view.record.alias.clone(),
                key_id: view.record.key_id,
            };
            self.store.commit(change, event.clone()).await?;
            Ok(view)
        }
        .await;
        self.finish(event, result).await
    }

    /// Aliases with the name and state of the key each names, of the caller's tenant (or
    /// every tenant for a principal of none that names none).
    pub async fn list_aliases(&self, caller: &Caller, tenant: Option<&str>) -> Result<Vec<AliasView>, Error> {
        self.guard(caller, AuditAction::KeyRead, Action::ReadKeys).await?;
        let scope = caller.listing_scope(super::resolve::parse_tenant(tenant)?.as_ref())?;
        let mut views = Vec::new();
        for record in self.store.aliases(scope.as_ref(), None).await? {
            views.push(self.alias_view(record).await?);
        }
        Ok(views)
    }

    async fn alias_view(&self, record: AliasRecord) -> Result<AliasView, Error> {
        let key = self.store.key_by_id(record.key_id).await?;
        let (key_name, key_live) = match &key {
            Some(key) => {
                (key.attributes.name.to_string(), key.versions.iter().any(|v| v.info.state.has_material()))
            }
            None => (String::new(), false),
        };
        Ok(AliasView { record, key_name, key_live })
    }

    /// The aliases naming one key (for `key show`).
    pub(crate) async fn aliases_of(&self, key: &KeyAttributes) -> Result<Vec<String>, Error> {
        Ok(self.store.aliases(Some(&key.tenant), Some(key.id)).await?.into_iter().map(|a| a.alias).collect())
    }

    async fn alias_record(&self, tenant: &Tenant, alias: &str) -> Result<AliasRecord, Error> {
        let name = AliasName::new(alias)?;
        self.store
            .aliases(Some(tenant), None)
            .await?
            .into_iter()
            .find(|a| a.alias == name.as_str())
            .ok_or_else(|| Error::KeyNotFound { tenant: tenant.to_string(), key: alias.to_owned() })
    }

    /// The key an alias is to name: by name or id (not through another alias), with material
    /// left (an alias to a destroyed key would only ever fail).
    async fn alias_target(&self, tenant: &Tenant, key: &str) -> Result<KeyAttributes, Error> {
        if matches!(KeyRef::parse(key)?, KeyRef::Alias(_)) {
            return Err(invalid("key", "an alias names a key by its name or id, not by another alias"));
        }
        let stored = self.stored_key(tenant, key).await?;
        if !stored.versions.iter().any(|v| v.info.state.has_material()) {
            return Err(Error::WrongState {
                reason: format!("key {key} is destroyed; an alias must name a key that can still be used"),
            });
        }
        Ok(stored.attributes)
    }
}

/// An alias with the key it names, as `alias list` shows it.
#[derive(Clone, Debug)]
pub struct AliasView {
    /// The alias.
    pub record: AliasRecord,
    /// The key's name (empty if the key is gone, which the store does not allow).
    pub key_name: String,
    /// Whether the key still has material: an alias of a destroyed key is flagged, never
    /// silently kept.
    pub key_live: bool,
}
