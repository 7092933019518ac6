//! Stopping the real binary: SIGTERM under a load of `/token` requests lets every
//! request either finish with 200 or be refused at connect, and the process exits 0
//! within the shutdown timeout; a second signal exits at once.

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::Server;
use crate::tokens::bootstrap;

fn signal(server: &Server, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

/// Polls the child until it exits or `limit` passes; its status, or `None`.
fn wait_exit(server: &mut Server, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = clock::Clock::system().instant() + limit;
    while clock::Clock::system().instant() < deadline {
        if let Some(status) = server.child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Polls until `cond` holds, or panics at the deadline.
fn until(what: &str, limit: Duration, cond: impl Fn() -> bool) {
    let deadline = clock::Clock::system().instant() + limit;
    while !cond() {
        assert!(
            clock::Clock::system().instant() < deadline,
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigterm_under_load_finishes_requests_in_flight_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let (id, secret) = bootstrap(dir.path());
    let mut server = Server::start(
        dir.path(),
        &[("KEYGATE_SERVER_SHUTDOWN_TIMEOUT_SECONDS", "10")],
    );
    let url = server.url("/token");
    let ok = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let wrong = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (url, id, secret) = (url.clone(), id.clone(), secret.clone());
            let (ok, refused, wrong, stop) =
                (ok.clone(), refused.clone(), wrong.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    // A connection per request: a request is either accepted or refused.
                    let agent = ureq::AgentBuilder::new()
                        .timeout(Duration::from_secs(10))
                        .max_idle_connections(0)
                        .build();
                    let r = agent.post(&url).set("connection", "close").send_form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", &id),
                        ("client_secret", &secret),
                    ]);
                    match r {
                        Ok(resp) if resp.status() == 200 => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(resp) => wrong
                            .lock()
                            .unwrap()
                            .push(format!("status {}", resp.status())),
                        Err(ureq::Error::Status(code, _)) => {
                            wrong.lock().unwrap().push(format!("status {code}"))
                        }
                        Err(ureq::Error::Transport(t)) => {
                            let refused_at_connect = matches!(
                                t.kind(),
                                ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::Io
                            );
                            if refused_at_connect {
                                refused.fetch_add(1, Ordering::Relaxed);
                            } else {
                                wrong.lock().unwrap().push(format!("transport: {t}"));
                            }
                        }
                    }
                }
            })
        })
        .collect();
    until("tokens under load", Duration::from_secs(30), || {
        ok.load(Ordering::Relaxed) >= 40
    });
    signal(&server, "TERM");
    let status = wait_exit(&mut server, Duration::from_secs(15)).expect("exits within the timeout");
    until(
        "clients see the listener gone",
        Duration::from_secs(10),
        || refused.load(Ordering::Relaxed) > 0,
    );
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(status.code(), Some(0), "{}", server.log());
    assert!(
        wrong.lock().unwrap().is_empty(),
        "{:?}",
        wrong.lock().unwrap()
    );
    let log = server.log();
    assert!(log.contains("stopping: no new connections"), "{log}");
    assert!(log.contains("keygate stopped"), "{log}");
}

#[test]
fn a_second_signal_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        dir.path(),
        &[("KEYGATE_SERVER_SHUTDOWN_TIMEOUT_SECONDS", "60")],
    );
    // A request in flight (its body never finishes), which a graceful stop would wait for.
    let mut hanging = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    hanging
        .write_all(
            b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=",
        )
        .unwrap();
    signal(&server, "TERM");
    until("the first signal is taken", Duration::from_secs(10), || {
        server.log().contains("stopping: no new connections")
    });
    assert!(
        server.child_alive(),
        "still finishing the request in flight"
    );
    let second = clock::Clock::system().instant();
    signal(&server, "INT");
    let status = wait_exit(&mut server, Duration::from_secs(10)).expect("exits");
    assert!(
        second.elapsed() < Duration::from_secs(5),
        "at once, not after the 60 s timeout"
    );
    assert_eq!(status.code(), Some(130), "128 + SIGINT");
    drop(hanging);
}
