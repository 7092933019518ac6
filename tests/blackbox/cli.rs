//! The command line: bootstrap, migrate, serve, keys rotate, configuration errors.

use keypair_store::testing::TestDb;
use keypair_store::{ClientAuth, ClientSecret, DatabaseUrl, PoolSettings, Store};

use crate::support::{agent, call, keygate, run, Server};
use crate::tokens::{bootstrap, kid, oauth2_token};

fn assert_one_line_error(stderr: &[u8], needle: &str) {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got: {text}");
    assert!(lines[0].starts_with("keygate: error: "), "{text}");
    assert!(
        lines[0].contains(needle),
        "error should name {needle:?}: {text}"
    );
    assert!(
        !text.contains("panicked") && !text.contains("backtrace"),
        "{text}"
    );
}

#[test]
fn bootstrap_prints_one_json_line_with_a_secret_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let out = run({
        let mut c = keygate(dir.path());
        c.arg("bootstrap");
        c
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "exactly one line: {stdout}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 2);
    let client_id = obj["client_id"].as_str().unwrap();
    let secret = obj["client_secret"].as_str().unwrap();
    assert!(client_id.starts_with("kg_"));
    assert!(ClientSecret::from_presented(secret).is_well_formed());
    // The secret is printed once, never logged.
    assert!(!String::from_utf8_lossy(&out.stderr).contains(secret));

    // The database was created under ./data and the secret verifies against it.
    let db = dir.path().join("data/keygate.db");
    assert!(db.exists());
    let store = Store::open(&DatabaseUrl::Sqlite(db), &PoolSettings::default()).unwrap();
    match store
        .authenticate(
            client_id,
            &ClientSecret::from_presented(secret),
            std::net::Ipv4Addr::LOCALHOST.into(),
            clock::Clock::system().now(),
        )
        .unwrap()
    {
        ClientAuth::Authenticated(kp) => assert!(kp.scopes.contains("keygate:operator")),
        other => panic!("bootstrap secret does not verify: {other:?}"),
    }
    let wrong = ClientSecret::generate();
    assert!(matches!(
        store
            .authenticate(
                client_id,
                &wrong,
                std::net::Ipv4Addr::LOCALHOST.into(),
                clock::Clock::system().now(),
            )
            .unwrap(),
        ClientAuth::Rejected(_)
    ));
}

#[test]
fn serve_on_an_empty_directory_creates_the_database_and_answers_health_checks() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    assert!(dir.path().join("data/keygate.db").exists());
    let (status, body) = call(agent().get(&server.url("/healthz")));
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(agent().get(&server.url("/readyz")));
    assert_eq!(status, 200, "{body}");
    let log = server.log();
    assert!(log.contains("listening on"), "logs where it listens: {log}");
    assert!(
        log.contains("keygate bootstrap"),
        "says how to create the first operator: {log}"
    );
}

#[test]
fn serve_on_postgres() {
    let Some(db) = TestDb::postgres() else {
        eprintln!("KEYGATE_TEST_POSTGRES_URL not set: PostgreSQL variant not run");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = db.url_string();
    let server = Server::start(dir.path(), &[("KEYGATE_DATABASE_URL", &url)]);
    let (status, _) = call(agent().get(&server.url("/readyz")));
    assert_eq!(status, 200);
    assert!(
        !dir.path().join("data/keygate.db").exists(),
        "no SQLite file when PostgreSQL is configured"
    );
}

/// One-shot commands on PostgreSQL exit cleanly every time. They used to crash
/// (SIGSEGV) in about one run in eight: the pool's background thread was still in a
/// libpq TLS handshake when `exit` ran OpenSSL's cleanup under it.
#[test]
fn one_shot_commands_on_postgres_exit_cleanly_every_time() {
    let Some(db) = TestDb::postgres() else {
        eprintln!("KEYGATE_TEST_POSTGRES_URL not set: PostgreSQL variant not run");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = db.url_string();
    for (i, command) in ["bootstrap", "migrate"].iter().cycle().take(40).enumerate() {
        let out = run({
            let mut c = keygate(dir.path());
            c.arg(command).env("KEYGATE_DATABASE_URL", &url);
            c
        });
        assert!(
            out.status.success(),
            "run {i} of `keygate {command}` ended with {:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn migrate_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = run({
            let mut c = keygate(dir.path());
            c.arg("migrate");
            c
        });
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(dir.path().join("data/keygate.db").exists());
}

#[test]
fn an_unknown_config_key_exits_non_zero_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keygate.toml");
    std::fs::write(&file, "[database]\nurll = \"sqlite://x.db\"\n").unwrap();
    let out = run({
        let mut c = keygate(dir.path());
        c.arg("--config").arg(&file).arg("migrate");
        c
    });
    assert!(!out.status.success());
    assert_one_line_error(&out.stderr, "database.urll");

    let out = run({
        let mut c = keygate(dir.path());
        c.arg("serve").env("KEYGATE_DATABASE_POOLSIZE", "4");
        c
    });
    assert!(!out.status.success());
    assert_one_line_error(&out.stderr, "KEYGATE_DATABASE_POOLSIZE");
    assert!(
        !dir.path().join("data").exists(),
        "nothing created on a config error"
    );
}

#[test]
fn an_unreachable_database_exits_non_zero_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = run({
        let mut c = keygate(dir.path());
        c.arg("serve").env(
            "KEYGATE_DATABASE_URL",
            "postgres://keygate:hunter2@127.0.0.1:1/keygate",
        );
        c
    });
    assert!(!out.status.success());
    assert_one_line_error(&out.stderr, "127.0.0.1:1");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("hunter2"),
        "password redacted"
    );
}

#[test]
fn environment_overrides_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keygate.toml");
    std::fs::write(&file, "[database]\nurl = \"sqlite://from-file/k.db\"\n").unwrap();
    let out = run({
        let mut c = keygate(dir.path());
        c.arg("--config").arg(&file).arg("migrate");
        c
    });
    assert!(out.status.success());
    assert!(dir.path().join("from-file/k.db").exists());
    let out = run({
        let mut c = keygate(dir.path());
        c.arg("--config")
            .arg(&file)
            .arg("migrate")
            .env("KEYGATE_DATABASE_URL", "sqlite://from-env/k.db");
        c
    });
    assert!(out.status.success());
    assert!(dir.path().join("from-env/k.db").exists());
}

#[test]
fn help_is_available_for_every_command() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["bootstrap", "--help"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = run({
            let mut c = keygate(dir.path());
            c.args(&args);
            c
        });
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage: keygate"),
            "{args:?}"
        );
        assert!(!dir.path().join("data").exists(), "--help touches nothing");
    }
}

/// `keygate keys rotate` with the default publish lead (60 s): it says when the new key
/// signs; a running server publishes the key at its next reload while /token keeps
/// signing with the current key; a second rotation meanwhile is refused.
#[test]
fn keys_rotate_publishes_the_new_key_a_minute_before_it_signs() {
    use oauth2::AuthType;
    use time::format_description::well_known::Rfc3339;
    use time::OffsetDateTime;

    let dir = tempfile::tempdir().unwrap();
    let (id, secret) = bootstrap(dir.path());
    let env = [("KEYGATE_KEY_RELOAD_INTERVAL_SECONDS", "1")];
    let server = Server::start(dir.path(), &env);
    let old = kid(&oauth2_token(&server, &id, &secret, AuthType::BasicAuth));

    let clock = clock::Clock::system();
    let started = clock.now();
    let out = run({
        let mut c = keygate(dir.path());
        c.args(["keys", "rotate"]);
        c
    });
    let finished = clock.now();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    let rotated: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let obj = rotated.as_object().unwrap();
    let mut fields: Vec<&str> = obj.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["alg", "kid", "signs_from"]);
    assert_eq!(rotated["alg"], "EdDSA");
    let new = rotated["kid"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let signs_from_text = rotated["signs_from"].as_str().unwrap();
    let signs_from = OffsetDateTime::parse(signs_from_text, &Rfc3339).unwrap();
    let lead = time::Duration::seconds(60);
    assert!(
        started + lead <= signs_from && signs_from <= finished + lead,
        "signs_from {signs_from} is not 60 s after the rotation ({started} .. {finished})"
    );
    assert!(
        stderr.contains(signs_from_text),
        "the log says when the key signs: {stderr}"
    );

    // The running server publishes the key at its next reload (every second here).
    let deadline = clock.instant() + std::time::Duration::from_secs(15);
    loop {
        let (status, body) = call(agent().get(&server.url("/.well-known/jwks.json")));
        assert_eq!(status, 200, "{body}");
        let jwks: serde_json::Value = serde_json::from_str(&body).unwrap();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|k| k["kid"].as_str())
            .collect();
        if kids.contains(&new.as_str()) {
            assert!(kids.contains(&old.as_str()), "{kids:?}");
            break;
        }
        assert!(
            clock.instant() < deadline,
            "the server did not publish {new} within 15 s: {kids:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // ... and keeps signing with the current key until `signs_from`.
    let token = oauth2_token(&server, &id, &secret, AuthType::BasicAuth);
    assert!(
        clock.now() < signs_from,
        "this machine took a minute to get here; the check below would mean nothing"
    );
    assert_eq!(kid(&token), old, "/token signs with the current key");

    // One rotation waits at a time.
    let again = run({
        let mut c = keygate(dir.path());
        c.args(["keys", "rotate"]);
        c
    });
    assert!(!again.status.success());
    assert!(again.stdout.is_empty(), "nothing printed when refused");
    let text = String::from_utf8_lossy(&again.stderr);
    let error = text
        .lines()
        .find(|l| l.starts_with("keygate: error: "))
        .unwrap_or_else(|| panic!("no error line: {text}"));
    assert!(
        error.contains(&new) && error.contains(signs_from_text),
        "the refusal names the waiting key and when it signs: {error}"
    );
}
