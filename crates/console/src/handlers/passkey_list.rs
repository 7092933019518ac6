//! `GET /console/passkeys`: the signed-in person's passkeys, with `Register a passkey`
//! (within [`RECENT_SIGN_IN`] of signing in) and `Remove` (confirmed in a dialog; never
//! the person's last way to sign in). `POST /console/passkeys/remove` removes one.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use keypair_store::{StoreError, MAX_CREDENTIAL_ID_BYTES};
use time::Duration;

use super::{require_same_origin, require_token};
use crate::csrf::FIELD;
use crate::error::ConsoleError;
use crate::form::Form;
use crate::pages::{minutes, render, PasskeyRow, PasskeysPage};
use crate::session::SignedIn;
use crate::{blocking, see_other, sign_in_href, Console, BASE_PATH};

/// How recently a person must have signed in to register a passkey: a passkey is a
/// lasting way in, so a session taken over later (an unlocked computer left alone)
/// cannot add one.
pub(crate) const RECENT_SIGN_IN: Duration = Duration::minutes(10);

pub(crate) fn passkeys_path() -> String {
    format!("{BASE_PATH}/passkeys")
}

/// Whether `me` signed in recently enough to register a passkey.
pub(crate) fn recent(console: &Console, me: &SignedIn) -> bool {
    console.clock.now() - me.signed_in_at < RECENT_SIGN_IN
}

async fn list_page(
    console: &web::Data<Console>,
    me: SignedIn,
    status: StatusCode,
    problem: Option<&'static str>,
) -> Result<HttpResponse, ConsoleError> {
    let c = console.clone();
    let id = me.user.id.clone();
    let (stored, password) =
        blocking(move || Ok((c.store.passkeys_of(&id)?, c.store.has_password(&id)?))).await?;
    let removable = password || stored.len() > 1;
    let passkeys = stored
        .iter()
        .map(|p| PasskeyRow {
            registered: minutes(p.created_at),
            last_used: p.last_used_at.map_or_else(|| "Never".to_owned(), minutes),
            credential: URL_SAFE_NO_PAD.encode(&p.credential_id),
        })
        .collect();
    let html = render(&PasskeysPage {
        nav: Some(me.nav()),
        csrf_token: me.csrf_token(),
        passkeys,
        removable,
        recent: recent(console, &me),
        recent_minutes: RECENT_SIGN_IN.whole_minutes(),
        sign_in_again: sign_in_href(&passkeys_path()),
        problem,
    })?;
    Ok(super::page_with(status, html))
}

/// `GET /console/passkeys`.
pub(crate) async fn page(
    req: HttpRequest,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    if console.passkeys.is_none() {
        return Err(ConsoleError::NotFound);
    }
    let me = Console::signed_in(&console, &req).await?;
    list_page(&console, me, StatusCode::OK, None).await
}

/// `POST /console/passkeys/remove`: `credential` (base64url) and `csrf_token`.
pub(crate) async fn remove(
    req: HttpRequest,
    payload: web::Payload,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    if console.passkeys.is_none() {
        return Err(ConsoleError::NotFound);
    }
    require_same_origin(&req, &console)?;
    let form = Form::read(&req, payload).await?;
    let me = Console::signed_in(&console, &req).await?;
    require_token(Some(&me.csrf_token()), form.get(FIELD))?;
    let credential = URL_SAFE_NO_PAD
        .decode(form.get("credential"))
        .ok()
        .filter(|c| !c.is_empty() && c.len() <= MAX_CREDENTIAL_ID_BYTES)
        .ok_or(ConsoleError::BadRequest("no such passkey"))?;
    let c = console.clone();
    let id = me.user.id.clone();
    let outcome = blocking(
        move || match c.store.remove_passkey(&id, &credential, c.clock.now()) {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e.into()),
        },
    )
    .await?;
    if outcome {
        tracing::info!(user_id = %me.user.id.as_str(), "passkey removed");
        Ok(see_other(&passkeys_path()))
    } else {
        list_page(
            &console,
            me,
            StatusCode::CONFLICT,
            Some("That passkey is your only way to sign in, so it was not removed."),
        )
        .await
    }
}
