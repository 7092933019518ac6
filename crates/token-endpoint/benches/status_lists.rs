//! Status lists: building and signing one list of 2^20 entries (the default capacity)
//! with 1,000,000 entries in use, 1% of them not VALID at random positions, which must
//! take under a second; and the bytes on the wire (the JWT's length) for 1,000 and
//! 1,000,000 entries in use, 1% not VALID each, printed before the timings.
//!
//! Run: `cargo bench -p token-endpoint --bench status_lists`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, Criterion};
use keypair_store::TokenStatus;
use token_endpoint::status_lists;
use token_endpoint::{SigningAlgorithm, SigningKey};

const CAPACITY: u32 = 1 << 20;
const URI: &str = "https://keygate.example/statuslists/sl_0123456789abcdef0123456789abcdef";

/// `in_use / 100` distinct random entries of a list of `CAPACITY`, by index, two thirds
/// INVALID and one third SUSPENDED (a fixed seed, so every run measures the same list).
fn not_valid(in_use: u32) -> Vec<(u32, TokenStatus)> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut entries = BTreeMap::new();
    while entries.len() < (in_use / 100) as usize {
        let r = next();
        let idx = (r >> 32) as u32 % CAPACITY;
        let status = if r % 3 == 0 {
            TokenStatus::Suspended
        } else {
            TokenStatus::Invalid
        };
        entries.insert(idx, status);
    }
    entries.into_iter().collect()
}

fn build_and_sign(key: &SigningKey, not_valid: &[(u32, TokenStatus)]) -> String {
    let lst = status_lists::encode(CAPACITY, not_valid);
    let iat = 1_795_000_000;
    status_lists::sign(
        key,
        URI,
        "https://keygate.example",
        &lst,
        iat,
        iat + 600,
        std::time::Duration::from_secs(5),
    )
    .unwrap()
}

fn status_list(c: &mut Criterion) {
    let (key, _) = SigningKey::generate(SigningAlgorithm::EdDSA).unwrap();
    for in_use in [0, 1_000, 1_000_000] {
        let entries = not_valid(in_use);
        let jwt = build_and_sign(&key, &entries);
        eprintln!(
            "status list of {CAPACITY} entries, {in_use} in use, {} not VALID: JWT {} bytes",
            entries.len(),
            jwt.len()
        );
    }
    let entries = not_valid(1_000_000);
    let mut group = c.benchmark_group("status_list");
    group.sample_size(20);
    group.bench_function("build_and_sign_2^20_1M_in_use_1pct", |b| {
        b.iter(|| build_and_sign(&key, &entries))
    });
    group.finish();
}

criterion_group!(benches, status_list);
criterion_main!(benches);
