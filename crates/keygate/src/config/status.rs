//! `[status]`: token status lists (docs/token-status.md).

use std::time::Duration;

use serde::Deserialize;
use token_endpoint::StatusSettings;

use super::{invalid, ConfigError};

/// `[status]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStatus {
    ttl_seconds: u64,
    list_lifetime_seconds: u64,
    list_capacity: u32,
}

impl RawStatus {
    pub(super) fn validate(self) -> Result<StatusSettings, ConfigError> {
        if !(1..=300).contains(&self.ttl_seconds) {
            return Err(invalid("status.ttl_seconds", "must be between 1 and 300"));
        }
        if self.list_lifetime_seconds < 2 * self.ttl_seconds + 2
            || self.list_lifetime_seconds > 86_400
        {
            return Err(invalid(
                "status.list_lifetime_seconds",
                "must be at least 2 × status.ttl_seconds + 2 and at most 86400",
            ));
        }
        if !(16..=1 << 24).contains(&self.list_capacity) || !self.list_capacity.is_multiple_of(4) {
            return Err(invalid(
                "status.list_capacity",
                "must be a multiple of 4 between 16 and 16777216",
            ));
        }
        Ok(StatusSettings {
            ttl: Duration::from_secs(self.ttl_seconds),
            list_lifetime: Duration::from_secs(self.list_lifetime_seconds),
            list_capacity: self.list_capacity,
        })
    }
}
