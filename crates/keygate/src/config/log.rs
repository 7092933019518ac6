//! `[log]`: the log format (verbosity comes from `RUST_LOG`).

use serde::Deserialize;

use super::{invalid, ConfigError};

/// `[log]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    format: String,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl RawLog {
    pub(super) fn validate(self) -> Result<LogFormat, ConfigError> {
        match self.format.as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(invalid(
                "log.format",
                format!("`{other}` is not `text` or `json`"),
            )),
        }
    }
}
