//! Validation failures, named after what the resource server must answer
//! (RFC 6750 §3.1).

/// Why a request is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// No bearer token was presented: 401 with a bare `WWW-Authenticate: Bearer realm`.
    #[error("no access token")]
    MissingToken,
    /// The token is malformed, forged, expired, for another audience or issuer...
    /// The reason is for the log; clients only learn `invalid_token`.
    #[error("invalid access token: {0}")]
    InvalidToken(&'static str),
    /// Valid token, but without the scope(s) the route needs: 403.
    #[error("insufficient scope: {required}")]
    InsufficientScope {
        /// The scope(s) required, space-separated.
        required: String,
    },
}

impl GuardError {
    /// The RFC 6750 error code, if any (`None` for a missing token, §3.1).
    pub fn code(&self) -> Option<&'static str> {
        match self {
            GuardError::MissingToken => None,
            GuardError::InvalidToken(_) => Some("invalid_token"),
            GuardError::InsufficientScope { .. } => Some("insufficient_scope"),
        }
    }

    /// The HTTP status: 401, or 403 for a missing scope.
    pub fn status(&self) -> u16 {
        match self {
            GuardError::InsufficientScope { .. } => 403,
            _ => 401,
        }
    }

    /// The `WWW-Authenticate` header value for `realm`.
    pub fn www_authenticate(&self, realm: &str) -> String {
        match self {
            GuardError::MissingToken => format!("Bearer realm=\"{realm}\""),
            GuardError::InvalidToken(_) => {
                format!("Bearer realm=\"{realm}\", error=\"invalid_token\"")
            }
            GuardError::InsufficientScope { required } => {
                format!(
                    "Bearer realm=\"{realm}\", error=\"insufficient_scope\", scope=\"{required}\""
                )
            }
        }
    }

    /// A short message that reveals nothing about why a signature failed.
    pub fn public_message(&self) -> &'static str {
        match self {
            GuardError::MissingToken => "an access token is required",
            GuardError::InvalidToken(_) => "the access token is invalid",
            GuardError::InsufficientScope { .. } => "the access token lacks a required scope",
        }
    }
}
