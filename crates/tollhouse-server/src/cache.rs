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

/// The answer of [`SwrCache::lookup`].
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<V> {
    /// Use this value.
    Hit(V),
    /// Compute the value (as [`SwrCache::get_or_load`] does).
    Compute,
}

#[derive(Debug)]
struct SwrEntry<V> {
    value: V,
    fresh_until: i64,
    hard_until: i64,
    refreshing: std::sync::atomic::AtomicBool,
}

/// A bounded cache that refreshes without a stampede: once an entry is stale, exactly one caller
/// is asked to recompute it while the others keep the stale value for at most `grace_millis`.
/// So an entry is never used more than `fresh_millis + grace_millis` after it was computed, and
/// never past its own hard expiry (e.g. the credential's `exp`).
#[derive(Debug)]
pub struct SwrCache<K, V> {
    entries: RwLock<HashMap<K, SwrEntry<V>>>,
    /// Bumped (under the write lock) by every removal, so a value computed from a read that
    /// overlapped a removal is not stored after it (see [`SwrCache::get_or_load`]).
    generation: std::sync::atomic::AtomicU64,
    fresh_millis: i64,
    grace_millis: i64,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V: Clone> SwrCache<K, V> {
    /// Entries are fresh for `fresh_millis`, then served stale for up to `grace_millis` while
    /// one caller recomputes them.
    pub fn new(fresh_millis: i64, grace_millis: i64, capacity: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
            fresh_millis,
            grace_millis,
            capacity,
        }
    }

    /// The removal count so far, read before a load so that a value loaded across a removal
    /// is not stored.
    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The value to use for `key`, or the duty to compute it.
    pub fn lookup(&self, key: &K, clock: &dyn Clock) -> Lookup<V> {
        let now = clock.now_millis();
        let entries = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(entry) = entries.get(key) else {
            return Lookup::Compute;
        };
        if now >= entry.hard_until {
            return Lookup::Compute;
        }
        if now < entry.fresh_until {
            return Lookup::Hit(entry.value.clone());
        }
        let usable_stale = now < entry.fresh_until + self.grace_millis;
        let someone_refreshes = entry
            .refreshing
            .swap(true, std::sync::atomic::Ordering::AcqRel);
        if usable_stale && someone_refreshes {
            Lookup::Hit(entry.value.clone())
        } else {
            Lookup::Compute
        }
    }

    /// The cached value for `key`, or the one `load` computes (with the hard expiry, in clock
    /// millis, it may be used until). A loaded value is stored unless something was removed
    /// while it was loading (it may predate that change); a failed load forgets the key, so a
    /// stale value whose refresh failed is not served again.
    pub async fn get_or_load<E>(
        &self,
        key: K,
        clock: &dyn Clock,
        load: impl Future<Output = Result<(V, i64), E>>,
    ) -> Result<V, E> {
        if let Lookup::Hit(hit) = self.lookup(&key, clock) {
            return Ok(hit);
        }
        let seen = self.generation();
        match load.await {
            Ok((value, hard_until_millis)) => {
                self.insert_checked(key, value.clone(), hard_until_millis, clock, Some(seen));
                Ok(value)
            }
            Err(err) => {
                // Not a change of what the cache mirrors: other keys' loads in flight stand.
                self.entries
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&key);
                Err(err)
            }
        }
    }

    /// Stores `value`, usable until `hard_until_millis` at the latest.
    pub fn insert(&self, key: K, value: V, hard_until_millis: i64, clock: &dyn Clock) {
        self.insert_checked(key, value, hard_until_millis, clock, None);
    }

    fn insert_checked(
        &self,
        key: K,
        value: V,
        hard_until_millis: i64,
        clock: &dyn Clock,
        seen: Option<u64>,
    ) {
        let now = clock.now_millis();
        if hard_until_millis <= now {
            return;
        }
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Removals bump the generation while holding the write lock, so this check cannot
        // interleave with one.
        if seen.is_some_and(|seen| self.generation() != seen) {
            return;
        }
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, e| e.hard_until > now && e.fresh_until + self.grace_millis > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(
            key,
            SwrEntry {
                value,
                fresh_until: now + self.fresh_millis,
                hard_until: hard_until_millis,
                refreshing: std::sync::atomic::AtomicBool::new(false),
            },
        );
    }

    /// Forgets `key`.
    pub fn remove(&self, key: &K) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.remove(key);
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Forgets everything.
    pub fn clear(&self) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries.clear();
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }
}

#[cfg(test)]
mod swr_tests {
    use super::*;

    #[tokio::test]
    async fn get_or_load_caches_loads_and_forgets_failures() {
        let clock = tollhouse_core::ManualClock::at(100);
        let cache: SwrCache<&str, u32> = SwrCache::new(800, 200, 16);
        let loaded = cache.get_or_load("k", &clock, async { Ok::<_, ()>((1, i64::MAX)) });
        assert_eq!(loaded.await, Ok(1));
        let cached = cache.get_or_load("k", &clock, async { Ok::<_, ()>((2, i64::MAX)) });
        assert_eq!(cached.await, Ok(1), "a fresh entry is not loaded again");
        clock.advance_millis(800);
        let failed = cache.get_or_load("k", &clock, async { Err::<(u32, i64), _>("down") });
        assert_eq!(failed.await, Err("down"));
        assert_eq!(
            cache.lookup(&"k", &clock),
            Lookup::Compute,
            "the stale value is gone"
        );
        // A removal while loading: the value is returned but not kept.
        let seen_removal = cache.get_or_load("k", &clock, async {
            cache.remove(&"other");
            Ok::<_, ()>((3, i64::MAX))
        });
        assert_eq!(seen_removal.await, Ok(3));
        assert_eq!(cache.lookup(&"k", &clock), Lookup::Compute);
    }

    use tollhouse_core::ManualClock;

    #[test]
    fn one_caller_refreshes_while_others_use_the_stale_value() {
        let clock = ManualClock::at(100);
        let cache = SwrCache::new(800, 200, 10);
        assert_eq!(cache.lookup(&"k", &clock), Lookup::Compute);
        cache.insert("k", 1, i64::MAX, &clock);
        assert_eq!(cache.lookup(&"k", &clock), Lookup::Hit(1));
        clock.advance_millis(800);
        assert_eq!(
            cache.lookup(&"k", &clock),
            Lookup::Compute,
            "first to see it stale refreshes"
        );
        assert_eq!(
            cache.lookup(&"k", &clock),
            Lookup::Hit(1),
            "others keep the stale value"
        );
        clock.advance_millis(200);
        assert_eq!(
            cache.lookup(&"k", &clock),
            Lookup::Compute,
            "never past fresh + grace"
        );
        cache.insert("k", 2, clock.now_millis() + 100, &clock);
        assert_eq!(cache.lookup(&"k", &clock), Lookup::Hit(2));
        clock.advance_millis(100);
        assert_eq!(
            cache.lookup(&"k", &clock),
            Lookup::Compute,
            "never past the hard expiry"
        );
        cache.remove(&"k");
        assert_eq!(cache.lookup(&"k", &clock), Lookup::Compute);
    }
}
