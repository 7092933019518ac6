//! What every console response gets, whatever answered it (a page, a redirect, an
//! error): the security headers, and, for a request whose `Host` is not the issuer's,
//! a redirect to the issuer instead of an answer.

use actix_web::body::BoxBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{web, HttpResponse};

use crate::Console;

/// The Content-Security-Policy of every console response: our own assets only, no
/// framing, forms post only to us, no `<base>`.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// The middleware body: see the module's documentation.
pub(crate) fn guard<S>(
    req: ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<ServiceResponse<BoxBody>, actix_web::Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>,
{
    let redirect = req
        .app_data::<web::Data<Console>>()
        .and_then(|console| wrong_host(&req, console));
    let outcome = match redirect {
        Some(location) => Err(req.into_response(
            HttpResponse::TemporaryRedirect()
                .insert_header((header::LOCATION, location))
                .finish(),
        )),
        None => Ok(srv.call(req)),
    };
    async move {
        let mut res = match outcome {
            Err(redirect) => redirect,
            Ok(answer) => answer.await?,
        };
        secure(res.headers_mut());
        Ok(res)
    }
}

/// Where to send a request whose `Host` (or HTTP/2 authority) is not the issuer's:
/// the same path and query at the issuer's origin.
fn wrong_host(req: &ServiceRequest, console: &Console) -> Option<String> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("");
    if console.site.is_host(host) {
        return None;
    }
    let path = req
        .uri()
        .path_and_query()
        .map_or("/console", |p| p.as_str());
    Some(format!("{}{path}", console.site.origin))
}

fn secure(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Pages may show a link or who is signed in: never stored. Assets set their own.
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}
