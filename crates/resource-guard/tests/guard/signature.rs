//! Signatures: the positive controls per algorithm, then forged keys and tampering.

use resource_guard::GuardError;
use serde_json::json;

use crate::support::*;
use crate::{good_token, invalid_reason};

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
