//! Hardening, end to end: secrets never reach logs or error bodies (at the most verbose
//! log level), and a SIGKILL in the middle of admin writes loses nothing acknowledged.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use keypair_store::testing::TestDb;
use keypair_store::{DatabaseUrl, PoolSettings, Store};
use serde_json::{json, Value};

use crate::support::{agent, keygate, run, Server};

/// Status and body of any request, whatever the status.
fn send(req: ureq::Request, body: Option<Value>, form: Option<&[(&str, &str)]>) -> (u16, String) {
    let resp = match (body, form) {
        (Some(b), _) => req.send_json(b),
        (None, Some(f)) => req.send_form(f),
        (None, None) => req.call(),
    };
    match resp {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap_or_default()),
        Err(e) => panic!("transport: {e}"),
    }
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// Every form a secret value could leak in: itself, and its SHA-256 digest in hex and
/// base64.
fn forms(secret: &str) -> Vec<String> {
    let d = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
    vec![
        secret.to_owned(),
        d.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
        STANDARD.encode(d.as_ref()),
        URL_SAFE_NO_PAD.encode(d.as_ref()),
    ]
}

#[test]
fn secrets_and_tokens_never_reach_logs_or_error_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let kek = STANDARD.encode([0x5au8; 32]);
    let verbose = [
        ("RUST_LOG", "trace"),
        ("KEYGATE_KEY_ENCRYPTION_KEY", kek.as_str()),
    ];
    let out = run({
        let mut c = keygate(dir.path());
        c.arg("bootstrap").envs(verbose);
        c
    });
    let mut logs = String::from_utf8_lossy(&out.stderr).into_owned();
    let boot: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (op_id, op_secret) = (
        boot["client_id"].as_str().unwrap().to_owned(),
        boot["client_secret"].as_str().unwrap().to_owned(),
    );
    let server = Server::start(dir.path(), &verbose);

    let mut secrets = vec![op_secret.clone()];
    let mut tokens = Vec::new();
    let mut error_bodies = Vec::new();
    let token_for = |id: &str, secret: &str, tokens: &mut Vec<String>| {
        let (status, body) = send(
            agent()
                .post(&server.url("/token"))
                .set("authorization", &basic(id, secret)),
            None,
            Some(&[("grant_type", "client_credentials")]),
        );
        assert_eq!(status, 200, "{body}");
        let t = serde_json::from_str::<Value>(&body).unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        tokens.push(t.clone());
        t
    };
    let op = token_for(&op_id, &op_secret, &mut tokens);
    let admin = |method: &str, path: &str, body: Option<Value>| {
        send(
            agent()
                .request(method, &server.url(path))
                .set("authorization", &format!("Bearer {op}")),
            body,
            None,
        )
    };
    let (_, acct) = admin("POST", "/admin/v1/accounts", Some(json!({"name": "Acme"})));
    let a = serde_json::from_str::<Value>(&acct).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, env) = admin(
        "POST",
        &format!("/admin/v1/accounts/{a}/environments"),
        Some(json!({"name": "prod"})),
    );
    let e = serde_json::from_str::<Value>(&env).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut ids = Vec::new();
    for path in [
        format!("/admin/v1/accounts/{a}/keypairs"),
        format!("/admin/v1/environments/{e}/keypairs"),
    ] {
        let (status, body) = admin(
            "POST",
            &path,
            Some(json!({"scopes": ["feedback:read", "keygate:admin"]})),
        );
        assert_eq!(status, 201);
        let v: Value = serde_json::from_str(&body).unwrap();
        ids.push(v["client_id"].as_str().unwrap().to_owned());
        secrets.push(v["client_secret"].as_str().unwrap().to_owned());
    }
    // Tokens by both methods, and failures of every kind.
    token_for(&ids[0], &secrets[1], &mut tokens);
    let (status, body) = send(
        agent().post(&server.url("/token")),
        None,
        Some(&[
            ("grant_type", "client_credentials"),
            ("client_id", &ids[1]),
            ("client_secret", &secrets[2]),
        ]),
    );
    assert_eq!(status, 200);
    tokens.push(
        serde_json::from_str::<Value>(&body).unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    type Attempt<'a> = (Option<String>, Vec<(&'a str, &'a str)>);
    let failures: Vec<Attempt> = vec![
        (
            Some(basic(&ids[0], &secrets[2])),
            vec![("grant_type", "client_credentials")],
        ),
        (
            Some(basic("kg_00000000000000000000000000000000", &secrets[1])),
            vec![("grant_type", "client_credentials")],
        ),
        (
            Some(basic(&ids[0], &secrets[1])),
            vec![
                ("grant_type", "client_credentials"),
                ("client_secret", &secrets[1]),
            ],
        ),
        (
            None,
            vec![
                ("grant_type", "password"),
                ("client_id", &ids[0]),
                ("client_secret", &secrets[1]),
            ],
        ),
        (
            Some(basic(&ids[0], &secrets[1])),
            vec![
                ("grant_type", "client_credentials"),
                ("scope", "billing:admin"),
            ],
        ),
        (
            Some(format!("Bearer {op}")),
            vec![("grant_type", "client_credentials")],
        ),
    ];
    for (auth, form) in failures {
        let mut req = agent().post(&server.url("/token"));
        if let Some(a) = &auth {
            req = req.set("authorization", a);
        }
        let (status, body) = send(req, None, Some(&form));
        assert!((400..500).contains(&status), "{status} {body}");
        error_bodies.push(body);
    }
    for (method, path, body) in [
        (
            "POST",
            format!("/admin/v1/accounts/{a}/keypairs"),
            Some(json!({"scopes": ["nope"], "comment": secrets[1]})),
        ),
        (
            "PATCH",
            format!("/admin/v1/keypairs/{}", ids[0]),
            Some(json!({"client_secret": secrets[1]})),
        ),
        ("GET", format!("/admin/v1/keypairs/{}", secrets[1]), None),
        ("GET", format!("/admin/v1/accounts/{a}"), None),
    ] {
        let (status, body) = if path.ends_with(&a) {
            // With a tampered token (trailing garbage after the signature): refused.
            send(
                agent()
                    .get(&server.url(&path))
                    .set("authorization", &format!("Bearer {op}AAAA")),
                None,
                None,
            )
        } else {
            admin(method, &path, body)
        };
        assert!(
            (400..500).contains(&status),
            "{method} {path}: {status} {body}"
        );
        error_bodies.push(body);
    }
    // Disable a keypair and try it again.
    admin(
        "PATCH",
        &format!("/admin/v1/keypairs/{}", ids[1]),
        Some(json!({"enabled": false})),
    );
    let (status, body) = send(
        agent()
            .post(&server.url("/token"))
            .set("authorization", &basic(&ids[1], &secrets[2])),
        None,
        Some(&[("grant_type", "client_credentials")]),
    );
    assert_eq!(status, 401);
    error_bodies.push(body);
    let out = run({
        let mut c = keygate(dir.path());
        c.args(["keys", "rotate"]).envs(verbose);
        c
    });
    assert!(out.status.success());
    logs.push_str(&String::from_utf8_lossy(&out.stderr));
    logs.push_str(&server.log());
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "the run really logged verbosely"
    );

    for secret in &secrets {
        for form in forms(secret) {
            assert!(
                !logs.contains(&form),
                "a client secret (or its digest) is in the logs"
            );
            for body in &error_bodies {
                assert!(
                    !body.contains(&form),
                    "a client secret (or its digest) is in an error body: {body}"
                );
            }
        }
    }
    for token in &tokens {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!logs.contains(signature), "an access token is in the logs");
        assert!(
            error_bodies.iter().all(|b| !b.contains(signature)),
            "an access token is in an error body"
        );
    }
    assert!(
        !logs.contains(&kek),
        "the key-encryption key is in the logs"
    );
    assert!(!logs.contains(&STANDARD.encode(kek.as_bytes())));
}

fn crash_scenario(env: &[(&str, &str)], store_url: DatabaseUrl) {
    let dir = tempfile::tempdir().unwrap();
    let out = run({
        let mut c = keygate(dir.path());
        c.arg("bootstrap").envs(env.iter().copied());
        c
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let boot: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (id, secret) = (
        boot["client_id"].as_str().unwrap().to_owned(),
        boot["client_secret"].as_str().unwrap().to_owned(),
    );
    let mut server = Server::start(dir.path(), env);
    let port = server.port;
    let base = server.base.clone();
    let token_at = |base: &str| {
        let (_, body) = send(
            agent()
                .post(&format!("{base}/token"))
                .set("authorization", &basic(&id, &secret)),
            None,
            Some(&[("grant_type", "client_credentials")]),
        );
        serde_json::from_str::<Value>(&body).unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let op = token_at(&base);

    // Writers acknowledge into `acked`; the server dies under them.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (acked, op, base) = (acked.clone(), op.clone(), base.clone());
            std::thread::spawn(move || {
                let quick = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(2))
                    .build();
                let deadline = clock::Clock::system().instant() + Duration::from_secs(20);
                for i in 0.. {
                    if clock::Clock::system().instant() > deadline {
                        break;
                    }
                    let resp = quick
                        .post(&format!("{base}/admin/v1/accounts"))
                        .set("authorization", &format!("Bearer {op}"))
                        .send_json(json!({"name": format!("w{w}-{i}")}));
                    match resp {
                        Ok(r) if r.status() == 201 => {
                            let v: Value = r.into_json().unwrap();
                            acked
                                .lock()
                                .unwrap()
                                .push(v["id"].as_str().unwrap().to_owned());
                        }
                        Ok(_) | Err(ureq::Error::Status(..)) => {}
                        Err(_) => break, // the server is gone
                    }
                }
            })
        })
        .collect();
    let start = clock::Clock::system().instant();
    while acked.lock().unwrap().len() < 50 && start.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.child.kill().unwrap(); // SIGKILL, mid-burst
    server.child.wait().unwrap();
    for w in writers {
        w.join().unwrap();
    }
    drop(server);
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 50,
        "the burst was under way ({} writes acknowledged)",
        acked.len()
    );

    let store = Store::open(
        &store_url_for(&store_url, dir.path()),
        &PoolSettings::default(),
    )
    .unwrap();
    assert_eq!(store.check_integrity().unwrap(), "ok");
    drop(store);
    let restarted = Server::start_on(dir.path(), port, env);
    let op = token_at(&restarted.base);
    for id in &acked {
        let (status, body) = send(
            agent()
                .get(&restarted.url(&format!("/admin/v1/accounts/{id}")))
                .set("authorization", &format!("Bearer {op}")),
            None,
            None,
        );
        assert_eq!(
            status, 200,
            "acknowledged account {id} lost after SIGKILL: {body}"
        );
    }
}

fn store_url_for(url: &DatabaseUrl, dir: &std::path::Path) -> DatabaseUrl {
    match url {
        DatabaseUrl::Sqlite(p) if p.is_relative() => DatabaseUrl::Sqlite(dir.join(p)),
        other => other.clone(),
    }
}

#[test]
fn sigkill_during_admin_writes_loses_nothing_acknowledged_sqlite() {
    crash_scenario(&[], DatabaseUrl::Sqlite("data/keygate.db".into()));
}

#[test]
fn sigkill_during_admin_writes_loses_nothing_acknowledged_postgres() {
    let Some(db) = TestDb::postgres() else {
        eprintln!("KEYGATE_TEST_POSTGRES_URL not set: PostgreSQL variant not run");
        return;
    };
    let url = db.url_string();
    crash_scenario(&[("KEYGATE_DATABASE_URL", url.as_str())], db.url.clone());
}

#[test]
fn slow_clients_cannot_hold_the_server() {
    use std::io::{Read as _, Write as _};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[("KEYGATE_SERVER_CLIENT_REQUEST_TIMEOUT_MS", "1000")],
    );
    let addr = server.base.trim_start_matches("http://").to_owned();
    // Slowloris: many connections, each trickling a request head that never ends.
    let mut slow: Vec<std::net::TcpStream> = (0..50)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.write_all(b"POST /token HTTP/1.1\r\nHost: x\r\n").unwrap();
            s
        })
        .collect();
    // Meanwhile, ordinary requests are served promptly.
    for _ in 0..5 {
        let start = clock::Clock::system().instant();
        let (status, _) = send(agent().get(&server.url("/healthz")), None, None);
        assert_eq!(status, 200);
        assert!(start.elapsed() < Duration::from_secs(2));
        for s in &mut slow {
            let _ = s.write_all(b"X-Slow: 1\r\n");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // The server drops them at the request-head timeout (408 or a close): each read
    // ends then, long before its own deadline.
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_secs(4))).unwrap();
        let mut buf = Vec::new();
        let _ = s.write_all(b"X-Slow: 1\r\n");
        let n = s.read_to_end(&mut buf);
        let text = String::from_utf8_lossy(&buf);
        assert!(
            n.is_ok() || text.contains("408"),
            "a slow connection was kept open"
        );
        assert!(
            buf.is_empty() || text.starts_with("HTTP/1.1 408"),
            "unexpected answer: {text}"
        );
    }
    // A request head far over the limit is refused, and the server keeps working.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(200_000)
    );
    let _ = s.write_all(huge.as_bytes());
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    assert!(
        !text.starts_with("HTTP/1.1 200"),
        "a 200 KB header was accepted"
    );
    assert_eq!(
        send(agent().get(&server.url("/healthz")), None, None).0,
        200
    );
}
