//! `[key]`: the key-encryption key that seals signing keys at rest, and how often
//! signing keys are re-read.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{invalid, ConfigError};

/// `[key]` as written. `Debug` hides the key-encryption key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKey {
    encryption_key: String,
    encryption_key_file: String,
    reload_interval_seconds: u64,
}

impl std::fmt::Debug for RawKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawKey")
            .field("encryption_key", &"***")
            .finish_non_exhaustive()
    }
}

/// Where the key-encryption key comes from. `Debug` hides the configured value.
#[derive(Clone)]
pub struct KeyEncryption {
    /// `key.encryption_key` (base64), empty when not set.
    pub configured: String,
    /// `key.encryption_key_file`, used when `configured` is empty.
    pub file: PathBuf,
    /// `key.reload_interval_seconds`.
    pub reload_interval: Duration,
}

impl std::fmt::Debug for KeyEncryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEncryption")
            .field(
                "configured",
                &if self.configured.is_empty() {
                    ""
                } else {
                    "***"
                },
            )
            .field("file", &self.file)
            .field("reload_interval", &self.reload_interval)
            .finish()
    }
}

impl RawKey {
    pub(super) fn validate(self) -> Result<KeyEncryption, ConfigError> {
        if !(1..=3600).contains(&self.reload_interval_seconds) {
            return Err(invalid(
                "key.reload_interval_seconds",
                "must be between 1 and 3600",
            ));
        }
        if !self.encryption_key.trim().is_empty() {
            token_endpoint::Kek::from_base64(&self.encryption_key)
                .map_err(|e| invalid("key.encryption_key", e.to_string()))?;
        }
        if self.encryption_key_file.is_empty() {
            return Err(invalid("key.encryption_key_file", "must not be empty"));
        }
        Ok(KeyEncryption {
            configured: self.encryption_key,
            file: self.encryption_key_file.into(),
            reload_interval: Duration::from_secs(self.reload_interval_seconds),
        })
    }
}
