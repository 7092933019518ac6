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
            TokenError::InvalidClient => "invalid_client",
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
            TokenError::InvalidClient => 401,
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
            TokenError::InvalidClient => "client authentication failed".into(),
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
