//! Signing keys as pure cryptography: generating and parsing them (EdDSA, ES256,
//! RS256), signing, their public JWKs with RFC 7638 thumbprint key ids, and the JWKS
//! document. Nothing here touches the store; sealing, storing and rotating keys is
//! [`crate::key_ring`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
// aws-lc-rs has ring's API; with parsed keys its Ed25519 and P-256 signatures are
// faster than ring's here (benches/signing.rs), and it can generate RSA keys.
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    RSA_PKCS1_SHA256,
};
use serde_json::json;

/// A key could not be generated, parsed or used to sign. The message names the
/// operation and never carries key material.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CryptoError(String);

impl CryptoError {
    pub(crate) fn new(message: impl Into<String>) -> CryptoError {
        CryptoError(message.into())
    }
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
    /// base64url of the status list header `{"alg","typ":"statuslist+jwt","kid"}`.
    status_list_header_b64: String,
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
    pub fn from_pkcs8(alg: SigningAlgorithm, pkcs8: &[u8]) -> Result<SigningKey, CryptoError> {
        let bad = |e: aws_lc_rs::error::KeyRejected| CryptoError::new(e.to_string());
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
            status_list_header_b64: String::new(),
        };
        key.kid = thumbprint(&key.public_members());
        let header = json!({"alg": alg.as_str(), "typ": "at+jwt", "kid": key.kid});
        key.header_b64 = URL_SAFE_NO_PAD.encode(header.to_string());
        let header = json!({"alg": alg.as_str(), "typ": "statuslist+jwt", "kid": key.kid});
        key.status_list_header_b64 = URL_SAFE_NO_PAD.encode(header.to_string());
        Ok(key)
    }

    /// A new random key and its PKCS#8 encoding (to seal and store).
    pub fn generate(alg: SigningAlgorithm) -> Result<(SigningKey, Vec<u8>), CryptoError> {
        let rng = SystemRandom::new();
        let crypto = |_| CryptoError::new(format!("cannot generate a {} key", alg.as_str()));
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
                    .map_err(|_| CryptoError::new("cannot generate an RSA key"))?;
                let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> = pair
                    .as_der()
                    .map_err(|_| CryptoError::new("cannot encode an RSA key"))?;
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

    /// The base64url JWS protected header of access tokens (`typ: at+jwt`).
    pub fn header_b64(&self) -> &str {
        &self.header_b64
    }

    /// The base64url JWS protected header of status list tokens (`typ: statuslist+jwt`).
    pub fn status_list_header_b64(&self) -> &str {
        &self.status_list_header_b64
    }

    /// The length of [`SigningKey::sign`]'s signatures in bytes.
    pub fn signature_len(&self) -> usize {
        match &self.pair {
            Pair::Ed(_) | Pair::Ec(_) => 64,
            Pair::Rsa(k) => k.public_modulus_len(),
        }
    }

    /// Signs `message` (the JWS signing input).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let failed = |_| CryptoError::new("signing failed");
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

/// The JWKS document (RFC 7517 §5) publishing `keys`: `{"keys":[...]}`.
pub(crate) fn jwks_document(keys: Vec<serde_json::Value>) -> String {
    json!({ "keys": keys }).to_string()
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
            assert_eq!(sig.len(), key.signature_len());
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
