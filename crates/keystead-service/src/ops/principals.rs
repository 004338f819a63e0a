//! `principal create|list|disable` and `grant add`: admin work, audited like every change.

use keystead_core::{Action, AuditAction, Operation, PrincipalName, Role, Tenant};
use keystead_crypto::AccessToken;
use keystead_store::{Change, Grant, NewPrincipal, StoredPrincipal};

use crate::access::ROOT_ROLE;
use crate::error::invalid;
use crate::{Caller, Error, Service};

/// A principal just created, with its token: shown once, never stored.
#[derive(Debug)]
pub struct NewPrincipalView {
    /// The principal.
    pub principal: StoredPrincipal,
    /// Its bearer token.
    pub token: AccessToken,
}

/// A change of a principal's roles or expiry (`principal update`).
#[derive(Clone, Debug, Default)]
pub struct PrincipalUpdate {
    /// The roles from now on, replacing the current ones.
    pub roles: Option<Vec<String>>,
    /// Seconds from now until it stops authenticating.
    pub expires_in_seconds: Option<u64>,
    /// Remove the expiry.
    pub never_expires: bool,
}

/// The longest principal lifetime accepted: 100 years.
const MAX_LIFETIME_SECONDS: i64 = 100 * 366 * 24 * 3600;

fn parse_roles(roles: &[String]) -> Result<Vec<Role>, Error> {
    if roles.is_empty() {
        return Err(invalid("roles", "name at least one role"));
    }
    let mut parsed = Vec::new();
    for role in roles {
        if role == ROOT_ROLE {
            return Err(invalid("roles", "root cannot be granted: the one root principal is made by `operator init` (or `server --dev`)"));
        }
        let role: Role = role.parse()?;
        if !parsed.contains(&role) {
            parsed.push(role);
        }
    }
    if let Some((first, second, why)) = keystead_core::role::forbidden_combination(&parsed) {
        return Err(Error::RolesTogether { first, second, why });
    }
    Ok(parsed)
}

impl Service {
    /// Creates a principal and its token. An admin confined to a tenant creates principals of
    /// that tenant only.
    pub async fn create_principal(
        &self,
        caller: &Caller,
        name: &str,
        roles: &[String],
        tenant: Option<&str>,
    ) -> Result<NewPrincipalView, Error> {
        self.create_principal_expiring(caller, name, roles, tenant, None).await
    }

    /// Creates a principal that stops authenticating `lifetime_seconds` from now.
    pub async fn create_principal_expiring(
        &self,
        caller: &Caller,
        name: &str,
        roles: &[String],
        tenant: Option<&str>,
        lifetime_seconds: Option<u64>,
    ) -> Result<NewPrincipalView, Error> {
        let (event_tenant, mut event) =
            self.attempt_in_tenant(caller, tenant, AuditAction::PrincipalCreate).await?;
        event.details.insert("principal".into(), name.chars().take(128).collect());
        event.details.insert("roles".into(), roles.join(","));
        if let Some(seconds) = lifetime_seconds {
            event.details.insert("lifetime_seconds".into(), seconds.to_string());
        }
        let result = async {
            self.authorize(caller, Action::ManagePrincipals, None)?;
            let name = PrincipalName::new(name)?;
            let roles = parse_roles(roles)?;
            let tenant: Option<Tenant> = match (tenant, &caller.tenant) {
                (None, None) => None,
                _ => Some(event_tenant.clone()),
            };
            let expires_at = match lifetime_seconds {
                None => None,
                Some(0) => return Err(invalid("expires_in", "give a lifetime of at least one second")),
                Some(seconds) => Some(
                    i64::try_from(seconds)
                        .ok()
                        .filter(|s| *s <= MAX_LIFETIME_SECONDS)
                        .map(|s| self.now() + time::Duration::seconds(s))
                        .ok_or_else(|| invalid("expires_in", "give a lifetime of at most 100 years"))?,
                ),
            };
            let token = AccessToken::generate()?;
            let principal = NewPrincipal {
                name: name.to_string(),
                token_hash: *token.hash().as_bytes(),
                roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
                tenant: tenant.as_ref().map(Tenant::to_string),
                created_at: self.now(),
                expires_at,
            };
            let view = StoredPrincipal {
                name: principal.name.clone(),
                roles: principal.roles.clone(),
                tenant: principal.tenant.clone(),
                disabled: false,
                expires_at,
            };
            self.store.commit(Change::CreatePrincipal(principal), event.clone()).await?;
            Ok(NewPrincipalView { principal: view, token })
        }
        .await;
        self.finish(event, result).await
    }

    /// Principals, limited to the caller's tenant if it is confined to one.
    pub async fn list_principals(&self, caller: &Caller) -> Result<Vec<StoredPrincipal>, Error> {
        self.guard(caller, AuditAction::PrincipalRead, Action::ManagePrincipals).await?;
        let mut principals = self.store.principals().await?;
        if let Some(own) = &caller.tenant {
            principals.retain(|p| p.tenant.as_deref() == Some(own.as_str()));
        }
        Ok(principals)
    }

    /// Disables a principal: its token stops working on the next request.
    pub async fn disable_principal(&self, caller: &Caller, name: &str) -> Result<StoredPrincipal, Error> {
        let (_, mut event) = self.attempt_in_tenant(caller, None, AuditAction::PrincipalDisable).await?;
        event.details.insert("principal".into(), name.chars().take(128).collect());
        let result = async {
            self.authorize(caller, Action::ManagePrincipals, None)?;
            if name == caller.principal {
                return Err(invalid("principal", "a principal cannot disable itself; ask another admin"));
            }
            let target = self
                .store
                .principal_by_name(name)
                .await?
                .ok_or_else(|| invalid("principal", format!("no principal named {name}")))?;
            if let Some(own) = &caller.tenant {
                if target.tenant.as_deref() != Some(own.as_str()) {
                    return Err(Error::PermissionDenied {
                        reason: format!("principal {} is confined to tenant {own}", caller.principal),
                    });
                }
            }
            self.store.commit(Change::DisablePrincipal { name: name.to_owned() }, event.clone()).await?;
            self.access.forget_principal(name);
            Ok(StoredPrincipal { disabled: true, ..target })
        }
        .await;
        self.finish(event, result).await
    }

    /// Lets a disabled principal authenticate again (its token is unchanged).
    pub async fn enable_principal(&self, caller: &Caller, name: &str) -> Result<StoredPrincipal, Error> {
        let (_, mut event) = self.attempt_in_tenant(caller, None, AuditAction::PrincipalEnable).await?;
        event.details.insert("principal".into(), name.chars().take(128).collect());
        let result = async {
            self.authorize(caller, Action::ManagePrincipals, None)?;
            let target = self.principal_in_reach(caller, name).await?;
            if target.roles.iter().any(|r| r == ROOT_ROLE) {
                return Err(invalid(
                    "principal",
                    "the root principal stays disabled once disabled; admins work under their own principals",
                ));
            }
            if !target.disabled {
                return Err(Error::WrongState { reason: format!("principal {name} is not disabled") });
            }
            self.store.commit(Change::EnablePrincipal { name: name.to_owned() }, event.clone()).await?;
            self.after_principal_change(name).await;
            Ok(StoredPrincipal { disabled: false, ..target })
        }
        .await;
        self.finish(event, result).await
    }

    /// Changes a principal's roles (replacing them) and/or its expiry. Takes effect on this
    /// node at once and on every other node through the change feed.
    pub async fn update_principal(
        &self,
        caller: &Caller,
        name: &str,
        update: PrincipalUpdate,
    ) -> Result<StoredPrincipal, Error> {
        let (_, mut event) = self.attempt_in_tenant(caller, None, AuditAction::PrincipalUpdate).await?;
        event.details.insert("principal".into(), name.chars().take(128).collect());
        if let Some(roles) = &update.roles {
            event.details.insert("roles".into(), roles.join(","));
        }
        if let Some(seconds) = update.expires_in_seconds {
            event.details.insert("lifetime_seconds".into(), seconds.to_string());
        }
        if update.never_expires {
            event.details.insert("expiry".into(), "removed".into());
        }
        let result = async {
            self.authorize(caller, Action::ManagePrincipals, None)?;
            if update.roles.is_none() && update.expires_in_seconds.is_none() && !update.never_expires {
                return Err(invalid("update", "give new roles, an expiry (expires_in), or never_expires"));
            }
            if update.expires_in_seconds.is_some() && update.never_expires {
                return Err(invalid("expires_in", "give an expiry or never_expires, not both"));
            }
            if name == caller.principal {
                return Err(invalid(
                    "principal",
                    "a principal cannot change its own roles or expiry; ask another admin",
                ));
            }
            let target = self.principal_in_reach(caller, name).await?;
            if target.roles.iter().any(|r| r == ROOT_ROLE) {
                return Err(invalid("principal", "the root principal's roles and expiry do not change"));
            }
            let roles = match &update.roles {
                Some(roles) => parse_roles(roles)?.iter().map(|r| r.as_str().to_owned()).collect(),
                None => target.roles.clone(),
            };
            let expires_at = match (update.expires_in_seconds, update.never_expires) {
                (_, true) => None,
                (Some(seconds), false) => Some(self.expiry_from_now(seconds)?),
                (None, false) => target.expires_at,
            };
            let change = Change::UpdatePrincipal {
                name: name.to_owned(),
                from_roles: target.roles.clone(),
                from_expires_at: target.expires_at,
                roles: roles.clone(),
                expires_at,
            };
            event.details.insert("previous_roles".into(), target.roles.join(","));
            self.store.commit(change, event.clone()).await?;
            self.after_principal_change(name).await;
            Ok(StoredPrincipal { roles, expires_at, ..target })
        }
        .await;
        self.finish(event, result).await
    }

    /// After a principal changed in the store: its cached token and grants are dropped at once
    /// (so its next request is checked against the store), then the grants reloaded. A failed
    /// reload is not the request's failure (the change is stored and audited); grants are
    /// reloaded again on the next change-feed entry.
    async fn after_principal_change(&self, name: &str) {
        self.access.forget_principal(name);
        if let Err(err) = self.reload_grants().await {
            tracing::warn!(error = %err, "grants not reloaded after a principal change; they are reloaded on the next change");
        }
    }

    /// A principal the caller may manage: it exists, and is of the caller's tenant if the
    /// caller is confined to one.
    pub(crate) async fn principal_in_reach(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<StoredPrincipal, Error> {
        let target = self
            .store
            .principal_by_name(name)
            .await?
            .ok_or_else(|| Error::PrincipalNotFound { name: name.to_owned() })?;
        if let Some(own) = &caller.tenant {
            if target.tenant.as_deref() != Some(own.as_str()) {
                return Err(Error::PermissionDenied {
                    reason: format!("principal {} is confined to tenant {own}", caller.principal),
                });
            }
        }
        Ok(target)
    }

    /// The time `seconds` from now, for a principal's expiry (1 second to 100 years).
    fn expiry_from_now(&self, seconds: u64) -> Result<time::OffsetDateTime, Error> {
        if seconds == 0 {
            return Err(invalid("expires_in", "give a lifetime of at least one second"));
        }
        i64::try_from(seconds)
            .ok()
            .filter(|s| *s <= MAX_LIFETIME_SECONDS)
            .map(|s| self.now() + time::Duration::seconds(s))
            .ok_or_else(|| invalid("expires_in", "give a lifetime of at most 100 years"))
    }

    /// Grants crypto operations on a key to a principal.
    pub async fn add_grant(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        principal: &str,
        key: &str,
        operations: &[String],
    ) -> Result<Grant, Error> {
        let (tenant, mut event) = self.attempt_in_tenant(caller, tenant, AuditAction::GrantAdd).await?;
        event.details.insert("principal".into(), principal.chars().take(128).collect());
        event.details.insert("operations".into(), operations.join(","));
        event.key_name = Some(key.to_owned());
        let result = async {
            self.authorize(caller, Action::ManagePrincipals, None)?;
            let operations: Vec<Operation> =
                operations.iter().map(|o| o.parse()).collect::<Result<_, keystead_core::Error>>()?;
            if operations.is_empty() {
                return Err(invalid("ops", "name at least one operation, such as encrypt,decrypt"));
            }
            let stored = self.stored_key(&tenant, key).await?;
            crate::audit::describe_key(&mut event, &stored.attributes);
            let attributes = &stored.attributes;
            for op in &operations {
                op.check_purpose(attributes.name.as_str(), attributes.purpose)?;
            }
            let holder = self
                .store
                .principals()
                .await?
                .into_iter()
                .find(|p| p.name == principal && !p.disabled)
                .ok_or_else(|| invalid("principal", format!("no active principal named {principal}")))?;
            if holder.tenant.as_deref().is_some_and(|t| t != attributes.tenant.as_str()) {
                return Err(invalid(
                    "principal",
                    format!("{principal} belongs to another tenant than key {key}"),
                ));
            }
            let grant =
                Grant { principal: holder.name, key_id: attributes.id, operations, created_at: self.now() };
            self.store.commit(Change::AddGrant(grant.clone()), event.clone()).await?;
            self.access.add_grant(&grant);
            Ok(grant)
        }
        .await;
        self.finish(event, result).await
    }
}

impl Service {
    /// Takes operations back from a principal's grant on a key: the named ones, or every one
    /// (the whole grant) when none is named. Takes effect on this node at once and on every
    /// other node through the change feed.
    pub async fn revoke_grant(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        principal: &str,
        key: &str,
        operations: &[String],
    ) -> Result<Grant, Error> {
        let (tenant, mut event) = self.attempt_in_tenant(caller, tenant, AuditAction::GrantRevoke).await?;
        event.details.insert("principal".into(), principal.chars().take(128).collect());
        event.details.insert(
            "operations".into(),
            if operations.is_empty() { "all".into() } else { operations.join(",") },
        );
        event.key_name = Some(key.to_owned());
        let result = async {
            self.authorize(caller, Action::ManagePrincipals, None)?;
            let named: Vec<Operation> =
                operations.iter().map(|o| o.parse()).collect::<Result<_, keystead_core::Error>>()?;
            let stored = self.stored_key(&tenant, key).await?;
            crate::audit::describe_key(&mut event, &stored.attributes);
            let key_id = stored.attributes.id;
            let current = self
                .store
                .grants()
                .await?
                .into_iter()
                .find(|g| g.principal == principal && g.key_id == key_id)
                .ok_or_else(|| Error::GrantNotFound {
                    principal: principal.to_owned(),
                    key: key.to_owned(),
                    detail: String::new(),
                })?;
            let missing: Vec<&str> =
                named.iter().filter(|op| !current.operations.contains(op)).map(|op| op.as_str()).collect();
            if !missing.is_empty() {
                return Err(Error::GrantNotFound {
                    principal: principal.to_owned(),
                    key: key.to_owned(),
                    detail: format!(" for {}", missing.join(",")),
                });
            }
            let remaining: Vec<Operation> = if named.is_empty() {
                Vec::new()
            } else {
                current.operations.iter().copied().filter(|op| !named.contains(op)).collect()
            };
            event.details.insert(
                "remaining".into(),
                remaining.iter().map(|o| o.as_str()).collect::<Vec<_>>().join(","),
            );
            let change = Change::RevokeGrant {
                principal: principal.to_owned(),
                key_id,
                from: current.operations.clone(),
                to: remaining.clone(),
            };
            self.store.commit(change, event.clone()).await?;
            // In memory at once (cannot fail); other nodes follow the change feed.
            self.access.revoke_grant(principal, key_id, &remaining);
            Ok(Grant { operations: remaining, ..current })
        }
        .await;
        self.finish(event, result).await
    }
}
