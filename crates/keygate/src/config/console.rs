//! `[console]`: console sessions and the throttle on failed sign-ins.

use std::time::Duration as StdDuration;

use console::ConsoleSettings;
use serde::Deserialize;
use time::Duration;
use token_endpoint::ThrottleSettings;

use super::{invalid, ConfigError};

/// `[console]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConsole {
    session_idle_seconds: u32,
    session_max_seconds: u32,
    sign_in_window_seconds: u32,
    sign_in_failures_per_email_address: u32,
    sign_in_failures_per_address: u32,
}

impl RawConsole {
    /// The console's settings, with the issuer and, from `[throttle]`, the trusted
    /// client address header and the bound on tracked counters.
    pub(super) fn validate(
        self,
        issuer: &str,
        client_ip_header: Option<String>,
        max_tracked: usize,
    ) -> Result<ConsoleSettings, ConfigError> {
        if !(60..=86_400).contains(&self.session_idle_seconds) {
            return Err(invalid(
                "console.session_idle_seconds",
                "must be between 60 and 86400",
            ));
        }
        if self.session_max_seconds < self.session_idle_seconds
            || self.session_max_seconds > 30 * 86_400
        {
            return Err(invalid(
                "console.session_max_seconds",
                "must be between console.session_idle_seconds and 2592000",
            ));
        }
        if !(1..=86_400).contains(&self.sign_in_window_seconds) {
            return Err(invalid(
                "console.sign_in_window_seconds",
                "must be between 1 and 86400",
            ));
        }
        for (key, v) in [
            (
                "console.sign_in_failures_per_email_address",
                self.sign_in_failures_per_email_address,
            ),
            (
                "console.sign_in_failures_per_address",
                self.sign_in_failures_per_address,
            ),
        ] {
            if v == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        Ok(ConsoleSettings {
            issuer: issuer.to_owned(),
            session_idle: Duration::seconds(i64::from(self.session_idle_seconds)),
            session_max: Duration::seconds(i64::from(self.session_max_seconds)),
            throttle: ThrottleSettings {
                window: StdDuration::from_secs(u64::from(self.sign_in_window_seconds)),
                per_address: self.sign_in_failures_per_address,
                per_client_address: self.sign_in_failures_per_email_address,
                // Failures from other addresses never throttle a person's own.
                per_client: u32::MAX,
                max_tracked,
            },
            client_ip_header,
        })
    }
}
