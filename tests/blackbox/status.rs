//! Token status end to end: a disable through the admin API reaches the example
//! Feedback API (default guard settings, discovering keygate over HTTP) within
//! seconds, and an enable undoes it; with two servers on PostgreSQL, a change made
//! through one is in the list the other serves within `ttl` + 1 s, even when the
//! change notices between them are lost. Every wait polls with a deadline.

use std::time::Duration;

use actix_web::{test as actix_test, web, App};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use resource_guard::Guard;
use serde_json::{json, Value};

use crate::admin::{admin, token};
use crate::feedback_api::example;
use crate::support::{agent, keygate, run, Server};

fn bootstrap(dir: &std::path::Path, env: &[(&str, &str)]) -> (String, String) {
    let out = run({
        let mut c = keygate(dir);
        c.arg("bootstrap").envs(env.iter().copied());
        c
    });
    assert!(out.status.success(), "bootstrap failed");
    let boot: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        boot["client_id"].as_str().unwrap().to_owned(),
        boot["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// An operator token, an account, and a Feedback API reader keypair in it.
fn reader(server: &Server, op_id: &str, op_secret: &str) -> (String, String, String) {
    let op = token(server, op_id, op_secret, "").1["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, acct) = admin(
        server,
        &op,
        "POST",
        "/admin/v1/accounts",
        Some(json!({"name": "Acme"})),
    );
    let a = acct["id"].as_str().unwrap();
    let (status, kp) = admin(
        server,
        &op,
        "POST",
        &format!("/admin/v1/accounts/{a}/keypairs"),
        Some(json!({"scopes": ["feedback:read"], "comment": "dashboard"})),
    );
    assert_eq!(status, 201, "{kp}");
    (
        op,
        kp["client_id"].as_str().unwrap().to_owned(),
        kp["client_secret"].as_str().unwrap().to_owned(),
    )
}

fn set_enabled(server: &Server, op: &str, id: &str, enabled: bool) {
    let (status, body) = admin(
        server,
        op,
        "PATCH",
        &format!("/admin/v1/keypairs/{id}"),
        Some(json!({ "enabled": enabled })),
    );
    assert_eq!(status, 200, "{body}");
}

/// Polls `check` until it holds, failing after `limit`; returns how long it took.
fn within(limit: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let clock = clock::Clock::system();
    let start = clock.instant();
    loop {
        if check() {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[actix_web::test]
async fn a_disable_reaches_the_example_feedback_api_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("KEYGATE_STATUS_TTL_SECONDS", "1")];
    let (op_id, op_secret) = bootstrap(dir.path(), &env);
    let server = Server::start(dir.path(), &env);
    let (op, id, secret) = reader(&server, &op_id, &op_secret);
    let (status, body) = token(&server, &id, &secret, "");
    assert_eq!(status, 200, "{body}");
    let read_token = body["access_token"].as_str().unwrap().to_owned();

    // The example's guard, built as its main() does: default settings, status on.
    let guard = web::Data::new(Guard::builder(&server.base, "feedback-api").build());
    let app = actix_test::init_service(App::new().app_data(guard).configure(example::routes)).await;
    let get = || {
        actix_test::TestRequest::get()
            .uri("/feedback")
            .insert_header(("authorization", format!("Bearer {read_token}")))
            .to_request()
    };
    assert_eq!(actix_test::call_service(&app, get()).await.status(), 200);

    for (enabled, want) in [(false, 401), (true, 200), (false, 401), (true, 200)] {
        set_enabled(&server, &op, &id, enabled);
        let clock = clock::Clock::system();
        let start = clock.instant();
        loop {
            let got = actix_test::call_service(&app, get())
                .await
                .status()
                .as_u16();
            if got == want {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "enabled={enabled}: the example still answers {got} after 3 s"
            );
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The status of entry `idx` in the list JWT `jwt`, decoded here without keygate's
/// code: the payload's `status_list.lst` is base64url(zlib(2 bits per entry)), index 0
/// in the least significant bits of byte 0.
fn entry_status(jwt: &str, idx: u64) -> u8 {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["status_list"]["bits"], 2);
    let lst = URL_SAFE_NO_PAD
        .decode(claims["status_list"]["lst"].as_str().unwrap())
        .unwrap();
    let bytes = zune_inflate::DeflateDecoder::new(&lst)
        .decode_zlib()
        .unwrap();
    let byte = bytes[usize::try_from(idx / 4).unwrap()];
    (byte >> (2 * (idx % 4))) & 0b11
}

/// The `status.status_list` claim of an access token: (uri, idx).
fn status_claim(access_token: &str) -> (String, u64) {
    let payload = access_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let entry = &claims["status"]["status_list"];
    (
        entry["uri"].as_str().unwrap().to_owned(),
        entry["idx"].as_u64().unwrap(),
    )
}

#[test]
fn a_second_server_on_postgres_serves_a_disable_within_ttl_without_notices() {
    let Some(db) = keypair_store::testing::TestDb::postgres() else {
        eprintln!("KEYGATE_TEST_POSTGRES_URL not set: PostgreSQL variant not run");
        return;
    };
    let url = db.url_string();
    let env = [
        ("KEYGATE_DATABASE_URL", url.as_str()),
        ("KEYGATE_STATUS_TTL_SECONDS", "1"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let (op_id, op_secret) = bootstrap(dir.path(), &env);
    // Same directory: the same key-encryption key file, as a fleet shares one KEK.
    let one = Server::start(dir.path(), &env);
    let two = Server::start(dir.path(), &env);
    let (op, id, secret) = reader(&one, &op_id, &op_secret);
    let (status, body) = token(&one, &id, &secret, "");
    assert_eq!(status, 200, "{body}");
    let (uri, idx) = status_claim(body["access_token"].as_str().unwrap());
    let list_id = uri.rsplit('/').next().unwrap().to_owned();
    let served_by_two = || {
        let r = agent()
            .get(&two.url(&format!("/statuslists/{list_id}")))
            .call()
            .ok()?;
        let jwt = r.into_string().ok()?;
        Some(entry_status(&jwt, idx))
    };
    // The other server serves the list opened through the first one.
    within(
        Duration::from_secs(2),
        "the new list at the other server",
        || served_by_two() == Some(0),
    );

    // Cut every listener connection: the notices of the next change are lost.
    let listeners = db.listener_application_name().unwrap();
    let cut = || {
        db.execute_sql(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = '{listeners}'"
        ))
    };
    cut();
    set_enabled(&one, &op, &id, false);
    // ttl + 1 s, with half a second of slack for this test's own polling and requests.
    let took = within(
        Duration::from_millis(2500),
        "a disable at the other server",
        || served_by_two() == Some(2),
    );
    eprintln!("disable served by the other server after {took:?}");
    cut();
    set_enabled(&one, &op, &id, true);
    within(
        Duration::from_millis(2500),
        "an enable at the other server",
        || served_by_two() == Some(0),
    );
}
