//! `[token]`: access token lifetimes, the signing algorithm and the request body limit.

use serde::Deserialize;
use token_endpoint::{SigningAlgorithm, StatusSettings, TokenSettings};

use super::throttle::Throttle;
use super::{invalid, ConfigError};

/// `[token]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawToken {
    lifetime_seconds: u32,
    max_lifetime_seconds: u32,
    algorithm: String,
    max_body_bytes: usize,
}

/// The validated `[token]` section, before it is joined with the issuer and the
/// throttle into the token endpoint's settings.
#[derive(Debug)]
pub(super) struct Token {
    lifetime_seconds: u32,
    max_lifetime_seconds: u32,
    max_body_bytes: usize,
    pub(super) algorithm: SigningAlgorithm,
}

impl RawToken {
    pub(super) fn validate(self) -> Result<Token, ConfigError> {
        if self.max_lifetime_seconds == 0 || self.max_lifetime_seconds > 7 * 86_400 {
            return Err(invalid(
                "token.max_lifetime_seconds",
                "must be between 1 and 604800",
            ));
        }
        if self.lifetime_seconds == 0 || self.lifetime_seconds > self.max_lifetime_seconds {
            return Err(invalid(
                "token.lifetime_seconds",
                "must be between 1 and token.max_lifetime_seconds",
            ));
        }
        let algorithm = SigningAlgorithm::parse(&self.algorithm).ok_or_else(|| {
            invalid(
                "token.algorithm",
                format!("`{}` is not EdDSA, ES256 or RS256", self.algorithm),
            )
        })?;
        if !(1024..=1_048_576).contains(&self.max_body_bytes) {
            return Err(invalid(
                "token.max_body_bytes",
                "must be between 1024 and 1048576",
            ));
        }
        Ok(Token {
            lifetime_seconds: self.lifetime_seconds,
            max_lifetime_seconds: self.max_lifetime_seconds,
            max_body_bytes: self.max_body_bytes,
            algorithm,
        })
    }
}

impl Token {
    /// The token endpoint's settings: this section, the issuer, `[throttle]` and
    /// `[status]`.
    pub(super) fn settings(
        &self,
        issuer: &str,
        throttle: Throttle,
        status: StatusSettings,
    ) -> TokenSettings {
        TokenSettings {
            issuer: issuer.to_owned(),
            lifetime_seconds: self.lifetime_seconds,
            max_lifetime_seconds: self.max_lifetime_seconds,
            max_body_bytes: self.max_body_bytes,
            throttle: throttle.settings,
            client_ip_header: throttle.client_ip_header,
            status,
        }
    }
}
