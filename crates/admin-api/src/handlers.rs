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
    AccountView, AdministratorView, AuditView, CreatedKeypair, EnvironmentView, ErrorView,
    InvitationCreated, KeypairView, ListView, RotatedSecret,
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

#[utoipa::path(post, path = "/admin/v1/accounts", tag = "admin", description = "Creates an account (operators).", request_body = NameInput, responses((status = 201, body = AccountView), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 413, body = ErrorView), (status = 415, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
pub async fn create_account(caller: Caller, api: Api, body: JsonBody<NameInput>) -> Reply {
    let now = api.clock.now();
    let account = run(api, move |a| a.create_account(&caller.0, body.0, now)).await?;
    Ok(HttpResponse::Created().json(AccountView::from(&account)))
}

#[utoipa::path(get, path = "/admin/v1/accounts", tag = "admin", description = "The accounts the caller reaches.", params(("limit" = Option<u32>, Query, description = "Items per page (default 50, at most 200)"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")), responses((status = 200, body = ListView<AccountView>), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
pub async fn list_accounts(caller: Caller, api: Api, req: HttpRequest) -> Reply {
    let page = page_request(req.query_string())?;
    let list = run(api, move |a| a.list_accounts(&caller.0, &page)).await?;
    Ok(HttpResponse::Ok().json(ListView::of(&list, |a| AccountView::from(a))))
}

#[utoipa::path(get, path = "/admin/v1/accounts/{account_id}", tag = "admin", description = "An account.", params(("account_id" = String, Path)), responses((status = 200, body = AccountView), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
pub async fn get_account(caller: Caller, api: Api, path: web::Path<String>) -> Reply {
    let id = account_id(&path)?;
    let account = run(api, move |a| a.get_account(&caller.0, &id)).await?;
    Ok(HttpResponse::Ok().json(AccountView::from(&account)))
}

#[utoipa::path(delete, path = "/admin/v1/accounts/{account_id}", tag = "admin", description = "Closes an account: its environments and keypairs are deleted.", params(("account_id" = String, Path)), responses((status = 204, description = "done"), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
pub async fn close_account(caller: Caller, api: Api, path: web::Path<String>) -> Reply {
    let id = account_id(&path)?;
    let now = api.clock.now();
    run(api, move |a| a.close_account(&caller.0, &id, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/admin/v1/accounts/{account_id}/environments", tag = "admin", description = "Creates an environment.", request_body = NameInput, params(("account_id" = String, Path)), responses((status = 201, body = EnvironmentView), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 413, body = ErrorView), (status = 415, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
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

#[utoipa::path(get, path = "/admin/v1/accounts/{account_id}/environments", tag = "admin", description = "An account's environments.", params(("account_id" = String, Path), ("limit" = Option<u32>, Query, description = "Items per page (default 50, at most 200)"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")), responses((status = 200, body = ListView<EnvironmentView>), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
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

#[utoipa::path(get, path = "/admin/v1/environments/{environment_id}", tag = "admin", description = "An environment.", params(("environment_id" = String, Path)), responses((status = 200, body = EnvironmentView), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
pub async fn get_environment(caller: Caller, api: Api, path: web::Path<String>) -> Reply {
    let id = environment_id(&path)?;
    let env = run(api, move |a| a.get_environment(&caller.0, &id)).await?;
    Ok(HttpResponse::Ok().json(EnvironmentView::from(&env)))
}

#[utoipa::path(delete, path = "/admin/v1/environments/{environment_id}", tag = "admin", description = "Closes an environment: its keypairs are deleted.", params(("environment_id" = String, Path)), responses((status = 204, description = "done"), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
pub async fn close_environment(caller: Caller, api: Api, path: web::Path<String>) -> Reply {
    let id = environment_id(&path)?;
    let now = api.clock.now();
    run(api, move |a| a.close_environment(&caller.0, &id, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/admin/v1/accounts/{account_id}/keypairs", tag = "admin", description = "Creates an account keypair; the only answer with its secret.", request_body = NewKeypairInput, params(("account_id" = String, Path)), responses((status = 201, body = CreatedKeypair), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 413, body = ErrorView), (status = 415, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
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

#[utoipa::path(post, path = "/admin/v1/environments/{environment_id}/keypairs", tag = "admin", description = "Creates an environment keypair; the only answer with its secret.", request_body = NewKeypairInput, params(("environment_id" = String, Path)), responses((status = 201, body = CreatedKeypair), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 413, body = ErrorView), (status = 415, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
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

#[utoipa::path(get, path = "/admin/v1/accounts/{account_id}/keypairs", tag = "admin", description = "An account's own keypairs.", params(("account_id" = String, Path), ("limit" = Option<u32>, Query, description = "Items per page (default 50, at most 200)"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")), responses((status = 200, body = ListView<KeypairView>), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
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

#[utoipa::path(get, path = "/admin/v1/environments/{environment_id}/keypairs", tag = "admin", description = "An environment's keypairs.", params(("environment_id" = String, Path), ("limit" = Option<u32>, Query, description = "Items per page (default 50, at most 200)"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")), responses((status = 200, body = ListView<KeypairView>), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
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

#[utoipa::path(get, path = "/admin/v1/keypairs/{client_id}", tag = "admin", description = "A keypair, never its secret.", params(("client_id" = String, Path)), responses((status = 200, body = KeypairView), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
pub async fn get_keypair(caller: Caller, api: Api, path: web::Path<String>) -> Reply {
    let id = client_id(&path)?;
    let now = api.clock.now();
    let kp = run(api, move |a| a.get_keypair(&caller.0, &id)).await?;
    Ok(HttpResponse::Ok().json(KeypairView::new(&kp, now)))
}

#[utoipa::path(patch, path = "/admin/v1/keypairs/{client_id}", tag = "admin", description = "Changes a keypair; absent fields stay.", request_body = KeypairPatchInput, params(("client_id" = String, Path)), responses((status = 200, body = KeypairView), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 413, body = ErrorView), (status = 415, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
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

#[utoipa::path(delete, path = "/admin/v1/keypairs/{client_id}", tag = "admin", description = "Deletes a keypair; its tokens stop working.", params(("client_id" = String, Path)), responses((status = 204, description = "done"), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
pub async fn delete_keypair(caller: Caller, api: Api, path: web::Path<String>) -> Reply {
    let id = client_id(&path)?;
    let now = api.clock.now();
    run(api, move |a| a.delete_keypair(&caller.0, &id, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/admin/v1/keypairs/{client_id}/secrets", tag = "admin", description = "A new secret, shown once; the live ones keep working for the overlap.", request_body = RotationInput, params(("client_id" = String, Path)), responses((status = 201, body = RotatedSecret), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 413, body = ErrorView), (status = 415, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
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

#[utoipa::path(delete, path = "/admin/v1/keypairs/{client_id}/secrets/{secret_hint}", tag = "admin", description = "Ends one live secret at once.", params(("client_id" = String, Path), ("secret_hint" = String, Path)), responses((status = 204, description = "done"), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
pub async fn end_secret(caller: Caller, api: Api, path: web::Path<(String, String)>) -> Reply {
    let (id, hint) = path.into_inner();
    let id = client_id(&id)?;
    let now = api.clock.now();
    run(api, move |a| a.end_secret(&caller.0, &id, &hint, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/admin/v1/keypairs/{client_id}/revoke-tokens", tag = "admin", description = "Every token issued to the keypair so far is refused from now on.", request_body = RevokeTokensInput, params(("client_id" = String, Path)), responses((status = 204, description = "done"), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 413, body = ErrorView), (status = 415, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
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

#[utoipa::path(get, path = "/admin/v1/accounts/{account_id}/audit", tag = "admin", description = "An account's audit records, newest first.", params(("account_id" = String, Path), ("limit" = Option<u32>, Query, description = "Items per page (default 50, at most 200)"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")), responses((status = 200, body = ListView<AuditView>), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
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

#[utoipa::path(get, path = "/admin/v1/environments/{environment_id}/audit", tag = "admin", description = "An environment's audit records, newest first.", params(("environment_id" = String, Path), ("limit" = Option<u32>, Query, description = "Items per page (default 50, at most 200)"), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")), responses((status = 200, body = ListView<AuditView>), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
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

#[utoipa::path(post, path = "/admin/v1/accounts/{account_id}/administrators", tag = "admin", description = "Invites an email to administer the account; the setup link is shown only here.", request_body = InviteInput, params(("account_id" = String, Path)), responses((status = 201, body = InvitationCreated), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 413, body = ErrorView), (status = 415, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
pub async fn invite_account_administrator(
    caller: Caller,
    api: Api,
    path: web::Path<String>,
    body: JsonBody<InviteInput>,
) -> Reply {
    let target = Administered::Account(account_id(&path)?);
    invite_administrator(caller, api, target, body.0).await
}

#[utoipa::path(post, path = "/admin/v1/environments/{environment_id}/administrators", tag = "admin", description = "Invites an email to administer the environment; the setup link is shown only here.", request_body = InviteInput, params(("environment_id" = String, Path)), responses((status = 201, body = InvitationCreated), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 413, body = ErrorView), (status = 415, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
pub async fn invite_environment_administrator(
    caller: Caller,
    api: Api,
    path: web::Path<String>,
    body: JsonBody<InviteInput>,
) -> Reply {
    let target = Administered::Environment(environment_id(&path)?);
    invite_administrator(caller, api, target, body.0).await
}

#[utoipa::path(get, path = "/admin/v1/accounts/{account_id}/administrators", tag = "admin", description = "The account's administrators and pending invitations.", params(("account_id" = String, Path)), responses((status = 200, body = ListView<AdministratorView>), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
pub async fn list_account_administrators(
    caller: Caller,
    api: Api,
    path: web::Path<String>,
) -> Reply {
    let target = Administered::Account(account_id(&path)?);
    list_administrators(caller, api, target).await
}

#[utoipa::path(get, path = "/admin/v1/environments/{environment_id}/administrators", tag = "admin", description = "The environment's administrators and pending invitations.", params(("environment_id" = String, Path)), responses((status = 200, body = ListView<AdministratorView>), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
pub async fn list_environment_administrators(
    caller: Caller,
    api: Api,
    path: web::Path<String>,
) -> Reply {
    let target = Administered::Environment(environment_id(&path)?);
    list_administrators(caller, api, target).await
}

#[utoipa::path(delete, path = "/admin/v1/accounts/{account_id}/administrators/{id}", tag = "admin", description = "Removes a person (usr_…) from the account, or withdraws an invitation (inv_…).", params(("account_id" = String, Path), ("id" = String, Path)), responses((status = 204, description = "done"), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
pub async fn remove_account_administrator(
    caller: Caller,
    api: Api,
    path: web::Path<(String, String)>,
) -> Reply {
    let (owner, id) = path.into_inner();
    let target = Administered::Account(account_id(&owner)?);
    remove_administrator(caller, api, target, &id).await
}

#[utoipa::path(delete, path = "/admin/v1/environments/{environment_id}/administrators/{id}", tag = "admin", description = "Removes a person (usr_…) from the environment, or withdraws an invitation (inv_…).", params(("environment_id" = String, Path), ("id" = String, Path)), responses((status = 204, description = "done"), (status = 400, body = ErrorView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 503, body = ErrorView)), security(("bearer" = [])))]
pub async fn remove_environment_administrator(
    caller: Caller,
    api: Api,
    path: web::Path<(String, String)>,
) -> Reply {
    let (owner, id) = path.into_inner();
    let target = Administered::Environment(environment_id(&owner)?);
    remove_administrator(caller, api, target, &id).await
}

/// The admin API's OpenAPI 3.1 document, generated from the handlers above and the
/// views they answer with.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    info(title = "Keygate admin API", description = "Accounts, environments, API keypairs, administrators and audit. Every route takes a bearer token (RFC 6750) whose scope includes keygate:admin or keygate:operator. See docs/admin-api.md."),
    paths(
        create_account, list_accounts, get_account, close_account,
        create_environment, list_environments, get_environment, close_environment,
        create_account_keypair, create_environment_keypair, list_account_keypairs,
        list_environment_keypairs, get_keypair, update_keypair, delete_keypair,
        rotate_secret, end_secret, revoke_tokens, list_audit, list_environment_audit,
        invite_account_administrator, invite_environment_administrator,
        list_account_administrators, list_environment_administrators,
        remove_account_administrator, remove_environment_administrator
    ),
    modifiers(&BearerScheme)
)]
pub struct ApiDoc;

/// The `bearer` security scheme every path names.
#[derive(Debug)]
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// `GET /admin/v1/openapi.json`: the document (no token needed: it describes, it
/// reveals nothing).
pub async fn openapi() -> HttpResponse {
    use utoipa::OpenApi as _;
    match ApiDoc::openapi().to_json() {
        Ok(json) => HttpResponse::Ok()
            .content_type("application/json")
            .body(json),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}
