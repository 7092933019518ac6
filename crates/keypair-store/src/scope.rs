//! Scopes (RFC 6749 §3.3) and the configured scope catalogue, in which every scope
//! belongs to exactly one audience (resource server).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::error::StoreError;

/// The scope reserved for operator keypairs made by `keygate bootstrap`.
pub const OPERATOR_SCOPE: &str = "keygate:operator";
/// The scope of full account/environment administrators.
pub const ADMIN_SCOPE: &str = "keygate:admin";
/// Lets a keypair call `/introspect` (RFC 7662). Belongs to the admin API's audience;
/// only operators may grant it.
pub const INTROSPECT_SCOPE: &str = "keygate:introspect";
const MAX_SCOPE_LEN: usize = 128;

/// One scope token: `1*( %x21 / %x23-5B / %x5D-7E )`, at most 128 characters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Scope(String);

impl Scope {
    /// Parses one scope token.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        let valid = !s.is_empty()
            && s.len() <= MAX_SCOPE_LEN
            && s.bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if valid {
            Ok(Scope(s.to_owned()))
        } else {
            Err(StoreError::invalid("scopes", "not a valid scope token"))
        }
    }

    /// The scope as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A set of scopes, ordered, without duplicates.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// Parses a space-separated list (the wire form of RFC 6749 §3.3).
    pub fn parse_space_separated(s: &str) -> Result<Self, StoreError> {
        s.split(' ')
            .filter(|t| !t.is_empty())
            .map(Scope::parse)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(ScopeSet)
    }

    /// The space-separated wire form.
    pub fn to_space_separated(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(s.as_str());
        }
        out
    }

    /// Whether the set holds `scope`.
    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s.as_str() == scope)
    }

    /// Whether every scope of `self` is in `other`.
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The scopes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// Number of scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        ScopeSet(iter.into_iter().collect())
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.iter()).finish()
    }
}

/// The configured scopes, the audience each belongs to, and which are optional.
#[derive(Clone, Debug, Default)]
pub struct ScopeCatalogue {
    scopes: BTreeMap<Scope, String>,
    /// Granted only when asked for, by `scope` or by `resource` (Keycloak's "optional
    /// client scopes"); every other held scope is a default scope.
    optional: BTreeSet<Scope>,
}

impl ScopeCatalogue {
    /// Builds a catalogue from `(scope, audience)` pairs; a scope may appear once.
    pub fn new<I, S, A>(entries: I) -> Result<Self, StoreError>
    where
        I: IntoIterator<Item = (S, A)>,
        S: AsRef<str>,
        A: Into<String>,
    {
        let mut scopes = BTreeMap::new();
        for (scope, audience) in entries {
            let scope = Scope::parse(scope.as_ref())?;
            let audience = audience.into();
            if audience.is_empty() {
                return Err(StoreError::invalid(
                    "scopes",
                    format!("scope {scope} has an empty audience"),
                ));
            }
            if scopes.insert(scope.clone(), audience).is_some() {
                return Err(StoreError::invalid(
                    "scopes",
                    format!("scope {scope} is listed twice"),
                ));
            }
        }
        Ok(ScopeCatalogue {
            scopes,
            optional: BTreeSet::new(),
        })
    }

    /// Marks `optional` scopes: a token request without `scope` gets them only when its
    /// `resource` names their audience. Each must be in the catalogue.
    pub fn with_optional<S: AsRef<str>>(mut self, optional: &[S]) -> Result<Self, StoreError> {
        for s in optional {
            let scope = self.known(s.as_ref())?;
            self.optional.insert(scope);
        }
        Ok(self)
    }

    /// Parses `s` as a scope of this catalogue.
    fn known(&self, s: &str) -> Result<Scope, StoreError> {
        let scope = Scope::parse(s)?;
        if !self.scopes.contains_key(&scope) {
            return Err(StoreError::invalid(
                "scopes",
                format!("unknown scope `{scope}`"),
            ));
        }
        Ok(scope)
    }

    /// Whether `scope` is granted only when asked for.
    pub fn is_optional(&self, scope: &Scope) -> bool {
        self.optional.contains(scope)
    }

    /// The audience `scope` belongs to, if it is in the catalogue.
    pub fn audience_of(&self, scope: &Scope) -> Option<&str> {
        self.scopes.get(scope).map(String::as_str)
    }

    /// Whether any scope belongs to `audience`.
    pub fn has_audience(&self, audience: &str) -> bool {
        self.scopes.values().any(|a| a == audience)
    }

    /// Every scope, in order.
    pub fn scopes(&self) -> impl Iterator<Item = &Scope> {
        self.scopes.keys()
    }

    /// Validates scopes requested for a keypair: each must be in the catalogue, and the
    /// reserved operator scope is never granted through this path.
    pub fn validate_for_keypair<S: AsRef<str>>(
        &self,
        requested: &[S],
    ) -> Result<ScopeSet, StoreError> {
        let mut set = BTreeSet::new();
        for s in requested {
            let scope = self.known(s.as_ref())?;
            if scope.as_str() == OPERATOR_SCOPE {
                return Err(StoreError::invalid(
                    "scopes",
                    format!("`{OPERATOR_SCOPE}` is reserved for `keygate bootstrap`"),
                ));
            }
            set.insert(scope);
        }
        Ok(ScopeSet(set))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue() -> ScopeCatalogue {
        ScopeCatalogue::new([
            ("feedback:read", "feedback-api"),
            ("feedback:write", "feedback-api"),
            (OPERATOR_SCOPE, "http://issuer"),
        ])
        .unwrap_or_default()
    }

    #[test]
    fn scope_syntax_follows_rfc_6749() {
        assert!(Scope::parse("feedback:read").is_ok());
        for bad in ["", "a b", "a\"b", "a\\b", "é", &"x".repeat(129)] {
            assert!(Scope::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn space_separated_round_trip_dedups_and_sorts() {
        let set = ScopeSet::parse_space_separated("b a  b").unwrap_or_default();
        assert_eq!(set.to_space_separated(), "a b");
    }

    #[test]
    fn catalogue_rejects_unknown_and_reserved_scopes() {
        let c = catalogue();
        assert_eq!(
            c.validate_for_keypair(&["feedback:read"])
                .map(|s| s.len())
                .ok(),
            Some(1)
        );
        assert!(c.validate_for_keypair(&["feedback:delete"]).is_err());
        assert!(c.validate_for_keypair(&[OPERATOR_SCOPE]).is_err());
        assert_eq!(
            c.audience_of(&Scope("feedback:write".into())),
            Some("feedback-api")
        );
    }

    #[test]
    fn catalogue_rejects_duplicates() {
        assert!(ScopeCatalogue::new([("a", "x"), ("a", "y")]).is_err());
    }
}
