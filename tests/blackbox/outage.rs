//! A PostgreSQL outage: keygate reaches the database through a TCP proxy that this
//! test can cut (existing connections reset, new ones refused). During the outage
//! `/token` and the admin API answer 503 with a JSON error within a bounded time and
//! `/readyz` says not ready; when the database returns, everything recovers without a
//! restart.

use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keypair_store::testing::TestDb;
use serde_json::{json, Value};

use crate::support::{agent, keygate, run, Server};

/// Forwards 127.0.0.1:<port> to the PostgreSQL server while `up`.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let live = Arc::new(Mutex::new(Vec::<TcpStream>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (u, l, s) = (up.clone(), live.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        if !u.load(Ordering::Relaxed) {
                            let _ = client.shutdown(Shutdown::Both);
                            continue;
                        }
                        let Ok(server) = TcpStream::connect(&target) else {
                            continue;
                        };
                        for (from, to) in [
                            (client.try_clone().unwrap(), server.try_clone().unwrap()),
                            (server.try_clone().unwrap(), client.try_clone().unwrap()),
                        ] {
                            std::thread::spawn(move || {
                                let (mut from, mut to) = (from, to);
                                let _ = std::io::copy(&mut from, &mut to);
                                let _ = to.shutdown(Shutdown::Both);
                            });
                        }
                        l.lock().unwrap().extend([client, server]);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Proxy {
            port,
            up,
            live,
            stop,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::Relaxed);
        for s in self.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::Relaxed);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.cut();
    }
}

fn call(
    req: ureq::Request,
    body: Option<Value>,
    form: Option<&[(&str, &str)]>,
) -> (u16, Value, Duration) {
    let start = clock::Clock::system().instant();
    let resp = match (body, form) {
        (Some(b), _) => req.send_json(b),
        (None, Some(f)) => req.send_form(f),
        (None, None) => req.call(),
    };
    let (status, text) = match resp {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap_or_default()),
        Err(e) => panic!("transport: {e}"),
    };
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        start.elapsed(),
    )
}

#[test]
fn a_database_outage_gives_bounded_503s_and_recovers_without_restart() {
    let Some(db) = TestDb::postgres() else {
        eprintln!("KEYGATE_TEST_POSTGRES_URL not set: PostgreSQL variant not run");
        return;
    };
    let direct = db.url_string();
    let (scheme_host, rest) = direct.split_once("@").unwrap();
    let (hostport, path) = rest.split_once('/').unwrap();
    let proxy = Proxy::start(hostport.to_owned());
    let via_proxy = format!("{scheme_host}@127.0.0.1:{}/{path}", proxy.port);
    let env = [
        ("KEYGATE_DATABASE_URL", via_proxy.as_str()),
        ("KEYGATE_DATABASE_CONNECT_TIMEOUT_SECONDS", "2"),
        ("KEYGATE_DATABASE_KEYPAIR_CACHE_TTL_MS", "200"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let out = run({
        let mut c = keygate(dir.path());
        c.arg("bootstrap").envs(env);
        c
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let boot: Value = serde_json::from_slice(&out.stdout).unwrap();
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!(
            "{}:{}",
            boot["client_id"].as_str().unwrap(),
            boot["client_secret"].as_str().unwrap()
        ))
    );
    let mut server = Server::start(dir.path(), &env);
    let base = server.base.clone();
    let url = |p: &str| format!("{base}{p}");
    let token = || {
        call(
            agent().post(&url("/token")).set("authorization", &basic),
            None,
            Some(&[("grant_type", "client_credentials")]),
        )
    };
    let (status, t, _) = token();
    assert_eq!(status, 200);
    let op = t["access_token"].as_str().unwrap().to_owned();
    let admin = || {
        call(
            agent()
                .post(&url("/admin/v1/accounts"))
                .set("authorization", &format!("Bearer {op}")),
            Some(json!({"name": "x"})),
            None,
        )
    };
    assert_eq!(admin().0, 201);

    proxy.cut();
    let real = clock::Clock::system();
    let cut = real.instant();
    let bound = Duration::from_secs(12);
    // Within the keypair cache TTL (200 ms here) /token may still answer from memory;
    // a request sent 300 ms or more after the cut must need the database.
    loop {
        let sent = real.instant();
        let (status, body, took) = token();
        assert!(took < bound, "/token took {took:?}");
        if status == 503 {
            assert_eq!(body["error"], "temporarily_unavailable");
            break;
        }
        assert_eq!(status, 200, "{body}");
        assert!(
            sent.duration_since(cut) < Duration::from_millis(300),
            "/token answered from memory past the cache TTL"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, body, took) = call(agent().get(&url("/readyz")), None, None);
    assert_eq!(status, 503, "{body}");
    assert!(took < bound, "/readyz took {took:?}");
    let (status, body, took) = admin();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "unavailable");
    assert!(took < bound, "admin API took {took:?}");
    let (status, body, took) = token();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(took < bound, "/token took {took:?}");
    assert!(server.child_alive(), "no crash during the outage");

    proxy.restore();
    let deadline = clock::Clock::system().instant() + Duration::from_secs(20);
    loop {
        let ready = call(agent().get(&url("/readyz")), None, None).0 == 200;
        if ready && token().0 == 200 && admin().0 == 201 {
            break;
        }
        assert!(
            clock::Clock::system().instant() < deadline,
            "keygate did not recover after the database returned"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
