#![doc = include_str!("../README.md")]

mod address;
mod audit;
mod auth;
mod cache;
mod changes;
mod db;
mod error;
mod ids;
pub mod models;
mod page;
mod password;
mod random_secret;
mod schema;
mod scope;
mod secret;
mod timestamp;
mod tx;
mod validate;

#[cfg(feature = "test-helpers")]
pub mod testing;

pub use address::{AddressList, AddressListError, MAX_ALLOWED_ADDRESSES};
pub use audit::{Actor, AuditAction, AuditRecord};
pub use auth::{ClientAuth, Rejection};
pub use changes::{listener_application_name, ChangeListener};
pub use db::{DatabaseUrl, DbConnection, PoolSettings};
pub use error::{StoreError, StoreResult};
pub use ids::{AccountId, ClientId, EnvironmentId, InvitationId, StatusListId, UserId};
pub use models::account::{Account, Environment};
pub use models::credentials::{NewCredential, SignInError, SignInRefusal};
pub use models::keypair::{Keypair, KeypairPatch, NewKeypair, Owner};
pub use models::passkeys::{
    Ceremony, CeremonyPurpose, NewPasskey, StoredPasskey, DEFAULT_MAX_PASSKEY_CEREMONIES,
    MAX_CREDENTIAL_ID_BYTES,
};
pub use models::people::{
    role_name, Acceptor, Administrator, Invitation, InvitationCode, PendingInvitation, Session,
    SessionId, User, MAX_EMAIL_CHARS,
};
pub use models::reset::CredentialReset;
pub use models::secrets::{Rotation, SecretInfo, MAX_LIVE_SECRETS, MAX_OVERLAP_SECONDS};
pub use models::signing_key::StoredSigningKey;
pub use models::status::{
    Generation, GenerationPolicy, ListContents, StatusEntry, StatusList, TokenStatus,
};
pub use page::{Page, PageRequest, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT};
#[cfg(feature = "test-helpers")]
pub use password::HashPermit;
pub use password::{
    Password, PasswordHash, PasswordHashing, ARGON2_ITERATIONS, ARGON2_MEMORY_KIB,
    ARGON2_PARALLELISM, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS,
};
pub use random_secret::{CeremonyId, RandomSecret, SecretKind};
pub use scope::{Scope, ScopeCatalogue, ScopeSet, ADMIN_SCOPE, INTROSPECT_SCOPE, OPERATOR_SCOPE};
pub use secret::{ClientSecret, SecretDigest, SECRET_PREFIX};
pub use tx::{Change, Tx};
pub use validate::{MAX_COMMENT_CHARS, MAX_NAME_CHARS};

use diesel::connection::SimpleConnection;

/// Which database backs a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The store: a connection pool and every query keygate makes. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: db::DbPool,
    cache: std::sync::Arc<cache::KeypairCache>,
    url: DatabaseUrl,
    /// Signing key rotations and status changes, of this process and (while
    /// listening) of others.
    signals: std::sync::Arc<changes::Signals>,
    /// The bound on concurrent password hashing (`crate::password`).
    hashing: std::sync::Arc<password::HashingGate>,
    /// The bound on passkey ceremonies waiting at once (`models::passkeys`).
    max_passkey_ceremonies: i64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

/// What the store has done so far, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Keypair lookups answered from the in-memory cache.
    pub cache_hits: u64,
    /// Keypair lookups that went to the database.
    pub cache_misses: u64,
    /// Database connections open in the pool, and how many of them are idle.
    pub connections: u32,
    pub idle_connections: u32,
}

impl Store {
    /// The cache's counts and the pool's state now.
    pub fn stats(&self) -> StoreStats {
        let (cache_hits, cache_misses) = self.cache.counts();
        let pool = self.pool.state();
        StoreStats {
            cache_hits,
            cache_misses,
            connections: pool.connections,
            idle_connections: pool.idle_connections,
        }
    }

    /// Connects to the database, creating it (SQLite) and migrating it if needed.
    pub fn open(url: &DatabaseUrl, settings: &PoolSettings) -> StoreResult<Self> {
        let pool = db::open(url, settings)?;
        let cache = std::sync::Arc::new(cache::KeypairCache::new(
            settings.keypair_cache_ttl,
            settings.keypair_cache_entries,
        ));
        Ok(Store {
            pool,
            cache,
            url: url.clone(),
            signals: Default::default(),
            hashing: password::HashingGate::new(&settings.password_hashing),
            max_passkey_ceremonies: i64::from(settings.max_passkey_ceremonies),
        })
    }

    /// On PostgreSQL: starts listening for keypair changes and signing key rotations
    /// made by other processes. Keypair changes then reach this process's cache within
    /// tens of milliseconds instead of the cache TTL, and rotations show in
    /// [`Store::signing_key_rotations`] (`crate::changes`). For long-running processes
    /// (the server); keep the listener alive as long as the store is used. `None` on
    /// SQLite (one process).
    ///
    /// The listener paces its reconnects and pings with the real clock: it waits on
    /// real sockets, so a test clock would only stall it.
    pub fn listen_for_changes(&self) -> Option<ChangeListener> {
        match &self.url {
            DatabaseUrl::Postgres(u) => changes::spawn_listener(
                u,
                std::sync::Arc::downgrade(&self.cache),
                self.signals.clone(),
                clock::Clock::system(),
            ),
            DatabaseUrl::Sqlite(_) => None,
        }
    }

    /// A counter that moves when a signing key rotation may have happened (in this
    /// process, or in another one while [`Store::listen_for_changes`] runs): reload
    /// keys when it changes.
    pub fn signing_key_rotations(&self) -> u64 {
        self.signals.rotations()
    }

    /// A counter that moves when token status may have changed (in this process, or in
    /// another one while [`Store::listen_for_changes`] runs): rebuild status lists
    /// when it changes. Without a notice, [`Store::status_version`] still tells.
    pub fn status_changes(&self) -> u64 {
        self.signals.status()
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        match self.url {
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
            DatabaseUrl::Postgres(_) => Backend::Postgres,
        }
    }

    /// Checks that the database answers (for readiness probes).
    pub fn ping(&self) -> StoreResult<()> {
        let mut conn = self.conn()?;
        conn.batch_execute("SELECT 1")?;
        Ok(())
    }

    /// Writes a consistent copy of the SQLite database to `to` while it is in use
    /// (SQLite's `VACUUM INTO`: one read transaction, so writers are not blocked and
    /// the copy is a single point in time). `to` must not exist. On PostgreSQL:
    /// `Invalid` (use `pg_dump`, docs/deployment.md).
    pub fn backup_sqlite_to(&self, to: &std::path::Path) -> StoreResult<()> {
        use diesel::prelude::*;
        if self.backend() != Backend::Sqlite {
            return Err(StoreError::invalid(
                "database",
                "backup copies SQLite databases; back up PostgreSQL with pg_dump",
            ));
        }
        let Some(target) = to.to_str() else {
            return Err(StoreError::invalid("to", "must be a UTF-8 path"));
        };
        // Made first, empty and private (0600, like the database): the copy holds
        // digests and sealed keys. `create_new` also refuses an existing file, and
        // `VACUUM INTO` accepts an empty one.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        if let Err(e) = options.open(to) {
            return Err(StoreError::invalid(
                "to",
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    "already exists".to_owned()
                } else {
                    format!("cannot be created: {e}")
                },
            ));
        }
        let mut conn = self.conn()?;
        diesel::sql_query("VACUUM INTO ?")
            .bind::<diesel::sql_types::Text, _>(target)
            .execute(&mut *conn)?;
        Ok(())
    }

    /// Checks the database's integrity: SQLite's `PRAGMA integrity_check` (`"ok"` when
    /// intact); on PostgreSQL, that every table can be read in full.
    pub fn check_integrity(&self) -> StoreResult<String> {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct Line {
            #[diesel(sql_type = diesel::sql_types::Text)]
            integrity_check: String,
        }
        let mut conn = self.conn()?;
        match self.backend() {
            Backend::Sqlite => {
                let lines: Vec<Line> =
                    diesel::sql_query("PRAGMA integrity_check").load(&mut *conn)?;
                Ok(lines
                    .into_iter()
                    .map(|l| l.integrity_check)
                    .collect::<Vec<_>>()
                    .join("; "))
            }
            Backend::Postgres => {
                conn.batch_execute(
                    "SELECT count(*) FROM accounts; SELECT count(*) FROM environments; \
                     SELECT count(*) FROM keypairs; SELECT count(*) FROM signing_keys; \
                     SELECT count(*) FROM audit_records; SELECT count(*) FROM status_lists; \
                     SELECT count(*) FROM status_entries; SELECT count(*) FROM status_version; \
                     SELECT count(*) FROM users; SELECT count(*) FROM role_bindings; \
                     SELECT count(*) FROM invitations; SELECT count(*) FROM sessions; \
                     SELECT count(*) FROM password_credentials; \
                     SELECT count(*) FROM credential_resets;",
                )?;
                Ok("ok".into())
            }
        }
    }

    /// Runs a read: `f` gets a pooled connection. Model functions that read take
    /// `&mut DbConnection`, so they run here or inside a [`Store::write`] alike.
    pub fn read<T>(&self, f: impl FnOnce(&mut DbConnection) -> StoreResult<T>) -> StoreResult<T> {
        f(&mut *self.conn()?)
    }

    /// Runs a write transaction: the one door every write goes through (`crate::tx`).
    /// `f` writes through the [`Tx`] and records what it made stale; this announces
    /// those changes to other processes inside the transaction and, after the commit,
    /// drops them from this store's cache. Several model functions may compose in one
    /// `f`, and nothing is written unless all of them succeed.
    ///
    /// On SQLite, a transaction that read before writing can meet `SQLITE_BUSY` at once
    /// when another connection committed meanwhile (the busy timeout does not apply to
    /// lock upgrades): such a transaction is rolled back and `f` runs again, a few
    /// times, with a short growing pause. Persistent contention ends as
    /// [`StoreError::Unavailable`] (503), never as a 500.
    pub fn write<T>(&self, f: impl Fn(&mut Tx<'_>) -> StoreResult<T>) -> StoreResult<T> {
        use diesel::Connection as _;
        let mut conn = self.conn()?;
        let mut attempt = 0u32;
        loop {
            let committed = conn.transaction::<_, StoreError, _>(|c| {
                let mut tx = Tx::new(c);
                let value = f(&mut tx)?;
                let changes = tx.into_changes();
                changes::announce(c, &changes)?;
                Ok((value, changes))
            });
            match committed {
                Err(e) if e.is_busy() && attempt < 30 => {
                    std::thread::sleep(std::time::Duration::from_millis(1 << attempt.min(6)));
                    attempt += 1;
                }
                Err(e) if e.is_busy() => return Err(StoreError::Unavailable(Box::new(e))),
                Err(e) => return Err(e),
                Ok((value, changes)) => {
                    for change in &changes {
                        self.cache.apply(change);
                        self.signals.bump(change);
                    }
                    return Ok(value);
                }
            }
        }
    }

    pub(crate) fn conn(&self) -> StoreResult<db::PooledConn> {
        Ok(self.pool.get()?)
    }
}
