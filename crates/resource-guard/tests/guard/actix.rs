//! RFC 6750 §3 through the actix-web extractor, on the example Feedback API's routes.

use actix_web::http::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::http::StatusCode;
use actix_web::{test, web, App, HttpResponse};
use resource_guard::actix::Authenticated;
use resource_guard::Guard;
use serde_json::{json, Value};

use crate::feedback_api;
use crate::support::*;

/// The example's routes plus `/whoami` (any valid token), over `guard`.
macro_rules! app {
    ($guard:expr) => {
        test::init_service(
            App::new()
                .app_data(web::Data::new($guard))
                .configure(feedback_api::routes)
                .route(
                    "/whoami",
                    web::get().to(|auth: Authenticated| async move {
                        HttpResponse::Ok().body(auth.claims.client_id)
                    }),
                ),
        )
        .await
    };
}

fn bearer(token: &str) -> (actix_web::http::header::HeaderName, String) {
    (AUTHORIZATION, format!("Bearer {token}"))
}

fn challenge(resp: &actix_web::dev::ServiceResponse) -> String {
    resp.headers()
        .get(WWW_AUTHENTICATE)
        .expect("WWW-Authenticate")
        .to_str()
        .unwrap()
        .to_owned()
}

fn token(scope: &str) -> String {
    sign(&issuer_keys().ed, &claims_with(json!({ "scope": scope })))
}

#[actix_web::test]
async fn actix_no_token_is_401_with_a_bare_bearer_challenge() {
    let app = app!(issuer_guard().0);
    for (method, uri) in [
        ("GET", "/feedback"),
        ("POST", "/feedback"),
        ("GET", "/whoami"),
    ] {
        let req = test::TestRequest::default()
            .method(method.parse().unwrap())
            .uri(uri)
            .to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{method} {uri}");
        assert_eq!(challenge(&resp), r#"Bearer realm="feedback-api""#);
    }
}

#[actix_web::test]
async fn actix_another_auth_scheme_counts_as_no_token() {
    let app = app!(issuer_guard().0);
    let req = test::TestRequest::get()
        .uri("/feedback")
        .insert_header((AUTHORIZATION, "Basic a2dfeDpzZWNyZXQ="))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&resp), r#"Bearer realm="feedback-api""#);
}

#[actix_web::test]
async fn actix_bad_token_is_401_invalid_token_without_the_reason() {
    let app = app!(issuer_guard().0);
    let keys = issuer_keys();
    let forged = sign(&TestKey::ed25519("x").with_kid("ed-1"), &claims());
    let expired = sign(
        &keys.ed,
        &claims_with(json!({"iat": now() - 7200, "exp": now() - 3600})),
    );
    let wrong_aud = sign(&keys.ed, &claims_with(json!({"aud": ISSUER})));
    for (what, t) in [
        ("forged", forged),
        ("expired", expired),
        ("wrong audience", wrong_aud),
        ("junk", "junk".to_owned()),
        ("empty", String::new()),
    ] {
        let req = test::TestRequest::get()
            .uri("/feedback")
            .insert_header(bearer(&t))
            .to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(
            challenge(&resp),
            r#"Bearer realm="feedback-api", error="invalid_token""#,
            "{what}"
        );
        let body = test::read_body(resp).await;
        let text = String::from_utf8_lossy(&body).to_lowercase();
        for leak in ["signature", "expired", "audience", "kid", "algorithm"] {
            assert!(!text.contains(leak), "{what}: body says {leak}: {text}");
        }
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            json!({"error": "invalid_token", "message": "the access token is invalid"}),
            "{what}"
        );
    }
}

#[actix_web::test]
async fn actix_missing_scope_is_403_insufficient_scope() {
    let app = app!(issuer_guard().0);
    let req = test::TestRequest::post()
        .uri("/feedback")
        .insert_header(bearer(&token("feedback:read")))
        .set_payload("great product")
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        challenge(&resp),
        r#"Bearer realm="feedback-api", error="insufficient_scope", scope="feedback:write""#
    );
    let body: Value = test::read_body_json(resp).await;
    assert_eq!(body["error"], "insufficient_scope");

    let req = test::TestRequest::get()
        .uri("/feedback")
        .insert_header(bearer(&token("feedback:write")))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        challenge(&resp),
        r#"Bearer realm="feedback-api", error="insufficient_scope", scope="feedback:read""#
    );
}

#[actix_web::test]
async fn actix_valid_tokens_reach_the_feedback_handlers() {
    let app = app!(issuer_guard().0);
    let req = test::TestRequest::get()
        .uri("/feedback")
        .insert_header(bearer(&token("feedback:read")))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = test::read_body_json(resp).await;
    assert_eq!(body["client_id"], CLIENT_ID);

    let req = test::TestRequest::post()
        .uri("/feedback")
        .insert_header(bearer(&token("feedback:write")))
        .set_payload("great product")
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = test::read_body_json(resp).await;
    assert_eq!(body["client_id"], CLIENT_ID);
}

#[actix_web::test]
async fn actix_authenticated_extractor_needs_no_scope() {
    let app = app!(issuer_guard().0);
    let req = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(bearer(&token("")))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(test::read_body(resp).await, CLIENT_ID.as_bytes());
}

/// A kid the guard has not seen is fetched (off the async workers) and accepted.
#[actix_web::test]
async fn actix_rotated_key_is_fetched_and_accepted() {
    let (guard, provider) = issuer_guard();
    let app = app!(guard);
    let next = TestKey::ed25519("ed-2");
    provider.set(jwks(&[&issuer_keys().ed, &next]));
    let t = sign(&next, &claims());
    let req = test::TestRequest::get()
        .uri("/feedback")
        .insert_header(bearer(&t))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(provider.fetches(), 2);
}

#[actix_web::test]
async fn actix_two_authorization_headers_are_invalid_token() {
    let app = app!(issuer_guard().0);
    let good = token("feedback:read");
    let req = test::TestRequest::get()
        .uri("/feedback")
        .append_header(bearer(&good))
        .append_header((AUTHORIZATION, HeaderValue::from_static("Bearer other")))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&resp),
        r#"Bearer realm="feedback-api", error="invalid_token""#
    );
}

/// The challenges of a request to `/feedback`: without a token, with a forged one, and
/// with a token lacking `feedback:read`.
async fn challenges(guard: Guard) -> [String; 3] {
    let app = app!(guard);
    let forged = sign(&TestKey::ed25519("x").with_kid("ed-1"), &claims());
    let mut out = Vec::new();
    for bearer_token in [None, Some(forged), Some(token("feedback:write"))] {
        let mut req = test::TestRequest::get().uri("/feedback");
        if let Some(t) = bearer_token {
            req = req.insert_header(bearer(&t));
        }
        let resp = test::call_service(&app, req.to_request()).await;
        out.push(challenge(&resp));
    }
    out.try_into().unwrap()
}

#[actix_web::test]
async fn actix_configured_realm_is_used() {
    let provider = CountingJwks::new(issuer_jwks());
    let guard: Guard = guard_builder(&provider).realm("feedback").build();
    assert_eq!(
        challenges(guard).await,
        [
            r#"Bearer realm="feedback""#,
            r#"Bearer realm="feedback", error="invalid_token""#,
            r#"Bearer realm="feedback", error="insufficient_scope", scope="feedback:read""#,
        ]
    );
}

/// A resource server that names no realm answers in its audience's, never in
/// keygate's.
#[actix_web::test]
async fn actix_default_realm_is_the_audience() {
    let provider: std::sync::Arc<dyn resource_guard::JwksProvider> =
        CountingJwks::new(issuer_jwks());
    let guard = Guard::builder(ISSUER, "billing-api")
        .jwks_provider(provider)
        .refresh_interval(None)
        .clock(test_clock().clock())
        .build();
    assert_eq!(
        challenges(guard).await,
        [
            r#"Bearer realm="billing-api""#,
            r#"Bearer realm="billing-api", error="invalid_token""#,
            // A feedback-api token is not a billing-api token.
            r#"Bearer realm="billing-api", error="invalid_token""#,
        ]
    );
}

/// An app that registered no guard has no realm to name: it refuses every token
/// (invalid_token, no realm) and logs the misconfiguration.
#[actix_web::test]
async fn actix_without_a_guard_refuses_without_naming_a_realm() {
    let app = test::init_service(App::new().configure(feedback_api::routes)).await;
    let req = test::TestRequest::get()
        .uri("/feedback")
        .insert_header(bearer(&token("feedback:read")))
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&resp), r#"Bearer error="invalid_token""#);
}

/// The extractor judges expiry by the guard's clock.
#[actix_web::test]
async fn actix_expiry_follows_the_guards_clock() {
    let provider = CountingJwks::new(issuer_jwks());
    let clock = test_clock();
    let app = app!(guard_builder(&provider).clock(clock.clock()).build());
    let t = token("feedback:read"); // exp = T0 + 1 h
    let get = || {
        test::TestRequest::get()
            .uri("/feedback")
            .insert_header(bearer(&t))
            .to_request()
    };
    assert_eq!(
        test::call_service(&app, get()).await.status(),
        StatusCode::OK
    );
    clock.advance(std::time::Duration::from_secs(3600 + 30));
    let resp = test::call_service(&app, get()).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge(&resp),
        r#"Bearer realm="feedback-api", error="invalid_token""#
    );
}

/// A token whose status is not VALID gets the same 401 `invalid_token` as any invalid
/// token, and a list the guard has not seen yet is fetched off the async workers.
#[actix_web::test]
async fn actix_a_token_whose_status_is_not_valid_is_401_invalid_token() {
    let (builder, _, lists, _) = status_guard_builder();
    lists.set(LIST_ID, 0, SUSPENDED);
    lists.set(LIST_ID, 1, INVALID);
    let app = app!(builder.build());
    let on = |idx: u64| {
        sign(
            &issuer_keys().ed,
            &claims_with(json!({"status": status_claim(idx, &list_uri(LIST_ID))})),
        )
    };
    let get = |t: &str| {
        test::TestRequest::get()
            .uri("/feedback")
            .insert_header(bearer(t))
            .to_request()
    };
    let resp = test::call_service(&app, get(&on(IDX))).await;
    assert_eq!(resp.status(), StatusCode::OK, "first sight of the list");
    for idx in [0, 1] {
        let resp = test::call_service(&app, get(&on(idx))).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            challenge(&resp),
            r#"Bearer realm="feedback-api", error="invalid_token""#
        );
        let body: Value = test::read_body_json(resp).await;
        assert_eq!(
            body,
            json!({"error": "invalid_token", "message": "the access token is invalid"})
        );
    }
    assert_eq!(lists.fetches(), 1);
}
