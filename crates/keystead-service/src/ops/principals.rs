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
