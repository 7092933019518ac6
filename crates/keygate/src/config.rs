//! Configuration in two stages: the layered TOML/env settings (`RawConfig`, unknown
//! keys rejected), then the validated [`Config`] that the rest of the program receives.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use keypair_store::{DatabaseUrl, PoolSettings, ScopeCatalogue, ADMIN_SCOPE, OPERATOR_SCOPE};
use serde::Deserialize;
use token_endpoint::{SigningAlgorithm, TokenSettings};
use toml::{Table, Value};

/// The documented defaults, built into the binary so they cannot drift from the file.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");
const ENV_PREFIX: &str = "KEYGATE_";

/// Why the configuration could not be loaded. Each message names the key or file.
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: String,
    issuer: String,
    database: RawDatabase,
    log: RawLog,
    scopes: RawScopes,
    token: RawToken,
    key: RawKey,
    server: RawServer,
    throttle: RawThrottle,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    workers: usize,
    max_connections: usize,
    client_request_timeout_ms: u64,
    client_disconnect_timeout_ms: u64,
    keep_alive_seconds: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThrottle {
    window_seconds: u64,
    failures_per_address: u32,
    failures_per_client_address: u32,
    failures_per_client: u32,
    max_tracked: usize,
    client_ip_header: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    lifetime_seconds: u32,
    max_lifetime_seconds: u32,
    algorithm: String,
    max_body_bytes: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: String,
    pool_size: u32,
    connect_timeout_seconds: u64,
    keypair_cache_ttl_ms: u64,
    keypair_cache_entries: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScopes {
    catalogue: Vec<String>,
    optional: Vec<String>,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
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
}

/// Where the key-encryption key comes from. `Debug` hides the configured value.
#[derive(Clone)]
pub struct KeyEncryption {
    /// `key.encryption_key` (base64), empty when not set.
    pub configured: String,
    /// `key.encryption_key_file`, used when `configured` is empty.
    pub file: std::path::PathBuf,
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

impl Config {
    /// Defaults, then `file` (if given), then `KEYGATE_*` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut merged: Table =
            DEFAULT_TOML
                .parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: "built-in defaults".into(),
                    reason: e.message().to_owned(),
                })?;
        let defaults = merged.clone();
        if let Some(path) = file {
            let origin = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
                path: origin.clone(),
                reason: e.to_string(),
            })?;
            let table: Table = text
                .parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: origin.clone(),
                    reason: e.message().trim().to_owned(),
                })?;
            overlay_file(&mut merged, &defaults, table, &origin)?;
        }
        overlay_env(&mut merged, &defaults, env)?;
        let raw: RawConfig = Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.message().trim().to_owned()))?;
        raw.validate()
    }
}

fn overlay_file(
    merged: &mut Table,
    defaults: &Table,
    file: Table,
    origin: &str,
) -> Result<(), ConfigError> {
    for (key, value) in file {
        match (defaults.get(&key), value) {
            (Some(Value::Table(section_defaults)), Value::Table(section)) => {
                for (sub, v) in section {
                    let full = format!("{key}.{sub}");
                    let Some(default) = section_defaults.get(&sub) else {
                        return Err(ConfigError::UnknownKey {
                            key: full,
                            origin: origin.into(),
                        });
                    };
                    check_type(&full, origin, default, &v)?;
                    if let Some(Value::Table(t)) = merged.get_mut(&key) {
                        t.insert(sub, v);
                    }
                }
            }
            (Some(Value::Table(_)), _) => {
                return Err(ConfigError::BadValue {
                    key,
                    origin: origin.into(),
                    reason: "expected a [section]".into(),
                })
            }
            (Some(default), v) => {
                check_type(&key, origin, default, &v)?;
                merged.insert(key, v);
            }
            (None, _) => {
                return Err(ConfigError::UnknownKey {
                    key,
                    origin: origin.into(),
                })
            }
        }
    }
    Ok(())
}

fn check_type(key: &str, origin: &str, default: &Value, value: &Value) -> Result<(), ConfigError> {
    if default.same_type(value) {
        Ok(())
    } else {
        Err(ConfigError::BadValue {
            key: key.into(),
            origin: origin.into(),
            reason: format!(
                "expected {}, found {}",
                default.type_str(),
                value.type_str()
            ),
        })
    }
}

/// The environment variable a config key maps to: `a.b_c` -> `KEYGATE_A_B_C`.
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "_").to_ascii_uppercase())
}

fn overlay_env(
    merged: &mut Table,
    defaults: &Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    // Every known key, with its env name and its default (which gives its type).
    let mut known: Vec<(String, Option<String>, String, &Value)> = Vec::new();
    let mut sections = Vec::new();
    for (key, value) in defaults {
        match value {
            Value::Table(t) => {
                sections.push(format!("{ENV_PREFIX}{}_", key.to_ascii_uppercase()));
                for (sub, v) in t {
                    known.push((
                        env_name(&format!("{key}.{sub}")),
                        Some(key.clone()),
                        sub.clone(),
                        v,
                    ));
                }
            }
            v => known.push((env_name(key), None, key.clone(), v)),
        }
    }
    for (name, raw) in env {
        if !name.starts_with(ENV_PREFIX) {
            continue;
        }
        let Some((_, section, key, default)) = known.iter().find(|(n, ..)| *n == name) else {
            // KEYGATE_<SECTION>_<typo> is an error; other KEYGATE_* variables (such as
            // KEYGATE_TEST_POSTGRES_URL, read by the test suite) are not settings.
            if sections.iter().any(|s| name.starts_with(s.as_str())) {
                return Err(ConfigError::UnknownKey {
                    key: name.clone(),
                    origin: "the environment".into(),
                });
            }
            continue;
        };
        let full = match section {
            Some(s) => format!("{s}.{key}"),
            None => key.clone(),
        };
        let value = parse_env_value(&full, &name, default, &raw)?;
        match section {
            Some(s) => {
                if let Some(Value::Table(t)) = merged.get_mut(s) {
                    t.insert(key.clone(), value);
                }
            }
            None => {
                merged.insert(key.clone(), value);
            }
        }
    }
    Ok(())
}

fn parse_env_value(key: &str, var: &str, default: &Value, raw: &str) -> Result<Value, ConfigError> {
    let bad = |reason: String| ConfigError::BadValue {
        key: key.into(),
        origin: var.into(),
        reason,
    };
    match default {
        Value::String(_) => Ok(Value::String(raw.to_owned())),
        Value::Integer(_) => raw
            .trim()
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| bad("expected an integer".into())),
        Value::Boolean(_) => match raw.trim() {
            "true" | "1" => Ok(Value::Boolean(true)),
            "false" | "0" => Ok(Value::Boolean(false)),
            _ => Err(bad("expected true or false".into())),
        },
        Value::Array(_) => Ok(Value::Array(
            raw.split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        )),
        other => Err(bad(format!(
            "cannot be set from the environment ({})",
            other.type_str()
        ))),
    }
}

impl RawConfig {
    fn validate(self) -> Result<Config, ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::BadValue {
            key: key.into(),
            origin: "the merged configuration".into(),
            reason,
        };
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            invalid(
                "listen",
                format!("`{}` is not an address:port", self.listen),
            )
        })?;
        let issuer = validate_issuer(&self.issuer).map_err(|r| invalid("issuer", r))?;
        let database_url = DatabaseUrl::parse(&self.database.url)
            .map_err(|e| invalid("database.url", e.to_string()))?;
        if !(1..=1000).contains(&self.database.pool_size) {
            return Err(invalid(
                "database.pool_size",
                "must be between 1 and 1000".into(),
            ));
        }
        if !(1..=300).contains(&self.database.connect_timeout_seconds) {
            return Err(invalid(
                "database.connect_timeout_seconds",
                "must be between 1 and 300".into(),
            ));
        }
        if self.database.keypair_cache_ttl_ms > 60_000 {
            return Err(invalid(
                "database.keypair_cache_ttl_ms",
                "must be at most 60000".into(),
            ));
        }
        if self.database.keypair_cache_entries > 10_000_000 {
            return Err(invalid(
                "database.keypair_cache_entries",
                "must be at most 10000000".into(),
            ));
        }
        let log_format = match self.log.format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(invalid(
                    "log.format",
                    format!("`{other}` is not `text` or `json`"),
                ))
            }
        };
        let mut entries = Vec::new();
        for entry in &self.scopes.catalogue {
            let (scope, audience) = entry.split_once('=').ok_or_else(|| {
                invalid(
                    "scopes.catalogue",
                    format!("`{entry}` is not scope=audience"),
                )
            })?;
            if scope.starts_with("keygate:") {
                return Err(invalid(
                    "scopes.catalogue",
                    format!("`{scope}`: the keygate: prefix is reserved"),
                ));
            }
            entries.push((scope.to_owned(), audience.to_owned()));
        }
        entries.push((ADMIN_SCOPE.to_owned(), issuer.clone()));
        entries.push((OPERATOR_SCOPE.to_owned(), issuer.clone()));
        let catalogue = ScopeCatalogue::new(entries)
            .map_err(|e| invalid("scopes.catalogue", e.to_string()))?
            .with_optional(&self.scopes.optional)
            .map_err(|e| invalid("scopes.optional", e.to_string()))?;
        let t = &self.token;
        if t.max_lifetime_seconds == 0 || t.max_lifetime_seconds > 7 * 86_400 {
            return Err(invalid(
                "token.max_lifetime_seconds",
                "must be between 1 and 604800".into(),
            ));
        }
        if t.lifetime_seconds == 0 || t.lifetime_seconds > t.max_lifetime_seconds {
            return Err(invalid(
                "token.lifetime_seconds",
                "must be between 1 and token.max_lifetime_seconds".into(),
            ));
        }
        let signing_algorithm = SigningAlgorithm::parse(&t.algorithm).ok_or_else(|| {
            invalid(
                "token.algorithm",
                format!("`{}` is not EdDSA, ES256 or RS256", t.algorithm),
            )
        })?;
        if !(1024..=1_048_576).contains(&t.max_body_bytes) {
            return Err(invalid(
                "token.max_body_bytes",
                "must be between 1024 and 1048576".into(),
            ));
        }
        if !(1..=3600).contains(&self.key.reload_interval_seconds) {
            return Err(invalid(
                "key.reload_interval_seconds",
                "must be between 1 and 3600".into(),
            ));
        }
        if !self.key.encryption_key.trim().is_empty() {
            token_endpoint::Kek::from_base64(&self.key.encryption_key)
                .map_err(|e| invalid("key.encryption_key", e.to_string()))?;
        }
        if self.key.encryption_key_file.is_empty() {
            return Err(invalid(
                "key.encryption_key_file",
                "must not be empty".into(),
            ));
        }
        let sv = &self.server;
        let workers = if sv.workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            sv.workers
        };
        if workers > 256 {
            return Err(invalid("server.workers", "must be at most 256".into()));
        }
        if !(1..=1_000_000).contains(&sv.max_connections) {
            return Err(invalid(
                "server.max_connections",
                "must be between 1 and 1000000".into(),
            ));
        }
        if !(100..=600_000).contains(&sv.client_request_timeout_ms) {
            return Err(invalid(
                "server.client_request_timeout_ms",
                "must be between 100 and 600000".into(),
            ));
        }
        let th = &self.throttle;
        if !(1..=86_400).contains(&th.window_seconds) {
            return Err(invalid(
                "throttle.window_seconds",
                "must be between 1 and 86400".into(),
            ));
        }
        for (key, v) in [
            ("throttle.failures_per_address", th.failures_per_address),
            (
                "throttle.failures_per_client_address",
                th.failures_per_client_address,
            ),
            ("throttle.failures_per_client", th.failures_per_client),
        ] {
            if v == 0 {
                return Err(invalid(key, "must be at least 1".into()));
            }
        }
        if th.max_tracked < 100 {
            return Err(invalid(
                "throttle.max_tracked",
                "must be at least 100".into(),
            ));
        }
        let client_ip_header = match th.client_ip_header.trim() {
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
        Ok(Config {
            server: ServerLimits {
                workers,
                max_connections_per_worker: sv.max_connections.div_ceil(workers).max(1),
                client_request_timeout: Duration::from_millis(sv.client_request_timeout_ms),
                client_disconnect_timeout: Duration::from_millis(sv.client_disconnect_timeout_ms),
                keep_alive: Duration::from_secs(sv.keep_alive_seconds),
            },
            token: TokenSettings {
                issuer: issuer.clone(),
                lifetime_seconds: t.lifetime_seconds,
                max_lifetime_seconds: t.max_lifetime_seconds,
                max_body_bytes: t.max_body_bytes,
                throttle: token_endpoint::ThrottleSettings {
                    window: Duration::from_secs(th.window_seconds),
                    per_address: th.failures_per_address,
                    per_client_address: th.failures_per_client_address,
                    per_client: th.failures_per_client,
                    max_tracked: th.max_tracked,
                },
                client_ip_header,
            },
            signing_algorithm,
            key: KeyEncryption {
                configured: self.key.encryption_key.clone(),
                file: self.key.encryption_key_file.clone().into(),
                reload_interval: Duration::from_secs(self.key.reload_interval_seconds),
            },
            listen,
            issuer,
            database_url,
            pool: PoolSettings {
                max_size: self.database.pool_size,
                connect_timeout: Duration::from_secs(self.database.connect_timeout_seconds),
                keypair_cache_ttl: Duration::from_millis(self.database.keypair_cache_ttl_ms),
                keypair_cache_entries: self.database.keypair_cache_entries,
            },
            log_format,
            catalogue,
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
