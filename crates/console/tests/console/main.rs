//! The console over HTTP, as a browser uses it (a cookie jar, `Origin` on posts),
//! against the whole keygate app and a real store: SQLite, and PostgreSQL when
//! `KEYGATE_TEST_POSTGRES_URL` is set. Time is a test clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod csrf;
mod headers;
mod invitations;
mod keys;
mod matrix;
mod pages;
mod passkey_list;
mod passkeys;
mod people_pages;
mod sessions;
mod sign_in;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test as atest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clock::{Clock, TestClock};
use keypair_store::testing::TestDb;
use keypair_store::{AccountId, Actor, Environment, EnvironmentId, Owner, Store, UserId};
use time::macros::datetime;
use token_endpoint::{Kek, KeySettings, Keys, SigningAlgorithm};

/// The issuer of most tests: plain http, so cookies have no `__Host-` prefix.
pub const ISSUER: &str = "http://keygate.test";
pub const HOST: &str = "keygate.test";
/// A password every rule allows.
pub const PASSWORD: &str = "correct horse battery staple";

/// The whole app with a test clock, wired as `keygate serve` wires it.
#[derive(Debug)]
pub struct Env {
    pub db: TestDb,
    pub keygate: keygate::Keygate,
    pub time: TestClock,
    pub issuer: String,
}

impl Env {
    pub fn new(db: TestDb) -> Env {
        Env::with(db, ISSUER, &[])
    }

    /// With another issuer and extra `KEYGATE_*` settings.
    pub fn with(db: TestDb, issuer: &str, extra: &[(&str, &str)]) -> Env {
        let mut vars = vec![("KEYGATE_ISSUER".to_owned(), issuer.to_owned())];
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = keygate::config::Config::load(None, vars).unwrap();
        let time = TestClock::new(datetime!(2031-03-01 09:00 UTC));
        let clock = Clock::from(time.clone());
        let kek = Kek::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
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
        Env {
            db,
            keygate,
            time,
            issuer: issuer.to_owned(),
        }
    }

    /// Another keygate process on the same database: its own services and memory
    /// (throttle, caches), the same clock.
    pub fn second_process(&self) -> keygate::Keygate {
        let config = keygate::config::Config::load(
            None,
            [("KEYGATE_ISSUER".to_owned(), self.issuer.clone())],
        )
        .unwrap();
        let clock = Clock::from(self.time.clone());
        let kek = Kek::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        let keys = Arc::new(
            Keys::load_or_create(
                self.db.store.clone(),
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
        keygate::Keygate::new(&config, self.db.store.clone(), keys, clock)
    }

    pub fn store(&self) -> &Store {
        &self.db.store
    }

    pub fn now(&self) -> time::OffsetDateTime {
        self.time.now()
    }

    pub fn advance(&self, seconds: u64) {
        self.time.advance(std::time::Duration::from_secs(seconds));
    }

    pub fn account(&self, name: &str) -> AccountId {
        self.store()
            .create_account(&Actor::system("test"), name, self.now())
            .unwrap()
            .id
    }

    pub fn environment(&self, account: &AccountId, name: &str) -> Environment {
        self.store()
            .create_environment(&Actor::system("test"), account, name, self.now())
            .unwrap()
    }

    /// A pending invitation; returns its code.
    pub fn invite(&self, email: &str, owner: &Owner) -> String {
        let (_, code) = self
            .store()
            .invite(
                &Actor::system("test"),
                email,
                owner,
                time::Duration::days(1),
                self.now(),
            )
            .unwrap();
        code.expose().to_owned()
    }

    pub fn user(&self, email: &str) -> UserId {
        self.store().get_user_by_email(email).unwrap().id
    }
}

pub fn env_owner(e: &Environment) -> Owner {
    Owner::Environment {
        account_id: e.account_id.clone(),
        environment_id: e.id.clone(),
    }
}

pub fn env_owner_ids(a: &AccountId, e: &EnvironmentId) -> Owner {
    Owner::Environment {
        account_id: a.clone(),
        environment_id: e.clone(),
    }
}

macro_rules! app {
    ($env:expr) => {
        actix_web::test::init_service($env.keygate.app()).await
    };
}
pub(crate) use app;

/// A response, read completely.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn location(&self) -> &str {
        self.header("location").unwrap_or("")
    }

    /// Every `Set-Cookie` line.
    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The `Set-Cookie` line for `name`.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    /// The first form's CSRF token, or the one of the form posting to `action`.
    pub fn csrf_token(&self) -> String {
        token_after(&self.body, "name=\"csrf_token\" value=\"")
    }

    pub fn form_token(&self, action: &str) -> String {
        let start = self
            .body
            .find(&format!("action=\"{action}\""))
            .unwrap_or_else(|| panic!("no form for {action}: {}", self.body));
        token_after(&self.body[start..], "name=\"csrf_token\" value=\"")
    }

    /// The text of the page without tags, whitespace collapsed.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for ch in self.body.chars() {
            match ch {
                '<' => in_tag = true,
                '>' => {
                    in_tag = false;
                    out.push(' ');
                }
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// Whether the page has a button named exactly `name`.
    pub fn has_button(&self, name: &str) -> bool {
        self.body.contains(&format!(">{name}</button>"))
    }

    /// Whether the page has a link named exactly `name`.
    pub fn has_link(&self, name: &str) -> bool {
        self.body.contains(&format!(">{name}</a>"))
    }

    /// Whether a field is labelled exactly `label`.
    pub fn has_label(&self, label: &str) -> bool {
        self.body.contains(&format!(">{label}</label>"))
    }
}

fn token_after(body: &str, marker: &str) -> String {
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("no csrf token in {body}"))
        + marker.len();
    body[start..].split('"').next().unwrap().to_owned()
}

/// A browser: a cookie jar, the issuer's `Host`, `Origin` on posts, an address.
#[derive(Clone, Debug)]
pub struct Browser {
    pub cookies: BTreeMap<String, String>,
    pub origin: String,
    pub host: String,
    pub address: IpAddr,
}

impl Browser {
    pub fn new(env: &Env) -> Browser {
        let host = env.issuer.split("://").nth(1).unwrap().to_owned();
        Browser {
            cookies: BTreeMap::new(),
            origin: env.issuer.clone(),
            host,
            address: IpAddr::from([192, 0, 2, 10]),
        }
    }

    pub fn from_address(mut self, last: u8) -> Browser {
        self.address = IpAddr::from([192, 0, 2, last]);
        self
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    fn request(&self, req: atest::TestRequest) -> atest::TestRequest {
        let mut req = req
            .insert_header(("host", self.host.as_str()))
            .peer_addr(SocketAddr::new(self.address, 40000));
        if !self.cookies.is_empty() {
            let line = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            req = req.insert_header(("cookie", line));
        }
        req
    }

    /// Sends `req` as this browser and keeps the cookies the answer sets.
    pub async fn send<S, B>(&mut self, app: &S, req: atest::TestRequest) -> Reply
    where
        S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let reply = send(app, self.request(req)).await;
        for line in reply.set_cookies() {
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || line.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        reply
    }

    pub async fn get<S, B>(&mut self, app: &S, path: &str) -> Reply
    where
        S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        self.send(app, atest::TestRequest::get().uri(path)).await
    }

    /// A form post with this browser's `Origin`.
    pub async fn post<S, B>(&mut self, app: &S, path: &str, fields: &[(&str, &str)]) -> Reply
    where
        S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let origin = self.origin.clone();
        self.post_with(app, path, fields, &[("origin", origin.as_str())])
            .await
    }

    /// A form post with exactly these extra headers.
    pub async fn post_with<S, B>(
        &mut self,
        app: &S,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Reply
    where
        S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut req = atest::TestRequest::post()
            .uri(path)
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .set_payload(body);
        for (k, v) in headers {
            req = req.insert_header((*k, *v));
        }
        self.send(app, req).await
    }

    /// A JSON post with this browser's `Origin`, as the console's script sends it.
    pub async fn post_json<S, B>(&mut self, app: &S, path: &str, body: &serde_json::Value) -> Reply
    where
        S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let req = atest::TestRequest::post()
            .uri(path)
            .insert_header(("content-type", "application/json"))
            .insert_header(("origin", self.origin.clone()))
            .set_payload(body.to_string());
        self.send(app, req).await
    }

    /// Opens the sign-in page and signs in; returns the answer to the post.
    pub async fn sign_in<S, B>(&mut self, app: &S, email: &str, password: &str) -> Reply
    where
        S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        self.sign_in_to(app, email, password, "").await
    }

    pub async fn sign_in_to<S, B>(
        &mut self,
        app: &S,
        email: &str,
        password: &str,
        next: &str,
    ) -> Reply
    where
        S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let page = self.get(app, "/console/sign-in").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let token = page.form_token("/console/sign-in");
        self.post(
            app,
            "/console/sign-in",
            &[
                ("csrf_token", &token),
                ("email", email),
                ("password", password),
                ("next", next),
            ],
        )
        .await
    }

    /// Opens a setup link and sets a password: the new person is signed in.
    pub async fn accept_with_password<S, B>(&mut self, app: &S, code: &str, password: &str) -> Reply
    where
        S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let opened = self.get(app, &format!("/console/setup/{code}")).await;
        assert_eq!(opened.status, 303, "{}", opened.body);
        let page = self.get(app, "/console/setup").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let token = page.form_token("/console/setup");
        self.post(
            app,
            "/console/setup",
            &[
                ("csrf_token", &token),
                ("action", "set_password"),
                ("new_password", password),
            ],
        )
        .await
    }

    /// Signs out through the header's button; returns the answer.
    pub async fn sign_out<S, B>(&mut self, app: &S) -> Reply
    where
        S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let home = self.get(app, "/console").await;
        assert_eq!(home.status, 200, "{}", home.body);
        let token = home.form_token("/console/sign-out");
        self.post(app, "/console/sign-out", &[("csrf_token", &token)])
            .await
    }
}

pub async fn send<S, B>(app: &S, req: atest::TestRequest) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let resp = atest::call_service(app, req.to_request()).await;
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

/// The pre-session CSRF token of this browser (from its pre-session cookie), as a
/// sign-in form opened earlier carries it. Signed in, the sign-in page redirects, so
/// the token is read from a copy of the browser without its session.
pub async fn csrf_token_of<S, B>(b: &mut Browser, app: &S) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut copy = b.clone();
    copy.cookies.retain(|k, _| k.ends_with("keygate_csrf"));
    let page = copy.get(app, "/console/sign-in").await;
    assert_eq!(page.status, 200);
    b.cookies.extend(copy.cookies.clone());
    page.form_token("/console/sign-in")
}

/// A person with a password, bound to `owner`, made through an invitation, and a
/// browser signed in as them.
pub async fn signed_in<S, B>(app: &S, env: &Env, email: &str, owner: &Owner) -> Browser
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    person(app, env, email, owner).await;
    let mut b = Browser::new(env);
    let signed = b.sign_in(app, email, PASSWORD).await;
    assert_eq!(signed.status, 303, "{email} signs in: {}", signed.body);
    b
}

/// A person with a password, bound to `owner`, made through an invitation (signed
/// out again).
pub async fn person<S, B>(app: &S, env: &Env, email: &str, owner: &Owner) -> UserId
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let code = env.invite(email, owner);
    let mut b = Browser::new(env);
    let done = b.accept_with_password(app, &code, PASSWORD).await;
    assert_eq!(done.status, 303, "{}", done.body);
    env.user(email)
}
