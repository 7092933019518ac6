//! The `Administrators` page of an account or an environment: invite by email (the
//! setup link shown once, with `Copy` and `Done`), the administrators and pending
//! invitations, `Remove` and `Withdraw` confirmed in dialogs. Everything goes through
//! admin-api's administrator operations, which decide reach (an environment
//! administrator cannot reach an account's page: 404).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use admin_api::ops::{AdministratorEntry, AdministratorId, InviteInput};

use super::keep_bad_request;
use super::object::Object;
use super::signed_form;
use crate::error::ConsoleError;
use crate::pages::{minutes, render, AdministratorRow, AdministratorsPage, InvitedLink};
use crate::session::SignedIn;
use crate::{blocking, see_other, Console};

fn entry(e: AdministratorEntry) -> AdministratorRow {
    match e {
        AdministratorEntry::User(a) => AdministratorRow {
            id: a.user.id.as_str().to_owned(),
            question: format!("Remove {}?", a.user.email),
            email: a.user.email,
            status: format!("Administrator since {}", minutes(a.since)),
            action: "Remove",
            consequence:
                "They lose this role at once, in every session. Other roles they hold stay.",
        },
        AdministratorEntry::Invitation(i) => AdministratorRow {
            id: i.id.as_str().to_owned(),
            question: format!("Withdraw the invitation of {}?", i.email),
            email: i.email,
            status: format!("Invited, link valid until {}", minutes(i.expires_at)),
            action: "Withdraw",
            consequence: "The setup link stops working. Nothing else changes.",
        },
    }
}

/// What the page shows besides the list.
#[derive(Default)]
struct Shown {
    email: String,
    email_error: Option<String>,
    invited: Option<InvitedLink>,
}

async fn administrators_page(
    console: &web::Data<Console>,
    me: &SignedIn,
    object: Object,
    shown: Shown,
    status: StatusCode,
) -> Result<HttpResponse, ConsoleError> {
    let c = console.clone();
    let principal = me.principal.clone();
    let target = object.clone();
    let (name, entries) = blocking(move || {
        let name = target.name(&c.admin, &principal)?;
        let list =
            c.admin
                .list_administrators(&principal, &target.administered(), c.clock.now())?;
        Ok((name, list.into_iter().map(entry).collect()))
    })
    .await?;
    let html = render(&AdministratorsPage {
        nav: Some(me.nav()),
        csrf_token: me.csrf_token(),
        name,
        account: matches!(object, Object::Account(_)),
        owner_href: object.href(),
        page_href: object.administrators_href(),
        entries,
        email: shown.email,
        email_error: shown.email_error,
        invited: shown.invited,
    })?;
    Ok(super::page_with(status, html))
}

/// `GET /console/{accounts|environments}/{id}/administrators`.
pub(crate) async fn page(
    req: HttpRequest,
    console: web::Data<Console>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let me = Console::signed_in(&console, &req).await?;
    let (kind, id) = path.into_inner();
    let Some(object) = Object::parse(&kind, &id) else {
        return Ok(ConsoleError::NotFound.response(Some(me.nav())));
    };
    let shown = Shown::default();
    super::or_error_page(
        &me,
        administrators_page(&console, &me, object, shown, StatusCode::OK).await,
    )
}

/// `POST /console/{accounts|environments}/{id}/administrators`: `email`; the answer
/// shows the setup link once.
pub(crate) async fn invite(
    req: HttpRequest,
    payload: web::Payload,
    console: web::Data<Console>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let (me, form) = signed_form(&req, payload, &console).await?;
    let (kind, id) = path.into_inner();
    let Some(object) = Object::parse(&kind, &id) else {
        return Ok(ConsoleError::NotFound.response(Some(me.nav())));
    };
    let email = form.get("email").trim().to_owned();
    let c = console.clone();
    let principal = me.principal.clone();
    let target = object.administered();
    let typed = email.clone();
    let outcome = blocking(move || {
        let input = InviteInput { email: typed };
        keep_bad_request(
            c.admin
                .invite_administrator(&principal, &target, input, c.clock.now()),
        )
    })
    .await;
    let (shown, status) = match outcome {
        Ok(Ok(made)) => {
            tracing::info!(invitation_id = %made.invitation.id.as_str(), user_id = %me.user.id.as_str(), "invitation made in the console");
            let shown = Shown {
                invited: Some(InvitedLink {
                    email: made.invitation.email.clone(),
                    url: made.setup_url().to_owned(),
                    expires: minutes(made.invitation.expires_at),
                }),
                ..Shown::default()
            };
            (shown, StatusCode::OK)
        }
        Ok(Err((_, message))) => {
            let shown = Shown {
                email,
                email_error: Some(message),
                invited: None,
            };
            (shown, StatusCode::BAD_REQUEST)
        }
        Err(e) => return Ok(e.response(Some(me.nav()))),
    };
    super::or_error_page(
        &me,
        administrators_page(&console, &me, object, shown, status).await,
    )
}

/// `POST /console/{accounts|environments}/{id}/administrators/{usr_…|inv_…}/remove`:
/// removes the person's binding here, or withdraws the invitation.
pub(crate) async fn remove(
    req: HttpRequest,
    payload: web::Payload,
    console: web::Data<Console>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let (me, _form) = signed_form(&req, payload, &console).await?;
    let (kind, id, who) = path.into_inner();
    let Some(object) = Object::parse(&kind, &id) else {
        return Ok(ConsoleError::NotFound.response(Some(me.nav())));
    };
    let Ok(who) = AdministratorId::parse(&who) else {
        return Ok(ConsoleError::NotFound.response(Some(me.nav())));
    };
    let c = console.clone();
    let principal = me.principal.clone();
    let target = object.administered();
    let done = blocking(move || {
        Ok(c.admin
            .remove_administrator(&principal, &target, &who, c.clock.now())?)
    })
    .await;
    match done {
        Ok(()) => Ok(see_other(&object.administrators_href())),
        Err(e) => Ok(e.response(Some(me.nav()))),
    }
}
