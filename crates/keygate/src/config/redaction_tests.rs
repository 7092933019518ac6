//! No `Debug` or `Display` of the configuration, of a configuration error, or of a
//! startup log line or error shows a database password, whether the URL came from the
//! config file or from `KEYGATE_DATABASE_URL`.
#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::sync::{Arc, Mutex};

use super::*;

const PASSWORD: &str = "s3cr3t-pw";
const URL: &str = "postgres://u:s3cr3t-pw@host/db";
/// What the URL looks like once its password is hidden: the tests check that it is
/// there, so they fail if the URL were left out instead of redacted.
const SHOWN: &str = "postgres://u:***@host/db";

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn database_url_in_file(url: &str) -> tempfile::NamedTempFile {
    file(&format!(
        "[database]\nurl = {}\n",
        Value::String(url.into())
    ))
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every way the code formats a value that implements only `Debug`.
fn debug_forms(value: &impl std::fmt::Debug) -> Vec<String> {
    vec![format!("{value:?}"), format!("{value:#?}")]
}

/// Every way the code formats an error.
fn error_forms(e: &(impl std::fmt::Debug + std::fmt::Display)) -> Vec<String> {
    vec![e.to_string(), format!("{e:?}"), format!("{e:#?}")]
}

fn assert_hidden(what: &str, forms: &[String], password: &str) {
    for text in forms {
        assert!(
            !text.contains(password),
            "{what} shows the password: {text}"
        );
    }
}

/// Where the settings come from: an optional file and the environment.
struct Layers {
    what: &'static str,
    file: Option<tempfile::NamedTempFile>,
    env: Vec<(String, String)>,
}

impl Layers {
    fn new(
        what: &'static str,
        file: Option<tempfile::NamedTempFile>,
        vars: &[(&str, &str)],
    ) -> Self {
        Layers {
            what,
            file,
            env: env(vars),
        }
    }

    fn raw(&self) -> Result<RawConfig, ConfigError> {
        RawConfig::load(self.file.as_ref().map(|f| f.path()), self.env.clone())
    }

    fn config(&self) -> Result<Config, ConfigError> {
        Config::load(self.file.as_ref().map(|f| f.path()), self.env.clone())
    }
}

/// The URL set through the file, and through the environment over a file.
fn both_sources() -> [Layers; 2] {
    [
        Layers::new("the file", Some(database_url_in_file(URL)), &[]),
        Layers::new(
            "the environment",
            Some(database_url_in_file("sqlite://data/other.db")),
            &[("KEYGATE_DATABASE_URL", URL)],
        ),
    ]
}

#[test]
fn raw_config_debug_hides_the_database_password() {
    for layers in both_sources() {
        let forms = debug_forms(&layers.raw().unwrap());
        assert_hidden(
            &format!("RawConfig (URL from {})", layers.what),
            &forms,
            PASSWORD,
        );
        assert!(forms.iter().all(|t| t.contains(SHOWN)), "{forms:?}");
    }
    // A value that is not a database URL at all is hidden whole.
    let typo = Layers::new(
        "a misspelt scheme",
        None,
        &[("KEYGATE_DATABASE_URL", "postgress://u:s3cr3t-pw@h")],
    );
    assert_hidden(typo.what, &debug_forms(&typo.raw().unwrap()), PASSWORD);
}

/// Fails while `keypair_store::DatabaseUrl` derives `Debug`: the validated config
/// derives its `Debug` and relies on the URL's own to hide the password.
#[test]
fn validated_config_debug_hides_the_database_password() {
    for layers in both_sources() {
        let config = layers.config().unwrap();
        assert_eq!(config.database_url, DatabaseUrl::Postgres(URL.into()));
        let forms = debug_forms(&config);
        assert_hidden(
            &format!("Config (URL from {})", layers.what),
            &forms,
            PASSWORD,
        );
        assert!(forms.iter().all(|t| t.contains("host/db")), "{forms:?}");
    }
}

#[test]
fn config_errors_hide_the_database_password() {
    let bad_scheme = "postgress://u:s3cr3t-pw@host/db";
    let cases = [
        (
            Layers::new(
                "a misspelt scheme in the file",
                Some(database_url_in_file(bad_scheme)),
                &[],
            ),
            "database.url",
        ),
        (
            Layers::new(
                "a misspelt scheme in the environment",
                None,
                &[("KEYGATE_DATABASE_URL", bad_scheme)],
            ),
            "database.url",
        ),
        (
            Layers::new(
                "a file that is not TOML",
                Some(file(&format!("[database]\nurl = \"{URL}\n"))),
                &[],
            ),
            "not valid TOML",
        ),
        (
            Layers::new(
                "the URL in a list",
                Some(file(&format!("[database]\nurl = [\"{URL}\"]\n"))),
                &[],
            ),
            "database.url",
        ),
        (
            Layers::new(
                "the URL under a misspelt key in the file",
                Some(file(&format!("[database]\nurll = \"{URL}\"\n"))),
                &[],
            ),
            "database.urll",
        ),
        (
            Layers::new(
                "the URL in a misspelt variable",
                None,
                &[("KEYGATE_DATABASE_URLL", URL)],
            ),
            "KEYGATE_DATABASE_URLL",
        ),
        (
            Layers::new(
                "another bad value next to the URL",
                Some(database_url_in_file(URL)),
                &[("KEYGATE_DATABASE_POOL_SIZE", "0")],
            ),
            "database.pool_size",
        ),
    ];
    for (layers, named) in cases {
        let e = layers.config().unwrap_err();
        assert_hidden(layers.what, &error_forms(&e), PASSWORD);
        assert!(e.to_string().contains(named), "{}: {e}", layers.what);
    }
}

/// Log output written to memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Runs `f` with this thread's log lines captured in both formats `keygate` writes
/// (text and JSON); returns each run's result and log.
fn logged<T>(f: impl Fn() -> T) -> Vec<(T, String)> {
    let mut runs = Vec::new();
    for json in [false, true] {
        let out = Captured::default();
        let builder = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(out.clone());
        let result = if json {
            tracing::subscriber::with_default(builder.json().flatten_event(true).finish(), &f)
        } else {
            tracing::subscriber::with_default(builder.finish(), &f)
        };
        runs.push((result, out.text()));
    }
    runs
}

/// The URL with a password (kept if it has one; else `PASSWORD`), and that password.
fn with_password(url: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, host) = authority.split_once('@').unwrap_or(("postgres", authority));
    match userinfo.split_once(':') {
        Some((_, password)) => (url.to_owned(), password.to_owned()),
        None => (
            format!("{scheme}://{userinfo}:{PASSWORD}@{host}{tail}"),
            PASSWORD.to_owned(),
        ),
    }
}

#[test]
fn startup_errors_hide_the_database_password() {
    // Nothing listens on port 1: connecting fails, and the error names the URL.
    let url = "postgres://u:s3cr3t-pw@127.0.0.1:1/db";
    let f = database_url_in_file(url);
    for vars in [env(&[]), env(&[("KEYGATE_DATABASE_URL", url)])] {
        let config = Config::load(Some(f.path()), vars).unwrap();
        for (result, log) in logged(|| crate::commands::migrate(&config)) {
            let e = result.unwrap_err();
            let forms = error_forms(&e);
            assert_hidden("the startup error", &forms, PASSWORD);
            assert!(e.to_string().contains("u:***@127.0.0.1:1/db"), "{e}");
            assert_hidden("the log", &[log], PASSWORD);
        }
    }
}

#[test]
fn startup_log_hides_the_database_password_postgres() {
    let Some(db) = keypair_store::testing::TestDb::postgres() else {
        eprintln!("KEYGATE_TEST_POSTGRES_URL not set: PostgreSQL variant not run");
        return;
    };
    let (url, password) = with_password(&db.url_string());
    let f = database_url_in_file(&url);
    for (source, vars) in [
        ("file", env(&[])),
        ("environment", env(&[("KEYGATE_DATABASE_URL", &url)])),
    ] {
        let file = (source == "file").then(|| f.path());
        let config = Config::load(file, vars).unwrap();
        for (result, log) in logged(|| crate::commands::migrate(&config)) {
            result.unwrap();
            assert!(log.contains("database ready"), "{log}");
            assert!(log.contains(":***@"), "the URL is logged, redacted: {log}");
            assert_hidden(
                &format!("the startup log (URL from the {source})"),
                &[log],
                &password,
            );
        }
    }
}
