//! The README's first five minutes through the real binary: bootstrap → account →
//! environment → keypair → token, with the admin API protected by its own tokens.

use serde_json::{json, Value};

use crate::support::{agent, keygate, run, Server};

pub(crate) fn token(server: &Server, id: &str, secret: &str, extra: &str) -> (u16, Value) {
    let resp = agent()
        .post(&server.url("/token"))
        .set(
            "authorization",
            &format!(
                "Basic {}",
                base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    format!("{id}:{secret}")
                )
            ),
        )
        .send_form(
            &[("grant_type", "client_credentials")]
                .into_iter()
                .chain(extra_params(extra))
                .collect::<Vec<_>>(),
        );
    read(resp)
}

fn extra_params(extra: &str) -> Vec<(&str, &str)> {
    extra
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

fn read(resp: Result<ureq::Response, ureq::Error>) -> (u16, Value) {
    let r = match resp {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport: {e}"),
    };
    let status = r.status();
    let body = r.into_string().unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

pub(crate) fn admin(
    server: &Server,
    bearer: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let req = agent()
        .request(method, &server.url(path))
        .set("authorization", &format!("Bearer {bearer}"));
    read(match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    })
}

#[test]
fn first_five_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let out = run({
        let mut c = keygate(dir.path());
        c.arg("bootstrap");
        c
    });
    let boot: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (op_id, op_secret) = (
        boot["client_id"].as_str().unwrap(),
        boot["client_secret"].as_str().unwrap(),
    );
    let server = Server::start(dir.path(), &[]);

    let (status, t) = token(&server, op_id, op_secret, "");
    assert_eq!(status, 200);
    let op = t["access_token"].as_str().unwrap().to_owned();

    let (status, acct) = admin(
        &server,
        &op,
        "POST",
        "/admin/v1/accounts",
        Some(json!({"name": "Acme"})),
    );
    assert_eq!(status, 201, "{acct}");
    let a = acct["id"].as_str().unwrap();
    let (status, env) = admin(
        &server,
        &op,
        "POST",
        &format!("/admin/v1/accounts/{a}/environments"),
        Some(json!({"name": "production"})),
    );
    assert_eq!(status, 201);
    let e = env["id"].as_str().unwrap();
    let (status, kp) = admin(
        &server,
        &op,
        "POST",
        &format!("/admin/v1/environments/{e}/keypairs"),
        Some(json!({"scopes": ["feedback:read", "feedback:write"], "comment": "ingest worker"})),
    );
    assert_eq!(status, 201, "{kp}");
    let (id, secret) = (
        kp["client_id"].as_str().unwrap(),
        kp["client_secret"].as_str().unwrap(),
    );

    let (status, t) = token(&server, id, secret, "scope=feedback:read");
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["scope"], "feedback:read");

    // That token is for the Feedback API, not the admin API.
    let fb = t["access_token"].as_str().unwrap();
    let (status, _) = admin(&server, fb, "GET", &format!("/admin/v1/accounts/{a}"), None);
    assert_eq!(status, 401);

    // Disable it: refused at once.
    let (status, _) = admin(
        &server,
        &op,
        "PATCH",
        &format!("/admin/v1/keypairs/{id}"),
        Some(json!({"enabled": false})),
    );
    assert_eq!(status, 200);
    assert_eq!(token(&server, id, secret, "").0, 401);

    // Unknown routes get JSON 404s.
    let (status, body) = admin(&server, &op, "GET", "/admin/v1/nothing", None);
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));

    let log = server.log();
    for s in [op_secret, secret, op.as_str(), fb] {
        assert!(!log.contains(s), "a secret or token reached the log");
    }
}

/// Scale-out: two servers on one PostgreSQL database, each caching keypairs for a
/// minute. A disable or delete made through one is refused by the other at once
/// (LISTEN/NOTIFY), not after the cache TTL.
#[test]
fn a_second_server_on_postgres_sees_disables_and_deletes_at_once() {
    let Some(db) = keypair_store::testing::TestDb::postgres() else {
        eprintln!("KEYGATE_TEST_POSTGRES_URL not set: PostgreSQL variant not run");
        return;
    };
    let url = db.url_string();
    let env = [
        ("KEYGATE_DATABASE_URL", url.as_str()),
        ("KEYGATE_DATABASE_KEYPAIR_CACHE_TTL_MS", "60000"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let out = run({
        let mut c = keygate(dir.path());
        c.arg("bootstrap").envs(env);
        c
    });
    assert!(out.status.success());
    let boot: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (op_id, op_secret) = (
        boot["client_id"].as_str().unwrap(),
        boot["client_secret"].as_str().unwrap(),
    );
    // Same directory: the same key-encryption key file, as a fleet shares one KEK.
    let one = Server::start(dir.path(), &env);
    let two = Server::start(dir.path(), &env);
    let op = token(&one, op_id, op_secret, "").1["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, acct) = admin(
        &one,
        &op,
        "POST",
        "/admin/v1/accounts",
        Some(json!({"name": "Acme"})),
    );
    let a = acct["id"].as_str().unwrap();
    let mut keypairs = Vec::new();
    for _ in 0..2 {
        let (status, kp) = admin(
            &one,
            &op,
            "POST",
            &format!("/admin/v1/accounts/{a}/keypairs"),
            Some(json!({"scopes": ["feedback:read"], "comment": "worker"})),
        );
        assert_eq!(status, 201, "{kp}");
        let (id, secret) = (
            kp["client_id"].as_str().unwrap().to_owned(),
            kp["client_secret"].as_str().unwrap().to_owned(),
        );
        // Served, and so cached, by the second server.
        assert_eq!(token(&two, &id, &secret, "").0, 200);
        keypairs.push((id, secret));
    }
    let refused_soon = |id: &str, secret: &str, what: &str| {
        let deadline = clock::Clock::system().instant() + std::time::Duration::from_secs(3);
        while token(&two, id, secret, "").0 != 401 {
            assert!(
                clock::Clock::system().instant() < deadline,
                "{what} through one server not seen by the other within 3 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    let (id, secret) = &keypairs[0];
    let (status, _) = admin(
        &one,
        &op,
        "PATCH",
        &format!("/admin/v1/keypairs/{id}"),
        Some(json!({"enabled": false})),
    );
    assert_eq!(status, 200);
    refused_soon(id, secret, "a disable");
    let (id, secret) = &keypairs[1];
    let (status, _) = admin(
        &one,
        &op,
        "DELETE",
        &format!("/admin/v1/keypairs/{id}"),
        None,
    );
    assert_eq!(status, 204);
    refused_soon(id, secret, "a delete");
}

/// Scale-out: a `keygate keys rotate` run against the shared PostgreSQL database is
/// picked up by every running server at once (NOTIFY), not after the 10 s reload
/// interval, so no server lags behind the others' new signing key for long.
#[test]
fn servers_on_postgres_pick_up_a_rotation_at_once() {
    let Some(db) = keypair_store::testing::TestDb::postgres() else {
        eprintln!("KEYGATE_TEST_POSTGRES_URL not set: PostgreSQL variant not run");
        return;
    };
    let url = db.url_string();
    let env = [
        ("KEYGATE_DATABASE_URL", url.as_str()),
        ("KEYGATE_KEY_RELOAD_INTERVAL_SECONDS", "60"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let servers = [
        Server::start(dir.path(), &env),
        Server::start(dir.path(), &env),
    ];
    let out = run({
        let mut c = keygate(dir.path());
        c.args(["keys", "rotate"]).envs(env);
        c
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kid = rotated["kid"].as_str().unwrap();
    for server in &servers {
        let deadline = clock::Clock::system().instant() + std::time::Duration::from_secs(3);
        loop {
            let (_, jwks) = read(agent().get(&server.url("/.well-known/jwks.json")).call());
            let kids: Vec<&str> = jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|k| k["kid"].as_str())
                .collect();
            if kids.contains(&kid) {
                break;
            }
            assert!(
                clock::Clock::system().instant() < deadline,
                "{} did not publish the rotated key within 3 s: {kids:?}",
                server.base
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
