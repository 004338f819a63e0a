//! Authorization: the role matrix of `keystead_core::role`, per-key grants for crypto users,
//! and the in-memory caches that keep authentication and authorization off the database on
//! the hot path. Both caches change only through this service, which updates them as it
//! commits (a multi-node deployment adds change notifications).

use std::collections::HashMap;
use std::sync::RwLock;

use keystead_core::key::KeyAttributes;
use keystead_core::{Action, KeyId, Operation, Role, Tenant};
use keystead_crypto::TokenHash;
use keystead_store::{Grant, StoredPrincipal};

use crate::{Caller, Error, Service};

/// The role name that marks the root principal (made by `operator init` or `server --dev`).
pub(crate) const ROOT_ROLE: &str = "root";

/// Principals by token hash, and grants by (principal, key).
#[derive(Default)]
pub(crate) struct AccessCache {
    principals: RwLock<HashMap<[u8; 32], StoredPrincipal>>,
    /// Principals by name, for client-certificate authentication.
    certificate_principals: RwLock<HashMap<String, StoredPrincipal>>,
    /// principal → key → granted operations; nested so a lookup borrows instead of allocating.
    grants: RwLock<HashMap<String, HashMap<KeyId, Vec<Operation>>>>,
}

impl AccessCache {
    pub fn principal(&self, hash: &TokenHash) -> Option<StoredPrincipal> {
        self.principals.read().ok()?.get(hash.as_bytes()).cloned()
    }

    pub fn remember_principal(&self, hash: &TokenHash, principal: StoredPrincipal) {
        if let Ok(mut map) = self.principals.write() {
            map.insert(*hash.as_bytes(), principal);
        }
    }

    pub fn certificate_principal(&self, name: &str) -> Option<StoredPrincipal> {
        self.certificate_principals.read().ok()?.get(name).cloned()
    }

    pub fn remember_certificate_principal(&self, principal: StoredPrincipal) {
        if let Ok(mut map) = self.certificate_principals.write() {
            map.insert(principal.name.clone(), principal);
        }
    }

    pub fn forget_principal(&self, name: &str) {
        if let Ok(mut map) = self.principals.write() {
            map.retain(|_, p| p.name != name);
        }
        if let Ok(mut map) = self.certificate_principals.write() {
            map.remove(name);
        }
        if let Ok(mut map) = self.grants.write() {
            map.remove(name);
        }
    }

    pub fn forget_all_principals(&self) {
        if let Ok(mut map) = self.principals.write() {
            map.clear();
        }
        if let Ok(mut map) = self.certificate_principals.write() {
            map.clear();
        }
    }

    pub fn load_grants(&self, grants: Vec<Grant>) {
        if let Ok(mut map) = self.grants.write() {
            map.clear();
            for grant in grants {
                map.entry(grant.principal).or_default().insert(grant.key_id, grant.operations);
            }
        }
    }

    pub fn add_grant(&self, grant: &Grant) {
        if let Ok(mut map) = self.grants.write() {
            let ops = map.entry(grant.principal.clone()).or_default().entry(grant.key_id).or_default();
            for op in &grant.operations {
                if !ops.contains(op) {
                    ops.push(*op);
                }
            }
        }
    }

    fn granted(&self, principal: &str, key: KeyId, operation: Operation) -> bool {
        self.grants
            .read()
            .ok()
            .and_then(|map| {
                map.get(principal).and_then(|keys| keys.get(&key)).map(|ops| ops.contains(&operation))
            })
            .unwrap_or(false)
    }
}

/// Builds a caller from a stored principal.
pub(crate) fn caller_from(
    principal: &StoredPrincipal,
    source: &str,
    auth_method: &'static str,
) -> Result<Caller, Error> {
    let corrupt = || keystead_store::Error::Corrupt { what: "principal" };
    let mut roles = Vec::new();
    let mut root = false;
    for role in &principal.roles {
        if role == ROOT_ROLE {
            root = true;
        } else {
            roles.push(role.parse::<Role>().map_err(|_| corrupt())?);
        }
    }
    let tenant = principal.tenant.clone().map(Tenant::new).transpose().map_err(|_| corrupt())?;
    Ok(Caller {
        principal: principal.name.clone(),
        roles,
        root,
        tenant,
        source: source.to_owned(),
        auth_method,
    })
}

impl Service {
    /// The permission check every operation makes before anything else: the role matrix, then
    /// for crypto users a grant on the key.
    pub(crate) fn authorize(
        &self,
        caller: &Caller,
        action: Action,
        key: Option<&KeyAttributes>,
    ) -> Result<(), Error> {
        if caller.root {
            return Ok(());
        }
        let mut permitted = caller.roles.iter().filter(|r| r.allows(action));
        let roles = || caller.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",");
        let Some(first) = permitted.next() else {
            return Err(Error::PermissionDenied {
                reason: format!("principal {} (roles: {}) may not {action}", caller.principal, roles()),
            });
        };
        if let (Action::Use(operation), Some(key)) = (action, key) {
            let needs_grant = first.needs_grant() && permitted.all(|r| r.needs_grant());
            if needs_grant && !self.access.granted(&caller.principal, key.id, operation) {
                return Err(Error::PermissionDenied {
                    reason: format!(
                        "principal {} has no grant for {operation} on key {}; an admin can add one with `keystead grant add`",
                        caller.principal, key.name
                    ),
                });
            }
        }
        Ok(())
    }
}
