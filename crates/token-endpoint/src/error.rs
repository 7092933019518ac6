//! Token endpoint errors: the RFC 6749 §5.2 codes (plus RFC 8707 `invalid_target`),
//! each with its status, for `/token`, `/revoke` and `/introspect`. `crate::http` turns them into responses in one place.

/// Why `/token` refused a request. The variant is the error code the client sees.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Missing, duplicated or malformed parameters; unsupported body format.
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    /// Unknown client, wrong secret, disabled or deleted keypair, no or unsupported
    /// client authentication. Never says which.
    #[error("invalid_client")]
    InvalidClient,
    /// A keypair refused authentication for a reason the store names (unknown, wrong
    /// secret, disabled, expired, outside its allowlist). Answered exactly as
    /// [`TokenError::InvalidClient`]; the reason is for logs and metrics only.
    #[error("invalid_client")]
    ClientRejected(keypair_store::Rejection),
    /// `grant_type` is not `client_credentials`.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// A requested scope is malformed or not held by the keypair.
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    /// `resource`/`audience` names no known audience (RFC 8707 §2).
    #[error("invalid_target: {0}")]
    InvalidTarget(String),
    /// The request body is over the limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// `/token`, `/revoke` and `/introspect` only accept POST.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// `/revoke`: the token is live but was issued to another client (RFC 7009 §2.2.1).
    #[error("unauthorized_client: the token belongs to another client")]
    ForeignToken,
    /// `/introspect`: the caller's keypair does not hold `keygate:introspect`: 403.
    #[error("unauthorized_client: introspection not allowed")]
    IntrospectionNotAllowed,
    /// The database is unreachable; try again later.
    #[error("temporarily_unavailable")]
    TemporarilyUnavailable,
    /// Too many failed authentications for this client id or address: 429.
    #[error("too many failed attempts")]
    TooManyFailures {
        /// Seconds until the client may try again.
        retry_after_secs: u64,
    },
    /// `GET /statuslists/{id}` names no status list (or a malformed id): 404.
    #[error("unknown status list")]
    UnknownStatusList,
    /// A fault of ours (e.g. signing failed). Logged; the client gets a fixed body.
    #[error("server_error")]
    ServerError,
}

impl TokenError {
    /// The `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::InvalidRequest(_)
            | TokenError::PayloadTooLarge
            | TokenError::MethodNotAllowed => "invalid_request",
            TokenError::InvalidClient | TokenError::ClientRejected(_) => "invalid_client",
            TokenError::UnsupportedGrantType => "unsupported_grant_type",
            TokenError::InvalidScope(_) => "invalid_scope",
            TokenError::InvalidTarget(_) => "invalid_target",
            TokenError::ForeignToken | TokenError::IntrospectionNotAllowed => "unauthorized_client",
            TokenError::TemporarilyUnavailable | TokenError::TooManyFailures { .. } => {
                "temporarily_unavailable"
            }
            TokenError::ServerError => "server_error",
            TokenError::UnknownStatusList => "not_found",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            TokenError::InvalidClient | TokenError::ClientRejected(_) => 401,
            TokenError::PayloadTooLarge => 413,
            TokenError::IntrospectionNotAllowed => 403,
            TokenError::MethodNotAllowed => 405,
            TokenError::TemporarilyUnavailable => 503,
            TokenError::TooManyFailures { .. } => 429,
            TokenError::ServerError => 500,
            TokenError::UnknownStatusList => 404,
            _ => 400,
        }
    }

    /// The `error_description` field: safe to show, never a secret or an internal cause.
    pub fn description(&self) -> String {
        match self {
            TokenError::InvalidRequest(d)
            | TokenError::InvalidScope(d)
            | TokenError::InvalidTarget(d) => d.clone(),
            TokenError::InvalidClient | TokenError::ClientRejected(_) => {
                "client authentication failed".into()
            }
            TokenError::UnsupportedGrantType => {
                "only grant_type=client_credentials is supported".into()
            }
            TokenError::PayloadTooLarge => "request body too large".into(),
            TokenError::ForeignToken => "the token was issued to another client".into(),
            TokenError::IntrospectionNotAllowed => {
                "introspection needs a keypair holding keygate:introspect".into()
            }
            TokenError::MethodNotAllowed => "use POST".into(),
            TokenError::TemporarilyUnavailable => {
                "the service is temporarily unavailable; retry later".into()
            }
            TokenError::TooManyFailures { .. } => {
                "too many failed authentication attempts; retry later".into()
            }
            TokenError::ServerError => "internal error".into(),
            TokenError::UnknownStatusList => "no such status list".into(),
        }
    }
}

/// A body `/token` could not read: too large is 413, unreadable a 400.
impl TokenError {
    /// Whether it is a failed client authentication (counted by the throttle).
    pub fn is_invalid_client(&self) -> bool {
        matches!(
            self,
            TokenError::InvalidClient | TokenError::ClientRejected(_)
        )
    }

    /// The reason a refusal is counted under in metrics: the most specific one, so
    /// each refusal is counted once. `throttled`, `address_not_allowed` and `expired`
    /// name what the RFC 6749 code hides; otherwise the code itself.
    pub fn metric_reason(&self) -> &'static str {
        match self {
            TokenError::TooManyFailures { .. } => "throttled",
            TokenError::ClientRejected(keypair_store::Rejection::AddressNotAllowed) => {
                "address_not_allowed"
            }
            TokenError::ClientRejected(keypair_store::Rejection::Expired) => "expired",
            other => other.code(),
        }
    }
}

impl From<request_body::BodyError> for TokenError {
    fn from(e: request_body::BodyError) -> TokenError {
        match e {
            request_body::BodyError::TooLarge => TokenError::PayloadTooLarge,
            request_body::BodyError::Unreadable(_) => {
                TokenError::InvalidRequest("unreadable body".into())
            }
        }
    }
}
