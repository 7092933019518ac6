//! Configuration in two stages: the layered TOML/env settings (`RawConfig`, unknown
//! keys rejected), then the validated [`Config`] that the rest of the program receives.
//!
//! Reading the file and overlaying `KEYGATE_*` variables lives in `layers`; each
//! section's module holds its raw struct and validates it into its runtime form. No
//! `Debug` of a config type shows the key-encryption key or a database password.

mod console;
mod database;
mod key;
mod layers;
mod log;
mod metrics;
mod scopes;
mod server;
mod status;
mod throttle;
mod token;
mod users;

use std::net::SocketAddr;
use std::path::Path;

use keypair_store::{DatabaseUrl, PoolSettings, ScopeCatalogue};
use serde::Deserialize;
use token_endpoint::{KeySettings, SigningAlgorithm, TokenSettings};
use toml::Value;

pub use key::KeyEncryption;
pub use layers::{env_name, DEFAULT_TOML};
pub use log::LogFormat;
pub use metrics::MetricsListen;
pub use server::ServerLimits;
pub use users::Users;

/// Why the configuration could not be loaded. Each message names the key or file, and
/// none repeats a value that may hold a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("config file {path} is not valid TOML: {reason}")]
    Syntax { path: String, reason: String },
    #[error("unknown config key `{key}` (in {origin})")]
    UnknownKey { key: String, origin: String },
    #[error("invalid value for `{key}` (from {origin}): {reason}")]
    BadValue {
        key: String,
        origin: String,
        reason: String,
    },
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// A value of the merged configuration that fails validation.
fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::BadValue {
        key: key.into(),
        origin: "the merged configuration".into(),
        reason: reason.into(),
    }
}

/// Every setting as the layers left it, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: String,
    issuer: String,
    database: database::RawDatabase,
    log: log::RawLog,
    scopes: scopes::RawScopes,
    token: token::RawToken,
    key: key::RawKey,
    server: server::RawServer,
    throttle: throttle::RawThrottle,
    status: status::RawStatus,
    console: console::RawConsole,
    users: users::RawUsers,
    metrics: metrics::RawMetrics,
}

/// The validated runtime configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub issuer: String,
    pub database_url: DatabaseUrl,
    pub pool: PoolSettings,
    pub log_format: LogFormat,
    pub catalogue: ScopeCatalogue,
    pub token: TokenSettings,
    pub signing_algorithm: SigningAlgorithm,
    pub key: KeyEncryption,
    pub server: ServerLimits,
    pub console: ::console::ConsoleSettings,
    /// `[users]`: setup links and password hashing.
    pub users: Users,
    /// `[metrics]`: where `/metrics` is served.
    pub metrics: MetricsListen,
}

impl Config {
    /// Defaults, then `file` (if given), then `KEYGATE_*` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        RawConfig::load(file, env)?.validate()
    }

    /// What the signing keys need: the algorithm of new keys, how long a retired key
    /// stays published, and how long a new key is published before it signs.
    pub fn key_settings(&self) -> KeySettings {
        KeySettings {
            algorithm: self.signing_algorithm,
            max_token_lifetime: time::Duration::seconds(i64::from(self.token.max_lifetime_seconds)),
            publish_lead: time::Duration::try_from(self.key.publish_lead)
                .unwrap_or(time::Duration::MAX),
        }
    }
}

impl RawConfig {
    fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<RawConfig, ConfigError> {
        Value::Table(layers::merge(file, env)?)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.message().trim().to_owned()))
    }

    /// Section by section, in the order of `config/default.toml`.
    fn validate(self) -> Result<Config, ConfigError> {
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            invalid(
                "listen",
                format!("`{}` is not an address:port", self.listen),
            )
        })?;
        let issuer = validate_issuer(&self.issuer).map_err(|r| invalid("issuer", r))?;
        let (database_url, mut pool) = self.database.validate()?;
        let log_format = self.log.validate()?;
        let catalogue = self.scopes.validate(&issuer)?;
        let token = self.token.validate()?;
        let key = self.key.validate()?;
        let server = self.server.validate()?;
        let throttle = self.throttle.validate()?;
        let status = self.status.validate()?;
        let console = self.console.validate(
            &issuer,
            throttle.client_ip_header.clone(),
            throttle.settings.max_tracked,
        )?;
        let users = self.users.validate()?;
        let metrics = self.metrics.validate()?;
        pool.password_hashing.concurrency = users.password_hash_concurrency;
        Ok(Config {
            token: token.settings(&issuer, throttle, status),
            signing_algorithm: token.algorithm,
            listen,
            issuer,
            database_url,
            pool,
            log_format,
            catalogue,
            key,
            server,
            console,
            users,
            metrics,
        })
    }
}

fn validate_issuer(issuer: &str) -> Result<String, String> {
    let rest = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .ok_or_else(|| format!("`{issuer}` must start with http:// or https://"))?;
    let issuer = issuer.trim_end_matches('/');
    if rest.trim_end_matches('/').is_empty() || issuer.contains(['?', '#', ' ']) {
        return Err(format!("`{issuer}` is not a base URL"));
    }
    Ok(issuer.to_owned())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;

#[cfg(test)]
mod redaction_tests;
