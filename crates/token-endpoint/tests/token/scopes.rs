//! Scopes, audiences, and changes to keypairs taking effect at once.

use crate::*;

keypair_store::on_both_backends_async! {
    scopes_and_audiences;
    optional_scopes_come_only_when_asked_for;
    disable_delete_and_close_take_effect_at_once;
}

async fn scopes_and_audiences(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let store = &f.db.store;
    let (kp, secret) = account_keypair(
        store,
        &[
            "feedback:read",
            "feedback:write",
            "billing:read",
            "keygate:admin",
        ],
        f.clock.now(),
    );
    let auth = basic(kp.client_id.as_str(), secret.expose());
    let grant = |extra: &str| format!("grant_type=client_credentials{extra}");

    let all = post(&app, Some(&auth), &grant("")).await.json();
    assert_eq!(
        all["scope"],
        "billing:read feedback:read feedback:write keygate:admin"
    );
    let (_, claims) = verify(&app, all["access_token"].as_str().unwrap(), "feedback-api").await;
    assert_eq!(
        claims["aud"],
        serde_json::json!(["billing-api", "feedback-api", ISSUER])
    );

    let one = post(&app, Some(&auth), &grant("&scope=feedback:write"))
        .await
        .json();
    assert_eq!(one["scope"], "feedback:write");
    let (_, claims) = verify(&app, one["access_token"].as_str().unwrap(), "feedback-api").await;
    assert_eq!(claims["aud"], "feedback-api");

    for (param, expected_scope) in [
        ("&resource=feedback-api", "feedback:read feedback:write"),
        ("&audience=billing-api", "billing:read"),
    ] {
        let r = post(&app, Some(&auth), &grant(param)).await;
        assert_eq!(r.status, 200, "{param}: {}", r.body);
        assert_eq!(r.json()["scope"], expected_scope);
    }
    // A Feedback API token cannot be replayed against the admin API (its audience).
    let fb = post(&app, Some(&auth), &grant("&resource=feedback-api"))
        .await
        .json();
    let jwks: JwkSet =
        serde_json::from_str(&get(&app, "/.well-known/jwks.json").await.body).unwrap();
    let token = fb["access_token"].as_str().unwrap();
    let key = DecodingKey::from_jwk(
        jwks.find(&jsonwebtoken::decode_header(token).unwrap().kid.unwrap())
            .unwrap(),
    )
    .unwrap();
    let mut admin = Validation::new(jsonwebtoken::Algorithm::EdDSA);
    admin.set_audience(&[ISSUER]);
    assert!(jsonwebtoken::decode::<Value>(token, &key, &admin).is_err());

    let errors = [
        ("&scope=feedback:delete", "invalid_scope"),
        ("&scope=feedback:read%20keygate:operator", "invalid_scope"),
        ("&scope=%22bad%22", "invalid_scope"),
        ("&resource=https://unknown.example", "invalid_target"),
        (
            "&audience=feedback-api&resource=feedback-api",
            "invalid_request",
        ),
        ("&resource=feedback-api&scope=billing:read", "invalid_scope"),
    ];
    for (param, code) in errors {
        let r = post(&app, Some(&auth), &grant(param)).await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (400, code),
            "{param}: {}",
            r.body
        );
    }

    // A keypair gets only scopes it holds, whatever it asks for.
    let (narrow, narrow_secret) = account_keypair(store, &["feedback:read"], f.clock.now());
    let r = post(
        &app,
        Some(&basic(narrow.client_id.as_str(), narrow_secret.expose())),
        &grant("&scope=feedback:write"),
    )
    .await;
    assert_eq!(r.error(), "invalid_scope");
    let r = post(
        &app,
        Some(&basic(narrow.client_id.as_str(), narrow_secret.expose())),
        &grant("&resource=billing-api"),
    )
    .await;
    assert_eq!(r.error(), "invalid_target");

    // Environment keypairs carry both owner claims.
    let acct = store
        .create_account(&actor(), "Env", f.clock.now())
        .unwrap();
    let env = store
        .create_environment(&actor(), &acct.id, "prod", f.clock.now())
        .unwrap();
    let owner = Owner::Environment {
        account_id: acct.id.clone(),
        environment_id: env.id.clone(),
    };
    let (ekp, esecret) = new_keypair(store, owner, &["feedback:read"], f.clock.now());
    let r = post(
        &app,
        Some(&basic(ekp.client_id.as_str(), esecret.expose())),
        &grant(""),
    )
    .await;
    let (_, claims) = verify(
        &app,
        r.json()["access_token"].as_str().unwrap(),
        "feedback-api",
    )
    .await;
    assert_eq!(claims["acct"], acct.id.as_str());
    assert_eq!(claims["env"], env.id.as_str());
}

/// With `scopes.optional = ["keygate:admin"]`, a keypair holding admin and Feedback
/// scopes gets, by default, a token a Feedback API cannot replay against the admin API.
async fn optional_scopes_come_only_when_asked_for(db: TestDb) {
    let kek = STANDARD.encode(ring_random());
    let clock = TestClock::starting_now();
    let now = clock.now();
    let service = service_with(
        &db.store,
        &kek,
        SigningAlgorithm::EdDSA,
        &clock,
        &[("KEYGATE_SCOPES_OPTIONAL", "keygate:admin")],
    );
    let app = app!(service);
    let (kp, secret) = account_keypair(&db.store, &["feedback:read", "keygate:admin"], now);
    let auth = basic(kp.client_id.as_str(), secret.expose());
    let grant = |extra: &str| format!("grant_type=client_credentials{extra}");

    let default = post(&app, Some(&auth), &grant("")).await;
    assert_eq!(default.status, 200, "{}", default.body);
    let default = default.json();
    assert_eq!(default["scope"], "feedback:read");
    let token = default["access_token"].as_str().unwrap();
    let (_, claims) = verify(&app, token, "feedback-api").await;
    assert_eq!(claims["aud"], "feedback-api");

    for param in ["&scope=keygate:admin", &format!("&resource={ISSUER}")] {
        let r = post(&app, Some(&auth), &grant(param)).await;
        assert_eq!(r.status, 200, "{param}: {}", r.body);
        let admin = r.json();
        assert_eq!(admin["scope"], "keygate:admin", "{param}");
        let (_, claims) = verify(&app, admin["access_token"].as_str().unwrap(), ISSUER).await;
        assert_eq!(claims["aud"], ISSUER, "{param}");
    }

    // A keypair holding only optional scopes must ask: the error says how.
    let (admin_only, admin_secret) = account_keypair(&db.store, &["keygate:admin"], now);
    let r = post(
        &app,
        Some(&basic(admin_only.client_id.as_str(), admin_secret.expose())),
        &grant(""),
    )
    .await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_scope"));
    assert!(r.body.contains("optional"), "{}", r.body);
}

async fn disable_delete_and_close_take_effect_at_once(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let store = &f.db.store;
    let now = || f.clock.now();
    let (kp, secret) = account_keypair(store, &["feedback:read", "feedback:write"], now());
    let auth = basic(kp.client_id.as_str(), secret.expose());
    let ok = |r: &Reply| r.status == 200;
    assert!(ok(&post(
        &app,
        Some(&auth),
        "grant_type=client_credentials"
    )
    .await));

    store
        .update_keypair(
            &actor(),
            &kp.client_id,
            KeypairPatch {
                enabled: Some(false),
                ..Default::default()
            },
            now(),
        )
        .unwrap();
    assert_eq!(
        post(&app, Some(&auth), "grant_type=client_credentials")
            .await
            .status,
        401
    );
    store
        .update_keypair(
            &actor(),
            &kp.client_id,
            KeypairPatch {
                enabled: Some(true),
                ..Default::default()
            },
            now(),
        )
        .unwrap();
    assert!(ok(&post(
        &app,
        Some(&auth),
        "grant_type=client_credentials"
    )
    .await));

    let narrowed = catalogue()
        .validate_for_keypair(&["feedback:read"])
        .unwrap();
    store
        .update_keypair(
            &actor(),
            &kp.client_id,
            KeypairPatch {
                scopes: Some(narrowed),
                ..Default::default()
            },
            now(),
        )
        .unwrap();
    let r = post(
        &app,
        Some(&auth),
        "grant_type=client_credentials&scope=feedback:write",
    )
    .await;
    assert_eq!(r.error(), "invalid_scope", "scope change effective at once");
    assert_eq!(
        post(&app, Some(&auth), "grant_type=client_credentials")
            .await
            .json()["scope"],
        "feedback:read"
    );

    store
        .delete_keypair(&actor(), &kp.client_id, now())
        .unwrap();
    assert_eq!(
        post(&app, Some(&auth), "grant_type=client_credentials")
            .await
            .status,
        401
    );

    let acct = store.create_account(&actor(), "Closing", now()).unwrap();
    let env = store
        .create_environment(&actor(), &acct.id, "prod", now())
        .unwrap();
    let (ekp, es) = new_keypair(
        store,
        Owner::Environment {
            account_id: acct.id.clone(),
            environment_id: env.id.clone(),
        },
        &["feedback:read"],
        now(),
    );
    let (akp, as_) = new_keypair(
        store,
        Owner::Account(acct.id.clone()),
        &["feedback:read"],
        now(),
    );
    let eauth = basic(ekp.client_id.as_str(), es.expose());
    let aauth = basic(akp.client_id.as_str(), as_.expose());
    assert!(ok(&post(
        &app,
        Some(&eauth),
        "grant_type=client_credentials"
    )
    .await));
    store.close_environment(&actor(), &env.id, now()).unwrap();
    assert_eq!(
        post(&app, Some(&eauth), "grant_type=client_credentials")
            .await
            .status,
        401
    );
    assert!(ok(&post(
        &app,
        Some(&aauth),
        "grant_type=client_credentials"
    )
    .await));
    store.close_account(&actor(), &acct.id, now()).unwrap();
    assert_eq!(
        post(&app, Some(&aauth), "grant_type=client_credentials")
            .await
            .status,
        401
    );
}
