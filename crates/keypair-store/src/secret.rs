//! Client secrets: generation, the at-rest digest and constant-time verification.
//!
//! Format: `kgs_` + base64url(32 random bytes) + base64url(CRC-32 of the preceding
//! text), 53 characters. The prefix and checksum let secret scanners find leaked
//! secrets with few false positives (the GitHub token scheme); the checksum is not a
//! security feature. Only the SHA-256 digest is stored: see `docs/security.md` for why
//! a fast digest is right for server-generated, high-entropy secrets.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::digest::{digest, SHA256};
use subtle::ConstantTimeEq;

use crate::ids::random_bytes;

/// The prefix of every client secret.
pub const SECRET_PREFIX: &str = "kgs_";
const RANDOM_BYTES: usize = 32;
const BODY_CHARS: usize = 43; // base64url of 32 bytes, unpadded
const CHECKSUM_CHARS: usize = 6; // base64url of 4 bytes, unpadded
/// Length of a client secret in characters.
pub const SECRET_LEN: usize = SECRET_PREFIX.len() + BODY_CHARS + CHECKSUM_CHARS;
/// How many leading characters of a secret are kept as its hint.
pub const HINT_CHARS: usize = SECRET_PREFIX.len() + 4;

/// A plaintext client secret. Shown once at creation; `Debug` never prints it.
#[derive(Clone)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// A new secret from the OS CSPRNG (256 bits of randomness).
    pub fn generate() -> Self {
        let raw: [u8; RANDOM_BYTES] = random_bytes();
        let mut s = String::with_capacity(SECRET_LEN);
        s.push_str(SECRET_PREFIX);
        URL_SAFE_NO_PAD.encode_string(raw, &mut s);
        let crc = crc32fast::hash(s.as_bytes());
        URL_SAFE_NO_PAD.encode_string(crc.to_be_bytes(), &mut s);
        ClientSecret(s)
    }

    /// Wraps a presented secret (untrusted input) for verification.
    pub fn from_presented(s: &str) -> Self {
        ClientSecret(s.to_owned())
    }

    /// The plaintext, for the one response that returns it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the text has the secret format and a matching checksum.
    pub fn is_well_formed(&self) -> bool {
        let s = self.0.as_str();
        if s.len() != SECRET_LEN || !s.starts_with(SECRET_PREFIX) {
            return false;
        }
        let (body, checksum) = s.split_at(SECRET_PREFIX.len() + BODY_CHARS);
        let mut expected = String::with_capacity(CHECKSUM_CHARS);
        URL_SAFE_NO_PAD.encode_string(
            crc32fast::hash(body.as_bytes()).to_be_bytes(),
            &mut expected,
        );
        expected == checksum
    }

    /// The SHA-256 digest stored instead of the secret.
    pub fn digest(&self) -> SecretDigest {
        SecretDigest::of(self.0.as_bytes())
    }

    /// The first few characters, for telling keys apart in listings.
    pub fn hint(&self) -> String {
        self.0.chars().take(HINT_CHARS).collect()
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(***)")
    }
}

/// SHA-256 digest of a client secret, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    fn of(bytes: &[u8]) -> Self {
        let d = digest(&SHA256, bytes);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        SecretDigest(out)
    }

    /// A digest that no secret is known to produce; compared against when a client id
    /// is unknown so that unknown and known clients take the same time.
    pub fn dummy() -> &'static Self {
        static DUMMY: std::sync::OnceLock<SecretDigest> = std::sync::OnceLock::new();
        DUMMY.get_or_init(|| SecretDigest::of(b"keygate: no client has this secret"))
    }

    pub(crate) fn from_db(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(SecretDigest)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Constant-time comparison (no early exit on the first differing byte).
    pub fn matches(&self, other: &SecretDigest) -> bool {
        self.ct_eq(other).into()
    }
}

impl ConstantTimeEq for SecretDigest {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_well_formed_and_unique() {
        let a = ClientSecret::generate();
        let b = ClientSecret::generate();
        assert!(a.is_well_formed());
        assert_eq!(a.expose().len(), SECRET_LEN);
        assert!(a.expose().starts_with(SECRET_PREFIX));
        assert_ne!(a.expose(), b.expose());
        assert!(a.digest().matches(&a.digest()));
        assert!(!a.digest().matches(&b.digest()));
    }

    #[test]
    fn a_changed_character_breaks_the_checksum() {
        let s = ClientSecret::generate();
        let mut chars: Vec<char> = s.expose().chars().collect();
        chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert!(!ClientSecret::from_presented(&tampered).is_well_formed());
        assert!(!ClientSecret::from_presented("kgs_short").is_well_formed());
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let s = ClientSecret::generate();
        assert!(!format!("{s:?}").contains(s.expose()));
        assert!(!format!("{:?}", s.digest()).contains(&s.expose()[4..10]));
    }

    #[test]
    fn hint_is_a_short_prefix() {
        let s = ClientSecret::generate();
        assert_eq!(s.hint().len(), HINT_CHARS);
        assert!(s.expose().starts_with(&s.hint()));
    }
}
