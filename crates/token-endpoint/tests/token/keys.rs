//! Signing key rotation, restarts, JWKS and metadata.

use crate::*;

keypair_store::on_both_backends_async! {
    key_rotation_and_restart;
    metadata_document;
}

async fn key_rotation_and_restart(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let (kp, secret) = account_keypair(&f.db.store, &["feedback:read"], f.clock.now());
    let auth = basic(kp.client_id.as_str(), secret.expose());
    let kid_of = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();

    let app = app!(f.service);
    let before = post(&app, Some(&auth), "grant_type=client_credentials")
        .await
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Rotate a second after the first key was made (keys are ordered by creation time).
    f.clock.advance(std::time::Duration::from_secs(1));
    let t0 = f.clock.now();
    let new_kid = f.service.keys().rotate(t0).unwrap();
    assert_ne!(kid_of(&before), new_kid);
    let after = post(&app, Some(&auth), "grant_type=client_credentials")
        .await
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(kid_of(&after), new_kid, "new tokens carry the new kid");
    verify(&app, &before, "feedback-api").await; // old token still verifies
    verify(&app, &after, "feedback-api").await;

    // "Restart": a new process loads the same keys from the database.
    let restarted = service(&f.db.store, &f.kek, SigningAlgorithm::EdDSA, &f.clock);
    let app2 = app!(restarted);
    verify(&app2, &before, "feedback-api").await;
    verify(&app2, &after, "feedback-api").await;
    let again = post(&app2, Some(&auth), "grant_type=client_credentials")
        .await
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(kid_of(&again), new_kid);

    // Once every token the old key signed has expired, it drops out of JWKS.
    let jwks = |s: &TokenService| -> Vec<String> {
        let set: JwkSet = serde_json::from_str(&s.jwks()).unwrap();
        set.keys
            .iter()
            .filter_map(|k| k.common.key_id.clone())
            .collect()
    };
    assert_eq!(jwks(&restarted), vec![new_kid.clone(), kid_of(&before)]);
    restarted
        .keys()
        .reload(
            t0 + Duration::seconds(86400) + token_endpoint::RETIREMENT_LEEWAY
                - Duration::seconds(5),
        )
        .unwrap();
    assert_eq!(jwks(&restarted).len(), 2, "kept while tokens may live");
    restarted
        .keys()
        .reload(
            t0 + Duration::seconds(86400)
                + token_endpoint::RETIREMENT_LEEWAY
                + Duration::seconds(5),
        )
        .unwrap();
    assert_eq!(jwks(&restarted), vec![new_kid]);

    // The wrong key-encryption key cannot open the stored keys.
    let wrong = Kek::from_base64(&STANDARD.encode([9u8; 32])).unwrap();
    let err = Keys::load_or_create(
        f.db.store.clone(),
        wrong,
        key_settings(SigningAlgorithm::EdDSA),
        t0,
    )
    .unwrap_err();
    assert!(err.to_string().contains("key-encryption key"), "{err}");
}

async fn metadata_document(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let m = get(&app, "/.well-known/oauth-authorization-server").await;
    assert_eq!(m.status, 200);
    let doc = m.json();
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["token_endpoint"], format!("{ISSUER}/token"));
    assert_eq!(doc["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!(["client_credentials"])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(doc["revocation_endpoint"], format!("{ISSUER}/revoke"));
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{ISSUER}/introspect")
    );
    for methods in [
        "revocation_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
    ] {
        assert_eq!(
            doc[methods],
            serde_json::json!(["client_secret_basic", "client_secret_post"]),
            "{methods}"
        );
    }
    assert_eq!(
        doc["status_list_aggregation_endpoint"],
        format!("{ISSUER}/statuslists")
    );
    let scopes = doc["scopes_supported"].as_array().unwrap();
    assert!(scopes.contains(&"feedback:read".into()) && scopes.contains(&"keygate:admin".into()));
    assert!(
        !scopes.contains(&"keygate:operator".into()),
        "the bootstrap-only scope is not advertised"
    );
    let jwks = get(&app, "/.well-known/jwks.json").await.json();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["use"], "sig");
    assert_eq!(keys[0]["alg"], "EdDSA");
    assert!(keys[0].get("d").is_none(), "no private key material");
}
