//! Where the guard gets keys: the issuer's JWKS, discovered from its RFC 8414
//! metadata, or a fixed set (tests, in-process use).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

/// Why keys or a status list could not be fetched. Logged by the guard; never shown
/// to clients.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("fetch failed: {0}")]
pub struct FetchError(pub String);

/// A source of JWKS documents (`{"keys":[...]}`).
pub trait JwksProvider: Send + Sync + std::fmt::Debug {
    /// Fetches the current JWKS document. May block; must be bounded in time.
    fn fetch(&self) -> Result<String, FetchError>;
}

/// A fixed JWKS document.
#[derive(Clone, Debug)]
pub struct StaticJwks(pub String);

impl JwksProvider for StaticJwks {
    fn fetch(&self) -> Result<String, FetchError> {
        Ok(self.0.clone())
    }
}

/// The issuer's JWKS over HTTP(S): `jwks_uri` is discovered from
/// `{issuer}/.well-known/oauth-authorization-server` (whose `issuer` must match) and
/// remembered.
#[derive(Debug)]
pub struct HttpJwks {
    issuer: String,
    agent: ureq::Agent,
    jwks_uri: Mutex<Option<String>>,
}

/// Largest metadata or JWKS document read (bytes).
const MAX_DOCUMENT_BYTES: u64 = 256 * 1024;

impl HttpJwks {
    /// For `issuer`, with every request bounded by `timeout`.
    pub fn new(issuer: &str, timeout: Duration) -> HttpJwks {
        HttpJwks {
            issuer: issuer.trim_end_matches('/').to_owned(),
            agent: ureq::AgentBuilder::new()
                .timeout(timeout)
                .redirects(0)
                .build(),
            jwks_uri: Mutex::new(None),
        }
    }

    fn get(&self, url: &str) -> Result<String, FetchError> {
        use std::io::Read as _;
        let resp = self
            .agent
            .get(url)
            .set("accept", "application/json")
            .call()
            .map_err(|e| FetchError(format!("GET {url}: {e}")))?;
        let mut body = String::new();
        resp.into_reader()
            .take(MAX_DOCUMENT_BYTES)
            .read_to_string(&mut body)
            .map_err(|e| FetchError(format!("GET {url}: {e}")))?;
        Ok(body)
    }

    fn discover(&self) -> Result<String, FetchError> {
        let url = format!("{}/.well-known/oauth-authorization-server", self.issuer);
        let doc: serde_json::Value = serde_json::from_str(&self.get(&url)?)
            .map_err(|_| FetchError(format!("{url}: not JSON")))?;
        if doc.get("issuer").and_then(|v| v.as_str()) != Some(self.issuer.as_str()) {
            return Err(FetchError(format!("{url}: issuer does not match")));
        }
        doc.get("jwks_uri")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| FetchError(format!("{url}: no jwks_uri")))
    }
}

impl JwksProvider for HttpJwks {
    fn fetch(&self) -> Result<String, FetchError> {
        let known = self.jwks_uri.lock().map(|g| g.clone()).unwrap_or(None);
        let uri = match known {
            Some(u) => u,
            None => {
                let u = self.discover()?;
                if let Ok(mut g) = self.jwks_uri.lock() {
                    *g = Some(u.clone());
                }
                u
            }
        };
        self.get(&uri)
    }
}

/// A usable verification key and the one algorithm it may verify.
#[derive(Clone)]
pub(crate) struct VerifyingKey {
    pub key: DecodingKey,
    pub alg: Algorithm,
}

/// Parses a JWKS document into usable keys by `kid`. Entries that are not signing keys
/// of an asymmetric algorithm, lack `kid` or `alg`, or do not parse are skipped: the
/// algorithm of each key is pinned to the `alg` the issuer declares for it.
pub(crate) fn parse_jwks(doc: &str) -> Result<HashMap<String, VerifyingKey>, FetchError> {
    let value: serde_json::Value =
        serde_json::from_str(doc).map_err(|_| FetchError("JWKS is not JSON".into()))?;
    let entries = value
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or_else(|| FetchError("JWKS has no keys array".into()))?;
    let mut out = HashMap::new();
    for entry in entries {
        let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
            continue;
        }
        let alg = match jwk.common.key_algorithm {
            Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
            Some(KeyAlgorithm::ES256) => Algorithm::ES256,
            Some(KeyAlgorithm::ES384) => Algorithm::ES384,
            Some(KeyAlgorithm::RS256) => Algorithm::RS256,
            Some(KeyAlgorithm::RS384) => Algorithm::RS384,
            Some(KeyAlgorithm::RS512) => Algorithm::RS512,
            Some(KeyAlgorithm::PS256) => Algorithm::PS256,
            Some(KeyAlgorithm::PS384) => Algorithm::PS384,
            Some(KeyAlgorithm::PS512) => Algorithm::PS512,
            _ => continue, // no alg, HMAC, or encryption algorithms: never trusted
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        out.insert(kid, VerifyingKey { key, alg });
    }
    // A document without one usable key is a broken issuer or proxy, not a revocation
    // of every key: refusing it keeps the cached keys working (refresh logs it).
    if out.is_empty() {
        return Err(FetchError("JWKS has no usable signing keys".into()));
    }
    Ok(out)
}
