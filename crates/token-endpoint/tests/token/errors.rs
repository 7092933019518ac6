//! Every error path: identical invalid_client answers, RFC 6749 errors, hostile bodies, throttling.

use crate::*;

keypair_store::on_both_backends_async! {
    failed_authentication_answers_are_identical;
    request_errors_follow_rfc6749;
    hostile_bodies_get_4xx_and_the_server_stays_healthy;
    failed_authentication_is_throttled_without_locking_out_the_client;
    the_throttle_window_moves_with_the_service_clock;
}

async fn failed_authentication_answers_are_identical(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let store = &f.db.store;
    let (kp, secret) = account_keypair(store, &["feedback:read"], f.clock.now());
    let (disabled, disabled_secret) = account_keypair(store, &["feedback:read"], f.clock.now());
    store
        .update_keypair(
            &actor(),
            &disabled.client_id,
            KeypairPatch {
                enabled: Some(false),
                ..Default::default()
            },
            f.clock.now(),
        )
        .unwrap();
    let (deleted, deleted_secret) = account_keypair(store, &["feedback:read"], f.clock.now());
    store
        .delete_keypair(&actor(), &deleted.client_id, f.clock.now())
        .unwrap();
    let other = ClientSecret::generate();

    let cases = [
        basic(kp.client_id.as_str(), other.expose()),
        basic(kp.client_id.as_str(), ""),
        basic(ClientId::generate().as_str(), secret.expose()),
        basic("not-a-client-id", secret.expose()),
        basic(disabled.client_id.as_str(), disabled_secret.expose()),
        basic(deleted.client_id.as_str(), deleted_secret.expose()),
    ];
    let mut replies = Vec::new();
    for auth in &cases {
        replies.push(post(&app, Some(auth), "grant_type=client_credentials").await);
    }
    let post_wrong = post(
        &app,
        None,
        &format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            kp.client_id,
            other.expose()
        ),
    )
    .await;
    replies.push(post_wrong);
    let first = &replies[0];
    assert_eq!(first.status, 401);
    assert_eq!(first.error(), "invalid_client");
    assert_eq!(
        first.header("www-authenticate"),
        Some("Basic realm=\"keygate\"")
    );
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(r, first, "case {i} differs");
        assert!(!r.body.contains(secret.expose()) && !r.body.contains(kp.client_id.as_str()));
    }
}

async fn request_errors_follow_rfc6749(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let (kp, secret) = account_keypair(&f.db.store, &["feedback:read"], f.clock.now());
    let id = kp.client_id.as_str();
    let s = secret.expose();
    let auth = basic(id, s);
    let post_creds = format!("client_id={id}&client_secret={s}");
    let cases: Vec<(Option<&str>, String, u16, &str)> = vec![
        (
            Some(&auth),
            format!("grant_type=client_credentials&{post_creds}"),
            400,
            "invalid_request",
        ),
        (
            Some(&auth),
            format!("grant_type=client_credentials&client_id={id}"),
            400,
            "invalid_request",
        ),
        (
            Some(&auth),
            "grant_type=client_credentials&grant_type=client_credentials".into(),
            400,
            "invalid_request",
        ),
        (
            Some(&auth),
            "grant_type=client_credentials&scope=feedback:read&scope=feedback:read".into(),
            400,
            "invalid_request",
        ),
        (
            None,
            format!("grant_type=client_credentials&{post_creds}&client_secret={s}"),
            400,
            "invalid_request",
        ),
        (Some(&auth), String::new(), 400, "invalid_request"),
        (
            Some(&auth),
            "scope=feedback:read".into(),
            400,
            "invalid_request",
        ),
        (
            Some(&auth),
            "grant_type=password&username=a&password=b".into(),
            400,
            "unsupported_grant_type",
        ),
        (
            Some(&auth),
            "grant_type=authorization_code&code=x".into(),
            400,
            "unsupported_grant_type",
        ),
        (
            Some(&auth),
            "grant_type=CLIENT_CREDENTIALS".into(),
            400,
            "unsupported_grant_type",
        ),
        (
            None,
            "grant_type=client_credentials".into(),
            401,
            "invalid_client",
        ),
        (
            Some("Bearer abc"),
            "grant_type=client_credentials".into(),
            401,
            "invalid_client",
        ),
        (
            Some("Basic %%%"),
            "grant_type=client_credentials".into(),
            400,
            "invalid_request",
        ),
    ];
    for (auth, body, status, code) in cases {
        let r = post(&app, auth, &body).await;
        assert_eq!(
            (r.status, r.error().as_str()),
            (status, code),
            "{auth:?} {body:?}: {}",
            r.body
        );
        assert!(r.json()["error_description"].is_string());
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert!(!r.body.contains(s), "no secret echoed");
    }
}

async fn hostile_bodies_get_4xx_and_the_server_stays_healthy(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let (kp, secret) = account_keypair(&f.db.store, &["feedback:read"], f.clock.now());
    let auth = basic(kp.client_id.as_str(), secret.expose());

    let send = |ct: Option<&'static str>, body: Vec<u8>, method: Method| {
        let mut req = test::TestRequest::default()
            .method(method)
            .uri("/token")
            .insert_header(("authorization", auth.clone()))
            .set_payload(body);
        if let Some(ct) = ct {
            req = req.insert_header(("content-type", ct));
        }
        req.to_request()
    };
    let form = Some("application/x-www-form-urlencoded");
    let big_scope = format!(
        "grant_type=client_credentials&scope={}",
        "a".repeat(100_000)
    );
    let cases: Vec<(Option<&'static str>, Vec<u8>, Method, u16)> = vec![
        (
            form,
            b"grant_type=client_credentials&scope=\xff\xfe\xfd".to_vec(),
            Method::POST,
            400,
        ),
        (form, vec![b'a'; 2 * 1024 * 1024], Method::POST, 413),
        (form, big_scope.into_bytes(), Method::POST, 413),
        (
            Some("application/json"),
            br#"{"grant_type":"client_credentials"}"#.to_vec(),
            Method::POST,
            400,
        ),
        (
            None,
            b"grant_type=client_credentials".to_vec(),
            Method::POST,
            400,
        ),
        (
            Some("multipart/form-data; boundary=x"),
            b"--x--".to_vec(),
            Method::POST,
            400,
        ),
        (None, Vec::new(), Method::GET, 405),
        (None, Vec::new(), Method::PUT, 405),
        (
            form,
            b"grant_type=client_credentials&scope=%00".to_vec(),
            Method::POST,
            400,
        ),
        (form, b"&&&===&&".to_vec(), Method::POST, 400),
    ];
    for (ct, body, method, status) in cases {
        let r = reply(test::call_service(&app, send(ct, body, method.clone())).await).await;
        assert_eq!(r.status, status, "{ct:?} {method}: {}", r.body);
        assert!(
            r.json()["error"].is_string(),
            "RFC 6749 error body: {}",
            r.body
        );
    }
    let r = post(&app, Some(&auth), "grant_type=client_credentials").await;
    assert_eq!(r.status, 200, "still healthy afterwards");
}

async fn failed_authentication_is_throttled_without_locking_out_the_client(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let (kp, secret) = account_keypair(&f.db.store, &["feedback:read"], f.clock.now());
    let (other, other_secret) = account_keypair(&f.db.store, &["feedback:read"], f.clock.now());
    let from = |auth: String, ip: [u8; 4]| {
        test::TestRequest::post()
            .uri("/token")
            .peer_addr(std::net::SocketAddr::from((ip, 40000)))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .insert_header(("authorization", auth))
            .set_payload("grant_type=client_credentials")
            .to_request()
    };
    let attacker = [203, 0, 113, 7];
    let legit = [198, 51, 100, 1];
    let wrong = basic(kp.client_id.as_str(), ClientSecret::generate().expose());
    let right = basic(kp.client_id.as_str(), secret.expose());
    // The default limit per (client id, address) is 10 failures a minute.
    for i in 0..10 {
        let r = reply(test::call_service(&app, from(wrong.clone(), attacker)).await).await;
        assert_eq!(r.status, 401, "attempt {i}");
    }
    let r = reply(test::call_service(&app, from(wrong.clone(), attacker)).await).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.error(), "temporarily_unavailable");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    // Even the right secret from the attacking address waits...
    let r = reply(test::call_service(&app, from(right.clone(), attacker)).await).await;
    assert_eq!(r.status, 429);
    // ...but the real client from its own address is not locked out,
    let r = reply(test::call_service(&app, from(right.clone(), legit)).await).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // and other clients are unaffected, even from the attacking address.
    let r = reply(
        test::call_service(
            &app,
            from(
                basic(other.client_id.as_str(), other_secret.expose()),
                attacker,
            ),
        )
        .await,
    )
    .await;
    assert_eq!(r.status, 200);
    // An address spraying many client ids is throttled for all of them (30 failures).
    let sprayer = [192, 0, 2, 9];
    for _ in 0..30 {
        let r = reply(
            test::call_service(
                &app,
                from(basic(ClientId::generate().as_str(), "x"), sprayer),
            )
            .await,
        )
        .await;
        assert_eq!(r.status, 401);
    }
    let r = reply(
        test::call_service(
            &app,
            from(
                basic(other.client_id.as_str(), other_secret.expose()),
                sprayer,
            ),
        )
        .await,
    )
    .await;
    assert_eq!(r.status, 429);
}

/// The throttle window is read from the service's clock: moving the test clock past
/// the window admits a throttled client, with no sleeping.
async fn the_throttle_window_moves_with_the_service_clock(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let (kp, secret) = account_keypair(&f.db.store, &["feedback:read"], f.clock.now());
    let from_attacker = |auth: String| {
        test::TestRequest::post()
            .uri("/token")
            .peer_addr(std::net::SocketAddr::from(([203, 0, 113, 7], 40000)))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .insert_header(("authorization", auth))
            .set_payload("grant_type=client_credentials")
            .to_request()
    };
    let wrong = basic(kp.client_id.as_str(), ClientSecret::generate().expose());
    let right = basic(kp.client_id.as_str(), secret.expose());
    // 10 failures a minute per (client id, address) by default.
    for i in 0..10 {
        let r = reply(test::call_service(&app, from_attacker(wrong.clone())).await).await;
        assert_eq!(r.status, 401, "attempt {i}");
    }
    let r = reply(test::call_service(&app, from_attacker(right.clone())).await).await;
    assert_eq!(r.status, 429, "throttled at t: {}", r.body);
    assert_eq!(
        r.header("retry-after"),
        Some("60"),
        "the whole window is left"
    );

    f.clock.advance(std::time::Duration::from_secs(59));
    let r = reply(test::call_service(&app, from_attacker(right.clone())).await).await;
    assert_eq!(r.status, 429, "still inside the window at t + 59 s");
    assert_eq!(r.header("retry-after"), Some("1"));

    f.clock.advance(std::time::Duration::from_secs(2));
    let r = reply(test::call_service(&app, from_attacker(right)).await).await;
    assert_eq!(r.status, 200, "admitted at t + 61 s: {}", r.body);
    let (_, claims) = verify(
        &app,
        r.json()["access_token"].as_str().unwrap(),
        "feedback-api",
    )
    .await;
    assert_eq!(
        claims["iat"].as_i64().unwrap(),
        f.clock.now().unix_timestamp(),
        "issued at the service clock's time"
    );
}
