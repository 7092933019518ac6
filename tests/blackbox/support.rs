//! Running the binary: fresh working directories, free ports, readiness waits, and
//! captured logs (for tests that look for leaked secrets).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_keygate");

/// A command for the binary, run in `dir`, with no inherited KEYGATE_* settings.
pub fn keygate(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("KEYGATE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "info");
    cmd
}

/// Runs a command to completion with a time bound.
pub fn run(mut cmd: Command) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn keygate");
    wait_with_timeout(child, Duration::from_secs(60))
}

fn wait_with_timeout(mut child: Child, limit: Duration) -> Output {
    let start = clock::Clock::system().instant();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("keygate did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `keygate serve`, killed on drop. Its standard error goes to `log_path`.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub log_path: PathBuf,
    pub port: u16,
}

impl Server {
    /// Starts `keygate serve` in `dir` with extra environment and waits for `/healthz`.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
        Server::start_on(dir, free_port(), env)
    }

    /// Like [`Server::start`] on a given port (a restart keeps its issuer URL).
    pub fn start_on(dir: &Path, port: u16, env: &[(&str, &str)]) -> Server {
        let base = format!("http://127.0.0.1:{port}");
        let log_path = dir.join(format!("keygate-{port}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut cmd = keygate(dir);
        cmd.arg("serve")
            .env("KEYGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("KEYGATE_ISSUER", &base)
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn keygate serve");
        let mut server = Server {
            child,
            base,
            log_path,
            port,
        };
        server.wait_healthy();
        server
    }

    fn wait_healthy(&mut self) {
        let deadline = clock::Clock::system().instant() + Duration::from_secs(30);
        while clock::Clock::system().instant() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("keygate exited early ({status}): {}", self.log());
            }
            if let Ok(r) = agent().get(&format!("{}/healthz", self.base)).call() {
                if r.status() == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("keygate did not become healthy: {}", self.log());
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Whether the server process is still running.
    pub fn child_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client with short timeouts that returns 4xx/5xx responses as values.
pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build()
}

/// Status and body of a request, whatever the status.
pub fn call(req: ureq::Request) -> (u16, String) {
    match req.call() {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("transport error: {e}"),
    }
}
