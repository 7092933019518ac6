//! Connections: one diesel `MultiConnection` over SQLite and PostgreSQL, an r2d2
//! pool, per-connection settings and the embedded migrations.

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{CustomizeConnection, ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::{StoreError, StoreResult};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// A connection to either backend; every query in this crate is written once for both.
#[derive(diesel::MultiConnection)]
#[allow(missing_debug_implementations)]
pub enum DbConnection {
    /// The embedded default.
    Sqlite(SqliteConnection),
    /// For production and scale-out.
    Postgres(PgConnection),
}

pub(crate) type DbPool = Pool<Manager>;
pub(crate) type PooledConn = PooledConnection<Manager>;

/// Opens connections of the backend the URL names. (diesel's generic manager would try
/// every backend in turn, so a PostgreSQL outage could be mistaken for a SQLite path.)
#[derive(Debug)]
pub(crate) struct Manager {
    url: DatabaseUrl,
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        connect_raw(&self.url).map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

fn connect_raw(url: &DatabaseUrl) -> diesel::ConnectionResult<DbConnection> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            SqliteConnection::establish(&path.display().to_string()).map(DbConnection::Sqlite)
        }
        DatabaseUrl::Postgres(u) => {
            PgConnection::establish(&bounded(u)).map(DbConnection::Postgres)
        }
    }
}

/// Adds libpq settings that bound how long a dead or unreachable server can hold a
/// request, unless the URL sets them: a 5 s connect timeout, TCP keepalives, and a
/// 10 s `tcp_user_timeout` (unacknowledged data: a blackholed server). Also
/// `gssencmode=disable`: the compiled-in libpq has no GSSAPI (no Kerberos), and saying
/// so keeps a system-libpq build from looking for Kerberos credentials on every
/// connect (Kerberos aborted the process when it exited under a thread doing that).
pub(crate) fn bounded(url: &str) -> String {
    let mut out = url.to_owned();
    for (key, value) in [
        ("connect_timeout", "5"),
        ("keepalives", "1"),
        ("keepalives_idle", "10"),
        ("keepalives_interval", "5"),
        ("keepalives_count", "2"),
        ("tcp_user_timeout", "10000"),
        ("gssencmode", "disable"),
    ] {
        if !url.contains(&format!("{key}=")) {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(key);
            out.push('=');
            out.push_str(value);
        }
    }
    out
}

/// Which database a URL names. Its `Debug` shows the URL without its password (like
/// [`DatabaseUrl::redacted`]), so no log or error can print it.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH` (relative paths are relative to the working directory).
    Sqlite(PathBuf),
    /// `postgres://...` or `postgresql://...`, handed to libpq as is.
    Postgres(String),
}

impl DatabaseUrl {
    /// Parses a `sqlite://PATH` or `postgres://...` URL.
    pub fn parse(url: &str) -> StoreResult<Self> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreError::Setup(
                    "database URL `sqlite://` needs a file path".into(),
                ));
            }
            Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(url.to_owned()))
        } else {
            Err(StoreError::Setup(
                "database URL must start with sqlite:// or postgres://".into(),
            ))
        }
    }

    /// The URL with any password removed, for logs.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
            DatabaseUrl::Postgres(u) => redact_password(u),
        }
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (variant, url) = match self {
            DatabaseUrl::Sqlite(_) => ("Sqlite", self.redacted()),
            DatabaseUrl::Postgres(_) => ("Postgres", self.redacted()),
        };
        f.debug_tuple(variant).field(&url).finish()
    }
}

fn redact_password(url: &str) -> String {
    // postgres://user:password@host/...?password=... -> postgres://user:***@host/...?password=***
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority_path, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let mut out = format!("{scheme}://");
    match authority_path.rsplit_once('@') {
        Some((userinfo, host)) => {
            match userinfo.split_once(':') {
                Some((user, _)) => out.push_str(&format!("{user}:***@")),
                None => out.push_str(&format!("{userinfo}@")),
            }
            out.push_str(host);
        }
        None => out.push_str(authority_path),
    }
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k.to_ascii_lowercase().contains("password") => format!("{k}=***"),
                _ => p.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// Pool settings.
#[derive(Clone, Debug)]
pub struct PoolSettings {
    /// Maximum connections in the pool.
    pub max_size: u32,
    /// How long to wait for a connection before answering "unavailable".
    pub connect_timeout: Duration,
    /// How long an authenticated keypair may be served from memory before it is read
    /// again (bounds how late a change made by *another* process is seen; changes
    /// made through this store are seen at once). Zero disables the cache.
    pub keypair_cache_ttl: Duration,
    /// Most keypairs kept in memory.
    pub keypair_cache_entries: usize,
    /// The bound on concurrent password hashing (default: 2 at once, 1 s wait).
    pub password_hashing: crate::PasswordHashing,
    /// Most passkey ceremonies waiting for an answer at once, across every process
    /// (default [`crate::DEFAULT_MAX_PASSKEY_CEREMONIES`]).
    pub max_passkey_ceremonies: u32,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_size: 8,
            connect_timeout: Duration::from_secs(5),
            keypair_cache_ttl: Duration::from_secs(1),
            keypair_cache_entries: 50_000,
            password_hashing: crate::PasswordHashing::default(),
            max_passkey_ceremonies: crate::DEFAULT_MAX_PASSKEY_CEREMONIES,
        }
    }
}

#[derive(Debug)]
struct ConnectionSetup;

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for ConnectionSetup {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        configure(conn).map_err(diesel::r2d2::Error::QueryError)
    }
}

fn configure(conn: &mut DbConnection) -> Result<(), diesel::result::Error> {
    match conn {
        // WAL: readers never block the writer. synchronous=NORMAL in WAL mode is
        // durable across process crashes (only an OS crash can lose the last commits).
        DbConnection::Sqlite(c) => c.batch_execute(
            "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; \
             PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
        ),
        DbConnection::Postgres(_) => Ok(()),
    }
}

fn establish(url: &DatabaseUrl) -> StoreResult<DbConnection> {
    if let DatabaseUrl::Sqlite(path) = url {
        create_parent_dir(path)?;
        create_private_file(path)?;
    }
    let mut conn = connect_raw(url).map_err(|e| {
        StoreError::Setup(format!(
            "cannot connect to {}: {}",
            url.redacted(),
            first_line(&e.to_string())
        ))
    })?;
    configure(&mut conn)
        .map_err(|e| StoreError::Setup(format!("cannot configure database: {e}")))?;
    Ok(conn)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("").trim()
}

fn create_parent_dir(path: &Path) -> StoreResult<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Setup(format!(
                "cannot create database directory {}: {e}",
                dir.display()
            ))
        }),
        _ => Ok(()),
    }
}

/// Creates the SQLite database file readable and writable by its owner only (0600),
/// like the key-encryption key, before SQLite creates it with the default 0644: it
/// holds secret digests and sealed signing keys. SQLite gives its `-wal` and `-shm`
/// files the database file's permissions. An existing file is left as it is.
fn create_private_file(path: &Path) -> StoreResult<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Setup(format!(
            "cannot create database file {}: {e}",
            path.display()
        ))),
    }
}

/// Call before the first PostgreSQL connection of the process. libpq negotiates TLS
/// with OpenSSL (compiled in, `vendored`), which, left to itself, frees its state in an `atexit`
/// handler: a pool thread still in a handshake when the process exits then crashes
/// (SIGSEGV, openssl/openssl#3505). Initialising OpenSSL first through openssl-sys,
/// which asks for OPENSSL_INIT_NO_ATEXIT, means no such handler is registered; the
/// operating system reclaims the memory at exit anyway.
pub(crate) fn init_tls() {
    openssl_sys::init();
}

/// Connects, runs pending migrations, then builds the pool.
pub(crate) fn open(url: &DatabaseUrl, settings: &PoolSettings) -> StoreResult<DbPool> {
    init_tls();
    let mut conn = establish(url)?;
    run_migrations(&mut conn)?;
    drop(conn);
    let manager = Manager { url: url.clone() };
    Pool::builder()
        .max_size(settings.max_size)
        .min_idle(Some(1))
        .connection_timeout(settings.connect_timeout)
        .connection_customizer(Box::new(ConnectionSetup))
        .build(manager)
        .map_err(|e| StoreError::Setup(format!("cannot open connection pool: {e}")))
}

fn run_migrations(conn: &mut DbConnection) -> StoreResult<()> {
    let result = match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        DbConnection::Postgres(c) => c
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map(|v| v.len()),
    };
    match result {
        Ok(0) => Ok(()),
        Ok(n) => {
            tracing::info!(applied = n, "database migrated");
            Ok(())
        }
        Err(e) => Err(StoreError::Setup(format!("database migration failed: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/k.db").ok(),
            Some(DatabaseUrl::Sqlite("data/k.db".into()))
        );
        assert!(matches!(
            DatabaseUrl::parse("postgresql://h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    #[test]
    fn postgres_urls_get_bounded_timeouts() {
        let u = bounded("postgres://h/db");
        assert!(u.starts_with("postgres://h/db?connect_timeout=5&"), "{u}");
        assert!(u.contains("tcp_user_timeout=10000"));
        let u = bounded("postgres://h/db?connect_timeout=2&options=x");
        assert!(
            u.contains("connect_timeout=2") && !u.contains("connect_timeout=5"),
            "{u}"
        );
    }

    #[test]
    fn redacts_passwords() {
        let u = DatabaseUrl::Postgres("postgres://u:hunter2@h:5432/db".into());
        assert_eq!(u.redacted(), "postgres://u:***@h:5432/db");
        let q = DatabaseUrl::Postgres(
            "postgres://u@h/db?sslmode=require&password=hunter2&sslpassword=hunter2".into(),
        );
        assert_eq!(
            q.redacted(),
            "postgres://u@h/db?sslmode=require&password=***&sslpassword=***"
        );
        let at = DatabaseUrl::Postgres("postgres://u:p@ss@h/db".into());
        assert!(!at.redacted().contains("p@ss"), "{}", at.redacted());
        for shown in [
            format!("{u:?}"),
            format!("{u:#?}"),
            format!("{:?}", Some(&u)),
        ] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("postgres://u:***@h:5432/db"), "{shown}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_new_sqlite_database_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("keygate.db");
        let url = DatabaseUrl::Sqlite(path.clone());
        drop(open(&url, &PoolSettings::default()).expect("open"));
        for file in [path.clone(), path.with_extension("db-wal")] {
            if let Ok(meta) = std::fs::metadata(&file) {
                assert_eq!(
                    meta.permissions().mode() & 0o777,
                    0o600,
                    "{}",
                    file.display()
                );
            }
        }
        let mode = std::fs::metadata(&path).expect("db").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    /// A database made before keypairs had several secrets keeps working: the
    /// lifecycle migration moves each keypair's digest into `keypair_secrets`.
    fn secrets_survive_the_lifecycle_migration(url: &DatabaseUrl) {
        use crate::{ClientAuth, ClientSecret, Store};
        let secret = ClientSecret::generate();
        let digest = secret.digest();
        let mut conn = establish(url).expect("connect");
        let migrate_to_status = |conn: &mut DbConnection| {
            // Apply migrations one at a time up to (not including) the lifecycle one.
            for _ in 0..3 {
                match conn {
                    DbConnection::Sqlite(c) => c.run_next_migration(SQLITE_MIGRATIONS).map(drop),
                    DbConnection::Postgres(c) => {
                        c.run_next_migration(POSTGRES_MIGRATIONS).map(drop)
                    }
                }
                .expect("migration");
            }
        };
        migrate_to_status(&mut conn);
        let digest_literal = match conn {
            DbConnection::Sqlite(_) => format!("X'{}'", hex(digest.as_bytes())),
            DbConnection::Postgres(_) => format!("'\\x{}'::bytea", hex(digest.as_bytes())),
        };
        conn.batch_execute(&format!(
            "INSERT INTO keypairs (client_id, account_id, environment_id, scopes, comment, \
             enabled, secret_digest, secret_hint, token_lifetime_seconds, created_at, \
             updated_at, last_used_at) VALUES ('kg_0123456789abcdef0123456789abcdef', NULL, \
             NULL, 'keygate:operator', 'old', TRUE, {digest_literal}, '{}', NULL, 1, 1, NULL)",
            secret.hint()
        ))
        .expect("insert an old-style keypair");
        drop(conn);
        let store = Store::open(url, &PoolSettings::default()).expect("open migrates the rest");
        let now = time::macros::datetime!(2026-12-03 12:00 UTC);
        let local = std::net::Ipv4Addr::LOCALHOST.into();
        let id = "kg_0123456789abcdef0123456789abcdef";
        match store.authenticate(id, &secret, local, now).expect("auth") {
            ClientAuth::Authenticated(kp) => {
                assert_eq!(kp.secrets.len(), 1);
                assert_eq!(kp.secrets[0].hint, secret.hint());
                assert_eq!(kp.secrets[0].expires_at, None);
                assert!(kp.allowed_addresses.is_empty());
                assert_eq!(kp.expires_at, None);
            }
            other => panic!("the migrated secret must still work: {other:?}"),
        }
        let wrong = ClientSecret::generate();
        assert!(matches!(
            store.authenticate(id, &wrong, local, now).expect("auth"),
            ClientAuth::Rejected(_)
        ));
    }

    /// Records written before audit records had an environment get one from the
    /// migration where it can still be found: an environment's own records, those of
    /// its existing keypairs, and those of invitations to it.
    fn the_audit_environment_migration_backfills_what_it_can(url: &DatabaseUrl) {
        use crate::{Actor, NewKeypair, Owner, PageRequest, ScopeSet, Store};
        let now = time::macros::datetime!(2026-12-03 12:00 UTC);
        let sys = Actor::system("test");
        let store = Store::open(url, &PoolSettings::default()).expect("open");
        let a = store.create_account(&sys, "A", now).expect("account");
        let e = store
            .create_environment(&sys, &a.id, "E", now)
            .expect("env");
        let closed = store
            .create_environment(&sys, &a.id, "C", now)
            .expect("env");
        let env_owner = Owner::Environment {
            account_id: a.id.clone(),
            environment_id: e.id.clone(),
        };
        let new = |owner: &Owner| NewKeypair {
            owner: owner.clone(),
            scopes: ScopeSet::parse_space_separated("feedback:read").expect("scopes"),
            comment: String::new(),
            enabled: true,
            token_lifetime_seconds: None,
            expires_at: None,
            allowed_addresses: crate::AddressList::any(),
        };
        let (kept, _) = store
            .create_keypair(&sys, new(&env_owner), now)
            .expect("kp");
        store
            .revoke_tokens(&sys, &kept.client_id, now)
            .expect("revoke");
        let (gone, _) = store
            .create_keypair(&sys, new(&env_owner), now)
            .expect("kp");
        store
            .delete_keypair(&sys, &gone.client_id, now)
            .expect("delete");
        let (account_kp, _) = store
            .create_keypair(&sys, new(&Owner::Account(a.id.clone())), now)
            .expect("kp");
        let lifetime = time::Duration::days(1);
        let (inv, _) = store
            .invite(&sys, "ada@example.com", &env_owner, lifetime, now)
            .expect("invite");
        store
            .withdraw_invitation(&sys, &env_owner, &inv.id, now)
            .expect("withdraw");
        store
            .close_environment(&sys, &closed.id, now)
            .expect("close");
        let targets = |store: &Store, env: &crate::EnvironmentId| {
            let mut t: Vec<(String, String)> = store
                .list_environment_audit(env, &PageRequest::first())
                .expect("audit")
                .items
                .into_iter()
                .map(|r| (r.action, r.target))
                .collect();
            t.sort();
            t
        };
        let written = targets(&store, &e.id);
        assert_eq!(written.len(), 7, "{written:?}");
        assert!(!written
            .iter()
            .any(|(_, t)| t == account_kp.client_id.as_str()));

        // Undo the migration (the column goes) and apply it again.
        drop(store);
        let mut conn = establish(url).expect("connect");
        loop {
            let reverted = match &mut conn {
                DbConnection::Sqlite(c) => c.revert_last_migration(SQLITE_MIGRATIONS),
                DbConnection::Postgres(c) => c.revert_last_migration(POSTGRES_MIGRATIONS),
            }
            .expect("revert")
            .to_string();
            if reverted == "20261203000006" {
                break;
            }
        }
        run_migrations(&mut conn).expect("migrate again");
        drop(conn);

        let store = Store::open(url, &PoolSettings::default()).expect("open");
        let backfilled = targets(&store, &e.id);
        let expected: Vec<(String, String)> = written
            .into_iter()
            .filter(|(_, t)| t != gone.client_id.as_str())
            .collect();
        assert_eq!(
            backfilled, expected,
            "all but the deleted keypair's records"
        );
        assert_eq!(
            targets(&store, &closed.id),
            vec![
                ("environment.close".to_owned(), closed.id.to_string()),
                ("environment.create".to_owned(), closed.id.to_string()),
            ]
        );
    }

    #[test]
    fn the_audit_environment_migration_backfills_what_it_can_sqlite() {
        let dir = tempfile::tempdir().expect("tempdir");
        the_audit_environment_migration_backfills_what_it_can(&DatabaseUrl::Sqlite(
            dir.path().join("k.db"),
        ));
    }

    #[cfg(feature = "test-helpers")]
    #[test]
    fn the_audit_environment_migration_backfills_what_it_can_postgres() {
        let Ok(admin) = std::env::var("KEYGATE_TEST_POSTGRES_URL") else {
            eprintln!("KEYGATE_TEST_POSTGRES_URL not set: PostgreSQL variant not run");
            return;
        };
        let (url, schema) = crate::testing::fresh_postgres_schema(&admin);
        the_audit_environment_migration_backfills_what_it_can(
            &DatabaseUrl::parse(&url).expect("url"),
        );
        crate::testing::drop_postgres_schema(&admin, &schema);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn secrets_survive_the_lifecycle_migration_sqlite() {
        let dir = tempfile::tempdir().expect("tempdir");
        secrets_survive_the_lifecycle_migration(&DatabaseUrl::Sqlite(dir.path().join("k.db")));
    }

    #[cfg(feature = "test-helpers")]
    #[test]
    fn secrets_survive_the_lifecycle_migration_postgres() {
        let Ok(admin) = std::env::var("KEYGATE_TEST_POSTGRES_URL") else {
            eprintln!("KEYGATE_TEST_POSTGRES_URL not set: PostgreSQL variant not run");
            return;
        };
        let (url, schema) = crate::testing::fresh_postgres_schema(&admin);
        secrets_survive_the_lifecycle_migration(&DatabaseUrl::parse(&url).expect("url"));
        crate::testing::drop_postgres_schema(&admin, &schema);
    }
}
