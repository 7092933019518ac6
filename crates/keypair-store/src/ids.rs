//! Opaque identifiers. Every id is a fixed prefix plus 128 random bits in lowercase
//! hex, so ids are unguessable, carry no sequence and can be validated at the edge.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};

use crate::error::StoreError;

pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // SystemRandom reads the OS CSPRNG; it only fails if the OS has none, which
    // leaves nothing sensible to do but stop.
    #[allow(clippy::expect_used)]
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the operating system's random number generator failed");
    buf
}

/// `prefix` + 128 random bits in lowercase hex.
pub(crate) fn random_hex_id(prefix: &str) -> String {
    let bytes: [u8; 16] = random_bytes();
    let mut s = String::with_capacity(prefix.len() + 32);
    s.push_str(prefix);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn is_valid(s: &str, prefix: &str) -> bool {
    s.len() == prefix.len() + 32
        && s.starts_with(prefix)
        && s[prefix.len()..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The fixed prefix of every id of this kind.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh random id.
            pub fn generate() -> Self {
                Self(random_hex_id($prefix))
            }

            /// Parses untrusted input; rejects anything that is not a well-formed id.
            pub fn parse(s: &str) -> Result<Self, StoreError> {
                if is_valid(s, $prefix) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(StoreError::invalid($what, concat!("not a valid ", $what)))
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            #[allow(dead_code)]
            pub(crate) fn from_db(s: String) -> Self {
                Self(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
    };
}

opaque_id!(
    /// An account id, `acct_` + 32 hex digits.
    AccountId, "acct_", "account_id"
);
opaque_id!(
    /// An environment id, `env_` + 32 hex digits.
    EnvironmentId, "env_", "environment_id"
);
opaque_id!(
    /// A keypair's public client id, `kg_` + 32 hex digits. Stable for the keypair's life.
    ClientId, "kg_", "client_id"
);
opaque_id!(
    /// A person's id (an administrator signed in to the console), `usr_` + 32 hex digits.
    UserId, "usr_", "user_id"
);

opaque_id!(
    /// A pending invitation's id, `inv_` + 32 hex digits.
    InvitationId, "inv_", "invitation_id"
);

opaque_id!(
    /// A token status list's id, `sl_` + 32 hex digits (the last segment of its URI).
    StatusListId, "sl_", "status_list_id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_differ() {
        let a = ClientId::generate();
        let b = ClientId::generate();
        assert_ne!(a, b);
        assert_eq!(ClientId::parse(a.as_str()).ok(), Some(a.clone()));
        assert!(a.as_str().starts_with("kg_"));
        assert_eq!(a.as_str().len(), 35);
    }

    #[test]
    fn rejects_malformed_ids() {
        for bad in [
            "",
            "kg_",
            "kg_0123",
            "acct_0123456789abcdef0123456789abcdef",
            "kg_0123456789ABCDEF0123456789abcdef",
            "kg_0123456789abcdef0123456789abcdeg",
            "kg_0123456789abcdef0123456789abcdef0",
            "kg_0123456789abcdef0123456789abcdeé",
        ] {
            assert!(ClientId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(AccountId::parse("acct_0123456789abcdef0123456789abcdef").is_ok());
        assert!(EnvironmentId::parse("env_0123456789abcdef0123456789abcdef").is_ok());
    }
}
