//! `[throttle]`: limits on failed client authentication at `/token`.

use std::time::Duration;

use serde::Deserialize;
use token_endpoint::ThrottleSettings;

use super::{invalid, ConfigError};

/// `[throttle]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawThrottle {
    window_seconds: u64,
    failures_per_address: u32,
    failures_per_client_address: u32,
    failures_per_client: u32,
    max_tracked: usize,
    client_ip_header: String,
}

/// The validated `[throttle]` section.
#[derive(Debug)]
pub(super) struct Throttle {
    pub(super) settings: ThrottleSettings,
    /// The trusted forwarding header, `None` for the TCP peer address.
    pub(super) client_ip_header: Option<String>,
}

impl RawThrottle {
    pub(super) fn validate(self) -> Result<Throttle, ConfigError> {
        if !(1..=86_400).contains(&self.window_seconds) {
            return Err(invalid(
                "throttle.window_seconds",
                "must be between 1 and 86400",
            ));
        }
        for (key, v) in [
            ("throttle.failures_per_address", self.failures_per_address),
            (
                "throttle.failures_per_client_address",
                self.failures_per_client_address,
            ),
            ("throttle.failures_per_client", self.failures_per_client),
        ] {
            if v == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if self.max_tracked < 100 {
            return Err(invalid("throttle.max_tracked", "must be at least 100"));
        }
        let client_ip_header = match self.client_ip_header.trim() {
            "" => None,
            h if actix_web::http::header::HeaderName::from_bytes(h.as_bytes()).is_ok() => {
                Some(h.to_owned())
            }
            h => {
                return Err(invalid(
                    "throttle.client_ip_header",
                    format!("`{h}` is not a header name"),
                ))
            }
        };
        Ok(Throttle {
            settings: ThrottleSettings {
                window: Duration::from_secs(self.window_seconds),
                per_address: self.failures_per_address,
                per_client_address: self.failures_per_client_address,
                per_client: self.failures_per_client,
                max_tracked: self.max_tracked,
            },
            client_ip_header,
        })
    }
}
