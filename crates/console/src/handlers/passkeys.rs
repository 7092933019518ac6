//! Passkey ceremonies, called by the console's script (`assets/passkeys.js`) with
//! JSON in and out:
//!
//! - `POST /console/setup/passkey/options`, then `POST /console/setup/passkey`: a new
//!   person (or a reset person) registers a passkey instead of setting a password,
//!   through the setup link in the setup cookie, and is signed in.
//! - `POST /console/sign-in/passkey/options`, then `POST /console/sign-in/passkey`:
//!   discoverable sign-in.
//! - `POST /console/passkeys/options`, then `POST /console/passkeys`: a signed-in
//!   person adds a passkey, within `RECENT_SIGN_IN` of signing in.
//!
//! Each body carries the page's `csrf_token` and each request a same-origin `Origin`,
//! as forms do. The options answer sets the ceremony cookie; the answer to the
//! challenge takes the ceremony (once) and removes the cookie. Where passkeys are not
//! offered, every route is a 404. A refused sign-in is counted by the sign-in
//! throttle like a wrong password, and told only that the passkey was not accepted.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use keypair_store::{
    Acceptor, CeremonyId, CeremonyPurpose, NewCredential, SessionId, SignInError, User,
};
use serde::Deserialize;
use serde_json::Value;
use throttle::RetryAfter;

use super::passkey_list::{passkeys_path, recent};
use super::setup::{new_credentials, sets_credentials, setup_code, signed_in_by_setup};
use super::sign_in::expected_pre_session_token;
use super::{require_same_origin, require_token};
use crate::cookies::Jar;
use crate::error::{ConsoleError, JsonError};
use crate::passkeys::{NotVerified, Passkeys, CEREMONY_LIFETIME};
use crate::session::SignedIn;
use crate::{blocking, safe_next, Console, BASE_PATH};

/// Largest accepted body: a registration answer with an attestation and its
/// certificates stays well under this.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// A ceremony request's body.
#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    csrf_token: String,
    /// The browser's credential (absent when asking for options).
    #[serde(default)]
    credential: Value,
    /// Sign-in: where to go afterwards.
    #[serde(default)]
    next: String,
}

/// The relying party, or 404 where passkeys are not offered.
fn relying_party(console: &Console) -> Result<&Passkeys, ConsoleError> {
    console.passkeys.as_ref().ok_or(ConsoleError::NotFound)
}

/// The checks every ceremony request passes before anything is changed: passkeys
/// offered, same origin, a JSON body within the limit, the page's token (`expected`:
/// the pre-session token, or a signed-in page's).
async fn checked_body(
    req: &HttpRequest,
    payload: web::Payload,
    console: &Console,
    expected: Option<String>,
) -> Result<Body, ConsoleError> {
    relying_party(console)?;
    require_same_origin(req, console)?;
    if request_body::media_type(req).as_deref() != Some("application/json") {
        return Err(ConsoleError::BadRequest("the request was not sent as JSON"));
    }
    let bytes = request_body::read_limited(req, payload, MAX_BODY_BYTES)
        .await
        .map_err(|_| ConsoleError::BadRequest("the request is too large or was cut off"))?;
    let body: Body = serde_json::from_slice(&bytes)
        .map_err(|_| ConsoleError::BadRequest("the request is not the JSON expected"))?;
    require_token(expected.as_deref(), &body.csrf_token)?;
    Ok(body)
}

/// A JSON answer that is never cached.
fn json_answer() -> HttpResponseBuilder {
    let mut resp = HttpResponse::Ok();
    resp.insert_header((header::CACHE_CONTROL, "no-store"));
    resp
}

/// The ceremony cookie's id, or 400: nothing to answer.
fn ceremony_id(req: &HttpRequest, console: &Console) -> Result<CeremonyId, ConsoleError> {
    Jar::Ceremony
        .read(req, &console.site)
        .map(|v| CeremonyId::from_presented(&v))
        .ok_or(ConsoleError::PasskeyExpired)
}

/// Begins a ceremony of `purpose` (its state, and for a registration the user handle
/// the passkey gets), answerable for [`CEREMONY_LIFETIME`].
fn begin(
    console: &Console,
    purpose: CeremonyPurpose,
    state: &str,
    user_handle: Option<&str>,
) -> Result<CeremonyId, ConsoleError> {
    Ok(console.store.begin_ceremony(
        purpose,
        state,
        user_handle,
        CEREMONY_LIFETIME,
        console.clock.now(),
    )?)
}

/// The options of a ceremony just begun, for the browser, with its cookie.
fn options_answer(
    console: &Console,
    id: &CeremonyId,
    options: &impl serde::Serialize,
) -> HttpResponse {
    json_answer()
        .cookie(Jar::Ceremony.set(&console.site, id.expose()))
        .json(options)
}

/// Takes the ceremony for its answer, or 400 when there is none (answered, expired).
fn take(
    console: &Console,
    id: &CeremonyId,
    purpose: CeremonyPurpose,
) -> Result<keypair_store::Ceremony, ConsoleError> {
    console
        .store
        .take_ceremony(id, purpose, console.clock.now())?
        .ok_or(ConsoleError::PasskeyExpired)
}

/// `POST /console/setup/passkey/options`: creation options for the person the setup
/// link is for.
pub(crate) async fn setup_options(
    req: HttpRequest,
    payload: web::Payload,
    console: web::Data<Console>,
) -> Result<HttpResponse, JsonError> {
    checked_body(
        &req,
        payload,
        &console,
        expected_pre_session_token(&req, &console),
    )
    .await?;
    let code = setup_code(&req, &console)?;
    let c = console.clone();
    let (options, id) = blocking(move || {
        let found = sets_credentials(&c, &code)?;
        let rp = relying_party(&c)?;
        let registration = rp.begin_registration(&found.email, None, Vec::new())?;
        let id = begin(
            &c,
            CeremonyPurpose::Register,
            &registration.state,
            Some(&registration.user_handle),
        )?;
        Ok((registration.options, id))
    })
    .await?;
    Ok(options_answer(&console, &id, &options))
}

/// `POST /console/setup/passkey`: the registration's answer. The passkey becomes the
/// person's only credential, stored in the transaction that uses the invitation; the
/// person is signed in.
pub(crate) async fn setup_finish(
    req: HttpRequest,
    payload: web::Payload,
    console: web::Data<Console>,
) -> Result<HttpResponse, JsonError> {
    let body = checked_body(
        &req,
        payload,
        &console,
        expected_pre_session_token(&req, &console),
    )
    .await?;
    let code = setup_code(&req, &console)?;
    let id = ceremony_id(&req, &console)?;
    let old_session = Jar::Session.read(&req, &console.site);
    let c = console.clone();
    let (user, session) = blocking(move || {
        let ceremony = take(&c, &id, CeremonyPurpose::Register)?;
        sets_credentials(&c, &code)?;
        let passkey = match relying_party(&c)?.finish_registration(&ceremony, body.credential)? {
            Ok(p) => p,
            Err(NotVerified(why)) => {
                tracing::info!(outcome = why, "passkey registration refused");
                return Err(ConsoleError::PasskeyRefused);
            }
        };
        let acceptor = Acceptor::NewUser {
            name: String::new(),
            credential: NewCredential::Passkey(passkey),
        };
        new_credentials(&c, &code, &acceptor, old_session)
    })
    .await?;
    tracing::info!(outcome = "ok", user_id = %user.id.as_str(), "invitation accepted with a new passkey");
    let mut resp = json_answer()
        .cookie(Jar::Ceremony.clear(&console.site))
        .json(serde_json::json!({ "location": BASE_PATH }));
    signed_in_by_setup(&mut resp, &console, &session)?;
    Ok(resp)
}

/// `POST /console/sign-in/passkey/options`: request options for a discoverable
/// sign-in. Refused while the address is throttled.
pub(crate) async fn sign_in_options(
    req: HttpRequest,
    payload: web::Payload,
    console: web::Data<Console>,
) -> Result<HttpResponse, JsonError> {
    checked_body(
        &req,
        payload,
        &console,
        expected_pre_session_token(&req, &console),
    )
    .await?;
    not_throttled(&req, &console)?;
    let c = console.clone();
    let (options, id) = blocking(move || {
        let sign_in = relying_party(&c)?.begin_sign_in()?;
        let id = begin(&c, CeremonyPurpose::SignIn, &sign_in.state, None)?;
        Ok((sign_in.options, id))
    })
    .await?;
    Ok(options_answer(&console, &id, &options))
}

/// The throttle's subject for passkey sign-ins: failures count against the address
/// (and not against any email, which a passkey sign-in never names).
const PASSKEY_SUBJECT: &str = "passkey";

fn not_throttled(req: &HttpRequest, console: &Console) -> Result<(), ConsoleError> {
    let address = throttle::client_address(req, console.settings.client_ip_header.as_deref());
    match console
        .throttle
        .check(PASSKEY_SUBJECT, address, console.clock.instant())
    {
        Ok(()) => Ok(()),
        Err(RetryAfter(wait)) => {
            tracing::info!(event = "sign_in", method = "passkey", outcome = "throttled", %address, "console sign-in refused");
            console.metrics.sign_in("throttled");
            Err(ConsoleError::Throttled {
                retry_after_secs: wait.as_secs().max(1),
            })
        }
    }
}

/// How a passkey sign-in went, on the blocking pool.
enum Outcome {
    SignedIn(User, SessionId),
    Refused(&'static str),
}

/// `POST /console/sign-in/passkey`: the sign-in's answer. Verified against the
/// ceremony and the passkey its user handle and credential id name; the passkey's
/// new counter is stored and a new session made in one transaction.
pub(crate) async fn sign_in_finish(
    req: HttpRequest,
    payload: web::Payload,
    console: web::Data<Console>,
) -> Result<HttpResponse, JsonError> {
    let body = checked_body(
        &req,
        payload,
        &console,
        expected_pre_session_token(&req, &console),
    )
    .await?;
    not_throttled(&req, &console)?;
    let id = ceremony_id(&req, &console)?;
    let next = safe_next(&body.next);
    let old_session = Jar::Session.read(&req, &console.site);
    let c = console.clone();
    let outcome = blocking(move || {
        let ceremony = take(&c, &id, CeremonyPurpose::SignIn)?;
        let (answer, handle) = match Passkeys::identify(&body.credential) {
            Ok(found) => found,
            Err(NotVerified(why)) => return Ok(Outcome::Refused(why)),
        };
        let candidates = c.store.passkeys_by_handle(&handle)?;
        let rp = relying_party(&c)?;
        let (used, updated) = match rp.finish_sign_in(&ceremony, &answer, candidates)? {
            Ok(verified) => verified,
            Err(NotVerified(why)) => return Ok(Outcome::Refused(why)),
        };
        let now = c.clock.now();
        let (user, session) = match c.store.sign_in_with_passkey(&used, &updated, now) {
            Ok(signed_in) => signed_in,
            Err(SignInError::Refused(why)) => return Ok(Outcome::Refused(why.as_str())),
            Err(SignInError::Store(e)) => return Err(e.into()),
        };
        if let Some(old) = old_session {
            c.store.delete_session(&SessionId::from_presented(&old))?;
        }
        Ok(Outcome::SignedIn(user, session))
    })
    .await?;
    let address = throttle::client_address(&req, console.settings.client_ip_header.as_deref());
    match outcome {
        Outcome::SignedIn(user, session) => {
            tracing::info!(event = "sign_in", method = "passkey", outcome = "ok", user_id = %user.id.as_str(), %address, "console sign-in");
            console.metrics.sign_in("ok");
            Ok(json_answer()
                .cookie(Jar::Session.set(&console.site, session.expose()))
                .cookie(Jar::Ceremony.clear(&console.site))
                .json(serde_json::json!({ "location": next })))
        }
        Outcome::Refused(why) => {
            console
                .throttle
                .record_failure(PASSKEY_SUBJECT, address, console.clock.instant());
            tracing::info!(event = "sign_in", method = "passkey", outcome = why, %address, "console sign-in refused");
            console.metrics.sign_in(why);
            Err(ConsoleError::PasskeyRefused.into())
        }
    }
}

/// The signed-in person of a ceremony request, who signed in recently enough to add
/// a passkey: 401 without a session, 403 when the sign-in is too old.
async fn recently_signed_in(
    req: &HttpRequest,
    console: &web::Data<Console>,
) -> Result<SignedIn, ConsoleError> {
    relying_party(console)?;
    let Some(me) = Console::session(console, req).await? else {
        return Err(ConsoleError::SignInRequired {
            next: passkeys_path(),
        });
    };
    if !recent(console, &me) {
        return Err(ConsoleError::SignInAgain);
    }
    Ok(me)
}

/// `POST /console/passkeys/options`: creation options for another passkey of the
/// signed-in person, under the handle of their other passkeys and excluding them.
pub(crate) async fn add_options(
    req: HttpRequest,
    payload: web::Payload,
    console: web::Data<Console>,
) -> Result<HttpResponse, JsonError> {
    let me = recently_signed_in(&req, &console).await?;
    checked_body(&req, payload, &console, Some(me.csrf_token())).await?;
    let c = console.clone();
    let (options, id) = blocking(move || {
        let existing = c.store.passkeys_of(&me.user.id)?;
        let handle = existing.first().map(|p| p.user_handle.as_str());
        let exclude = existing.iter().map(|p| p.credential_id.clone()).collect();
        let registration =
            relying_party(&c)?.begin_registration(&me.user.email, handle, exclude)?;
        let id = begin(
            &c,
            CeremonyPurpose::AddPasskey,
            &registration.state,
            Some(&registration.user_handle),
        )?;
        Ok((registration.options, id))
    })
    .await?;
    Ok(options_answer(&console, &id, &options))
}

/// `POST /console/passkeys`: the answer; the new passkey is added (audited).
pub(crate) async fn add_finish(
    req: HttpRequest,
    payload: web::Payload,
    console: web::Data<Console>,
) -> Result<HttpResponse, JsonError> {
    let me = recently_signed_in(&req, &console).await?;
    let body = checked_body(&req, payload, &console, Some(me.csrf_token())).await?;
    let id = ceremony_id(&req, &console)?;
    let c = console.clone();
    let user = me.user.id.clone();
    blocking(move || {
        let ceremony = take(&c, &id, CeremonyPurpose::AddPasskey)?;
        let passkey = match relying_party(&c)?.finish_registration(&ceremony, body.credential)? {
            Ok(p) => p,
            Err(NotVerified(why)) => {
                tracing::info!(outcome = why, "passkey registration refused");
                return Err(ConsoleError::PasskeyRefused);
            }
        };
        match c.store.add_passkey(&user, &passkey, c.clock.now()) {
            Ok(()) => Ok(()),
            Err(keypair_store::StoreError::Conflict(_)) => Err(ConsoleError::PasskeyRefused),
            Err(e) => Err(e.into()),
        }
    })
    .await?;
    tracing::info!(user_id = %me.user.id.as_str(), "passkey registered");
    Ok(json_answer()
        .cookie(Jar::Ceremony.clear(&console.site))
        .json(serde_json::json!({ "location": passkeys_path() })))
}
