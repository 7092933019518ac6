//! Successful grants: both client authentication methods, every algorithm, RFC 6749 §2.3.1 encoding.

use crate::*;

keypair_store::on_both_backends_async! {
    basic_and_post_authentication_get_verifiable_tokens;
    every_algorithm_verifies_with_an_independent_library;
    rfc6749_form_encoded_basic_credentials;
}

async fn basic_and_post_authentication_get_verifiable_tokens(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let (kp, secret) = account_keypair(
        &f.db.store,
        &["feedback:read", "feedback:write"],
        f.clock.now(),
    );
    let id = kp.client_id.as_str();

    let r = post(
        &app,
        Some(&basic(id, secret.expose())),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "feedback:read feedback:write");
    assert_eq!(body.as_object().unwrap().len(), 4);
    let token = body["access_token"].as_str().unwrap();
    let (header, claims) = verify(&app, token, "feedback-api").await;
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["client_id"], id);
    assert_eq!(claims["aud"], "feedback-api");
    assert_eq!(claims["scope"], "feedback:read feedback:write");
    assert_eq!(claims["acct"], kp.owner.account_id().unwrap().as_str());
    assert!(claims.get("env").is_none());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert!(claims["jti"].as_str().unwrap().len() >= 22);

    let r = post(
        &app,
        None,
        &format!(
            "grant_type=client_credentials&client_id={id}&client_secret={}",
            secret.expose()
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let second = r.json()["access_token"].as_str().unwrap().to_owned();
    let (_, claims2) = verify(&app, &second, "feedback-api").await;
    assert_ne!(claims2["jti"], claims["jti"], "every token has its own jti");

    // last_used_at is recorded at the service clock's time, at most once a minute.
    let last_used = || {
        f.db.store
            .get_keypair(&kp.client_id)
            .unwrap()
            .last_used_at
            .map(|t| t.unix_timestamp())
    };
    let first_use = f.clock.now().unix_timestamp();
    assert_eq!(last_used(), Some(first_use));
    let auth = basic(id, secret.expose());
    let get_token = || post(&app, Some(&auth), "grant_type=client_credentials");
    f.clock.advance(std::time::Duration::from_secs(59));
    assert_eq!(get_token().await.status, 200);
    assert_eq!(
        last_used(),
        Some(first_use),
        "within the minute: not written"
    );
    f.clock.advance(std::time::Duration::from_secs(2));
    assert_eq!(get_token().await.status, 200);
    assert_eq!(
        last_used(),
        Some(f.clock.now().unix_timestamp()),
        "a minute later: written at the clock's time"
    );

    // A per-keypair lifetime overrides the default.
    let (kp2, s2) = {
        let acct =
            f.db.store
                .create_account(&actor(), "Short", f.clock.now())
                .unwrap();
        f.db.store
            .create_keypair(
                &actor(),
                NewKeypair {
                    owner: Owner::Account(acct.id),
                    scopes: catalogue()
                        .validate_for_keypair(&["feedback:read"])
                        .unwrap(),
                    comment: String::new(),
                    enabled: true,
                    token_lifetime_seconds: Some(600),
                    expires_at: None,
                    allowed_addresses: keypair_store::AddressList::any(),
                },
                f.clock.now(),
            )
            .unwrap()
    };
    let r = post(
        &app,
        Some(&basic(kp2.client_id.as_str(), s2.expose())),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(r.json()["expires_in"], 600);
}

async fn every_algorithm_verifies_with_an_independent_library(db: TestDb) {
    let clock = TestClock::starting_now();
    let (kp, secret) = account_keypair(&db.store, &["feedback:read"], clock.now());
    let kek = STANDARD.encode(ring_random());
    for (alg, expected) in [
        (SigningAlgorithm::EdDSA, jsonwebtoken::Algorithm::EdDSA),
        (SigningAlgorithm::ES256, jsonwebtoken::Algorithm::ES256),
        (SigningAlgorithm::RS256, jsonwebtoken::Algorithm::RS256),
    ] {
        // Changing the configured algorithm rotates to a key of that algorithm; with no
        // publish lead it signs at once (keys.rs tests the lead).
        let svc = service_with(
            &db.store,
            &kek,
            alg,
            &clock,
            &[("KEYGATE_KEY_PUBLISH_LEAD_SECONDS", "0")],
        );
        let app = app!(svc);
        let r = post(
            &app,
            Some(&basic(kp.client_id.as_str(), secret.expose())),
            "grant_type=client_credentials",
        )
        .await;
        assert_eq!(r.status, 200, "{alg:?}: {}", r.body);
        let (header, claims) = verify(
            &app,
            r.json()["access_token"].as_str().unwrap(),
            "feedback-api",
        )
        .await;
        assert_eq!(header.alg, expected);
        assert_eq!(claims["client_id"], kp.client_id.as_str());
        // A token tampered with after signing fails verification.
        let token = r.json()["access_token"].as_str().unwrap().to_owned();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut payload: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&parts[1])
                .unwrap(),
        )
        .unwrap();
        payload["scope"] = "feedback:write".into();
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
        let jwks: JwkSet =
            serde_json::from_str(&get(&app, "/.well-known/jwks.json").await.body).unwrap();
        let key =
            DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
        let mut v = Validation::new(expected);
        v.set_audience(&["feedback-api"]);
        assert!(
            jsonwebtoken::decode::<Value>(&parts.join("."), &key, &v).is_err(),
            "{alg:?} tamper detected"
        );
    }
}

async fn rfc6749_form_encoded_basic_credentials(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let (kp, secret) = account_keypair(&f.db.store, &["feedback:read"], f.clock.now());
    // Percent-encode every byte of id and secret: a conforming client may.
    let enc = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let r = post(
        &app,
        Some(&basic(&enc(kp.client_id.as_str()), &enc(secret.expose()))),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The scheme name is case-insensitive.
    let header = basic(kp.client_id.as_str(), secret.expose()).replacen("Basic", "bAsIc", 1);
    assert_eq!(
        post(&app, Some(&header), "grant_type=client_credentials")
            .await
            .status,
        200
    );
}
