//! A small bounded cache whose entries expire by the injected clock.
//!
//! Hot paths (the token endpoint's client lookup, later the webhook's credential checks) read
//! records that change rarely; a store round trip costs far more than the request's own work.
//! Entries live at most `ttl_millis`, so a change made by another process (the CLI, another
//! instance) is seen within that time; changes made in-process invalidate at once.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use tollhouse_core::Clock;

/// Bounded map of `K` to `V` with per-entry expiry.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    entries: RwLock<HashMap<K, (V, i64)>>,
    ttl_millis: i64,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    /// A cache holding at most `capacity` entries for `ttl_millis` each.
    pub fn new(ttl_millis: i64, capacity: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            ttl_millis,
            capacity,
        }
    }

    /// The live entry for `key`, if any.
    pub fn get(&self, key: &K, clock: &dyn Clock) -> Option<V> {
        let entries = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (value, expires) = entries.get(key)?;
        (clock.now_millis() < *expires).then(|| value.clone())
    }

    /// Stores `value`. When full, expired entries are dropped first, and if none were, everything
    /// is (simple, and a full cache of live entries means the working set exceeds the bound).
    pub fn insert(&self, key: K, value: V, clock: &dyn Clock) {
        let now = clock.now_millis();
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (value, now + self.ttl_millis));
    }

    /// Stores `value` until the earlier of the cache's TTL and `until_millis` (e.g. the expiry
    /// of the credential the value was derived from).
    pub fn insert_until(&self, key: K, value: V, until_millis: i64, clock: &dyn Clock) {
        let now = clock.now_millis();
        if until_millis <= now {
            return;
        }
        self.insert(key.clone(), value, clock);
        if let Some(entry) = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_mut(&key)
        {
            entry.1 = entry.1.min(until_millis);
        }
    }

    /// Forgets everything at once (e.g. after a revocation, whose credential's cache key is
    /// not known to the code revoking it).
    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// Forgets `key` at once.
    pub fn remove(&self, key: &K) {
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
    }

    /// Forgets every entry for which `pred` holds.
    pub fn remove_where(&self, pred: impl Fn(&K, &V) -> bool) {
        self.entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|k, (v, _)| !pred(k, v));
    }

    /// How many entries are held (live or not yet swept).
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollhouse_core::ManualClock;

    #[test]
    fn entries_expire_by_the_clock_and_stay_bounded() {
        let clock = ManualClock::at(100);
        let cache = TtlCache::new(1000, 2);
        cache.insert("a", 1, &clock);
        assert_eq!(cache.get(&"a", &clock), Some(1));
        clock.advance(1);
        assert_eq!(cache.get(&"a", &clock), None, "expired after ttl");
        cache.insert("b", 2, &clock);
        cache.insert("c", 3, &clock);
        cache.insert("d", 4, &clock);
        assert!(cache.len() <= 2);
        assert_eq!(cache.get(&"d", &clock), Some(4));
        cache.remove(&"d");
        assert_eq!(cache.get(&"d", &clock), None);
    }
}
