//! `GET/POST /console/sign-in` and `POST /console/sign-out`.
//!
//! A failed sign-in answers the same page and status whatever the reason (unknown
//! email, wrong password, no password, disabled): only the log says which. Failures
//! are throttled per (email, address) and per address, before the password is checked.
//! A successful sign-in always makes a new session id, ending the one the browser
//! presented (no fixation).

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keypair_store::{SessionId, User};
use throttle::RetryAfter;

use super::{require_same_origin, require_token};
use crate::cookies::Jar;
use crate::credentials::{self, Checked};
use crate::csrf::{self, FIELD};
use crate::error::ConsoleError;
use crate::form::Form;
use crate::pages::{render, SignInPage};
use crate::{blocking, safe_next, see_other, Console};

/// What a failed sign-in is told, whatever the reason.
const REFUSED: &str = "The email or password is wrong.";

/// The pre-session CSRF token for a form shown before a session, and the cookie to
/// set when the browser has none yet.
pub(super) fn pre_session(
    req: &HttpRequest,
    console: &Console,
) -> Result<(String, Option<Cookie<'static>>), ConsoleError> {
    match Jar::PreSession.read(req, &console.site) {
        Some(value) => Ok((csrf::pre_session_token(&value), None)),
        None => {
            let value = csrf::new_pre_session_value().map_err(|_| {
                tracing::error!("the operating system's random number generator failed");
                ConsoleError::Internal
            })?;
            let token = csrf::pre_session_token(&value);
            Ok((token, Some(Jar::PreSession.set(&console.site, &value))))
        }
    }
}

/// The token a form shown before a session must carry: derived from the request's
/// pre-session cookie (none: no token can match).
pub(super) fn expected_pre_session_token(req: &HttpRequest, console: &Console) -> Option<String> {
    Jar::PreSession
        .read(req, &console.site)
        .map(|v| csrf::pre_session_token(&v))
}

pub(super) fn next_of(req: &HttpRequest) -> String {
    let next = form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    safe_next(&next)
}

fn sign_in_page(
    status: StatusCode,
    page: &SignInPage,
    cookie: Option<Cookie<'static>>,
) -> Result<HttpResponse, ConsoleError> {
    let html = render(page)?;
    let mut resp = HttpResponse::build(status);
    resp.content_type("text/html; charset=utf-8");
    if let Some(c) = cookie {
        resp.cookie(c);
    }
    Ok(resp.body(html))
}

/// `GET /console/sign-in?next=...`: the form; already signed in, straight to `next`.
pub(crate) async fn form(
    req: HttpRequest,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let next = next_of(&req);
    if Console::session(&console, &req).await?.is_some() {
        return Ok(see_other(&next));
    }
    let (token, cookie) = pre_session(&req, &console)?;
    let page = SignInPage {
        nav: None,
        csrf_token: token,
        next,
        problem: None,
        passkeys: console.passkeys.is_some(),
    };
    sign_in_page(StatusCode::OK, &page, cookie)
}

/// The result of a sign-in on the blocking pool.
enum Outcome {
    SignedIn(User, SessionId),
    Refused(&'static str),
}

/// `POST /console/sign-in`: `email`, `password`, `next`, `csrf_token`.
pub(crate) async fn submit(
    req: HttpRequest,
    payload: web::Payload,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    require_same_origin(&req, &console)?;
    let form = Form::read(&req, payload).await?;
    require_token(
        expected_pre_session_token(&req, &console).as_deref(),
        form.get(FIELD),
    )?;
    let next = safe_next(form.get("next"));
    let email = form.get("email").trim().to_owned();
    let subject = email.to_lowercase();
    let address = throttle::client_address(&req, console.settings.client_ip_header.as_deref());
    if let Err(RetryAfter(wait)) =
        console
            .throttle
            .check(&subject, address, console.clock.instant())
    {
        tracing::info!(event = "sign_in", outcome = "throttled", %address, "console sign-in refused");
        console.metrics.sign_in("throttled");
        return Err(ConsoleError::Throttled {
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    let typed = form.get("password").to_owned();
    let old_session = Jar::Session.read(&req, &console.site);
    let c = console.clone();
    let outcome = blocking(move || {
        let now = c.clock.now();
        // The old session ends only once the new one exists (a refused attempt keeps
        // the session the browser had).
        let outcome = match credentials::sign_in(&c.store, &email, &typed, now)? {
            Checked::SignedIn(user, id) => Outcome::SignedIn(user, id),
            Checked::Refused(why) => return Ok(Outcome::Refused(why)),
        };
        if let Some(old) = old_session {
            c.store.delete_session(&SessionId::from_presented(&old))?;
        }
        Ok(outcome)
    })
    .await?;
    match outcome {
        Outcome::SignedIn(user, session) => {
            tracing::info!(event = "sign_in", outcome = "ok", user_id = %user.id.as_str(), %address, "console sign-in");
            console.metrics.sign_in("ok");
            let mut resp = see_other(&next);
            resp.add_cookie(&Jar::Session.set(&console.site, session.expose()))
                .map_err(|_| ConsoleError::Internal)?;
            Ok(resp)
        }
        Outcome::Refused(why) => {
            console
                .throttle
                .record_failure(&subject, address, console.clock.instant());
            tracing::info!(event = "sign_in", outcome = why, %address, "console sign-in refused");
            console.metrics.sign_in(why);
            let (token, cookie) = pre_session(&req, &console)?;
            // Neither the email nor the password comes back (docs/security.md).
            let page = SignInPage {
                nav: None,
                csrf_token: token,
                next,
                problem: Some(REFUSED),
                passkeys: console.passkeys.is_some(),
            };
            sign_in_page(StatusCode::BAD_REQUEST, &page, cookie)
        }
    }
}

/// `POST /console/sign-out`: ends the session and removes its cookie. Without a
/// session there is nothing to end; the cookie is removed all the same.
pub(crate) async fn sign_out(
    req: HttpRequest,
    payload: web::Payload,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    require_same_origin(&req, &console)?;
    let form = Form::read(&req, payload).await?;
    if let Some(id) = Jar::Session.read(&req, &console.site) {
        let id = SessionId::from_presented(&id);
        require_token(Some(&csrf::session_token(&id)), form.get(FIELD))?;
        let c = console.clone();
        blocking(move || Ok(c.store.delete_session(&id)?)).await?;
        tracing::info!(event = "sign_out", "console sign-out");
    }
    let mut resp = see_other(&format!("{}/sign-in", crate::BASE_PATH));
    resp.add_cookie(&Jar::Session.clear(&console.site))
        .map_err(|_| ConsoleError::Internal)?;
    Ok(resp)
}
