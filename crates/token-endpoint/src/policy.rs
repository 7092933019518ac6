//! Which scopes and audiences a token gets (design: "Access tokens").
//!
//! - No `scope`: every allowed scope of the keypair (that the catalogue still knows),
//!   except optional ones (`scopes.optional`), which come only when asked for by
//!   `scope` or by `resource`.
//! - `scope` given: exactly those, each of which the keypair must hold, else
//!   `invalid_scope`.
//! - `resource`/`audience` given: it must be a known audience (else `invalid_target`),
//!   and the grant is narrowed to that audience's scopes.
//! - A token's `aud` lists the audiences of its granted scopes.

use std::collections::BTreeSet;

use keypair_store::{ScopeCatalogue, ScopeSet};

use crate::error::TokenError;

/// The outcome: granted scopes and their audiences (sorted, no duplicates).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Granted scopes.
    pub scopes: ScopeSet,
    /// Audiences of the granted scopes.
    pub audiences: Vec<String>,
}

/// Decides the grant for a keypair holding `allowed`.
pub fn decide(
    catalogue: &ScopeCatalogue,
    allowed: &ScopeSet,
    requested: Option<&ScopeSet>,
    target: Option<&str>,
) -> Result<Decision, TokenError> {
    if let Some(t) = target {
        if !catalogue.has_audience(t) {
            return Err(TokenError::InvalidTarget(format!(
                "unknown resource `{}`",
                crate::clip(t)
            )));
        }
    }
    let in_target = |aud: &str| target.is_none_or(|t| t == aud);

    let granted: ScopeSet = match requested {
        Some(req) => {
            for scope in req.iter() {
                let aud = catalogue.audience_of(scope);
                if !allowed.contains(scope.as_str()) || aud.is_none() {
                    return Err(TokenError::InvalidScope(format!(
                        "scope `{}` is not allowed for this client",
                        crate::clip(scope.as_str())
                    )));
                }
                if !aud.is_some_and(in_target) {
                    return Err(TokenError::InvalidScope(format!(
                        "scope `{}` does not belong to the requested resource",
                        crate::clip(scope.as_str())
                    )));
                }
            }
            req.clone()
        }
        None => allowed
            .iter()
            .filter(|s| catalogue.audience_of(s).is_some_and(in_target))
            // Optional scopes only when `resource` asks for their audience.
            .filter(|s| target.is_some() || !catalogue.is_optional(s))
            .cloned()
            .collect(),
    };
    if granted.is_empty() {
        return Err(match target {
            Some(t) => TokenError::InvalidTarget(format!(
                "this client holds no scope for `{}`",
                crate::clip(t)
            )),
            None if allowed.iter().any(|s| catalogue.is_optional(s)) => TokenError::InvalidScope(
                "this client holds only optional scopes: ask for them with `scope` or `resource`"
                    .into(),
            ),
            None => TokenError::InvalidScope("this client holds no scope".into()),
        });
    }
    let audiences: BTreeSet<String> = granted
        .iter()
        .filter_map(|s| catalogue.audience_of(s))
        .map(str::to_owned)
        .collect();
    Ok(Decision {
        scopes: granted,
        audiences: audiences.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn catalogue() -> ScopeCatalogue {
        ScopeCatalogue::new([
            ("feedback:read", "feedback-api"),
            ("feedback:write", "feedback-api"),
            ("billing:read", "billing-api"),
            ("keygate:admin", "https://issuer"),
        ])
        .unwrap()
    }

    fn set(s: &str) -> ScopeSet {
        ScopeSet::parse_space_separated(s).unwrap()
    }

    #[test]
    fn absent_scope_grants_everything_allowed() {
        let d = decide(
            &catalogue(),
            &set("feedback:read keygate:admin"),
            None,
            None,
        )
        .unwrap();
        assert_eq!(d.scopes, set("feedback:read keygate:admin"));
        assert_eq!(d.audiences, ["feedback-api", "https://issuer"]);
    }

    #[test]
    fn optional_scopes_come_only_when_asked_for() {
        let catalogue = catalogue().with_optional(&["keygate:admin"]).unwrap();
        let allowed = set("feedback:read keygate:admin");
        // Without `scope`: the default scopes only, so no admin audience.
        let d = decide(&catalogue, &allowed, None, None).unwrap();
        assert_eq!(d.scopes, set("feedback:read"));
        assert_eq!(d.audiences, ["feedback-api"]);
        // Asked for by scope or by resource, it is granted.
        let d = decide(&catalogue, &allowed, Some(&set("keygate:admin")), None).unwrap();
        assert_eq!(d.audiences, ["https://issuer"]);
        let d = decide(&catalogue, &allowed, None, Some("https://issuer")).unwrap();
        assert_eq!(d.scopes, set("keygate:admin"));
        // A keypair holding only optional scopes gets no token without asking.
        let e = decide(&catalogue, &set("keygate:admin"), None, None).unwrap_err();
        assert_eq!(e.code(), "invalid_scope");
    }

    #[test]
    fn requested_subset_is_granted_exactly() {
        let d = decide(
            &catalogue(),
            &set("feedback:read feedback:write"),
            Some(&set("feedback:write")),
            None,
        )
        .unwrap();
        assert_eq!(d.scopes, set("feedback:write"));
        assert_eq!(d.audiences, ["feedback-api"]);
    }

    #[test]
    fn scopes_outside_the_allowed_set_are_refused() {
        let allowed = set("feedback:read");
        for req in [
            "feedback:write",
            "feedback:read feedback:write",
            "unknown:scope",
            "keygate:operator",
        ] {
            let e = decide(&catalogue(), &allowed, Some(&set(req)), None).unwrap_err();
            assert_eq!(e.code(), "invalid_scope", "{req}");
        }
    }

    #[test]
    fn resource_narrows_to_one_audience() {
        let allowed = set("feedback:read billing:read keygate:admin");
        let d = decide(&catalogue(), &allowed, None, Some("billing-api")).unwrap();
        assert_eq!(d.scopes, set("billing:read"));
        assert_eq!(d.audiences, ["billing-api"]);
        let e = decide(
            &catalogue(),
            &allowed,
            Some(&set("feedback:read")),
            Some("billing-api"),
        )
        .unwrap_err();
        assert_eq!(e.code(), "invalid_scope");
        let e = decide(&catalogue(), &allowed, None, Some("https://evil")).unwrap_err();
        assert_eq!(e.code(), "invalid_target");
        let e = decide(
            &catalogue(),
            &set("feedback:read"),
            None,
            Some("billing-api"),
        )
        .unwrap_err();
        assert_eq!(e.code(), "invalid_target");
    }

    #[test]
    fn a_keypair_without_scopes_gets_no_token() {
        let e = decide(&catalogue(), &ScopeSet::default(), None, None).unwrap_err();
        assert_eq!(e.code(), "invalid_scope");
    }
}
