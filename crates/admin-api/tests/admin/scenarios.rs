//! Whole scenarios through the API: the lifecycle an operator scripts, input
//! validation, cascades seen at `/token`, pagination and the audit trail.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keypair_store::testing::TestDb;
use keypair_store::Actor;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::{admin_app, call, send, Env, Reply};

keypair_store::on_both_backends_async! {
    lifecycle_shows_each_secret_exactly_once;
    bad_input_gets_400_naming_the_field;
    cascades_and_changes_take_effect_at_the_token_endpoint;
    listings_paginate_and_audit_records_every_change;
    trailing_data_after_the_body_is_refused;
}

fn operator(env: &Env) -> String {
    let (op, secret) = env
        .store()
        .create_operator_keypair(&Actor::system("test"), "op", OffsetDateTime::now_utc())
        .unwrap();
    env.mint(op.client_id.as_str(), &secret)
}

fn token_request(id: &str, secret: &str, extra: &str) -> actix_web::test::TestRequest {
    actix_web::test::TestRequest::post()
        .uri("/token")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .insert_header((
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
        ))
        .set_payload(format!("grant_type=client_credentials{extra}"))
}

fn field(r: &Reply) -> String {
    r.json()["field"].as_str().unwrap_or_default().to_owned()
}

async fn lifecycle_shows_each_secret_exactly_once(db: TestDb) {
    let env = Env::new(db);
    let app = admin_app!(env);
    let op = operator(&env);
    let mut bodies: Vec<String> = Vec::new();
    macro_rules! go {
        ($m:expr, $p:expr, $b:expr) => {{
            let r = send(&app, call($m, &$p, Some(&op), $b)).await;
            bodies.push(r.body.clone());
            r
        }};
    }
    let acct = go!(
        "post",
        format!("/admin/v1/accounts"),
        Some(json!({"name": "Acme"}))
    );
    assert_eq!(acct.status, 201, "{}", acct.body);
    let a = acct.json()["id"].as_str().unwrap().to_owned();
    let e = go!(
        "post",
        format!("/admin/v1/accounts/{a}/environments"),
        Some(json!({"name": "prod"}))
    );
    assert_eq!(e.status, 201);
    assert_eq!(e.json()["account_id"], a.as_str());
    let e = e.json()["id"].as_str().unwrap().to_owned();

    let k1 = go!(
        "post",
        format!("/admin/v1/accounts/{a}/keypairs"),
        Some(json!({"scopes": ["feedback:read"], "comment": "ingest"}))
    );
    assert_eq!(k1.status, 201, "{}", k1.body);
    assert_eq!(k1.header("cache-control"), Some("no-store"));
    let k2 = go!(
        "post",
        format!("/admin/v1/environments/{e}/keypairs"),
        Some(
            json!({"scopes": ["feedback:write", "keygate:admin"], "comment": "env admin", "enabled": false, "token_lifetime_seconds": 600})
        )
    );
    assert_eq!(k2.status, 201, "{}", k2.body);
    let (k1, k2) = (k1.json(), k2.json());
    assert_eq!(k1["owner"], json!({"account_id": a}));
    assert_eq!(k2["owner"], json!({"account_id": a, "environment_id": e}));
    assert_eq!(k2["enabled"], false);
    assert_eq!(k2["token_lifetime_seconds"], 600);
    assert_eq!(k2["scopes"], json!(["feedback:write", "keygate:admin"]));
    let secrets: Vec<String> = [&k1, &k2]
        .iter()
        .map(|k| k["client_secret"].as_str().unwrap().to_owned())
        .collect();
    let ids: Vec<String> = [&k1, &k2]
        .iter()
        .map(|k| k["client_id"].as_str().unwrap().to_owned())
        .collect();
    for (k, s) in [&k1, &k2].iter().zip(&secrets) {
        assert!(s.starts_with(k["secret_hint"].as_str().unwrap()));
        assert!(k.get("secret_digest").is_none());
    }

    // Everything else an operator does afterwards.
    go!("get", format!("/admin/v1/accounts/{a}"), None);
    go!("get", format!("/admin/v1/accounts/{a}/environments"), None);
    go!("get", format!("/admin/v1/environments/{e}"), None);
    go!("get", format!("/admin/v1/accounts/{a}/keypairs"), None);
    go!("get", format!("/admin/v1/environments/{e}/keypairs"), None);
    for id in &ids {
        let r = go!("get", format!("/admin/v1/keypairs/{id}"), None);
        assert_eq!(r.status, 200);
        assert!(r.json().get("client_secret").is_none());
        let r = go!(
            "patch",
            format!("/admin/v1/keypairs/{id}"),
            Some(json!({"comment": "renamed", "enabled": true}))
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["comment"], "renamed");
    }
    go!("get", format!("/admin/v1/accounts/{a}/audit"), None);
    let r = go!("delete", format!("/admin/v1/keypairs/{}", ids[0]), None);
    assert_eq!(r.status, 204);
    assert_eq!(
        go!("get", format!("/admin/v1/keypairs/{}", ids[0]), None).status,
        404
    );

    for (secret, id) in secrets.iter().zip(&ids) {
        let digest = ring::digest::digest(&ring::digest::SHA256, secret.as_bytes());
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let b64 = STANDARD.encode(digest.as_ref());
        let with_secret = bodies
            .iter()
            .filter(|b| b.contains(secret.as_str()))
            .count();
        assert_eq!(
            with_secret, 1,
            "the secret of {id} appears in exactly one response"
        );
        assert!(
            bodies
                .iter()
                .all(|b| !b.contains(&hex) && !b.contains(&b64)),
            "no digest in any response"
        );
    }
}

async fn bad_input_gets_400_naming_the_field(db: TestDb) {
    let env = Env::new(db);
    let app = admin_app!(env);
    let op = operator(&env);
    let a = send(
        &app,
        call(
            "post",
            "/admin/v1/accounts",
            Some(&op),
            Some(json!({"name": "Acme"})),
        ),
    )
    .await
    .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let kp_path = format!("/admin/v1/accounts/{a}/keypairs");
    let kp = send(
        &app,
        call(
            "post",
            &kp_path,
            Some(&op),
            Some(json!({"scopes": ["feedback:read"]})),
        ),
    )
    .await
    .json();
    let kp_id = kp["client_id"].as_str().unwrap().to_owned();

    let cases: Vec<(&str, String, Value, &str)> = vec![
        (
            "post",
            "/admin/v1/accounts".into(),
            json!({"name": 5}),
            "name",
        ),
        (
            "post",
            "/admin/v1/accounts".into(),
            json!({"name": "x", "owner": "me"}),
            "owner",
        ),
        ("post", "/admin/v1/accounts".into(), json!({}), "body"),
        (
            "post",
            "/admin/v1/accounts".into(),
            json!({"name": "x".repeat(201)}),
            "name",
        ),
        (
            "post",
            "/admin/v1/accounts".into(),
            json!({"name": "  "}),
            "name",
        ),
        ("post", "/admin/v1/accounts".into(), json!(["name"]), "body"),
        (
            "post",
            kp_path.clone(),
            json!({"scopes": ["feedback:delete"]}),
            "scopes",
        ),
        (
            "post",
            kp_path.clone(),
            json!({"scopes": ["keygate:operator"]}),
            "scopes",
        ),
        (
            "post",
            kp_path.clone(),
            json!({"scopes": "feedback:read"}),
            "scopes",
        ),
        (
            "post",
            kp_path.clone(),
            json!({"scopes": ["feedback:read"], "comment": "x".repeat(1001)}),
            "comment",
        ),
        (
            "post",
            kp_path.clone(),
            json!({"scopes": ["feedback:read"], "enabled": "yes"}),
            "enabled",
        ),
        (
            "post",
            kp_path.clone(),
            json!({"scopes": ["feedback:read"], "token_lifetime_seconds": 999999}),
            "token_lifetime_seconds",
        ),
        (
            "post",
            kp_path.clone(),
            json!({"scopes": ["feedback:read"], "client_secret": "mine"}),
            "client_secret",
        ),
        (
            "patch",
            format!("/admin/v1/keypairs/{kp_id}"),
            json!({"enabled": 1}),
            "enabled",
        ),
        (
            "patch",
            format!("/admin/v1/keypairs/{kp_id}"),
            json!({"scopes": ["nope"]}),
            "scopes",
        ),
        (
            "patch",
            format!("/admin/v1/keypairs/{kp_id}"),
            json!({"client_id": "kg_x"}),
            "client_id",
        ),
        (
            "get",
            "/admin/v1/accounts/acct_nothex".into(),
            Value::Null,
            "account_id",
        ),
        (
            "get",
            "/admin/v1/keypairs/kg_%27%3B--".into(),
            Value::Null,
            "client_id",
        ),
        (
            "get",
            "/admin/v1/environments/123".into(),
            Value::Null,
            "environment_id",
        ),
        (
            "get",
            format!("/admin/v1/accounts/{a}/keypairs?limit=0"),
            Value::Null,
            "limit",
        ),
        (
            "get",
            format!("/admin/v1/accounts/{a}/keypairs?limit=ten"),
            Value::Null,
            "limit",
        ),
        (
            "get",
            format!("/admin/v1/accounts/{a}/keypairs?cursor=bogus!"),
            Value::Null,
            "cursor",
        ),
    ];
    for (method, path, body, expected) in cases {
        let body = if body.is_null() { None } else { Some(body) };
        let r = send(&app, call(method, &path, Some(&op), body)).await;
        assert_eq!(
            (r.status, field(&r).as_str()),
            (400, expected),
            "{method} {path}: {}",
            r.body
        );
        assert_eq!(r.json()["error"], "invalid_request");
    }

    let raw = |ct: &str, body: Vec<u8>| {
        actix_web::test::TestRequest::post()
            .uri("/admin/v1/accounts")
            .insert_header(("authorization", format!("Bearer {op}")))
            .insert_header(("content-type", ct.to_owned()))
            .set_payload(body)
    };
    let r = send(&app, raw("application/json", b"{\"name\": ".to_vec())).await;
    assert_eq!((r.status, field(&r).as_str()), (400, "body"));
    let r = send(
        &app,
        raw("application/json", b"{\"name\": \"\xff\"}".to_vec()),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = send(&app, raw("text/plain", b"{\"name\": \"x\"}".to_vec())).await;
    assert_eq!(r.status, 415);
    let r = send(
        &app,
        raw("application/x-www-form-urlencoded", b"name=x".to_vec()),
    )
    .await;
    assert_eq!(r.status, 415);
    let mut big = b"{\"name\": \"".to_vec();
    big.extend(std::iter::repeat_n(b'a', 100 * 1024));
    big.extend(b"\"}");
    let r = send(&app, raw("application/json", big)).await;
    assert_eq!(r.status, 413);
    assert!(r.json()["error"].is_string());
    // Nothing was created by any of that, and the API still works.
    let list = send(
        &app,
        call(
            "get",
            &format!("/admin/v1/accounts/{a}/keypairs"),
            Some(&op),
            None,
        ),
    )
    .await;
    assert_eq!(list.json()["items"].as_array().unwrap().len(), 1);
}

async fn cascades_and_changes_take_effect_at_the_token_endpoint(db: TestDb) {
    let env = Env::new(db);
    let app = admin_app!(env);
    let op = operator(&env);
    let mk = |v: &Reply| v.json()["id"].as_str().unwrap().to_owned();
    let a = mk(&send(
        &app,
        call(
            "post",
            "/admin/v1/accounts",
            Some(&op),
            Some(json!({"name": "A"})),
        ),
    )
    .await);
    let b = mk(&send(
        &app,
        call(
            "post",
            "/admin/v1/accounts",
            Some(&op),
            Some(json!({"name": "B"})),
        ),
    )
    .await);
    let e = mk(&send(
        &app,
        call(
            "post",
            &format!("/admin/v1/accounts/{a}/environments"),
            Some(&op),
            Some(json!({"name": "prod"})),
        ),
    )
    .await);
    let new = |path: String| {
        let op = op.clone();
        let app = &app;
        async move {
            let k = send(
                app,
                call(
                    "post",
                    &path,
                    Some(&op),
                    Some(json!({"scopes": ["feedback:read", "feedback:write"]})),
                ),
            )
            .await
            .json();
            (
                k["client_id"].as_str().unwrap().to_owned(),
                k["client_secret"].as_str().unwrap().to_owned(),
            )
        }
    };
    let env_kp = new(format!("/admin/v1/environments/{e}/keypairs")).await;
    let acct_kp = new(format!("/admin/v1/accounts/{a}/keypairs")).await;
    let other_kp = new(format!("/admin/v1/accounts/{b}/keypairs")).await;
    let status = |kp: &(String, String), extra: &'static str| {
        let req = token_request(&kp.0, &kp.1, extra);
        let app = &app;
        async move { send(app, req).await.status }
    };
    for kp in [&env_kp, &acct_kp, &other_kp] {
        assert_eq!(status(kp, "").await, 200);
    }

    // PATCH is effective at /token on the next request.
    let patch = |body: Value| {
        call(
            "patch",
            &format!("/admin/v1/keypairs/{}", acct_kp.0),
            Some(&op),
            Some(body),
        )
    };
    assert_eq!(
        send(&app, patch(json!({"enabled": false}))).await.status,
        200
    );
    assert_eq!(status(&acct_kp, "").await, 401);
    assert_eq!(
        send(
            &app,
            patch(json!({"enabled": true, "scopes": ["feedback:read"]}))
        )
        .await
        .status,
        200
    );
    assert_eq!(status(&acct_kp, "").await, 200);
    assert_eq!(status(&acct_kp, "&scope=feedback:write").await, 400);

    // Closing the environment: its keypairs fail at /token and leave the listings.
    assert_eq!(
        send(
            &app,
            call(
                "delete",
                &format!("/admin/v1/environments/{e}"),
                Some(&op),
                None
            )
        )
        .await
        .status,
        204
    );
    assert_eq!(status(&env_kp, "").await, 401);
    assert_eq!(
        send(
            &app,
            call(
                "get",
                &format!("/admin/v1/keypairs/{}", env_kp.0),
                Some(&op),
                None
            )
        )
        .await
        .status,
        404
    );
    assert_eq!(
        send(
            &app,
            call(
                "get",
                &format!("/admin/v1/environments/{e}/keypairs"),
                Some(&op),
                None
            )
        )
        .await
        .status,
        404
    );
    let envs = send(
        &app,
        call(
            "get",
            &format!("/admin/v1/accounts/{a}/environments"),
            Some(&op),
            None,
        ),
    )
    .await
    .json();
    assert_eq!(envs["items"], json!([]));
    assert_eq!(
        status(&acct_kp, "").await,
        200,
        "the account's own keypair is untouched"
    );

    // Closing the account: everything under it goes; the other account stays.
    assert_eq!(
        send(
            &app,
            call(
                "delete",
                &format!("/admin/v1/accounts/{a}"),
                Some(&op),
                None
            )
        )
        .await
        .status,
        204
    );
    assert_eq!(status(&acct_kp, "").await, 401);
    assert_eq!(
        send(
            &app,
            call("get", &format!("/admin/v1/accounts/{a}"), Some(&op), None)
        )
        .await
        .status,
        404
    );
    assert_eq!(
        send(
            &app,
            call(
                "get",
                &format!("/admin/v1/accounts/{a}/keypairs"),
                Some(&op),
                None
            )
        )
        .await
        .status,
        404
    );
    assert_eq!(status(&other_kp, "").await, 200);
    let others = send(
        &app,
        call(
            "get",
            &format!("/admin/v1/accounts/{b}/keypairs"),
            Some(&op),
            None,
        ),
    )
    .await
    .json();
    assert_eq!(others["items"].as_array().unwrap().len(), 1);
}

async fn listings_paginate_and_audit_records_every_change(db: TestDb) {
    let env = Env::new(db);
    let app = admin_app!(env);
    let op = operator(&env);
    let op_id = {
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(op.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        claims["client_id"].as_str().unwrap().to_owned()
    };
    let a = send(
        &app,
        call(
            "post",
            "/admin/v1/accounts",
            Some(&op),
            Some(json!({"name": "A"})),
        ),
    )
    .await
    .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut created = Vec::new();
    for i in 0..5 {
        let k = send(
            &app,
            call(
                "post",
                &format!("/admin/v1/accounts/{a}/keypairs"),
                Some(&op),
                Some(json!({"scopes": [], "comment": format!("k{i}")})),
            ),
        )
        .await
        .json();
        created.push(k["client_id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".into(),
        };
        let page = send(
            &app,
            call(
                "get",
                &format!("/admin/v1/accounts/{a}/keypairs{q}"),
                Some(&op),
                None,
            ),
        )
        .await
        .json();
        for item in page["items"].as_array().unwrap() {
            assert!(item.get("client_secret").is_none());
            seen.push(item["client_id"].as_str().unwrap().to_owned());
        }
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    created.reverse();
    assert_eq!(seen, created, "newest first, each once");

    send(
        &app,
        call(
            "patch",
            &format!("/admin/v1/keypairs/{}", created[0]),
            Some(&op),
            Some(json!({"enabled": false})),
        ),
    )
    .await;
    send(
        &app,
        call(
            "delete",
            &format!("/admin/v1/keypairs/{}", created[1]),
            Some(&op),
            None,
        ),
    )
    .await;
    let audit = send(
        &app,
        call(
            "get",
            &format!("/admin/v1/accounts/{a}/audit?limit=3"),
            Some(&op),
            None,
        ),
    )
    .await
    .json();
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["action"], "keypair.delete");
    assert_eq!(items[0]["target"], created[1].as_str());
    assert_eq!(items[1]["action"], "keypair.update");
    assert_eq!(items[1]["detail"], "enabled");
    assert!(items.iter().all(|i| i["actor"] == op_id.as_str()));
    assert!(audit["next_cursor"].is_string());
}

async fn trailing_data_after_the_body_is_refused(db: TestDb) {
    let env = Env::new(db);
    let app = admin_app!(env);
    let op = operator(&env);
    let a = send(
        &app,
        call(
            "post",
            "/admin/v1/accounts",
            Some(&op),
            Some(json!({"name": "A"})),
        ),
    )
    .await
    .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let kp = send(
        &app,
        call(
            "post",
            &format!("/admin/v1/accounts/{a}/keypairs"),
            Some(&op),
            Some(json!({"scopes": []})),
        ),
    )
    .await
    .json()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let raw = |m: actix_web::test::TestRequest, path: &str, body: &str| {
        m.uri(path)
            .insert_header(("authorization", format!("Bearer {op}")))
            .insert_header(("content-type", "application/json"))
            .set_payload(body.to_owned())
    };
    let before = env.db.dump_all_columns();
    let r = send(
        &app,
        raw(
            actix_web::test::TestRequest::patch(),
            &format!("/admin/v1/keypairs/{kp}"),
            r#"{"enabled":false}{"enabled":true}"#,
        ),
    )
    .await;
    assert_eq!((r.status, field(&r).as_str()), (400, "body"), "{}", r.body);
    let r = send(
        &app,
        raw(
            actix_web::test::TestRequest::post(),
            "/admin/v1/accounts",
            r#"{"name":"Acme"} this is not JSON"#,
        ),
    )
    .await;
    assert_eq!((r.status, field(&r).as_str()), (400, "body"), "{}", r.body);
    assert_eq!(env.db.dump_all_columns(), before);
    let k = send(
        &app,
        call("get", &format!("/admin/v1/keypairs/{kp}"), Some(&op), None),
    )
    .await
    .json();
    assert_eq!(k["enabled"], true);
}
