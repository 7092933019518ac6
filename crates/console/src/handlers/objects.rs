//! Creating and closing accounts (operators) and environments (account
//! administrators), from the home and account pages. Closing is confirmed in a dialog
//! that names what goes; admin-api's operations decide who may.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use admin_api::ops::NameInput;
use keypair_store::{AccountId, EnvironmentId};

use super::home::{account_page, home_page};
use super::keep_bad_request;
use super::object::Object;
use super::signed_form;
use crate::error::ConsoleError;
use crate::{blocking, see_other, Console, BASE_PATH};

/// `POST /console/accounts`: `name`; then the new account's page.
pub(crate) async fn create_account(
    req: HttpRequest,
    payload: web::Payload,
    console: web::Data<Console>,
) -> Result<HttpResponse, ConsoleError> {
    let (me, form) = signed_form(&req, payload, &console).await?;
    let name = form.get("name").to_owned();
    let c = console.clone();
    let principal = me.principal.clone();
    let typed = name.clone();
    let made = blocking(move || {
        let input = NameInput { name: typed };
        keep_bad_request(c.admin.create_account(&principal, input, c.clock.now()))
    })
    .await;
    match made {
        Ok(Ok(account)) => Ok(see_other(&Object::Account(account.id).href())),
        Ok(Err((_, message))) => {
            home_page(&console, &me, name, Some(message), StatusCode::BAD_REQUEST).await
        }
        Err(e) => Ok(e.response(Some(me.nav()))),
    }
}

/// `POST /console/accounts/{account_id}/close`: then home.
pub(crate) async fn close_account(
    req: HttpRequest,
    payload: web::Payload,
    console: web::Data<Console>,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let (me, _) = signed_form(&req, payload, &console).await?;
    let Ok(id) = AccountId::parse(&path) else {
        return Ok(ConsoleError::NotFound.response(Some(me.nav())));
    };
    let c = console.clone();
    let principal = me.principal.clone();
    let done = blocking(move || Ok(c.admin.close_account(&principal, &id, c.clock.now())?)).await;
    match done {
        Ok(()) => Ok(see_other(BASE_PATH)),
        Err(e) => Ok(e.response(Some(me.nav()))),
    }
}

/// `POST /console/accounts/{account_id}/environments`: `name`; then the account's page.
pub(crate) async fn create_environment(
    req: HttpRequest,
    payload: web::Payload,
    console: web::Data<Console>,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let (me, form) = signed_form(&req, payload, &console).await?;
    let Ok(id) = AccountId::parse(&path) else {
        return Ok(ConsoleError::NotFound.response(Some(me.nav())));
    };
    let name = form.get("name").to_owned();
    let c = console.clone();
    let principal = me.principal.clone();
    let typed = name.clone();
    let account = id.clone();
    let made = blocking(move || {
        let input = NameInput { name: typed };
        keep_bad_request(
            c.admin
                .create_environment(&principal, &account, input, c.clock.now()),
        )
    })
    .await;
    match made {
        Ok(Ok(_)) => Ok(see_other(&Object::Account(id).href())),
        Ok(Err((_, message))) => {
            account_page(
                &console,
                &me,
                id,
                name,
                Some(message),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => Ok(e.response(Some(me.nav()))),
    }
}

/// `POST /console/environments/{environment_id}/close`: then its account's page.
pub(crate) async fn close_environment(
    req: HttpRequest,
    payload: web::Payload,
    console: web::Data<Console>,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let (me, _) = signed_form(&req, payload, &console).await?;
    let Ok(id) = EnvironmentId::parse(&path) else {
        return Ok(ConsoleError::NotFound.response(Some(me.nav())));
    };
    let c = console.clone();
    let principal = me.principal.clone();
    let done = blocking(move || {
        let env = c.admin.get_environment(&principal, &id)?;
        c.admin.close_environment(&principal, &id, c.clock.now())?;
        Ok(env.account_id)
    })
    .await;
    match done {
        Ok(account) => Ok(see_other(&Object::Account(account).href())),
        Err(e) => Ok(e.response(Some(me.nav()))),
    }
}
