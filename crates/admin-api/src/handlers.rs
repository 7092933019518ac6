//! Thin handlers: extract (caller first, so unauthenticated requests get 401 before
//! anything else), take `now` from the API's clock, call one operation off the async
//! workers, map the result.

use actix_web::{web, HttpRequest, HttpResponse};
use keypair_store::{AccountId, ClientId, EnvironmentId};

use crate::auth::Caller;
use crate::body::{page_request, JsonBody, OptionalJsonBody};
use crate::ops::{
    Administered, AdministratorId, InviteInput, KeypairPatchInput, NameInput, NewKeypairInput,
    RevokeTokensInput, RotationInput,
};
use crate::views::{
    AccountView, AdministratorView, AuditView, CreatedKeypair, EnvironmentView, InvitationCreated,
    KeypairView, ListView, RotatedSecret,
};
use crate::{AdminApi, AdminError};

type Api = web::Data<AdminApi>;
type Reply = Result<HttpResponse, AdminError>;

/// Runs a blocking operation on actix's thread pool.
async fn run<T, F>(api: Api, f: F) -> Result<T, AdminError>
where
    F: FnOnce(&AdminApi) -> Result<T, AdminError> + Send + 'static,
    T: Send + 'static,
{
    web::block(move || f(&api))
        .await
        .map_err(|_| AdminError::Internal)?
}

fn account_id(path: &str) -> Result<AccountId, AdminError> {
    Ok(AccountId::parse(path)?)
}

fn environment_id(path: &str) -> Result<EnvironmentId, AdminError> {
    Ok(EnvironmentId::parse(path)?)
}

fn client_id(path: &str) -> Result<ClientId, AdminError> {
    Ok(ClientId::parse(path)?)
}

pub async fn create_account(caller: Caller, api: Api, body: JsonBody<NameInput>) -> Reply {
    let now = api.clock.now();
    let account = run(api, move |a| a.create_account(&caller.0, body.0, now)).await?;
    Ok(HttpResponse::Created().json(AccountView::from(&account)))
}

pub async fn list_accounts(caller: Caller, api: Api, req: HttpRequest) -> Reply {
    let page = page_request(req.query_string())?;
    let list = run(api, move |a| a.list_accounts(&caller.0, &page)).await?;
    Ok(HttpResponse::Ok().json(ListView::of(&list, |a| AccountView::from(a))))
}

pub async fn get_account(caller: Caller, api: Api, path: web::Path<String>) -> Reply {
    let id = account_id(&path)?;
    let account = run(api, move |a| a.get_account(&caller.0, &id)).await?;
    Ok(HttpResponse::Ok().json(AccountView::from(&account)))
}

pub async fn close_account(caller: Caller, api: Api, path: web::Path<String>) -> Reply {
    let id = account_id(&path)?;
    let now = api.clock.now();
    run(api, move |a| a.close_account(&caller.0, &id, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn create_environment(
    caller: Caller,
    api: Api,
    path: web::Path<String>,
    body: JsonBody<NameInput>,
) -> Reply {
    let id = account_id(&path)?;
    let now = api.clock.now();
    let env = run(api, move |a| {
        a.create_environment(&caller.0, &id, body.0, now)
    })
    .await?;
    Ok(HttpResponse::Created().json(EnvironmentView::from(&env)))
}

pub async fn list_environments(
    caller: Caller,
    api: Api,
    path: web::Path<String>,
    req: HttpRequest,
) -> Reply {
    let id = account_id(&path)?;
    let page = page_request(req.query_string())?;
    let list = run(api, move |a| a.list_environments(&caller.0, &id, &page)).await?;
    Ok(HttpResponse::Ok().json(ListView::of(&list, |e| EnvironmentView::from(e))))
}

pub async fn get_environment(caller: Caller, api: Api, path: web::Path<String>) -> Reply {
    let id = environment_id(&path)?;
    let env = run(api, move |a| a.get_environment(&caller.0, &id)).await?;
    Ok(HttpResponse::Ok().json(EnvironmentView::from(&env)))
}

pub async fn close_environment(caller: Caller, api: Api, path: web::Path<String>) -> Reply {
    let id = environment_id(&path)?;
    let now = api.clock.now();
    run(api, move |a| a.close_environment(&caller.0, &id, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn create_account_keypair(
    caller: Caller,
    api: Api,
    path: web::Path<String>,
    body: JsonBody<NewKeypairInput>,
) -> Reply {
    let id = account_id(&path)?;
    let now = api.clock.now();
    let (kp, secret) = run(api, move |a| {
        a.create_account_keypair(&caller.0, &id, body.0, now)
    })
    .await?;
    Ok(created_keypair(&kp, &secret, now))
}

pub async fn create_environment_keypair(
    caller: Caller,
    api: Api,
    path: web::Path<String>,
    body: JsonBody<NewKeypairInput>,
) -> Reply {
    let id = environment_id(&path)?;
    let now = api.clock.now();
    let (kp, secret) = run(api, move |a| {
        a.create_environment_keypair(&caller.0, &id, body.0, now)
    })
    .await?;
    Ok(created_keypair(&kp, &secret, now))
}

/// A response that carries a secret (or a setup link): never cached.
fn with_secret(body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(body)
}

fn created_keypair(
    kp: &keypair_store::Keypair,
    secret: &keypair_store::ClientSecret,
    now: time::OffsetDateTime,
) -> HttpResponse {
    with_secret(CreatedKeypair::new(kp, secret, now))
}

pub async fn list_account_keypairs(
    caller: Caller,
    api: Api,
    path: web::Path<String>,
    req: HttpRequest,
) -> Reply {
    let id = account_id(&path)?;
    let page = page_request(req.query_string())?;
    let now = api.clock.now();
    let list = run(api, move |a| a.list_account_keypairs(&caller.0, &id, &page)).await?;
    Ok(HttpResponse::Ok().json(ListView::of(&list, |k| KeypairView::new(k, now))))
}

pub async fn list_environment_keypairs(
    caller: Caller,
    api: Api,
    path: web::Path<String>,
    req: HttpRequest,
) -> Reply {
    let id = environment_id(&path)?;
    let page = page_request(req.query_string())?;
    let now = api.clock.now();
    let list = run(api, move |a| {
        a.list_environment_keypairs(&caller.0, &id, &page)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ListView::of(&list, |k| KeypairView::new(k, now))))
}

pub async fn get_keypair(caller: Caller, api: Api, path: web::Path<String>) -> Reply {
    let id = client_id(&path)?;
    let now = api.clock.now();
    let kp = run(api, move |a| a.get_keypair(&caller.0, &id)).await?;
    Ok(HttpResponse::Ok().json(KeypairView::new(&kp, now)))
}

pub async fn update_keypair(
    caller: Caller,
    api: Api,
    path: web::Path<String>,
    body: JsonBody<KeypairPatchInput>,
) -> Reply {
    let id = client_id(&path)?;
    let now = api.clock.now();
    let kp = run(api, move |a| a.update_keypair(&caller.0, &id, body.0, now)).await?;
    Ok(HttpResponse::Ok().json(KeypairView::new(&kp, now)))
}

pub async fn delete_keypair(caller: Caller, api: Api, path: web::Path<String>) -> Reply {
    let id = client_id(&path)?;
    let now = api.clock.now();
    run(api, move |a| a.delete_keypair(&caller.0, &id, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn rotate_secret(
    caller: Caller,
    api: Api,
    path: web::Path<String>,
    body: OptionalJsonBody<RotationInput>,
) -> Reply {
    let id = client_id(&path)?;
    let input = body.0.unwrap_or_default();
    let now = api.clock.now();
    let (kp, secret) = run(api, move |a| a.rotate_secret(&caller.0, &id, input, now)).await?;
    Ok(with_secret(RotatedSecret::new(&kp, &secret, now)))
}

pub async fn end_secret(caller: Caller, api: Api, path: web::Path<(String, String)>) -> Reply {
    let (id, hint) = path.into_inner();
    let id = client_id(&id)?;
    let now = api.clock.now();
    run(api, move |a| a.end_secret(&caller.0, &id, &hint, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn revoke_tokens(
    caller: Caller,
    api: Api,
    path: web::Path<String>,
    body: OptionalJsonBody<RevokeTokensInput>,
) -> Reply {
    let id = client_id(&path)?;
    let input = body.0.unwrap_or_default();
    let now = api.clock.now();
    run(api, move |a| a.revoke_tokens(&caller.0, &id, input, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn list_audit(
    caller: Caller,
    api: Api,
    path: web::Path<String>,
    req: HttpRequest,
) -> Reply {
    let id = account_id(&path)?;
    let page = page_request(req.query_string())?;
    let list = run(api, move |a| a.list_audit(&caller.0, &id, &page)).await?;
    Ok(HttpResponse::Ok().json(ListView::of(&list, |r| AuditView::from(r))))
}

pub async fn list_environment_audit(
    caller: Caller,
    api: Api,
    path: web::Path<String>,
    req: HttpRequest,
) -> Reply {
    let id = environment_id(&path)?;
    let page = page_request(req.query_string())?;
    let list = run(api, move |a| {
        a.list_environment_audit(&caller.0, &id, &page)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ListView::of(&list, |r| AuditView::from(r))))
}

async fn invite_administrator(
    caller: Caller,
    api: Api,
    target: Administered,
    input: InviteInput,
) -> Reply {
    let now = api.clock.now();
    let created = run(api, move |a| {
        a.invite_administrator(&caller.0, &target, input, now)
    })
    .await?;
    Ok(with_secret(InvitationCreated::from(&created)))
}

async fn list_administrators(caller: Caller, api: Api, target: Administered) -> Reply {
    let now = api.clock.now();
    let list = run(api, move |a| a.list_administrators(&caller.0, &target, now)).await?;
    Ok(HttpResponse::Ok().json(ListView::all(&list, |e| AdministratorView::from(e))))
}

async fn remove_administrator(caller: Caller, api: Api, target: Administered, id: &str) -> Reply {
    let id = AdministratorId::parse(id)?;
    let now = api.clock.now();
    run(api, move |a| {
        a.remove_administrator(&caller.0, &target, &id, now)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn invite_account_administrator(
    caller: Caller,
    api: Api,
    path: web::Path<String>,
    body: JsonBody<InviteInput>,
) -> Reply {
    let target = Administered::Account(account_id(&path)?);
    invite_administrator(caller, api, target, body.0).await
}

pub async fn invite_environment_administrator(
    caller: Caller,
    api: Api,
    path: web::Path<String>,
    body: JsonBody<InviteInput>,
) -> Reply {
    let target = Administered::Environment(environment_id(&path)?);
    invite_administrator(caller, api, target, body.0).await
}

pub async fn list_account_administrators(
    caller: Caller,
    api: Api,
    path: web::Path<String>,
) -> Reply {
    let target = Administered::Account(account_id(&path)?);
    list_administrators(caller, api, target).await
}

pub async fn list_environment_administrators(
    caller: Caller,
    api: Api,
    path: web::Path<String>,
) -> Reply {
    let target = Administered::Environment(environment_id(&path)?);
    list_administrators(caller, api, target).await
}

pub async fn remove_account_administrator(
    caller: Caller,
    api: Api,
    path: web::Path<(String, String)>,
) -> Reply {
    let (owner, id) = path.into_inner();
    let target = Administered::Account(account_id(&owner)?);
    remove_administrator(caller, api, target, &id).await
}

pub async fn remove_environment_administrator(
    caller: Caller,
    api: Api,
    path: web::Path<(String, String)>,
) -> Reply {
    let (owner, id) = path.into_inner();
    let target = Administered::Environment(environment_id(&owner)?);
    remove_administrator(caller, api, target, &id).await
}
