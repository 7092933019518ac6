//! A secret rotation with overlap through the admin API of the real binary, while a
//! client keeps getting tokens: it goes on with the old secret through the overlap,
//! switches to the new one, and never sees a failed request. Every wait polls with a
//! deadline.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::admin::{admin, token};
use crate::support::{agent, keygate, run, Server};

/// How long the old secret keeps working after the rotation.
const OVERLAP_SECONDS: i64 = 10;

/// Polls `check` until it holds, failing after `limit`.
fn within(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let clock = clock::Clock::system();
    let deadline = clock.instant() + limit;
    while !check() {
        assert!(clock.instant() < deadline, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What the client thread did, shared with the test.
#[derive(Default)]
struct Client {
    /// The secret it presents; the test swaps in the new one.
    secret: Mutex<String>,
    /// Successful requests, by the secret they used (0: old, 1: new).
    ok: [AtomicUsize; 2],
    /// Every failed request: the secret's index, status and body.
    failures: Mutex<Vec<(usize, u16, Value)>>,
    stop: AtomicBool,
}

impl Client {
    fn ok(&self, which: usize) -> usize {
        self.ok[which].load(Ordering::SeqCst)
    }
}

#[test]
fn a_client_keeps_its_tokens_coming_through_a_rotation_with_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let out = run({
        let mut c = keygate(dir.path());
        c.arg("bootstrap");
        c
    });
    assert!(out.status.success(), "bootstrap failed");
    let boot: Value = serde_json::from_slice(&out.stdout).unwrap();
    let server = Arc::new(Server::start(dir.path(), &[]));
    let op = token(
        &server,
        boot["client_id"].as_str().unwrap(),
        boot["client_secret"].as_str().unwrap(),
        "",
    )
    .1["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, acct) = admin(
        &server,
        &op,
        "POST",
        "/admin/v1/accounts",
        Some(json!({"name": "Acme"})),
    );
    assert_eq!(status, 201, "{acct}");
    let (status, kp) = admin(
        &server,
        &op,
        "POST",
        &format!(
            "/admin/v1/accounts/{}/keypairs",
            acct["id"].as_str().unwrap()
        ),
        Some(json!({"scopes": ["feedback:read"], "comment": "ingest worker"})),
    );
    assert_eq!(status, 201, "{kp}");
    let id = kp["client_id"].as_str().unwrap().to_owned();
    let old = kp["client_secret"].as_str().unwrap().to_owned();

    let client = Arc::new(Client {
        secret: Mutex::new(old.clone()),
        ..Client::default()
    });
    let worker = {
        let (client, server, id, old) = (client.clone(), server.clone(), id.clone(), old.clone());
        std::thread::spawn(move || {
            while !client.stop.load(Ordering::SeqCst) {
                let secret = client.secret.lock().unwrap().clone();
                let which = usize::from(secret != old);
                let (status, body) = token(&server, &id, &secret, "scope=feedback:read");
                if status == 200 && body["access_token"].is_string() {
                    client.ok[which].fetch_add(1, Ordering::SeqCst);
                } else {
                    client.failures.lock().unwrap().push((which, status, body));
                }
                // Pacing, so the client does not take the machine from the server.
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let settle = Duration::from_secs(30);
    within(
        settle,
        "the client gets tokens with its first secret",
        || client.ok(0) >= 5,
    );

    // Rotate, with the old secret working for the overlap.
    let resp = agent()
        .post(&server.url(&format!("/admin/v1/keypairs/{id}/secrets")))
        .set("authorization", &format!("Bearer {op}"))
        .send_json(json!({ "previous_secret_expires_in_seconds": OVERLAP_SECONDS }));
    let resp = match resp {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport: {e}"),
    };
    let status = resp.status();
    let cache_control = resp.header("cache-control").map(str::to_owned);
    let rotated: Value = serde_json::from_str(&resp.into_string().unwrap()).unwrap_or_default();
    assert_eq!(status, 201, "{rotated}");
    assert_eq!(cache_control.as_deref(), Some("no-store"));
    let new = rotated["client_secret"]
        .as_str()
        .expect("client_secret")
        .to_owned();
    assert_ne!(new, old);
    assert!(new.starts_with(rotated["secret_hint"].as_str().unwrap()));
    let secrets = rotated["secrets"].as_array().expect("secrets");
    assert_eq!(secrets.len(), 2, "{rotated}");
    let rotated_at = clock::Clock::system().instant();

    // The client goes on with the old secret for a while inside the overlap...
    let before = client.ok(0);
    within(
        settle,
        "the old secret keeps working after the rotation",
        || client.ok(0) >= before + 5,
    );
    assert!(
        rotated_at.elapsed() < Duration::from_secs(OVERLAP_SECONDS as u64),
        "the old secret was only used inside the overlap"
    );
    // ...then switches to the new one.
    *client.secret.lock().unwrap() = new.clone();
    within(settle, "the client gets tokens with the new secret", || {
        client.ok(1) >= 5
    });

    // After the overlap the old secret fails like a wrong one, the new one works.
    let wrong = token(&server, &id, "kgs_wrong", "");
    within(
        Duration::from_secs(OVERLAP_SECONDS as u64 + 30),
        "the old secret stops after the overlap",
        || token(&server, &id, &old, "") == wrong,
    );
    assert_eq!(wrong.0, 401);
    let ok_before = client.ok(1);
    within(settle, "the new secret still works", || {
        client.ok(1) > ok_before
    });
    client.stop.store(true, Ordering::SeqCst);
    worker.join().unwrap();

    let failures = client.failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {:?}",
        failures.len(),
        failures.len() + client.ok(0) + client.ok(1),
        &failures[..failures.len().min(5)]
    );
}
