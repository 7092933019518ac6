//! `[server]`: HTTP server limits.

use std::time::Duration;

use serde::Deserialize;

use super::{invalid, ConfigError};

/// `[server]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    workers: usize,
    max_connections: usize,
    client_request_timeout_ms: u64,
    client_disconnect_timeout_ms: u64,
    keep_alive_seconds: u64,
    shutdown_timeout_seconds: u64,
}

/// HTTP server limits (`[server]`).
#[derive(Clone, Debug)]
pub struct ServerLimits {
    /// Worker threads (at least 1).
    pub workers: usize,
    /// Concurrent connections per worker.
    pub max_connections_per_worker: usize,
    pub client_request_timeout: Duration,
    pub client_disconnect_timeout: Duration,
    pub keep_alive: Duration,
    /// On SIGTERM or SIGINT, how long requests in flight may take to finish.
    pub shutdown_timeout: Duration,
}

impl RawServer {
    /// `workers = 0` means one per CPU; `max_connections` is shared out among them.
    pub(super) fn validate(self) -> Result<ServerLimits, ConfigError> {
        let workers = if self.workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.workers
        };
        if workers > 256 {
            return Err(invalid("server.workers", "must be at most 256"));
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            return Err(invalid(
                "server.max_connections",
                "must be between 1 and 1000000",
            ));
        }
        if !(100..=600_000).contains(&self.client_request_timeout_ms) {
            return Err(invalid(
                "server.client_request_timeout_ms",
                "must be between 100 and 600000",
            ));
        }
        if self.shutdown_timeout_seconds > 3600 {
            return Err(invalid(
                "server.shutdown_timeout_seconds",
                "must be at most 3600",
            ));
        }
        Ok(ServerLimits {
            workers,
            max_connections_per_worker: self.max_connections.div_ceil(workers).max(1),
            client_request_timeout: Duration::from_millis(self.client_request_timeout_ms),
            client_disconnect_timeout: Duration::from_millis(self.client_disconnect_timeout_ms),
            keep_alive: Duration::from_secs(self.keep_alive_seconds),
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_seconds),
        })
    }
}
