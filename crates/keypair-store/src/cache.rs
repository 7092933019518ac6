//! A bounded, write-invalidated cache of keypairs for client authentication.
//!
//! Every write that changes or removes a keypair goes through [`crate::Store::write`],
//! which applies the transaction's [`Change`]s here after it commits, so a disable,
//! delete, scope change or owner closure is seen by the very next authentication in
//! this process. A generation counter, bumped by every invalidation, keeps a read that
//! raced with a write from putting the old row back. Entries also expire after a TTL,
//! which bounds how long a change made by *another* process sharing the database can
//! go unseen when the change listener (`crate::changes`) is not connected.
//!
//! Time is a parameter: an entry's age is the `now` of the read minus the `now` it was
//! loaded at. A clock that went back makes an entry count as expired, never as fresh.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use time::OffsetDateTime;

use crate::models::keypair::Keypair;
use crate::secret::SecretDigest;
use crate::tx::Change;

/// A secret's digest and when it stops working, in Unix microseconds (`i64::MAX`:
/// never). An integer rather than an `Option<OffsetDateTime>`, so that checking it
/// takes the same steps whether the secret has an expiry or not (`crate::auth`).
pub(crate) type Verifier = (SecretDigest, i64);

/// A cached keypair with what authentication needs.
#[derive(Debug)]
pub(crate) struct Cached {
    pub keypair: Arc<Keypair>,
    /// Every stored secret, live or run out: authentication checks the expiry.
    pub verifiers: Vec<Verifier>,
    loaded: OffsetDateTime,
    /// Unix seconds of the last `last_used_at` write made through this entry.
    pub last_use_written: AtomicI64,
}

impl Cached {
    pub fn new(keypair: Keypair, verifiers: Vec<Verifier>, now: OffsetDateTime) -> Self {
        let written = keypair
            .last_used_at
            .map_or(i64::MIN, |t| t.unix_timestamp());
        Cached {
            keypair: Arc::new(keypair),
            verifiers,
            loaded: now,
            last_use_written: AtomicI64::new(written),
        }
    }
}

#[derive(Debug)]
pub(crate) struct KeypairCache {
    entries: RwLock<HashMap<String, Arc<Cached>>>,
    generation: AtomicU64,
    ttl: Duration,
    max_entries: usize,
    /// Lookups answered from memory, and lookups that went to the database.
    hits: AtomicU64,
    misses: AtomicU64,
}

impl KeypairCache {
    /// `ttl` zero or `max_entries` zero disables caching.
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        KeypairCache {
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            ttl,
            max_entries,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.max_entries > 0
    }

    fn fresh(&self, cached: &Cached, now: OffsetDateTime) -> bool {
        let age = now - cached.loaded;
        !age.is_negative() && age < self.ttl
    }

    /// The entry for `client_id`, if it is younger than the TTL at `now`.
    pub fn get(&self, client_id: &str, now: OffsetDateTime) -> Option<Arc<Cached>> {
        let found = if self.enabled() {
            self.entries.read().ok().and_then(|entries| {
                entries
                    .get(client_id)
                    .filter(|c| self.fresh(c, now))
                    .cloned()
            })
        } else {
            None
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Lookups so far: (answered from memory, gone to the database).
    pub fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Read before loading from the database; pass to [`KeypairCache::insert_if_current`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches a row loaded while the generation was `generation`, unless an
    /// invalidation happened since (the row may then be stale).
    pub fn insert_if_current(&self, client_id: &str, cached: Arc<Cached>, generation: u64) {
        if !self.enabled() {
            return;
        }
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= self.max_entries && !entries.contains_key(client_id) {
            // Bounded: drop expired entries, or else an arbitrary one.
            let now = cached.loaded;
            entries.retain(|_, c| self.fresh(c, now));
            if entries.len() >= self.max_entries {
                if let Some(victim) = entries.keys().next().cloned() {
                    entries.remove(&victim);
                }
            }
        }
        entries.insert(client_id.to_owned(), cached);
    }

    /// Drops what a committed change made stale.
    pub fn apply(&self, change: &Change) {
        match change {
            Change::Keypair(id) => self.invalidate(id.as_str()),
            Change::AllKeypairs => self.clear(),
            Change::SigningKeys | Change::Status => {}
        }
    }

    /// Forgets one keypair (after a committed change to it).
    pub fn invalidate(&self, client_id: &str) {
        if let Ok(mut entries) = self.entries.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.remove(client_id);
        }
    }

    /// Forgets everything (after an environment or account was closed).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            self.generation.fetch_add(1, Ordering::AcqRel);
            entries.clear();
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.read().map(|e| e.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientId, ClientSecret, Owner, ScopeSet};

    const T0: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    fn keypair() -> (Keypair, Vec<Verifier>) {
        let now = T0;
        let kp = Keypair {
            client_id: ClientId::generate(),
            owner: Owner::Operator,
            scopes: ScopeSet::default(),
            comment: String::new(),
            enabled: true,
            secret_hint: String::new(),
            secrets: Vec::new(),
            expires_at: None,
            allowed_addresses: crate::AddressList::any(),
            token_lifetime_seconds: None,
            created_at: now,
            updated_at: now,
            last_used_at: None,
            generation: None,
        };
        (kp, vec![(ClientSecret::generate().digest(), i64::MAX)])
    }

    #[test]
    fn a_read_that_raced_with_a_write_is_not_cached() {
        let cache = KeypairCache::new(Duration::from_secs(60), 10);
        let (kp, d) = keypair();
        let id = kp.client_id.to_string();
        let before = cache.generation();
        cache.invalidate(&id); // a write committed while the row was being read
        cache.insert_if_current(&id, Arc::new(Cached::new(kp, d, T0)), before);
        assert!(cache.get(&id, T0).is_none());
    }

    #[test]
    fn bounded_and_expiring() {
        let cache = KeypairCache::new(Duration::from_secs(60), 3);
        for _ in 0..10 {
            let (kp, d) = keypair();
            let id = kp.client_id.to_string();
            cache.insert_if_current(&id, Arc::new(Cached::new(kp, d, T0)), cache.generation());
            assert!(cache.get(&id, T0).is_some());
        }
        assert_eq!(cache.len(), 3);
        let off = KeypairCache::new(Duration::ZERO, 3);
        let (kp, d) = keypair();
        let id = kp.client_id.to_string();
        off.insert_if_current(&id, Arc::new(Cached::new(kp, d, T0)), 0);
        assert!(off.get(&id, T0).is_none());
    }

    #[test]
    fn entries_expire_with_the_time_passed_in() {
        let cache = KeypairCache::new(Duration::from_millis(200), 3);
        let (kp, d) = keypair();
        let id = kp.client_id.to_string();
        cache.insert_if_current(&id, Arc::new(Cached::new(kp, d, T0)), 0);
        let ms = time::Duration::milliseconds;
        assert!(cache.get(&id, T0 + ms(199)).is_some());
        assert!(cache.get(&id, T0 + ms(200)).is_none());
        // A clock that went back never makes an entry fresher.
        assert!(cache.get(&id, T0 - ms(1)).is_none());
    }

    #[test]
    fn changes_drop_what_they_name() {
        let cache = KeypairCache::new(Duration::from_secs(60), 10);
        let ids: Vec<ClientId> = (0..3)
            .map(|_| {
                let (kp, d) = keypair();
                let id = kp.client_id.clone();
                cache.insert_if_current(id.as_str(), Arc::new(Cached::new(kp, d, T0)), 0);
                id
            })
            .collect();
        cache.apply(&Change::SigningKeys);
        assert_eq!(cache.len(), 3);
        cache.apply(&Change::Keypair(ids[0].clone()));
        assert!(cache.get(ids[0].as_str(), T0).is_none());
        assert!(cache.get(ids[1].as_str(), T0).is_some());
        cache.apply(&Change::AllKeypairs);
        assert_eq!(cache.len(), 0);
    }
}
