//! Changes made by other processes, on PostgreSQL (scale-out).
//!
//! [`crate::Store::write`] announces each committed transaction's [`Change`]s with
//! `NOTIFY keygate_keypairs` inside that transaction ([`announce`]), so a notice goes
//! out exactly when its change commits. Each server keeps one extra connection that
//! `LISTEN`s on that channel; the thread behind it sleeps on the connection's socket
//! and wakes when a notice arrives, then drops the named keypair (or everything) from
//! the store's cache. So other processes see a disable within a few milliseconds of its
//! commit, not after the cache TTL. While that connection is down, the TTL bounds
//! staleness as before (and keypairs keep being served from memory during a database
//! outage); when it is back, the cache is emptied, because notices may have been
//! missed.
//!
//! The listener uses the `postgres` crate rather than diesel's connection: diesel only
//! polls for notices, while `postgres` blocks on the socket until one arrives.
//!
//! Signing key rotations are announced on the same channel; they bump a counter
//! ([`crate::Store::signing_key_rotations`]) that the server's key reloader watches, so
//! every process serves a new key at once instead of at its next periodic reload.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use clock::Clock;
use diesel::sql_types::Text;
use diesel::RunQueryDsl;
use postgres::fallible_iterator::FallibleIterator;

use crate::cache::KeypairCache;
use crate::db::DbConnection;
use crate::error::StoreResult;
use crate::ids::ClientId;
use crate::tx::Change;

const CHANNEL: &str = "keygate_keypairs";
/// The payload that stands for "every keypair" (closing an account or environment).
const ALL: &str = "*";
/// The payload of a signing key rotation (not a client id: those start with `kg_`).
const SIGNING_KEYS: &str = "#signing-keys";
/// The payload of a token status change.
const STATUS: &str = "#status";
/// The longest the listener sleeps on its socket before looking whether it should stop
/// (and so the longest a dropped [`ChangeListener`] waits for its thread).
const WAKE: Duration = Duration::from_millis(200);
/// The listener connection's `application_name`: the URL's `application_name` (or
/// `keygate`) followed by `-change-listener`, so operators can tell it from the pool's
/// connections in `pg_stat_activity`.
pub fn listener_application_name(url_application_name: Option<&str>) -> String {
    format!(
        "{}-change-listener",
        url_application_name.unwrap_or("keygate")
    )
}
/// How often an idle listener checks that its connection still works.
const PING: Duration = Duration::from_secs(5);
/// The pause before reconnecting after a failure.
const RECONNECT: Duration = Duration::from_secs(1);

fn payload(change: &Change) -> &str {
    match change {
        Change::Keypair(id) => id.as_str(),
        Change::AllKeypairs => ALL,
        Change::SigningKeys => SIGNING_KEYS,
        Change::Status => STATUS,
    }
}

fn parse_payload(payload: &str) -> Option<Change> {
    match payload {
        ALL => Some(Change::AllKeypairs),
        SIGNING_KEYS => Some(Change::SigningKeys),
        STATUS => Some(Change::Status),
        id => ClientId::parse(id).ok().map(Change::Keypair),
    }
}

/// Counters that move when something other than a keypair may have changed: signing
/// keys and token status. Moved after this process's own commits and by notices from
/// other processes (and on every listener reconnect, as notices may have been missed);
/// watchers reload what they derive from them when a counter moves.
#[derive(Debug, Default)]
pub(crate) struct Signals {
    rotations: AtomicU64,
    status: AtomicU64,
}

impl Signals {
    /// Moves the counter of `change`, if it has one.
    pub fn bump(&self, change: &Change) {
        match change {
            Change::SigningKeys => self.rotations.fetch_add(1, Ordering::AcqRel),
            Change::Status => self.status.fetch_add(1, Ordering::AcqRel),
            Change::Keypair(_) | Change::AllKeypairs => return,
        };
    }

    pub fn rotations(&self) -> u64 {
        self.rotations.load(Ordering::Acquire)
    }

    pub fn status(&self) -> u64 {
        self.status.load(Ordering::Acquire)
    }
}

/// Announces `changes` to other processes when the current transaction commits. A
/// no-op on SQLite, which is one process. Only [`crate::Store::write`] calls this.
pub(crate) fn announce(c: &mut DbConnection, changes: &[Change]) -> StoreResult<()> {
    if let DbConnection::Postgres(pg) = c {
        for change in changes {
            diesel::sql_query("SELECT pg_notify($1, $2)")
                .bind::<Text, _>(CHANNEL)
                .bind::<Text, _>(payload(change))
                .execute(pg)?;
        }
    }
    Ok(())
}

/// Keeps a store's keypair cache in step with other processes' changes (PostgreSQL)
/// until dropped. Dropping it stops the listener thread and waits for it (at most
/// about 200 ms), so that no thread is inside a connection when the process exits.
#[derive(Debug)]
pub struct ChangeListener {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ChangeListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the listener thread needs.
struct Listener {
    config: postgres::Config,
    verify: Verify,
    cache: Weak<KeypairCache>,
    signals: Arc<Signals>,
    stop: Arc<AtomicBool>,
    clock: Clock,
}

/// Starts the listener of a store on PostgreSQL at `url`.
pub(crate) fn spawn_listener(
    url: &str,
    cache: Weak<KeypairCache>,
    signals: Arc<Signals>,
    clock: Clock,
) -> Option<ChangeListener> {
    let (config, verify) = match listener_config(url) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "the keypair change listener cannot use this database URL; other processes' changes are seen within the cache TTL");
            return None;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let listener = Listener {
        config,
        verify,
        cache,
        signals,
        stop: stop.clone(),
        clock,
    };
    let spawned = std::thread::Builder::new()
        .name("keygate-keypair-changes".into())
        .spawn(move || listener.run());
    match spawned {
        Ok(thread) => Some(ChangeListener {
            stop,
            thread: Some(thread),
        }),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the keypair change listener; other processes' changes are seen within the cache TTL");
            None
        }
    }
}

/// libpq URL parameters the listener passes on to the `postgres` crate (which rejects
/// unknown ones). `sslmode`, `sslrootcert` and `keepalives_count` are translated; any
/// other libpq-only parameter (`gssencmode`, `sslcert`, ...) is left out.
const LISTENER_PARAMS: &[&str] = &[
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "host",
    "hostaddr",
    "port",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];

/// How the listener checks the server's certificate, following the URL's `sslmode`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Verify {
    /// `verify-ca` or `verify-full`: the certificate must chain to a trusted root.
    certificate: bool,
    /// `verify-full`: and name the host.
    hostname: bool,
    /// `sslrootcert`: the trusted roots (else the system's).
    root_cert: Option<String>,
}

/// The store's URL as a `postgres` config, with the same bounds the pool's libpq
/// connections get (`crate::db::bounded`) unless the URL sets its own, and how to
/// verify the server.
fn listener_config(url: &str) -> Result<(postgres::Config, Verify), postgres::Error> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut verify = Verify::default();
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match (key, value) {
            ("sslmode", "verify-ca" | "verify-full") => {
                verify.certificate = true;
                verify.hostname = value == "verify-full";
                kept.push("sslmode=require".to_owned());
            }
            ("sslmode", "allow") => kept.push("sslmode=prefer".to_owned()),
            ("sslmode", _) => kept.push(pair.to_owned()),
            ("sslrootcert", path) => {
                verify.root_cert = Some(
                    percent_encoding::percent_decode_str(path)
                        .decode_utf8_lossy()
                        .into_owned(),
                );
            }
            ("keepalives_count", n) => kept.push(format!("keepalives_retries={n}")),
            (key, _) if LISTENER_PARAMS.contains(&key) => kept.push(pair.to_owned()),
            (key, _) => tracing::debug!(
                parameter = key,
                "the change listener ignores a libpq-only URL parameter"
            ),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let mut config = postgres::Config::from_str(&url)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(Duration::from_secs(10));
    }
    // Names the connection in pg_stat_activity, for operators (and outage tests).
    let name = listener_application_name(config.get_application_name());
    config.application_name(&name);
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(2);
    Ok((config, verify))
}

/// TLS as libpq does it for the URL's `sslmode`: with `prefer`/`require`, encrypted
/// without checking the certificate; with `verify-ca`, the certificate must chain to
/// `sslrootcert` (or the system's roots); with `verify-full`, it must also name the host.
fn tls(verify: &Verify) -> Result<postgres_openssl::MakeTlsConnector, openssl::error::ErrorStack> {
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
    let mut builder = SslConnector::builder(SslMethod::tls())?;
    if verify.certificate {
        builder.set_verify(SslVerifyMode::PEER);
        if let Some(path) = &verify.root_cert {
            builder.set_ca_file(path)?;
        }
    } else {
        builder.set_verify(SslVerifyMode::NONE);
    }
    let mut connector = postgres_openssl::MakeTlsConnector::new(builder.build());
    let check_hostname = verify.hostname;
    connector.set_callback(move |config, _| {
        config.set_verify_hostname(check_hostname);
        Ok(())
    });
    Ok(connector)
}

impl Listener {
    fn running(&self) -> bool {
        !self.stop.load(Ordering::Acquire) && self.cache.strong_count() > 0
    }

    fn run(self) {
        while self.running() {
            match self.connect() {
                Ok(mut client) => {
                    // Whatever was announced before this point may have been missed.
                    if let Some(cache) = self.cache.upgrade() {
                        cache.apply(&Change::AllKeypairs);
                    }
                    self.signals.bump(&Change::SigningKeys);
                    self.signals.bump(&Change::Status);
                    if let Err(e) = self.relay(&mut client) {
                        tracing::warn!(error = %e, "keypair change listener lost its connection");
                    }
                }
                Err(e) => tracing::debug!(error = %e, "keypair change listener cannot connect"),
            }
            let retry_at = self.clock.instant() + RECONNECT;
            while self.running() && self.clock.instant() < retry_at {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn connect(&self) -> Result<postgres::Client, String> {
        let tls = tls(&self.verify).map_err(|e| e.to_string())?;
        let mut client = self.config.connect(tls).map_err(|e| e.to_string())?;
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(|e| e.to_string())?;
        Ok(client)
    }

    /// Applies notices to the cache as they arrive, until the connection fails or the
    /// listener is stopped.
    fn relay(&self, client: &mut postgres::Client) -> Result<(), postgres::Error> {
        let mut last_ping = self.clock.instant();
        while self.running() {
            {
                let mut notices = client.notifications();
                let mut arriving = notices.timeout_iter(WAKE);
                while let Some(notice) = arriving.next()? {
                    self.apply(notice.payload());
                }
            }
            if self.clock.instant().duration_since(last_ping) >= PING {
                client.simple_query("SELECT 1")?;
                last_ping = self.clock.instant();
            }
        }
        Ok(())
    }

    fn apply(&self, payload: &str) {
        match parse_payload(payload) {
            Some(change @ (Change::SigningKeys | Change::Status)) => self.signals.bump(&change),
            Some(change) => {
                if let Some(cache) = self.cache.upgrade() {
                    cache.apply(&change);
                }
            }
            None => tracing::debug!("ignored a change notice with an unknown payload"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        for change in [
            Change::Keypair(ClientId::generate()),
            Change::AllKeypairs,
            Change::SigningKeys,
            Change::Status,
        ] {
            assert_eq!(parse_payload(payload(&change)), Some(change));
        }
        assert_eq!(parse_payload("kg_not-an-id"), None);
    }

    #[test]
    fn listener_urls_keep_their_own_bounds() {
        let (c, _) = listener_config("postgres://u:pw@h:5432/db?connect_timeout=2").expect("url");
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(2)));
        let (c, _) = listener_config("postgres://h/db").expect("url");
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(5)));
        assert_eq!(c.get_tcp_user_timeout(), Some(&Duration::from_secs(10)));
    }

    #[test]
    fn libpq_only_parameters_do_not_stop_the_listener() {
        // What the pool's URLs carry (`crate::db::bounded`) and what deployments use.
        let url = crate::db::bounded(
            "postgres://u@h/db?sslmode=verify-full&sslrootcert=/etc/ssl/pg%20ca.pem\
             &sslcert=/c.pem&options=-csearch_path%3Dx",
        );
        let (c, verify) = listener_config(&url).expect("a libpq URL is usable");
        assert_eq!(c.get_ssl_mode(), postgres::config::SslMode::Require);
        assert_eq!(
            verify,
            Verify {
                certificate: true,
                hostname: true,
                root_cert: Some("/etc/ssl/pg ca.pem".into()),
            }
        );
        assert_eq!(c.get_options(), Some("-csearch_path=x"));
        let (_, verify) = listener_config("postgres://h/db?sslmode=verify-ca").expect("url");
        assert!(verify.certificate && !verify.hostname);
        let (c, verify) = listener_config("postgres://h/db?sslmode=require").expect("url");
        assert_eq!(c.get_ssl_mode(), postgres::config::SslMode::Require);
        assert_eq!(verify, Verify::default());
    }
}
