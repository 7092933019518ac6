//! What the server logs for bad client input: a malformed request head is the client's
//! fault, so it is never logged at ERROR.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::{csrf_token, ConsoleClient, Server};

/// The dispatcher target of actix-web, which reports malformed request heads.
const DISPATCHER: &str = "actix_http::h1::dispatcher";

/// Sends a request head with a header line that has no colon, and reads the reply until
/// the server closes the connection (it logs the parse error before it closes).
fn send_malformed_head(server: &Server) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nthis is not a header\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

/// Polls the server's log, up to about ten seconds, for a line containing `needle`.
fn wait_for_log_line(server: &Server, needle: &str) -> String {
    for _ in 0..200 {
        if let Some(line) = server.log().lines().find(|l| l.contains(needle)) {
            return line.to_owned();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no log line with {needle:?} in time: {}", server.log());
}

fn error_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains("ERROR")).collect()
}

#[test]
fn a_malformed_request_head_gets_400_and_no_log_line_at_the_default_level() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("KEYGATE_LOG_FORMAT", "json")]);

    let reply = send_malformed_head(&server);
    assert!(reply.starts_with("HTTP/1.1 400 "), "reply: {reply:?}");

    let log = server.log();
    assert_eq!(error_lines(&log), Vec::<&str>::new(), "log: {log}");
    assert!(!log.contains("parse error"), "log: {log}");
}

#[test]
fn a_malformed_request_head_is_logged_at_debug_when_asked_for() {
    let filter = format!("info,{DISPATCHER}=debug");
    for format in ["text", "json"] {
        let dir = tempfile::tempdir().unwrap();
        let env = [
            ("RUST_LOG", filter.as_str()),
            ("KEYGATE_LOG_FORMAT", format),
        ];
        let server = Server::start(dir.path(), &env);

        let reply = send_malformed_head(&server);
        assert!(reply.starts_with("HTTP/1.1 400 "), "reply: {reply:?}");

        let line = wait_for_log_line(&server, "request parse error");
        assert!(line.contains("DEBUG"), "{format}: {line}");
        assert!(line.contains(DISPATCHER), "{format}: {line}");
        let log = server.log();
        assert_eq!(error_lines(&log), Vec::<&str>::new(), "{format}: {log}");
    }
}

#[test]
fn console_passwords_codes_and_session_ids_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let base = format!("http://127.0.0.1:{port}");
    // The first person, invited at the command line before the server has run.
    let invited = crate::support::run({
        let mut c = crate::support::keygate(dir.path());
        c.args([
            "users",
            "invite",
            "Hygiene.Person@example.test",
            "--operator",
        ])
        .env("KEYGATE_ISSUER", &base)
        .env("RUST_LOG", "debug");
        c
    });
    assert!(invited.status.success(), "{invited:?}");
    let line: serde_json::Value = serde_json::from_slice(&invited.stdout).unwrap();
    let setup_url = line["setup_url"].as_str().unwrap().to_owned();
    let setup_path = setup_url.strip_prefix(&base).unwrap().to_owned();
    let code = setup_path.rsplit('/').next().unwrap().to_owned();
    assert!(code.len() >= 32, "{setup_url}");
    let cli_log = String::from_utf8_lossy(&invited.stderr).into_owned();
    assert!(!cli_log.contains(&code), "the code is in the command's log");
    let server = Server::start_on(
        dir.path(),
        port,
        &[("KEYGATE_LOG_FORMAT", "json"), ("RUST_LOG", "debug")],
    );
    let password = "log hygiene password 8c1f";
    let wrong = "wrong password never logged 77ad";
    let unknown_email = "unknown.person.7f3e@example.test";

    let mut b = ConsoleClient::new(&server);
    assert_eq!(b.get(&setup_path).0, 303);
    let setup_cookie = b.cookies.get("keygate_setup").unwrap().clone();
    let (status, page) = b.get("/console/setup");
    assert_eq!(status, 200, "{page}");
    let pre_session = b.cookies.get("keygate_csrf").unwrap().clone();
    let setup_token = csrf_token(&page);
    let (status, _) = b.post(
        "/console/setup",
        &[
            ("csrf_token", &setup_token),
            ("action", "set_password"),
            ("new_password", password),
        ],
    );
    assert_eq!(status, 303);
    let first_session = b.cookies.get("keygate_session").unwrap().clone();
    let (status, home) = b.get("/console");
    assert_eq!(status, 200, "{home}");
    let session_token = csrf_token(&home);
    assert_eq!(
        b.post("/console/sign-out", &[("csrf_token", &session_token)])
            .0,
        303
    );

    let (_, sign_in) = b.get("/console/sign-in");
    let token = csrf_token(&sign_in);
    for (email, pw) in [
        ("hygiene.person@example.test", wrong),
        (unknown_email, wrong),
    ] {
        let (status, _) = b.post(
            "/console/sign-in",
            &[("csrf_token", &token), ("email", email), ("password", pw)],
        );
        assert_eq!(status, 400);
    }
    let (status, _) = b.post(
        "/console/sign-in",
        &[
            ("csrf_token", &token),
            ("email", "hygiene.person@example.test"),
            ("password", password),
        ],
    );
    assert_eq!(status, 303);
    let second_session = b.cookies.get("keygate_session").unwrap().clone();

    // The outcomes are there, by reason code...
    let log = wait_for_log_line(&server, "\"outcome\":\"unknown_email\"");
    assert!(log.contains("console sign-in refused"), "{log}");
    let log = server.log();
    for needle in [
        "\"outcome\":\"ok\"",
        "\"outcome\":\"wrong_password\"",
        "setup link opened",
    ] {
        assert!(log.contains(needle), "{needle} missing: {log}");
    }
    // ...and no secret, nor the email of a failed sign-in.
    for (what, secret) in [
        ("setup code", code.as_str()),
        ("setup cookie", setup_cookie.as_str()),
        ("password", password),
        ("wrong password", wrong),
        ("first session id", first_session.as_str()),
        ("second session id", second_session.as_str()),
        ("pre-session cookie", pre_session.as_str()),
        ("setup csrf token", setup_token.as_str()),
        ("session csrf token", session_token.as_str()),
        ("unknown email", unknown_email),
    ] {
        assert!(!log.contains(secret), "the {what} is in the log");
    }
    assert_eq!(error_lines(&log), Vec::<&str>::new(), "{log}");
}
