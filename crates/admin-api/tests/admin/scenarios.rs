//! Whole scenarios through the API, with the typed [`AdminClient`]: the lifecycle an
//! operator scripts, input validation, cascades seen at `/token`, pagination, the audit
//! trail and the clock that stamps changes.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keypair_store::testing::TestDb;
use serde_json::{json, Value};

use crate::client::{
    operator, token_status, AdminClient, KeypairChange, NewKeypair, Owner, PageQuery,
};
use crate::{admin_app, Env};

keypair_store::on_both_backends_async! {
    lifecycle_shows_each_secret_exactly_once;
    bad_input_gets_400_naming_the_field;
    cascades_and_changes_take_effect_at_the_token_endpoint;
    listings_paginate_and_audit_records_every_change;
    trailing_data_after_the_body_is_refused;
    names_with_direction_overrides_or_invisible_characters_are_refused;
    changes_are_stamped_by_the_api_clock;
    corrupt_rows_answer_500_with_the_fixed_body;
}

async fn lifecycle_shows_each_secret_exactly_once(db: TestDb) {
    let env = Env::new(db);
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);

    let a = op.create_account("Acme").await.unwrap();
    assert_eq!(a.name, "Acme");
    let e = op.create_environment(&a.id, "prod").await.unwrap();
    assert_eq!(
        (e.account_id.as_str(), e.name.as_str()),
        (a.id.as_str(), "prod")
    );

    let k1 = op
        .create_account_keypair(
            &a.id,
            &NewKeypair::scopes(&["feedback:read"]).comment("ingest"),
        )
        .await
        .unwrap();
    assert_eq!(op.last_header("cache-control").as_deref(), Some("no-store"));
    let k2 = op
        .create_env_keypair(
            &e.id,
            &NewKeypair::scopes(&["feedback:write", "keygate:admin"])
                .comment("env admin")
                .enabled(false)
                .token_lifetime_seconds(600),
        )
        .await
        .unwrap();
    assert_eq!(k1.keypair.owner, Some(Owner::account(&a.id)));
    assert_eq!(k2.keypair.owner, Some(Owner::environment(&a.id, &e.id)));
    assert!(!k2.keypair.enabled);
    assert_eq!(k2.keypair.token_lifetime_seconds, Some(600));
    assert_eq!(k2.keypair.scopes, ["feedback:write", "keygate:admin"]);
    for k in [&k1, &k2] {
        assert!(k.client_secret.starts_with(&k.keypair.secret_hint));
        assert_eq!(k.keypair.last_used_at, None);
    }

    // Everything else an operator does afterwards.
    op.get_account(&a.id).await.unwrap();
    op.list_environments(&a.id, &PageQuery::default())
        .await
        .unwrap();
    op.get_environment(&e.id).await.unwrap();
    op.list_account_keypairs(&a.id, &PageQuery::default())
        .await
        .unwrap();
    op.list_env_keypairs(&e.id, &PageQuery::default())
        .await
        .unwrap();
    for k in [&k1, &k2] {
        op.get_keypair(k.client_id()).await.unwrap();
        assert!(!op.last_body().contains("client_secret"));
        let patched = op
            .patch_keypair(
                k.client_id(),
                &KeypairChange::default().comment("renamed").enabled(true),
            )
            .await
            .unwrap();
        assert_eq!(patched.comment, "renamed");
    }
    op.audit(&a.id, &PageQuery::default()).await.unwrap();
    op.delete_keypair(k1.client_id()).await.unwrap();
    assert_eq!(
        op.get_keypair(k1.client_id()).await.unwrap_err().status,
        404
    );

    let bodies = op.bodies();
    assert!(
        bodies.iter().all(|b| !b.contains("secret_digest")),
        "no response has a digest field"
    );
    for k in [&k1, &k2] {
        let (id, secret) = (k.client_id(), &k.client_secret);
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
    let op = AdminClient::new(&app, operator(&env).token);
    let a = op.create_account("Acme").await.unwrap().id;
    let kp_path = format!("/admin/v1/accounts/{a}/keypairs");
    let kp_id = op
        .create_account_keypair(&a, &NewKeypair::scopes(&["feedback:read"]))
        .await
        .unwrap()
        .keypair
        .client_id;

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
        let r = op.raw(method, &path, body).await;
        let err = r.error();
        assert_eq!(
            (r.status, err.field.as_deref()),
            (400, Some(expected)),
            "{method} {path}: {}",
            r.body
        );
        assert_eq!(err.error, "invalid_request");
    }

    let accounts = "/admin/v1/accounts";
    let r = op
        .raw_body("post", accounts, "application/json", "{\"name\": ")
        .await;
    assert_eq!((r.status, r.error().field.as_deref()), (400, Some("body")));
    let r = op
        .raw_body(
            "post",
            accounts,
            "application/json",
            b"{\"name\": \"\xff\"}".to_vec(),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = op
        .raw_body("post", accounts, "text/plain", "{\"name\": \"x\"}")
        .await;
    assert_eq!(r.status, 415);
    let r = op
        .raw_body(
            "post",
            accounts,
            "application/x-www-form-urlencoded",
            "name=x",
        )
        .await;
    assert_eq!(r.status, 415);
    let mut big = b"{\"name\": \"".to_vec();
    big.extend(std::iter::repeat_n(b'a', 100 * 1024));
    big.extend(b"\"}");
    let r = op.raw_body("post", accounts, "application/json", big).await;
    assert_eq!(r.status, 413);
    assert!(!r.error().error.is_empty());
    // Nothing was created by any of that, and the API still works.
    let list = op
        .list_account_keypairs(&a, &PageQuery::default())
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
}

async fn cascades_and_changes_take_effect_at_the_token_endpoint(db: TestDb) {
    let env = Env::new(db);
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);
    let a = op.create_account("A").await.unwrap().id;
    let b = op.create_account("B").await.unwrap().id;
    let e = op.create_environment(&a, "prod").await.unwrap().id;
    let read_write = NewKeypair::scopes(&["feedback:read", "feedback:write"]);
    let env_kp = op.create_env_keypair(&e, &read_write).await.unwrap();
    let acct_kp = op.create_account_keypair(&a, &read_write).await.unwrap();
    let other_kp = op.create_account_keypair(&b, &read_write).await.unwrap();
    for kp in [&env_kp, &acct_kp, &other_kp] {
        assert_eq!(token_status(&app, kp, "").await, 200);
    }

    // PATCH is effective at /token on the next request.
    op.patch_keypair(
        acct_kp.client_id(),
        &KeypairChange::default().enabled(false),
    )
    .await
    .unwrap();
    assert_eq!(token_status(&app, &acct_kp, "").await, 401);
    op.patch_keypair(
        acct_kp.client_id(),
        &KeypairChange::default()
            .enabled(true)
            .scopes(&["feedback:read"]),
    )
    .await
    .unwrap();
    assert_eq!(token_status(&app, &acct_kp, "").await, 200);
    assert_eq!(
        token_status(&app, &acct_kp, "&scope=feedback:write").await,
        400
    );

    // Closing the environment: its keypairs fail at /token and leave the listings.
    op.close_environment(&e).await.unwrap();
    assert_eq!(token_status(&app, &env_kp, "").await, 401);
    let gone = op.get_keypair(env_kp.client_id()).await.unwrap_err();
    assert_eq!(gone.status, 404);
    let gone = op
        .list_env_keypairs(&e, &PageQuery::default())
        .await
        .unwrap_err();
    assert_eq!(gone.status, 404);
    let envs = op
        .list_environments(&a, &PageQuery::default())
        .await
        .unwrap();
    assert!(envs.items.is_empty());
    assert_eq!(
        token_status(&app, &acct_kp, "").await,
        200,
        "the account's own keypair is untouched"
    );

    // Closing the account: everything under it goes; the other account stays.
    op.close_account(&a).await.unwrap();
    assert_eq!(token_status(&app, &acct_kp, "").await, 401);
    assert_eq!(op.get_account(&a).await.unwrap_err().status, 404);
    let gone = op
        .list_account_keypairs(&a, &PageQuery::default())
        .await
        .unwrap_err();
    assert_eq!(gone.status, 404);
    assert_eq!(token_status(&app, &other_kp, "").await, 200);
    let others = op
        .list_account_keypairs(&b, &PageQuery::default())
        .await
        .unwrap();
    assert_eq!(others.items.len(), 1);
}

async fn listings_paginate_and_audit_records_every_change(db: TestDb) {
    let env = Env::new(db);
    let app = admin_app!(env);
    let operator = operator(&env);
    let op = AdminClient::new(&app, &operator.token);
    let a = op.create_account("A").await.unwrap().id;
    let mut created = Vec::new();
    for i in 0..5 {
        let k = op
            .create_account_keypair(&a, &NewKeypair::scopes(&[]).comment(&format!("k{i}")))
            .await
            .unwrap();
        created.push(k.keypair.client_id);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = op
            .list_account_keypairs(&a, &PageQuery::limit(2).after(cursor))
            .await
            .unwrap();
        assert!(!op.last_body().contains("client_secret"));
        seen.extend(page.items.into_iter().map(|k| k.client_id));
        pages += 1;
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    created.reverse();
    assert_eq!(seen, created, "newest first, each once");

    op.patch_keypair(&created[0], &KeypairChange::default().enabled(false))
        .await
        .unwrap();
    op.delete_keypair(&created[1]).await.unwrap();
    let audit = op.audit(&a, &PageQuery::limit(3)).await.unwrap();
    let items = &audit.items;
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].action, "keypair.delete");
    assert_eq!(items[0].target, created[1]);
    assert_eq!(items[1].action, "keypair.update");
    assert_eq!(items[1].detail, "enabled");
    assert!(items.iter().all(|i| i.actor == operator.client_id));
    assert!(items.iter().all(|i| i.id.starts_with("aud_")));
    assert!(audit.next_cursor.is_some());
}

async fn trailing_data_after_the_body_is_refused(db: TestDb) {
    let env = Env::new(db);
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);
    let a = op.create_account("A").await.unwrap().id;
    let kp = op
        .create_account_keypair(&a, &NewKeypair::scopes(&[]))
        .await
        .unwrap()
        .keypair
        .client_id;
    let before = env.db.dump_all_columns();

    for (method, path, body) in [
        (
            "patch",
            format!("/admin/v1/keypairs/{kp}"),
            r#"{"enabled":false}{"enabled":true}"#,
        ),
        (
            "post",
            "/admin/v1/accounts".to_owned(),
            r#"{"name":"Acme"} this is not JSON"#,
        ),
    ] {
        let r = op.raw_body(method, &path, "application/json", body).await;
        let err = r.error();
        assert_eq!(
            (r.status, err.error.as_str(), err.field.as_deref()),
            (400, "invalid_request", Some("body")),
            "{method} {path}: {}",
            r.body
        );
    }

    // Nothing was changed or created.
    assert!(op.get_keypair(&kp).await.unwrap().enabled);
    assert_eq!(env.db.dump_all_columns(), before);
}

/// Characters that can make a name read differently from what it is (in the audit
/// trail, in the console): direction overrides and isolates, zero-width characters.
const SPOOFING: [char; 7] = [
    '\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{200B}', '\u{200D}', '\u{200F}',
];

async fn names_with_direction_overrides_or_invisible_characters_are_refused(db: TestDb) {
    let env = Env::new(db);
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);
    let a = op.create_account("Acme").await.unwrap().id;
    let before = env.db.dump_all_columns();
    for c in SPOOFING {
        let name = format!("Acme{c}gpj.exe");
        let err = op.create_account(&name).await.unwrap_err();
        assert_eq!(
            (err.status, err.error.as_str(), err.field.as_deref()),
            (400, "invalid_request", Some("name")),
            "account name with U+{:04X}",
            c as u32
        );
        let err = op.create_environment(&a, &name).await.unwrap_err();
        assert_eq!(
            (err.status, err.error.as_str(), err.field.as_deref()),
            (400, "invalid_request", Some("name")),
            "environment name with U+{:04X}",
            c as u32
        );
    }
    assert_eq!(env.db.dump_all_columns(), before, "nothing was created");
}

async fn changes_are_stamped_by_the_api_clock(db: TestDb) {
    let clock = clock::TestClock::new(time::macros::datetime!(2031-02-03 04:05:06 UTC));
    let env = Env::with_clock(db, clock.clock());
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);

    let a = op.create_account("A").await.unwrap();
    assert_eq!(a.created_at, "2031-02-03T04:05:06Z");
    clock.advance(Duration::from_secs(30));
    let e = op.create_environment(&a.id, "prod").await.unwrap();
    assert_eq!(e.created_at, "2031-02-03T04:05:36Z");
    clock.advance(Duration::from_secs(60));
    let k = op
        .create_account_keypair(&a.id, &NewKeypair::scopes(&[]))
        .await
        .unwrap()
        .keypair;
    assert_eq!(
        (k.created_at.as_str(), k.updated_at.as_str()),
        ("2031-02-03T04:06:36Z", "2031-02-03T04:06:36Z")
    );
    clock.advance(Duration::from_secs(60));
    let k = op
        .patch_keypair(&k.client_id, &KeypairChange::default().enabled(false))
        .await
        .unwrap();
    assert_eq!(
        (k.created_at.as_str(), k.updated_at.as_str()),
        ("2031-02-03T04:06:36Z", "2031-02-03T04:07:36Z")
    );
    let audit = op.audit(&a.id, &PageQuery::default()).await.unwrap();
    let at: Vec<&str> = audit.items.iter().map(|r| r.at.as_str()).collect();
    assert_eq!(
        at,
        [
            "2031-02-03T04:07:36Z",
            "2031-02-03T04:06:36Z",
            "2031-02-03T04:05:36Z",
            "2031-02-03T04:05:06Z"
        ]
    );
}

/// A stored row that cannot be decoded is the server's problem: 500 with the fixed
/// body (the cause goes to the log), not a 400 blaming the caller or a 409.
async fn corrupt_rows_answer_500_with_the_fixed_body(db: TestDb) {
    let env = Env::new(db);
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);
    let a = op.create_account("A").await.unwrap();
    let k = op
        .create_account_keypair(&a.id, &NewKeypair::scopes(&["feedback:read"]))
        .await
        .unwrap()
        .keypair;
    env.db.execute_sql(&format!(
        "UPDATE keypairs SET scopes = 'not a \"scope\"' WHERE client_id = '{}'",
        k.client_id
    ));
    for path in [
        format!("/admin/v1/keypairs/{}", k.client_id),
        format!("/admin/v1/accounts/{}/keypairs", a.id),
    ] {
        let r = op.raw("GET", &path, None).await;
        assert_eq!(r.status, 500, "{path}: {}", r.body);
        assert_eq!(
            r.json(),
            serde_json::json!({"error": "internal_error", "message": "internal error"}),
            "{path}"
        );
    }
}
