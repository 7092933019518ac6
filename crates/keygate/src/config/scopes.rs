//! `[scopes]`: the scope catalogue (every scope and the audience it belongs to).

use keypair_store::{ScopeCatalogue, ADMIN_SCOPE, INTROSPECT_SCOPE, OPERATOR_SCOPE};
use serde::Deserialize;

use super::{invalid, ConfigError};

/// `[scopes]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScopes {
    catalogue: Vec<String>,
    optional: Vec<String>,
}

impl RawScopes {
    /// The configured `scope=audience` entries plus keygate's own scopes, whose audience
    /// is the admin API's: the issuer.
    pub(super) fn validate(self, issuer: &str) -> Result<ScopeCatalogue, ConfigError> {
        let mut entries = Vec::new();
        for entry in &self.catalogue {
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
        entries.push((ADMIN_SCOPE.to_owned(), issuer.to_owned()));
        entries.push((OPERATOR_SCOPE.to_owned(), issuer.to_owned()));
        entries.push((INTROSPECT_SCOPE.to_owned(), issuer.to_owned()));
        ScopeCatalogue::new(entries)
            .map_err(|e| invalid("scopes.catalogue", e.to_string()))?
            .with_optional(&self.optional)
            .map_err(|e| invalid("scopes.optional", e.to_string()))
    }
}
