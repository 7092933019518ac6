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
use admin_api::ops::{KeypairPatchInput, NewKeypairInput, RevokeTokensInput};
use admin_api::{AdminApi, AdminError, Principal};
use keypair_store::{
    AccountId, ClientId, EnvironmentId, Keypair, Owner, Page, PageRequest, TokenStatus,
};
use serde_json::json;
use time::OffsetDateTime;

use super::{require_same_origin, require_token};
use crate::csrf::FIELD;
use crate::error::ConsoleError;
use crate::form::Form;
use crate::pages::{minutes, render, KeyForm, KeyRow, KeyRowFragment, KeysPage, NewSecret};
use crate::session::SignedIn;
use crate::{blocking, see_other, Console, BASE_PATH};

/// Keys listed per page.
const KEYS_PER_PAGE: u32 = 50;

/// Whose keys a page shows.
#[derive(Clone, Debug)]
enum KeyOwner {
    Account(AccountId),
    Environment(EnvironmentId),
}

impl KeyOwner {
    fn parse(kind: &str, id: &str) -> Option<KeyOwner> {
        match kind {
            "accounts" => AccountId::parse(id).ok().map(KeyOwner::Account),
            "environments" => EnvironmentId::parse(id).ok().map(KeyOwner::Environment),
            _ => None,
        }
    }

    fn of(owner: &Owner) -> Option<KeyOwner> {
        match owner {
            Owner::Operator => None,
            Owner::Account(a) => Some(KeyOwner::Account(a.clone())),
            Owner::Environment { environment_id, .. } => {
                Some(KeyOwner::Environment(environment_id.clone()))
            }
        }
    }

    /// The owner's page.
    fn href(&self) -> String {
        match self {
            KeyOwner::Account(a) => format!("{BASE_PATH}/accounts/{}", a.as_str()),
            KeyOwner::Environment(e) => format!("{BASE_PATH}/environments/{}", e.as_str()),
        }
    }

    fn keys_href(&self) -> String {
        format!("{}/keys", self.href())
    }

    /// The owner's name (404 out of reach).
    fn name(&self, admin: &AdminApi, me: &Principal) -> Result<String, AdminError> {
        Ok(match self {
            KeyOwner::Account(a) => admin.get_account(me, a)?.name,
            KeyOwner::Environment(e) => admin.get_environment(me, e)?.name,
        })
    }

    fn list(
        &self,
        admin: &AdminApi,
        me: &Principal,
        page: &PageRequest,
    ) -> Result<Page<Keypair>, AdminError> {
        match self {
            KeyOwner::Account(a) => admin.list_account_keypairs(me, a, page),
            KeyOwner::Environment(e) => admin.list_environment_keypairs(me, e, page),
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
            KeyOwner::Account(a) => admin.create_account_keypair(me, a, input, now),
            KeyOwner::Environment(e) => admin.create_environment_keypair(me, e, input, now),
        }
    }
}

/// A key's row as the table shows it.
fn row(k: &Keypair, now: OffsetDateTime) -> KeyRow {
    KeyRow {
        client_id: k.client_id.as_str().to_owned(),
        hint: format!("{}…", k.secret_hint),
        comment: k.comment.clone(),
        scopes: k.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        active: k.enabled,
        created: minutes(k.created_at),
        last_used: k.last_used_at.map_or_else(|| "Never".to_owned(), minutes),
        expires: match k.expires_at {
            None => "Never".to_owned(),
            Some(t) if t <= now => format!("{} (expired)", minutes(t)),
            Some(t) => minutes(t),
        },
        tokens: match k.generation.as_ref().map(|g| g.status) {
            Some(TokenStatus::Valid) => "Valid",
            Some(TokenStatus::Suspended) => "Suspended",
            Some(TokenStatus::Invalid) => "Revoked",
            None => "None yet",
        },
    }
}

/// What the create form sends, parsed for the operation; the form as typed, to show
/// again with an error.
fn new_key_input(form: &Form, scopes: &[String]) -> (serde_json::Value, KeyForm) {
    let chosen: Vec<String> = scopes
        .iter()
        .filter(|s| form.get(&format!("scope:{s}")) == "on")
        .cloned()
        .collect();
    let typed = KeyForm {
        comment: form.get("comment").to_owned(),
        scopes: scopes
            .iter()
            .map(|s| (s.clone(), chosen.contains(s)))
            .collect(),
        expires: form.get("expires_at").trim().to_owned(),
        addresses: form.get("allowed_addresses").to_owned(),
        errors: Vec::new(),
    };
    let addresses = typed.address_entries();
    let mut input = json!({
        "comment": typed.comment,
        "scopes": chosen,
        "allowed_addresses": addresses,
    });
    if !typed.expires.is_empty() {
        // `datetime-local` sends `YYYY-MM-DDTHH:MM`; the form says it is UTC.
        input["expires_at"] = json!(format!("{}:00Z", typed.expires));
    }
    (input, typed)
}

/// The field an operation's 400 names, as the form's field.
fn form_field(field: &str) -> &'static str {
    if field.starts_with("allowed_addresses") {
        "allowed_addresses"
    } else if field.starts_with("scopes") {
        "scopes"
    } else if field.starts_with("expires_at") {
        "expires_at"
    } else if field.starts_with("comment") {
        "comment"
    } else {
        "form"
    }
}

/// `allowed_addresses[3]` → 3: which entry of the list an operation refused.
fn entry_index(field: &str) -> Option<usize> {
    field
        .strip_prefix("allowed_addresses[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

struct Listing {
    name: String,
    rows: Vec<KeyRow>,
    next_cursor: Option<String>,
}

fn listing(
    admin: &AdminApi,
    me: &Principal,
    owner: &KeyOwner,
    cursor: Option<&str>,
    now: OffsetDateTime,
) -> Result<Listing, ConsoleError> {
    let name = owner.name(admin, me)?;
    let request = PageRequest::new(Some(KEYS_PER_PAGE), cursor)
        .map_err(|_| ConsoleError::BadRequest("that page of keys does not exist"))?;
    let page = owner.list(admin, me, &request)?;
    Ok(Listing {
        name,
        rows: page.items.iter().map(|k| row(k, now)).collect(),
        next_cursor: page.next_cursor,
    })
}

fn cursor_of(req: &HttpRequest) -> Option<String> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "cursor")
        .map(|(_, v)| v.into_owned())
}

/// The page, with the create dialog as given and, after a creation, the secret.
async fn keys_page(
    console: &web::Data<Console>,
    me: &SignedIn,
    owner: KeyOwner,
    cursor: Option<String>,
    create: Option<KeyForm>,
    created: Option<NewSecret>,
    status: StatusCode,
) -> Result<HttpResponse, ConsoleError> {
    let c = console.clone();
    let principal = me.principal.clone();
    let lookup = owner.clone();
    let (found, scopes) = blocking(move || {
        let now = c.clock.now();
        let found = listing(&c.admin, &principal, &lookup, cursor.as_deref(), now)?;
        Ok((found, c.admin.grantable_scopes(&principal)))
    })
    .await?;
    let create_open = create.is_some();
    let form = create.unwrap_or_else(|| KeyForm::empty(&scopes));
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
        created,
    })?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// `GET /console/{accounts|environments}/{id}/keys`.
pub(crate) async fn page(
    req: HttpRequest,
    console: web::Data<Console>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let me = Console::signed_in(&console, &req).await?;
    let (kind, id) = path.into_inner();
    let Some(owner) = KeyOwner::parse(&kind, &id) else {
        return Ok(ConsoleError::NotFound.response(Some(me.nav())));
    };
    match keys_page(
        &console,
        &me,
        owner,
        cursor_of(&req),
        None,
        None,
        StatusCode::OK,
    )
    .await
    {
        Ok(page) => Ok(page),
        Err(e) => Ok(e.response(Some(me.nav()))),
    }
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
    require_same_origin(&req, &console)?;
    let form = Form::read(&req, payload).await?;
    let me = Console::signed_in(&console, &req).await?;
    require_token(Some(&me.csrf_token()), form.get(FIELD))?;
    let (kind, id) = path.into_inner();
    let Some(owner) = KeyOwner::parse(&kind, &id) else {
        return Ok(ConsoleError::NotFound.response(Some(me.nav())));
    };
    let c = console.clone();
    let principal = me.principal.clone();
    let target = owner.clone();
    let scopes = c.admin.grantable_scopes(&principal);
    let (input, mut typed) = new_key_input(&form, &scopes);
    let outcome = blocking(move || {
        let input: NewKeypairInput = match serde_json::from_value(input) {
            Ok(i) => i,
            Err(_) => {
                return Ok(Err(AdminError::bad(
                    "expires_at",
                    "must be a date and time such as 2027-01-31 12:00",
                )))
            }
        };
        match target.create(&c.admin, &principal, input, c.clock.now()) {
            Ok(created) => Ok(Ok(created)),
            Err(AdminError::BadRequest { field, message }) => {
                Ok(Err(AdminError::BadRequest { field, message }))
            }
            Err(e) => Err(e.into()),
        }
    })
    .await;
    match outcome {
        Ok(Ok((keypair, secret))) => {
            tracing::info!(client_id = %keypair.client_id, user_id = %me.user.id.as_str(), "API key created in the console");
            let shown = NewSecret {
                client_id: keypair.client_id.as_str().to_owned(),
                secret: secret.expose().to_owned(),
            };
            keys_page(
                &console,
                &me,
                owner,
                None,
                None,
                Some(shown),
                StatusCode::OK,
            )
            .await
        }
        Ok(Err(AdminError::BadRequest { field, message })) => {
            let message = match entry_index(&field) {
                Some(i) => match typed.address_entries().get(i) {
                    Some(entry) => format!("{entry}: {message}"),
                    None => message,
                },
                None => message,
            };
            typed.errors.push((form_field(&field), message));
            keys_page(
                &console,
                &me,
                owner,
                None,
                Some(typed),
                None,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Ok(Err(e)) => Ok(ConsoleError::from(e).response(Some(me.nav()))),
        Err(e) => Ok(e.response(Some(me.nav()))),
    }
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
    require_same_origin(&req, &console)?;
    let form = Form::read(&req, payload).await?;
    let me = Console::signed_in(&console, &req).await?;
    require_token(Some(&me.csrf_token()), form.get(FIELD))?;
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
    let Ok(client_id) = ClientId::parse(&id) else {
        return Ok(ConsoleError::NotFound.response(Some(me.nav())));
    };
    let c = console.clone();
    let principal = me.principal.clone();
    let done = blocking(move || {
        let now = c.clock.now();
        let keypair = c.admin.get_keypair(&principal, &client_id)?;
        let owner = KeyOwner::of(&keypair.owner).ok_or(ConsoleError::NotFound)?;
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
        Ok((owner, after.map(|k| row(&k, now))))
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
