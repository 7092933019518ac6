//! The console's static assets, embedded in the binary.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::error::ConsoleError;

const CONSOLE_CSS: &str = include_str!("../../assets/console.css");
const PASSKEYS_JS: &str = include_str!("../../assets/passkeys.js");
const CONSOLE_JS: &str = include_str!("../../assets/console.js");
/// htmx 2.0.11 (Zero-Clause BSD, `assets/htmx.LICENSE`), vendored unchanged.
const HTMX_JS: &str = include_str!("../../assets/htmx.min.js");

/// `GET /console/assets/{name}`.
pub(crate) async fn asset(name: web::Path<String>) -> Result<HttpResponse, ConsoleError> {
    let (body, content_type) = match name.as_str() {
        "console.css" => (CONSOLE_CSS, "text/css; charset=utf-8"),
        "passkeys.js" => (PASSKEYS_JS, "text/javascript; charset=utf-8"),
        "console.js" => (CONSOLE_JS, "text/javascript; charset=utf-8"),
        "htmx.min.js" => (HTMX_JS, "text/javascript; charset=utf-8"),
        _ => return Err(ConsoleError::NotFound),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(body))
}
