//! Token status at the admin API: `revoke-tokens`, and the in-process check that a
//! caller's token is of its keypair's current VALID generation, so revoking, disabling
//! or removing a scope stops a leaked admin token at once; and `keygate:introspect`,
//! which only operators may grant.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use keypair_store::testing::TestDb;
use keypair_store::ClientSecret;
use serde_json::{json, Value};

use crate::client::{operator, AdminClient, CreatedKeypair, KeypairChange, NewKeypair, PageQuery};
use crate::{admin_app, call, send, Env, ISSUER};

keypair_store::on_both_backends_async! {
    revoke_tokens_stops_old_admin_tokens_at_once_and_new_ones_work;
    revoke_tokens_takes_no_body_or_an_empty_object;
    a_disabled_admin_token_works_again_after_an_enable;
    removing_a_scope_stops_the_admin_tokens_issued_before;
    a_token_must_name_its_keypairs_current_status_entry_exactly;
    only_operators_grant_keygate_introspect;
}

/// A fresh admin-API token of a keypair created through the API.
fn token_of(env: &Env, kp: &CreatedKeypair) -> String {
    env.mint(
        kp.client_id(),
        &ClientSecret::from_presented(&kp.client_secret),
    )
}

/// The status of `GET /admin/v1/accounts/{account}` with `token`; a 401 must carry the
/// same answer as for a disabled keypair.
async fn status_of<S, B>(app: &S, token: &str, account: &str) -> u16
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let path = format!("/admin/v1/accounts/{account}");
    let r = send(app, call("get", &path, Some(token), None)).await;
    if r.status == 401 {
        assert_eq!(
            r.json(),
            json!({"error": "invalid_token", "message": "the access token is invalid"})
        );
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer realm=\"keygate\", error=\"invalid_token\"")
        );
    }
    r.status
}

async fn revoke_tokens_stops_old_admin_tokens_at_once_and_new_ones_work(db: TestDb) {
    let env = Env::new(db);
    let app = admin_app!(env);
    let operator = operator(&env);
    let op = AdminClient::new(&app, &operator.token);
    let a = op.create_account("A").await.unwrap().id;
    let admin = op
        .create_account_keypair(&a, &NewKeypair::scopes(&["keygate:admin"]))
        .await
        .unwrap();
    let other_admin = op
        .create_account_keypair(&a, &NewKeypair::scopes(&["keygate:admin"]))
        .await
        .unwrap();
    let leaked = token_of(&env, &admin);
    let also_leaked = token_of(&env, &admin);
    let bystander = token_of(&env, &other_admin);
    assert_eq!(status_of(&app, &leaked, &a).await, 200);

    op.revoke_tokens(admin.client_id()).await.unwrap();
    // Every token issued so far, on the very next request.
    assert_eq!(status_of(&app, &leaked, &a).await, 401);
    assert_eq!(status_of(&app, &also_leaked, &a).await, 401);
    // Another keypair's tokens are untouched.
    assert_eq!(status_of(&app, &bystander, &a).await, 200);
    // A new token works, and the old ones stay refused.
    let fresh = token_of(&env, &admin);
    assert_eq!(status_of(&app, &fresh, &a).await, 200);
    assert_eq!(status_of(&app, &leaked, &a).await, 401);

    // An administrator may revoke its own tokens, including the one it calls with.
    let own = AdminClient::new(&app, &fresh);
    own.revoke_tokens(admin.client_id()).await.unwrap();
    assert_eq!(status_of(&app, &fresh, &a).await, 401);
    // Revoking a keypair without live tokens is fine too.
    op.revoke_tokens(admin.client_id()).await.unwrap();
    assert_eq!(status_of(&app, &token_of(&env, &admin), &a).await, 200);

    // The audit trail names who revoked whose tokens.
    let audit = op.audit(&a, &PageQuery::default()).await.unwrap();
    let revocations: Vec<(&str, &str)> = audit
        .items
        .iter()
        .filter(|r| r.action == "keypair.revoke_tokens")
        .map(|r| (r.actor.as_str(), r.target.as_str()))
        .collect();
    assert_eq!(
        revocations,
        [
            (operator.client_id.as_str(), admin.client_id()),
            (admin.client_id(), admin.client_id()),
            (operator.client_id.as_str(), admin.client_id()),
        ]
    );
}

async fn revoke_tokens_takes_no_body_or_an_empty_object(db: TestDb) {
    let env = Env::new(db);
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);
    let a = op.create_account("A").await.unwrap().id;
    let kp = op
        .create_account_keypair(&a, &NewKeypair::scopes(&["feedback:read"]))
        .await
        .unwrap();
    let path = format!("/admin/v1/keypairs/{}/revoke-tokens", kp.client_id());
    let ok: [(&str, &str); 5] = [
        ("application/json", "{}"),
        ("application/json", " { }\r\n"),
        ("application/json", ""),
        ("text/plain", ""),
        ("application/json; charset=utf-8", "{}"),
    ];
    for (content_type, body) in ok {
        let r = op.raw_body("post", &path, content_type, body).await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (204, ""),
            "{content_type} {body:?}"
        );
    }
    assert_eq!(op.raw("post", &path, None).await.status, 204);

    let bad: [(&str, &str, u16, Option<&str>); 7] = [
        ("application/json", r#"{"all": true}"#, 400, Some("all")),
        ("application/json", "[]", 400, Some("body")),
        ("application/json", "null", 400, Some("body")),
        ("application/json", "{", 400, Some("body")),
        ("application/json", "{}{}", 400, Some("body")),
        ("application/json", " ", 400, Some("body")),
        ("text/plain", "{}", 415, None),
    ];
    for (content_type, body, status, field) in bad {
        let r = op.raw_body("post", &path, content_type, body).await;
        let err = r.error();
        assert_eq!(
            (r.status, err.field.as_deref()),
            (status, field),
            "{content_type} {body:?}: {}",
            r.body
        );
    }
    let r = op
        .raw_body("post", &path, "application/json", vec![b' '; 65 * 1024])
        .await;
    assert_eq!(r.status, 413);

    // Only the accepted requests were recorded.
    let audit = op.audit(&a, &PageQuery::default()).await.unwrap();
    let n = audit
        .items
        .iter()
        .filter(|r| r.action == "keypair.revoke_tokens" && r.target == kp.client_id())
        .count();
    assert_eq!(n, ok.len() + 1);
}

async fn a_disabled_admin_token_works_again_after_an_enable(db: TestDb) {
    let env = Env::new(db);
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);
    let a = op.create_account("A").await.unwrap().id;
    let e = op.create_environment(&a, "prod").await.unwrap().id;
    for admin in [
        op.create_account_keypair(&a, &NewKeypair::scopes(&["keygate:admin"]))
            .await
            .unwrap(),
        op.create_env_keypair(&e, &NewKeypair::scopes(&["keygate:admin"]))
            .await
            .unwrap(),
    ] {
        let token = token_of(&env, &admin);
        let env_path = format!("/admin/v1/environments/{e}");
        let get_env = || send(&app, call("get", &env_path, Some(&token), None));
        assert_eq!(get_env().await.status, 200);

        op.patch_keypair(admin.client_id(), &KeypairChange::default().enabled(false))
            .await
            .unwrap();
        assert_eq!(get_env().await.status, 401);
        op.patch_keypair(admin.client_id(), &KeypairChange::default().enabled(true))
            .await
            .unwrap();
        assert_eq!(get_env().await.status, 200, "the same token works again");

        // Changes that take nothing away leave its tokens alone.
        op.patch_keypair(
            admin.client_id(),
            &KeypairChange::default()
                .comment("renamed")
                .scopes(&["keygate:admin", "feedback:read"]),
        )
        .await
        .unwrap();
        assert_eq!(get_env().await.status, 200);

        // After a revoke, an enable does not bring them back.
        op.patch_keypair(admin.client_id(), &KeypairChange::default().enabled(false))
            .await
            .unwrap();
        op.revoke_tokens(admin.client_id()).await.unwrap();
        op.patch_keypair(admin.client_id(), &KeypairChange::default().enabled(true))
            .await
            .unwrap();
        assert_eq!(get_env().await.status, 401);
    }
}

async fn removing_a_scope_stops_the_admin_tokens_issued_before(db: TestDb) {
    let env = Env::new(db);
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);
    let a = op.create_account("A").await.unwrap().id;
    let admin = op
        .create_account_keypair(&a, &NewKeypair::scopes(&["keygate:admin", "feedback:read"]))
        .await
        .unwrap();
    let old = token_of(&env, &admin);
    assert_eq!(status_of(&app, &old, &a).await, 200);

    // It keeps keygate:admin; the scope removed is another one.
    op.patch_keypair(
        admin.client_id(),
        &KeypairChange::default().scopes(&["keygate:admin"]),
    )
    .await
    .unwrap();
    assert_eq!(status_of(&app, &old, &a).await, 401);
    let fresh = token_of(&env, &admin);
    assert_eq!(status_of(&app, &fresh, &a).await, 200);

    // Removing keygate:admin itself: 401 for the tokens issued before (their
    // generation is gone), not 403.
    op.patch_keypair(
        admin.client_id(),
        &KeypairChange::default().scopes(&["keygate:introspect"]),
    )
    .await
    .unwrap();
    assert_eq!(status_of(&app, &fresh, &a).await, 401);
    // A new token is for the admin API, but holds no admin scope: 403.
    let powerless = token_of(&env, &admin);
    assert_eq!(status_of(&app, &powerless, &a).await, 403);
}

async fn a_token_must_name_its_keypairs_current_status_entry_exactly(db: TestDb) {
    let env = Env::new(db);
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);
    let a = op.create_account("A").await.unwrap().id;
    let admin = op
        .create_account_keypair(&a, &NewKeypair::scopes(&["keygate:admin"]))
        .await
        .unwrap();
    let other = op
        .create_account_keypair(&a, &NewKeypair::scopes(&["keygate:admin"]))
        .await
        .unwrap();
    let token = token_of(&env, &admin);
    let other_token = token_of(&env, &other);

    let status_list = |t: &str| -> Value {
        let payload = t.split('.').nth(1).unwrap();
        use base64::Engine as _;
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        claims["status"]["status_list"].clone()
    };
    let own = status_list(&token);
    let uri = own["uri"].as_str().unwrap().to_owned();
    let idx = own["idx"].as_u64().unwrap();
    let list_id = uri
        .strip_prefix(&format!("{ISSUER}/statuslists/"))
        .expect("the token endpoint's status URI")
        .to_owned();

    // The same claims signed again: accepted (the re-signing itself is sound).
    let same = env.resign(&token, |_| {});
    assert_eq!(status_of(&app, &same, &a).await, 200);

    let with_entry = |uri: &str, idx: u64| {
        env.resign(&token, |c| {
            c["status"] = json!({"status_list": {"uri": uri, "idx": idx}});
        })
    };
    let wrong: Vec<(String, String)> = vec![
        ("another index".into(), with_entry(&uri, idx ^ 1)),
        (
            "another host".into(),
            with_entry(&format!("http://elsewhere.test/statuslists/{list_id}"), idx),
        ),
        (
            "the issuer as a mere prefix of the host".into(),
            with_entry(&format!("{ISSUER}.evil.test/statuslists/{list_id}"), idx),
        ),
        (
            "another path prefix".into(),
            with_entry(&format!("{ISSUER}/admin/statuslists/{list_id}"), idx),
        ),
        (
            "a suffix after the list id".into(),
            with_entry(&format!("{uri}/"), idx),
        ),
        (
            "a query after the list id".into(),
            with_entry(&format!("{uri}?v=2"), idx),
        ),
        ("another list".into(), {
            let other_list = format!("{ISSUER}/statuslists/sl_{}", "0".repeat(32));
            with_entry(&other_list, idx)
        }),
        ("another keypair's entry".into(), {
            let theirs = status_list(&other_token);
            env.resign(&token, |c| {
                c["status"] = json!({"status_list": theirs});
            })
        }),
        (
            "no status claim".into(),
            env.resign(&token, |c| {
                c.as_object_mut().unwrap().remove("status");
            }),
        ),
        (
            "a status claim without a list".into(),
            env.resign(&token, |c| c["status"] = json!({})),
        ),
    ];
    for (what, forged) in &wrong {
        let path = format!("/admin/v1/accounts/{a}");
        let r = send(&app, call("get", &path, Some(forged), None)).await;
        assert_eq!(r.status, 401, "{what}: {}", r.body);
    }
    // The genuine tokens still work.
    assert_eq!(status_of(&app, &token, &a).await, 200);
    assert_eq!(status_of(&app, &other_token, &a).await, 200);
}

async fn only_operators_grant_keygate_introspect(db: TestDb) {
    let env = Env::new(db);
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);
    let a = op.create_account("A").await.unwrap().id;
    let e = op.create_environment(&a, "prod").await.unwrap().id;
    let acct_admin = op
        .create_account_keypair(&a, &NewKeypair::scopes(&["keygate:admin"]))
        .await
        .unwrap();
    let env_admin = op
        .create_env_keypair(&e, &NewKeypair::scopes(&["keygate:admin"]))
        .await
        .unwrap();
    let acct_kp = op
        .create_account_keypair(&a, &NewKeypair::scopes(&["feedback:read"]))
        .await
        .unwrap();
    let env_kp = op
        .create_env_keypair(&e, &NewKeypair::scopes(&["feedback:read"]))
        .await
        .unwrap();
    let acct_client = AdminClient::new(&app, token_of(&env, &acct_admin));
    let env_client = AdminClient::new(&app, token_of(&env, &env_admin));
    let before = env.db.dump_all_columns();

    let with_introspect = NewKeypair::scopes(&["feedback:read", "keygate:introspect"]);
    let add_introspect = KeypairChange::default().scopes(&["feedback:read", "keygate:introspect"]);
    let refusals = [
        acct_client
            .create_account_keypair(&a, &with_introspect)
            .await,
        acct_client.create_env_keypair(&e, &with_introspect).await,
        env_client.create_env_keypair(&e, &with_introspect).await,
    ]
    .into_iter()
    .map(|r| r.map(|_| ()))
    .chain([
        acct_client
            .patch_keypair(acct_kp.client_id(), &add_introspect)
            .await
            .map(|_| ()),
        acct_client
            .patch_keypair(env_kp.client_id(), &add_introspect)
            .await
            .map(|_| ()),
        env_client
            .patch_keypair(env_kp.client_id(), &add_introspect)
            .await
            .map(|_| ()),
    ]);
    for (i, r) in refusals.enumerate() {
        let err = r.expect_err("refused");
        assert_eq!(
            (err.status, err.error.as_str(), err.field.as_deref()),
            (400, "invalid_request", Some("scopes")),
            "case {i}: {}",
            err.message
        );
        assert!(
            err.message.contains("keygate:introspect"),
            "{}",
            err.message
        );
    }
    assert_eq!(env.db.dump_all_columns(), before, "nothing changed");

    // Operators may grant it, at creation and by PATCH.
    let granted = op
        .create_env_keypair(&e, &with_introspect)
        .await
        .unwrap()
        .keypair;
    assert_eq!(granted.scopes, ["feedback:read", "keygate:introspect"]);
    let patched = op
        .patch_keypair(acct_kp.client_id(), &add_introspect)
        .await
        .unwrap();
    assert_eq!(patched.scopes, ["feedback:read", "keygate:introspect"]);

    // An administrator may still change such a keypair, but not name the scope: a
    // body that lists it is refused even though the keypair holds it already.
    let err = env_client
        .patch_keypair(&granted.client_id, &add_introspect)
        .await
        .unwrap_err();
    assert_eq!((err.status, err.field.as_deref()), (400, Some("scopes")));
    let kept = env_client
        .patch_keypair(&granted.client_id, &KeypairChange::default().comment("x"))
        .await
        .unwrap();
    assert_eq!(kept.scopes, ["feedback:read", "keygate:introspect"]);
    let dropped = env_client
        .patch_keypair(
            &granted.client_id,
            &KeypairChange::default().scopes(&["feedback:read"]),
        )
        .await
        .unwrap();
    assert_eq!(dropped.scopes, ["feedback:read"]);
}
