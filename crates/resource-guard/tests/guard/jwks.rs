//! The key cache: unknown `kid`s (rate-limited refetches on the guard's clock),
//! rotation, background refresh, and the issuer over HTTP (RFC 8414 discovery, JWKS
//! endpoints that are down, slow or serve garbage).

use std::sync::Arc;
use std::time::Duration;

use clock::Clock;
use resource_guard::{Guard, JwksProvider, StaticJwks};
use serde_json::json;

use crate::support::*;
use crate::{good_token, invalid_reason};

/// An attacker sending random kids must not make the guard hammer the issuer:
/// 1000 of them from 8 threads cause one refetch in the interval.
#[test]
fn unknown_kid_storm_fetches_the_jwks_at_most_once_per_interval() {
    let (guard, provider) = issuer_guard();
    assert_eq!(provider.fetches(), 1, "the initial fetch");
    let attacker = TestKey::ed25519("attacker");
    let tokens: Vec<String> = (0..1000)
        .map(|_| sign(&attacker.with_kid(&random_hex(8)), &claims()))
        .collect();
    let real = Clock::system();
    let started = real.instant();
    std::thread::scope(|s| {
        for chunk in tokens.chunks(125) {
            let guard = &guard;
            s.spawn(move || {
                for t in chunk {
                    assert_eq!(invalid_reason(guard, t), "unknown key id");
                }
            });
        }
    });
    assert_eq!(provider.fetches(), 2, "initial fetch + one refetch");
    assert!(real.instant() - started < Duration::from_secs(5));
    // Known keys keep working during and after the storm.
    assert!(guard.validate(&good_token()).is_ok());
    assert_eq!(provider.fetches(), 2);
}

#[test]
fn unknown_kid_triggers_a_refetch_that_finds_a_rotated_key() {
    let (guard, provider) = issuer_guard();
    let next = TestKey::ed25519("ed-2");
    provider.set(jwks(&[&issuer_keys().ed, &next]));
    assert!(guard.validate(&sign(&next, &claims())).is_ok());
    assert_eq!(provider.fetches(), 2);
    // Keys dropped from the JWKS are forgotten.
    provider.set(jwks(&[&next]));
    guard.refresh();
    assert_eq!(invalid_reason(&guard, &good_token()), "unknown key id");
}

#[test]
fn refetch_is_allowed_again_after_the_interval() {
    const INTERVAL: Duration = Duration::from_secs(30);
    let provider = CountingJwks::new(issuer_jwks());
    let clock = test_clock();
    let guard = guard_builder(&provider)
        .min_refetch_interval(INTERVAL)
        .clock(clock.clock())
        .build();
    let random = sign(&TestKey::ed25519("random-1"), &claims());
    let next = TestKey::ed25519("ed-2");
    let token = sign(&next, &claims());
    assert_eq!(invalid_reason(&guard, &random), "unknown key id");
    assert_eq!(provider.fetches(), 2);
    // Within the interval even a legitimate new key waits, to its last millisecond.
    provider.set(jwks(&[&issuer_keys().ed, &next]));
    assert_eq!(invalid_reason(&guard, &token), "unknown key id");
    clock.advance(INTERVAL - Duration::from_millis(1));
    assert_eq!(invalid_reason(&guard, &token), "unknown key id");
    assert_eq!(provider.fetches(), 2);
    clock.advance(Duration::from_millis(1));
    assert!(guard.validate(&token).is_ok());
    assert_eq!(provider.fetches(), 3);
}

/// Every way the fake issuer's JWKS endpoint can answer with something unusable.
const GARBAGE: [Mode; 5] = [
    Mode::NotJson,
    Mode::NoKeysArray,
    Mode::JunkKeys,
    Mode::ServerError,
    Mode::Huge,
];

/// The background refresh period of the tests below, on their test clocks.
const EVERY: Duration = Duration::from_secs(60);

/// A counting provider, a test clock, and a guard builder that refreshes from the
/// provider every [`EVERY`] on that clock.
fn refreshing() -> (
    Arc<CountingJwks>,
    clock::TestClock,
    resource_guard::GuardBuilder,
) {
    let provider = CountingJwks::new(issuer_jwks());
    let jwks_provider: Arc<dyn JwksProvider> = provider.clone();
    let clock = test_clock();
    let builder = Guard::builder(ISSUER, AUDIENCE)
        .jwks_provider(jwks_provider)
        .refresh_interval(Some(EVERY))
        .clock(clock.clock())
        .status_list_provider(ListServer::new(ISSUER));
    (provider, clock, builder)
}

#[test]
fn background_refresh_picks_up_new_keys() {
    let (provider, clock, builder) = refreshing();
    let guard = builder
        .min_refetch_interval(Duration::from_secs(3600))
        .build();
    // Use up the unknown-kid refetch, so only the refresher can find the new key.
    let _ = guard.validate(&sign(&TestKey::ed25519("random"), &claims()));
    let next = TestKey::ed25519("ed-2");
    provider.set(jwks(&[&issuer_keys().ed, &next]));
    let token = sign(&next, &claims());
    // The guard's clock stands still: no refresh is due, whatever the real time.
    assert_eq!(invalid_reason(&guard, &token), "unknown key id");
    assert_eq!(provider.fetches(), 2);
    clock.advance(EVERY);
    assert!(
        eventually(|| guard.validate(&token).is_ok()),
        "the background refresh never saw the new key"
    );
}

#[test]
fn background_refresher_stops_when_the_guard_is_dropped() {
    let (provider, clock, builder) = refreshing();
    let guard = builder.build();
    let runs = eventually(|| {
        clock.advance(EVERY);
        provider.fetches() >= 3
    });
    assert!(runs, "the refresher runs");
    drop(guard);
    // The guard's state, which holds the provider, is freed once the refresher has
    // let go of it: from then on nothing can fetch through it.
    assert!(
        eventually(|| Arc::strong_count(&provider) == 1),
        "the refresher keeps the guard alive"
    );
    let after_drop = provider.fetches();
    clock.advance(EVERY * 10);
    assert_eq!(provider.fetches(), after_drop, "the refresher has stopped");
}

#[test]
fn jwks_entries_without_alg_or_not_for_signing_are_ignored() {
    let ed = &issuer_keys().ed;
    let mut no_alg = ed.with_kid("no-alg").jwk;
    no_alg.as_object_mut().unwrap().remove("alg");
    let mut for_enc = ed.with_kid("enc").jwk;
    for_enc["use"] = json!("enc");
    let no_kid = {
        let mut j = ed.jwk.clone();
        j.as_object_mut().unwrap().remove("kid");
        j
    };
    let doc = json!({"keys": [no_alg, for_enc, no_kid, ed.jwk]}).to_string();
    let guard = Guard::builder(ISSUER, AUDIENCE)
        .jwks_provider(Arc::new(StaticJwks(doc)))
        .refresh_interval(None)
        .clock(test_clock().clock())
        .status_list_provider(ListServer::new(ISSUER))
        .build();
    for kid in ["no-alg", "enc"] {
        let token = sign(&ed.with_kid(kid), &claims());
        assert_eq!(invalid_reason(&guard, &token), "unknown key id", "{kid}");
    }
    assert!(guard.validate(&good_token()).is_ok());
}

#[test]
fn failing_key_provider_keeps_the_cached_keys() {
    let (guard, provider) = issuer_guard();
    provider.set_failing(true);
    guard.refresh();
    assert!(guard.validate(&good_token()).is_ok());
    assert_eq!(
        invalid_reason(&guard, &sign(&TestKey::ed25519("new"), &claims())),
        "unknown key id"
    );
}

// ---------------------------------------------------------------------------------
// The issuer over HTTP: RFC 8414 discovery, and JWKS endpoints that are down, slow or
// return garbage. Waits are bounded by a short fetch timeout, and measured on the real
// clock (the network is real); the guards' own clock is a test clock.

const FETCH_TIMEOUT: Duration = Duration::from_millis(300);
/// What any single call may take while the issuer misbehaves.
const BOUND: Duration = Duration::from_secs(3);

/// A token from the fake issuer at `base`, signed with the Ed25519 issuer key.
fn token_from(base: &str) -> String {
    sign(&issuer_keys().ed, &claims_for(base))
}

fn http_guard(base: &str) -> Guard {
    Guard::builder(base, AUDIENCE)
        .fetch_timeout(FETCH_TIMEOUT)
        .status_fetch_timeout(FETCH_TIMEOUT)
        .refresh_interval(None)
        .clock(test_clock().clock())
        .build()
}

/// Runs `f`, asserting it returns within `BOUND`.
fn bounded<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let took = timed(f);
    assert!(took.1 < BOUND, "{what} took {:?}", took.1);
    took.0
}

/// Runs `f`, and says how long it took in real time.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let real = Clock::system();
    let started = real.instant();
    let out = f();
    (out, real.instant() - started)
}

#[test]
fn guard_discovers_the_jwks_uri_from_rfc8414_metadata() {
    let issuer = FakeIssuer::start(issuer_jwks(), Mode::Serve);
    let guard = http_guard(&issuer.base);
    assert_eq!(issuer.jwks_requests(), 1);
    let claims = guard.validate(&token_from(&issuer.base)).unwrap();
    assert_eq!(claims.client_id, CLIENT_ID);
    // Issuer URLs are compared without a trailing slash.
    let slash = http_guard(&format!("{}/", issuer.base));
    assert!(slash.validate(&token_from(&issuer.base)).is_ok());
}

#[test]
fn metadata_naming_another_issuer_is_not_trusted() {
    let issuer = FakeIssuer::start(issuer_jwks(), Mode::ForeignMetadata);
    let guard = http_guard(&issuer.base);
    assert_eq!(
        invalid_reason(&guard, &token_from(&issuer.base)),
        "unknown key id"
    );
    assert_eq!(issuer.jwks_requests(), 0, "its jwks_uri was never fetched");
}

#[test]
fn jwks_endpoint_down_from_the_start_rejects_fast() {
    let base = closed_port_url();
    let guard = bounded("build", || http_guard(&base));
    let reason = bounded("validate", || invalid_reason(&guard, &token_from(&base)));
    assert_eq!(reason, "unknown key id");
}

#[test]
fn jwks_endpoint_slow_from_the_start_waits_are_bounded() {
    let issuer = FakeIssuer::start(issuer_jwks(), Mode::Hang);
    let guard = bounded("build", || http_guard(&issuer.base));
    let token = token_from(&issuer.base);
    let reason = bounded("validate", || invalid_reason(&guard, &token));
    assert_eq!(reason, "unknown key id");
    // The refetch gate is now closed: the next one does not wait at all.
    let (reason, took) = timed(|| invalid_reason(&guard, &token));
    assert_eq!(reason, "unknown key id");
    assert!(took < FETCH_TIMEOUT);
}

#[test]
fn jwks_endpoint_returning_garbage_from_the_start_is_survived() {
    for mode in GARBAGE {
        let issuer = FakeIssuer::start(issuer_jwks(), mode);
        let guard = bounded("build", || http_guard(&issuer.base));
        let reason = bounded("validate", || {
            invalid_reason(&guard, &token_from(&issuer.base))
        });
        assert_eq!(reason, "unknown key id", "{mode:?}");
    }
}

/// Builds a guard that has cached the keys of a healthy fake issuer.
fn cached_guard() -> (FakeIssuer, Guard, String) {
    let issuer = FakeIssuer::start(issuer_jwks(), Mode::Serve);
    let guard = http_guard(&issuer.base);
    let token = token_from(&issuer.base);
    assert!(guard.validate(&token).is_ok());
    (issuer, guard, token)
}

/// A token from the fake issuer under a kid it never published.
fn unknown_kid_token(base: &str) -> String {
    sign(
        &issuer_keys().ed.with_kid(&random_hex(8)),
        &claims_for(base),
    )
}

#[test]
fn cached_keys_keep_working_when_the_jwks_endpoint_goes_down() {
    let (issuer, guard, token) = cached_guard();
    issuer.set_mode(Mode::Down);
    bounded("refresh", || guard.refresh());
    assert!(bounded("known kid", || guard.validate(&token)).is_ok());
    let unknown = unknown_kid_token(&issuer.base);
    let reason = bounded("unknown kid", || invalid_reason(&guard, &unknown));
    assert_eq!(reason, "unknown key id");
}

#[test]
fn cached_keys_keep_working_when_the_jwks_endpoint_goes_slow() {
    let (issuer, guard, token) = cached_guard();
    issuer.set_mode(Mode::Hang);
    bounded("refresh", || guard.refresh());
    // Known kids never wait on the network.
    let (outcome, took) = timed(|| guard.validate(&token));
    assert!(outcome.is_ok());
    assert!(took < FETCH_TIMEOUT);
    let unknown = unknown_kid_token(&issuer.base);
    let reason = bounded("unknown kid", || invalid_reason(&guard, &unknown));
    assert_eq!(reason, "unknown key id");
    let another = unknown_kid_token(&issuer.base);
    let (reason, took) = timed(|| invalid_reason(&guard, &another));
    assert_eq!(reason, "unknown key id");
    assert!(took < FETCH_TIMEOUT, "rate-limited, no wait");
}

#[test]
fn cached_keys_keep_working_when_the_jwks_endpoint_returns_garbage() {
    let (issuer, guard, token) = cached_guard();
    for mode in GARBAGE {
        issuer.set_mode(mode);
        let before = issuer.jwks_requests();
        bounded("refresh", || guard.refresh());
        assert!(issuer.jwks_requests() > before, "{mode:?} was fetched");
        assert!(guard.validate(&token).is_ok(), "{mode:?}");
    }
    // Back to health, new keys are found again.
    issuer.set_mode(Mode::Serve);
    let next = TestKey::ed25519("ed-2");
    issuer.set_jwks(jwks(&[&issuer_keys().ed, &next]));
    guard.refresh();
    let token = sign(&next, &claims_for(&issuer.base));
    assert!(guard.validate(&token).is_ok());
}
