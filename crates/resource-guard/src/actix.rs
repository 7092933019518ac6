//! actix-web integration: declare the scope a handler needs in its signature.
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer, Responder};
//! use resource_guard::actix::Scoped;
//! use resource_guard::{required_scope, Guard};
//!
//! required_scope!(FeedbackRead = "feedback:read");
//!
//! async fn list(auth: Scoped<FeedbackRead>) -> impl Responder {
//!     format!("hello {}", auth.claims.client_id)
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let guard = Guard::builder("https://keygate.example", "feedback-api").build();
//! HttpServer::new(move || App::new().app_data(web::Data::new(guard.clone())).route("/feedback", web::get().to(list)))
//!     .bind("127.0.0.1:9000")?
//!     .run()
//!     .await
//! # }
//! ```

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};

use crate::validate::Cached;
use crate::{Claims, Guard, GuardError};

/// A scope a route requires; declare one with [`required_scope!`](crate::required_scope).
pub trait RequiredScope {
    /// The scope.
    const SCOPE: &'static str;
}

/// Declares a zero-sized type naming a required scope:
/// `required_scope!(FeedbackWrite = "feedback:write");`
#[macro_export]
macro_rules! required_scope {
    ($name:ident = $scope:literal) => {
        #[doc = concat!("Requires the `", $scope, "` scope.")]
        #[derive(Debug)]
        pub struct $name;
        impl $crate::actix::RequiredScope for $name {
            const SCOPE: &'static str = $scope;
        }
    };
}

/// A valid token, whatever its scopes.
#[derive(Debug)]
pub struct Authenticated {
    /// The token's claims.
    pub claims: Claims,
}

/// A valid token holding `S::SCOPE`; otherwise 401/403 per RFC 6750.
#[derive(Debug)]
pub struct Scoped<S: RequiredScope> {
    /// The token's claims.
    pub claims: Claims,
    _scope: PhantomData<S>,
}

/// A guard error bound to the realm it is answered in: the guard's
/// ([`Guard::realm`]), or none when the app registered no guard.
#[derive(Debug)]
pub struct Rejection {
    /// What went wrong.
    pub error: GuardError,
    realm: Option<String>,
}

impl Rejection {
    fn by(guard: &Guard, error: GuardError) -> Rejection {
        Rejection {
            error,
            realm: Some(guard.realm().to_owned()),
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.error.public_message())
    }
}

impl ResponseError for Rejection {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::from_u16(self.error.status())
            .unwrap_or(actix_web::http::StatusCode::UNAUTHORIZED)
    }

    fn error_response(&self) -> HttpResponse {
        if let GuardError::InvalidToken(why) = &self.error {
            tracing::info!(reason = why, "access token refused");
        }
        let code = self.error.code().unwrap_or("unauthorized");
        HttpResponse::build(self.status_code())
            .insert_header((
                header::WWW_AUTHENTICATE,
                self.error.challenge(self.realm.as_deref()),
            ))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({"error": code, "message": self.error.public_message()}))
    }
}

fn bearer(req: &HttpRequest) -> Result<Option<String>, GuardError> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(GuardError::InvalidToken(
            "more than one Authorization header",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| GuardError::InvalidToken("malformed Authorization header"))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme is no bearer token at all (RFC 6750 §3.1).
        return Ok(None);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(GuardError::InvalidToken("empty bearer token"));
    }
    Ok(Some(token.to_owned()))
}

/// The app's `web::Data<Guard>`.
fn guard_of(req: &HttpRequest) -> Result<Guard, Rejection> {
    match req.app_data::<web::Data<Guard>>() {
        Some(g) => Ok(g.get_ref().clone()),
        None => {
            tracing::error!("resource_guard: no web::Data<Guard> registered in the app");
            Err(Rejection {
                error: GuardError::InvalidToken("no guard configured"),
                realm: None,
            })
        }
    }
}

/// Validates the request's bearer token with the app's `web::Data<Guard>`, at the
/// time of the guard's clock. Refusals carry the guard's realm.
pub async fn authenticate(req: &HttpRequest) -> Result<Claims, Rejection> {
    validate_request(req, &guard_of(req)?).await
}

async fn validate_request(req: &HttpRequest, guard: &Guard) -> Result<Claims, Rejection> {
    let token = match bearer(req) {
        Ok(Some(t)) => t,
        Ok(None) => return Err(Rejection::by(guard, GuardError::MissingToken)),
        Err(e) => return Err(Rejection::by(guard, e)),
    };
    let now = guard.clock().now();
    match guard.validate_cached(&token, now) {
        Cached::Valid(c) => Ok(c),
        Cached::Invalid(e) => Err(Rejection::by(guard, e)),
        // An unknown kid, or a status list not held yet: fetch off the async workers
        // (rate-limited and shared inside the guard).
        pending => {
            let g = guard.clone();
            match web::block(move || g.finish(&token, now, pending)).await {
                Ok(Ok(c)) => Ok(c),
                Ok(Err(e)) => Err(Rejection::by(guard, e)),
                Err(_) => Err(Rejection::by(
                    guard,
                    GuardError::InvalidToken("validation aborted"),
                )),
            }
        }
    }
}

impl FromRequest for Authenticated {
    type Error = Rejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            authenticate(&req)
                .await
                .map(|claims| Authenticated { claims })
        })
    }
}

impl<S: RequiredScope + 'static> FromRequest for Scoped<S> {
    type Error = Rejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let guard = guard_of(&req)?;
            let claims = validate_request(&req, &guard).await?;
            claims
                .require(S::SCOPE)
                .map_err(|e| Rejection::by(&guard, e))?;
            Ok(Scoped {
                claims,
                _scope: PhantomData,
            })
        })
    }
}
