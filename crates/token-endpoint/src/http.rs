//! actix-web handlers for `/token`, `/revoke`, `/introspect`, JWKS, metadata and the
//! status lists, and the one place where [`TokenError`]s become HTTP responses.

use std::future::Future;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use time::OffsetDateTime;

use std::sync::Arc;

use crate::request::{ClientCredentials, RawRequest, TokenRequest, TokenStatusRequest};
use crate::status_lists::{Lookup, StatusLists};
use crate::{AccessToken, TokenError, TokenService};
use throttle::RetryAfter;

/// Registers `/token`, `/revoke`, `/introspect`, `/.well-known/jwks.json`,
/// `/.well-known/oauth-authorization-server`, `/statuslists` and `/statuslists/{id}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(post_only("/token").route(web::post().to(token)))
        .service(post_only("/revoke").route(web::post().to(revoke)))
        .service(post_only("/introspect").route(web::post().to(introspect)))
        .route("/.well-known/jwks.json", web::get().to(jwks))
        .route(
            "/.well-known/oauth-authorization-server",
            web::get().to(metadata),
        )
        .route("/statuslists", web::get().to(status_list_index))
        .route("/statuslists/{id}", web::get().to(status_list));
}

/// A resource that answers every method but the POST route added to it with 405.
fn post_only(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|| async {
        error_response(&TokenError::MethodNotAllowed)
    }))
}

async fn token(
    req: HttpRequest,
    payload: web::Payload,
    service: web::Data<TokenService>,
) -> HttpResponse {
    let result = authenticated(
        &req,
        payload,
        &service,
        TokenRequest::parse,
        |r| &mut r.credentials,
        issue,
    )
    .await;
    let metrics = service.metrics();
    match result {
        Ok(token) => {
            metrics.token_issued();
            token_response(&token)
        }
        Err(e) => {
            metrics.token_refused(e.metric_reason());
            error_response(&e)
        }
    }
}

/// `POST /revoke` (RFC 7009 §2.2): `200` with an empty body, whether or not there was
/// anything to revoke.
async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    service: web::Data<TokenService>,
) -> HttpResponse {
    let result = authenticated(
        &req,
        payload,
        &service,
        TokenStatusRequest::parse,
        |r| &mut r.credentials,
        |service, request, now| blocking(service, move |s| s.revoke(&request, now)),
    )
    .await;
    match result {
        Ok(()) => {
            let mut resp = HttpResponse::Ok().finish();
            no_store(&mut resp);
            resp
        }
        Err(e) => error_response(&e),
    }
}

/// `POST /introspect` (RFC 7662 §2.2).
async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    service: web::Data<TokenService>,
) -> HttpResponse {
    let result = authenticated(
        &req,
        payload,
        &service,
        TokenStatusRequest::parse,
        |r| &mut r.credentials,
        |service, request, now| blocking(service, move |s| s.introspect(&request, now)),
    )
    .await;
    match result {
        Ok(answer) => {
            let mut resp = HttpResponse::Ok().json(answer);
            no_store(&mut resp);
            resp
        }
        Err(e) => error_response(&e),
    }
}

/// What every client-authenticated endpoint does around its own work: reads the body
/// within the limit, parses it, refuses a throttled client before its secret is
/// checked, runs `handle` at the clock's `now`, and counts a failed authentication.
async fn authenticated<T, R, Fut>(
    req: &HttpRequest,
    payload: web::Payload,
    service: &web::Data<TokenService>,
    parse: fn(RawRequest<'_>) -> Result<T, TokenError>,
    credentials: fn(&mut T) -> &mut ClientCredentials,
    handle: impl FnOnce(web::Data<TokenService>, T, OffsetDateTime) -> Fut,
) -> Result<R, TokenError>
where
    Fut: Future<Output = Result<R, TokenError>>,
{
    let limit = service.settings().max_body_bytes;
    let body = request_body::read_limited(req, payload, limit).await?;
    let mut request = parse(raw_request(req, &body)?)?;
    let clock = service.clock();
    let now = clock.now();
    let address = throttle::client_address(req, service.settings().client_ip_header.as_deref());
    let presented = credentials(&mut request);
    presented.address = address;
    let client_id = presented.client_id.clone();
    if let Err(RetryAfter(wait)) = service
        .throttle()
        .check(&client_id, address, clock.instant())
    {
        tracing::info!(client_id = %crate::clip(&client_id), %address, "throttled");
        return Err(TokenError::TooManyFailures {
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    let result = handle(service.clone(), request, now).await;
    if result.as_ref().is_err_and(TokenError::is_invalid_client) {
        service
            .throttle()
            .record_failure(&client_id, address, clock.instant());
    }
    result
}

/// Runs `f` on the blocking pool (it reads or writes the database).
async fn blocking<R: Send + 'static>(
    service: web::Data<TokenService>,
    f: impl FnOnce(&TokenService) -> Result<R, TokenError> + Send + 'static,
) -> Result<R, TokenError> {
    let service = service.into_inner();
    web::block(move || f(&service))
        .await
        .unwrap_or(Err(TokenError::ServerError))
}

async fn issue(
    service: web::Data<TokenService>,
    request: TokenRequest,
    now: OffsetDateTime,
) -> Result<AccessToken, TokenError> {
    // Cached keypair: pure CPU work (a digest and a signature), done inline. Otherwise
    // the database is involved: off to the blocking pool.
    if service.answers_from_memory(&request, now) {
        return service.issue(&request, now);
    }
    blocking(service, move |s| s.issue(&request, now)).await
}

/// The headers and body the request parsers read.
fn raw_request<'r>(req: &'r HttpRequest, body: &'r [u8]) -> Result<RawRequest<'r>, TokenError> {
    let mut auth = req.headers().get_all(header::AUTHORIZATION);
    let authorization = match (auth.next(), auth.next()) {
        (None, _) => None,
        (Some(v), None) => Some(
            v.to_str()
                .map_err(|_| TokenError::InvalidRequest("malformed Authorization header".into()))?,
        ),
        (Some(_), Some(_)) => {
            return Err(TokenError::InvalidRequest(
                "more than one Authorization header".into(),
            ))
        }
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    Ok(RawRequest {
        content_type,
        authorization,
        body,
    })
}

fn no_store(resp: &mut HttpResponse) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// RFC 6749 §5.1.
fn token_response(token: &AccessToken) -> HttpResponse {
    let body = match token_response_body(token) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "cannot write the token response");
            return error_response(&TokenError::ServerError);
        }
    };
    let mut resp = HttpResponse::Ok()
        .content_type(header::ContentType::json())
        .body(body);
    no_store(&mut resp);
    resp
}

/// The RFC 6749 §5.1 body.
#[derive(serde::Serialize)]
struct TokenBody<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u32,
    scope: &'a str,
}

/// The bytes serde writes for [`TokenBody`], in one buffer sized once. The token
/// (base64url and dots) needs no JSON escaping, so after a quick check it is copied
/// rather than escaped byte by byte, a pass that cost about as much per byte as its
/// Base64 encoding (docs/benchmarks.md, "Status claim cost").
fn token_response_body(token: &AccessToken) -> Result<Vec<u8>, serde_json::Error> {
    if !crate::jwt::needs_no_escaping(&token.access_token) {
        return serde_json::to_vec(&TokenBody {
            access_token: &token.access_token,
            token_type: "Bearer",
            expires_in: token.expires_in,
            scope: &token.scope,
        });
    }
    let mut out = Vec::with_capacity(token.access_token.len() + token.scope.len() + 96);
    out.extend_from_slice(br#"{"access_token":""#);
    out.extend_from_slice(token.access_token.as_bytes());
    out.extend_from_slice(br#"","token_type":"Bearer","expires_in":"#);
    serde_json::to_writer(&mut out, &token.expires_in)?;
    out.extend_from_slice(br#","scope":"#);
    serde_json::to_writer(&mut out, &token.scope)?;
    out.push(b'}');
    Ok(out)
}

/// RFC 6749 §5.2: the only place a [`TokenError`] becomes a response.
pub fn error_response(e: &TokenError) -> HttpResponse {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut builder = HttpResponse::build(status);
    match e {
        TokenError::InvalidClient | TokenError::ClientRejected(_) => {
            builder.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"keygate\""));
        }
        TokenError::MethodNotAllowed => {
            builder.insert_header((header::ALLOW, "POST"));
        }
        TokenError::TemporarilyUnavailable => {
            builder.insert_header((header::RETRY_AFTER, "5"));
        }
        TokenError::TooManyFailures { retry_after_secs } => {
            builder.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        _ => {}
    }
    let mut resp = builder.json(json!({"error": e.code(), "error_description": e.description()}));
    no_store(&mut resp);
    resp
}

async fn jwks(service: web::Data<TokenService>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .body(service.jwks())
}

async fn metadata(service: web::Data<TokenService>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(service.metadata().to_owned())
}

/// Refreshes the status lists first when they are due (never built, the version check
/// is due, a change is pending or announced and a second has passed since the last
/// build, or a list needs re-signing): an app without `keygate serve`'s background
/// refresher still serves fresh lists.
async fn refresh_if_due(lists: &Arc<StatusLists>, now: OffsetDateTime) {
    if !lists.refresh_due(now) {
        return;
    }
    let lists = Arc::clone(lists);
    match web::block(move || lists.refresh(now)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot refresh the status lists"),
        Err(e) => tracing::warn!(error = %e, "cannot refresh the status lists"),
    }
}

/// `GET /statuslists/{id}`: the Status List Token (draft-ietf-oauth-status-list §8.1).
async fn status_list(id: web::Path<String>, service: web::Data<TokenService>) -> HttpResponse {
    let lists = service.status_lists();
    let now = service.clock().now();
    refresh_if_due(lists, now).await;
    let found = match lists.cached(&id) {
        Some(jwt) => Lookup::Found(jwt),
        None => {
            let lists = Arc::clone(lists);
            let id = id.into_inner();
            web::block(move || lists.lookup(&id, now))
                .await
                .unwrap_or(Lookup::Unavailable)
        }
    };
    match found {
        Lookup::Found(jwt) => HttpResponse::Ok()
            .content_type("application/statuslist+jwt")
            .insert_header(max_age(lists))
            .body(jwt.to_string()),
        Lookup::Unknown => error_response(&TokenError::UnknownStatusList),
        Lookup::Unavailable => error_response(&TokenError::TemporarilyUnavailable),
    }
}

/// `GET /statuslists`: the aggregation document `{"status_lists": [uri, ...]}`
/// (draft-ietf-oauth-status-list §9).
async fn status_list_index(service: web::Data<TokenService>) -> HttpResponse {
    let lists = service.status_lists();
    refresh_if_due(lists, service.clock().now()).await;
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(max_age(lists))
        .body(lists.index().to_string())
}

fn max_age(lists: &StatusLists) -> (header::HeaderName, String) {
    (
        header::CACHE_CONTROL,
        format!("max-age={}", lists.ttl().as_secs()),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::{token_response_body, TokenBody};
    use crate::AccessToken;

    #[test]
    fn the_token_response_body_is_what_serde_writes() {
        let check = |access_token: &str, scope: &str, expires_in| {
            let token = AccessToken {
                access_token: access_token.into(),
                expires_in,
                scope: scope.into(),
                client_id: "kg_0123456789abcdef0123456789abcdef".into(),
            };
            let serde = serde_json::to_vec(&TokenBody {
                access_token,
                token_type: "Bearer",
                expires_in,
                scope,
            })
            .unwrap();
            let ours = token_response_body(&token).unwrap();
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(serde).unwrap()
            );
        };
        check(
            "eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiJ4In0.c2ln-_",
            "feedback:read",
            3600,
        );
        check("", "", 0);
        check("eyJ.e30.x", "a b \"c\" d\\", u32::MAX);
        // Not a token we made: escaped by serde.
        check("a\"b\\c\n\u{1}é", "s", 1);
    }
}
