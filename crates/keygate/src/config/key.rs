//! `[key]`: the key-encryption key that seals signing keys at rest, how often
//! signing keys are re-read, and how long a new signing key is published before it
//! signs.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{invalid, ConfigError};

/// The longest `key.publish_lead_seconds`: a day.
const MAX_PUBLISH_LEAD_SECONDS: u64 = 86_400;

/// `[key]` as written. `Debug` hides the key-encryption key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKey {
    encryption_key: String,
    encryption_key_file: String,
    reload_interval_seconds: u64,
    publish_lead_seconds: u64,
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
    /// `key.publish_lead_seconds`: how long a rotated-in signing key is published
    /// before it signs (zero: it signs at once).
    pub publish_lead: Duration,
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
            .field("publish_lead", &self.publish_lead)
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
        // A lead shorter than the reload interval would let one process sign with a
        // key that another (on SQLite, or one that missed the notice) does not
        // publish yet: the very gap the lead exists to close.
        if self.publish_lead_seconds != 0
            && !(self.reload_interval_seconds..=MAX_PUBLISH_LEAD_SECONDS)
                .contains(&self.publish_lead_seconds)
        {
            return Err(invalid(
                "key.publish_lead_seconds",
                format!(
                    "must be 0 (a new key signs at once) or between key.reload_interval_seconds \
                     ({}) and {MAX_PUBLISH_LEAD_SECONDS}",
                    self.reload_interval_seconds
                ),
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
            publish_lead: Duration::from_secs(self.publish_lead_seconds),
        })
    }
}
