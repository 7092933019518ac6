//! `/revoke` (RFC 7009) and `/introspect` (RFC 7662): checking a presented access token
//! against this process's published keys, and deciding from the database whether its
//! generation is live (docs/token-status.md). No HTTP types; `now` is a parameter.

use std::str::FromStr as _;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use keypair_store::{
    ClientAuth, ClientId, Keypair, StatusListId, StoreError, TokenStatus, INTROSPECT_SCOPE,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::TokenError;
use crate::jwt::list_id_in;
use crate::request::TokenStatusRequest;
use crate::signing_key::SigningAlgorithm;
use crate::TokenService;

/// What `/introspect` answers (RFC 7662 §2.2): the token's claims when it is live,
/// exactly `{"active": false}` otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Introspection {
    /// A live token issued here.
    Active(Box<ActiveToken>),
    /// Anything else.
    Inactive {
        /// Always `false`.
        active: bool,
    },
}

impl Introspection {
    fn inactive() -> Introspection {
        Introspection::Inactive { active: false }
    }

    /// Whether the token is live.
    pub fn is_active(&self) -> bool {
        matches!(self, Introspection::Active(_))
    }
}

/// The claims of a live token, as `/introspect` shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActiveToken {
    /// Always `true`.
    pub active: bool,
    /// The issuer.
    pub iss: String,
    /// The client id.
    pub sub: String,
    /// The client id.
    pub client_id: String,
    /// The token's audiences, as in the token (a string or an array).
    pub aud: serde_json::Value,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// Issued at.
    pub iat: i64,
    /// Expiry.
    pub exp: i64,
    /// Token id.
    pub jti: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Owning account (absent for operator keypairs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acct: Option<String>,
    /// Owning environment (environment keypairs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

/// The claims of an access token as read back.
#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    client_id: String,
    aud: serde_json::Value,
    scope: String,
    iat: i64,
    exp: i64,
    jti: String,
    #[serde(default)]
    acct: Option<String>,
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    status: Option<StatusClaim>,
}

#[derive(Debug, Deserialize)]
struct StatusClaim {
    status_list: StatusListRef,
}

#[derive(Debug, Deserialize)]
struct StatusListRef {
    idx: u32,
    uri: String,
}

/// A token that this process signed (a published key, its pinned algorithm), with
/// `iss` = the issuer, `typ` at+jwt, and not expired at `now`.
#[derive(Debug)]
struct LiveToken {
    claims: Claims,
    /// Its status entry, when the `status` claim names one of this issuer's lists.
    entry: Option<(StatusListId, u32)>,
}

impl TokenService {
    /// `POST /revoke` (RFC 7009) for a parsed request: authenticates the client as
    /// `/token` does, then invalidates the generation of the presented token if it is
    /// one of the client's own live tokens. A token that is not live here is `Ok`
    /// (nothing to do); a live token of another client is
    /// [`TokenError::ForeignToken`].
    #[tracing::instrument(level = "debug", skip_all, fields(client_id = %crate::clip(&request.credentials.client_id)))]
    pub fn revoke(
        &self,
        request: &TokenStatusRequest,
        now: OffsetDateTime,
    ) -> Result<(), TokenError> {
        let caller = self.authenticate(request, now)?;
        let Some(token) = self.live_token(&request.token, now) else {
            tracing::debug!("revocation of a token that is not live here: nothing to do");
            return Ok(());
        };
        if token.claims.client_id != caller.client_id.as_str() {
            tracing::info!("revocation of another client's token refused");
            return Err(TokenError::ForeignToken);
        }
        let Some((list_id, idx)) = token.entry else {
            return Ok(());
        };
        let changed = self
            .store
            .revoke_generation(&caller.client_id, &list_id, idx, now)
            .map_err(store_error)?;
        tracing::info!(changed, "token generation revoked by its client");
        Ok(())
    }

    /// `POST /introspect` (RFC 7662) for a parsed request: the caller authenticates as
    /// at `/token` and must hold `keygate:introspect`
    /// ([`TokenError::IntrospectionNotAllowed`] otherwise). The answer is decided from
    /// the database.
    #[tracing::instrument(level = "debug", skip_all, fields(client_id = %crate::clip(&request.credentials.client_id)))]
    pub fn introspect(
        &self,
        request: &TokenStatusRequest,
        now: OffsetDateTime,
    ) -> Result<Introspection, TokenError> {
        let caller = self.authenticate(request, now)?;
        if !caller.scopes.contains(INTROSPECT_SCOPE) {
            tracing::info!("introspection without keygate:introspect refused");
            return Err(TokenError::IntrospectionNotAllowed);
        }
        let Some(LiveToken {
            claims,
            entry: Some((list_id, idx)),
        }) = self.live_token(&request.token, now)
        else {
            return Ok(Introspection::inactive());
        };
        let Ok(client_id) = ClientId::parse(&claims.client_id) else {
            return Ok(Introspection::inactive());
        };
        let entry = self
            .store
            .status_entry(&list_id, idx)
            .map_err(store_error)?;
        if !entry.is_some_and(|e| e.client_id == client_id && e.status == TokenStatus::Valid) {
            return Ok(Introspection::inactive());
        }
        match self.store.get_keypair(&client_id) {
            Ok(k) if k.enabled => {}
            Ok(_) | Err(StoreError::NotFound(_)) => return Ok(Introspection::inactive()),
            Err(e) => return Err(store_error(e)),
        }
        Ok(Introspection::Active(Box::new(ActiveToken {
            active: true,
            iss: claims.iss,
            sub: claims.sub,
            client_id: claims.client_id,
            aud: claims.aud,
            scope: claims.scope,
            iat: claims.iat,
            exp: claims.exp,
            jti: claims.jti,
            token_type: "Bearer",
            acct: claims.acct,
            env: claims.env,
        })))
    }

    /// Client authentication exactly as at `/token`.
    fn authenticate(
        &self,
        request: &TokenStatusRequest,
        now: OffsetDateTime,
    ) -> Result<std::sync::Arc<Keypair>, TokenError> {
        let creds = &request.credentials;
        match self
            .store
            .authenticate(&creds.client_id, &creds.secret, creds.address, now)
        {
            Ok(ClientAuth::Authenticated(keypair)) => Ok(keypair),
            Ok(ClientAuth::Rejected(reason)) => {
                tracing::info!(
                    client_id = %crate::clip(&creds.client_id),
                    address = %creds.address,
                    reason = reason.as_str(),
                    "client authentication failed"
                );
                Err(TokenError::InvalidClient)
            }
            Err(e) => Err(store_error(e)),
        }
    }

    /// The token if this process signed it and it is live at `now`; `None` for
    /// anything else (garbage, unknown key, other algorithm, bad signature, other
    /// issuer or type, expired).
    fn live_token(&self, token: &str, now: OffsetDateTime) -> Option<LiveToken> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if !header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        }) {
            return None;
        }
        let kid = header.kid.as_deref()?;
        let jwks: serde_json::Value = serde_json::from_str(&self.keys.ring().jwks).ok()?;
        let jwk = jwks
            .get("keys")?
            .as_array()?
            .iter()
            .find(|k| k.get("kid").and_then(|v| v.as_str()) == Some(kid))?;
        // The key's own algorithm, never the one the token names.
        let pinned = jwk
            .get("alg")
            .and_then(|v| v.as_str())
            .and_then(SigningAlgorithm::parse)
            .and_then(|a| Algorithm::from_str(a.as_str()).ok())?;
        if header.alg != pinned {
            return None;
        }
        let key = DecodingKey::from_jwk(&serde_json::from_value::<Jwk>(jwk.clone()).ok()?).ok()?;
        let mut validation = Validation::new(pinned);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_required_spec_claims(&["iss", "exp"]);
        validation.validate_aud = false;
        // Expiry is checked against the service's clock below, not the system's.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .ok()?
            .claims;
        if claims.exp <= now.unix_timestamp() {
            return None;
        }
        let entry = claims.status.as_ref().and_then(|s| {
            let id = list_id_in(&self.settings.issuer, &s.status_list.uri)?;
            Some((StatusListId::parse(id).ok()?, s.status_list.idx))
        });
        Some(LiveToken { claims, entry })
    }
}

fn store_error(e: StoreError) -> TokenError {
    if e.is_unavailable() {
        tracing::warn!(error = %e, "store unavailable");
        TokenError::TemporarilyUnavailable
    } else {
        tracing::error!(error = ?e, "store error");
        TokenError::ServerError
    }
}
