//! The claims: positive controls, then `iss`, `aud`, `exp`/`nbf`/`iat` against the
//! guard's clock (a test clock standing at `T0`, moved by the tests), `sub`, types, and
//! scope checks.

use std::time::Duration;

use resource_guard::GuardError;
use serde_json::json;

use crate::invalid_reason;
use crate::support::*;

#[test]
fn operator_token_without_owner_is_accepted() {
    let (guard, _) = issuer_guard();
    let token = sign(
        &issuer_keys().ed,
        &claims_with(json!({"acct": null, "env": null})),
    );
    let claims = guard.validate(&token).unwrap();
    assert_eq!((claims.account_id, claims.environment_id), (None, None));
}

#[test]
fn several_audiences_including_ours_are_accepted() {
    let (guard, _) = issuer_guard();
    let token = sign(
        &issuer_keys().ed,
        &claims_with(json!({"aud": [ISSUER, AUDIENCE]})),
    );
    let claims = guard.validate(&token).unwrap();
    assert_eq!(
        claims.audiences,
        vec![ISSUER.to_owned(), AUDIENCE.to_owned()]
    );
}

#[test]
fn expiry_within_the_named_leeway_is_accepted() {
    let (guard, _) = issuer_guard();
    let token = sign(
        &issuer_keys().ed,
        &claims_with(json!({"iat": now() - 3600, "exp": now() - 10})),
    );
    assert!(guard.validate(&token).is_ok());
}

#[test]
fn scope_checks_all_of_and_any_of() {
    let (guard, _) = issuer_guard();
    let token = sign(
        &issuer_keys().ed,
        &claims_with(json!({"scope": "feedback:read"})),
    );
    let claims = guard.validate(&token).unwrap();
    assert_eq!(claims.require("feedback:read"), Ok(()));
    assert_eq!(
        claims.require("feedback:write"),
        Err(GuardError::InsufficientScope {
            required: "feedback:write".into()
        })
    );
    assert_eq!(
        claims.require_all(&["feedback:read", "feedback:write"]),
        Err(GuardError::InsufficientScope {
            required: "feedback:read feedback:write".into()
        })
    );
    assert_eq!(
        claims.require_any(&["feedback:write", "feedback:read"]),
        Ok(())
    );
    assert!(claims
        .require_any(&["keygate:admin", "feedback:write"])
        .is_err());
    // A scope is matched whole, never by prefix.
    assert!(claims.require("feedback").is_err());
}

#[test]
fn expired_token_is_rejected() {
    let (guard, _) = issuer_guard();
    let token = sign(
        &issuer_keys().ed,
        &claims_with(json!({"iat": now() - 7200, "exp": now() - 120})),
    );
    assert_eq!(invalid_reason(&guard, &token), "expired");
}

#[test]
fn not_yet_valid_token_is_rejected() {
    let (guard, _) = issuer_guard();
    let token = sign(&issuer_keys().ed, &claims_with(json!({"nbf": now() + 600})));
    assert_eq!(invalid_reason(&guard, &token), "not yet valid");
}

#[test]
fn token_issued_in_the_future_is_rejected() {
    let (guard, _) = issuer_guard();
    let token = sign(
        &issuer_keys().ed,
        &claims_with(json!({"iat": now() + 600, "exp": now() + 4200})),
    );
    assert_eq!(invalid_reason(&guard, &token), "issued in the future");
}

// ---------------------------------------------------------------------------------
// Time: the guard judges `exp`, `nbf` and `iat` by its clock, or at the time given to
// `validate_at`. The test clock stands at `T0`; the tokens' times are relative to it.

/// 1 s past the leeway is the first refused second: `exp` + 30 s.
const LEEWAY: Duration = Duration::from_secs(30);

#[test]
fn token_expires_when_the_guards_clock_passes_exp_and_the_leeway() {
    let provider = CountingJwks::new(issuer_jwks());
    let clock = test_clock();
    let guard = guard_builder(&provider).clock(clock.clock()).build();
    let token = sign(&issuer_keys().ed, &claims()); // exp = T0 + 1 h
    assert!(guard.validate(&token).is_ok());
    clock.advance(Duration::from_secs(3600) + LEEWAY - Duration::from_secs(1));
    assert!(guard.validate(&token).is_ok(), "within the leeway");
    clock.advance(Duration::from_secs(1));
    assert_eq!(invalid_reason(&guard, &token), "expired");
}

#[test]
fn token_becomes_valid_when_the_guards_clock_reaches_nbf_and_iat() {
    let provider = CountingJwks::new(issuer_jwks());
    let clock = test_clock();
    let guard = guard_builder(&provider).clock(clock.clock()).build();
    let later = |claim: &str| {
        let t = claims_with(json!({ claim: now() + 600, "exp": now() + 4200 }));
        sign(&issuer_keys().ed, &t)
    };
    let (nbf, iat) = (later("nbf"), later("iat"));
    // Valid from 600 s - leeway after T0.
    clock.advance(Duration::from_secs(600) - LEEWAY - Duration::from_secs(1));
    assert_eq!(invalid_reason(&guard, &nbf), "not yet valid");
    assert_eq!(invalid_reason(&guard, &iat), "issued in the future");
    clock.advance(Duration::from_secs(1));
    assert!(guard.validate(&nbf).is_ok());
    assert!(guard.validate(&iat).is_ok());
}

#[test]
fn validate_at_judges_the_token_at_the_given_time_not_the_clocks() {
    let (guard, _) = issuer_guard();
    let token = sign(&issuer_keys().ed, &claims()); // iat = T0, exp = T0 + 1 h
    let at = |secs: i64| guard.validate_at(&token, T0 + time::Duration::seconds(secs));
    assert!(at(0).is_ok());
    assert!(at(3600 + 29).is_ok());
    assert_eq!(at(3600 + 30), Err(GuardError::InvalidToken("expired")));
    assert_eq!(
        at(-31),
        Err(GuardError::InvalidToken("issued in the future"))
    );
    assert!(at(-30).is_ok());
    // `validate` is `validate_at` the guard's clock, which still reads T0.
    assert_eq!(guard.clock().now(), T0);
    assert_eq!(guard.validate(&token), at(0));
}

#[test]
fn wrong_issuer_is_rejected() {
    let (guard, _) = issuer_guard();
    for iss in [
        "https://evil.example",
        "http://keygate.test",
        "https://keygate.test/",
        "https://keygate.test.evil.example",
        "",
    ] {
        let token = sign(&issuer_keys().ed, &claims_with(json!({"iss": iss})));
        assert_eq!(invalid_reason(&guard, &token), "wrong issuer", "{iss}");
    }
}

/// A token minted for the admin API (whose audience is the issuer URL) cannot be
/// replayed against the Feedback API, nor can one for any other audience.
#[test]
fn wrong_audience_is_rejected() {
    let (guard, _) = issuer_guard();
    for aud in [
        json!(ISSUER),
        json!("billing-api"),
        json!(["billing-api", ISSUER]),
        json!("feedback-api2"),
        json!("Feedback-API"),
    ] {
        let token = sign(&issuer_keys().ed, &claims_with(json!({"aud": aud})));
        assert_eq!(invalid_reason(&guard, &token), "wrong audience", "{aud}");
    }
}

#[test]
fn missing_exp_is_rejected() {
    let (guard, _) = issuer_guard();
    let token = sign(&issuer_keys().ed, &claims_with(json!({"exp": null})));
    assert!(matches!(
        guard.validate(&token),
        Err(GuardError::InvalidToken(_))
    ));
}

#[test]
fn missing_iss_aud_iat_sub_or_client_id_is_rejected() {
    let (guard, _) = issuer_guard();
    for claim in ["iss", "aud", "iat", "sub", "client_id"] {
        let token = sign(&issuer_keys().ed, &claims_with(json!({ claim: null })));
        assert!(
            matches!(guard.validate(&token), Err(GuardError::InvalidToken(_))),
            "{claim}"
        );
    }
}

#[test]
fn client_id_differing_from_sub_is_rejected() {
    let (guard, _) = issuer_guard();
    let token = sign(
        &issuer_keys().ed,
        &claims_with(json!({"sub": "kg_someone_else"})),
    );
    assert_eq!(invalid_reason(&guard, &token), "client_id differs from sub");
}

#[test]
fn mistyped_claims_are_rejected() {
    let (guard, _) = issuer_guard();
    for change in [
        json!({"exp": "tomorrow"}),
        json!({"exp": [1]}),
        json!({"scope": ["feedback:read"]}),
        json!({"client_id": 7, "sub": 7}),
        json!({"aud": {"feedback-api": true}}),
    ] {
        let token = sign(&issuer_keys().ed, &claims_with(change.clone()));
        assert!(
            matches!(guard.validate(&token), Err(GuardError::InvalidToken(_))),
            "{change}"
        );
    }
}
