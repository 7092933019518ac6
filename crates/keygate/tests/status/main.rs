//! Token status through the whole app, over HTTP, on SQLite and PostgreSQL: every
//! transition made through the admin API or `/revoke` is read back from the list
//! `/statuslists/{id}` serves, verified against the JWKS with jsonwebtoken and decoded
//! here with an independent inflater (zune-inflate; keygate compresses with flate2)
//! and the draft's bit order. The services take the time from a test clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use clock::TestClock;
use keypair_store::testing::TestDb;
use keypair_store::{Actor, ClientSecret};
use serde_json::{json, Value};
use token_endpoint::{Kek, Keys};

const ISSUER: &str = "http://keygate.test";

struct Env {
    db: TestDb,
    clock: TestClock,
    keygate: keygate::Keygate,
}

fn env(db: TestDb) -> Env {
    let clock = TestClock::starting_now();
    let config = keygate::config::Config::load(
        None,
        [
            ("KEYGATE_ISSUER", ISSUER),
            ("KEYGATE_STATUS_TTL_SECONDS", "2"),
            ("KEYGATE_KEY_PUBLISH_LEAD_SECONDS", "0"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    )
    .unwrap();
    let kek = Kek::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
    let keys = Arc::new(
        Keys::load_or_create(db.store.clone(), kek, config.key_settings(), clock.now()).unwrap(),
    );
    let keygate = keygate::Keygate::new(&config, db.store.clone(), keys, clock.clock());
    Env { db, clock, keygate }
}

struct Reply {
    status: u16,
    body: String,
    headers: actix_web::http::header::HeaderMap,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|_| panic!("{}: {}", self.status, self.body))
    }
}

async fn send<S, B>(app: &S, req: test::TestRequest) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let resp = test::call_service(app, req.to_request()).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().try_into_bytes().unwrap_or_default();
    Reply {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        headers,
    }
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn form(path: &str, id: &str, secret: &str, body: &str) -> test::TestRequest {
    test::TestRequest::post()
        .uri(path)
        .insert_header(("authorization", basic(id, secret)))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(body.to_owned())
}

fn admin_call(method: &str, path: &str, bearer: &str, body: Option<Value>) -> test::TestRequest {
    let method = actix_web::http::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = test::TestRequest::default()
        .method(method)
        .uri(path)
        .insert_header(("authorization", format!("Bearer {bearer}")));
    if let Some(b) = body {
        req = req
            .insert_header(("content-type", "application/json"))
            .set_payload(b.to_string());
    }
    req
}

/// (uri, idx) of an access token's `status.status_list`.
fn status_of(access_token: &str) -> (String, u64) {
    let payload = access_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let entry = &claims["status"]["status_list"];
    (
        entry["uri"].as_str().expect("a status uri").to_owned(),
        entry["idx"].as_u64().expect("a status idx"),
    )
}

/// Verifies a list JWT against the JWKS with jsonwebtoken and returns its claims.
fn verified_list(jwt: &str, jwks: &Value, uri: &str) -> Value {
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.typ.as_deref(), Some("statuslist+jwt"));
    let kid = header.kid.clone().expect("kid");
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid.as_str())
            .expect("the list's kid is in the JWKS")
            .clone(),
    )
    .unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_issuer(&[ISSUER]);
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    validation.validate_exp = false; // the test clock is not the system clock
    let data = jsonwebtoken::decode::<Value>(jwt, &key, &validation).expect("list verifies");
    assert_eq!(data.claims["sub"], uri);
    data.claims
}

/// Entry `idx` of a verified list's claims: inflate (zlib), then 2 bits per entry,
/// index 0 in the least significant bits of byte 0.
fn entry(claims: &Value, idx: u64) -> u8 {
    assert_eq!(claims["status_list"]["bits"], 2);
    let lst = URL_SAFE_NO_PAD
        .decode(claims["status_list"]["lst"].as_str().unwrap())
        .unwrap();
    let bytes = zune_inflate::DeflateDecoder::new(&lst)
        .decode_zlib()
        .expect("zlib");
    let byte = bytes[usize::try_from(idx / 4).unwrap()];
    (byte >> (2 * (idx % 4))) & 0b11
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[actix_web::test]
                async fn sqlite() {
                    super::$name(super::env(keypair_store::testing::TestDb::sqlite())).await;
                }
                #[actix_web::test]
                async fn postgres() {
                    let Some(db) = keypair_store::testing::TestDb::postgres() else {
                        eprintln!("KEYGATE_TEST_POSTGRES_URL not set: PostgreSQL variant not run");
                        return;
                    };
                    super::$name(super::env(db)).await;
                }
            }
        )*
    };
}

on_both!(
    every_transition_reaches_the_served_list,
    indexes_of_new_keypairs_do_not_rise
);

async fn every_transition_reaches_the_served_list(env: Env) {
    let app = test::init_service(env.keygate.app()).await;
    let store = &env.db.store;
    let (op, op_secret) = store
        .create_operator_keypair(&Actor::system("test"), "operator", env.clock.now())
        .unwrap();
    let op_id = op.client_id.to_string();
    let token_for = |id: &str, secret: &str, extra: &str| {
        form(
            "/token",
            id,
            secret,
            &format!("grant_type=client_credentials{extra}"),
        )
    };
    let op_token = send(&app, token_for(&op_id, op_secret.expose(), ""))
        .await
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let account = send(
        &app,
        admin_call(
            "POST",
            "/admin/v1/accounts",
            &op_token,
            Some(json!({"name": "Acme"})),
        ),
    )
    .await
    .json();
    let a = account["id"].as_str().unwrap().to_owned();
    let environment = send(
        &app,
        admin_call(
            "POST",
            &format!("/admin/v1/accounts/{a}/environments"),
            &op_token,
            Some(json!({"name": "prod"})),
        ),
    )
    .await
    .json();
    let e = environment["id"].as_str().unwrap().to_owned();
    let create = |owner_path: String, scopes: Value| {
        admin_call(
            "POST",
            &format!("{owner_path}/keypairs"),
            &op_token,
            Some(json!({ "scopes": scopes })),
        )
    };
    let creds = |v: Value| {
        assert!(v["client_id"].is_string(), "{v}");
        (
            v["client_id"].as_str().unwrap().to_owned(),
            v["client_secret"].as_str().unwrap().to_owned(),
        )
    };
    let kp = creds(
        send(
            &app,
            create(
                format!("/admin/v1/accounts/{a}"),
                json!(["feedback:read", "feedback:write"]),
            ),
        )
        .await
        .json(),
    );
    let other = creds(
        send(
            &app,
            create(format!("/admin/v1/accounts/{a}"), json!(["feedback:read"])),
        )
        .await
        .json(),
    );
    let in_env = creds(
        send(
            &app,
            create(
                format!("/admin/v1/environments/{e}"),
                json!(["feedback:read"]),
            ),
        )
        .await
        .json(),
    );

    let issue = |c: &(String, String)| token_for(&c.0, &c.1, "");
    let jwks: Value = serde_json::from_str(
        &send(&app, test::TestRequest::get().uri("/.well-known/jwks.json"))
            .await
            .body,
    )
    .unwrap();
    // Reads the served status of a token's entry, after the at-most-once-a-second
    // rebuild window has passed.
    macro_rules! served {
        ($token:expr) => {{
            env.clock.advance(std::time::Duration::from_millis(1100));
            let (uri, idx) = status_of(&$token);
            let path = uri
                .strip_prefix(ISSUER)
                .expect("the uri is under the issuer");
            assert!(path.starts_with("/statuslists/sl_"), "{uri}");
            let reply = send(&app, test::TestRequest::get().uri(path)).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            assert_eq!(
                reply.headers.get("content-type").unwrap(),
                "application/statuslist+jwt"
            );
            assert_eq!(reply.headers.get("cache-control").unwrap(), "max-age=2");
            entry(&verified_list(&reply.body, &jwks, &uri), idx)
        }};
    }
    macro_rules! fresh_token {
        ($c:expr) => {{
            let reply = send(&app, issue($c)).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            reply.json()["access_token"].as_str().unwrap().to_owned()
        }};
    }
    let patch = |id: &str, body: Value| {
        admin_call(
            "PATCH",
            &format!("/admin/v1/keypairs/{id}"),
            &op_token,
            Some(body),
        )
    };

    // Disable → SUSPENDED, enable → VALID again, same entry.
    let t1 = fresh_token!(&kp);
    assert_eq!(served!(t1), 0);
    assert_eq!(
        send(&app, patch(&kp.0, json!({"enabled": false})))
            .await
            .status,
        200
    );
    assert_eq!(served!(t1), 2);
    assert_eq!(
        send(&app, patch(&kp.0, json!({"enabled": true})))
            .await
            .status,
        200
    );
    assert_eq!(served!(t1), 0);
    assert_eq!(status_of(&fresh_token!(&kp)), status_of(&t1));

    // Scope removal → INVALID for good; the next token has a new entry.
    assert_eq!(
        send(&app, patch(&kp.0, json!({"scopes": ["feedback:read"]})))
            .await
            .status,
        200
    );
    assert_eq!(served!(t1), 1);
    let t2 = fresh_token!(&kp);
    assert_ne!(status_of(&t2), status_of(&t1));
    assert_eq!(served!(t2), 0);
    // Enabling never undoes INVALID.
    assert_eq!(
        send(&app, patch(&kp.0, json!({"enabled": false})))
            .await
            .status,
        200
    );
    assert_eq!(
        send(&app, patch(&kp.0, json!({"enabled": true})))
            .await
            .status,
        200
    );
    assert_eq!(served!(t1), 1);

    // revoke-tokens → INVALID.
    let revoke_tokens = admin_call(
        "POST",
        &format!("/admin/v1/keypairs/{}/revoke-tokens", kp.0),
        &op_token,
        None,
    );
    assert_eq!(send(&app, revoke_tokens).await.status, 204);
    assert_eq!(served!(t2), 1);

    // RFC 7009 by its own client → INVALID; another client's token → 400, unchanged;
    // an old generation's token → 200, the current one unchanged.
    let t3 = fresh_token!(&kp);
    let theirs = fresh_token!(&other);
    let revoke =
        |c: &(String, String), token: &str| form("/revoke", &c.0, &c.1, &format!("token={token}"));
    let reply = send(&app, revoke(&kp, &theirs)).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.json()["error"], "unauthorized_client");
    assert_eq!(served!(theirs), 0);
    assert_eq!(send(&app, revoke(&kp, &t1)).await.status, 200);
    assert_eq!(served!(t3), 0);
    assert_eq!(send(&app, revoke(&kp, &t3)).await.status, 200);
    assert_eq!(served!(t3), 1);

    // Delete → INVALID.
    let t4 = fresh_token!(&kp);
    assert_eq!(served!(t4), 0);
    let delete = admin_call(
        "DELETE",
        &format!("/admin/v1/keypairs/{}", kp.0),
        &op_token,
        None,
    );
    assert_eq!(send(&app, delete).await.status, 204);
    assert_eq!(served!(t4), 1);

    // Owner close: the environment, then the account.
    let t_env = fresh_token!(&in_env);
    assert_eq!(served!(t_env), 0);
    let close_env = admin_call(
        "DELETE",
        &format!("/admin/v1/environments/{e}"),
        &op_token,
        None,
    );
    assert_eq!(send(&app, close_env).await.status, 204);
    assert_eq!(served!(t_env), 1);
    assert_eq!(served!(theirs), 0);
    let close_account = admin_call(
        "DELETE",
        &format!("/admin/v1/accounts/{a}"),
        &op_token,
        None,
    );
    assert_eq!(send(&app, close_account).await.status, 204);
    assert_eq!(served!(theirs), 1);

    // The aggregation endpoint lists the list.
    let (uri, _) = status_of(&theirs);
    let all = send(&app, test::TestRequest::get().uri("/statuslists"))
        .await
        .json();
    assert!(
        all["status_lists"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| *u == uri.as_str()),
        "{all}"
    );
}

async fn indexes_of_new_keypairs_do_not_rise(env: Env) {
    let app = test::init_service(env.keygate.app()).await;
    let store = &env.db.store;
    let now = env.clock.now();
    let account = store
        .create_account(&Actor::system("test"), "Acme", now)
        .unwrap();
    let template = keypair_store::NewKeypair {
        owner: keypair_store::Owner::Account(account.id),
        scopes: keypair_store::ScopeSet::parse_space_separated("feedback:read").unwrap(),
        comment: "worker".into(),
        enabled: true,
        token_lifetime_seconds: None,
        expires_at: None,
        allowed_addresses: keypair_store::AddressList::any(),
    };
    let made: Vec<(keypair_store::ClientId, ClientSecret)> = store
        .create_keypairs_bulk(&Actor::system("test"), &template, 1000, now)
        .unwrap();
    let mut indexes = Vec::with_capacity(made.len());
    for (id, secret) in &made {
        let reply = send(
            &app,
            form(
                "/token",
                id.as_str(),
                secret.expose(),
                "grant_type=client_credentials",
            ),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        indexes.push(status_of(reply.json()["access_token"].as_str().unwrap()));
    }
    let distinct: std::collections::HashSet<_> = indexes.iter().collect();
    assert_eq!(
        distinct.len(),
        indexes.len(),
        "every keypair has its own entry"
    );
    let rises = indexes.windows(2).filter(|w| w[0].1 < w[1].1).count();
    // Random draws rise about half the time (sd ≈ 16); issue order would rise 999 times.
    assert!((400..600).contains(&rises), "{rises} of 999 steps rise");
}
