//! The crate's one integration-test binary: the attack set against the guard (issue 5)
//! by concern, its RFC 6750 behaviour in actix-web, and property tests.
//!
//! Every attack starts from a token the guard accepts (see the positive controls in each
//! module) and changes one thing; each test asserts the precise rejection. Keys are
//! made here with aws-lc-rs and published as JWKs through `StaticJwks`-like providers or
//! a fake issuer on 127.0.0.1. No other network is used, and every loop is bounded.
//! Guards read a `clock::TestClock` standing at `support::T0`: tests move it to let
//! time pass; only network deadlines read the real clock.
//!
//! - `header`: the token's shape and its JOSE header (`alg`, `typ`, `kid`, `crit`).
//! - `signature`: forged and tampered signatures.
//! - `claims`: `iss`, `aud`, `exp`/`nbf`/`iat` against the clock, scopes.
//! - `jwks`: the key cache, unknown-`kid` refetches, background refresh, and issuers
//!   that are down, slow or serve garbage.
//! - `status`: token status (draft-ietf-oauth-status-list): entry values, freshness,
//!   failing closed, lists that do not verify, spoofed list URIs, fetch discipline,
//!   tokens without status, key rotation and size bounds.
//! - `actix`: the extractor's RFC 6750 answers and its realm.
//! - `properties`: property tests (nothing but an untouched token validates).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "../../examples/feedback_api.rs"]
mod feedback_api;

mod actix;
mod claims;
mod header;
mod jwks;
mod properties;
mod signature;
mod status;

use std::time::Duration;

use resource_guard::{Guard, GuardError};
use serde_json::json;

use support::*;

/// The reason the guard gives for refusing `token` as `invalid_token`; panics on
/// anything else.
fn invalid_reason(guard: &Guard, token: &str) -> &'static str {
    match guard.validate(token) {
        Err(GuardError::InvalidToken(why)) => why,
        other => panic!("expected InvalidToken, got {other:?}"),
    }
}

/// A valid token signed with the issuer's Ed25519 key (keygate's default).
fn good_token() -> String {
    sign(&issuer_keys().ed, &claims())
}

/// The standard header of a keygate token for `key`, as JSON.
fn header_of(key: &TestKey) -> serde_json::Value {
    json!({"alg": format!("{:?}", key.alg), "typ": "at+jwt", "kid": key.kid})
}

#[test]
fn documented_defaults_hold() {
    assert_eq!(resource_guard::DEFAULT_LEEWAY, Duration::from_secs(30));
    assert_eq!(resource_guard::DEFAULT_MAX_TOKEN_BYTES, 8 * 1024);
    assert_eq!(
        resource_guard::DEFAULT_MIN_REFETCH_INTERVAL,
        Duration::from_secs(30)
    );
    assert_eq!(
        resource_guard::DEFAULT_REFRESH_INTERVAL,
        Duration::from_secs(300)
    );
    assert_eq!(
        resource_guard::DEFAULT_FETCH_TIMEOUT,
        Duration::from_secs(5)
    );
    // The realm defaults to the audience; the clock to the system clock.
    assert_eq!(issuer_guard().0.realm(), AUDIENCE);
    let plain = Guard::builder(ISSUER, AUDIENCE)
        .jwks_provider(std::sync::Arc::new(resource_guard::StaticJwks(
            issuer_jwks(),
        )))
        .refresh_interval(None)
        .build();
    assert!(!plain.clock().is_test());
    assert_eq!(plain.realm(), AUDIENCE);
}
