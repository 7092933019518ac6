//! The console's way in against the real binary: a person invited at the command line
//! sets a password, signs in, sees what they administer and signs out, and every
//! process on a shared PostgreSQL database serves and ends the same session.

use serde_json::{json, Value};

use crate::admin::{admin, token};
use crate::support::{csrf_token, keygate, run, ConsoleClient, Server};

/// The issuer both processes serve the console as, as they would behind one load
/// balancer (the test sends it as `Host` and `Origin`).
const ISSUER: &str = "http://keygate.test";

fn cli(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Value {
    let out = run({
        let mut c = keygate(dir);
        c.args(args).envs(env.iter().copied());
        c
    });
    assert!(out.status.success(), "{args:?}: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_person_invited_at_the_command_line_uses_two_processes_on_postgres_as_one() {
    let Some(db) = keypair_store::testing::TestDb::postgres() else {
        eprintln!("KEYGATE_TEST_POSTGRES_URL not set: PostgreSQL variant not run");
        return;
    };
    let url = db.url_string();
    let env = [
        ("KEYGATE_DATABASE_URL", url.as_str()),
        ("KEYGATE_ISSUER", ISSUER),
    ];
    let dir = tempfile::tempdir().unwrap();
    let boot = cli(dir.path(), &env, &["bootstrap"]);
    let one = Server::start(dir.path(), &env);
    let two = Server::start(dir.path(), &env);

    // An account to administer, made by the operator keypair.
    let (status, body) = token(
        &one,
        boot["client_id"].as_str().unwrap(),
        boot["client_secret"].as_str().unwrap(),
        "",
    );
    assert_eq!(status, 200, "{body}");
    let op = body["access_token"].as_str().unwrap().to_owned();
    let (status, account) = admin(
        &one,
        &op,
        "POST",
        "/admin/v1/accounts",
        Some(json!({"name": "Blackbox Feedback Ltd"})),
    );
    assert_eq!(status, 201, "{account}");
    let account_id = account["id"].as_str().unwrap();

    // The person is invited at the command line, while both servers run.
    let line = cli(
        dir.path(),
        &env,
        &[
            "users",
            "invite",
            "Admin@Example.test",
            "--account",
            account_id,
        ],
    );
    assert_eq!(line["role"], "account_admin", "{line}");
    let setup_path = line["setup_url"]
        .as_str()
        .unwrap()
        .strip_prefix(ISSUER)
        .unwrap()
        .to_owned();

    // The link is opened through process one and the password set there.
    let mut browser = ConsoleClient::as_issuer(&one, ISSUER);
    let (status, _) = browser.get(&setup_path);
    assert_eq!(status, 303);
    let (status, page) = browser.get("/console/setup");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("New password"), "{page}");
    let password = "two processes, one session 41b2";
    let (status, page) = browser.post(
        "/console/setup",
        &[
            ("csrf_token", &csrf_token(&page)),
            ("action", "set_password"),
            ("new_password", password),
        ],
    );
    assert_eq!(status, 303, "{page}");
    assert!(browser.cookies.contains_key("keygate_session"));

    // Process two serves the same session: the home page names the account.
    browser.switch_to(&two);
    let (status, home) = browser.get("/console");
    assert_eq!(status, 200, "{home}");
    assert!(home.contains("Blackbox Feedback Ltd"), "{home}");
    assert!(home.contains("Sign out"), "{home}");

    // Signing out through two ends the session for one too.
    let old_session = browser.cookies["keygate_session"].clone();
    let (status, _) = browser.post("/console/sign-out", &[("csrf_token", &csrf_token(&home))]);
    assert_eq!(status, 303);
    assert!(!browser.cookies.contains_key("keygate_session"));
    browser.switch_to(&one);
    let (status, _) = browser.get("/console");
    assert_eq!(status, 303, "signed out: back to the sign-in page");
    // Even the old cookie, replayed, is no session any more at either process.
    for server in [&one, &two] {
        let mut replay = ConsoleClient::as_issuer(server, ISSUER);
        replay
            .cookies
            .insert("keygate_session".into(), old_session.clone());
        let (status, _) = replay.get("/console");
        assert_eq!(status, 303);
    }

    // The person signs in again through one with the password they set.
    let (status, page) = browser.get("/console/sign-in");
    assert_eq!(status, 200, "{page}");
    let (status, _) = browser.post(
        "/console/sign-in",
        &[
            ("csrf_token", &csrf_token(&page)),
            ("email", "admin@example.test"),
            ("password", password),
        ],
    );
    assert_eq!(status, 303);
    browser.switch_to(&two);
    let (status, home) = browser.get("/console");
    assert_eq!(status, 200, "{home}");
    assert!(home.contains("Blackbox Feedback Ltd"), "{home}");

    // Disabling the person at the command line ends the session in both processes.
    cli(
        dir.path(),
        &env,
        &["users", "disable", "admin@example.test"],
    );
    for server in [&one, &two] {
        browser.switch_to(server);
        assert_eq!(browser.get("/console").0, 303);
    }
}
