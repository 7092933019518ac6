//! `/token`, JWKS and metadata over HTTP against a real store (SQLite, and PostgreSQL
//! when `KEYGATE_TEST_POSTGRES_URL` is set). Tokens are verified with jsonwebtoken fed
//! from the served JWKS: an implementation independent of the signing code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::Method;
use actix_web::{test, App};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clock::TestClock;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use keypair_store::testing::TestDb;
use keypair_store::{
    Actor, ClientId, ClientSecret, Keypair, KeypairPatch, NewKeypair, Owner, ScopeCatalogue, Store,
};
use serde_json::Value;
use time::{Duration, OffsetDateTime};
use token_endpoint::{Kek, KeySettings, Keys, SigningAlgorithm, TokenService};

pub(crate) const ISSUER: &str = "http://keygate.test";

pub(crate) struct Fixture {
    pub db: TestDb,
    pub kek: String,
    /// The service's clock: it reads the real time at the start, then moves only when
    /// a test advances it.
    pub clock: TestClock,
    pub service: TokenApp,
}

/// The app as keygate's factory builds it; derefs to its token service, which tests
/// call directly.
pub(crate) struct TokenApp(keygate::Keygate);

impl TokenApp {
    pub fn app(
        &self,
    ) -> App<
        impl actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = ServiceResponse,
            Error = actix_web::Error,
            InitError = (),
        >,
    > {
        self.0.app()
    }
}

impl std::ops::Deref for TokenApp {
    type Target = TokenService;

    fn deref(&self) -> &TokenService {
        self.0.tokens()
    }
}

pub(crate) fn catalogue() -> ScopeCatalogue {
    ScopeCatalogue::new([
        ("feedback:read", "feedback-api"),
        ("feedback:write", "feedback-api"),
        ("billing:read", "billing-api"),
        ("keygate:admin", ISSUER),
        ("keygate:operator", ISSUER),
        ("keygate:introspect", ISSUER),
    ])
    .unwrap()
}

pub(crate) fn key_settings(alg: SigningAlgorithm) -> KeySettings {
    KeySettings {
        algorithm: alg,
        max_token_lifetime: Duration::seconds(86400),
        publish_lead: Duration::seconds(60),
    }
}

/// The app for `store`, with keys sealed by `kek` and loaded (or made) at `now`, with
/// the default settings (a new signing key is published 60 s before it signs).
pub(crate) fn service(
    store: &Store,
    kek: &str,
    alg: SigningAlgorithm,
    clock: &TestClock,
) -> TokenApp {
    service_with(store, kek, alg, clock, &[])
}

/// Like [`service`], with more settings as `KEYGATE_*` variables.
pub(crate) fn service_with(
    store: &Store,
    kek: &str,
    alg: SigningAlgorithm,
    clock: &TestClock,
    settings: &[(&str, &str)],
) -> TokenApp {
    // The settings these tests are written against: the defaults, with this issuer
    // and the scopes of `catalogue()`.
    let mut env = vec![
        ("KEYGATE_ISSUER", ISSUER),
        (
            "KEYGATE_SCOPES_CATALOGUE",
            "feedback:read=feedback-api feedback:write=feedback-api billing:read=billing-api",
        ),
        ("KEYGATE_TOKEN_ALGORITHM", alg.as_str()),
        ("KEYGATE_KEY_ENCRYPTION_KEY", kek),
    ];
    env.extend_from_slice(settings);
    let config = keygate::config::Config::load(
        None,
        env.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())),
    )
    .unwrap();
    let keys = Keys::load_or_create(
        store.clone(),
        Kek::from_base64(kek).unwrap(),
        config.key_settings(),
        clock.now(),
    )
    .unwrap();
    TokenApp(keygate::Keygate::new(
        &config,
        store.clone(),
        Arc::new(keys),
        clock.clock(),
    ))
}

pub(crate) fn fixture(db: TestDb, alg: SigningAlgorithm) -> Fixture {
    let kek = STANDARD.encode(ring_random());
    // Near the real time: the tokens are verified with jsonwebtoken, which checks `exp`
    // against the system clock.
    let clock = TestClock::starting_now();
    let service = service(&db.store, &kek, alg, &clock);
    Fixture {
        db,
        kek,
        clock,
        service,
    }
}

pub(crate) fn ring_random() -> [u8; 32] {
    let mut b = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap();
    b
}

pub(crate) fn actor() -> Actor {
    Actor::system("test")
}

pub(crate) fn account_keypair(
    store: &Store,
    scopes: &[&str],
    now: OffsetDateTime,
) -> (Keypair, ClientSecret) {
    let acct = store.create_account(&actor(), "Acme", now).unwrap();
    new_keypair(store, Owner::Account(acct.id), scopes, now)
}

pub(crate) fn new_keypair(
    store: &Store,
    owner: Owner,
    scopes: &[&str],
    now: OffsetDateTime,
) -> (Keypair, ClientSecret) {
    let scopes = catalogue().validate_for_keypair(scopes).unwrap();
    store
        .create_keypair(
            &actor(),
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

pub(crate) fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// The parts of a response the tests compare.
#[derive(Debug, PartialEq)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

pub(crate) async fn reply<B: MessageBody>(resp: ServiceResponse<B>) -> Reply {
    let status = resp.status().as_u16();
    let mut headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str() != "date")
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    headers.sort();
    let body = resp.into_body().try_into_bytes().unwrap_or_default();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

macro_rules! app {
    ($service:expr) => {
        test::init_service($service.app()).await
    };
}

pub(crate) async fn post<S, B>(app: &S, auth: Option<&str>, body: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    post_to(app, "/token", auth, body).await
}

/// A form POST to `path`.
pub(crate) async fn post_to<S, B>(app: &S, path: &str, auth: Option<&str>, body: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut req = test::TestRequest::post()
        .uri(path)
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(body.to_owned());
    if let Some(a) = auth {
        req = req.insert_header(("authorization", a.to_owned()));
    }
    reply(test::call_service(app, req.to_request()).await).await
}

pub(crate) async fn get<S, B>(app: &S, path: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    reply(test::call_service(app, test::TestRequest::get().uri(path).to_request()).await).await
}

/// Verifies `token` against the served JWKS with jsonwebtoken; returns the claims.
pub(crate) async fn verify<S, B>(
    app: &S,
    token: &str,
    audience: &str,
) -> (jsonwebtoken::Header, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let jwks: JwkSet =
        serde_json::from_str(&get(app, "/.well-known/jwks.json").await.body).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let kid = header.kid.clone().expect("kid");
    let jwk = jwks.find(&kid).expect("kid published in JWKS");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "iat"]);
    let data = jsonwebtoken::decode::<Value>(token, &key, &validation).expect("token verifies");
    assert_eq!(data.header.typ.as_deref(), Some("at+jwt"));
    (data.header, data.claims)
}

mod errors;
mod grant;
mod keys;
mod lifecycle;
mod scopes;
mod status;
mod status_lists;
