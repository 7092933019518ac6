//! The store's behaviour through its public API. Every test body runs on SQLite and,
//! when `KEYGATE_TEST_POSTGRES_URL` is set, on PostgreSQL (each in its own schema).

use keypair_store::testing::TestDb;
use keypair_store::{
    Actor, ClientAuth, ClientId, ClientSecret, KeypairPatch, NewKeypair, Owner, PageRequest,
    Rejection, ScopeCatalogue, ScopeSet, Store, StoreError, StoredSigningKey,
};
use time::{Duration, OffsetDateTime};

/// An address outside any allowlist test: keypairs without one accept it.
pub(crate) const LOCAL: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

pub(crate) fn t0() -> OffsetDateTime {
    time::macros::datetime!(2026-11-22 12:00 UTC)
}

pub(crate) fn actor() -> Actor {
    Actor::system("test")
}

pub(crate) fn catalogue() -> ScopeCatalogue {
    ScopeCatalogue::new([
        ("feedback:read", "feedback-api"),
        ("feedback:write", "feedback-api"),
        ("keygate:admin", "http://127.0.0.1:8080"),
        ("keygate:operator", "http://127.0.0.1:8080"),
    ])
    .expect("catalogue")
}

pub(crate) fn scopes(list: &[&str]) -> ScopeSet {
    catalogue()
        .validate_for_keypair(list)
        .expect("valid scopes")
}

pub(crate) fn new_keypair(owner: Owner, list: &[&str]) -> NewKeypair {
    NewKeypair {
        owner,
        scopes: scopes(list),
        comment: "ingest worker".into(),
        enabled: true,
        token_lifetime_seconds: None,
        expires_at: None,
        allowed_addresses: keypair_store::AddressList::any(),
    }
}

/// Disables a keypair (as the test actor, at `t0`).
pub(crate) fn disable(store: &Store, id: &ClientId) {
    store
        .update_keypair(
            &actor(),
            id,
            KeypairPatch {
                enabled: Some(false),
                ..Default::default()
            },
            t0(),
        )
        .expect("disable");
}

/// Whether the store accepts the credentials at `t0` (cache entries loaded at `t0`
/// never age: only writes and change notices drop them).
pub(crate) fn authenticated(store: &Store, id: &ClientId, secret: &ClientSecret) -> bool {
    authenticated_at(store, id, secret, t0())
}

/// Whether the store accepts the credentials at `now`.
pub(crate) fn authenticated_at(
    store: &Store,
    id: &ClientId,
    secret: &ClientSecret,
    now: OffsetDateTime,
) -> bool {
    matches!(
        store
            .authenticate(id.as_str(), secret, LOCAL, now)
            .expect("authenticate"),
        ClientAuth::Authenticated(_)
    )
}

/// A second store on `db`'s database with a minute-long cache TTL, listening for
/// other processes' changes (PostgreSQL): only notices can update its cache in time.
pub(crate) fn listening_store(db: &TestDb) -> (Store, keypair_store::ChangeListener) {
    let settings = keypair_store::PoolSettings {
        keypair_cache_ttl: std::time::Duration::from_secs(60),
        ..Default::default()
    };
    let store = Store::open(&db.url, &settings).expect("listening store");
    let listener = store
        .listen_for_changes()
        .expect("a listener on PostgreSQL");
    (store, listener)
}

mod cascades;
mod change_tracking;
mod concurrency;
mod credentials;
mod listings;
mod objects;
mod passkeys;
mod people;
mod reset;
mod secrets;
mod signing_keys;
mod status;
