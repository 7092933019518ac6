//! The console's routes. Each handler has the admin API's shape: the session (or the
//! pre-session checks), one operation, a page.

mod assets;
mod home;
mod passkey_list;
mod passkeys;
mod setup;
mod sign_in;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::ConsoleError;
use crate::{csrf, Console};

/// Registers the routes inside the console's scope.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("", web::get().to(home::home))
        .route("/", web::get().to(home::home))
        .route("/accounts/{account_id}", web::get().to(home::account))
        .route(
            "/environments/{environment_id}",
            web::get().to(home::environment),
        )
        .route("/sign-in", web::get().to(sign_in::form))
        .route("/sign-in", web::post().to(sign_in::submit))
        .route("/sign-out", web::post().to(sign_in::sign_out))
        .route("/setup/{code}", web::get().to(setup::open_link))
        .route("/setup", web::get().to(setup::form))
        .route("/setup", web::post().to(setup::submit))
        .route(
            "/setup/passkey/options",
            web::post().to(passkeys::setup_options),
        )
        .route("/setup/passkey", web::post().to(passkeys::setup_finish))
        .route(
            "/sign-in/passkey/options",
            web::post().to(passkeys::sign_in_options),
        )
        .route("/sign-in/passkey", web::post().to(passkeys::sign_in_finish))
        .route("/passkeys", web::get().to(passkey_list::page))
        .route("/passkeys", web::post().to(passkeys::add_finish))
        .route("/passkeys/options", web::post().to(passkeys::add_options))
        .route("/passkeys/remove", web::post().to(passkey_list::remove))
        .route("/assets/{name}", web::get().to(assets::asset));
}

/// Any other console path: the HTML 404 page.
pub(crate) async fn not_found() -> Result<HttpResponse, ConsoleError> {
    Err(ConsoleError::NotFound)
}

/// An HTML page with status 200.
fn page(html: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// A state-changing request must come from a page of ours: refused (403) before
/// anything is read or changed otherwise.
fn require_same_origin(req: &HttpRequest, console: &Console) -> Result<(), ConsoleError> {
    if csrf::same_origin(req, &console.site) {
        Ok(())
    } else {
        tracing::info!(
            reason = "cross_origin",
            path = req.path(),
            "console request refused"
        );
        Err(ConsoleError::Forbidden)
    }
}

/// The presented token must be `expected`.
fn require_token(expected: Option<&str>, presented: &str) -> Result<(), ConsoleError> {
    match expected {
        Some(e) if csrf::token_matches(e, presented) => Ok(()),
        _ => {
            tracing::info!(reason = "csrf_token", "console request refused");
            Err(ConsoleError::Forbidden)
        }
    }
}
