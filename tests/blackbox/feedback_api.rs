//! End to end: the real keygate binary issues tokens; the example Feedback API
//! (crates/resource-guard/examples/feedback_api.rs, included as is) discovers keygate's
//! keys over HTTP and accepts or refuses correctly.

#[path = "../../crates/resource-guard/examples/feedback_api.rs"]
pub(crate) mod example;

use actix_web::{test, web, App};
use resource_guard::Guard;
use serde_json::{json, Value};

use crate::support::{agent, keygate, run, Server};

fn post_json(server: &Server, bearer: &str, path: &str, body: Value) -> Value {
    agent()
        .post(&server.url(path))
        .set("authorization", &format!("Bearer {bearer}"))
        .send_json(body)
        .unwrap()
        .into_json()
        .unwrap()
}

fn token(server: &Server, id: &str, secret: &str, extra: &[(&str, &str)]) -> String {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ];
    form.extend_from_slice(extra);
    let v: Value = agent()
        .post(&server.url("/token"))
        .send_form(&form)
        .unwrap()
        .into_json()
        .unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn keygate_issues_and_the_example_feedback_api_decides() {
    let dir = tempfile::tempdir().unwrap();
    let out = run({
        let mut c = keygate(dir.path());
        c.arg("bootstrap");
        c
    });
    let boot: Value = serde_json::from_slice(&out.stdout).unwrap();
    let server = Server::start(dir.path(), &[]);
    let op = token(
        &server,
        boot["client_id"].as_str().unwrap(),
        boot["client_secret"].as_str().unwrap(),
        &[],
    );
    let a = post_json(&server, &op, "/admin/v1/accounts", json!({"name": "Acme"}))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reader = post_json(
        &server,
        &op,
        &format!("/admin/v1/accounts/{a}/keypairs"),
        json!({"scopes": ["feedback:read", "keygate:admin"]}),
    );
    let writer = post_json(
        &server,
        &op,
        &format!("/admin/v1/accounts/{a}/keypairs"),
        json!({"scopes": ["feedback:write"]}),
    );
    let creds = |k: &Value| {
        (
            k["client_id"].as_str().unwrap().to_owned(),
            k["client_secret"].as_str().unwrap().to_owned(),
        )
    };
    let (rid, rsecret) = creds(&reader);
    let (wid, wsecret) = creds(&writer);
    let read_token = token(&server, &rid, &rsecret, &[("resource", "feedback-api")]);
    let write_token = token(&server, &wid, &wsecret, &[]);
    let admin_token = token(&server, &rid, &rsecret, &[("scope", "keygate:admin")]);

    // The example's guard, built as its main() does, discovering keygate over HTTP.
    let guard = web::Data::new(Guard::builder(&server.base, "feedback-api").build());
    let app = test::init_service(App::new().app_data(guard).configure(example::routes)).await;
    let call = |method: &str, bearer: Option<&str>| {
        let mut req = test::TestRequest::default()
            .method(actix_web::http::Method::from_bytes(method.as_bytes()).unwrap())
            .uri("/feedback");
        if let Some(b) = bearer {
            req = req.insert_header(("authorization", format!("Bearer {b}")));
        }
        req.set_payload("great product").to_request()
    };
    let status_and_challenge = |resp: actix_web::dev::ServiceResponse| {
        let www = resp
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        (resp.status().as_u16(), www)
    };

    let resp = test::call_service(&app, call("GET", Some(&read_token))).await;
    assert_eq!(resp.status(), 200);
    let body: Value = test::read_body_json(resp).await;
    assert_eq!(body["client_id"], rid.as_str());
    assert_eq!(body["account_id"], a.as_str());

    let (status, www) =
        status_and_challenge(test::call_service(&app, call("POST", Some(&read_token))).await);
    assert_eq!(status, 403);
    assert_eq!(
        www,
        "Bearer realm=\"feedback-api\", error=\"insufficient_scope\", scope=\"feedback:write\""
    );
    assert_eq!(
        test::call_service(&app, call("POST", Some(&write_token)))
            .await
            .status(),
        201
    );
    let (status, www) = status_and_challenge(test::call_service(&app, call("GET", None)).await);
    assert_eq!(
        (status, www.as_str()),
        (401, "Bearer realm=\"feedback-api\"")
    );
    // An admin-API token (audience: the issuer) is not a Feedback API token.
    let (status, www) =
        status_and_challenge(test::call_service(&app, call("GET", Some(&admin_token))).await);
    assert_eq!(
        (status, www.as_str()),
        (
            401,
            "Bearer realm=\"feedback-api\", error=\"invalid_token\""
        )
    );
    // Tampering breaks the signature.
    let mut forged = read_token.clone();
    forged.pop();
    forged.push(if read_token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(
        test::call_service(&app, call("GET", Some(&forged)))
            .await
            .status(),
        401
    );
}
