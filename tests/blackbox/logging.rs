//! What the server logs for bad client input: a malformed request head is the client's
//! fault, so it is never logged at ERROR.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::Server;

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
