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
            // Several servers run at once: metrics on any free port.
            .env("KEYGATE_METRICS_LISTEN", "127.0.0.1:0")
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

/// A minimal browser for the console: keeps cookies by hand, follows no redirects.
pub struct ConsoleClient {
    agent: ureq::Agent,
    /// Where requests go.
    base: String,
    /// The issuer the console is served as: the `Origin` of every post, and (when it
    /// differs from `base`) the `Host` of every request, as a load balancer in front of
    /// several processes would pass it on.
    issuer: String,
    pub cookies: std::collections::BTreeMap<String, String>,
}

impl ConsoleClient {
    pub fn new(server: &Server) -> ConsoleClient {
        ConsoleClient::as_issuer(server, &server.base)
    }

    /// A browser talking to `server` for the console served as `issuer`.
    pub fn as_issuer(server: &Server, issuer: &str) -> ConsoleClient {
        ConsoleClient {
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(30))
                .redirects(0)
                .build(),
            base: server.base.clone(),
            issuer: issuer.to_owned(),
            cookies: Default::default(),
        }
    }

    /// The same browser (its cookies) pointed at another process.
    pub fn switch_to(&mut self, server: &Server) {
        self.base = server.base.clone();
    }

    fn request(&self, method: &str, path: &str) -> ureq::Request {
        let req = self
            .agent
            .request(method, &format!("{}{path}", self.base))
            .set("cookie", &self.cookie_line());
        match self.issuer.split_once("://") {
            Some((_, host)) if self.issuer != self.base => req.set("host", host),
            _ => req,
        }
    }

    fn cookie_line(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, r: &ureq::Response) {
        for line in r.all("set-cookie") {
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn answer(&mut self, result: Result<ureq::Response, ureq::Error>) -> (u16, String) {
        let r = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("transport error: {e}"),
        };
        self.keep(&r);
        (r.status(), r.into_string().unwrap_or_default())
    }

    pub fn get(&mut self, path: &str) -> (u16, String) {
        let req = self.request("GET", path);
        self.answer(req.call())
    }

    pub fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let req = self.request("POST", path).set("origin", &self.issuer);
        self.answer(req.send_form(fields))
    }
}

/// The CSRF token a console form carries.
pub fn csrf_token(page: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}
