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
    hits: AtomicU64,
    misses: AtomicU64,
}

/// How well the key cache serves: for the metrics endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyCacheStats {
    /// Lookups answered from memory.
    pub hits: u64,
    /// Lookups that had to read and unseal the key.
    pub misses: u64,
    /// Keys in memory now.
    pub entries: u64,
}

impl KeyCache {
    pub fn by_id(&self, id: KeyId) -> Option<Arc<CachedKey>> {
        let found = self.maps.read().ok().and_then(|maps| maps.by_id.get(&id).cloned());
        self.count(found.is_some());
        found
    }

    pub fn by_name(&self, tenant: &Tenant, name: &KeyName) -> Option<Arc<CachedKey>> {
        let found = self.maps.read().ok().and_then(|maps| {
            let id = maps.by_name.get(&(tenant.clone(), name.clone()))?;
            maps.by_id.get(id).cloned()
        });
        self.count(found.is_some());
        found
    }

    fn count(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn stats(&self) -> KeyCacheStats {
        KeyCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.maps.read().map_or(0, |maps| maps.by_id.len() as u64),
        }
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

    /// Drops every key (a refresh after an unknown change of another node).
    pub fn clear_entries(&self) {
        self.clear();
    }

    /// Drops one key. Bumps the epoch too: a load that read the key before this change must
    /// not put its stale copy back.
    pub fn invalidate(&self, id: KeyId) {
        let mut maps = self.maps.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if let Some(old) = maps.by_id.remove(&id) {
            let attributes = &old.stored.attributes;
            maps.by_name.remove(&(attributes.tenant.clone(), attributes.name.clone()));
        }
    }
}
