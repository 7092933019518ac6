//! Token signing, per algorithm, in one run:
//! - `keygate`: `jwt::sign` with a key parsed once (what `/token` does);
//! - `jsonwebtoken_encode`: `jsonwebtoken::encode` (aws-lc backend), which re-parses
//!   the private key on every call;
//! - `bare_signature`: only the signature (aws-lc-rs, the backend keygate uses) over the
//!   same signing input: the floor;
//! - `ring_signature`: the same with ring's implementation, for choosing the backend.
//!
//! Run: `cargo bench -p token-endpoint --bench signing`.

#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::{EncodingKey, Header};
use token_endpoint::jwt::{
    self, AccessTokenClaims, Audience, Claims, ListUri, StatusClaim, StatusListRef,
};
use token_endpoint::{SigningAlgorithm, SigningKey};

fn claims() -> AccessTokenClaims<'static> {
    AccessTokenClaims {
        claims: Claims {
            iss: "https://keygate.example",
            sub: "kg_0123456789abcdef0123456789abcdef",
            client_id: "kg_0123456789abcdef0123456789abcdef",
            aud: Audience::One("feedback-api".into()),
            iat: 1_795_000_000,
            exp: 1_795_003_600,
            jti: "3q2-7wABAgMEBQYHCAkKCw",
            scope: "feedback:read feedback:write",
            acct: Some("acct_0123456789abcdef0123456789abcdef"),
            env: Some("env_0123456789abcdef0123456789abcdef"),
        },
        status: StatusClaim {
            status_list: StatusListRef {
                idx: 734_112,
                uri: ListUri {
                    issuer: "https://keygate.example",
                    list_id: "sl_0123456789abcdef0123456789abcdef",
                },
            },
        },
    }
}

fn signing(c: &mut Criterion) {
    for alg in [
        SigningAlgorithm::EdDSA,
        SigningAlgorithm::ES256,
        SigningAlgorithm::RS256,
    ] {
        let (key, pkcs8) = SigningKey::generate(alg).unwrap();
        let claims = claims();
        let mut group = c.benchmark_group(format!("sign_{}", alg.as_str()));
        group.bench_function("keygate", |b| b.iter(|| jwt::sign(&key, &claims).unwrap()));

        let (jalg, ekey) = match alg {
            SigningAlgorithm::EdDSA => (
                jsonwebtoken::Algorithm::EdDSA,
                EncodingKey::from_ed_der(&pkcs8),
            ),
            SigningAlgorithm::ES256 => (
                jsonwebtoken::Algorithm::ES256,
                EncodingKey::from_ec_der(&pkcs8),
            ),
            SigningAlgorithm::RS256 => (
                jsonwebtoken::Algorithm::RS256,
                EncodingKey::from_rsa_der(&pkcs8),
            ),
        };
        let mut header = Header::new(jalg);
        header.typ = Some("at+jwt".into());
        header.kid = Some(key.kid().to_owned());
        if jsonwebtoken::encode(&header, &claims, &ekey).is_ok() {
            group.bench_function("jsonwebtoken_encode", |b| {
                b.iter(|| jsonwebtoken::encode(&header, &claims, &ekey).unwrap())
            });
        } else {
            eprintln!(
                "jsonwebtoken cannot load this {} key encoding; skipped",
                alg.as_str()
            );
        }

        let token = jwt::sign(&key, &claims).unwrap();
        let signing_input = token.rsplit_once('.').unwrap().0.to_owned();
        group.bench_function("bare_signature", |b| {
            b.iter(|| key.sign(signing_input.as_bytes()).unwrap())
        });
        let rng = ring::rand::SystemRandom::new();
        let msg = signing_input.as_bytes();
        match alg {
            SigningAlgorithm::EdDSA => {
                let k =
                    ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8).unwrap();
                group.bench_function("ring_signature", |b| b.iter(|| k.sign(msg)));
            }
            SigningAlgorithm::ES256 => {
                let k = ring::signature::EcdsaKeyPair::from_pkcs8(
                    &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &pkcs8,
                    &rng,
                )
                .unwrap();
                group.bench_function("ring_signature", |b| b.iter(|| k.sign(&rng, msg).unwrap()));
            }
            SigningAlgorithm::RS256 => {
                let k = ring::signature::RsaKeyPair::from_pkcs8(&pkcs8).unwrap();
                let mut sig = vec![0u8; k.public().modulus_len()];
                group.bench_function("ring_signature", |b| {
                    b.iter(|| {
                        k.sign(&ring::signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                            .unwrap()
                    })
                });
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = signing
}
criterion_main!(benches);
