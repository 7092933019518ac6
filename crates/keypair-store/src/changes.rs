//! Keypair changes made by other processes, on PostgreSQL (scale-out).
//!
//! Every write that makes cached keypairs stale also sends `NOTIFY keygate_keypairs`
//! in its transaction, so the notice goes out exactly when the change commits. Each
//! store on PostgreSQL keeps one extra connection that `LISTEN`s on that channel, and
//! the thread behind it drops the named keypair (or everything) from the store's
//! cache. So processes see each other's changes within tens of milliseconds, not after
//! the cache TTL. While that connection is down, the TTL bounds staleness as before
//! (and keypairs keep being served from memory during a database outage). When the
//! connection is back, the cache is emptied, because notices may have been missed.
//!
//! Signing key rotations are announced on the same channel; they bump a counter
//! ([`crate::Store::signing_key_rotations`]) that the server's key reloader watches, so
//! every process serves a new key at once instead of at its next periodic reload.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sql_types::Text;
use diesel::{Connection, RunQueryDsl};

use crate::cache::KeypairCache;
use crate::db::DbConnection;
use crate::error::StoreResult;

const CHANNEL: &str = "keygate_keypairs";
/// The payload that stands for "every keypair" (closing an account or environment).
const ALL: &str = "*";
/// The payload of a signing key rotation (not a client id: those start with `kg_`).
const SIGNING_KEYS: &str = "#signing-keys";
/// How often the listener looks for notices (each look is a non-blocking read).
const POLL: Duration = Duration::from_millis(10);
/// How often an idle listener checks that its connection still works.
const PING: Duration = Duration::from_secs(5);
/// The pause before reconnecting after a failure.
const RECONNECT: Duration = Duration::from_secs(1);

/// What a write made stale.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Change<'a> {
    /// One keypair, by client id.
    Keypair(&'a str),
    /// Any keypair (owners closed).
    All,
    /// The signing keys (a rotation).
    SigningKeys,
}

/// Announces `change` to other processes when the current transaction commits. A no-op
/// on SQLite, which is one process.
pub(crate) fn announce(c: &mut DbConnection, change: Change<'_>) -> StoreResult<()> {
    if let DbConnection::Postgres(pg) = c {
        let payload = match change {
            Change::Keypair(id) => id,
            Change::All => ALL,
            Change::SigningKeys => SIGNING_KEYS,
        };
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(CHANNEL)
            .bind::<Text, _>(payload)
            .execute(pg)?;
    }
    Ok(())
}

/// Keeps a store's keypair cache in step with other processes' changes (PostgreSQL)
/// until dropped. Dropping it stops the listener thread and waits for it, so that no
/// thread is inside libpq when the process exits (libraries libpq uses, such as
/// OpenSSL and Kerberos, tear themselves down at exit).
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

/// Starts the listener of a store on PostgreSQL at `url`.
pub(crate) fn spawn_listener(
    url: &str,
    cache: Weak<KeypairCache>,
    rotations: Arc<AtomicU64>,
) -> Option<ChangeListener> {
    let url = crate::db::bounded(url);
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let spawned = std::thread::Builder::new()
        .name("keygate-keypair-changes".into())
        .spawn(move || listen(&url, &cache, &rotations, &stopped));
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

fn listen(url: &str, cache: &Weak<KeypairCache>, rotations: &AtomicU64, stop: &AtomicBool) {
    let running = || !stop.load(Ordering::Acquire) && cache.strong_count() > 0;
    while running() {
        let connected = PgConnection::establish(url)
            .map_err(|e| e.to_string())
            .and_then(|mut conn| {
                conn.batch_execute(&format!("LISTEN {CHANNEL}"))
                    .map_err(|e| e.to_string())?;
                Ok(conn)
            });
        match connected {
            Ok(mut conn) => {
                // Whatever was announced before this point may have been missed.
                if let Some(cache) = cache.upgrade() {
                    cache.clear();
                }
                rotations.fetch_add(1, Ordering::AcqRel);
                if let Err(e) = relay(&mut conn, cache, rotations, &running) {
                    tracing::warn!(error = %e, "keypair change listener lost its connection");
                }
            }
            Err(e) => tracing::debug!(error = %e, "keypair change listener cannot connect"),
        }
        let retry_at = Instant::now() + RECONNECT;
        while running() && Instant::now() < retry_at {
            std::thread::sleep(POLL);
        }
    }
}

/// Applies notices to the cache until the connection fails or the cache is dropped.
fn relay(
    conn: &mut PgConnection,
    cache: &Weak<KeypairCache>,
    rotations: &AtomicU64,
    running: &dyn Fn() -> bool,
) -> diesel::QueryResult<()> {
    let mut last_ping = Instant::now();
    while running() {
        let Some(cache) = cache.upgrade() else {
            return Ok(());
        };
        for notice in conn.notifications_iter() {
            let notice = notice?;
            match notice.payload.as_str() {
                ALL => cache.clear(),
                SIGNING_KEYS => {
                    rotations.fetch_add(1, Ordering::AcqRel);
                }
                id => cache.invalidate(id),
            }
        }
        drop(cache);
        if last_ping.elapsed() >= PING {
            conn.batch_execute("SELECT 1")?;
            last_ping = Instant::now();
        }
        std::thread::sleep(POLL);
    }
    Ok(())
}
