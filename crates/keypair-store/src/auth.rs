//! Client authentication: the hot path of `/token`.
//!
//! Keypairs are read through the write-invalidated cache (`crate::cache`): a hit needs
//! no database round trip; a miss reads the row and caches it, unless a write
//! committed meanwhile. `now` is a parameter: it ages cache entries and stamps
//! `last_used_at`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::cache::Cached;
use crate::ids::ClientId;
use crate::models::keypair::{Keypair, KeypairRow};
use crate::models::status::{Generation, TokenStatus};
use crate::schema::keypairs;
use crate::secret::{ClientSecret, SecretDigest};
use crate::timestamp::to_micros;
use crate::{Store, StoreError, StoreResult};

/// `last_used_at` is written at most once per this many seconds per keypair, so that a
/// busy client does not turn every token request into a write.
const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// The result of presenting client credentials.
#[derive(Debug)]
pub enum ClientAuth {
    /// Right secret, enabled keypair.
    Authenticated(Arc<Keypair>),
    /// Refused. The reason is for the log only: clients always get the same answer.
    Rejected(Rejection),
}

/// Why credentials were refused (log only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// No keypair has this client id (or it was deleted).
    UnknownClient,
    /// The secret does not match.
    WrongSecret,
    /// The secret matches but the keypair is disabled.
    Disabled,
}

impl Store {
    /// Checks presented client credentials at `now`. Takes the same steps whether or
    /// not the client exists: an unknown client id is compared against a dummy digest,
    /// and the comparison is constant-time (see `docs/security.md` for what timing
    /// can and cannot tell).
    pub fn authenticate(
        &self,
        client_id: &str,
        presented: &ClientSecret,
        now: OffsetDateTime,
    ) -> StoreResult<ClientAuth> {
        let presented_digest = presented.digest();
        let found = match ClientId::parse(client_id) {
            Ok(id) => self.cached_or_load(&id, now)?,
            Err(_) => None,
        };
        let stored = found.as_ref().map_or(SecretDigest::dummy(), |c| &c.digest);
        let matches = stored.matches(&presented_digest);
        let Some(found) = found else {
            return Ok(ClientAuth::Rejected(Rejection::UnknownClient));
        };
        if !matches {
            return Ok(ClientAuth::Rejected(Rejection::WrongSecret));
        }
        if !found.keypair.enabled {
            return Ok(ClientAuth::Rejected(Rejection::Disabled));
        }
        Ok(ClientAuth::Authenticated(found.keypair.clone()))
    }

    fn cached_or_load(
        &self,
        id: &ClientId,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Arc<Cached>>> {
        if let Some(c) = self.cache.get(id.as_str(), now) {
            return Ok(Some(c));
        }
        let generation = self.cache.generation();
        let Some((row, current)) = self.read(|c| {
            let Some(row) = KeypairRow::find(c, id)? else {
                return Ok(None);
            };
            Ok(Some((row, Generation::current(c, id)?)))
        })?
        else {
            return Ok(None);
        };
        let digest = SecretDigest::from_db(&row.secret_digest).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "keypair {}: stored secret digest has the wrong length",
                id.as_str()
            ))
        })?;
        let keypair = Keypair {
            generation: current,
            ..row.into_keypair()?
        };
        let cached = Arc::new(Cached::new(keypair, digest, now));
        self.cache
            .insert_if_current(id.as_str(), cached.clone(), generation);
        Ok(Some(cached))
    }

    /// Whether [`Store::authenticate`] and [`Store::record_use`] for this client would
    /// be answered from memory at `now` (no database round trip), and a token for it
    /// needs no [`Store::open_generation`] (an enabled keypair holds a VALID generation),
    /// so a caller on an async executor may run them inline.
    pub fn answers_from_memory(&self, client_id: &str, now: OffsetDateTime) -> bool {
        self.cache.get(client_id, now).is_some_and(|c| {
            let last = c.last_use_written.load(Ordering::Relaxed);
            let has_generation = !c.keypair.enabled
                || c.keypair
                    .generation
                    .as_ref()
                    .is_some_and(|g| g.status == TokenStatus::Valid);
            has_generation && now.unix_timestamp().saturating_sub(last) < LAST_USED_GRANULARITY_SECS
        })
    }

    /// Records that a keypair got a token at `now` (at most one write a minute per
    /// keypair). Not a change anyone caches, so it records no [`crate::Change`].
    pub fn record_use(&self, client_id: &ClientId, now: OffsetDateTime) -> StoreResult<()> {
        use keypairs::dsl as k;
        if let Some(c) = self.cache.get(client_id.as_str(), now) {
            let secs = now.unix_timestamp();
            let last = c.last_use_written.load(Ordering::Relaxed);
            if secs.saturating_sub(last) < LAST_USED_GRANULARITY_SECS {
                return Ok(());
            }
            c.last_use_written.store(secs, Ordering::Relaxed);
        }
        let now = to_micros(now);
        self.write(|tx| {
            diesel::update(
                k::keypairs.find(client_id.as_str()).filter(
                    k::last_used_at
                        .is_null()
                        .or(k::last_used_at.lt(now - LAST_USED_GRANULARITY_SECS * 1_000_000)),
                ),
            )
            .set(k::last_used_at.eq(now))
            .execute(&mut **tx)?;
            Ok(())
        })
    }
}
