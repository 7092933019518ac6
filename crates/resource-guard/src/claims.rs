//! The claims of a validated keygate access token.

use std::collections::BTreeSet;

use crate::GuardError;

/// What a resource server learns from a valid token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// The keypair's client id (`client_id`, equal to `sub`).
    pub client_id: String,
    /// The owning account (`acct`), absent for operator keypairs.
    pub account_id: Option<String>,
    /// The owning environment (`env`), for environment keypairs.
    pub environment_id: Option<String>,
    /// Granted scopes.
    pub scopes: BTreeSet<String>,
    /// Audiences (`aud`).
    pub audiences: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub expires_at: i64,
    /// Issue time, seconds since the epoch.
    pub issued_at: i64,
    /// Token id (`jti`).
    pub token_id: String,
    /// Where the token's status is published (`status.status_list`), if it says.
    /// When status checks are on (the default) a validated token's status was VALID.
    pub status: Option<StatusClaim>,
}

/// A token's entry in a status list: `"status": {"status_list": {"idx", "uri"}}`
/// (draft-ietf-oauth-status-list §6.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusClaim {
    /// The entry's index in the list.
    pub idx: u64,
    /// The list's URI: `{issuer}/statuslists/{id}` for keygate tokens.
    pub uri: String,
}

impl Claims {
    /// Whether the token holds `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// `Ok` if the token holds `scope`, else `insufficient_scope`.
    pub fn require(&self, scope: &str) -> Result<(), GuardError> {
        self.require_all(&[scope])
    }

    /// `Ok` if the token holds every scope in `scopes`.
    pub fn require_all(&self, scopes: &[&str]) -> Result<(), GuardError> {
        if scopes.iter().all(|s| self.has_scope(s)) {
            Ok(())
        } else {
            Err(GuardError::InsufficientScope {
                required: scopes.join(" "),
            })
        }
    }

    /// `Ok` if the token holds at least one scope in `scopes`.
    pub fn require_any(&self, scopes: &[&str]) -> Result<(), GuardError> {
        if scopes.iter().any(|s| self.has_scope(s)) {
            Ok(())
        } else {
            Err(GuardError::InsufficientScope {
                required: scopes.join(" "),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn claims(scopes: &[&str]) -> Claims {
        Claims {
            client_id: "kg_x".into(),
            account_id: None,
            environment_id: None,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            audiences: vec!["feedback-api".into()],
            expires_at: 0,
            issued_at: 0,
            token_id: String::new(),
            status: None,
        }
    }

    #[test]
    fn scope_checks() {
        let c = claims(&["feedback:read", "feedback:write"]);
        assert!(c.require("feedback:write").is_ok());
        assert!(c.require_all(&["feedback:read", "feedback:write"]).is_ok());
        assert!(c.require_any(&["billing:read", "feedback:read"]).is_ok());
        let e = claims(&["feedback:read"])
            .require("feedback:write")
            .unwrap_err();
        assert_eq!(
            e,
            GuardError::InsufficientScope {
                required: "feedback:write".into()
            }
        );
        assert!(claims(&["feedback:read"])
            .require_all(&["feedback:read", "x"])
            .is_err());
        assert!(claims(&[]).require_any(&["a", "b"]).is_err());
    }
}
