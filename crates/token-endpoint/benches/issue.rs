//! The `/token` hot path in process: parsing a request and issuing a token for a
//! cached keypair (what the server does inline), against the bare EdDSA signature it
//! contains. `cargo bench -p token-endpoint --bench issue`.
//!
//! With `ISSUE_COUNT=N` set it skips criterion and issues N tokens on the cached path,
//! then exits: run it under `valgrind --tool=callgrind` with two values of N and divide
//! the difference in instructions by the difference in N to get the CPU instructions
//! of one request, free of set-up and of timing noise (docs/benchmarks.md).

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clock::Clock;
use criterion::{criterion_group, criterion_main, Criterion};
use keypair_store::testing::TestDb;
use keypair_store::{Actor, NewKeypair, Owner, ScopeCatalogue};
use token_endpoint::{
    Kek, KeySettings, Keys, RawRequest, SigningAlgorithm, TokenRequest, TokenService, TokenSettings,
};

fn issue(c: &mut Criterion) {
    let db = TestDb::sqlite();
    let catalogue = ScopeCatalogue::new([
        ("feedback:read", "feedback-api"),
        ("feedback:write", "feedback-api"),
    ])
    .unwrap();
    // A benchmark measures real time; the service reads the real clock.
    let clock = Clock::system();
    let now = clock.now();
    let keys = Keys::load_or_create(
        db.store.clone(),
        Kek::from_base64(&STANDARD.encode([1u8; 32])).unwrap(),
        KeySettings {
            algorithm: SigningAlgorithm::EdDSA,
            max_token_lifetime: time::Duration::days(1),
            publish_lead: time::Duration::ZERO,
        },
        now,
    )
    .unwrap();
    let keys = Arc::new(keys);
    let service = TokenService::new(
        db.store.clone(),
        keys.clone(),
        catalogue.clone(),
        TokenSettings {
            issuer: "http://127.0.0.1:8080".into(),
            lifetime_seconds: 3600,
            max_lifetime_seconds: 86400,
            max_body_bytes: 16384,
            throttle: token_endpoint::ThrottleSettings::default(),
            client_ip_header: None,
            status: token_endpoint::StatusSettings::default(),
        },
        clock,
    );
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
                scopes: catalogue
                    .validate_for_keypair(&["feedback:read", "feedback:write"])
                    .unwrap(),
                comment: String::new(),
                enabled: true,
                token_lifetime_seconds: None,
                expires_at: None,
                allowed_addresses: keypair_store::AddressList::any(),
            },
            now,
        )
        .unwrap();
    let auth = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", kp.client_id, secret.expose()))
    );
    let body = b"grant_type=client_credentials&scope=feedback:read";
    let raw = RawRequest {
        content_type: Some("application/x-www-form-urlencoded"),
        authorization: Some(&auth),
        body,
    };
    // Warm the cache (and the last_used_at write, and the keypair's first status
    // generation, whose opening drops the cached keypair).
    for _ in 0..2 {
        service
            .issue(&TokenRequest::parse(raw).unwrap(), now)
            .unwrap();
    }
    assert!(service.answers_from_memory(&TokenRequest::parse(raw).unwrap(), now));

    if let Some(count) = std::env::var("ISSUE_COUNT")
        .ok()
        .and_then(|n| n.parse::<u64>().ok())
    {
        for _ in 0..count {
            std::hint::black_box(
                service
                    .issue(&TokenRequest::parse(raw).unwrap(), now)
                    .unwrap(),
            );
        }
        std::process::exit(0);
    }

    let mut group = c.benchmark_group("token_path");
    group.bench_function("parse_and_issue_cached", |b| {
        b.iter(|| {
            service
                .issue(&TokenRequest::parse(raw).unwrap(), now)
                .unwrap()
        })
    });
    let ring = keys.ring();
    let input = [0u8; 400];
    group.bench_function("bare_eddsa_signature", |b| {
        b.iter(|| ring.signer(now).sign(&input).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = issue
}
criterion_main!(benches);
