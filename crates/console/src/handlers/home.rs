//! The home page (what the person administers, as links named after each object) and
//! simple read-only pages of an account and an environment. What is listed is what
//! admin-api's operations show the person's principal: nothing is decided here.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use admin_api::access::Reach;
use admin_api::{AdminApi, AdminError, Principal, RoleBinding};
use keypair_store::{AccountId, EnvironmentId, Page, PageRequest, MAX_PAGE_LIMIT};

use super::page;
use crate::error::ConsoleError;
use crate::pages::{
    render, AccountEntry, AccountPage, EnvironmentEntry, EnvironmentPage, HomePage, Link,
};
use crate::session::SignedIn;
use crate::{blocking, Console};

/// Most objects of one kind listed on one page; the rest come with the listing
/// screens of a later version.
const MAX_LISTED: usize = 1000;

/// Every page of a listing, up to [`MAX_LISTED`] items.
fn all<T>(
    mut fetch: impl FnMut(&PageRequest) -> Result<Page<T>, AdminError>,
) -> Result<Vec<T>, AdminError> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let request = PageRequest::new(Some(MAX_PAGE_LIMIT), cursor.as_deref())?;
        let page = fetch(&request)?;
        items.extend(page.items);
        match page.next_cursor {
            Some(next) if items.len() < MAX_LISTED => cursor = Some(next),
            _ => break,
        }
    }
    items.truncate(MAX_LISTED);
    Ok(items)
}

fn account_link(id: &AccountId, name: &str) -> Link {
    Link {
        name: name.to_owned(),
        href: format!("{}/accounts/{}", crate::BASE_PATH, id.as_str()),
    }
}

fn environment_link(id: &EnvironmentId, name: &str) -> Link {
    Link {
        name: name.to_owned(),
        href: format!("{}/environments/{}", crate::BASE_PATH, id.as_str()),
    }
}

/// An object bound to the person but gone (closed since): left out, not an error.
fn present<T>(r: Result<T, AdminError>) -> Result<Option<T>, AdminError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(AdminError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What the principal reaches: operators every account; account administrators their
/// accounts with their environments; environment administrators their environments
/// (unless listed under an account already).
fn reach(admin: &AdminApi, me: &Principal) -> Result<(Vec<AccountEntry>, Vec<Link>), AdminError> {
    if me.bindings().contains(&RoleBinding::Operator) {
        let accounts = all(|p| admin.list_accounts(me, p))?;
        let entries = accounts
            .iter()
            .map(|a| AccountEntry {
                link: account_link(&a.id, &a.name),
                environments: Vec::new(),
            })
            .collect();
        return Ok((entries, Vec::new()));
    }
    let mut accounts = Vec::new();
    let mut listed: Vec<AccountId> = Vec::new();
    for b in me.bindings() {
        if let RoleBinding::AccountAdmin(id) = b {
            let Some(account) = present(admin.get_account(me, id))? else {
                continue;
            };
            let envs = all(|p| admin.list_environments(me, id, p))?;
            accounts.push(AccountEntry {
                link: account_link(&account.id, &account.name),
                environments: envs
                    .iter()
                    .map(|e| environment_link(&e.id, &e.name))
                    .collect(),
            });
            listed.push(account.id);
        }
    }
    let mut environments = Vec::new();
    for b in me.bindings() {
        if let RoleBinding::EnvironmentAdmin {
            account_id,
            environment_id,
        } = b
        {
            if listed.contains(account_id) {
                continue;
            }
            if let Some(env) = present(admin.get_environment(me, environment_id))? {
                environments.push(environment_link(&env.id, &env.name));
            }
        }
    }
    Ok((accounts, environments))
}

/// The home page; `name`/`name_error`: the `Create account` dialog come back with
/// an error.
pub(super) async fn home_page(
    console: &web::Data<Console>,
    me: &SignedIn,
    name: String,
    name_error: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, ConsoleError> {
    let c = console.clone();
    let principal = me.principal.clone();
    let (accounts, environments) = blocking(move || Ok(reach(&c.admin, &principal)?)).await?;
    let html = render(&HomePage {
        nav: Some(me.nav()),
        csrf_token: me.csrf_token(),
        may_create_accounts: me.principal.may_create_accounts(),
        name,
        name_error,
        accounts,
        environments,
    })?;
    Ok(super::page_with(status, html))
}

/// `GET /console`.
pub(crate) async fn home(
    req: HttpRequest,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let me = Console::signed_in(&console, &req).await?;
    home_page(&console, &me, String::new(), None, StatusCode::OK).await
}

/// An account's page; `typed_name`/`name_error`: the `Create environment` dialog
/// come back with an error. Out of reach: the 404 page.
pub(super) async fn account_page(
    console: &web::Data<Console>,
    me: &SignedIn,
    id: AccountId,
    typed_name: String,
    name_error: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, ConsoleError> {
    let c = console.clone();
    let principal = me.principal.clone();
    let found = blocking(move || {
        let account = c.admin.get_account(&principal, &id)?;
        let envs = all(|p| c.admin.list_environments(&principal, &id, p))?;
        Ok((account, envs))
    })
    .await;
    let (account, envs) = match found {
        Ok(found) => found,
        Err(e) => return Ok(e.response(Some(me.nav()))),
    };
    let html = render(&AccountPage {
        nav: Some(me.nav()),
        csrf_token: me.csrf_token(),
        manage_environments: me.principal.account_children(&account.id) == Reach::Manage,
        manage_account: me.principal.account(&account.id) == Reach::Manage,
        id: account.id.as_str().to_owned(),
        name: account.name,
        environments: envs
            .iter()
            .map(|e| EnvironmentEntry {
                id: e.id.as_str().to_owned(),
                link: environment_link(&e.id, &e.name),
            })
            .collect(),
        typed_name,
        name_error,
    })?;
    Ok(super::page_with(status, html))
}

/// `GET /console/accounts/{account_id}`: 404 out of reach.
pub(crate) async fn account(
    req: HttpRequest,
    console: web::Data<Console>,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let me = Console::signed_in(&console, &req).await?;
    let Ok(id) = AccountId::parse(&path) else {
        return Ok(ConsoleError::NotFound.response(Some(me.nav())));
    };
    account_page(&console, &me, id, String::new(), None, StatusCode::OK).await
}

/// `GET /console/environments/{environment_id}`: 404 out of reach.
pub(crate) async fn environment(
    req: HttpRequest,
    console: web::Data<Console>,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let me = Console::signed_in(&console, &req).await?;
    let Ok(id) = EnvironmentId::parse(&path) else {
        return Ok(ConsoleError::NotFound.response(Some(me.nav())));
    };
    let c = console.clone();
    let principal = me.principal.clone();
    let env = match blocking(move || Ok(c.admin.get_environment(&principal, &id)?)).await {
        Ok(env) => env,
        Err(e) => return Ok(e.response(Some(me.nav()))),
    };
    Ok(page(render(&EnvironmentPage {
        nav: Some(me.nav()),
        id: env.id.as_str().to_owned(),
        name: env.name,
    })?))
}
