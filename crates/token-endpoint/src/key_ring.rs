//! The signing keys of this process, backed by the store: loading them (creating the
//! first one), rotating in two phases, reloading what another process rotated, and
//! purging keys whose tokens have all expired. Private keys are sealed at rest with the
//! key-encryption key ([`Kek`]); the key ring in force is swapped atomically.
//!
//! A rotation publishes the new key at once and lets it sign only
//! [`KeySettings::publish_lead`] later, so every process serves it in its JWKS, and a
//! guard that refetches on the unknown `kid` finds it, before any token or list carries
//! it. Until then the current key keeps signing; from then on it is retired and stays
//! published until everything it signed has expired. The ring holds the keys waiting
//! to sign with their activation times, and [`KeyRing::signer`] picks by the `now` it
//! is given, so the switch happens on time in every process that has loaded the new
//! key, without a notice or a reload.

use std::sync::Arc;

use arc_swap::ArcSwap;
use keypair_store::{Store, StoreError, StoredSigningKey};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::kek::{Kek, KekError};
use crate::signing_key::{jwks_document, CryptoError, SigningAlgorithm, SigningKey};

/// Slack added to token lifetimes when deciding that a retired key can go.
pub const RETIREMENT_LEEWAY: Duration = Duration::minutes(5);

/// Why keys could not be loaded, made or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key-encryption key is missing, malformed or wrong.
    #[error(transparent)]
    Kek(#[from] KekError),
    /// A stored key could not be parsed.
    #[error("stored signing key {kid} is unusable: {reason}")]
    Corrupt {
        /// Its id.
        kid: String,
        /// Why.
        reason: String,
    },
    /// Key generation or signing failed.
    #[error("signing key operation failed: {0}")]
    Crypto(#[from] CryptoError),
    /// The store failed, or refused a rotation while another key waits to sign
    /// ([`StoreError::Conflict`], whose message names that key and when it signs).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The associated data a private key is sealed with: binds the sealed bytes to their
/// key id and algorithm, so a row cannot be swapped for another.
fn seal_context(kid: &str, alg: &str) -> String {
    format!("keygate signing key|{kid}|{alg}")
}

/// The keys in force: who signs when, and the JWKS document to publish.
#[derive(Debug)]
pub struct KeyRing {
    /// The key that signed when the ring was built.
    current: SigningKey,
    /// Keys published ahead, with the time each starts signing, earliest first.
    upcoming: Vec<(OffsetDateTime, SigningKey)>,
    /// `{"keys":[...]}`: the keys waiting to sign, the current key, and retired keys
    /// that may still have live tokens.
    pub jwks: String,
    /// Ids in `jwks`, newest first (by the time each starts signing).
    pub published_kids: Vec<String>,
}

impl KeyRing {
    /// The key that signs at `now`: the newest one whose activation time has come.
    pub fn signer(&self, now: OffsetDateTime) -> &SigningKey {
        self.upcoming
            .iter()
            .rev()
            .find(|(at, _)| *at <= now)
            .map_or(&self.current, |(_, key)| key)
    }

    /// The key published ahead that signs next after `now`, and from when.
    pub fn next_signer(&self, now: OffsetDateTime) -> Option<(&SigningKey, OffsetDateTime)> {
        self.upcoming
            .iter()
            .find(|(at, _)| *at > now)
            .map(|(at, key)| (key, *at))
    }

    /// The newest key, pending or not: the one every process ends up signing with.
    fn newest(&self) -> &SigningKey {
        self.upcoming.last().map_or(&self.current, |(_, key)| key)
    }
}

/// Settings for [`Keys`].
#[derive(Clone, Copy, Debug)]
pub struct KeySettings {
    /// Algorithm of new keys (`token.algorithm`, default EdDSA).
    pub algorithm: SigningAlgorithm,
    /// The longest token lifetime: a retired key is published this long (plus
    /// [`RETIREMENT_LEEWAY`]) after it stops signing (`token.max_lifetime_seconds`,
    /// default 86400 s).
    pub max_token_lifetime: Duration,
    /// How long a rotated-in key is published before it signs
    /// (`key.publish_lead_seconds`, default 60 s). Zero: it signs at once.
    pub publish_lead: Duration,
}

/// A key added by a rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSigningKey {
    /// Its id (the `kid` of what it signs).
    pub kid: String,
    /// Its algorithm.
    pub algorithm: SigningAlgorithm,
    /// When it starts signing; it is published from the rotation on.
    pub signs_from: OffsetDateTime,
}

/// The signing keys of this process, backed by the store.
#[derive(Debug)]
pub struct Keys {
    store: Store,
    kek: Kek,
    settings: KeySettings,
    ring: ArcSwap<KeyRing>,
}

impl Keys {
    /// Loads the keys. The first key ever (an empty database) signs at once: no guard
    /// can hold a JWKS that lacks it. When the newest key is not of the configured
    /// algorithm, a key of that algorithm is rotated in like any other, published
    /// `publish_lead` ahead: guards have cached the JWKS without it, and the other
    /// processes sharing the database switch to it at the same moment. If a key of
    /// another algorithm is already waiting to sign, nothing is added (one pending
    /// rotation at a time) and a warning says so.
    pub fn load_or_create(
        store: Store,
        kek: Kek,
        settings: KeySettings,
        now: OffsetDateTime,
    ) -> Result<Keys, KeyError> {
        let ring = match build_ring(&store, &kek, &settings, now)? {
            None => {
                add_key(&store, &kek, settings.algorithm, now, now)?;
                built(build_ring(&store, &kek, &settings, now)?)?
            }
            Some(ring) if ring.newest().algorithm() == settings.algorithm => ring,
            Some(ring) => {
                if let Some((pending, at)) = ring.next_signer(now) {
                    tracing::warn!(
                        kid = pending.kid(),
                        alg = pending.algorithm().as_str(),
                        signs_from = %rfc3339(at),
                        configured = settings.algorithm.as_str(),
                        "a key of another algorithm than the configured one is waiting to \
                         sign; run `keygate keys rotate` once it signs to switch"
                    );
                    ring
                } else {
                    tracing::info!(
                        from = ring.newest().algorithm().as_str(),
                        to = settings.algorithm.as_str(),
                        "signing algorithm changed: rotating"
                    );
                    match add_key(
                        &store,
                        &kek,
                        settings.algorithm,
                        now,
                        now + settings.publish_lead,
                    ) {
                        // Another process starting at the same moment rotated first.
                        Ok(_) | Err(KeyError::Store(StoreError::Conflict(_))) => {}
                        Err(e) => return Err(e),
                    }
                    built(build_ring(&store, &kek, &settings, now)?)?
                }
            }
        };
        let signer = ring.signer(now);
        tracing::info!(
            kid = signer.kid(),
            alg = signer.algorithm().as_str(),
            "signing key loaded"
        );
        if let Some((next, at)) = ring.next_signer(now) {
            tracing::info!(
                kid = next.kid(),
                alg = next.algorithm().as_str(),
                signs_from = %rfc3339(at),
                "signing key published ahead"
            );
        }
        Ok(Keys {
            store,
            kek,
            settings,
            ring: ArcSwap::from_pointee(ring),
        })
    }

    /// The keys in force.
    pub fn ring(&self) -> Arc<KeyRing> {
        self.ring.load_full()
    }

    /// Adds a new key, published now, that signs from `now` + `publish_lead` on; the
    /// current key signs until then, and stays published until its tokens have
    /// expired. Refused (with [`StoreError::Conflict`]) while an earlier rotation's
    /// key still waits to sign.
    pub fn rotate(&self, now: OffsetDateTime) -> Result<NewSigningKey, KeyError> {
        let key = add_key(
            &self.store,
            &self.kek,
            self.settings.algorithm,
            now,
            now + self.settings.publish_lead,
        )?;
        self.reload(now)?;
        Ok(key)
    }

    /// [`Keys::rotate`] for a process that holds no key ring (`keygate keys rotate`).
    /// It first opens the stored keys with `kek`, so a wrong key-encryption key adds
    /// nothing; on an empty database the new key is the first one and signs at once.
    pub fn rotate_stored(
        store: &Store,
        kek: &Kek,
        settings: &KeySettings,
        now: OffsetDateTime,
    ) -> Result<NewSigningKey, KeyError> {
        let lead = match build_ring(store, kek, settings, now)? {
            Some(_) => settings.publish_lead,
            None => Duration::ZERO,
        };
        add_key(store, kek, settings.algorithm, now, now + lead)
    }

    /// Re-reads the keys (another process may have rotated) and drops keys whose
    /// tokens have all expired.
    pub fn reload(&self, now: OffsetDateTime) -> Result<(), KeyError> {
        let cutoff = now - self.settings.max_token_lifetime - RETIREMENT_LEEWAY;
        let purged = self.store.purge_signing_keys_retired_before(cutoff)?;
        if purged > 0 {
            tracing::info!(purged, "retired signing keys removed");
        }
        if let Some(ring) = build_ring(&self.store, &self.kek, &self.settings, now)? {
            let old = self.ring.load();
            if ring.published_kids != old.published_kids {
                tracing::info!(published = ?ring.published_kids, "signing keys reloaded");
            }
            if ring.current.kid() != old.current.kid() {
                tracing::info!(kid = ring.current.kid(), "signing key now signs");
            }
            self.ring.store(Arc::new(ring));
        }
        Ok(())
    }
}

/// A ring just built after adding a key.
fn built(ring: Option<KeyRing>) -> Result<KeyRing, KeyError> {
    ring.ok_or_else(|| KeyError::Crypto(CryptoError::new("no signing key after creating one")))
}

/// Generates, seals and stores a key published at `now` that signs from `signs_from`.
fn add_key(
    store: &Store,
    kek: &Kek,
    alg: SigningAlgorithm,
    now: OffsetDateTime,
    signs_from: OffsetDateTime,
) -> Result<NewSigningKey, KeyError> {
    // The store keeps microseconds: report the times it will give back.
    let (now, signs_from) = (to_micros(now), to_micros(signs_from));
    let (key, pkcs8) = SigningKey::generate(alg)?;
    let sealed = kek.seal(&seal_context(key.kid(), alg.as_str()), &pkcs8)?;
    store.rotate_signing_key(
        &StoredSigningKey {
            kid: key.kid().to_owned(),
            algorithm: alg.as_str().to_owned(),
            private_key_sealed: sealed,
            public_jwk: key.public_jwk().to_string(),
            created_at: now,
            activates_at: signs_from,
            retired_at: None,
        },
        now,
    )?;
    tracing::info!(
        kid = key.kid(),
        alg = alg.as_str(),
        signs_from = %rfc3339(signs_from),
        "new signing key published"
    );
    Ok(NewSigningKey {
        kid: key.kid().to_owned(),
        algorithm: alg,
        signs_from,
    })
}

/// `t` without its sub-microsecond part.
fn to_micros(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t)
}

/// RFC 3339, for logs and messages.
fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The newest key whose activation time has come, and which is not retired by then,
/// signs (when no key has activated, which only a clock behind another process's can
/// cause, the earliest one does); keys that activate later are held ready; every key
/// not retired, or retired recently enough, is published.
fn build_ring(
    store: &Store,
    kek: &Kek,
    settings: &KeySettings,
    now: OffsetDateTime,
) -> Result<Option<KeyRing>, KeyError> {
    let stored = store.signing_keys()?;
    let active = |k: &&StoredSigningKey| k.activates_at <= now;
    // Keys that activated in the same microsecond are told apart by retirement.
    let Some(current) = stored
        .iter()
        .filter(active)
        .find(|k| k.retired_at.is_none_or(|r| r > now))
        .or_else(|| stored.iter().find(active))
        .or_else(|| stored.last())
    else {
        return Ok(None);
    };
    let upcoming = stored
        .iter()
        .rev()
        .filter(|k| k.activates_at > now && k.kid != current.kid)
        .map(|k| Ok((k.activates_at, open(kek, k)?)))
        .collect::<Result<Vec<_>, KeyError>>()?;
    let current = open(kek, current)?;
    let keep_after = now - settings.max_token_lifetime - RETIREMENT_LEEWAY;
    let mut jwks = Vec::new();
    let mut kids = Vec::new();
    for k in stored
        .iter()
        .filter(|k| k.retired_at.is_none_or(|r| r > keep_after))
    {
        let jwk: serde_json::Value =
            serde_json::from_str(&k.public_jwk).map_err(|e| KeyError::Corrupt {
                kid: k.kid.clone(),
                reason: e.to_string(),
            })?;
        jwks.push(jwk);
        kids.push(k.kid.clone());
    }
    Ok(Some(KeyRing {
        current,
        upcoming,
        jwks: jwks_document(jwks),
        published_kids: kids,
    }))
}

/// Unseals and parses a stored key.
fn open(kek: &Kek, stored: &StoredSigningKey) -> Result<SigningKey, KeyError> {
    let alg = SigningAlgorithm::parse(&stored.algorithm).ok_or_else(|| KeyError::Corrupt {
        kid: stored.kid.clone(),
        reason: format!("unknown algorithm {}", stored.algorithm),
    })?;
    let pkcs8 = kek.open(
        &seal_context(&stored.kid, &stored.algorithm),
        &stored.private_key_sealed,
    )?;
    Ok(SigningKey::from_pkcs8(alg, &pkcs8)?)
}
