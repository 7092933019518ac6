//! A typed client for the admin API: one method per route, request types that
//! serialize to the documented JSON and response types deserialized from the answers.
//!
//! The response types refuse unknown fields, so a view that grew a field (a digest, a
//! secret where none belongs) fails the test that reads it. Every method answers
//! `Err(ApiError)` for any status but the route's success status; [`AdminClient::raw`]
//! and [`AdminClient::raw_body`] send anything else. Every reply is kept, so a test can
//! scan all the bodies it received.

use std::cell::RefCell;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keypair_store::Actor;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::{call, send, Env, Reply};

/// An operator keypair and a fresh admin-API token for it.
#[derive(Debug)]
pub struct Operator {
    pub client_id: String,
    pub token: String,
}

/// Creates an operator keypair (as `keygate bootstrap` does) and mints its token.
pub fn operator(env: &Env) -> Operator {
    let (op, secret) = env
        .store()
        .create_operator_keypair(&Actor::system("test"), "op", env.clock().now())
        .unwrap();
    Operator {
        token: env.mint(op.client_id.as_str(), &secret),
        client_id: op.client_id.to_string(),
    }
}

/// `GET /accounts/{id}` and friends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

/// An environment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub created_at: String,
}

/// A keypair's owner: `environment_id` is absent for account keypairs (never `null`).
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Owner {
    pub account_id: String,
    #[serde(default, deserialize_with = "present")]
    pub environment_id: Option<String>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    String::deserialize(d).map(Some)
}

impl Owner {
    pub fn account(account_id: &str) -> Owner {
        Owner {
            account_id: account_id.to_owned(),
            environment_id: None,
        }
    }

    pub fn environment(account_id: &str, environment_id: &str) -> Owner {
        Owner {
            account_id: account_id.to_owned(),
            environment_id: Some(environment_id.to_owned()),
        }
    }
}

/// A keypair as every response but creation shows it: no secret, no digest.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Keypair {
    pub client_id: String,
    pub owner: Option<Owner>,
    pub scopes: Vec<String>,
    pub comment: String,
    pub enabled: bool,
    pub secret_hint: String,
    pub secrets: Vec<Secret>,
    pub expires_at: Option<String>,
    pub allowed_addresses: Vec<String>,
    pub token_lifetime_seconds: Option<u32>,
    pub created_at: String,
    pub updated_at: String,
    pub last_used_at: Option<String>,
}

/// One live secret of a keypair, as views list it: never the secret.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    pub hint: String,
    pub created_at: String,
    pub expires_at: Option<String>,
}

/// The answer to a rotation: the new secret, this once.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotated {
    pub client_secret: String,
    pub secret_hint: String,
    pub secrets: Vec<Secret>,
}

/// The answer to creating a keypair: the keypair and, this once, its secret.
#[derive(Debug)]
pub struct CreatedKeypair {
    pub keypair: Keypair,
    pub client_secret: String,
}

impl CreatedKeypair {
    pub fn client_id(&self) -> &str {
        &self.keypair.client_id
    }
}

impl<'de> Deserialize<'de> for CreatedKeypair {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut v = Value::deserialize(d)?;
        let secret = v
            .as_object_mut()
            .and_then(|o| o.remove("client_secret"))
            .ok_or_else(|| D::Error::missing_field("client_secret"))?;
        Ok(CreatedKeypair {
            client_secret: String::deserialize(secret).map_err(D::Error::custom)?,
            keypair: Keypair::deserialize(v).map_err(D::Error::custom)?,
        })
    }
}

/// An audit record.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    pub id: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub at: String,
}

/// The answer to an invite: exactly these fields, whoever the email belongs to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invitation {
    pub invitation_id: String,
    pub email: String,
    pub role: String,
    pub expires_at: String,
    pub setup_url: String,
}

/// One entry of an administrators listing.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AdministratorEntry {
    User {
        user_id: String,
        email: String,
        name: String,
        since: String,
    },
    Invitation {
        invitation_id: String,
        email: String,
        role: String,
        created_at: String,
        expires_at: String,
    },
}

impl AdministratorEntry {
    /// The user or invitation id.
    pub fn id(&self) -> &str {
        match self {
            AdministratorEntry::User { user_id, .. } => user_id,
            AdministratorEntry::Invitation { invitation_id, .. } => invitation_id,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct List<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// `?limit=&cursor=`; the default asks for the first page with the default limit.
#[derive(Debug, Default, Clone)]
pub struct PageQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(limit: u32) -> PageQuery {
        PageQuery {
            limit: Some(limit),
            cursor: None,
        }
    }

    pub fn after(mut self, cursor: Option<String>) -> PageQuery {
        self.cursor = cursor;
        self
    }

    fn query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if let Some(l) = self.limit {
            q.append_pair("limit", &l.to_string());
        }
        if let Some(c) = &self.cursor {
            q.append_pair("cursor", c);
        }
        match q.finish() {
            q if q.is_empty() => q,
            q => format!("?{q}"),
        }
    }
}

/// The body of `POST .../keypairs`; fields left `None` are not sent.
#[derive(Debug, Default, Serialize)]
pub struct NewKeypair {
    pub scopes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_lifetime_seconds: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_addresses: Option<Vec<String>>,
}

impl NewKeypair {
    pub fn scopes(scopes: &[&str]) -> NewKeypair {
        NewKeypair {
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    pub fn comment(mut self, comment: &str) -> NewKeypair {
        self.comment = Some(comment.to_owned());
        self
    }

    pub fn enabled(mut self, enabled: bool) -> NewKeypair {
        self.enabled = Some(enabled);
        self
    }

    pub fn token_lifetime_seconds(mut self, seconds: u32) -> NewKeypair {
        self.token_lifetime_seconds = Some(seconds);
        self
    }

    pub fn expires_at(mut self, at: &str) -> NewKeypair {
        self.expires_at = Some(at.to_owned());
        self
    }

    pub fn allowed_addresses(mut self, entries: &[&str]) -> NewKeypair {
        self.allowed_addresses = Some(entries.iter().map(|s| s.to_string()).collect());
        self
    }
}

/// The body of `PATCH /keypairs/{id}`; fields left `None` are not sent.
#[derive(Debug, Default, Serialize)]
pub struct KeypairChange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// `Some(None)` is sent as `null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_addresses: Option<Vec<String>>,
    /// `Some(None)` is sent as `null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_lifetime_seconds: Option<Option<u32>>,
}

impl KeypairChange {
    pub fn enabled(mut self, enabled: bool) -> KeypairChange {
        self.enabled = Some(enabled);
        self
    }

    pub fn scopes(mut self, scopes: &[&str]) -> KeypairChange {
        self.scopes = Some(scopes.iter().map(|s| s.to_string()).collect());
        self
    }

    pub fn comment(mut self, comment: &str) -> KeypairChange {
        self.comment = Some(comment.to_owned());
        self
    }

    /// A new expiry, or `None` to remove it.
    pub fn expires_at(mut self, at: Option<&str>) -> KeypairChange {
        self.expires_at = Some(at.map(str::to_owned));
        self
    }

    pub fn allowed_addresses(mut self, entries: &[&str]) -> KeypairChange {
        self.allowed_addresses = Some(entries.iter().map(|s| s.to_string()).collect());
        self
    }

    /// A new lifetime, or `None` for the global one again.
    pub fn token_lifetime_seconds(mut self, seconds: Option<u32>) -> KeypairChange {
        self.token_lifetime_seconds = Some(seconds);
        self
    }
}

/// The body of `POST /keypairs/{id}/secrets`.
#[derive(Debug, Serialize)]
pub struct RotateSecret {
    pub previous_secret_expires_in_seconds: u32,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub end_oldest: bool,
}

impl RotateSecret {
    /// A rotation that keeps the secrets live now for `seconds`.
    pub fn overlap(seconds: u32) -> RotateSecret {
        RotateSecret {
            previous_secret_expires_in_seconds: seconds,
            end_oldest: false,
        }
    }

    pub fn end_oldest(mut self) -> RotateSecret {
        self.end_oldest = true;
        self
    }
}

/// An error answer: `{"error","message"}` plus `field` for bad input.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub error: String,
    pub message: String,
    pub field: Option<String>,
}

impl Reply {
    /// This reply as an error answer; panics when the body is not one.
    pub fn error(&self) -> ApiError {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            error: String,
            message: String,
            field: Option<String>,
        }
        let body: Body = serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not an error body ({}): {e}: {}", self.status, self.body));
        ApiError {
            status: self.status,
            error: body.error,
            message: body.message,
            field: body.field,
        }
    }
}

/// The admin API as one caller (a bearer token) sees it.
pub struct AdminClient<'a, S> {
    app: &'a S,
    token: String,
    replies: RefCell<Vec<Reply>>,
}

impl<'a, S, B> AdminClient<'a, S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    pub fn new(app: &'a S, token: impl Into<String>) -> Self {
        AdminClient {
            app,
            token: token.into(),
            replies: RefCell::new(Vec::new()),
        }
    }

    /// Sends a request as is (add the token with [`Self::raw`] or [`Self::raw_body`]).
    pub async fn send(&self, req: TestRequest) -> Reply {
        let reply = send(self.app, req).await;
        self.replies.borrow_mut().push(reply.clone());
        reply
    }

    /// Any method and path, with an optional JSON body, as this caller.
    pub async fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.send(call(method, path, Some(&self.token), body)).await
    }

    /// Any bytes under any content type, as this caller.
    pub async fn raw_body(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) -> Reply {
        let req = call(method, path, Some(&self.token), None)
            .insert_header(("content-type", content_type.to_owned()))
            .set_payload(body.into());
        self.send(req).await
    }

    /// The bodies of every reply so far, in order.
    pub fn bodies(&self) -> Vec<String> {
        self.replies
            .borrow()
            .iter()
            .map(|r| r.body.clone())
            .collect()
    }

    /// The last reply's header `name`.
    pub fn last_header(&self, name: &str) -> Option<String> {
        self.replies
            .borrow()
            .last()
            .and_then(|r| r.header(name).map(str::to_owned))
    }

    /// The last reply's body.
    pub fn last_body(&self) -> String {
        self.replies
            .borrow()
            .last()
            .map(|r| r.body.clone())
            .unwrap_or_default()
    }

    async fn expect<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        status: u16,
    ) -> Result<T, ApiError> {
        let reply = self.raw(method, path, body).await;
        if reply.status != status {
            return Err(reply.error());
        }
        let body = if reply.body.is_empty() {
            "null"
        } else {
            &reply.body
        };
        Ok(serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("{method} {path}: unexpected answer ({e}): {}", reply.body)))
    }

    pub async fn create_account(&self, name: &str) -> Result<Account, ApiError> {
        let body = serde_json::json!({ "name": name });
        self.expect("post", "/admin/v1/accounts", Some(body), 201)
            .await
    }

    pub async fn get_account(&self, id: &str) -> Result<Account, ApiError> {
        self.expect("get", &format!("/admin/v1/accounts/{id}"), None, 200)
            .await
    }

    pub async fn close_account(&self, id: &str) -> Result<(), ApiError> {
        self.expect("delete", &format!("/admin/v1/accounts/{id}"), None, 204)
            .await
    }

    pub async fn create_environment(
        &self,
        account: &str,
        name: &str,
    ) -> Result<Environment, ApiError> {
        let path = format!("/admin/v1/accounts/{account}/environments");
        let body = serde_json::json!({ "name": name });
        self.expect("post", &path, Some(body), 201).await
    }

    pub async fn list_environments(
        &self,
        account: &str,
        page: &PageQuery,
    ) -> Result<List<Environment>, ApiError> {
        let path = format!("/admin/v1/accounts/{account}/environments{}", page.query());
        self.expect("get", &path, None, 200).await
    }

    pub async fn get_environment(&self, id: &str) -> Result<Environment, ApiError> {
        self.expect("get", &format!("/admin/v1/environments/{id}"), None, 200)
            .await
    }

    pub async fn close_environment(&self, id: &str) -> Result<(), ApiError> {
        self.expect("delete", &format!("/admin/v1/environments/{id}"), None, 204)
            .await
    }

    pub async fn create_account_keypair(
        &self,
        account: &str,
        new: &NewKeypair,
    ) -> Result<CreatedKeypair, ApiError> {
        let path = format!("/admin/v1/accounts/{account}/keypairs");
        self.expect("post", &path, Some(to_json(new)), 201).await
    }

    pub async fn create_env_keypair(
        &self,
        env: &str,
        new: &NewKeypair,
    ) -> Result<CreatedKeypair, ApiError> {
        let path = format!("/admin/v1/environments/{env}/keypairs");
        self.expect("post", &path, Some(to_json(new)), 201).await
    }

    pub async fn list_account_keypairs(
        &self,
        account: &str,
        page: &PageQuery,
    ) -> Result<List<Keypair>, ApiError> {
        let path = format!("/admin/v1/accounts/{account}/keypairs{}", page.query());
        self.expect("get", &path, None, 200).await
    }

    pub async fn list_env_keypairs(
        &self,
        env: &str,
        page: &PageQuery,
    ) -> Result<List<Keypair>, ApiError> {
        let path = format!("/admin/v1/environments/{env}/keypairs{}", page.query());
        self.expect("get", &path, None, 200).await
    }

    pub async fn get_keypair(&self, id: &str) -> Result<Keypair, ApiError> {
        self.expect("get", &format!("/admin/v1/keypairs/{id}"), None, 200)
            .await
    }

    pub async fn patch_keypair(
        &self,
        id: &str,
        change: &KeypairChange,
    ) -> Result<Keypair, ApiError> {
        let path = format!("/admin/v1/keypairs/{id}");
        self.expect("patch", &path, Some(to_json(change)), 200)
            .await
    }

    pub async fn delete_keypair(&self, id: &str) -> Result<(), ApiError> {
        self.expect("delete", &format!("/admin/v1/keypairs/{id}"), None, 204)
            .await
    }

    /// `POST /keypairs/{id}/secrets`; the answer must not be cached.
    pub async fn rotate_secret(&self, id: &str, body: &RotateSecret) -> Result<Rotated, ApiError> {
        let path = format!("/admin/v1/keypairs/{id}/secrets");
        let rotated = self.expect("post", &path, Some(to_json(body)), 201).await?;
        assert_eq!(
            self.last_header("cache-control").as_deref(),
            Some("no-store")
        );
        Ok(rotated)
    }

    /// `DELETE /keypairs/{id}/secrets/{hint}`.
    pub async fn end_secret(&self, id: &str, hint: &str) -> Result<(), ApiError> {
        let path = format!("/admin/v1/keypairs/{id}/secrets/{hint}");
        self.expect("delete", &path, None, 204).await
    }

    /// `POST /keypairs/{id}/revoke-tokens` without a body.
    pub async fn revoke_tokens(&self, id: &str) -> Result<(), ApiError> {
        let path = format!("/admin/v1/keypairs/{id}/revoke-tokens");
        self.expect("post", &path, None, 204).await
    }

    pub async fn audit(
        &self,
        account: &str,
        page: &PageQuery,
    ) -> Result<List<AuditRecord>, ApiError> {
        let path = format!("/admin/v1/accounts/{account}/audit{}", page.query());
        self.expect("get", &path, None, 200).await
    }

    pub async fn env_audit(
        &self,
        env: &str,
        page: &PageQuery,
    ) -> Result<List<AuditRecord>, ApiError> {
        let path = format!("/admin/v1/environments/{env}/audit{}", page.query());
        self.expect("get", &path, None, 200).await
    }

    pub async fn list_accounts(&self, page: &PageQuery) -> Result<List<Account>, ApiError> {
        let path = format!("/admin/v1/accounts{}", page.query());
        self.expect("get", &path, None, 200).await
    }

    /// `POST /{owner}/administrators`, `owner` being `accounts/{id}` or
    /// `environments/{id}`; the answer must not be cached.
    pub async fn invite(&self, owner: &str, email: &str) -> Result<Invitation, ApiError> {
        let path = format!("/admin/v1/{owner}/administrators");
        let body = serde_json::json!({ "email": email });
        let invitation = self.expect("post", &path, Some(body), 201).await?;
        assert_eq!(
            self.last_header("cache-control").as_deref(),
            Some("no-store")
        );
        Ok(invitation)
    }

    /// `GET /{owner}/administrators`: the whole list (`next_cursor` is null).
    pub async fn administrators(&self, owner: &str) -> Result<Vec<AdministratorEntry>, ApiError> {
        let path = format!("/admin/v1/{owner}/administrators");
        let list: List<AdministratorEntry> = self.expect("get", &path, None, 200).await?;
        assert_eq!(list.next_cursor, None);
        Ok(list.items)
    }

    /// `DELETE /{owner}/administrators/{id}`.
    pub async fn remove_administrator(&self, owner: &str, id: &str) -> Result<(), ApiError> {
        let path = format!("/admin/v1/{owner}/administrators/{id}");
        self.expect("delete", &path, None, 204).await
    }
}

fn to_json(v: &impl Serialize) -> Value {
    serde_json::to_value(v).unwrap()
}

/// The status `/token` answers for a client-credentials request of this keypair with
/// `extra` appended to the form (e.g. `&scope=feedback:write`).
pub async fn token_status<S, B>(app: &S, keypair: &CreatedKeypair, extra: &str) -> u16
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let credentials = format!("{}:{}", keypair.client_id(), keypair.client_secret);
    let req = TestRequest::post()
        .uri("/token")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .insert_header((
            "authorization",
            format!("Basic {}", STANDARD.encode(credentials)),
        ))
        .set_payload(format!("grant_type=client_credentials{extra}"));
    send(app, req).await.status
}
