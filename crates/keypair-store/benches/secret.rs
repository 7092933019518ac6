//! Client secret verification: the SHA-256 digest plus constant-time comparison that
//! `/token` does per request, and `Store::authenticate` for a cached keypair, in one
//! run. `cargo bench -p keypair-store --bench secret`.

#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use keypair_store::testing::TestDb;
use keypair_store::{Actor, ClientSecret, NewKeypair, Owner, ScopeSet};

const LOCAL: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

fn secret(c: &mut Criterion) {
    let stored = ClientSecret::generate();
    let digest = stored.digest();
    let presented = ClientSecret::from_presented(stored.expose());
    let mut group = c.benchmark_group("secret");
    group.bench_function("digest_and_compare", |b| {
        b.iter(|| presented.digest().matches(&digest))
    });

    let db = TestDb::sqlite();
    let now = clock::Clock::system().now();
    let acct = db
        .store
        .create_account(&Actor::system("bench"), "bench", now)
        .unwrap();
    let (kp, secret) = db
        .store
        .create_keypair(
            &Actor::system("bench"),
            NewKeypair {
                owner: Owner::Account(acct.id),
                scopes: ScopeSet::default(),
                comment: String::new(),
                enabled: true,
                token_lifetime_seconds: None,
                expires_at: None,
                allowed_addresses: keypair_store::AddressList::any(),
            },
            now,
        )
        .unwrap();
    let id = kp.client_id.to_string();
    db.store.authenticate(&id, &secret, LOCAL, now).unwrap();
    group.bench_function("authenticate_cached", |b| {
        b.iter(|| db.store.authenticate(&id, &secret, LOCAL, now).unwrap())
    });
    group.bench_function("authenticate_unknown_client", |b| {
        b.iter(|| {
            db.store
                .authenticate("kg_00000000000000000000000000000000", &secret, LOCAL, now)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = secret
}
criterion_main!(benches);
