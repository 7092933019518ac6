//! Setup links: `GET /console/setup/{code}` checks the code without using it up (mail
//! scanners follow links), moves it into a short-lived cookie and redirects to
//! `/console/setup`, so the code leaves the address bar, the history and any
//! `Referer`. `GET /console/setup` shows what the invitation offers; `POST` uses it.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keypair_store::{Acceptor, InvitationCode, Owner, PendingInvitation, SessionId, StoreError};

use super::sign_in::{expected_pre_session_token, pre_session};
use super::{require_same_origin, require_token};
use crate::cookies::Jar;
use crate::credentials;
use crate::csrf::{self, FIELD};
use crate::error::ConsoleError;
use crate::form::Form;
use crate::pages::{render, SetupPage, SetupStep};
use crate::session::SignedIn;
use crate::{blocking, see_other, Console, BASE_PATH};

/// Longest code accepted from a link or a cookie (codes are 64 hex digits).
const MAX_CODE_LEN: usize = 128;

fn setup_path() -> String {
    format!("{BASE_PATH}/setup")
}

/// An invitation's pending state, or 410 when it was used, withdrawn or ran out.
fn pending(console: &Console, code: &InvitationCode) -> Result<PendingInvitation, ConsoleError> {
    if code.expose().len() > MAX_CODE_LEN {
        return Err(ConsoleError::InvitationGone);
    }
    match console
        .store
        .find_pending_invitation(code, console.clock.now())
    {
        Ok(p) => Ok(p),
        Err(StoreError::NotFound(_) | StoreError::Invalid { .. }) => {
            Err(ConsoleError::InvitationGone)
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /console/setup/{code}`.
pub(crate) async fn open_link(
    console: web::Data<Console>,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let code = InvitationCode::from_presented(&path.into_inner());
    let c = console.clone();
    let lookup = code.clone();
    let found = blocking(move || pending(&c, &lookup)).await?;
    tracing::info!(invitation_id = %found.id.as_str(), "setup link opened");
    let mut resp = see_other(&setup_path());
    resp.add_cookie(&Jar::Setup.set(&console.site, code.expose()))
        .map_err(|_| ConsoleError::Internal)?;
    Ok(resp)
}

/// What the link is for, in a sentence: the role and the object's name, or a reset.
fn describe(console: &Console, found: &PendingInvitation) -> Result<String, ConsoleError> {
    let named = |r: Result<String, StoreError>| match r {
        Ok(name) => Ok(name),
        Err(StoreError::NotFound(_)) => Err(ConsoleError::InvitationGone),
        Err(e) => Err(ConsoleError::from(e)),
    };
    let email = &found.email;
    Ok(match &found.grants {
        None => format!("Choose a new password for {email}."),
        Some(Owner::Operator) => format!("{email} is invited as an operator."),
        Some(Owner::Account(a)) => format!(
            "{email} is invited as an account administrator of {}.",
            named(console.store.get_account(a).map(|a| a.name))?
        ),
        Some(Owner::Environment { environment_id, .. }) => format!(
            "{email} is invited as an environment administrator of {}.",
            named(
                console
                    .store
                    .get_environment(environment_id)
                    .map(|e| e.name)
            )?
        ),
    })
}

/// What the page offers this browser.
fn step(found: &PendingInvitation, me: Option<&SignedIn>) -> SetupStep {
    if credentials::sets_credentials(found) {
        return SetupStep::SetPassword;
    }
    match me {
        Some(me) if found.existing_user.as_ref() == Some(&me.user.id) => SetupStep::Accept,
        Some(_) => SetupStep::OtherPerson,
        None => SetupStep::SignInFirst,
    }
}

/// The setup page for the invitation in the setup cookie.
async fn setup_page(
    req: &HttpRequest,
    console: &web::Data<Console>,
    status: StatusCode,
    problem: Option<&'static str>,
) -> Result<HttpResponse, ConsoleError> {
    let code = setup_code(req, console)?;
    let me = Console::session(console, req).await?;
    let c = console.clone();
    let (found, summary) = blocking(move || {
        let found = pending(&c, &code)?;
        let summary = describe(&c, &found)?;
        Ok((found, summary))
    })
    .await?;
    let step = step(&found, me.as_ref());
    let (csrf_token, cookie): (String, Option<Cookie<'static>>) = match (&step, &me) {
        (SetupStep::Accept | SetupStep::OtherPerson, Some(me)) => (me.csrf_token(), None),
        _ => pre_session(req, console)?,
    };
    let html = render(&SetupPage {
        nav: me.as_ref().map(SignedIn::nav),
        csrf_token,
        email: found.email,
        summary,
        step,
        problem,
        passkeys: console.passkeys.is_some(),
    })?;
    let mut resp = HttpResponse::build(status);
    resp.content_type("text/html; charset=utf-8");
    if let Some(c) = cookie {
        resp.cookie(c);
    }
    Ok(resp.body(html))
}

pub(super) fn setup_code(
    req: &HttpRequest,
    console: &Console,
) -> Result<InvitationCode, ConsoleError> {
    Jar::Setup
        .read(req, &console.site)
        .map(|c| InvitationCode::from_presented(&c))
        .ok_or(ConsoleError::NoInvitation)
}

/// `GET /console/setup`.
pub(crate) async fn form(
    req: HttpRequest,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    setup_page(&req, &console, StatusCode::OK, None).await
}

/// `POST /console/setup`: `action=set_password` with `new_password` (a new person), or
/// `action=accept` (the invited person, signed in); `csrf_token` either way.
pub(crate) async fn submit(
    req: HttpRequest,
    payload: web::Payload,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    require_same_origin(&req, &console)?;
    let form = Form::read(&req, payload).await?;
    match form.get("action") {
        "set_password" => set_password(&req, &console, &form).await,
        "accept" => accept(&req, &console, &form).await,
        _ => {
            // Checked first all the same: an unknown action from another site is a 403.
            require_token(
                expected_pre_session_token(&req, &console).as_deref(),
                form.get(FIELD),
            )?;
            Err(ConsoleError::BadRequest("unknown action"))
        }
    }
}

/// A new person sets a password: the invitation is used, the person made and signed in.
async fn set_password(
    req: &HttpRequest,
    console: &web::Data<Console>,
    form: &Form,
) -> Result<HttpResponse, ConsoleError> {
    require_token(
        expected_pre_session_token(req, console).as_deref(),
        form.get(FIELD),
    )?;
    let code = setup_code(req, console)?;
    let typed = form.get("new_password").to_owned();
    if !credentials::password_allowed(&typed) {
        return setup_page(
            req,
            console,
            StatusCode::BAD_REQUEST,
            Some("The password must be 12 to 1024 characters long."),
        )
        .await;
    }
    let old_session = Jar::Session.read(req, &console.site);
    let c = console.clone();
    let (user, session) = blocking(move || {
        // Cheap check first: a dead code costs no hashing.
        sets_credentials(&c, &code)?;
        let acceptor = credentials::new_person(&c.store, &typed)?;
        new_credentials(&c, &code, &acceptor, old_session)
    })
    .await?;
    tracing::info!(outcome = "ok", user_id = %user.id.as_str(), "invitation accepted with a new password");
    let mut resp = see_other(BASE_PATH);
    signed_in_by_setup(&mut resp, console, &session)?;
    Ok(resp)
}

/// The invitation (or reset) in the setup cookie, if it sets credentials: 410 when it
/// is gone, 409 when its email already has a person (who must sign in and accept).
pub(super) fn sets_credentials(
    console: &Console,
    code: &InvitationCode,
) -> Result<PendingInvitation, ConsoleError> {
    let found = pending(console, code)?;
    if credentials::sets_credentials(&found) {
        Ok(found)
    } else {
        Err(ConsoleError::InvitationRefused)
    }
}

/// Uses the invitation to set `acceptor`'s credentials (a new person, or the person a
/// reset is for), then signs that person in with a new session, ending the one the
/// browser had.
pub(super) fn new_credentials(
    console: &Console,
    code: &InvitationCode,
    acceptor: &Acceptor,
    old_session: Option<String>,
) -> Result<(keypair_store::User, SessionId), ConsoleError> {
    let now = console.clock.now();
    let user = match console.store.accept_invitation(code, acceptor, now) {
        Ok(user) => user,
        Err(StoreError::NotFound(_)) => return Err(ConsoleError::InvitationGone),
        Err(StoreError::Conflict(_)) => return Err(ConsoleError::InvitationRefused),
        Err(e) => return Err(e.into()),
    };
    if let Some(old) = old_session {
        console
            .store
            .delete_session(&SessionId::from_presented(&old))?;
    }
    let session = console.store.create_session(&user.id, now)?;
    Ok((user, session))
}

/// The cookies of a person signed in through a setup link: the new session, and the
/// setup cookie removed.
pub(super) fn signed_in_by_setup(
    resp: &mut HttpResponse,
    console: &Console,
    session: &SessionId,
) -> Result<(), ConsoleError> {
    resp.add_cookie(&Jar::Session.set(&console.site, session.expose()))
        .map_err(|_| ConsoleError::Internal)?;
    resp.add_cookie(&Jar::Setup.clear(&console.site))
        .map_err(|_| ConsoleError::Internal)
}

/// The invited person, signed in with their own credentials, accepts.
async fn accept(
    req: &HttpRequest,
    console: &web::Data<Console>,
    form: &Form,
) -> Result<HttpResponse, ConsoleError> {
    let expected = Jar::Session
        .read(req, &console.site)
        .map(|id| csrf::session_token(&SessionId::from_presented(&id)));
    require_token(expected.as_deref(), form.get(FIELD))?;
    let code = setup_code(req, console)?;
    let Some(me) = Console::session(console, req).await? else {
        return Err(ConsoleError::SignInRequired { next: setup_path() });
    };
    let c = console.clone();
    let user_id = me.user.id.clone();
    blocking(move || {
        let acceptor = Acceptor::SignedIn(user_id);
        match c.store.accept_invitation(&code, &acceptor, c.clock.now()) {
            Ok(_) => Ok(()),
            Err(StoreError::NotFound(_)) => Err(ConsoleError::InvitationGone),
            Err(StoreError::Conflict(_)) => Err(ConsoleError::InvitationRefused),
            Err(e) => Err(e.into()),
        }
    })
    .await?;
    tracing::info!(outcome = "ok", user_id = %me.user.id.as_str(), "invitation accepted by a signed-in person");
    let mut resp = see_other(BASE_PATH);
    resp.add_cookie(&Jar::Setup.clear(&console.site))
        .map_err(|_| ConsoleError::Internal)?;
    Ok(resp)
}
