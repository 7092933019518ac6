//! The signing keys of this process, backed by the store: loading them (creating the
//! first one), rotating, reloading what another process rotated, and purging keys
//! whose tokens have all expired. Private keys are sealed at rest with the
//! key-encryption key ([`Kek`]); the key ring in force is swapped atomically.

use std::sync::Arc;

use arc_swap::ArcSwap;
use keypair_store::{Store, StoreError, StoredSigningKey};
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
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The associated data a private key is sealed with: binds the sealed bytes to their
/// key id and algorithm, so a row cannot be swapped for another.
fn seal_context(kid: &str, alg: &str) -> String {
    format!("keygate signing key|{kid}|{alg}")
}

/// The keys in force: the current signer and the JWKS document to publish.
#[derive(Debug)]
pub struct KeyRing {
    /// Signs new tokens.
    pub current: SigningKey,
    /// `{"keys":[...]}`: the current key and retired keys that may still have live tokens.
    pub jwks: String,
    /// Ids in `jwks`, newest first.
    pub published_kids: Vec<String>,
}

/// Settings for [`Keys`].
#[derive(Clone, Copy, Debug)]
pub struct KeySettings {
    /// Algorithm of new keys.
    pub algorithm: SigningAlgorithm,
    /// The longest token lifetime: a retired key is published this long (plus a leeway).
    pub max_token_lifetime: Duration,
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
    /// Loads the keys, creating the first one (or rotating to the configured algorithm).
    pub fn load_or_create(
        store: Store,
        kek: Kek,
        settings: KeySettings,
        now: OffsetDateTime,
    ) -> Result<Keys, KeyError> {
        let ring = match build_ring(&store, &kek, &settings, now)? {
            Some(ring) if ring.current.algorithm() == settings.algorithm => ring,
            existing => {
                if let Some(r) = &existing {
                    tracing::info!(
                        from = r.current.algorithm().as_str(),
                        to = settings.algorithm.as_str(),
                        "signing algorithm changed: rotating"
                    );
                }
                insert_new_key(&store, &kek, settings.algorithm, now)?;
                build_ring(&store, &kek, &settings, now)?.ok_or_else(|| {
                    KeyError::Crypto(CryptoError::new("no signing key after creating one"))
                })?
            }
        };
        tracing::info!(
            kid = ring.current.kid(),
            alg = ring.current.algorithm().as_str(),
            "signing key loaded"
        );
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

    /// Adds a new key that signs from now on; the previous ones stay published until
    /// their tokens have expired. Returns the new key id.
    pub fn rotate(&self, now: OffsetDateTime) -> Result<String, KeyError> {
        let kid = insert_new_key(&self.store, &self.kek, self.settings.algorithm, now)?;
        self.reload(now)?;
        Ok(kid)
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
            if ring.published_kids != self.ring.load().published_kids {
                tracing::info!(kid = ring.current.kid(), "signing keys reloaded");
            }
            self.ring.store(Arc::new(ring));
        }
        Ok(())
    }
}

fn insert_new_key(
    store: &Store,
    kek: &Kek,
    alg: SigningAlgorithm,
    now: OffsetDateTime,
) -> Result<String, KeyError> {
    let (key, pkcs8) = SigningKey::generate(alg)?;
    let sealed = kek.seal(&seal_context(key.kid(), alg.as_str()), &pkcs8)?;
    store.rotate_signing_key(
        &StoredSigningKey {
            kid: key.kid().to_owned(),
            algorithm: alg.as_str().to_owned(),
            private_key_sealed: sealed,
            public_jwk: key.public_jwk().to_string(),
            created_at: now,
            retired_at: None,
        },
        now,
    )?;
    tracing::info!(kid = key.kid(), alg = alg.as_str(), "new signing key");
    Ok(key.kid().to_owned())
}

/// The newest unretired key signs; every key retired recently enough is published.
fn build_ring(
    store: &Store,
    kek: &Kek,
    settings: &KeySettings,
    now: OffsetDateTime,
) -> Result<Option<KeyRing>, KeyError> {
    let stored = store.signing_keys()?;
    let Some(current) = stored.iter().find(|k| k.retired_at.is_none()) else {
        return Ok(None);
    };
    let alg = SigningAlgorithm::parse(&current.algorithm).ok_or_else(|| KeyError::Corrupt {
        kid: current.kid.clone(),
        reason: format!("unknown algorithm {}", current.algorithm),
    })?;
    let pkcs8 = kek.open(
        &seal_context(&current.kid, &current.algorithm),
        &current.private_key_sealed,
    )?;
    let signer = SigningKey::from_pkcs8(alg, &pkcs8)?;
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
        current: signer,
        jwks: jwks_document(jwks),
        published_kids: kids,
    }))
}
