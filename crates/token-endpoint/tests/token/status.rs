//! Token status at the token endpoint: the `status` claim, `POST /revoke` (RFC 7009)
//! and `POST /introspect` (RFC 7662).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use keypair_store::{StatusListId, TokenStatus};
use serde_json::json;
use token_endpoint::SigningKey;

use crate::*;

keypair_store::on_both_backends_async! {
    tokens_carry_their_generations_status_entry;
    revoking_an_own_token_invalidates_its_generation;
    revoking_another_clients_token_is_refused;
    revoke_answers_200_for_tokens_that_are_not_live;
    revoke_authenticates_like_token;
    introspection_shows_live_tokens_only;
    introspection_needs_the_introspect_scope;
}

/// A token for `kp` from `/token` (extra form parameters in `extra`).
async fn token_for<S, B>(app: &S, kp: &Keypair, secret: &ClientSecret, extra: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = post(
        app,
        Some(&basic(kp.client_id.as_str(), secret.expose())),
        &format!("grant_type=client_credentials{extra}"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["access_token"].as_str().unwrap().to_owned()
}

/// The claims of a token, unverified (for tokens the test already trusts or forges).
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The status entry a token points at, checking the exact URI shape.
fn entry_of(claims: &Value) -> (StatusListId, u32) {
    let status = claims["status"].as_object().expect("status claim");
    assert_eq!(status.len(), 1, "{status:?}");
    let list = status["status_list"].as_object().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    let uri = list["uri"].as_str().unwrap();
    let id = uri
        .strip_prefix(&format!("{ISSUER}/statuslists/"))
        .unwrap_or_else(|| panic!("uri {uri}"));
    let idx = u32::try_from(list["idx"].as_u64().unwrap()).unwrap();
    (StatusListId::parse(id).unwrap(), idx)
}

fn status_of(store: &Store, entry: &(StatusListId, u32)) -> TokenStatus {
    store
        .status_entry(&entry.0, entry.1)
        .unwrap()
        .expect("entry stored")
        .status
}

fn form(token: &str) -> String {
    format!(
        "token={}",
        form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
    )
}

/// Signs `claims` with the service's own current key: a token keygate would accept,
/// whatever its claims say.
fn sign_as_service(f: &Fixture, claims: &Value) -> String {
    let ring = f.service.keys().ring();
    let key = ring.signer(f.clock.now());
    let signing_input = format!(
        "{}.{}",
        key.header_b64(),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = key.sign(signing_input.as_bytes()).unwrap();
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// `token` with its signature replaced by one from a key keygate never published.
fn forge(token: &str) -> String {
    let (key, _) = SigningKey::generate(SigningAlgorithm::EdDSA).unwrap();
    let signing_input = token.rsplit_once('.').unwrap().0;
    let sig = key.sign(signing_input.as_bytes()).unwrap();
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

async fn tokens_carry_their_generations_status_entry(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let store = &f.db.store;
    let (kp, secret) = account_keypair(store, &["feedback:read"], f.clock.now());
    assert_eq!(store.get_keypair(&kp.client_id).unwrap().generation, None);

    let first = token_for(&app, &kp, &secret, "").await;
    let (_, claims) = verify(&app, &first, "feedback-api").await;
    let entry = entry_of(&claims);
    let generation = store
        .get_keypair(&kp.client_id)
        .unwrap()
        .generation
        .expect("the first token opened a generation");
    assert_eq!((generation.list_id.clone(), generation.idx), entry);
    assert_eq!(generation.status, TokenStatus::Valid);
    assert_eq!(
        claims["status"],
        json!({"status_list": {"idx": entry.1, "uri": format!("{ISSUER}/statuslists/{}", entry.0.as_str())}})
    );

    // Every token of the generation carries the same entry, whichever way it is asked for.
    let second = token_for(&app, &kp, &secret, "&scope=feedback:read").await;
    let (_, claims2) = verify(&app, &second, "feedback-api").await;
    assert_eq!(entry_of(&claims2), entry);
    assert_ne!(claims2["jti"], claims["jti"]);

    // Disabled, then enabled: the same generation is VALID again and still used.
    let set_enabled = |enabled| {
        store
            .update_keypair(
                &actor(),
                &kp.client_id,
                KeypairPatch {
                    enabled: Some(enabled),
                    ..Default::default()
                },
                f.clock.now(),
            )
            .unwrap();
    };
    set_enabled(false);
    assert_eq!(status_of(store, &entry), TokenStatus::Suspended);
    let r = post(
        &app,
        Some(&basic(kp.client_id.as_str(), secret.expose())),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.body);
    set_enabled(true);
    let third = token_for(&app, &kp, &secret, "").await;
    assert_eq!(entry_of(&claims_of(&third)), entry);
    assert_eq!(status_of(store, &entry), TokenStatus::Valid);

    // Invalidated: the next token opens a new generation with a new entry.
    store
        .revoke_tokens(&actor(), &kp.client_id, f.clock.now())
        .unwrap();
    let fourth = token_for(&app, &kp, &secret, "").await;
    let (_, claims4) = verify(&app, &fourth, "feedback-api").await;
    let new_entry = entry_of(&claims4);
    assert_ne!(new_entry, entry);
    assert_eq!(status_of(store, &entry), TokenStatus::Invalid);
    assert_eq!(status_of(store, &new_entry), TokenStatus::Valid);

    // Another keypair has an entry of its own.
    let (other, other_secret) = account_keypair(store, &["feedback:read"], f.clock.now());
    let theirs = token_for(&app, &other, &other_secret, "").await;
    assert_ne!(entry_of(&claims_of(&theirs)), new_entry);
}

async fn revoking_an_own_token_invalidates_its_generation(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::ES256);
    let app = app!(f.service);
    let store = &f.db.store;
    let (kp, secret) = account_keypair(store, &["feedback:read"], f.clock.now());
    let (_, inspector_secret, inspector) = introspector(&f);
    let auth = basic(kp.client_id.as_str(), secret.expose());
    let old = token_for(&app, &kp, &secret, "").await;
    let sibling = token_for(&app, &kp, &secret, "").await;
    let entry = entry_of(&claims_of(&old));
    let introspect = |token: String| {
        let auth = basic(inspector.as_str(), inspector_secret.expose());
        let app = &app;
        async move { post_to(app, "/introspect", Some(&auth), &form(&token)).await }
    };
    assert_eq!(introspect(old.clone()).await.json()["active"], true);

    let r = post_to(
        &app,
        "/revoke",
        Some(&auth),
        &format!("{}&token_type_hint=access_token", form(&old)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(status_of(store, &entry), TokenStatus::Invalid);
    // The whole generation: the revoked token and its sibling.
    for t in [&old, &sibling] {
        let r = introspect(t.clone()).await;
        assert_eq!(r.body, r#"{"active":false}"#);
    }
    let audit = store
        .list_audit(
            kp.owner.account_id().unwrap(),
            &keypair_store::PageRequest::first(),
        )
        .unwrap();
    assert!(
        audit.items.iter().any(|a| a.target == kp.client_id.as_str()
            && a.action == "keypair.revoke_tokens"
            && a.actor == kp.client_id.as_str()),
        "revocation audited: {audit:?}"
    );

    // The client's next token works, with a new entry.
    let new = token_for(&app, &kp, &secret, "").await;
    let new_entry = entry_of(&claims_of(&new));
    assert_ne!(new_entry, entry);
    assert_eq!(introspect(new.clone()).await.json()["active"], true);

    // Revoking a token of the old generation again changes nothing.
    let r = post_to(&app, "/revoke", Some(&auth), &form(&old)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(status_of(store, &new_entry), TokenStatus::Valid);
    assert_eq!(introspect(new.clone()).await.json()["active"], true);

    // client_secret_post works too.
    let r = post_to(
        &app,
        "/revoke",
        None,
        &format!(
            "{}&client_id={}&client_secret={}",
            form(&new),
            kp.client_id.as_str(),
            secret.expose()
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(status_of(store, &new_entry), TokenStatus::Invalid);
}

async fn revoking_another_clients_token_is_refused(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let store = &f.db.store;
    let (victim, victim_secret) = account_keypair(store, &["feedback:read"], f.clock.now());
    let (other, other_secret) = account_keypair(store, &["feedback:read"], f.clock.now());
    let token = token_for(&app, &victim, &victim_secret, "").await;
    let entry = entry_of(&claims_of(&token));
    let mine = token_for(&app, &other, &other_secret, "").await;
    let my_entry = entry_of(&claims_of(&mine));

    let r = post_to(
        &app,
        "/revoke",
        Some(&basic(other.client_id.as_str(), other_secret.expose())),
        &form(&token),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error(), "unauthorized_client");
    assert!(r.json()["error_description"].is_string());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(status_of(store, &entry), TokenStatus::Valid);
    assert_eq!(status_of(store, &my_entry), TokenStatus::Valid);
}

async fn revoke_answers_200_for_tokens_that_are_not_live(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let store = &f.db.store;
    let (kp, secret) = account_keypair(store, &["feedback:read"], f.clock.now());
    let auth = basic(kp.client_id.as_str(), secret.expose());
    let token = token_for(&app, &kp, &secret, "").await;
    let entry = entry_of(&claims_of(&token));
    let mut claims = claims_of(&token);
    claims["iss"] = json!("http://elsewhere.test");
    let other_issuer = sign_as_service(&f, &claims);

    for t in [
        "garbage".to_owned(),
        "a.b.c".to_owned(),
        "eyJhbGciOiJub25lIn0.e30.".to_owned(),
        "🦀 not even ascii".to_owned(),
        forge(&token),
        other_issuer,
        token.replace('.', ".x"),
    ] {
        let r = post_to(&app, "/revoke", Some(&auth), &form(&t)).await;
        assert_eq!((r.status, r.body.as_str()), (200, ""), "{t}");
        assert_eq!(status_of(store, &entry), TokenStatus::Valid, "{t}");
    }

    // Expired at the service's clock: 200, and nothing changes.
    f.clock.advance(std::time::Duration::from_secs(3600));
    let r = post_to(&app, "/revoke", Some(&auth), &form(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(status_of(store, &entry), TokenStatus::Valid);
}

async fn revoke_authenticates_like_token(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let store = &f.db.store;
    let (kp, secret) = account_keypair(store, &["feedback:read"], f.clock.now());
    let auth = basic(kp.client_id.as_str(), secret.expose());
    let token = token_for(&app, &kp, &secret, "").await;
    let entry = entry_of(&claims_of(&token));

    for path in ["/revoke", "/introspect"] {
        // No token.
        let r = post_to(&app, path, Some(&auth), "token_type_hint=access_token").await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (400, "invalid_request"),
            "{path}"
        );
        let r = post_to(&app, path, Some(&auth), "token=").await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (400, "invalid_request"),
            "{path}"
        );
        // A token given twice.
        let r = post_to(&app, path, Some(&auth), "token=a&token=b").await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (400, "invalid_request"),
            "{path}"
        );
        // Both client authentication methods.
        let r = post_to(
            &app,
            path,
            Some(&auth),
            &format!("{}&client_id={}", form(&token), kp.client_id.as_str()),
        )
        .await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (400, "invalid_request"),
            "{path}"
        );
        // Not a form body.
        let req = test::TestRequest::post()
            .uri(path)
            .insert_header(("content-type", "application/json"))
            .insert_header(("authorization", auth.clone()))
            .set_payload(json!({"token": token}).to_string())
            .to_request();
        let r = reply(test::call_service(&app, req).await).await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (400, "invalid_request"),
            "{path}"
        );
        // Too large.
        let big = format!("token={}", "a".repeat(17 * 1024));
        let r = post_to(&app, path, Some(&auth), &big).await;
        assert_eq!(r.status, 413, "{path}");
        // Another method.
        let r = get(&app, path).await;
        assert_eq!((r.status, r.header("allow")), (405, Some("POST")), "{path}");
        // No or wrong credentials: /token's 401.
        let r = post_to(&app, path, None, &form(&token)).await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (401, "invalid_client"),
            "{path}"
        );
        let wrong = basic(kp.client_id.as_str(), ClientSecret::generate().expose());
        let r = post_to(&app, path, Some(&wrong), &form(&token)).await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (401, "invalid_client"),
            "{path}"
        );
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"keygate\""),
            "{path}"
        );
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    assert_eq!(status_of(store, &entry), TokenStatus::Valid);

    // The failures above count in /token's throttle (2 so far); 8 more reach the
    // limit of 10 per client id and address, then even the right secret waits.
    let wrong = basic(kp.client_id.as_str(), ClientSecret::generate().expose());
    for i in 0..8 {
        let r = post_to(&app, "/revoke", Some(&wrong), &form(&token)).await;
        assert_eq!(r.status, 401, "attempt {i}");
    }
    for path in ["/revoke", "/introspect", "/token"] {
        let body = if path == "/token" {
            "grant_type=client_credentials".to_owned()
        } else {
            form(&token)
        };
        let r = post_to(&app, path, Some(&auth), &body).await;
        assert_eq!(r.status, 429, "{path}: {}", r.body);
        assert_eq!(r.error(), "temporarily_unavailable");
        assert!(r.header("retry-after").is_some());
    }
    assert_eq!(status_of(store, &entry), TokenStatus::Valid);
    // The window passes (service clock): the client revokes its token.
    f.clock.advance(std::time::Duration::from_secs(61));
    let r = post_to(&app, "/revoke", Some(&auth), &form(&token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(status_of(store, &entry), TokenStatus::Invalid);
}

/// A keypair allowed to introspect.
fn introspector(f: &Fixture) -> (Keypair, ClientSecret, ClientId) {
    let (kp, secret) = account_keypair(&f.db.store, &["keygate:introspect"], f.clock.now());
    let id = kp.client_id.clone();
    (kp, secret, id)
}

async fn introspection_shows_live_tokens_only(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::RS256);
    let app = app!(f.service);
    let store = &f.db.store;
    let (_, inspector_secret, inspector) = introspector(&f);
    let auth = basic(inspector.as_str(), inspector_secret.expose());
    let introspect = |token: String| {
        let app = &app;
        let auth = auth.clone();
        async move {
            let r = post_to(app, "/introspect", Some(&auth), &form(&token)).await;
            assert_eq!(r.status, 200, "{}", r.body);
            assert_eq!(r.header("cache-control"), Some("no-store"));
            assert_eq!(r.header("content-type"), Some("application/json"));
            r
        }
    };
    let inactive = |r: Reply| assert_eq!(r.body, r#"{"active":false}"#);

    // An environment keypair: every field, with `env`.
    let acct = store
        .create_account(&actor(), "Acme", f.clock.now())
        .unwrap();
    let env = store
        .create_environment(&actor(), &acct.id, "prod", f.clock.now())
        .unwrap();
    let (kp, secret) = new_keypair(
        store,
        Owner::Environment {
            account_id: acct.id.clone(),
            environment_id: env.id.clone(),
        },
        &["feedback:read", "feedback:write", "billing:read"],
        f.clock.now(),
    );
    let token = token_for(&app, &kp, &secret, "&scope=feedback:read billing:read").await;
    let claims = claims_of(&token);
    let r = introspect(token.clone()).await;
    let id = kp.client_id.as_str();
    assert_eq!(
        r.json(),
        json!({
            "active": true,
            "iss": ISSUER,
            "sub": id,
            "client_id": id,
            "aud": ["billing-api", "feedback-api"],
            "scope": "billing:read feedback:read",
            "iat": claims["iat"],
            "exp": claims["exp"],
            "jti": claims["jti"],
            "token_type": "Bearer",
            "acct": acct.id.as_str(),
            "env": env.id.as_str(),
        })
    );

    // A token for the admin API (the issuer's own audience) is introspected too.
    let (admin, admin_secret) = account_keypair(store, &["keygate:admin"], f.clock.now());
    let admin_token = token_for(&app, &admin, &admin_secret, "").await;
    let r = introspect(admin_token.clone()).await.json();
    assert_eq!(
        (r["active"].clone(), r["aud"].clone()),
        (json!(true), json!(ISSUER))
    );
    assert!(r.get("env").is_none());

    // Suspended while the keypair is disabled; live again once enabled.
    let set_enabled = |enabled| {
        store
            .update_keypair(
                &actor(),
                &kp.client_id,
                KeypairPatch {
                    enabled: Some(enabled),
                    ..Default::default()
                },
                f.clock.now(),
            )
            .unwrap();
    };
    set_enabled(false);
    inactive(introspect(token.clone()).await);
    set_enabled(true);
    assert_eq!(introspect(token.clone()).await.json()["active"], true);

    // Forged, garbage, another issuer, no status claim, someone else's entry, a list
    // URI elsewhere: inactive, exactly.
    let mut other_issuer = claims.clone();
    other_issuer["iss"] = json!("http://elsewhere.test");
    let mut no_status = claims.clone();
    no_status.as_object_mut().unwrap().remove("status");
    let mut borrowed_entry = claims_of(&admin_token);
    borrowed_entry["status"] = claims["status"].clone();
    let mut elsewhere = claims.clone();
    elsewhere["status"]["status_list"]["uri"] = json!(claims["status"]["status_list"]["uri"]
        .as_str()
        .unwrap()
        .replace(ISSUER, "http://elsewhere.test"));
    let mut wrong_idx = claims.clone();
    wrong_idx["status"]["status_list"]["idx"] =
        json!(claims["status"]["status_list"]["idx"].as_u64().unwrap() ^ 1);
    for t in [
        forge(&token),
        "garbage".to_owned(),
        "x.y.z".to_owned(),
        sign_as_service(&f, &other_issuer),
        sign_as_service(&f, &no_status),
        sign_as_service(&f, &borrowed_entry),
        sign_as_service(&f, &elsewhere),
        sign_as_service(&f, &wrong_idx),
    ] {
        inactive(introspect(t).await);
    }
    // The same claims signed by the service are live: the cases above fail for the
    // reason they name.
    assert_eq!(
        introspect(sign_as_service(&f, &claims)).await.json()["active"],
        true
    );

    // Invalid: revoked by its client.
    let r = post_to(
        &app,
        "/revoke",
        Some(&basic(admin.client_id.as_str(), admin_secret.expose())),
        &form(&admin_token),
    )
    .await;
    assert_eq!(r.status, 200);
    inactive(introspect(admin_token).await);

    // Deleted keypair.
    let (gone, gone_secret) = account_keypair(store, &["feedback:read"], f.clock.now());
    let gone_token = token_for(&app, &gone, &gone_secret, "").await;
    assert_eq!(introspect(gone_token.clone()).await.json()["active"], true);
    store
        .delete_keypair(&actor(), &gone.client_id, f.clock.now())
        .unwrap();
    inactive(introspect(gone_token).await);

    // Expired at the service's clock.
    f.clock.advance(std::time::Duration::from_secs(3599));
    assert_eq!(introspect(token.clone()).await.json()["active"], true);
    f.clock.advance(std::time::Duration::from_secs(1));
    inactive(introspect(token).await);
}

async fn introspection_needs_the_introspect_scope(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let store = &f.db.store;
    let (kp, secret) = account_keypair(store, &["feedback:read", "keygate:admin"], f.clock.now());
    let token = token_for(&app, &kp, &secret, "").await;
    // Not even for its own token.
    let r = post_to(
        &app,
        "/introspect",
        Some(&basic(kp.client_id.as_str(), secret.expose())),
        &form(&token),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.error(), "unauthorized_client");
    assert!(r.json()["error_description"]
        .as_str()
        .unwrap()
        .contains("keygate:introspect"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    // With the scope, by client_secret_post.
    let (_, inspector_secret, inspector) = introspector(&f);
    let r = post_to(
        &app,
        "/introspect",
        None,
        &format!(
            "{}&client_id={}&client_secret={}",
            form(&token),
            inspector.as_str(),
            inspector_secret.expose()
        ),
    )
    .await;
    assert_eq!(r.json()["active"], true, "{}", r.body);
    // Wrong credentials.
    let r = post_to(
        &app,
        "/introspect",
        Some(&basic(inspector.as_str(), "kgs_wrong")),
        &form(&token),
    )
    .await;
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"));
}
