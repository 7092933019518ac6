//! RFC 9068 access tokens: claims and JWS compact serialisation.
//!
//! The signature comes from the parsed `ring` key in [`SigningKey`]; this module only
//! assembles `base64url(header) "." base64url(claims) "." base64url(signature)`
//! (RFC 7515 §7.1). jsonwebtoken's `encode` would re-parse the private key on every
//! call, which the signing benchmark shows is most of its cost (docs/token-endpoint.md).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Serialize;

use crate::signing_key::{CryptoError, SigningKey};

/// `aud`: one audience as a string, several as an array (RFC 7519 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// From a non-empty, sorted list.
    pub fn from_list(mut list: Vec<String>) -> Audience {
        if list.len() == 1 {
            Audience::One(list.remove(0))
        } else {
            Audience::Many(list)
        }
    }
}

/// The claims of a keygate access token (RFC 9068 §2.2).
#[derive(Clone, Debug, Serialize)]
pub struct AccessTokenClaims<'a> {
    /// Issuer URL.
    pub iss: &'a str,
    /// The client id (RFC 9068: the subject of a client credentials token is the client).
    pub sub: &'a str,
    /// The client id.
    pub client_id: &'a str,
    /// Audiences of the granted scopes.
    pub aud: Audience,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Unique token id.
    pub jti: &'a str,
    /// Granted scopes, space-separated.
    pub scope: &'a str,
    /// Owning account, absent for operator keypairs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acct: Option<&'a str>,
    /// Owning environment, for environment keypairs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<&'a str>,
    /// The entry of the keypair's current generation (docs/token-status.md).
    pub status: StatusClaim<'a>,
}

/// `status` (draft-ietf-oauth-status-list): `{"status_list": {"idx": N, "uri": "..."}}`.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct StatusClaim<'a> {
    /// The referenced entry.
    pub status_list: StatusListRef<'a>,
}

/// One entry of a status list.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct StatusListRef<'a> {
    /// The entry's index.
    pub idx: u32,
    /// The list's URI, `<issuer>/statuslists/<list id>`.
    pub uri: ListUri<'a>,
}

/// A status list's URI, written straight into the serialised claims (no allocation
/// per token).
#[derive(Clone, Copy, Debug)]
pub struct ListUri<'a> {
    /// The issuer URL, no trailing slash.
    pub issuer: &'a str,
    /// The list id.
    pub list_id: &'a str,
}

/// The path under the issuer where status lists are served.
pub const STATUS_LISTS_PATH: &str = "/statuslists";

impl std::fmt::Display for ListUri<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{STATUS_LISTS_PATH}/{}", self.issuer, self.list_id)
    }
}

impl Serialize for ListUri<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The list id in `uri` if it is exactly `<issuer>/statuslists/<id>`, else `None`.
pub fn list_id_in<'u>(issuer: &str, uri: &'u str) -> Option<&'u str> {
    uri.strip_prefix(issuer)?
        .strip_prefix(STATUS_LISTS_PATH)?
        .strip_prefix('/')
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

/// Serialises and signs `claims` with `key`.
pub fn sign(key: &SigningKey, claims: &AccessTokenClaims<'_>) -> Result<String, CryptoError> {
    sign_with_header(key, key.header_b64(), claims)
}

/// Serialises `claims` and signs them under `header` (one of `key`'s precomputed
/// base64url headers).
pub(crate) fn sign_with_header<C: Serialize>(
    key: &SigningKey,
    header: &str,
    claims: &C,
) -> Result<String, CryptoError> {
    let payload = serde_json::to_vec(claims).map_err(|e| CryptoError::new(e.to_string()))?;
    let mut token = String::with_capacity(header.len() + payload.len() * 4 / 3 + 400);
    token.push_str(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Ok(token)
}

/// A random token id: 128 bits, base64url.
pub fn new_jti() -> String {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut raw = [0u8; 16];
    // If the OS has no randomness, fall back to zeros would be wrong; a failure here
    // is reported by the caller through an empty id check instead.
    if SystemRandom::new().fill(&mut raw).is_err() {
        return String::new();
    }
    URL_SAFE_NO_PAD.encode(raw)
}
