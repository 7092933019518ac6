//! `[database]`: where the data lives, the connection pool and the keypair cache.

use std::time::Duration;

use keypair_store::{DatabaseUrl, PoolSettings};
use serde::Deserialize;

use super::{invalid, ConfigError};

/// `[database]` as written. `Debug` shows the URL without its password.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDatabase {
    url: String,
    pool_size: u32,
    connect_timeout_seconds: u64,
    keypair_cache_ttl_ms: u64,
    keypair_cache_entries: usize,
}

impl std::fmt::Debug for RawDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let RawDatabase {
            url,
            pool_size,
            connect_timeout_seconds,
            keypair_cache_ttl_ms,
            keypair_cache_entries,
        } = self;
        f.debug_struct("RawDatabase")
            .field("url", &RedactedUrl(url))
            .field("pool_size", pool_size)
            .field("connect_timeout_seconds", connect_timeout_seconds)
            .field("keypair_cache_ttl_ms", keypair_cache_ttl_ms)
            .field("keypair_cache_entries", keypair_cache_entries)
            .finish()
    }
}

impl RawDatabase {
    /// The URL and the pool settings.
    pub(super) fn validate(self) -> Result<(DatabaseUrl, PoolSettings), ConfigError> {
        let url =
            DatabaseUrl::parse(&self.url).map_err(|e| invalid("database.url", e.to_string()))?;
        if !(1..=1000).contains(&self.pool_size) {
            return Err(invalid("database.pool_size", "must be between 1 and 1000"));
        }
        if !(1..=300).contains(&self.connect_timeout_seconds) {
            return Err(invalid(
                "database.connect_timeout_seconds",
                "must be between 1 and 300",
            ));
        }
        if self.keypair_cache_ttl_ms > 60_000 {
            return Err(invalid(
                "database.keypair_cache_ttl_ms",
                "must be at most 60000",
            ));
        }
        if self.keypair_cache_entries > 10_000_000 {
            return Err(invalid(
                "database.keypair_cache_entries",
                "must be at most 10000000",
            ));
        }
        let pool = PoolSettings {
            max_size: self.pool_size,
            connect_timeout: Duration::from_secs(self.connect_timeout_seconds),
            keypair_cache_ttl: Duration::from_millis(self.keypair_cache_ttl_ms),
            keypair_cache_entries: self.keypair_cache_entries,
            // Set from `[users]` (`super::users`).
            password_hashing: Default::default(),
            max_passkey_ceremonies: keypair_store::DEFAULT_MAX_PASSKEY_CEREMONIES,
        };
        Ok((url, pool))
    }
}

/// A database URL for `Debug` output: the password replaced by `***`, and a value that
/// is not a database URL at all (a typo'd scheme may still carry a password) hidden.
pub(super) struct RedactedUrl<'a>(pub(super) &'a str);

impl std::fmt::Debug for RedactedUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match DatabaseUrl::parse(self.0) {
            Ok(url) => std::fmt::Debug::fmt(&url.redacted(), f),
            Err(_) => f.write_str("\"<not a database URL; hidden>\""),
        }
    }
}
