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
        self.challenge(Some(realm))
    }

    /// The `WWW-Authenticate` header value, with a realm if there is one (RFC 6750 §3
    /// makes it optional). A `"` or `\` in the realm is escaped (RFC 9110 §5.6.4).
    pub(crate) fn challenge(&self, realm: Option<&str>) -> String {
        let mut params = Vec::with_capacity(3);
        if let Some(realm) = realm {
            params.push(format!("realm=\"{}\"", escape_quoted(realm)));
        }
        if let Some(code) = self.code() {
            params.push(format!("error=\"{code}\""));
        }
        if let GuardError::InsufficientScope { required } = self {
            params.push(format!("scope=\"{required}\""));
        }
        if params.is_empty() {
            "Bearer".to_owned()
        } else {
            format!("Bearer {}", params.join(", "))
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

/// `s` as the inside of a quoted-string: `"` and `\` backslash-escaped.
fn escape_quoted(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains(['"', '\\']) {
        s.replace('\\', "\\\\").replace('"', "\\\"").into()
    } else {
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_name_the_realm_and_the_error() {
        let scope = GuardError::InsufficientScope {
            required: "feedback:write".into(),
        };
        assert_eq!(
            GuardError::MissingToken.www_authenticate("feedback"),
            r#"Bearer realm="feedback""#
        );
        assert_eq!(
            GuardError::InvalidToken("x").www_authenticate("feedback"),
            r#"Bearer realm="feedback", error="invalid_token""#
        );
        assert_eq!(
            scope.www_authenticate("feedback"),
            r#"Bearer realm="feedback", error="insufficient_scope", scope="feedback:write""#
        );
        assert_eq!(
            GuardError::InvalidToken("x").challenge(None),
            r#"Bearer error="invalid_token""#
        );
        assert_eq!(GuardError::MissingToken.challenge(None), "Bearer");
        assert_eq!(
            GuardError::MissingToken.www_authenticate(r#"a "b" \c"#),
            r#"Bearer realm="a \"b\" \\c""#
        );
    }
}
