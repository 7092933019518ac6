//! What the guard costs on top of the signature check: `Guard::validate` of a fresh
//! token (shape checks, header, key lookup, signature, claims, and its status in a
//! status list the guard holds, as by default) against a bare signature verification
//! of the same token (aws-lc-rs `UnparsedPublicKey::verify` over the signing input,
//! with the key and signature already decoded), per algorithm; and the same
//! validation with status checks off, to show what the status lookup adds.
//! Besides criterion's medians of each, it prints the ratios as the median of 21
//! alternating rounds, which drift on a shared machine does not skew.
//!
//! `cargo bench -p resource-guard --bench validate`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[allow(dead_code)]
#[path = "../tests/guard/support/mod.rs"]
mod support;

use std::time::Duration;

use aws_lc_rs::signature::{
    UnparsedPublicKey, VerificationAlgorithm, ECDSA_P256_SHA256_FIXED, ED25519,
    RSA_PKCS1_2048_8192_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clock::Clock;
use criterion::{black_box, criterion_group, criterion_main, Criterion};

use support::{claims_at, guard_builder, issuer_jwks, issuer_keys, sign, CountingJwks, TestKey};

fn bench_key(
    c: &mut Criterion,
    name: &str,
    key: &TestKey,
    alg: &'static dyn VerificationAlgorithm,
) {
    // The real clock, as a resource server runs the guard, and a token issued now.
    // Its status list is fetched by the first validation and held from then on.
    let clock = Clock::system();
    let guard = guard_builder(&CountingJwks::new(issuer_jwks()))
        .clock(clock.clone())
        .build();
    let no_status = guard_builder(&CountingJwks::new(issuer_jwks()))
        .clock(clock.clone())
        .status_checks(false)
        .build();
    let token = sign(key, &claims_at(clock.now().unix_timestamp()));
    assert!(guard.validate(&token).is_ok(), "{name}: the token is valid");
    assert!(guard.checks_status() && !no_status.checks_status());
    assert!(no_status.validate(&token).is_ok());

    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let public = UnparsedPublicKey::new(alg, key.public.clone());
    assert!(public.verify(input.as_bytes(), &sig).is_ok());

    let mut group = c.benchmark_group(name);
    group.bench_function("validate", |b| {
        b.iter(|| guard.validate(black_box(&token)).unwrap())
    });
    group.bench_function("validate_without_status", |b| {
        b.iter(|| no_status.validate(black_box(&token)).unwrap())
    });
    group.bench_function("bare_verify", |b| {
        b.iter(|| {
            public
                .verify(black_box(input.as_bytes()), black_box(&sig))
                .unwrap()
        })
    });
    group.finish();

    // Criterion measures one after the other, so drift on a shared machine lands in
    // the ratio. Alternating short rounds and taking the median ratio does not.
    let bare = || {
        public
            .verify(black_box(input.as_bytes()), black_box(&sig))
            .unwrap()
    };
    let with_status = alternating_ratio(
        || {
            guard.validate(black_box(&token)).unwrap();
        },
        bare,
    );
    let without_status = alternating_ratio(
        || {
            no_status.validate(black_box(&token)).unwrap();
        },
        bare,
    );
    println!(
        "{name}: validate (status checked, list held) / bare_verify = {with_status:.3}; \
         without status checks = {without_status:.3} (medians of {ROUNDS} alternating rounds)"
    );
}

const ROUNDS: usize = 21;

fn alternating_ratio(mut subject: impl FnMut(), mut baseline: impl FnMut()) -> f64 {
    let clock = Clock::system();
    let time = |f: &mut dyn FnMut()| {
        let start = clock.instant();
        for _ in 0..500 {
            f();
        }
        (clock.instant() - start).as_secs_f64()
    };
    let mut ratios: Vec<f64> = (0..ROUNDS)
        .map(|_| time(&mut subject) / time(&mut baseline))
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ROUNDS / 2]
}

fn validate_vs_verify(c: &mut Criterion) {
    let keys = issuer_keys();
    bench_key(c, "EdDSA", &keys.ed, &ED25519);
    bench_key(c, "ES256", &keys.ec, &ECDSA_P256_SHA256_FIXED);
    bench_key(c, "RS256", &keys.rsa, &RSA_PKCS1_2048_8192_SHA256);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = validate_vs_verify
}
criterion_main!(benches);
