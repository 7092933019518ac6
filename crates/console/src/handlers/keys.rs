//! The `API keys` pages of an account and of an environment, and the actions on one
//! key. Every read and change goes through admin-api's operations with the person's
//! principal, so reach is decided there: out of reach is the 404 page.
//!
//! - `GET  /console/{accounts|environments}/{id}/keys[?cursor=…]`: the table, and the
//!   `Create API key` dialog.
//! - `POST /console/{accounts|environments}/{id}/keys`: create; the answer is the page
//!   with the one-time secret dialog (`Copy`, `Done`). An operation's refusal shows
//!   next to its field, in the dialog, with what was typed.
//! - `POST /console/keys/{client_id}/status`: the `Active` switch (`enabled`). With
//!   htmx (`HX-Request`) the answer is the key's new row; without, a 303 back.
//! - `POST /console/keys/{client_id}/revoke-tokens` and `.../delete`: confirmed in
//!   their dialogs; a 303 back to the owner's keys.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use admin_api::ops::{KeypairPatchInput, NewKeypairInput, RevokeTokensInput, RotationInput};
use admin_api::{AdminApi, AdminError, Principal};
use keypair_store::{ClientId, Keypair, Page, PageRequest};
use serde_json::json;
use time::OffsetDateTime;

use super::keep_bad_request;
use super::key_form::{key_input, only_changes, parsed, row};
use super::object::Object;
use super::{cursor_of, signed_form};
use crate::error::ConsoleError;
use crate::pages::{render, KeyForm, KeyRow, KeyRowFragment, KeysPage, NewSecret};
use crate::session::SignedIn;
use crate::{blocking, see_other, Console};

/// Keys listed per page.
const KEYS_PER_PAGE: u32 = 50;

impl Object {
    fn list(
        &self,
        admin: &AdminApi,
        me: &Principal,
        page: &PageRequest,
    ) -> Result<Page<Keypair>, AdminError> {
        match self {
            Object::Account(a) => admin.list_account_keypairs(me, a, page),
            Object::Environment(e) => admin.list_environment_keypairs(me, e, page),
        }
    }

    fn create(
        &self,
        admin: &AdminApi,
        me: &Principal,
        input: NewKeypairInput,
        now: OffsetDateTime,
    ) -> Result<(Keypair, keypair_store::ClientSecret), AdminError> {
        match self {
            Object::Account(a) => admin.create_account_keypair(me, a, input, now),
            Object::Environment(e) => admin.create_environment_keypair(me, e, input, now),
        }
    }
}

struct Listing {
    name: String,
    rows: Vec<KeyRow>,
    next_cursor: Option<String>,
    grantable: Vec<String>,
}

/// What a keys page shows besides the table: a dialog come back with an error, a
/// secret shown once, a problem.
#[derive(Default)]
struct Shown {
    create: Option<KeyForm>,
    /// A row's edit dialog, as typed, with its error.
    edit: Option<(String, KeyForm)>,
    secret: Option<NewSecret>,
    problem: Option<String>,
}

fn listing(
    admin: &AdminApi,
    me: &Principal,
    owner: &Object,
    cursor: Option<&str>,
    now: OffsetDateTime,
) -> Result<Listing, ConsoleError> {
    let name = owner.name(admin, me)?;
    let request = PageRequest::new(Some(KEYS_PER_PAGE), cursor)
        .map_err(|_| ConsoleError::BadRequest("that page of keys does not exist"))?;
    let page = owner.list(admin, me, &request)?;
    let grantable = admin.grantable_scopes(me);
    let keys_href = owner.keys_href();
    Ok(Listing {
        name,
        rows: page
            .items
            .iter()
            .map(|k| row(k, now, &grantable, &keys_href))
            .collect(),
        next_cursor: page.next_cursor,
        grantable,
    })
}

/// The page, with what `shown` adds.
async fn keys_page(
    console: &web::Data<Console>,
    me: &SignedIn,
    owner: Object,
    cursor: Option<String>,
    shown: Shown,
    status: StatusCode,
) -> Result<HttpResponse, ConsoleError> {
    let c = console.clone();
    let principal = me.principal.clone();
    let lookup = owner.clone();
    let mut found = blocking(move || {
        let now = c.clock.now();
        listing(&c.admin, &principal, &lookup, cursor.as_deref(), now)
    })
    .await?;
    if let Some((client_id, form)) = shown.edit {
        if let Some(r) = found.rows.iter_mut().find(|r| r.client_id == client_id) {
            r.edit = form;
            r.edit_open = true;
        }
    }
    let create_open = shown.create.is_some();
    let form = shown
        .create
        .unwrap_or_else(|| KeyForm::empty(&found.grantable));
    let keys_href = owner.keys_href();
    let html = render(&KeysPage {
        nav: Some(me.nav()),
        csrf_token: me.csrf_token(),
        name: found.name,
        owner_href: owner.href(),
        next_href: found.next_cursor.map(|c| format!("{keys_href}?cursor={c}")),
        keys_href,
        rows: found.rows,
        create: form,
        create_open,
        created: shown.secret,
        problem: shown.problem,
    })?;
    Ok(super::page_with(status, html))
}

/// `GET /console/{accounts|environments}/{id}/keys`.
pub(crate) async fn page(
    req: HttpRequest,
    console: web::Data<Console>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let me = Console::signed_in(&console, &req).await?;
    let (kind, id) = path.into_inner();
    let Some(owner) = Object::parse(&kind, &id) else {
        return Ok(ConsoleError::NotFound.response(Some(me.nav())));
    };
    let cursor = cursor_of(&req);
    let shown = Shown::default();
    super::or_error_page(
        &me,
        keys_page(&console, &me, owner, cursor, shown, StatusCode::OK).await,
    )
}

/// `POST /console/{accounts|environments}/{id}/keys`: `comment`, `scope:<name>=on`,
/// `expires_at` (`YYYY-MM-DDTHH:MM`, UTC, optional), `allowed_addresses` (one per
/// line, optional), `csrf_token`.
pub(crate) async fn create(
    req: HttpRequest,
    payload: web::Payload,
    console: web::Data<Console>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let (me, form) = signed_form(&req, payload, &console).await?;
    let (kind, id) = path.into_inner();
    let Some(owner) = Object::parse(&kind, &id) else {
        return Ok(ConsoleError::NotFound.response(Some(me.nav())));
    };
    let scopes = console.admin.grantable_scopes(&me.principal);
    let (input, mut typed) = key_input(&form, &scopes);
    let c = console.clone();
    let principal = me.principal.clone();
    let target = owner.clone();
    let outcome = blocking(move || {
        let made =
            parsed(input).and_then(|i| target.create(&c.admin, &principal, i, c.clock.now()));
        keep_bad_request(made)
    })
    .await;
    let shown = match outcome {
        Ok(Ok((keypair, secret))) => {
            tracing::info!(client_id = %keypair.client_id, user_id = %me.user.id.as_str(), "API key created in the console");
            Shown {
                secret: Some(NewSecret {
                    heading: "API key created",
                    client_id: keypair.client_id.as_str().to_owned(),
                    secret: secret.expose().to_owned(),
                }),
                ..Shown::default()
            }
        }
        Ok(Err((field, message))) => {
            typed.refused(&field, message);
            Shown {
                create: Some(typed),
                ..Shown::default()
            }
        }
        Err(e) => return Ok(e.response(Some(me.nav()))),
    };
    let status = if shown.create.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    super::or_error_page(
        &me,
        keys_page(&console, &me, owner, None, shown, status).await,
    )
}

/// The key a `/console/keys/{client_id}/…` request names, if the person reaches it,
/// with its owner.
fn reached(
    console: &Console,
    me: &Principal,
    id: &str,
) -> Result<(ClientId, Object, Keypair), ConsoleError> {
    let client_id = ClientId::parse(id).map_err(|_| ConsoleError::NotFound)?;
    let keypair = console.admin.get_keypair(me, &client_id)?;
    let owner = Object::of(&keypair.owner).ok_or(ConsoleError::NotFound)?;
    Ok((client_id, owner, keypair))
}

/// `POST /console/keys/{client_id}/edit`: the create form's fields; the key takes
/// them all (an empty expiry removes it, an empty allowlist allows anywhere).
pub(crate) async fn edit(
    req: HttpRequest,
    payload: web::Payload,
    console: web::Data<Console>,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let (me, form) = signed_form(&req, payload, &console).await?;
    let id = path.into_inner();
    let scopes = console.admin.grantable_scopes(&me.principal);
    let (input, mut typed) = key_input(&form, &scopes);
    let c = console.clone();
    let principal = me.principal.clone();
    let key = id.clone();
    let outcome = blocking(move || {
        let (client_id, owner, current) = reached(&c, &principal, &key)?;
        let patch = only_changes(input, &current, &scopes);
        let changed = parsed::<KeypairPatchInput>(patch).and_then(|patch| {
            c.admin
                .update_keypair(&principal, &client_id, patch, c.clock.now())
        });
        Ok((owner, keep_bad_request(changed)?))
    })
    .await;
    match outcome {
        Ok((owner, Ok(_))) => {
            tracing::info!(client_id = %id, user_id = %me.user.id.as_str(), "API key edited in the console");
            Ok(see_other(&owner.keys_href()))
        }
        Ok((owner, Err((field, message)))) => {
            typed.refused(&field, message);
            let shown = Shown {
                edit: Some((id, typed)),
                ..Shown::default()
            };
            super::or_error_page(
                &me,
                keys_page(&console, &me, owner, None, shown, StatusCode::BAD_REQUEST).await,
            )
        }
        Err(e) => Ok(e.response(Some(me.nav()))),
    }
}

/// `POST /console/keys/{client_id}/rotate`: `overlap` (seconds the live secrets keep
/// working) and `end_oldest`; the answer shows the new secret once.
pub(crate) async fn rotate(
    req: HttpRequest,
    payload: web::Payload,
    console: web::Data<Console>,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let (me, form) = signed_form(&req, payload, &console).await?;
    let id = path.into_inner();
    let overlap: Option<u32> = form.get("overlap").parse().ok();
    let end_oldest = form.get("end_oldest") == "on";
    let c = console.clone();
    let principal = me.principal.clone();
    let key = id.clone();
    let outcome = blocking(move || {
        let (client_id, owner, _) = reached(&c, &principal, &key)?;
        let input: RotationInput = serde_json::from_value(json!({
            "previous_secret_expires_in_seconds": overlap,
            "end_oldest": end_oldest,
        }))
        .map_err(|_| ConsoleError::BadRequest("choose how long the old secret stays valid"))?;
        match c
            .admin
            .rotate_secret(&principal, &client_id, input, c.clock.now())
        {
            Ok((_, secret)) => Ok((owner, Ok(secret))),
            Err(AdminError::Conflict(_)) => Ok((
                owner,
                Err((
                    StatusCode::CONFLICT,
                    "Two secrets are live: tick “End the oldest secret now” to rotate.".to_owned(),
                )),
            )),
            Err(AdminError::BadRequest { message, .. }) => Ok((
                owner,
                Err((
                    StatusCode::BAD_REQUEST,
                    format!("Old secret valid for: {message}"),
                )),
            )),
            Err(e) => Err(e.into()),
        }
    })
    .await;
    let (owner, shown, status) = match outcome {
        Ok((owner, Ok(secret))) => {
            tracing::info!(client_id = %id, user_id = %me.user.id.as_str(), "API key secret rotated in the console");
            let shown = Shown {
                secret: Some(NewSecret {
                    heading: "Secret rotated",
                    client_id: id,
                    secret: secret.expose().to_owned(),
                }),
                ..Shown::default()
            };
            (owner, shown, StatusCode::OK)
        }
        Ok((owner, Err((status, problem)))) => {
            let shown = Shown {
                problem: Some(problem),
                ..Shown::default()
            };
            (owner, shown, status)
        }
        Err(e) => return Ok(e.response(Some(me.nav()))),
    };
    super::or_error_page(
        &me,
        keys_page(&console, &me, owner, None, shown, status).await,
    )
}

/// What one key action does, through admin-api.
#[derive(Clone, Copy, Debug)]
enum Action {
    Status,
    RevokeTokens,
    Delete,
}

/// `POST /console/keys/{client_id}/{status|revoke-tokens|delete}`.
pub(crate) async fn act(
    req: HttpRequest,
    payload: web::Payload,
    console: web::Data<Console>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let (me, form) = signed_form(&req, payload, &console).await?;
    let (id, verb) = path.into_inner();
    let action = match verb.as_str() {
        "status" => Action::Status,
        "revoke-tokens" => Action::RevokeTokens,
        "delete" => Action::Delete,
        _ => return Ok(ConsoleError::NotFound.response(Some(me.nav()))),
    };
    let enabled = match form.get("enabled") {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    let c = console.clone();
    let principal = me.principal.clone();
    let key = id.clone();
    let done = blocking(move || {
        let now = c.clock.now();
        let (client_id, owner, _) = reached(&c, &principal, &key)?;
        let after = match action {
            Action::Status => {
                let enabled =
                    enabled.ok_or(ConsoleError::BadRequest("enabled must be true or false"))?;
                let patch: KeypairPatchInput =
                    serde_json::from_value(json!({ "enabled": enabled }))
                        .map_err(|_| ConsoleError::Internal)?;
                Some(c.admin.update_keypair(&principal, &client_id, patch, now)?)
            }
            Action::RevokeTokens => {
                c.admin
                    .revoke_tokens(&principal, &client_id, RevokeTokensInput {}, now)?;
                None
            }
            Action::Delete => {
                c.admin.delete_keypair(&principal, &client_id, now)?;
                None
            }
        };
        let grantable = c.admin.grantable_scopes(&principal);
        let keys_href = owner.keys_href();
        Ok((owner, after.map(|k| row(&k, now, &grantable, &keys_href))))
    })
    .await;
    let (owner, after) = match done {
        Ok(done) => done,
        Err(e) => return Ok(e.response(Some(me.nav()))),
    };
    tracing::info!(client_id = %id, action = verb.as_str(), user_id = %me.user.id.as_str(), "API key changed in the console");
    let htmx = req.headers().contains_key("hx-request");
    match after {
        Some(row) if htmx => {
            let html = render(&KeyRowFragment {
                row,
                csrf_token: me.csrf_token(),
            })?;
            Ok(HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .body(html))
        }
        _ => {
            let mut resp = see_other(&owner.keys_href());
            resp.headers_mut()
                .insert(header::VARY, header::HeaderValue::from_static("HX-Request"));
            Ok(resp)
        }
    }
}
