//! Authorization: the role matrix of `keystead_core::role`, per-key grants for crypto users,
//! and the in-memory caches that keep authentication and authorization off the database on
//! the hot path. Both caches change through this service as it commits, and through the
//! change feed when another node commits (`follow.rs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use keystead_core::key::KeyAttributes;
use keystead_core::{Action, KeyId, Operation, Role, Tenant};
use keystead_crypto::{SecretBytes, TokenHash};
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
    /// Bumped whenever a principal is forgotten: a lookup that read the store before that
    /// must not put its (possibly stale) copy back.
    principal_epoch: AtomicU64,
    /// Bumped whenever a grant is added: a reload that read the store before that must not
    /// replace the newer map.
    grant_epoch: AtomicU64,
    /// Enabled access keys that verified a signature, by id, with their unsealed secret: a
    /// SigV4 request then costs one HMAC chain, not a store read and an unseal. Dropped with
    /// their principal, on any change of the key, and on seal.
    access_keys: RwLock<HashMap<String, CachedAccessKey>>,
}

/// An access key as the SigV4 path needs it.
#[derive(Clone)]
pub(crate) struct CachedAccessKey {
    /// Its principal as read with it (activity and expiry are checked on each request).
    pub principal: StoredPrincipal,
    /// The unsealed secret, zeroized when the last reference goes.
    pub secret: Arc<SecretBytes>,
}

impl AccessCache {
    pub fn principal(&self, hash: &TokenHash) -> Option<StoredPrincipal> {
        self.principals.read().ok()?.get(hash.as_bytes()).cloned()
    }

    /// The epoch to read before looking a principal up in the store.
    pub fn principal_epoch(&self) -> u64 {
        self.principal_epoch.load(Ordering::SeqCst)
    }

    /// Caches a principal read from the store, unless one was forgotten since `epoch`.
    pub fn remember_principal(&self, hash: &TokenHash, principal: StoredPrincipal, epoch: u64) {
        if let Ok(mut map) = self.principals.write() {
            if self.principal_epoch.load(Ordering::SeqCst) == epoch {
                map.insert(*hash.as_bytes(), principal);
            }
        }
    }

    pub fn certificate_principal(&self, name: &str) -> Option<StoredPrincipal> {
        self.certificate_principals.read().ok()?.get(name).cloned()
    }

    /// Like [`remember_principal`](Self::remember_principal), by name.
    pub fn remember_certificate_principal(&self, principal: StoredPrincipal, epoch: u64) {
        if let Ok(mut map) = self.certificate_principals.write() {
            if self.principal_epoch.load(Ordering::SeqCst) == epoch {
                map.insert(principal.name.clone(), principal);
            }
        }
    }

    pub fn access_key(&self, id: &str) -> Option<CachedAccessKey> {
        self.access_keys.read().ok()?.get(id).cloned()
    }

    /// Caches an enabled access key read from the store, unless a principal or access key
    /// was forgotten since `epoch` (the principal epoch).
    pub fn remember_access_key(&self, id: &str, entry: CachedAccessKey, epoch: u64) {
        if let Ok(mut map) = self.access_keys.write() {
            if self.principal_epoch.load(Ordering::SeqCst) == epoch {
                map.insert(id.to_owned(), entry);
            }
        }
    }

    /// Drops one access key (disabled, enabled or deleted here or on another node).
    pub fn forget_access_key(&self, id: &str) {
        let mut map = self.access_keys.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.principal_epoch.fetch_add(1, Ordering::SeqCst);
        map.remove(id);
    }

    pub fn forget_principal(&self, name: &str) {
        // The maps' write locks are held while the epoch moves, so no remember can slip
        // between the bump and the removal.
        let mut principals = self.principals.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut by_name =
            self.certificate_principals.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut access_keys = self.access_keys.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.principal_epoch.fetch_add(1, Ordering::SeqCst);
        principals.retain(|_, p| p.name != name);
        by_name.remove(name);
        access_keys.retain(|_, k| k.principal.name != name);
        drop((principals, by_name, access_keys));
        if let Ok(mut map) = self.grants.write() {
            map.remove(name);
        }
    }

    /// Forgets every principal and every access key (with its unsealed secret): on seal, and
    /// when the change feed cannot say what changed.
    pub fn forget_all_principals(&self) {
        let mut principals = self.principals.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut by_name =
            self.certificate_principals.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut access_keys = self.access_keys.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.principal_epoch.fetch_add(1, Ordering::SeqCst);
        principals.clear();
        by_name.clear();
        access_keys.clear();
    }

    /// The epoch to read before reading grants from the store.
    pub fn grant_epoch(&self) -> u64 {
        self.grant_epoch.load(Ordering::SeqCst)
    }

    /// Replaces every grant with `grants` read from the store, unless a grant was added since
    /// `epoch`; returns whether it did.
    pub fn load_grants(&self, grants: Vec<Grant>, epoch: u64) -> bool {
        let mut map = self.grants.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.grant_epoch.load(Ordering::SeqCst) != epoch {
            return false;
        }
        map.clear();
        for grant in grants {
            map.entry(grant.principal).or_default().insert(grant.key_id, grant.operations);
        }
        true
    }

    pub fn add_grant(&self, grant: &Grant) {
        if let Ok(mut map) = self.grants.write() {
            self.grant_epoch.fetch_add(1, Ordering::SeqCst);
            let ops = map.entry(grant.principal.clone()).or_default().entry(grant.key_id).or_default();
            for op in &grant.operations {
                if !ops.contains(op) {
                    ops.push(*op);
                }
            }
        }
    }

    /// Leaves `principal` only `remaining` on `key` (none: the grant is gone). Never fails, so
    /// a revocation committed to the store always takes effect on this node at once.
    pub fn revoke_grant(&self, principal: &str, key: KeyId, remaining: &[Operation]) {
        let mut map = self.grants.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.grant_epoch.fetch_add(1, Ordering::SeqCst);
        if let Some(keys) = map.get_mut(principal) {
            if remaining.is_empty() {
                keys.remove(&key);
            } else {
                keys.insert(key, remaining.to_vec());
            }
        }
    }

    pub(crate) fn granted(&self, principal: &str, key: KeyId, operation: Operation) -> bool {
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
        justification: None,
        request_id: None,
        api_operation: None,
    })
}

impl Service {
    /// Reloads every grant from the store (another node changed some). Retries if a grant
    /// is added here meanwhile, so a reload never drops a newer grant.
    pub(crate) async fn reload_grants(&self) -> Result<(), Error> {
        loop {
            let epoch = self.access.grant_epoch();
            let grants = self.store.grants().await?;
            if self.access.load_grants(grants, epoch) {
                return Ok(());
            }
        }
    }

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
