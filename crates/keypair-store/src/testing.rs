//! Test support (feature `test-helpers`): throwaway databases for both backends.
//!
//! SQLite databases live in a temporary directory removed on drop. PostgreSQL tests
//! use the server named by `KEYGATE_TEST_POSTGRES_URL`; each [`TestDb`] gets its own
//! fresh schema (via libpq's `options=-csearch_path=...`), dropped on drop, so tests
//! run in parallel and leave nothing behind.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use diesel::connection::SimpleConnection;
use diesel::Connection;

use crate::ids::random_hex_id;
use crate::{DatabaseUrl, PoolSettings, Store};

/// The environment variable naming the PostgreSQL server for tests.
pub const POSTGRES_URL_VAR: &str = "KEYGATE_TEST_POSTGRES_URL";

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDb {
    pub url: DatabaseUrl,
    pub store: Store,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, schema: String },
}

impl TestDb {
    /// A fresh SQLite database file.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = DatabaseUrl::Sqlite(dir.path().join("keygate.db"));
        let store = Store::open(&url, &PoolSettings::default()).expect("open sqlite");
        TestDb {
            url,
            store,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A fresh schema on the test PostgreSQL server, or `None` when
    /// `KEYGATE_TEST_POSTGRES_URL` is not set.
    pub fn postgres() -> Option<Self> {
        let admin_url = std::env::var(POSTGRES_URL_VAR)
            .ok()
            .filter(|u| !u.is_empty())?;
        let (url, schema) = fresh_postgres_schema(&admin_url);
        let url = DatabaseUrl::Postgres(url);
        let store = Store::open(&url, &PoolSettings::default()).expect("open postgres");
        Some(TestDb {
            url,
            store,
            cleanup: Cleanup::Postgres { admin_url, schema },
        })
    }

    /// The `application_name` of the change listeners of stores (and servers) on
    /// this database, to find them in `pg_stat_activity` (PostgreSQL).
    pub fn listener_application_name(&self) -> Option<String> {
        match &self.cleanup {
            Cleanup::Postgres { schema, .. } => {
                Some(crate::listener_application_name(Some(schema)))
            }
            Cleanup::Sqlite(_) => None,
        }
    }

    /// The database URL as a string, for handing to the binary.
    pub fn url_string(&self) -> String {
        match &self.url {
            DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
            DatabaseUrl::Postgres(u) => u.clone(),
        }
    }

    /// Runs raw SQL against the test database (to plant rows the store would never
    /// write, such as corrupt ones).
    pub fn execute_sql(&self, sql: &str) {
        use diesel::RunQueryDsl;
        self.store
            .read(|c| Ok(diesel::sql_query(sql).execute(c)?))
            .expect("execute sql");
    }

    /// Every stored row of every table, with every column rendered as text (binary
    /// columns as lossy UTF-8, hex and base64), for scanning for leaked secrets.
    pub fn dump_all_columns(&self) -> Vec<String> {
        use base64::Engine as _;
        use diesel::prelude::*;
        use diesel::sql_types::{Binary, Nullable, Text};

        #[derive(QueryableByName)]
        struct Cell {
            #[diesel(sql_type = Nullable<Text>)]
            t: Option<String>,
            #[diesel(sql_type = Nullable<Binary>)]
            b: Option<Vec<u8>>,
        }
        let columns: &[(&str, &str, bool)] = &[
            ("accounts", "id", false),
            ("accounts", "name", false),
            ("environments", "id", false),
            ("environments", "name", false),
            ("keypairs", "client_id", false),
            ("keypairs", "scopes", false),
            ("keypairs", "comment", false),
            ("keypairs", "secret_hint", false),
            ("keypairs", "allowed_addresses", false),
            ("keypair_secrets", "hint", false),
            ("keypair_secrets", "digest", true),
            ("signing_keys", "kid", false),
            ("signing_keys", "public_jwk", false),
            ("signing_keys", "private_key_sealed", true),
            ("audit_records", "actor", false),
            ("audit_records", "action", false),
            ("audit_records", "target", false),
            ("audit_records", "detail", false),
            ("users", "user_id", false),
            ("users", "email", false),
            ("users", "email_key", false),
            ("users", "name", false),
            ("role_bindings", "user_id", false),
            ("role_bindings", "role", false),
            ("role_bindings", "owner_key", false),
            ("invitations", "invitation_id", false),
            ("invitations", "email", false),
            ("invitations", "email_key", false),
            ("invitations", "role", false),
            ("invitations", "owner_key", false),
            ("invitations", "code_digest", true),
            ("invitations", "created_by", false),
            ("sessions", "id_digest", true),
            ("sessions", "user_id", false),
            ("password_credentials", "user_id", false),
            ("password_credentials", "phc", false),
            ("credential_resets", "reset_id", false),
            ("credential_resets", "user_id", false),
            ("credential_resets", "code_digest", true),
            ("credential_resets", "created_by", false),
        ];
        let mut conn = self.store.conn().expect("connection");
        let mut out = Vec::new();
        for (table, column, binary) in columns {
            let sql = if *binary {
                format!("SELECT NULL AS t, {column} AS b FROM {table}")
            } else {
                format!("SELECT {column} AS t, NULL AS b FROM {table}")
            };
            let cells: Vec<Cell> = diesel::sql_query(sql).load(&mut *conn).expect("dump query");
            for c in cells {
                if let Some(t) = c.t {
                    out.push(t);
                }
                if let Some(b) = c.b {
                    out.push(String::from_utf8_lossy(&b).into_owned());
                    out.push(b.iter().map(|x| format!("{x:02x}")).collect());
                    out.push(base64::engine::general_purpose::STANDARD.encode(&b));
                    out.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&b));
                }
            }
        }
        out
    }
}

/// Creates a fresh schema on the server at `admin_url` and returns a URL whose
/// connections use it, with the schema name.
pub fn fresh_postgres_schema(admin_url: &str) -> (String, String) {
    let schema = random_hex_id("keygate_test_");
    crate::db::init_tls();
    let mut admin =
        diesel::PgConnection::establish(admin_url).expect("connect to KEYGATE_TEST_POSTGRES_URL");
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .expect("create schema");
    let sep = if admin_url.contains('?') { '&' } else { '?' };
    // Connections are named after the schema, so a test can find (and cut) its own.
    (
        format!("{admin_url}{sep}options=-csearch_path%3D{schema}&application_name={schema}"),
        schema,
    )
}

/// Drops a schema made by [`fresh_postgres_schema`].
pub fn drop_postgres_schema(admin_url: &str, schema: &str) {
    crate::db::init_tls();
    if let Ok(mut admin) = diesel::PgConnection::establish(admin_url) {
        let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, schema } = &self.cleanup {
            drop_postgres_schema(admin_url, schema);
        }
    }
}

/// Declares `mod $name { fn sqlite(); fn postgres(); }` for each listed test body
/// `fn $name(&TestDb)`, so one body runs on both backends. The PostgreSQL variant says
/// so on stderr when `KEYGATE_TEST_POSTGRES_URL` is unset (CI always sets it).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident;)*) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(&$crate::testing::TestDb::sqlite());
            }

            #[test]
            fn postgres() {
                match $crate::testing::TestDb::postgres() {
                    Some(db) => super::$name(&db),
                    None => eprintln!("KEYGATE_TEST_POSTGRES_URL not set: PostgreSQL variant not run"),
                }
            }
        }
    )*};
}

/// Like [`on_both_backends!`] for `async fn $name(TestDb)` bodies, run by
/// `#[actix_web::test]` (the calling crate depends on actix-web).
#[macro_export]
macro_rules! on_both_backends_async {
    ($($name:ident;)*) => {$(
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$name($crate::testing::TestDb::sqlite()).await;
            }

            #[actix_web::test]
            async fn postgres() {
                match $crate::testing::TestDb::postgres() {
                    Some(db) => super::$name(db).await,
                    None => eprintln!("KEYGATE_TEST_POSTGRES_URL not set: PostgreSQL variant not run"),
                }
            }
        }
    )*};
}
