//! The subcommands. Each takes the time from the clock it is given (the binary passes
//! the system clock).

pub mod users;

use std::io::Write as _;
use std::sync::Arc;

use clock::Clock;
use keypair_store::{Actor, Owner, PageRequest, Store};
use time::format_description::well_known::Rfc3339;
use token_endpoint::{Kek, KekSource, Keys};

use crate::config::Config;

/// Why a command failed; the message is the one line the user sees.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Store(#[from] keypair_store::StoreError),
    #[error("cannot listen on {addr}: {reason}")]
    Bind { addr: String, reason: String },
    #[error("server failed: {0}")]
    Server(String),
    #[error("cannot write to standard output: {0}")]
    Stdout(std::io::Error),
    #[error("{0}")]
    Keys(#[from] token_endpoint::KeyError),
    /// Something named on the command line does not exist or is malformed.
    #[error("{0}")]
    Input(String),
}

/// Prints `line` as one line of JSON on standard output.
fn print_line(line: &serde_json::Value) -> Result<(), CommandError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(CommandError::Stdout)
}

/// Loads the key-encryption key, logging where it came from.
fn load_kek(config: &Config) -> Result<Kek, CommandError> {
    let (kek, source) = Kek::load(&config.key.configured, &config.key.file)
        .map_err(token_endpoint::KeyError::from)?;
    match source {
        KekSource::Config => tracing::info!("key-encryption key from configuration"),
        KekSource::File => {
            tracing::info!(file = %config.key.file.display(), "key-encryption key from file")
        }
        KekSource::Generated => tracing::warn!(
            file = %config.key.file.display(),
            "generated a new key-encryption key (mode 0600); back it up, and set key.encryption_key \
             (KEYGATE_KEY_ENCRYPTION_KEY) when several processes share a database"
        ),
    }
    Ok(kek)
}

/// Loads the key-encryption key and the signing keys (creating the first one).
pub fn open_keys(config: &Config, store: &Store, clock: &Clock) -> Result<Arc<Keys>, CommandError> {
    let kek = load_kek(config)?;
    Ok(Arc::new(Keys::load_or_create(
        store.clone(),
        kek,
        config.key_settings(),
        clock.now(),
    )?))
}

/// `keygate keys rotate`: adds a key that is published now and signs from
/// `key.publish_lead_seconds` later (at once on an empty database), and prints
/// `{"kid", "alg", "signs_from"}`. Refused while an earlier rotation's key still waits
/// to sign.
pub fn rotate_keys(config: &Config, clock: &Clock) -> Result<(), CommandError> {
    let store = open_store(config)?;
    let kek = load_kek(config)?;
    let now = clock.now();
    let key = Keys::rotate_stored(&store, &kek, &config.key_settings(), now)?;
    let signs_from = key.signs_from.format(&Rfc3339).unwrap_or_default();
    if key.signs_from > now {
        tracing::info!(
            kid = %key.kid,
            "running servers publish the new key within key.reload_interval_seconds; it \
             signs from {signs_from}"
        );
    }
    let line = serde_json::json!({
        "kid": key.kid,
        "alg": key.algorithm.as_str(),
        "signs_from": signs_from,
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(CommandError::Stdout)
}

/// Opens the database (creating and migrating it) and logs that it is ready, with
/// the URL's password hidden.
pub fn open_store(config: &Config) -> Result<Store, CommandError> {
    let store = Store::open(&config.database_url, &config.pool)?;
    tracing::info!(database = %config.database_url.redacted(), "database ready");
    Ok(store)
}

/// `keygate migrate`.
pub fn migrate(config: &Config) -> Result<(), CommandError> {
    open_store(config).map(|_| ())
}

/// `keygate backup FILE`: a consistent copy of the SQLite database, taken while the
/// server may be running.
pub fn backup(config: &Config, file: &std::path::Path) -> Result<(), CommandError> {
    let store = open_store(config)?;
    store.backup_sqlite_to(file)?;
    let bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    tracing::info!(file = %file.display(), bytes, "database backed up");
    print_line(&serde_json::json!({
        "backup": file.display().to_string(),
        "bytes": bytes,
    }))
}

/// `keygate bootstrap`: one operator keypair, with `comment`, printed once.
pub fn bootstrap(config: &Config, comment: &str, clock: &Clock) -> Result<(), CommandError> {
    let store = open_store(config)?;
    let (keypair, secret) =
        store.create_operator_keypair(&Actor::system("bootstrap"), comment, clock.now())?;
    tracing::info!(client_id = %keypair.client_id, "operator keypair created");
    let line = serde_json::json!({
        "client_id": keypair.client_id.as_str(),
        "client_secret": secret.expose(),
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(CommandError::Stdout)
}

/// `keygate serve`.
pub fn serve(config: &Config, clock: &Clock) -> Result<(), CommandError> {
    let store = open_store(config)?;
    let operators = store.list_keypairs(&Owner::Operator, &PageRequest::first())?;
    let scopes: Vec<&str> = config.catalogue.scopes().map(|s| s.as_str()).collect();
    tracing::info!(scopes = %scopes.join(" "), "scope catalogue");
    if operators.items.is_empty() {
        tracing::info!("no operator keypair yet: create the first one with `keygate bootstrap`");
    }
    let keys = open_keys(config, &store, clock)?;
    // Other processes' keypair changes reach this one's cache at once (PostgreSQL). It
    // is dropped, and its thread joined, after the server has stopped.
    let _changes = store.listen_for_changes();
    actix_web::rt::System::new().block_on(crate::server::run(
        config.clone(),
        store,
        keys,
        clock.clone(),
    ))
}
