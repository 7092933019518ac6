//! Signing keys: generation (EdDSA, ES256, RS256), their public JWKs and RFC 7638
//! thumbprint key ids, sealing at rest, and the in-process key ring that rotation and
//! reloads swap atomically.

use std::sync::Arc;

use arc_swap::ArcSwap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use keypair_store::{Store, StoreError, StoredSigningKey};
// aws-lc-rs has ring's API; with parsed keys its Ed25519 and P-256 signatures are
// faster than ring's here (benches/signing.rs), and it can generate RSA keys.
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    RSA_PKCS1_SHA256,
};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::kek::Kek;

/// Slack added to token lifetimes when deciding that a retired key can go.
pub const RETIREMENT_LEEWAY: Duration = Duration::minutes(5);

/// Why keys could not be loaded, made or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key-encryption key is missing, malformed or wrong.
    #[error("{0}")]
    Kek(String),
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
    Crypto(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A JWS algorithm keygate signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// Ed25519 (RFC 8037). The default: fastest to sign and verify, small tokens.
    EdDSA,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys (required by RFC 9068).
    RS256,
}

impl SigningAlgorithm {
    /// Parses the JWS name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "EdDSA" => Some(Self::EdDSA),
            "ES256" => Some(Self::ES256),
            "RS256" => Some(Self::RS256),
            _ => None,
        }
    }

    /// The JWS `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
        }
    }
}

enum Pair {
    Ed(Ed25519KeyPair),
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// A parsed private key, ready to sign (parsed once, not per token).
pub struct SigningKey {
    kid: String,
    alg: SigningAlgorithm,
    pair: Pair,
    rng: SystemRandom,
    /// base64url of the JWS header `{"alg","typ":"at+jwt","kid"}`, computed once.
    header_b64: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Parses a PKCS#8 private key of `alg`. The kid is the RFC 7638 thumbprint.
    pub fn from_pkcs8(alg: SigningAlgorithm, pkcs8: &[u8]) -> Result<SigningKey, KeyError> {
        let bad = |e: aws_lc_rs::error::KeyRejected| KeyError::Crypto(e.to_string());
        let rng = SystemRandom::new();
        let pair = match alg {
            SigningAlgorithm::EdDSA => {
                Pair::Ed(Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(bad)?)
            }
            SigningAlgorithm::ES256 => Pair::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).map_err(bad)?,
            ),
            SigningAlgorithm::RS256 => Pair::Rsa(RsaKeyPair::from_pkcs8(pkcs8).map_err(bad)?),
        };
        let mut key = SigningKey {
            kid: String::new(),
            alg,
            pair,
            rng,
            header_b64: String::new(),
        };
        key.kid = thumbprint(&key.public_members());
        let header = json!({"alg": alg.as_str(), "typ": "at+jwt", "kid": key.kid});
        key.header_b64 = URL_SAFE_NO_PAD.encode(header.to_string());
        Ok(key)
    }

    /// A new random key and its PKCS#8 encoding (to seal and store).
    pub fn generate(alg: SigningAlgorithm) -> Result<(SigningKey, Vec<u8>), KeyError> {
        let rng = SystemRandom::new();
        let crypto = |_| KeyError::Crypto(format!("cannot generate a {} key", alg.as_str()));
        let pkcs8 = match alg {
            SigningAlgorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(crypto)?
                .as_ref()
                .to_vec(),
            SigningAlgorithm::ES256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(crypto)?
                    .as_ref()
                    .to_vec()
            }
            // ring cannot generate RSA keys; aws-lc-rs (already linked by jsonwebtoken) can.
            SigningAlgorithm::RS256 => {
                use aws_lc_rs::encoding::AsDer as _;
                let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| KeyError::Crypto("cannot generate an RSA key".into()))?;
                let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> = pair
                    .as_der()
                    .map_err(|_| KeyError::Crypto("cannot encode an RSA key".into()))?;
                der.as_ref().to_vec()
            }
        };
        Ok((SigningKey::from_pkcs8(alg, &pkcs8)?, pkcs8))
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.alg
    }

    /// The base64url JWS protected header.
    pub fn header_b64(&self) -> &str {
        &self.header_b64
    }

    /// Signs `message` (the JWS signing input).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let failed = |_| KeyError::Crypto("signing failed".into());
        match &self.pair {
            Pair::Ed(k) => Ok(k.sign(message).as_ref().to_vec()),
            Pair::Ec(k) => Ok(k
                .sign(&self.rng, message)
                .map_err(failed)?
                .as_ref()
                .to_vec()),
            Pair::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .map_err(failed)?;
                Ok(sig)
            }
        }
    }

    /// The RFC 7638 required members of the public JWK.
    fn public_members(&self) -> serde_json::Value {
        match &self.pair {
            Pair::Ed(k) => {
                json!({"crv": "Ed25519", "kty": "OKP", "x": URL_SAFE_NO_PAD.encode(k.public_key().as_ref())})
            }
            Pair::Ec(k) => {
                // Uncompressed point: 0x04 || X (32 bytes) || Y (32 bytes).
                let point = k.public_key().as_ref();
                let (x, y) = point
                    .get(1..)
                    .unwrap_or_default()
                    .split_at(point.len().saturating_sub(1) / 2);
                json!({"crv": "P-256", "kty": "EC", "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)})
            }
            Pair::Rsa(k) => {
                let c: aws_lc_rs::rsa::PublicKeyComponents<Vec<u8>> = k.public_key().into();
                json!({"e": URL_SAFE_NO_PAD.encode(&c.e), "kty": "RSA", "n": URL_SAFE_NO_PAD.encode(&c.n)})
            }
        }
    }

    /// The public JWK as published in JWKS.
    pub fn public_jwk(&self) -> serde_json::Value {
        let mut jwk = self.public_members();
        if let Some(obj) = jwk.as_object_mut() {
            obj.insert("kid".into(), json!(self.kid));
            obj.insert("alg".into(), json!(self.alg.as_str()));
            obj.insert("use".into(), json!("sig"));
        }
        jwk
    }
}

/// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order
/// (`serde_json` without `preserve_order` keeps object keys sorted), base64url.
fn thumbprint(members: &serde_json::Value) -> String {
    let canonical = members.to_string();
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        canonical.as_bytes(),
    ))
}

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
                build_ring(&store, &kek, &settings, now)?
                    .ok_or_else(|| KeyError::Crypto("no signing key after creating one".into()))?
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
        jwks: json!({ "keys": jwks }).to_string(),
        published_kids: kids,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_algorithm_generates_parses_and_signs() {
        for alg in [
            SigningAlgorithm::EdDSA,
            SigningAlgorithm::ES256,
            SigningAlgorithm::RS256,
        ] {
            let (key, pkcs8) = SigningKey::generate(alg).unwrap();
            let again = SigningKey::from_pkcs8(alg, &pkcs8).unwrap();
            assert_eq!(key.kid(), again.kid(), "kid is a stable thumbprint");
            assert_eq!(key.kid().len(), 43);
            let sig = key.sign(b"message").unwrap();
            assert!(!sig.is_empty());
            let jwk = key.public_jwk();
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["use"], "sig");
            assert!(jwk.get("d").is_none(), "no private member");
        }
    }

    #[test]
    fn ed25519_thumbprint_matches_rfc_7638_shape() {
        let (key, _) = SigningKey::generate(SigningAlgorithm::EdDSA).unwrap();
        let members = key.public_members().to_string();
        assert!(
            members.starts_with("{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":"),
            "{members}"
        );
    }
}
