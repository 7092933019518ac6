//! `[users]`: people (human administrators): setup links and password hashing.

use serde::Deserialize;

use super::{invalid, ConfigError};

/// `[users]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUsers {
    invite_lifetime_seconds: u64,
    password_hash_concurrency: usize,
}

/// The validated `[users]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Users {
    /// How long an invitation's or a reset's setup link stays valid (default 1 day).
    pub invite_lifetime: time::Duration,
    /// Most password hashes running at once per process (default 2).
    pub password_hash_concurrency: usize,
}

impl RawUsers {
    pub(super) fn validate(self) -> Result<Users, ConfigError> {
        if !(60..=30 * 86_400).contains(&self.invite_lifetime_seconds) {
            return Err(invalid(
                "users.invite_lifetime_seconds",
                "must be between 60 and 2592000 (30 days)",
            ));
        }
        if !(1..=256).contains(&self.password_hash_concurrency) {
            return Err(invalid(
                "users.password_hash_concurrency",
                "must be between 1 and 256",
            ));
        }
        Ok(Users {
            invite_lifetime: time::Duration::seconds(
                i64::try_from(self.invite_lifetime_seconds).unwrap_or(i64::MAX),
            ),
            password_hash_concurrency: self.password_hash_concurrency,
        })
    }
}
