//! Client authentication: the hot path of `/token`.
//!
//! Keypairs are read through the write-invalidated cache (`crate::cache`): a hit needs
//! no database round trip; a miss reads the row and caches it, unless a write
//! committed meanwhile. `now` is a parameter: it ages cache entries and stamps
//! `last_used_at`.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use diesel::prelude::*;
use subtle::{Choice, ConstantTimeEq, ConstantTimeGreater};
use time::OffsetDateTime;

use crate::cache::{Cached, Verifier};
use crate::ids::ClientId;
use crate::models::keypair::{Keypair, KeypairRow};
use crate::models::secrets::{SecretRow, MAX_LIVE_SECRETS};
use crate::models::status::{Generation, TokenStatus};
use crate::schema::keypairs;
use crate::secret::{ClientSecret, SecretDigest};
use crate::timestamp::to_micros;
use crate::{Store, StoreResult};

/// `last_used_at` is written at most once per this many seconds per keypair, so that a
/// busy client does not turn every token request into a write.
const LAST_USED_GRANULARITY_SECS: i64 = 60;

/// The result of presenting client credentials.
#[derive(Debug)]
pub enum ClientAuth {
    /// A live secret of an enabled, unexpired keypair, from an allowed address.
    Authenticated(Arc<Keypair>),
    /// Refused. The reason is for the log only: clients always get the same answer.
    Rejected(Rejection),
}

/// Why credentials were refused (log only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// No keypair has this client id (or it was deleted).
    UnknownClient,
    /// The secret matches no live secret (a wrong one, or one that ran out).
    WrongSecret,
    /// The secret matches but the keypair is disabled.
    Disabled,
    /// The secret matches but the keypair's `expires_at` has passed.
    Expired,
    /// The secret matches but the address is outside the keypair's allowlist.
    AddressNotAllowed,
}

impl Rejection {
    /// The reason as logged (and counted): `unknown_client`, `wrong_secret`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::UnknownClient => "unknown_client",
            Rejection::WrongSecret => "wrong_secret",
            Rejection::Disabled => "disabled",
            Rejection::Expired => "expired",
            Rejection::AddressNotAllowed => "address_not_allowed",
        }
    }
}

/// Compares `presented` with every stored secret in constant time, and always with at
/// least [`MAX_LIVE_SECRETS`] digests (padded with the dummy), so that the time taken
/// tells neither which secret matched nor how many a keypair has. A secret that ran
/// out by `now` is compared like the others and then does not count. Every slot takes
/// the same steps: a digest comparison and an integer comparison of its expiry with
/// `now`, both constant-time, with no early exit (a padding slot "expired" at
/// `i64::MIN`, a secret without expiry at `i64::MAX`).
fn matches_live_secret(
    verifiers: &[Verifier],
    presented: &SecretDigest,
    now: OffsetDateTime,
) -> bool {
    let now = ordered(to_micros(now));
    let mut matched = Choice::from(0);
    for i in 0..verifiers.len().max(MAX_LIVE_SECRETS) {
        let (digest, expires_at) = verifiers
            .get(i)
            .map_or((SecretDigest::dummy(), i64::MIN), |(d, e)| (d, *e));
        matched |= digest.ct_eq(presented) & ordered(expires_at).ct_gt(&now);
    }
    matched.into()
}

/// An `i64` as a `u64` in the same order (for `subtle`'s unsigned comparisons).
fn ordered(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}

impl Store {
    /// Checks client credentials presented from `address` at `now`. Takes the same
    /// steps whether or not the client exists: an unknown client id is compared
    /// against dummy digests, and every comparison is constant-time (see
    /// `docs/security.md` for what timing can and cannot tell). The secret is checked
    /// before anything else, so only a caller holding a live secret learns (from the
    /// log, never from the answer) that a keypair is disabled, expired or pinned to
    /// other addresses.
    pub fn authenticate(
        &self,
        client_id: &str,
        presented: &ClientSecret,
        address: IpAddr,
        now: OffsetDateTime,
    ) -> StoreResult<ClientAuth> {
        let presented_digest = presented.digest();
        let found = match ClientId::parse(client_id) {
            Ok(id) => self.cached_or_load(&id, now)?,
            Err(_) => None,
        };
        let verifiers = found.as_ref().map_or(&[][..], |c| &c.verifiers[..]);
        let matches = matches_live_secret(verifiers, &presented_digest, now);
        let Some(found) = found else {
            return Ok(ClientAuth::Rejected(Rejection::UnknownClient));
        };
        let keypair = &found.keypair;
        let refusal = if !matches {
            Some(Rejection::WrongSecret)
        } else if !keypair.enabled {
            Some(Rejection::Disabled)
        } else if keypair.expired_at(now) {
            Some(Rejection::Expired)
        } else if !keypair.allowed_addresses.permits(address) {
            Some(Rejection::AddressNotAllowed)
        } else {
            None
        };
        Ok(match refusal {
            Some(reason) => ClientAuth::Rejected(reason),
            None => ClientAuth::Authenticated(keypair.clone()),
        })
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
        let Some((row, current, secrets)) = self.read(|c| {
            let Some(row) = KeypairRow::find(c, id)? else {
                return Ok(None);
            };
            Ok(Some((
                row,
                Generation::current(c, id)?,
                SecretRow::of(c, id)?,
            )))
        })?
        else {
            return Ok(None);
        };
        let verifiers = secrets
            .iter()
            .map(SecretRow::verifier)
            .collect::<StoreResult<Vec<_>>>()?;
        let keypair = Keypair {
            generation: current,
            secrets: secrets.iter().map(SecretRow::info).collect(),
            ..row.into_keypair()?
        };
        let cached = Arc::new(Cached::new(keypair, verifiers, now));
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

#[cfg(test)]
mod tests {
    use super::*;

    const T: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    #[test]
    fn a_secret_counts_until_its_expiry_and_padding_never() {
        let a = ClientSecret::generate().digest();
        let b = ClientSecret::generate().digest();
        let until = to_micros(T + time::Duration::seconds(60));
        let both = [(a.clone(), until), (b.clone(), i64::MAX)];
        let just = time::Duration::microseconds(1);
        for now in [
            T - time::Duration::days(365),
            T,
            T + time::Duration::seconds(60) - just,
        ] {
            assert!(matches_live_secret(&both, &a, now), "{now}");
            assert!(matches_live_secret(&both, &b, now), "{now}");
        }
        for now in [
            T + time::Duration::seconds(60),
            T + time::Duration::days(365),
        ] {
            assert!(!matches_live_secret(&both, &a, now), "{now}");
            assert!(matches_live_secret(&both, &b, now), "{now}");
        }
        let other = ClientSecret::generate().digest();
        assert!(!matches_live_secret(&both, &other, T));
        // Padding: neither an empty list nor the dummy digest itself ever matches.
        assert!(!matches_live_secret(&[], SecretDigest::dummy(), T));
        assert!(!matches_live_secret(&both[1..], SecretDigest::dummy(), T));
        // Expiries before 1970 and the extremes keep their order.
        let early = to_micros(T - time::Duration::seconds(1));
        assert!(!matches_live_secret(&[(a.clone(), early)], &a, T));
        assert!(matches_live_secret(
            &[(a.clone(), early)],
            &a,
            T - time::Duration::seconds(2)
        ));
        assert!(!matches_live_secret(&[(a.clone(), i64::MIN)], &a, T));
    }
}
