//! The console's routes. Each handler has the admin API's shape: the session (or the
//! pre-session checks), one operation, a page.

mod administrators;
mod assets;
mod audit;
mod home;
mod key_form;
mod keys;
mod object;
mod objects;
mod passkey_list;
mod passkeys;
mod setup;
mod sign_in;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use admin_api::AdminError;

use crate::csrf::FIELD;
use crate::error::ConsoleError;
use crate::form::Form;
use crate::session::SignedIn;
use crate::{csrf, Console};

/// Declares every route once: the registration and the [`ROUTES`] list that the
/// console's authorization matrix test must cover come from the same table.
macro_rules! console_routes {
    ($($method:ident $path:literal => $handler:path;)*) => {
        /// Every console route as `(method, path pattern)`, relative to
        /// [`crate::BASE_PATH`].
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        /// Registers the routes inside the console's scope.
        pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
            $(cfg.route($path, web::$method().to($handler));)*
        }
    };
}

console_routes! {
    get "" => home::home;
    get "/" => home::home;
    get "/accounts/{account_id}" => home::account;
    post "/accounts" => objects::create_account;
    post "/accounts/{account_id}/close" => objects::close_account;
    post "/accounts/{account_id}/environments" => objects::create_environment;
    post "/environments/{environment_id}/close" => objects::close_environment;
    get "/environments/{environment_id}" => home::environment;
    get "/{owner:accounts|environments}/{id}/keys" => keys::page;
    post "/{owner:accounts|environments}/{id}/keys" => keys::create;
    get "/{owner:accounts|environments}/{id}/administrators" => administrators::page;
    post "/{owner:accounts|environments}/{id}/administrators" => administrators::invite;
    post "/{owner:accounts|environments}/{id}/administrators/{who}/remove" => administrators::remove;
    get "/{owner:accounts|environments}/{id}/audit" => audit::audit;
    post "/keys/{client_id}/edit" => keys::edit;
    post "/keys/{client_id}/rotate" => keys::rotate;
    post "/keys/{client_id}/{action}" => keys::act;
    get "/sign-in" => sign_in::form;
    post "/sign-in" => sign_in::submit;
    post "/sign-out" => sign_in::sign_out;
    get "/setup/{code}" => setup::open_link;
    get "/setup" => setup::form;
    post "/setup" => setup::submit;
    post "/setup/passkey/options" => passkeys::setup_options;
    post "/setup/passkey" => passkeys::setup_finish;
    post "/sign-in/passkey/options" => passkeys::sign_in_options;
    post "/sign-in/passkey" => passkeys::sign_in_finish;
    get "/passkeys" => passkey_list::page;
    post "/passkeys" => passkeys::add_finish;
    post "/passkeys/options" => passkeys::add_options;
    post "/passkeys/remove" => passkey_list::remove;
    get "/assets/{name}" => assets::asset;
}

/// Any other console path: the HTML 404 page.
pub(crate) async fn not_found() -> Result<HttpResponse, ConsoleError> {
    Err(ConsoleError::NotFound)
}

/// An HTML page with status 200.
fn page(html: String) -> HttpResponse {
    page_with(StatusCode::OK, html)
}

/// An HTML page with `status` (a form come back with an error, say).
fn page_with(status: StatusCode, html: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// Splits an admin operation's outcome: a 400 stays with the form that sent it, as
/// `(field, message)` to show next to that field (`Ok(Err(..))`); any other refusal
/// is the error page.
fn keep_bad_request<T>(
    r: Result<T, AdminError>,
) -> Result<Result<T, (String, String)>, ConsoleError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(AdminError::BadRequest { field, message }) => Ok(Err((field, message))),
        Err(e) => Err(e.into()),
    }
}

/// A signed-in page, or the error's page with the person's header.
fn or_error_page(
    me: &SignedIn,
    r: Result<HttpResponse, ConsoleError>,
) -> Result<HttpResponse, ConsoleError> {
    Ok(r.unwrap_or_else(|e| e.response(Some(me.nav()))))
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

/// The `cursor` of a listing page's query: where the API's pagination goes on.
fn cursor_of(req: &HttpRequest) -> Option<String> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "cursor")
        .map(|(_, v)| v.into_owned())
}

/// A signed-in person's state-changing form: same origin, the form, the session, the
/// page's token.
async fn signed_form(
    req: &HttpRequest,
    payload: web::Payload,
    console: &web::Data<Console>,
) -> Result<(SignedIn, Form), ConsoleError> {
    require_same_origin(req, console)?;
    let form = Form::read(req, payload).await?;
    let me = Console::signed_in(console, req).await?;
    require_token(Some(&me.csrf_token()), form.get(FIELD))?;
    Ok((me, form))
}
