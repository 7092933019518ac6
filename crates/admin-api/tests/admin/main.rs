//! The admin API over HTTP against a real store (SQLite, and PostgreSQL when
//! `KEYGATE_TEST_POSTGRES_URL` is set), with tokens minted by the real token endpoint
//! and validated by the real resource-guard.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod administrators;
mod client;
mod lifecycle;
mod matrix;
mod openapi;
mod people_matrix;
mod scenarios;
mod status;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use clock::Clock;
use keypair_store::testing::TestDb;
use keypair_store::{Actor, ClientSecret, Keypair, NewKeypair, Owner, ScopeCatalogue, Store};
use serde_json::Value;
use time::OffsetDateTime;
use token_endpoint::{Kek, KeySettings, Keys, RawRequest, SigningAlgorithm, TokenRequest};

pub const ISSUER: &str = "http://keygate.test";

/// A new person accepting an invitation with a password (any valid one: these tests
/// never sign in, they only need the person to exist with credentials).
pub fn new_person(store: &Store, name: &str) -> keypair_store::Acceptor {
    let password = keypair_store::Password::new("correct horse battery staple").unwrap();
    keypair_store::Acceptor::NewUser {
        name: name.into(),
        credential: keypair_store::NewCredential::Password(store.hash_password(&password).unwrap()),
    }
}

pub fn catalogue() -> ScopeCatalogue {
    ScopeCatalogue::new([
        ("feedback:read", "feedback-api"),
        ("feedback:write", "feedback-api"),
        ("keygate:admin", ISSUER),
        ("keygate:operator", ISSUER),
        ("keygate:introspect", ISSUER),
    ])
    .unwrap()
}

/// Everything an admin API test needs, wired by keygate's app factory as the binary
/// wires it.
#[derive(Debug)]
pub struct Env {
    pub db: TestDb,
    pub keygate: keygate::Keygate,
}

impl Env {
    pub fn new(db: TestDb) -> Env {
        Env::with_clock(db, Clock::system())
    }

    /// An environment whose services take the time from `clock`.
    pub fn with_clock(db: TestDb, clock: Clock) -> Env {
        let config = keygate::config::Config::load(
            None,
            [
                ("KEYGATE_ISSUER", ISSUER),
                (
                    "KEYGATE_SCOPES_CATALOGUE",
                    "feedback:read=feedback-api feedback:write=feedback-api",
                ),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        )
        .unwrap();
        let kek = Kek::from_base64(&STANDARD.encode([42u8; 32])).unwrap();
        let keys = Arc::new(
            Keys::load_or_create(
                db.store.clone(),
                kek,
                KeySettings {
                    algorithm: SigningAlgorithm::EdDSA,
                    max_token_lifetime: time::Duration::days(1),
                    publish_lead: time::Duration::ZERO,
                },
                clock.now(),
            )
            .unwrap(),
        );
        let keygate = keygate::Keygate::new(&config, db.store.clone(), keys, clock);
        Env { db, keygate }
    }

    pub fn store(&self) -> &Store {
        &self.db.store
    }

    /// The clock the services take the time from.
    pub fn clock(&self) -> &Clock {
        self.keygate.clock()
    }

    /// A token for the keypair, as `/token` would issue it at `now`.
    pub fn mint_at(
        &self,
        id: &str,
        secret: &ClientSecret,
        extra: &str,
        now: OffsetDateTime,
    ) -> String {
        let auth = format!(
            "Basic {}",
            STANDARD.encode(format!("{id}:{}", secret.expose()))
        );
        let body = format!("grant_type=client_credentials{extra}");
        let req = TokenRequest::parse(RawRequest {
            content_type: Some("application/x-www-form-urlencoded"),
            authorization: Some(&auth),
            body: body.as_bytes(),
        })
        .unwrap();
        self.keygate.tokens().issue(&req, now).unwrap().access_token
    }

    pub fn mint(&self, id: &str, secret: &ClientSecret) -> String {
        self.mint_at(id, secret, "", self.clock().now())
    }

    /// `token` with its claims changed by `edit` and signed again with the current
    /// signing key: a token this keygate could have issued, with any claims.
    pub fn resign(&self, token: &str, edit: impl FnOnce(&mut Value)) -> String {
        let payload = token.split('.').nth(1).unwrap();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        edit(&mut claims);
        let ring = self.keygate.keys().ring();
        let key = ring.signer(self.clock().now());
        let input = format!(
            "{}.{}",
            key.header_b64(),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = key.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

macro_rules! admin_app {
    ($env:expr) => {
        actix_web::test::init_service($env.keygate.app()).await
    };
}
pub(crate) use admin_app;

pub fn keypair(
    store: &Store,
    owner: Owner,
    scopes: &[&str],
    now: OffsetDateTime,
) -> (Keypair, ClientSecret) {
    let scopes = catalogue().validate_for_keypair(scopes).unwrap();
    store
        .create_keypair(
            &Actor::system("test"),
            NewKeypair {
                owner,
                scopes,
                comment: "test".into(),
                enabled: true,
                token_lifetime_seconds: None,
                expires_at: None,
                allowed_addresses: keypair_store::AddressList::any(),
            },
            now,
        )
        .unwrap()
}

/// A response, read completely.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub async fn send<S, B>(app: &S, req: test::TestRequest) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let resp = test::call_service(app, req.to_request()).await;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = resp.into_body().try_into_bytes().unwrap_or_default();
    Reply {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        headers,
    }
}

/// A JSON request with a bearer token.
pub fn call(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> test::TestRequest {
    let method =
        actix_web::http::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
    let mut req = test::TestRequest::default().method(method).uri(path);
    if let Some(t) = token {
        req = req.insert_header(("authorization", format!("Bearer {t}")));
    }
    if let Some(b) = body {
        req = req
            .insert_header(("content-type", "application/json"))
            .set_payload(b.to_string());
    }
    req
}
