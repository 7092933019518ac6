//! The client credentials grant (RFC 6749 §4.4), driven through oxide-auth's
//! `ClientCredentialsFlow` with a `Registrar` backed by `keypair-store` and an
//! `Issuer` that signs RFC 9068 JWTs.
//!
//! oxide-auth 0.6 has sharp edges that this module keeps away from clients:
//! - the flow panics without an owner solicitor: [`ClientIsOwner`] authorises the
//!   client as its own resource owner;
//! - body credentials need `allow_credentials_in_body(true)`;
//! - a scope refusal in `negotiate` surfaces only as `DenySilently` (a 500 in the actix
//!   adapter): the scope/target decision is recorded in [`GrantState`] and mapped to
//!   `invalid_scope`/`invalid_target` here;
//! - it does not undo RFC 6749 §2.3.1 form-encoding of Basic credentials: the request
//!   handed to it carries the already-decoded credentials as body parameters;
//! - its grant expiry is a fixed 10 minutes and its JSON says `bearer` and computes
//!   `expires_in` while serialising: the issuer here sets the real lifetime and the
//!   response is built from what was actually signed (`crate::http`).

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

use keypair_store::{ClientAuth, ClientSecret, Generation, Keypair, TokenStatus};
use oxide_auth::endpoint::{
    Authorizer, ClientCredentialsFlow, Endpoint, Issuer, OAuthError, OwnerConsent, OwnerSolicitor,
    PreGrant, QueryParameter, Registrar, ResponseStatus, Scope, Scopes, Solicitation, Template,
    WebRequest, WebResponse,
};
use oxide_auth::primitives::grant::Grant;
use oxide_auth::primitives::issuer::{IssuedToken, RefreshedToken, TokenType};
use oxide_auth::primitives::registrar::{BoundClient, ClientUrl, RegistrarError};
use time::OffsetDateTime;

use crate::error::TokenError;
use crate::jwt::{self, AccessTokenClaims, Audience, Claims, ListUri, StatusClaim, StatusListRef};
use crate::policy::{self, Decision};
use crate::request::TokenRequest;
use crate::{AccessToken, TokenService};

/// What one grant learned along the way; oxide-auth's callbacks take `&self`.
struct GrantState<'a> {
    service: &'a TokenService,
    request: &'a TokenRequest,
    now: OffsetDateTime,
    keypair: RefCell<Option<Arc<Keypair>>>,
    decision: RefCell<Option<Decision>>,
    failure: RefCell<Option<TokenError>>,
    issued: RefCell<Option<AccessToken>>,
}

impl GrantState<'_> {
    fn fail(&self, e: TokenError) {
        self.failure.borrow_mut().get_or_insert(e);
    }
}

/// Runs the grant for a parsed request.
pub(crate) fn run(
    service: &TokenService,
    request: &TokenRequest,
    now: OffsetDateTime,
) -> Result<AccessToken, TokenError> {
    let creds = &request.credentials;
    if creds.client_id.contains(':') {
        // Cannot be one of our ids, and oxide-auth splits Basic credentials at ':'.
        return Err(TokenError::InvalidClient);
    }
    // Credentials reach oxide-auth as body parameters whichever method the client used:
    // the request was already checked for exactly one method and RFC 6749 §2.3.1
    // decoding, and this skips a Base64 round trip per token.
    let form = vec![
        ("grant_type".to_owned(), "client_credentials".to_owned()),
        ("client_id".to_owned(), creds.client_id.clone()),
        ("client_secret".to_owned(), creds.secret.expose().to_owned()),
    ];
    let state = GrantState {
        service,
        request,
        now,
        keypair: RefCell::new(None),
        decision: RefCell::new(None),
        failure: RefCell::new(None),
        issued: RefCell::new(None),
    };
    let endpoint = GrantEndpoint {
        registrar: StoreRegistrar(&state),
        issuer: JwtIssuer(&state),
        solicitor: ClientIsOwner,
    };
    let outcome = ClientCredentialsFlow::prepare(endpoint).and_then(|mut flow| {
        flow.allow_credentials_in_body(true);
        flow.execute(FlowRequest { form })
    });
    if let Some(e) = state.failure.borrow_mut().take() {
        return Err(e);
    }
    match outcome {
        Ok(response) => match (response.status, state.issued.borrow_mut().take()) {
            (200, Some(token)) => Ok(token),
            (401, _) => Err(TokenError::InvalidClient),
            (status, _) => {
                let code = response
                    .body
                    .as_deref()
                    .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
                    .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned));
                match code.as_deref() {
                    Some("invalid_client") => Err(TokenError::InvalidClient),
                    Some("unsupported_grant_type") => Err(TokenError::UnsupportedGrantType),
                    Some("invalid_request") => {
                        Err(TokenError::InvalidRequest("malformed request".into()))
                    }
                    _ => {
                        tracing::error!(status, "unexpected answer from the grant flow");
                        Err(TokenError::ServerError)
                    }
                }
            }
        },
        Err(e) => {
            tracing::error!(error = ?e, "grant flow failed without a recorded cause");
            Err(TokenError::ServerError)
        }
    }
}

// ---- the request and response oxide-auth sees ---------------------------------------

struct FlowRequest {
    form: Vec<(String, String)>,
}

#[derive(Default)]
struct FlowResponse {
    status: u16,
    body: Option<String>,
}

#[derive(Debug)]
struct FlowWebError;

impl WebRequest for FlowRequest {
    type Error = FlowWebError;
    type Response = FlowResponse;

    fn query(&mut self) -> Result<Cow<'_, dyn QueryParameter + 'static>, FlowWebError> {
        Ok(Cow::Owned(oxide_auth::endpoint::NormalizedParameter::new()))
    }

    fn urlbody(&mut self) -> Result<Cow<'_, dyn QueryParameter + 'static>, FlowWebError> {
        Ok(Cow::Borrowed(&self.form))
    }

    fn authheader(&mut self) -> Result<Option<Cow<'_, str>>, FlowWebError> {
        Ok(None)
    }
}

impl WebResponse for FlowResponse {
    type Error = FlowWebError;

    fn ok(&mut self) -> Result<(), FlowWebError> {
        self.status = 200;
        Ok(())
    }

    fn redirect(&mut self, _: oxide_auth::frontends::dev::Url) -> Result<(), FlowWebError> {
        Err(FlowWebError)
    }

    fn client_error(&mut self) -> Result<(), FlowWebError> {
        self.status = 400;
        Ok(())
    }

    fn unauthorized(&mut self, _: &str) -> Result<(), FlowWebError> {
        self.status = 401;
        Ok(())
    }

    fn body_text(&mut self, text: &str) -> Result<(), FlowWebError> {
        self.body = Some(text.to_owned());
        Ok(())
    }

    fn body_json(&mut self, data: &str) -> Result<(), FlowWebError> {
        self.body = Some(data.to_owned());
        Ok(())
    }
}

// ---- registrar: keypair-store -----------------------------------------------------------

struct StoreRegistrar<'a>(&'a GrantState<'a>);

impl Registrar for StoreRegistrar<'_> {
    fn bound_redirect<'b>(&self, bound: ClientUrl<'b>) -> Result<BoundClient<'b>, RegistrarError> {
        // No redirection in this grant; oxide-auth still wants a registered URL.
        let url = self
            .0
            .service
            .registered_url
            .clone()
            .ok_or(RegistrarError::PrimitiveError)?;
        Ok(BoundClient {
            client_id: bound.client_id,
            redirect_uri: Cow::Owned(url),
        })
    }

    fn negotiate(
        &self,
        client: BoundClient<'_>,
        _scope: Option<Scope>,
    ) -> Result<PreGrant, RegistrarError> {
        let state = self.0;
        let keypair = state.keypair.borrow();
        let Some(keypair) = keypair.as_ref() else {
            return Err(RegistrarError::PrimitiveError);
        };
        let decision = policy::decide(
            &state.service.catalogue,
            &keypair.scopes,
            state.request.scope.as_ref(),
            state.request.target.as_deref(),
        );
        match decision {
            Ok(d) => {
                let scope: Scope = d
                    .scopes
                    .to_space_separated()
                    .parse()
                    .map_err(|_| RegistrarError::PrimitiveError)?;
                *state.decision.borrow_mut() = Some(d);
                Ok(PreGrant {
                    client_id: client.client_id.into_owned(),
                    redirect_uri: client.redirect_uri.into_owned(),
                    scope,
                })
            }
            Err(e) => {
                state.fail(e);
                Err(RegistrarError::Unspecified)
            }
        }
    }

    fn check(&self, client_id: &str, passphrase: Option<&[u8]>) -> Result<(), RegistrarError> {
        let state = self.0;
        let secret =
            ClientSecret::from_presented(&String::from_utf8_lossy(passphrase.unwrap_or_default()));
        match state.service.store.authenticate(
            client_id,
            &secret,
            state.request.credentials.address,
            state.now,
        ) {
            Ok(ClientAuth::Authenticated(keypair)) => {
                *state.keypair.borrow_mut() = Some(keypair);
                Ok(())
            }
            Ok(ClientAuth::Rejected(reason)) => {
                tracing::info!(
                    client_id = %crate::clip(client_id),
                    address = %state.request.credentials.address,
                    reason = reason.as_str(),
                    "client authentication failed"
                );
                state.fail(TokenError::ClientRejected(reason));
                Err(RegistrarError::Unspecified)
            }
            Err(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, "cannot authenticate client: store unavailable");
                state.fail(TokenError::TemporarilyUnavailable);
                Err(RegistrarError::PrimitiveError)
            }
            Err(e) => {
                // `Debug` carries the cause (for a corrupt row: which row, never a value).
                tracing::error!(error = ?e, "cannot authenticate client: store error");
                state.fail(TokenError::ServerError);
                Err(RegistrarError::PrimitiveError)
            }
        }
    }
}

// ---- issuer: RFC 9068 JWTs -------------------------------------------------------------------

struct JwtIssuer<'a>(&'a GrantState<'a>);

impl Issuer for JwtIssuer<'_> {
    fn issue(&mut self, grant: Grant) -> Result<IssuedToken, ()> {
        let state = self.0;
        let token = sign_for(state).map_err(|e| state.fail(e))?;
        // oxide-auth wants the expiry as chrono time; it is derived from the request's
        // `now`, like the token's own `exp`.
        let until = chrono::DateTime::from_timestamp(
            state.now.unix_timestamp() + i64::from(token.expires_in),
            state.now.nanosecond(),
        )
        .ok_or_else(|| state.fail(TokenError::ServerError))?;
        let issued = IssuedToken {
            token: String::new(), // the JWT goes to the client through `state.issued`
            refresh: None,
            until,
            token_type: TokenType::Bearer,
        };
        debug_assert_eq!(grant.client_id, token.client_id);
        *state.issued.borrow_mut() = Some(token);
        Ok(issued)
    }

    fn refresh(&mut self, _: &str, _: Grant) -> Result<RefreshedToken, ()> {
        Err(())
    }

    fn recover_token<'t>(&'t self, _: &'t str) -> Result<Option<Grant>, ()> {
        Ok(None)
    }

    fn recover_refresh<'t>(&'t self, _: &'t str) -> Result<Option<Grant>, ()> {
        Ok(None)
    }
}

fn sign_for(state: &GrantState<'_>) -> Result<AccessToken, TokenError> {
    let keypair = state.keypair.borrow();
    let decision = state.decision.borrow();
    let (Some(keypair), Some(decision)) = (keypair.as_ref(), decision.as_ref()) else {
        return Err(TokenError::ServerError);
    };
    let settings = &state.service.settings;
    let iat = state.now.unix_timestamp();
    // The keypair's own lifetime or the global one, within the maximum, and never past
    // the keypair's expiry (authentication refused an expired keypair, so at least
    // one second is left: expiries are whole seconds).
    let until_expiry = keypair.expires_at.map_or(u32::MAX, |e| {
        u32::try_from(e.unix_timestamp().saturating_sub(iat).max(0)).unwrap_or(u32::MAX)
    });
    let lifetime = keypair
        .token_lifetime_seconds
        .unwrap_or(settings.lifetime_seconds)
        .min(settings.max_lifetime_seconds)
        .min(until_expiry);
    let jti = jwt::new_jti();
    if jti.is_empty() {
        return Err(TokenError::ServerError);
    }
    let scope = decision.scopes.to_space_separated();
    let opened;
    let generation = match &keypair.generation {
        Some(g) if g.status == TokenStatus::Valid => g,
        _ => {
            opened = open_generation(state.service, keypair, state.now)?;
            &opened
        }
    };
    let claims = AccessTokenClaims {
        claims: Claims {
            iss: &settings.issuer,
            sub: keypair.client_id.as_str(),
            client_id: keypair.client_id.as_str(),
            aud: Audience::from_list(decision.audiences.clone()),
            iat,
            exp: iat + i64::from(lifetime),
            jti: &jti,
            scope: &scope,
            acct: keypair.owner.account_id().map(|a| a.as_str()),
            env: keypair.owner.environment_id().map(|e| e.as_str()),
        },
        status: StatusClaim {
            status_list: StatusListRef {
                idx: generation.idx,
                uri: ListUri {
                    issuer: &settings.issuer,
                    list_id: generation.list_id.as_str(),
                },
            },
        },
    };
    let ring = state.service.keys.ring();
    let token = jwt::sign(ring.signer(state.now), &claims).map_err(|e| {
        tracing::error!(error = %e, "signing failed");
        TokenError::ServerError
    })?;
    Ok(AccessToken {
        access_token: token,
        expires_in: lifetime,
        scope,
        client_id: keypair.client_id.as_str().to_owned(),
    })
}

/// The keypair has no VALID generation in hand (its first token, the first since its
/// tokens were invalidated, or a cached copy older than an enable): the store's
/// current one, or a new one. A database write, which is why
/// `TokenService::answers_from_memory` sends such requests to the blocking pool. A
/// generation that is not VALID means the keypair was disabled meanwhile: such a
/// keypair gets no token.
fn open_generation(
    service: &TokenService,
    keypair: &Keypair,
    now: OffsetDateTime,
) -> Result<Generation, TokenError> {
    let policy = service.settings.generation_policy();
    match service
        .store
        .open_generation(&keypair.client_id, &policy, now)
    {
        Ok(g) if g.status == TokenStatus::Valid => Ok(g),
        Ok(_) => {
            tracing::info!(client_id = %keypair.client_id, "keypair disabled while getting a token");
            Err(TokenError::InvalidClient)
        }
        Err(e) if e.is_unavailable() => {
            tracing::warn!(error = %e, "cannot open a token generation: store unavailable");
            Err(TokenError::TemporarilyUnavailable)
        }
        Err(keypair_store::StoreError::NotFound(_)) => {
            tracing::info!(client_id = %keypair.client_id, "keypair deleted while getting a token");
            Err(TokenError::InvalidClient)
        }
        Err(e) => {
            tracing::error!(error = ?e, "cannot open a token generation: store error");
            Err(TokenError::ServerError)
        }
    }
}

// ---- owner solicitor and endpoint ---------------------------------------------------------

/// In the client credentials grant the client is its own resource owner.
struct ClientIsOwner;

impl OwnerSolicitor<FlowRequest> for ClientIsOwner {
    fn check_consent(
        &mut self,
        _: &mut FlowRequest,
        s: Solicitation<'_>,
    ) -> OwnerConsent<FlowResponse> {
        OwnerConsent::Authorized(s.pre_grant().client_id.clone())
    }
}

struct GrantEndpoint<'a> {
    registrar: StoreRegistrar<'a>,
    issuer: JwtIssuer<'a>,
    solicitor: ClientIsOwner,
}

impl Endpoint<FlowRequest> for GrantEndpoint<'_> {
    type Error = OAuthError;

    fn registrar(&self) -> Option<&dyn Registrar> {
        Some(&self.registrar)
    }

    fn authorizer_mut(&mut self) -> Option<&mut dyn Authorizer> {
        None
    }

    fn issuer_mut(&mut self) -> Option<&mut dyn Issuer> {
        Some(&mut self.issuer)
    }

    fn owner_solicitor(&mut self) -> Option<&mut dyn OwnerSolicitor<FlowRequest>> {
        Some(&mut self.solicitor)
    }

    fn scopes(&mut self) -> Option<&mut dyn Scopes<FlowRequest>> {
        None
    }

    fn response(
        &mut self,
        _: &mut FlowRequest,
        template: Template<'_>,
    ) -> Result<FlowResponse, OAuthError> {
        // The success path never calls WebResponse::ok(); take the status from here.
        let status = match template.status() {
            ResponseStatus::Ok => 200,
            ResponseStatus::BadRequest => 400,
            ResponseStatus::Unauthorized => 401,
            ResponseStatus::Redirect => 302,
        };
        Ok(FlowResponse { status, body: None })
    }

    fn error(&mut self, err: OAuthError) -> OAuthError {
        err
    }

    fn web_error(&mut self, _: FlowWebError) -> OAuthError {
        OAuthError::PrimitiveError
    }
}
