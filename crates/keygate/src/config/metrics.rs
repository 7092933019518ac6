//! `[metrics]`: where `/metrics` is served.

use std::net::SocketAddr;

use serde::Deserialize;

use super::{invalid, ConfigError};

/// `[metrics]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    listen: String,
}

/// Where the metrics are served, if anywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsListen {
    /// Their own listener (port 0: any free port, logged at start).
    Own(SocketAddr),
    /// `/metrics` on the main listener.
    Main,
    /// Nothing is counted or served.
    Off,
}

impl RawMetrics {
    pub(super) fn validate(self) -> Result<MetricsListen, ConfigError> {
        match self.listen.as_str() {
            "main" => Ok(MetricsListen::Main),
            "off" => Ok(MetricsListen::Off),
            addr => addr.parse().map(MetricsListen::Own).map_err(|_| {
                invalid(
                    "metrics.listen",
                    format!("`{addr}` is not an address:port, `main` or `off`"),
                )
            }),
        }
    }
}
