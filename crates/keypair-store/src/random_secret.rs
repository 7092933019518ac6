//! Random secrets that are shown once and stored only as a digest: invitation codes,
//! console session ids and passkey ceremony ids. Each is 256 random bits written as 64
//! lowercase hex digits; the database keeps its SHA-256, so none can be read back from
//! it. `Debug` never prints one.

use std::fmt;
use std::marker::PhantomData;

use ring::digest::{digest, SHA256};

use crate::ids::random_bytes;

/// What a kind of secret is called in `Debug` output.
pub trait SecretKind {
    /// The name `Debug` prints, without the value.
    const NAME: &'static str;
}

/// A secret of kind `K`. Aliases: [`InvitationCode`], [`SessionId`], [`CeremonyId`].
pub struct RandomSecret<K> {
    value: String,
    kind: PhantomData<K>,
}

impl<K> RandomSecret<K> {
    /// A secret as presented (from a link or a cookie).
    pub fn from_presented(s: &str) -> Self {
        RandomSecret {
            value: s.to_owned(),
            kind: PhantomData,
        }
    }

    /// The secret, for its one showing (a link, a cookie).
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// A new secret: 256 random bits.
    pub(crate) fn generate() -> Self {
        let bytes: [u8; 32] = random_bytes();
        RandomSecret {
            value: bytes.iter().map(|b| format!("{b:02x}")).collect(),
            kind: PhantomData,
        }
    }

    /// What is stored: the secret's SHA-256 digest.
    pub(crate) fn digest(&self) -> Vec<u8> {
        digest(&SHA256, self.value.as_bytes()).as_ref().to_vec()
    }
}

impl<K> Clone for RandomSecret<K> {
    fn clone(&self) -> Self {
        RandomSecret::from_presented(&self.value)
    }
}

impl<K> PartialEq for RandomSecret<K> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<K> Eq for RandomSecret<K> {}

impl<K: SecretKind> fmt::Debug for RandomSecret<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(…)", K::NAME)
    }
}

/// The kind of [`InvitationCode`].
#[derive(Debug)]
pub enum Invitation {}
impl SecretKind for Invitation {
    const NAME: &'static str = "InvitationCode";
}

/// The kind of [`SessionId`].
#[derive(Debug)]
pub enum Session {}
impl SecretKind for Session {
    const NAME: &'static str = "SessionId";
}

/// The kind of [`CeremonyId`].
#[derive(Debug)]
pub enum Ceremony {}
impl SecretKind for Ceremony {
    const NAME: &'static str = "CeremonyId";
}

/// An invitation's (or a reset's) one-time code, shown once in the setup link.
pub type InvitationCode = RandomSecret<Invitation>;
/// A console session's id, the session cookie's value.
pub type SessionId = RandomSecret<Session>;
/// A passkey ceremony's id, the ceremony cookie's value: it finds the challenge the
/// browser was given, which can be answered once.
pub type CeremonyId = RandomSecret<Ceremony>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_hex_and_never_debug_printed() {
        let a = SessionId::generate();
        let b = SessionId::generate();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(format!("{a:?}"), "SessionId(…)");
        assert_eq!(
            format!("{:?}", InvitationCode::from_presented("x")),
            "InvitationCode(…)"
        );
        assert_eq!(a.digest(), SessionId::from_presented(a.expose()).digest());
        assert_ne!(a.digest(), b.digest());
    }
}
