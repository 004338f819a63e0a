//! The in-memory cache of unsealed keys, so hot operations never read the database. Entries
//! are dropped on every change of their key; dropping the last reference frees the AWS-LC key
//! objects, whose memory AWS-LC cleanses, and zeroizes any `SecretBytes`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use keystead_core::{KeyId, KeyName, Tenant, VersionNumber};
use keystead_crypto::LoadedKey;
use keystead_store::StoredKey;

/// A key with every live version unsealed and parsed.
#[derive(Debug)]
pub(crate) struct CachedKey {
    pub stored: StoredKey,
    pub loaded: BTreeMap<VersionNumber, LoadedKey>,
}

#[derive(Default)]
struct Maps {
    by_id: HashMap<KeyId, Arc<CachedKey>>,
    by_name: HashMap<(Tenant, KeyName), KeyId>,
}

/// Cached keys by id and by (tenant, name).
#[derive(Default)]
pub(crate) struct KeyCache {
    maps: RwLock<Maps>,
    /// Bumped by every [`clear`](KeyCache::clear); a key unsealed before a clear is not
    /// inserted after it (a request racing `operator seal` cannot repopulate the cache).
    epoch: AtomicU64,
}

impl KeyCache {
    pub fn by_id(&self, id: KeyId) -> Option<Arc<CachedKey>> {
        self.maps.read().ok()?.by_id.get(&id).cloned()
    }

    pub fn by_name(&self, tenant: &Tenant, name: &KeyName) -> Option<Arc<CachedKey>> {
        let maps = self.maps.read().ok()?;
        let id = maps.by_name.get(&(tenant.clone(), name.clone()))?;
        maps.by_id.get(id).cloned()
    }

    /// The current epoch; read it before obtaining the root key.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Drops every key (`operator seal`).
    pub fn clear(&self) {
        let mut maps = self.maps.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.epoch.fetch_add(1, Ordering::SeqCst);
        maps.by_id.clear();
        maps.by_name.clear();
    }

    /// Caches `key` unless the cache was cleared since `epoch`.
    pub fn insert(&self, key: Arc<CachedKey>, epoch: u64) {
        if let Ok(mut maps) = self.maps.write() {
            if self.epoch.load(Ordering::SeqCst) != epoch {
                return;
            }
            let attributes = &key.stored.attributes;
            maps.by_name.insert((attributes.tenant.clone(), attributes.name.clone()), attributes.id);
            maps.by_id.insert(attributes.id, key);
        }
    }

    pub fn invalidate(&self, id: KeyId) {
        if let Ok(mut maps) = self.maps.write() {
            if let Some(old) = maps.by_id.remove(&id) {
                let attributes = &old.stored.attributes;
                maps.by_name.remove(&(attributes.tenant.clone(), attributes.name.clone()));
            }
        }
    }
}
