//! The token's shape and its JOSE header: `alg` (never `none`, never HMAC, always the
//! key's own), `typ`, `kid`, `crit`, and keys the token names itself.

use jsonwebtoken::Algorithm;
use resource_guard::GuardError;
use serde_json::json;

use crate::support::*;
use crate::{good_token, header_of, invalid_reason};

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
