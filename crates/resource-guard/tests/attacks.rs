//! The attack set against the guard (issue 5), and its RFC 6750 behaviour in actix-web.
//!
//! Every attack starts from a token the guard accepts (see the positive controls) and
//! changes one thing; each test asserts the precise rejection. Keys are made here with
//! aws-lc-rs and published as JWKs through `StaticJwks`-like providers or a fake issuer
//! on 127.0.0.1. No other network is used, and every loop is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

#[path = "../examples/feedback_api.rs"]
mod feedback_api;

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use resource_guard::{Guard, GuardError, JwksProvider, StaticJwks};
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

// ---------------------------------------------------------------------------------
// Positive controls: without these the attack set could pass by rejecting everything.

#[test]
fn valid_eddsa_token_is_accepted_with_keygate_claims() {
    let (guard, _) = issuer_guard();
    let c = claims();
    let claims = guard.validate(&sign(&issuer_keys().ed, &c)).unwrap();
    assert_eq!(claims.client_id, CLIENT_ID);
    assert_eq!(claims.account_id.as_deref(), Some("acc_1"));
    assert_eq!(claims.environment_id.as_deref(), Some("env_1"));
    assert!(claims.has_scope("feedback:read") && claims.has_scope("feedback:write"));
    assert_eq!(claims.scopes.len(), 2);
    assert_eq!(claims.audiences, vec![AUDIENCE.to_owned()]);
    assert_eq!(claims.expires_at, c["exp"].as_i64().unwrap());
    assert_eq!(claims.issued_at, c["iat"].as_i64().unwrap());
    assert_eq!(claims.token_id, c["jti"].as_str().unwrap());
}

#[test]
fn valid_es256_and_rs256_tokens_are_accepted() {
    let (guard, _) = issuer_guard();
    let keys = issuer_keys();
    for key in [&keys.ec, &keys.rsa] {
        let claims = guard.validate(&sign(key, &claims())).unwrap();
        assert_eq!(claims.client_id, CLIENT_ID, "{key:?}");
    }
}

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
fn typ_application_at_jwt_is_accepted() {
    let (guard, _) = issuer_guard();
    let key = &issuer_keys().ed;
    let mut header = header_of(key);
    header["typ"] = json!("application/at+jwt");
    let token = sign_raw(&header, &claims(), &key.encoding, key.alg);
    assert!(guard.validate(&token).is_ok());
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
    assert_eq!(issuer_guard().0.realm(), "keygate");
}

// ---------------------------------------------------------------------------------
// Header attacks.

#[test]
fn alg_none_is_rejected() {
    let (guard, _) = issuer_guard();
    let payload = b64(claims().to_string());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(json!({"alg": alg, "typ": "at+jwt", "kid": "ed-1"}).to_string());
        for sig in ["", "AAAA"] {
            let token = format!("{header}.{payload}.{sig}");
            assert_eq!(
                invalid_reason(&guard, &token),
                "malformed header",
                "{alg} {sig:?}"
            );
        }
    }
    // Without the trailing dot, it is not even a JWS.
    let header = b64(json!({"alg": "none", "typ": "at+jwt", "kid": "ed-1"}).to_string());
    assert_eq!(
        invalid_reason(&guard, &format!("{header}.{payload}")),
        "not a compact JWS"
    );
}

/// The classic key confusion: the verifier is told "HS256" and uses the public key it
/// holds as the HMAC secret. Tried with every form an attacker can get the key in.
#[test]
fn hs256_signed_with_the_public_key_bytes_is_rejected() {
    let (guard, _) = issuer_guard();
    let keys = issuer_keys();
    for key in [&keys.ed, &keys.ec, &keys.rsa] {
        let secrets: Vec<Vec<u8>> = vec![
            key.public.clone(),
            key.spki_der.clone(),
            key.public_pem().into_bytes(),
            key.jwk.to_string().into_bytes(),
            jwks(&[key]).into_bytes(),
        ];
        for secret in &secrets {
            let enc = jsonwebtoken::EncodingKey::from_secret(secret);
            for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                let header = json!({"alg": format!("{alg:?}"), "typ": "at+jwt", "kid": key.kid});
                let token = sign_raw(&header, &claims(), &enc, alg);
                assert_eq!(
                    invalid_reason(&guard, &token),
                    "algorithm does not match the key",
                    "{key:?} {alg:?}"
                );
            }
        }
    }
}

#[test]
fn hmac_key_published_in_the_jwks_is_never_trusted() {
    let secret = b"a shared secret that must never verify access tokens";
    let doc = json!({"keys": [
        issuer_keys().ed.jwk,
        {"kty": "oct", "k": b64(secret), "kid": "hmac-1", "alg": "HS256", "use": "sig"},
    ]})
    .to_string();
    let provider = CountingJwks::new(doc);
    let guard = guard_builder(&provider).build();
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": "hmac-1"});
    let enc = jsonwebtoken::EncodingKey::from_secret(secret);
    let token = sign_raw(&header, &claims(), &enc, Algorithm::HS256);
    assert_eq!(invalid_reason(&guard, &token), "unknown key id");
    assert!(guard.validate(&good_token()).is_ok());
}

#[test]
fn alg_differing_from_the_keys_declared_alg_is_rejected() {
    let (guard, _) = issuer_guard();
    let keys = issuer_keys();
    // An ES256 signature presented under the Ed25519 key's kid.
    let header = json!({"alg": "ES256", "typ": "at+jwt", "kid": keys.ed.kid});
    let token = sign_raw(&header, &claims(), &keys.ec.encoding, Algorithm::ES256);
    assert_eq!(
        invalid_reason(&guard, &token),
        "algorithm does not match the key"
    );
    // Same RSA key, another padding: the key is declared RS256, so PS256 is refused
    // even though the signature is genuine.
    for alg in [
        Algorithm::PS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS512,
    ] {
        let header = json!({"alg": format!("{alg:?}"), "typ": "at+jwt", "kid": keys.rsa.kid});
        let token = sign_raw(&header, &claims(), &keys.rsa.encoding, alg);
        assert_eq!(
            invalid_reason(&guard, &token),
            "algorithm does not match the key",
            "{alg:?}"
        );
    }
}

#[test]
fn missing_kid_is_rejected() {
    let (guard, _) = issuer_guard();
    let key = &issuer_keys().ed;
    let header = json!({"alg": "EdDSA", "typ": "at+jwt"});
    let token = sign_raw(&header, &claims(), &key.encoding, key.alg);
    assert_eq!(invalid_reason(&guard, &token), "no kid");
}

#[test]
fn typ_jwt_is_rejected() {
    let (guard, _) = issuer_guard();
    let key = &issuer_keys().ed;
    for typ in ["JWT", "jwt", "JOSE", "at+jwt2", "id+jwt", ""] {
        let mut header = header_of(key);
        header["typ"] = json!(typ);
        let token = sign_raw(&header, &claims(), &key.encoding, key.alg);
        assert_eq!(invalid_reason(&guard, &token), "typ is not at+jwt", "{typ}");
    }
}

#[test]
fn missing_typ_is_rejected() {
    let (guard, _) = issuer_guard();
    let key = &issuer_keys().ed;
    let header = json!({"alg": "EdDSA", "kid": key.kid});
    let token = sign_raw(&header, &claims(), &key.encoding, key.alg);
    assert_eq!(invalid_reason(&guard, &token), "typ is not at+jwt");
}

/// RFC 7515 §4.1.11: a token naming critical extensions the verifier does not
/// understand must be rejected. The guard understands none.
#[test]
fn critical_header_extensions_are_rejected() {
    let (guard, _) = issuer_guard();
    let key = &issuer_keys().ed;
    let mut header = header_of(key);
    header["crit"] = json!(["exp-unknown"]);
    header["exp-unknown"] = json!("1");
    let token = sign_raw(&header, &claims(), &key.encoding, key.alg);
    assert_eq!(invalid_reason(&guard, &token), "critical header extensions");
    // The same token without `crit` is fine (the control).
    let token = sign_raw(&header_of(key), &claims(), &key.encoding, key.alg);
    assert!(guard.validate(&token).is_ok());
}

/// Keys named by the token itself (`jwk`, `jku`, `x5u`) are never used.
#[test]
fn keys_embedded_or_linked_in_the_header_are_ignored() {
    let (guard, provider) = issuer_guard();
    let attacker = TestKey::ed25519("attacker-1");
    for kid in ["attacker-1", "ed-1"] {
        let header = json!({
            "alg": "EdDSA", "typ": "at+jwt", "kid": kid,
            "jwk": attacker.jwk,
            "jku": "http://127.0.0.1:9/jwks.json",
            "x5u": "http://127.0.0.1:9/cert.pem",
        });
        let token = sign_raw(&header, &claims(), &attacker.encoding, attacker.alg);
        let expected = if kid == "ed-1" {
            "bad signature"
        } else {
            "unknown key id"
        };
        assert_eq!(invalid_reason(&guard, &token), expected, "{kid}");
    }
    // Only the issuer was asked for keys: at build, then once for the unknown kid.
    assert_eq!(provider.fetches(), 2);
}

// ---------------------------------------------------------------------------------
// Signature attacks.

#[test]
fn token_signed_by_another_key_with_the_real_kid_is_rejected() {
    let (guard, _) = issuer_guard();
    let keys = issuer_keys();
    let forgers = [
        TestKey::ed25519("x").with_kid(&keys.ed.kid),
        TestKey::p256("x").with_kid(&keys.ec.kid),
    ];
    for forger in &forgers {
        assert_eq!(
            invalid_reason(&guard, &sign(forger, &claims())),
            "bad signature",
            "{forger:?}"
        );
    }
}

#[test]
fn payload_tampered_with_the_original_signature_is_rejected() {
    let (guard, _) = issuer_guard();
    let keys = issuer_keys();
    for key in [&keys.ed, &keys.ec, &keys.rsa] {
        let token = sign(key, &claims_with(json!({"scope": "feedback:read"})));
        assert!(guard.validate(&token).is_ok());
        let parts: Vec<&str> = token.split('.').collect();
        let escalated = claims_with(json!({"scope": "feedback:read feedback:write keygate:admin"}));
        let forged = format!("{}.{}.{}", parts[0], b64(escalated.to_string()), parts[2]);
        assert_eq!(invalid_reason(&guard, &forged), "bad signature", "{key:?}");
        // Flipping one bit of the signature is no better.
        let mut sig = parts[2].as_bytes().to_vec();
        sig[3] = if sig[3] == b'A' { b'B' } else { b'A' };
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            String::from_utf8(sig).unwrap()
        );
        assert_eq!(invalid_reason(&guard, &forged), "bad signature", "{key:?}");
    }
}

#[test]
fn header_tampered_with_the_original_signature_is_rejected() {
    let (guard, _) = issuer_guard();
    let token = good_token();
    let parts: Vec<&str> = token.split('.').collect();
    let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "ed-1", "cty": "x"});
    let forged = format!("{}.{}.{}", b64(header.to_string()), parts[1], parts[2]);
    assert_eq!(invalid_reason(&guard, &forged), "bad signature");
}

#[test]
fn stripped_signature_is_rejected() {
    let (guard, _) = issuer_guard();
    let token = good_token();
    let (input, _) = token.rsplit_once('.').unwrap();
    assert!(matches!(
        guard.validate(&format!("{input}.")),
        Err(GuardError::InvalidToken(_))
    ));
    assert_eq!(invalid_reason(&guard, input), "not a compact JWS");
}

// ---------------------------------------------------------------------------------
// Claim attacks.

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

// ---------------------------------------------------------------------------------
// Shape attacks.

#[test]
fn oversized_token_is_rejected_before_parsing() {
    let (guard, provider) = issuer_guard();
    // Correctly signed: size is the only thing wrong with it.
    let big = claims_with(json!({"scope": format!("feedback:read {}", "x".repeat(9000))}));
    let token = sign(&issuer_keys().ed, &big);
    assert!(token.len() > 8 * 1024);
    assert_eq!(invalid_reason(&guard, &token), "token too large");
    // A huge token with an unknown kid does not reach the key fetcher either.
    let header = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "nope"});
    let token = sign_raw(&header, &big, &issuer_keys().ed.encoding, Algorithm::EdDSA);
    assert_eq!(invalid_reason(&guard, &token), "token too large");
    assert_eq!(provider.fetches(), 1);
    // The limit is configurable, both ways.
    let small = guard_builder(&provider).max_token_bytes(100).build();
    assert_eq!(invalid_reason(&small, &good_token()), "token too large");
    let large = guard_builder(&provider).max_token_bytes(64 * 1024).build();
    assert!(large
        .validate(&sign(&issuer_keys().ed, &big))
        .unwrap()
        .has_scope("feedback:read"));
}

#[test]
fn trailing_garbage_is_rejected() {
    let (guard, _) = issuer_guard();
    let token = good_token();
    assert!(guard.validate(&token).is_ok());
    for suffix in [".", ".e30", " ", "\n", "=", "==", "AAAA", "A", "\0", "é"] {
        let bad = format!("{token}{suffix}");
        assert!(
            matches!(guard.validate(&bad), Err(GuardError::InvalidToken(_))),
            "suffix {suffix:?}"
        );
    }
    for prefix in [" ", ".", "Bearer ", "A"] {
        let bad = format!("{prefix}{token}");
        assert!(
            matches!(guard.validate(&bad), Err(GuardError::InvalidToken(_))),
            "prefix {prefix:?}"
        );
    }
}

#[test]
fn things_that_are_not_a_compact_jws_are_rejected() {
    let (guard, provider) = issuer_guard();
    for junk in [
        "",
        ".",
        "..",
        "a.b",
        "a.b.c.d.e",
        "not a token",
        "eyJ.eyJ.",
        "%7B.%7D.x",
        "e30.e30.e30",
    ] {
        assert!(
            matches!(guard.validate(junk), Err(GuardError::InvalidToken(_))),
            "{junk:?}"
        );
    }
    assert_eq!(provider.fetches(), 1, "junk never triggers a key fetch");
}

// ---------------------------------------------------------------------------------
// Key cache: unknown kids, rotation, background refresh.

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
    let started = Instant::now();
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
    assert!(started.elapsed() < Duration::from_secs(5));
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
    const INTERVAL: Duration = Duration::from_millis(400);
    let provider = CountingJwks::new(issuer_jwks());
    let guard = guard_builder(&provider)
        .min_refetch_interval(INTERVAL)
        .build();
    let random = sign(&TestKey::ed25519("random-1"), &claims());
    let next = TestKey::ed25519("ed-2");
    let token = sign(&next, &claims());
    let gate_closed = Instant::now();
    assert_eq!(invalid_reason(&guard, &random), "unknown key id");
    assert_eq!(provider.fetches(), 2);
    // Within the interval even a legitimate new key waits.
    provider.set(jwks(&[&issuer_keys().ed, &next]));
    assert_eq!(invalid_reason(&guard, &token), "unknown key id");
    assert!(gate_closed.elapsed() < INTERVAL, "too slow to tell");
    assert_eq!(provider.fetches(), 2);
    std::thread::sleep(INTERVAL + Duration::from_millis(50));
    assert!(guard.validate(&token).is_ok());
    assert_eq!(provider.fetches(), 3);
}

#[test]
fn background_refresh_picks_up_new_keys() {
    let provider = CountingJwks::new(issuer_jwks());
    let jwks_provider: Arc<dyn JwksProvider> = provider.clone();
    let guard = Guard::builder(ISSUER, AUDIENCE)
        .jwks_provider(jwks_provider)
        .refresh_interval(Some(Duration::from_millis(30)))
        .min_refetch_interval(Duration::from_secs(3600))
        .build();
    // Use up the unknown-kid refetch, so only the refresher can find the new key.
    let _ = guard.validate(&sign(&TestKey::ed25519("random"), &claims()));
    let next = TestKey::ed25519("ed-2");
    provider.set(jwks(&[&issuer_keys().ed, &next]));
    let token = sign(&next, &claims());
    let mut accepted = false;
    for _ in 0..100 {
        if guard.validate(&token).is_ok() {
            accepted = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(accepted, "the background refresh never saw the new key");
}

#[test]
fn background_refresher_stops_when_the_guard_is_dropped() {
    let provider = CountingJwks::new(issuer_jwks());
    let jwks_provider: Arc<dyn JwksProvider> = provider.clone();
    let guard = Guard::builder(ISSUER, AUDIENCE)
        .jwks_provider(jwks_provider)
        .refresh_interval(Some(Duration::from_millis(20)))
        .build();
    for _ in 0..100 {
        if provider.fetches() >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(provider.fetches() >= 3, "the refresher runs");
    drop(guard);
    std::thread::sleep(Duration::from_millis(100));
    let after_drop = provider.fetches();
    std::thread::sleep(Duration::from_millis(120));
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
// return garbage. Waits are bounded by a short fetch timeout.

const FETCH_TIMEOUT: Duration = Duration::from_millis(300);
/// What any single call may take while the issuer misbehaves.
const BOUND: Duration = Duration::from_secs(3);

/// A token from the fake issuer at `base`, signed with the Ed25519 issuer key.
fn token_from(base: &str) -> String {
    sign(&issuer_keys().ed, &claims_with(json!({ "iss": base })))
}

fn http_guard(base: &str) -> Guard {
    Guard::builder(base, AUDIENCE)
        .fetch_timeout(FETCH_TIMEOUT)
        .refresh_interval(None)
        .build()
}

/// Runs `f`, asserting it returns within `BOUND`.
fn bounded<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    assert!(took < BOUND, "{what} took {took:?}");
    out
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
    let started = Instant::now();
    assert_eq!(invalid_reason(&guard, &token), "unknown key id");
    assert!(started.elapsed() < FETCH_TIMEOUT);
}

#[test]
fn jwks_endpoint_returning_garbage_from_the_start_is_survived() {
    for mode in [
        Mode::NotJson,
        Mode::NoKeysArray,
        Mode::JunkKeys,
        Mode::ServerError,
        Mode::Huge,
    ] {
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
        &claims_with(json!({ "iss": base })),
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
    let started = Instant::now();
    assert!(guard.validate(&token).is_ok());
    assert!(started.elapsed() < FETCH_TIMEOUT);
    let unknown = unknown_kid_token(&issuer.base);
    let reason = bounded("unknown kid", || invalid_reason(&guard, &unknown));
    assert_eq!(reason, "unknown key id");
    let started = Instant::now();
    assert_eq!(
        invalid_reason(&guard, &unknown_kid_token(&issuer.base)),
        "unknown key id"
    );
    assert!(started.elapsed() < FETCH_TIMEOUT, "rate-limited, no wait");
}

#[test]
fn cached_keys_keep_working_when_the_jwks_endpoint_returns_garbage() {
    let (issuer, guard, token) = cached_guard();
    for mode in [
        Mode::NotJson,
        Mode::NoKeysArray,
        Mode::JunkKeys,
        Mode::ServerError,
        Mode::Huge,
    ] {
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
    let token = sign(&next, &claims_with(json!({ "iss": issuer.base })));
    assert!(guard.validate(&token).is_ok());
}

// ---------------------------------------------------------------------------------
// RFC 6750 §3 through the actix-web extractor, on the example Feedback API's routes.

mod actix {
    use actix_web::http::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
    use actix_web::http::StatusCode;
    use actix_web::{test, web, App, HttpResponse};
    use resource_guard::actix::Authenticated;
    use resource_guard::Guard;
    use serde_json::{json, Value};

    use super::feedback_api;
    use crate::support::*;

    /// The example's routes plus `/whoami` (any valid token), over `guard`.
    macro_rules! app {
        ($guard:expr) => {
            test::init_service(
                App::new()
                    .app_data(web::Data::new($guard))
                    .configure(feedback_api::routes)
                    .route(
                        "/whoami",
                        web::get().to(|auth: Authenticated| async move {
                            HttpResponse::Ok().body(auth.claims.client_id)
                        }),
                    ),
            )
            .await
        };
    }

    fn bearer(token: &str) -> (actix_web::http::header::HeaderName, String) {
        (AUTHORIZATION, format!("Bearer {token}"))
    }

    fn challenge(resp: &actix_web::dev::ServiceResponse) -> String {
        resp.headers()
            .get(WWW_AUTHENTICATE)
            .expect("WWW-Authenticate")
            .to_str()
            .unwrap()
            .to_owned()
    }

    fn token(scope: &str) -> String {
        sign(&issuer_keys().ed, &claims_with(json!({ "scope": scope })))
    }

    #[actix_web::test]
    async fn actix_no_token_is_401_with_a_bare_bearer_challenge() {
        let app = app!(issuer_guard().0);
        for (method, uri) in [
            ("GET", "/feedback"),
            ("POST", "/feedback"),
            ("GET", "/whoami"),
        ] {
            let req = test::TestRequest::default()
                .method(method.parse().unwrap())
                .uri(uri)
                .to_request();
            let resp = test::call_service(&app, req).await;
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{method} {uri}");
            assert_eq!(challenge(&resp), r#"Bearer realm="keygate""#);
        }
    }

    #[actix_web::test]
    async fn actix_another_auth_scheme_counts_as_no_token() {
        let app = app!(issuer_guard().0);
        let req = test::TestRequest::get()
            .uri("/feedback")
            .insert_header((AUTHORIZATION, "Basic a2dfeDpzZWNyZXQ="))
            .to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(challenge(&resp), r#"Bearer realm="keygate""#);
    }

    #[actix_web::test]
    async fn actix_bad_token_is_401_invalid_token_without_the_reason() {
        let app = app!(issuer_guard().0);
        let keys = issuer_keys();
        let forged = sign(&TestKey::ed25519("x").with_kid("ed-1"), &claims());
        let expired = sign(
            &keys.ed,
            &claims_with(json!({"iat": now() - 7200, "exp": now() - 3600})),
        );
        let wrong_aud = sign(&keys.ed, &claims_with(json!({"aud": ISSUER})));
        for (what, t) in [
            ("forged", forged),
            ("expired", expired),
            ("wrong audience", wrong_aud),
            ("junk", "junk".to_owned()),
            ("empty", String::new()),
        ] {
            let req = test::TestRequest::get()
                .uri("/feedback")
                .insert_header(bearer(&t))
                .to_request();
            let resp = test::call_service(&app, req).await;
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{what}");
            assert_eq!(
                challenge(&resp),
                r#"Bearer realm="keygate", error="invalid_token""#,
                "{what}"
            );
            let body = test::read_body(resp).await;
            let text = String::from_utf8_lossy(&body).to_lowercase();
            for leak in ["signature", "expired", "audience", "kid", "algorithm"] {
                assert!(!text.contains(leak), "{what}: body says {leak}: {text}");
            }
            let body: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(
                body,
                json!({"error": "invalid_token", "message": "the access token is invalid"}),
                "{what}"
            );
        }
    }

    #[actix_web::test]
    async fn actix_missing_scope_is_403_insufficient_scope() {
        let app = app!(issuer_guard().0);
        let req = test::TestRequest::post()
            .uri("/feedback")
            .insert_header(bearer(&token("feedback:read")))
            .set_payload("great product")
            .to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            challenge(&resp),
            r#"Bearer realm="keygate", error="insufficient_scope", scope="feedback:write""#
        );
        let body: Value = test::read_body_json(resp).await;
        assert_eq!(body["error"], "insufficient_scope");

        let req = test::TestRequest::get()
            .uri("/feedback")
            .insert_header(bearer(&token("feedback:write")))
            .to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            challenge(&resp),
            r#"Bearer realm="keygate", error="insufficient_scope", scope="feedback:read""#
        );
    }

    #[actix_web::test]
    async fn actix_valid_tokens_reach_the_feedback_handlers() {
        let app = app!(issuer_guard().0);
        let req = test::TestRequest::get()
            .uri("/feedback")
            .insert_header(bearer(&token("feedback:read")))
            .to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = test::read_body_json(resp).await;
        assert_eq!(body["client_id"], CLIENT_ID);

        let req = test::TestRequest::post()
            .uri("/feedback")
            .insert_header(bearer(&token("feedback:write")))
            .set_payload("great product")
            .to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let body: Value = test::read_body_json(resp).await;
        assert_eq!(body["client_id"], CLIENT_ID);
    }

    #[actix_web::test]
    async fn actix_authenticated_extractor_needs_no_scope() {
        let app = app!(issuer_guard().0);
        let req = test::TestRequest::get()
            .uri("/whoami")
            .insert_header(bearer(&token("")))
            .to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(test::read_body(resp).await, CLIENT_ID.as_bytes());
    }

    /// A kid the guard has not seen is fetched (off the async workers) and accepted.
    #[actix_web::test]
    async fn actix_rotated_key_is_fetched_and_accepted() {
        let (guard, provider) = issuer_guard();
        let app = app!(guard);
        let next = TestKey::ed25519("ed-2");
        provider.set(jwks(&[&issuer_keys().ed, &next]));
        let t = sign(&next, &claims());
        let req = test::TestRequest::get()
            .uri("/feedback")
            .insert_header(bearer(&t))
            .to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(provider.fetches(), 2);
    }

    #[actix_web::test]
    async fn actix_two_authorization_headers_are_invalid_token() {
        let app = app!(issuer_guard().0);
        let good = token("feedback:read");
        let req = test::TestRequest::get()
            .uri("/feedback")
            .append_header(bearer(&good))
            .append_header((AUTHORIZATION, HeaderValue::from_static("Bearer other")))
            .to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            challenge(&resp),
            r#"Bearer realm="keygate", error="invalid_token""#
        );
    }

    #[actix_web::test]
    async fn actix_configured_realm_is_used() {
        let provider = CountingJwks::new(issuer_jwks());
        let guard: Guard = guard_builder(&provider).realm("feedback").build();
        let app = app!(guard);
        let req = test::TestRequest::get().uri("/feedback").to_request();
        let resp = test::call_service(&app, req).await;
        assert_eq!(challenge(&resp), r#"Bearer realm="feedback""#);
    }
}
