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

/// The claims of a keygate access token (RFC 9068 §2.2): every claim but `status`
/// ([`Claims`]), then `status`.
///
/// Serialised through serde this is the token's payload, byte for byte; [`sign`]
/// writes the same bytes with less work per token: serde writes [`Claims`] into a
/// buffer sized once, and the `status` member is appended by hand, with no formatting
/// machinery and no allocation (docs/benchmarks.md, "Status claim cost").
#[derive(Clone, Debug, Serialize)]
pub struct AccessTokenClaims<'a> {
    /// Every claim but `status`.
    #[serde(flatten)]
    pub claims: Claims<'a>,
    /// The entry of the keypair's current generation (docs/token-status.md).
    pub status: StatusClaim<'a>,
}

/// The claims of a keygate access token but `status`, in payload order.
#[derive(Clone, Debug, Serialize)]
pub struct Claims<'a> {
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
}

impl AccessTokenClaims<'_> {
    /// The JSON payload, the same bytes as `serde_json::to_vec(self)`, in a buffer
    /// sized once.
    fn payload(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = Vec::with_capacity(self.payload_capacity());
        serde_json::to_writer(&mut out, &self.claims)?;
        // `claims` is a non-empty object and `status` its last member: reopen it.
        if out.pop() != Some(b'}') {
            return Err(serde::ser::Error::custom(
                "the claims are not a JSON object",
            ));
        }
        self.status.write_member(&mut out)?;
        out.push(b'}');
        Ok(out)
    }

    /// Enough for the payload unless its strings need escaping: their lengths, plus
    /// the member names, punctuation and numbers (under 200 bytes).
    fn payload_capacity(&self) -> usize {
        let c = &self.claims;
        let aud = match &c.aud {
            Audience::One(a) => a.len(),
            Audience::Many(list) => list.iter().map(|a| a.len() + 3).sum(),
        };
        let uri = &self.status.status_list.uri;
        [
            c.iss,
            c.sub,
            c.client_id,
            c.jti,
            c.scope,
            c.acct.unwrap_or_default(),
            c.env.unwrap_or_default(),
            uri.issuer,
            STATUS_LISTS_PATH,
            uri.list_id,
        ]
        .iter()
        .map(|s| s.len())
        .sum::<usize>()
            + aud
            + 256
    }
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

impl StatusClaim<'_> {
    /// Appends `,"status":{"status_list":{"idx":N,"uri":"..."}}`, the bytes serde
    /// writes for this member, without serde's per-call work (the URI formatted
    /// through `fmt::Display` and escaped piece by piece, the member names escaped).
    /// The URI's parts are copied as they are when they need no JSON escaping (an
    /// issuer URL and an `sl_` id never do); otherwise serde writes the URI.
    fn write_member(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        let StatusListRef { idx, uri } = self.status_list;
        out.extend_from_slice(br#","status":{"status_list":{"idx":"#);
        serde_json::to_writer(&mut *out, &idx)?;
        out.extend_from_slice(br#","uri":"#);
        if needs_no_escaping(uri.issuer) && needs_no_escaping(uri.list_id) {
            out.push(b'"');
            out.extend_from_slice(uri.issuer.as_bytes());
            out.extend_from_slice(STATUS_LISTS_PATH.as_bytes());
            out.push(b'/');
            out.extend_from_slice(uri.list_id.as_bytes());
            out.push(b'"');
        } else {
            serde_json::to_writer(&mut *out, &uri)?;
        }
        out.extend_from_slice(b"}}");
        Ok(())
    }
}

/// Whether serde_json writes `s` inside a JSON string as it is: it escapes only `"`,
/// `\` and the control characters below U+0020. Written without an early exit, so the
/// compiler checks many bytes per instruction.
pub(crate) fn needs_no_escaping(s: &str) -> bool {
    s.bytes()
        .fold(true, |ok, b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'))
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
    let payload = claims
        .payload()
        .map_err(|e| CryptoError::new(e.to_string()))?;
    sign_payload(key, key.header_b64(), &payload)
}

/// Serialises `claims` and signs them under `header` (one of `key`'s precomputed
/// base64url headers).
pub(crate) fn sign_with_header<C: Serialize>(
    key: &SigningKey,
    header: &str,
    claims: &C,
) -> Result<String, CryptoError> {
    let payload = serde_json::to_vec(claims).map_err(|e| CryptoError::new(e.to_string()))?;
    sign_payload(key, header, &payload)
}

/// `header "." base64url(payload) "." base64url(signature)`, in one buffer of exactly
/// that length (a generous estimate would cost more: past 1,032 bytes glibc's malloc
/// leaves its fast per-thread cache, docs/benchmarks.md "Status claim cost").
fn sign_payload(key: &SigningKey, header: &str, payload: &[u8]) -> Result<String, CryptoError> {
    let b64 = |n| base64::encoded_len(n, false).unwrap_or(0);
    let mut token =
        String::with_capacity(header.len() + 1 + b64(payload.len()) + 1 + b64(key.signature_len()));
    token.push_str(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    const LIST: &str = "sl_0123456789abcdef0123456789abcdef";

    fn claims<'a>(issuer: &'a str, list_id: &'a str, idx: u32) -> AccessTokenClaims<'a> {
        AccessTokenClaims {
            claims: Claims {
                iss: issuer,
                sub: "kg_0123456789abcdef0123456789abcdef",
                client_id: "kg_0123456789abcdef0123456789abcdef",
                aud: Audience::One("feedback-api".into()),
                iat: 1_795_000_000,
                exp: 1_795_003_600,
                jti: "3q2-7wABAgMEBQYHCAkKCw",
                scope: "feedback:read",
                acct: Some("acct_0123456789abcdef0123456789abcdef"),
                env: None,
            },
            status: StatusClaim {
                status_list: StatusListRef {
                    idx,
                    uri: ListUri { issuer, list_id },
                },
            },
        }
    }

    #[test]
    fn the_payload_is_the_documented_claims_in_order() {
        let payload = claims("https://keygate.example", LIST, 734_112)
            .payload()
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&payload).unwrap(),
            concat!(
                r#"{"iss":"https://keygate.example","#,
                r#""sub":"kg_0123456789abcdef0123456789abcdef","#,
                r#""client_id":"kg_0123456789abcdef0123456789abcdef","#,
                r#""aud":"feedback-api","iat":1795000000,"exp":1795003600,"#,
                r#""jti":"3q2-7wABAgMEBQYHCAkKCw","scope":"feedback:read","#,
                r#""acct":"acct_0123456789abcdef0123456789abcdef","#,
                r#""status":{"status_list":{"idx":734112,"#,
                r#""uri":"https://keygate.example/statuslists/sl_0123456789abcdef0123456789abcdef"}}}"#,
            )
        );
    }

    #[test]
    fn the_payload_fits_the_buffer_sized_for_it() {
        let mut c = claims("https://keygate.example", LIST, u32::MAX);
        c.claims.iat = i64::MIN;
        c.claims.exp = i64::MIN;
        c.claims.env = Some("env_0123456789abcdef0123456789abcdef");
        c.claims.aud = Audience::Many(vec!["a".into(), "feedback-api".into(), "x".into()]);
        let payload = c.payload().unwrap();
        assert!(payload.len() <= c.payload_capacity());
        assert_eq!(payload.capacity(), c.payload_capacity(), "never grown");
    }

    #[test]
    fn a_token_is_built_in_one_buffer_of_its_exact_length() {
        for alg in [
            crate::SigningAlgorithm::EdDSA,
            crate::SigningAlgorithm::ES256,
            crate::SigningAlgorithm::RS256,
        ] {
            let (key, _) = SigningKey::generate(alg).unwrap();
            let token = sign(&key, &claims("https://keygate.example", LIST, 1)).unwrap();
            assert_eq!(token.capacity(), token.len(), "{}", alg.as_str());
        }
    }

    #[test]
    fn a_signed_token_carries_the_claims_and_verifies() {
        use jsonwebtoken::{Algorithm, DecodingKey, Validation};
        let (key, _) = SigningKey::generate(crate::SigningAlgorithm::EdDSA).unwrap();
        let c = claims("https://keygate.example", LIST, 7);
        let token = sign(&key, &c).unwrap();
        let x = key.public_jwk()["x"].as_str().unwrap().to_owned();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.validate_aud = false;
        let decoded = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &DecodingKey::from_ed_components(&x).unwrap(),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.claims, serde_json::to_value(&c).unwrap());
        assert_eq!(
            decoded.claims["status"],
            serde_json::json!({"status_list": {"idx": 7,
                "uri": format!("https://keygate.example/statuslists/{LIST}")}})
        );
    }

    proptest! {
        /// The hand-written `status` member and the sized buffer change no byte of
        /// what serde writes, whatever the strings hold (quotes, backslashes, control
        /// characters, non-ASCII) and whichever optional claims are present.
        #[test]
        fn the_payload_is_what_serde_writes(issuer in "\\PC{0,40}|[\\x00-\\x7f]{0,40}",
                                             list_id in "sl_[0-9a-f]{32}|[\\x00-\\x7f]{0,40}",
                                             idx in any::<u32>(),
                                             jti in ".{0,30}",
                                             acct in proptest::option::of("[a-z_\"\\\\]{0,40}"),
                                             env in proptest::option::of(".{0,40}"),
                                             aud in proptest::collection::vec(".{0,20}", 1..4)) {
            let mut c = claims(&issuer, &list_id, idx);
            c.claims.jti = &jti;
            c.claims.acct = acct.as_deref();
            c.claims.env = env.as_deref();
            c.claims.aud = Audience::from_list(aud);
            prop_assert_eq!(c.payload().unwrap(), serde_json::to_vec(&c).unwrap());
        }
    }
}
