//! Signing key rotation (published ahead, then signing), restarts, algorithm changes,
//! JWKS and metadata.

use crate::*;

keypair_store::on_both_backends_async! {
    a_rotated_key_is_published_before_it_signs;
    a_rotation_in_another_process_is_published_on_reload_and_signs_on_time;
    without_a_publish_lead_a_rotated_key_signs_at_once;
    an_algorithm_change_at_start_up_is_published_ahead;
    metadata_document;
}

const LEAD: std::time::Duration = std::time::Duration::from_secs(60);

/// `t` as the store keeps it (microseconds).
fn stored(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn alg_of(token: &str) -> jsonwebtoken::Algorithm {
    jsonwebtoken::decode_header(token).unwrap().alg
}

/// A token for `auth` from `app`.
async fn token<S, B>(app: &S, auth: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = post(app, Some(auth), "grant_type=client_credentials").await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["access_token"].as_str().unwrap().to_owned()
}

/// The key ids the served JWKS holds, in its order.
async fn published<S, B>(app: &S) -> Vec<String>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let set: JwkSet = serde_json::from_str(&get(app, "/.well-known/jwks.json").await.body).unwrap();
    set.keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect()
}

async fn a_rotated_key_is_published_before_it_signs(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let (kp, secret) = account_keypair(&f.db.store, &["feedback:read"], f.clock.now());
    let auth = basic(kp.client_id.as_str(), secret.expose());
    let app = app!(f.service);
    let before = token(&app, &auth).await;
    let old = kid_of(&before);
    assert_eq!(
        published(&app).await,
        [old.as_str()],
        "the first key signs at once"
    );

    // Rotate a second after the first key was made.
    f.clock.advance(std::time::Duration::from_secs(1));
    let t0 = f.clock.now();
    let new = f.service.keys().rotate(t0).unwrap();
    assert_ne!(new.kid, old);
    assert_eq!(new.algorithm, SigningAlgorithm::EdDSA);
    assert_eq!(
        new.signs_from,
        stored(t0 + LEAD),
        "key.publish_lead_seconds defaults to 60"
    );

    // Phase one: published, not signing.
    assert_eq!(published(&app).await, [new.kid.clone(), old.clone()]);
    assert_eq!(kid_of(&token(&app, &auth).await), old);
    f.clock.advance(LEAD - std::time::Duration::from_secs(1));
    assert_eq!(
        kid_of(&token(&app, &auth).await),
        old,
        "a second before the lead ends"
    );

    // One rotation waits at a time: another one now is refused and adds nothing.
    let err = f.service.keys().rotate(f.clock.now()).unwrap_err();
    let message = err.to_string();
    assert!(message.contains(&new.kid), "{message}");
    assert!(message.contains("starts signing at"), "{message}");
    assert_eq!(published(&app).await, [new.kid.clone(), old.clone()]);

    // Phase two: when the lead is over the new key signs, without a reload; the old
    // key stays published for the tokens it signed.
    f.clock.advance(std::time::Duration::from_secs(1));
    let after = token(&app, &auth).await;
    assert_eq!(kid_of(&after), new.kid, "new tokens carry the new kid");
    assert_eq!(published(&app).await, [new.kid.clone(), old.clone()]);
    verify(&app, &before, "feedback-api").await;
    verify(&app, &after, "feedback-api").await;

    // "Restart": a new process loads the same keys from the database.
    let restarted = service(&f.db.store, &f.kek, SigningAlgorithm::EdDSA, &f.clock);
    let app2 = app!(restarted);
    verify(&app2, &before, "feedback-api").await;
    verify(&app2, &after, "feedback-api").await;
    assert_eq!(kid_of(&token(&app2, &auth).await), new.kid);

    // The old key stopped signing at `signs_from`; once every token it signed has
    // expired, it drops out of JWKS.
    let gone = new.signs_from + Duration::seconds(86400) + token_endpoint::RETIREMENT_LEEWAY;
    restarted
        .keys()
        .reload(gone - Duration::seconds(5))
        .unwrap();
    assert_eq!(
        published(&app2).await,
        [new.kid.clone(), old.clone()],
        "kept while tokens may live"
    );
    restarted
        .keys()
        .reload(gone + Duration::seconds(5))
        .unwrap();
    assert_eq!(published(&app2).await, [new.kid.as_str()]);

    // The wrong key-encryption key cannot open the stored keys.
    let wrong = Kek::from_base64(&STANDARD.encode([9u8; 32])).unwrap();
    let err = Keys::load_or_create(
        f.db.store.clone(),
        Kek::from_base64(&STANDARD.encode([9u8; 32])).unwrap(),
        key_settings(SigningAlgorithm::EdDSA),
        t0,
    )
    .unwrap_err();
    assert!(err.to_string().contains("key-encryption key"), "{err}");
    // Nor add a key that no process could open.
    let err = Keys::rotate_stored(
        &f.db.store,
        &wrong,
        &key_settings(SigningAlgorithm::EdDSA),
        f.clock.now(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("key-encryption key"), "{err}");
    assert_eq!(
        f.db.store.signing_keys().unwrap().len(),
        1,
        "only the purge removed a key"
    );
}

/// Another process (here a second service on the same database, as `keygate keys
/// rotate` is) rotates: this one publishes the key once it reloads (what the server's
/// reloader does every `key.reload_interval_seconds`, or on a notice), keeps signing
/// with its current key, and switches when the lead is over.
async fn a_rotation_in_another_process_is_published_on_reload_and_signs_on_time(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let (kp, secret) = account_keypair(&f.db.store, &["feedback:read"], f.clock.now());
    let auth = basic(kp.client_id.as_str(), secret.expose());
    let app = app!(f.service);
    let old = kid_of(&token(&app, &auth).await);

    f.clock.advance(std::time::Duration::from_secs(1));
    let new = Keys::rotate_stored(
        &f.db.store,
        &Kek::from_base64(&f.kek).unwrap(),
        &key_settings(SigningAlgorithm::EdDSA),
        f.clock.now(),
    )
    .unwrap();
    assert_eq!(new.signs_from, stored(f.clock.now() + LEAD));
    assert_eq!(published(&app).await, [old.as_str()], "not reloaded yet");

    f.clock.advance(std::time::Duration::from_secs(10));
    f.service.keys().reload(f.clock.now()).unwrap();
    assert_eq!(published(&app).await, [new.kid.clone(), old.clone()]);
    assert_eq!(kid_of(&token(&app, &auth).await), old);

    f.clock.advance(LEAD - std::time::Duration::from_secs(10));
    let after = token(&app, &auth).await;
    assert_eq!(
        kid_of(&after),
        new.kid,
        "signs on time, with no further reload"
    );
    verify(&app, &after, "feedback-api").await;
}

async fn without_a_publish_lead_a_rotated_key_signs_at_once(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let svc = service_with(
        &f.db.store,
        &f.kek,
        SigningAlgorithm::EdDSA,
        &f.clock,
        &[("KEYGATE_KEY_PUBLISH_LEAD_SECONDS", "0")],
    );
    let (kp, secret) = account_keypair(&f.db.store, &["feedback:read"], f.clock.now());
    let auth = basic(kp.client_id.as_str(), secret.expose());
    let app = app!(svc);
    let old = kid_of(&token(&app, &auth).await);
    f.clock.advance(std::time::Duration::from_secs(1));
    let new = svc.keys().rotate(f.clock.now()).unwrap();
    assert_eq!(new.signs_from, stored(f.clock.now()));
    assert_eq!(kid_of(&token(&app, &auth).await), new.kid);
    assert_eq!(published(&app).await, [new.kid.clone(), old]);
}

/// A changed `token.algorithm` rotates at start-up like `keygate keys rotate`: guards
/// hold a JWKS without the new key, so it is published ahead too. A restart while it
/// waits adds no other key.
async fn an_algorithm_change_at_start_up_is_published_ahead(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let (kp, secret) = account_keypair(&f.db.store, &["feedback:read"], f.clock.now());
    let auth = basic(kp.client_id.as_str(), secret.expose());
    let ed = kid_of(&token(&app!(f.service), &auth).await);

    f.clock.advance(std::time::Duration::from_secs(1));
    let es = service(&f.db.store, &f.kek, SigningAlgorithm::ES256, &f.clock);
    let app = app!(es);
    let kids = published(&app).await;
    assert_eq!(kids.len(), 2, "{kids:?}");
    assert_eq!(kids[1], ed);
    let before = token(&app, &auth).await;
    assert_eq!(
        (alg_of(&before), kid_of(&before)),
        (jsonwebtoken::Algorithm::EdDSA, ed.clone()),
        "the old key signs during the lead"
    );

    f.clock.advance(std::time::Duration::from_secs(30));
    let again = service(&f.db.store, &f.kek, SigningAlgorithm::ES256, &f.clock);
    let app2 = app!(again);
    assert_eq!(
        published(&app2).await,
        kids,
        "no second key while one waits"
    );

    f.clock.advance(std::time::Duration::from_secs(30));
    for app in [&app, &app2] {
        let after = token(app, &auth).await;
        assert_eq!(alg_of(&after), jsonwebtoken::Algorithm::ES256);
        assert_eq!(kid_of(&after), kids[0]);
        verify(app, &after, "feedback-api").await;
        verify(app, &before, "feedback-api").await;
    }
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
