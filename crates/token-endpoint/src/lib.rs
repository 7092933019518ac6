#![doc = include_str!("../README.md")]

mod error;
mod grant;
pub mod http;
pub mod jwt;
mod kek;
mod key_ring;
mod policy;
mod request;
mod signing_key;
pub mod status_lists;
mod token_status;

use std::sync::Arc;

pub use error::TokenError;
pub use jwt::Audience;
pub use kek::{Kek, KekError, KekSource};
pub use key_ring::{KeyError, KeyRing, KeySettings, Keys, NewSigningKey, RETIREMENT_LEEWAY};
pub use policy::{decide, Decision};
pub use request::{AuthMethod, ClientCredentials, RawRequest, TokenRequest, TokenStatusRequest};
pub use signing_key::{CryptoError, SigningAlgorithm, SigningKey};
pub use status_lists::{Lookup, StatusLists};
pub use throttle::{client_address, RetryAfter, Throttle, ThrottleSettings};
pub use token_status::{ActiveToken, Introspection};

use clock::Clock;
use keypair_store::{ScopeCatalogue, Store};
use serde_json::json;
use time::OffsetDateTime;

/// Settings of the token endpoint.
#[derive(Clone, Debug)]
pub struct TokenSettings {
    /// The issuer URL (`iss`, metadata base, admin API audience). No trailing slash.
    pub issuer: String,
    /// Lifetime of tokens whose keypair sets none (default 3600 s).
    pub lifetime_seconds: u32,
    /// The longest lifetime a keypair may have (default 86400 s).
    pub max_lifetime_seconds: u32,
    /// Largest accepted request body (default 16 KiB).
    pub max_body_bytes: usize,
    /// Limits on failed client authentication.
    pub throttle: ThrottleSettings,
    /// A header set by a trusted reverse proxy carrying the client address (e.g.
    /// `X-Forwarded-For`: its rightmost entry is used). `None`: the TCP peer address.
    pub client_ip_header: Option<String>,
    /// Token status lists.
    pub status: StatusSettings,
}

/// Settings of token status (`[status]`, docs/token-status.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusSettings {
    /// The `ttl` of served lists: how long a resource server may use a list before
    /// fetching it again, and how often every process checks the status version.
    pub ttl: std::time::Duration,
    /// How far ahead a served list's `exp` is set when it is signed; a list is re-signed
    /// before less than this minus `ttl` remains.
    pub list_lifetime: std::time::Duration,
    /// Entries of a newly opened list.
    pub list_capacity: u32,
}

impl Default for StatusSettings {
    fn default() -> Self {
        StatusSettings {
            ttl: std::time::Duration::from_secs(5),
            list_lifetime: std::time::Duration::from_secs(600),
            list_capacity: 1 << 20,
        }
    }
}

impl TokenSettings {
    /// Where new generations go, and how long an INVALID entry stays out of the pool:
    /// the longest token lifetime plus the retirement leeway, so that no live token
    /// can point at a reused entry.
    pub fn generation_policy(&self) -> keypair_store::GenerationPolicy {
        keypair_store::GenerationPolicy {
            list_capacity: self.status.list_capacity,
            reuse_after: time::Duration::seconds(i64::from(self.max_lifetime_seconds))
                + RETIREMENT_LEEWAY,
        }
    }
}

/// A signed access token and what the response says about it.
#[derive(Clone)]
pub struct AccessToken {
    /// The JWT.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u32,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// Who got it.
    pub client_id: String,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("access_token", &"***")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("client_id", &self.client_id)
            .finish()
    }
}

/// The token endpoint's domain service: no HTTP types, `now` passed in. The HTTP
/// layer reads the time from its [`Clock`].
#[derive(Debug)]
pub struct TokenService {
    store: Store,
    keys: Arc<Keys>,
    catalogue: ScopeCatalogue,
    settings: TokenSettings,
    metadata: String,
    /// Failed-authentication counters.
    throttle: Throttle,
    /// oxide-auth wants a registered URL even in this grant; parsed once.
    registered_url: Option<oxide_auth::primitives::registrar::RegisteredUrl>,
    /// Where `/token` reads the time: issue time and throttle windows.
    clock: Clock,
    /// Tokens issued and refused (off unless [`TokenService::with_metrics`]).
    metrics: telemetry::Metrics,
    /// The signed status lists served at `/statuslists`.
    status_lists: Arc<StatusLists>,
}

impl TokenService {
    /// Wires the service. `clock` is where `/token` reads the time (issue time and
    /// throttle windows): [`Clock::system`] in the server, a test clock in tests.
    pub fn new(
        store: Store,
        keys: Arc<Keys>,
        catalogue: ScopeCatalogue,
        settings: TokenSettings,
        clock: Clock,
    ) -> TokenService {
        let metadata = metadata_document(&settings, &catalogue);
        let registered_url = settings
            .issuer
            .parse()
            .ok()
            .map(oxide_auth::primitives::registrar::RegisteredUrl::Exact);
        let status_lists = Arc::new(StatusLists::new(
            store.clone(),
            keys.clone(),
            &settings.issuer,
            settings.status,
        ));
        TokenService {
            store,
            keys,
            status_lists,
            catalogue,
            throttle: Throttle::new(settings.throttle),
            settings,
            metadata,
            registered_url,
            clock,
            metrics: telemetry::Metrics::off(),
        }
    }

    /// Whether [`TokenService::issue`] would answer this request without touching the
    /// database (its keypair is cached with a VALID generation and no `last_used_at`
    /// write is due), so it can run inline on an async worker instead of on the
    /// blocking pool. A keypair without a VALID generation in hand needs one opened (a
    /// write) before its token can carry the `status` claim.
    pub fn answers_from_memory(&self, request: &TokenRequest, now: OffsetDateTime) -> bool {
        self.store
            .answers_from_memory(&request.credentials.client_id, now)
    }

    /// Runs the client credentials grant for a parsed request.
    #[tracing::instrument(level = "debug", skip_all, fields(client_id = %clip(&request.credentials.client_id)))]
    pub fn issue(
        &self,
        request: &TokenRequest,
        now: OffsetDateTime,
    ) -> Result<AccessToken, TokenError> {
        let token = grant::run(self, request, now)?;
        if let Ok(id) = keypair_store::ClientId::parse(&token.client_id) {
            if let Err(e) = self.store.record_use(&id, now) {
                tracing::warn!(error = %e, "cannot record last use");
            }
        }
        tracing::debug!(scope = %token.scope, expires_in = token.expires_in, "token issued");
        Ok(token)
    }

    /// The JWKS document (`{"keys":[...]}`).
    pub fn jwks(&self) -> String {
        self.keys.ring().jwks.clone()
    }

    /// The RFC 8414 metadata document.
    pub fn metadata(&self) -> &str {
        &self.metadata
    }

    /// The settings.
    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// The failed-authentication throttle.
    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    /// The signing keys.
    pub fn keys(&self) -> &Arc<Keys> {
        &self.keys
    }

    /// Where `/token` reads the time.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Counts issued and refused tokens in `metrics`.
    pub fn with_metrics(mut self, metrics: telemetry::Metrics) -> TokenService {
        self.metrics = metrics;
        self
    }

    /// Where tokens issued and refused are counted.
    pub fn metrics(&self) -> &telemetry::Metrics {
        &self.metrics
    }

    /// The status lists this process publishes; `keygate serve` refreshes them in the
    /// background ([`StatusLists::refresh`]).
    pub fn status_lists(&self) -> &Arc<StatusLists> {
        &self.status_lists
    }
}

/// Client input that is logged or echoed in an error description: at most its first
/// 64 characters.
pub(crate) fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

/// RFC 8414 §2 authorization server metadata.
fn metadata_document(settings: &TokenSettings, catalogue: &ScopeCatalogue) -> String {
    let issuer = &settings.issuer;
    let scopes: Vec<&str> = catalogue
        .scopes()
        .map(|s| s.as_str())
        .filter(|s| *s != keypair_store::OPERATOR_SCOPE)
        .collect();
    json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": scopes,
        "revocation_endpoint": format!("{issuer}/revoke"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint": format!("{issuer}/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "status_list_aggregation_endpoint": format!("{issuer}{}", jwt::STATUS_LISTS_PATH),
    })
    .to_string()
}
