//! The keypair lifecycle at the admin API (issue 12): secret rotation with overlap and
//! ending one secret (`POST`/`DELETE .../secrets`), `expires_at`,
//! `allowed_addresses` and `token_lifetime_seconds` on create and PATCH. Secrets are
//! tried at the real `/token`; the effects on tokens already issued are read back from
//! the status list `/statuslists/{id}` serves. Time comes from a test clock.

use std::rc::Rc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::TestRequest;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use clock::TestClock;
use keypair_store::testing::TestDb;
use serde_json::{json, Value};
use time::macros::datetime;

use crate::client::{
    operator, AdminClient, CreatedKeypair, KeypairChange, NewKeypair, PageQuery, RotateSecret,
    Secret,
};
use crate::{admin_app, send, Env, Reply, ISSUER};

keypair_store::on_both_backends_async! {
    both_secrets_work_inside_the_overlap_and_the_old_one_fails_after_it;
    an_overlap_of_zero_ends_the_old_secret_at_once;
    a_third_secret_is_a_conflict_unless_end_oldest;
    deleting_a_secret_ends_it_at_once;
    concurrent_rotations_never_leave_three_live_secrets;
    the_overlap_is_a_whole_number_from_0_to_30_days;
    the_new_secret_is_shown_once;
    a_rotation_while_disabled_invalidates_for_good;
    planned_changes_leave_live_tokens_valid;
    an_earlier_expiry_within_the_token_horizon_invalidates;
    expiry_is_rfc3339_in_the_future;
    allowed_addresses_are_checked_and_shown_canonically;
    one_patch_composes_several_fields;
    rotations_and_ends_are_audited;
}

/// The start of every test's clock.
const T0: time::OffsetDateTime = datetime!(2031-02-03 04:05:06 UTC);

/// Status values in a list (draft-ietf-oauth-status-list).
const VALID: u8 = 0;
const INVALID: u8 = 1;
const SUSPENDED: u8 = 2;

fn lab(db: TestDb) -> (TestClock, Env) {
    let clock = TestClock::new(T0);
    let env = Env::with_clock(db, clock.clock());
    (clock, env)
}

/// `T0` plus `seconds`, as views write times.
fn at(seconds: i64) -> String {
    (T0 + time::Duration::seconds(seconds))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// `POST /token` with client credentials.
async fn token_reply<S, B>(app: &S, client_id: &str, secret: &str) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let req = TestRequest::post()
        .uri("/token")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .insert_header((
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{client_id}:{secret}"))),
        ))
        .set_payload("grant_type=client_credentials");
    send(app, req).await
}

/// Whether `/token` issues a token for this secret; a refusal must be the answer for a
/// wrong secret, `401 invalid_client`.
async fn works<S, B>(app: &S, client_id: &str, secret: &str) -> bool
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = token_reply(app, client_id, secret).await;
    match r.status {
        200 => true,
        401 => {
            assert_eq!(r.json()["error"], "invalid_client", "{}", r.body);
            false
        }
        other => panic!("/token answered {other}: {}", r.body),
    }
}

/// A token for this secret (which must work).
async fn access_token<S, B>(app: &S, client_id: &str, secret: &str) -> String
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let r = token_reply(app, client_id, secret).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["access_token"].as_str().unwrap().to_owned()
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The status the served list gives `access_token`'s entry, read after the
/// at-most-once-a-second rebuild window (the clock moves on 1.1 s). The list is decoded
/// here: zlib, then 2 bits per entry, entry 0 in the low bits of byte 0.
async fn served<S, B>(app: &S, clock: &TestClock, access_token: &str) -> u8
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    clock.advance(Duration::from_millis(1100));
    let entry = claims(access_token)["status"]["status_list"].clone();
    let uri = entry["uri"].as_str().expect("a status uri");
    let idx = entry["idx"].as_u64().expect("a status idx");
    let path = uri.strip_prefix(ISSUER).expect("a list of this issuer");
    let r = send(app, TestRequest::get().uri(path)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/statuslist+jwt"));
    let list = claims(&r.body);
    assert_eq!(list["sub"], uri);
    assert_eq!(list["status_list"]["bits"], 2);
    let lst = URL_SAFE_NO_PAD
        .decode(list["status_list"]["lst"].as_str().unwrap())
        .unwrap();
    let bytes = zune_inflate::DeflateDecoder::new(&lst)
        .decode_zlib()
        .expect("zlib");
    (bytes[usize::try_from(idx / 4).unwrap()] >> (2 * (idx % 4))) & 0b11
}

/// An operator client, an account and one `feedback:read` keypair of it.
async fn keypair_of<S, B>(op: &AdminClient<'_, S>, account: &str, new: NewKeypair) -> CreatedKeypair
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    op.create_account_keypair(account, &new).await.unwrap()
}

fn reader() -> NewKeypair {
    NewKeypair::scopes(&["feedback:read"])
}

fn hints(secrets: &[Secret]) -> Vec<&str> {
    secrets.iter().map(|s| s.hint.as_str()).collect()
}

async fn both_secrets_work_inside_the_overlap_and_the_old_one_fails_after_it(db: TestDb) {
    let (clock, env) = lab(db);
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);
    let a = op.create_account("A").await.unwrap().id;
    let kp = keypair_of(&op, &a, reader()).await;
    let id = kp.client_id();
    let old = kp.client_secret.clone();
    let old_hint = kp.keypair.secret_hint.clone();
    assert_eq!(
        kp.keypair.secrets,
        [Secret {
            hint: old_hint.clone(),
            created_at: at(0),
            expires_at: None
        }]
    );
    // A well-formed secret, of another keypair.
    let other = keypair_of(&op, &a, reader()).await;
    let wrong_secret = token_reply(&app, id, &other.client_secret).await;
    assert_eq!(wrong_secret.status, 401);

    clock.advance(Duration::from_secs(10));
    let rotated = op
        .rotate_secret(id, &RotateSecret::overlap(600))
        .await
        .unwrap();
    let new = rotated.client_secret.clone();
    assert!(new.starts_with("kgs_") && new != old);
    assert!(new.starts_with(&rotated.secret_hint));
    assert_ne!(rotated.secret_hint, old_hint);
    let both = vec![
        Secret {
            hint: rotated.secret_hint.clone(),
            created_at: at(10),
            expires_at: None,
        },
        Secret {
            hint: old_hint.clone(),
            created_at: at(0),
            expires_at: Some(at(610)),
        },
    ];
    assert_eq!(rotated.secrets, both);
    let view = op.get_keypair(id).await.unwrap();
    assert_eq!(view.secret_hint, rotated.secret_hint);
    assert_eq!(view.secrets, both);

    // Inside the overlap both work, up to its last second.
    assert!(works(&app, id, &old).await);
    assert!(works(&app, id, &new).await);
    clock.advance(Duration::from_secs(599));
    assert!(works(&app, id, &old).await, "one second before the end");
    assert!(works(&app, id, &new).await);
    // At its end the old secret fails exactly as a wrong one does.
    clock.advance(Duration::from_secs(1));
    let r = token_reply(&app, id, &old).await;
    assert_eq!((r.status, r.json()), (401, wrong_secret.json()));
    assert!(works(&app, id, &new).await);
    assert_eq!(
        hints(&op.get_keypair(id).await.unwrap().secrets),
        [rotated.secret_hint.as_str()]
    );
}

async fn an_overlap_of_zero_ends_the_old_secret_at_once(db: TestDb) {
    let (clock, env) = lab(db);
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);
    let a = op.create_account("A").await.unwrap().id;
    let kp = keypair_of(&op, &a, reader()).await;
    let id = kp.client_id();
    let issued = access_token(&app, id, &kp.client_secret).await;
    assert_eq!(served(&app, &clock, &issued).await, VALID);

    let rotated = op
        .rotate_secret(id, &RotateSecret::overlap(0))
        .await
        .unwrap();
    assert_eq!(hints(&rotated.secrets), [rotated.secret_hint.as_str()]);
    assert!(!works(&app, id, &kp.client_secret).await);
    assert!(works(&app, id, &rotated.client_secret).await);
    // Ending a secret before its time is what a leak calls for: the tokens issued so
    // far are invalid; new ones are good.
    assert_eq!(served(&app, &clock, &issued).await, INVALID);
    let fresh = access_token(&app, id, &rotated.client_secret).await;
    assert_eq!(served(&app, &clock, &fresh).await, VALID);
}

async fn a_third_secret_is_a_conflict_unless_end_oldest(db: TestDb) {
    let (clock, env) = lab(db);
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);
    let a = op.create_account("A").await.unwrap().id;
    let kp = keypair_of(&op, &a, reader()).await;
    let id = kp.client_id();
    let first = kp.client_secret.clone();
    // Secrets are ordered by creation time: each one a second apart.
    clock.advance(Duration::from_secs(1));
    let second = op
        .rotate_secret(id, &RotateSecret::overlap(3600))
        .await
        .unwrap();
    let issued = access_token(&app, id, &second.client_secret).await;

    // Two live: a retried rotation must not end a secret still in use.
    let before = env.db.dump_all_columns();
    let err = op
        .rotate_secret(id, &RotateSecret::overlap(3600))
        .await
        .unwrap_err();
    assert_eq!((err.status, err.error.as_str()), (409, "conflict"));
    assert!(err.message.contains("end_oldest"), "{}", err.message);
    assert_eq!(env.db.dump_all_columns(), before, "nothing changed");
    assert!(works(&app, id, &first).await);
    assert!(works(&app, id, &second.client_secret).await);
    assert_eq!(served(&app, &clock, &issued).await, VALID);

    clock.advance(Duration::from_secs(100));
    let third = op
        .rotate_secret(id, &RotateSecret::overlap(600).end_oldest())
        .await
        .unwrap();
    // The oldest ended now; the second keeps working for the new overlap.
    assert!(!works(&app, id, &first).await);
    assert!(works(&app, id, &second.client_secret).await);
    assert!(works(&app, id, &third.client_secret).await);
    let now = third.secrets[0].created_at.clone();
    assert_eq!(
        hints(&third.secrets),
        [third.secret_hint.as_str(), second.secret_hint.as_str()]
    );
    assert_eq!(
        third.secrets[1].expires_at.as_deref(),
        Some(
            (time::OffsetDateTime::parse(&now, &time::format_description::well_known::Rfc3339)
                .unwrap()
                + time::Duration::seconds(600))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
            .as_str()
        )
    );
    // `end_oldest` ended a secret before its chosen expiry: tokens issued so far go.
    assert_eq!(served(&app, &clock, &issued).await, INVALID);
}

async fn deleting_a_secret_ends_it_at_once(db: TestDb) {
    let (clock, env) = lab(db);
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);
    let a = op.create_account("A").await.unwrap().id;
    let kp = keypair_of(&op, &a, reader()).await;
    let other = keypair_of(&op, &a, reader()).await;
    let id = kp.client_id();
    let old_hint = kp.keypair.secret_hint.clone();
    let rotated = op
        .rotate_secret(id, &RotateSecret::overlap(3600))
        .await
        .unwrap();
    let issued = access_token(&app, id, &kp.client_secret).await;
    let bystander = access_token(&app, other.client_id(), &other.client_secret).await;

    // Unknown hints, and another keypair's hint, are not found.
    for hint in ["kgs_zzzz", "nothing", other.keypair.secret_hint.as_str()] {
        let err = op.end_secret(id, hint).await.unwrap_err();
        assert_eq!(
            (err.status, err.error.as_str()),
            (404, "not_found"),
            "{hint}"
        );
    }
    op.end_secret(id, &old_hint).await.unwrap();
    assert!(!works(&app, id, &kp.client_secret).await);
    assert!(works(&app, id, &rotated.client_secret).await);
    let view = op.get_keypair(id).await.unwrap();
    assert_eq!(hints(&view.secrets), [rotated.secret_hint.as_str()]);
    assert_eq!(view.secret_hint, rotated.secret_hint);
    assert_eq!(served(&app, &clock, &issued).await, INVALID);
    assert_eq!(served(&app, &clock, &bystander).await, VALID);

    // Gone is gone; the only live secret stays.
    let err = op.end_secret(id, &old_hint).await.unwrap_err();
    assert_eq!(err.status, 404);
    let err = op.end_secret(id, &rotated.secret_hint).await.unwrap_err();
    assert_eq!((err.status, err.error.as_str()), (409, "conflict"));
    assert!(works(&app, id, &rotated.client_secret).await);
    // An unknown keypair is 404 too.
    let err = op
        .end_secret("kg_00000000000000000000000000000000", &rotated.secret_hint)
        .await
        .unwrap_err();
    assert_eq!(err.status, 404);
}

async fn concurrent_rotations_never_leave_three_live_secrets(db: TestDb) {
    const N: usize = 8;
    let (_clock, env) = lab(db);
    let app = Rc::new(admin_app!(env));
    let token = operator(&env).token;
    let op = AdminClient::new(&*app, token.clone());
    let a = op.create_account("A").await.unwrap().id;
    let kp = keypair_of(&op, &a, reader()).await;
    let id = kp.client_id().to_owned();

    let race = |body: Value| {
        let tasks: Vec<_> = (0..N)
            .map(|_| {
                let app = Rc::clone(&app);
                let req = crate::call(
                    "post",
                    &format!("/admin/v1/keypairs/{id}/secrets"),
                    Some(&token),
                    Some(body.clone()),
                );
                actix_web::rt::spawn(async move { send(&*app, req).await })
            })
            .collect();
        async move {
            let mut replies = Vec::new();
            for t in tasks {
                replies.push(t.await.unwrap());
            }
            replies
        }
    };

    // Without end_oldest: one rotation wins, the others find two live secrets.
    let replies = race(json!({"previous_secret_expires_in_seconds": 3600})).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(op.get_keypair(&id).await.unwrap().secrets.len(), 2);

    let mut handed_out = vec![kp.client_secret.clone()];
    let secret_of = |r: &Reply| r.json()["client_secret"].as_str().unwrap().to_owned();
    handed_out.extend(replies.iter().filter(|r| r.status == 201).map(secret_of));

    // With end_oldest every rotation succeeds, one after the other, and of all the
    // secrets handed out exactly the two the keypair lists work.
    let replies =
        race(json!({"previous_secret_expires_in_seconds": 3600, "end_oldest": true})).await;
    assert!(replies.iter().all(|r| r.status == 201), "{replies:?}");
    for r in &replies {
        assert_eq!(
            r.json()["secrets"].as_array().unwrap().len(),
            2,
            "{}",
            r.body
        );
    }
    handed_out.extend(replies.iter().map(secret_of));
    let live = op.get_keypair(&id).await.unwrap().secrets;
    assert_eq!(live.len(), 2);
    let mut working = Vec::new();
    for secret in &handed_out {
        if works(&*app, &id, secret).await {
            working.push(secret[..8].to_owned());
        }
    }
    working.sort();
    let mut live_hints: Vec<String> = live.into_iter().map(|s| s.hint).collect();
    live_hints.sort();
    assert_eq!(working, live_hints);
}

async fn the_overlap_is_a_whole_number_from_0_to_30_days(db: TestDb) {
    let (clock, env) = lab(db);
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);
    let a = op.create_account("A").await.unwrap().id;
    let kp = keypair_of(&op, &a, reader()).await;
    let path = format!("/admin/v1/keypairs/{}/secrets", kp.client_id());
    const FIELD: &str = "previous_secret_expires_in_seconds";

    let before = env.db.dump_all_columns();
    let bad: Vec<(Option<Value>, &str)> = vec![
        (None, FIELD),
        (Some(json!({})), FIELD),
        (Some(json!({"end_oldest": true})), FIELD),
        (Some(json!({ FIELD: null })), FIELD),
        (Some(json!({ FIELD: -1 })), FIELD),
        (Some(json!({ FIELD: 2_592_001 })), FIELD),
        (Some(json!({ FIELD: 4_294_967_296_u64 })), FIELD),
        (Some(json!({ FIELD: 1.5 })), FIELD),
        (Some(json!({ FIELD: 60.0 })), FIELD),
        (Some(json!({ FIELD: "60" })), FIELD),
        (Some(json!({ FIELD: true })), FIELD),
        (
            Some(json!({ FIELD: 60, "end_oldest": "yes" })),
            "end_oldest",
        ),
        (Some(json!({ FIELD: 60, "secret": "kgs_mine" })), "secret"),
    ];
    for (body, field) in &bad {
        let r = op.raw("post", &path, body.clone()).await;
        let err = r.error();
        assert_eq!(
            (r.status, err.error.as_str(), err.field.as_deref()),
            (400, "invalid_request", Some(*field)),
            "{body:?}: {}",
            r.body
        );
    }
    assert_eq!(env.db.dump_all_columns(), before, "nothing changed");

    // Both ends are allowed: 30 days, then 0 ends every other secret.
    clock.advance(Duration::from_secs(1));
    let longest = op
        .rotate_secret(kp.client_id(), &RotateSecret::overlap(2_592_000))
        .await
        .unwrap();
    assert_eq!(
        longest.secrets[1].expires_at.as_deref(),
        Some(at(2_592_001).as_str())
    );
    let none = op
        .rotate_secret(kp.client_id(), &RotateSecret::overlap(0).end_oldest())
        .await
        .unwrap();
    assert_eq!(hints(&none.secrets), [none.secret_hint.as_str()]);
}

async fn the_new_secret_is_shown_once(db: TestDb) {
    let (_clock, env) = lab(db);
    let app = admin_app!(env);
    let operator = operator(&env);
    let op = AdminClient::new(&app, &operator.token);
    let a = op.create_account("A").await.unwrap().id;
    let e = op.create_environment(&a, "prod").await.unwrap().id;
    let in_account = keypair_of(&op, &a, reader()).await;
    let in_env = op.create_env_keypair(&e, &reader()).await.unwrap();
    let mut secrets = Vec::new();
    for kp in [&in_account, &in_env] {
        let rotated = op
            .rotate_secret(kp.client_id(), &RotateSecret::overlap(60))
            .await
            .unwrap();
        let body = op.last_body();
        assert_eq!(body.matches(&rotated.client_secret).count(), 1);
        secrets.push(rotated.client_secret);
    }
    let shown = op.bodies().len();

    // Every read afterwards: no secret, old or new.
    op.get_keypair(in_account.client_id()).await.unwrap();
    op.get_keypair(in_env.client_id()).await.unwrap();
    op.list_account_keypairs(&a, &PageQuery::default())
        .await
        .unwrap();
    op.list_env_keypairs(&e, &PageQuery::default())
        .await
        .unwrap();
    op.audit(&a, &PageQuery::default()).await.unwrap();
    op.end_secret(in_env.client_id(), &in_env.keypair.secret_hint)
        .await
        .unwrap();
    op.patch_keypair(
        in_account.client_id(),
        &KeypairChange::default().comment("x"),
    )
    .await
    .unwrap();
    let later = op.bodies()[shown..].join("\n");
    for s in secrets
        .iter()
        .chain([&in_account.client_secret, &in_env.client_secret])
    {
        assert!(!later.contains(s.as_str()));
        // Not even beyond its hint.
        assert!(!later.contains(&s[..12]));
    }
    assert!(!later.contains("client_secret"));
}

async fn a_rotation_while_disabled_invalidates_for_good(db: TestDb) {
    let (clock, env) = lab(db);
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);
    let a = op.create_account("A").await.unwrap().id;
    let kp = keypair_of(&op, &a, reader()).await;
    let id = kp.client_id();
    let issued = access_token(&app, id, &kp.client_secret).await;

    op.patch_keypair(id, &KeypairChange::default().enabled(false))
        .await
        .unwrap();
    assert_eq!(served(&app, &clock, &issued).await, SUSPENDED);
    // A planned rotation, but of a disabled keypair: disable → rotate → enable must
    // not revive tokens minted with a leaked secret.
    let rotated = op
        .rotate_secret(id, &RotateSecret::overlap(3600))
        .await
        .unwrap();
    assert_eq!(served(&app, &clock, &issued).await, INVALID);
    op.patch_keypair(id, &KeypairChange::default().enabled(true))
        .await
        .unwrap();
    assert_eq!(served(&app, &clock, &issued).await, INVALID);
    let fresh = access_token(&app, id, &rotated.client_secret).await;
    assert_eq!(served(&app, &clock, &fresh).await, VALID);
}

async fn planned_changes_leave_live_tokens_valid(db: TestDb) {
    let (clock, env) = lab(db);
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);
    let a = op.create_account("A").await.unwrap().id;
    let kp = keypair_of(&op, &a, reader()).await;
    let id = kp.client_id();
    let issued = access_token(&app, id, &kp.client_secret).await;

    let rotated = op
        .rotate_secret(id, &RotateSecret::overlap(600))
        .await
        .unwrap();
    assert_eq!(
        served(&app, &clock, &issued).await,
        VALID,
        "rotation with overlap"
    );
    op.patch_keypair(
        id,
        &KeypairChange::default().allowed_addresses(&["10.0.0.0/8", "2001:db8::/32"]),
    )
    .await
    .unwrap();
    assert_eq!(served(&app, &clock, &issued).await, VALID, "allowlist");
    op.patch_keypair(id, &KeypairChange::default().allowed_addresses(&[]))
        .await
        .unwrap();
    op.patch_keypair(
        id,
        &KeypairChange::default().token_lifetime_seconds(Some(60)),
    )
    .await
    .unwrap();
    assert_eq!(served(&app, &clock, &issued).await, VALID, "lifetime");
    // The overlap running out is the planned end: nothing to invalidate.
    clock.advance(Duration::from_secs(600));
    assert!(!works(&app, id, &kp.client_secret).await);
    assert!(works(&app, id, &rotated.client_secret).await);
    assert_eq!(served(&app, &clock, &issued).await, VALID, "overlap over");
    // Nor does a further planned rotation once the old secret ran out.
    let r2 = op
        .rotate_secret(id, &RotateSecret::overlap(600))
        .await
        .unwrap();
    assert_eq!(r2.secrets.len(), 2);
    assert_eq!(served(&app, &clock, &issued).await, VALID);
}

async fn an_earlier_expiry_within_the_token_horizon_invalidates(db: TestDb) {
    let (clock, env) = lab(db);
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);
    let a = op.create_account("A").await.unwrap().id;
    // Tokens live at most a day (token.max_lifetime_seconds = 86400).
    let kp = keypair_of(&op, &a, reader().expires_at(&at(10 * 86_400))).await;
    let id = kp.client_id();
    assert_eq!(
        kp.keypair.expires_at.as_deref(),
        Some(at(10 * 86_400).as_str())
    );
    let issued = access_token(&app, id, &kp.client_secret).await;

    // PATCH expires_at to `when`, then read the status of `token`.
    macro_rules! expect {
        ($when:expr, $token:expr, $status:expr, $why:literal) => {{
            let when: Option<String> = $when;
            let change = KeypairChange::default().expires_at(when.as_deref());
            let view = op.patch_keypair(id, &change).await.unwrap();
            assert_eq!(view.expires_at, when, $why);
            assert_eq!(served(&app, &clock, $token).await, $status, $why);
        }};
    }
    expect!(
        Some(at(5 * 86_400)),
        &issued,
        VALID,
        "earlier, beyond any token's exp"
    );
    expect!(Some(at(20 * 86_400)), &issued, VALID, "later");
    expect!(None, &issued, VALID, "removed");
    expect!(
        Some(at(2 * 86_400)),
        &issued,
        VALID,
        "set, beyond any token's exp"
    );
    expect!(
        Some(at(2 * 3600)),
        &issued,
        INVALID,
        "earlier than tokens may live"
    );
    let fresh = access_token(&app, id, &kp.client_secret).await;
    let exp = claims(&fresh)["exp"].as_i64().unwrap();
    assert!(exp <= (T0 + time::Duration::hours(2)).unix_timestamp());
    expect!(Some(at(3 * 3600)), &fresh, VALID, "later again");
    expect!(None, &fresh, VALID, "removed again");
    assert_eq!(served(&app, &clock, &issued).await, INVALID, "never undone");
}

async fn expiry_is_rfc3339_in_the_future(db: TestDb) {
    let (clock, env) = lab(db);
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);
    let a = op.create_account("A").await.unwrap().id;
    let kp = keypair_of(&op, &a, reader()).await;
    assert_eq!(kp.keypair.expires_at, None);
    let id = kp.client_id();
    let create = format!("/admin/v1/accounts/{a}/keypairs");
    let patch = format!("/admin/v1/keypairs/{id}");

    let before = env.db.dump_all_columns();
    let bad = [
        json!(at(-1)),
        json!(at(0)),
        json!("2031-02-03"),
        json!("2031-02-03T05:00:00"),
        json!("tomorrow"),
        json!(""),
        json!(1_927_775_106),
        json!(true),
        json!({}),
    ];
    for value in &bad {
        let r = op
            .raw(
                "post",
                &create,
                Some(json!({"scopes": [], "expires_at": value})),
            )
            .await;
        assert_eq!(
            (r.status, r.error().field.as_deref()),
            (400, Some("expires_at")),
            "create {value}: {}",
            r.body
        );
        let r = op
            .raw("patch", &patch, Some(json!({ "expires_at": value })))
            .await;
        assert_eq!(
            (r.status, r.error().field.as_deref()),
            (400, Some("expires_at")),
            "patch {value}: {}",
            r.body
        );
    }
    assert_eq!(env.db.dump_all_columns(), before, "nothing changed");

    // One second ahead is enough; offsets become UTC; fractions are dropped (it ends
    // no later than asked).
    let soon = keypair_of(&op, &a, reader().expires_at(&at(1))).await;
    assert_eq!(soon.keypair.expires_at.as_deref(), Some(at(1).as_str()));
    let offset = keypair_of(&op, &a, reader().expires_at("2031-02-03T06:05:07+02:00")).await;
    assert_eq!(offset.keypair.expires_at.as_deref(), Some(at(1).as_str()));
    let view = op
        .patch_keypair(
            id,
            &KeypairChange::default().expires_at(Some("2031-02-03T05:00:00.750Z")),
        )
        .await
        .unwrap();
    assert_eq!(view.expires_at.as_deref(), Some("2031-02-03T05:00:00Z"));
    // Absent leaves it, null removes it.
    let view = op
        .patch_keypair(id, &KeypairChange::default().comment("kept"))
        .await
        .unwrap();
    assert_eq!(view.expires_at.as_deref(), Some("2031-02-03T05:00:00Z"));
    let view = op
        .patch_keypair(id, &KeypairChange::default().expires_at(None))
        .await
        .unwrap();
    assert_eq!(view.expires_at, None);
    let r = op
        .raw(
            "post",
            &create,
            Some(json!({"scopes": [], "expires_at": null})),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["expires_at"].clone()),
        (201, Value::Null)
    );

    // An expired keypair stays listed, marked by its expiry, until deleted.
    clock.advance(Duration::from_secs(2));
    assert!(!works(&app, soon.client_id(), &soon.client_secret).await);
    let listed = op
        .list_account_keypairs(&a, &PageQuery::default())
        .await
        .unwrap();
    let shown = listed
        .items
        .iter()
        .find(|k| k.client_id == soon.client_id())
        .expect("still listed");
    assert_eq!(shown.expires_at.as_deref(), Some(at(1).as_str()));
    // A past date stays refused.
    let err = op
        .patch_keypair(
            soon.client_id(),
            &KeypairChange::default().expires_at(Some(&at(2))),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.status, err.field.as_deref()),
        (400, Some("expires_at"))
    );
}

async fn allowed_addresses_are_checked_and_shown_canonically(db: TestDb) {
    let (_clock, env) = lab(db);
    let app = admin_app!(env);
    let op = AdminClient::new(&app, operator(&env).token);
    let a = op.create_account("A").await.unwrap().id;
    let kp = keypair_of(
        &op,
        &a,
        reader().allowed_addresses(&[
            "10.1.2.3/8",
            "2001:db8::1",
            "::ffff:192.0.2.0/120",
            "10.0.0.0/8",
            " 198.51.100.7 ",
        ]),
    )
    .await;
    let id = kp.client_id();
    let canonical = [
        "10.0.0.0/8",
        "2001:db8::1/128",
        "192.0.2.0/24",
        "198.51.100.7/32",
    ];
    assert_eq!(kp.keypair.allowed_addresses, canonical);
    assert_eq!(
        op.get_keypair(id).await.unwrap().allowed_addresses,
        canonical
    );
    let plain = keypair_of(&op, &a, reader()).await;
    assert!(plain.keypair.allowed_addresses.is_empty());

    let create = format!("/admin/v1/accounts/{a}/keypairs");
    let patch = format!("/admin/v1/keypairs/{id}");
    let many: Vec<String> = (0..65).map(|i| format!("10.0.{i}.0/24")).collect();
    let before = env.db.dump_all_columns();
    let bad = [
        (json!(["10.0.0.0/8", "example.com"]), "allowed_addresses[1]"),
        (json!(["10.0.0.0/33"]), "allowed_addresses[0]"),
        (
            json!(["192.0.2.0/24", "2001:db8::/129"]),
            "allowed_addresses[1]",
        ),
        (json!([""]), "allowed_addresses[0]"),
        (json!(["10.0.0.0/8", 7]), "allowed_addresses[1]"),
        (json!("10.0.0.0/8"), "allowed_addresses"),
        (json!(many), "allowed_addresses"),
    ];
    for (value, field) in &bad {
        let r = op
            .raw(
                "post",
                &create,
                Some(json!({"scopes": [], "allowed_addresses": value})),
            )
            .await;
        assert_eq!(
            (r.status, r.error().field.as_deref()),
            (400, Some(*field)),
            "create {value}: {}",
            r.body
        );
        let r = op
            .raw("patch", &patch, Some(json!({ "allowed_addresses": value })))
            .await;
        assert_eq!(
            (r.status, r.error().field.as_deref()),
            (400, Some(*field)),
            "patch {value}: {}",
            r.body
        );
    }
    assert_eq!(env.db.dump_all_columns(), before, "nothing changed");

    // 64 entries are allowed; [] means anywhere again.
    let view = op
        .patch_keypair(
            id,
            &KeypairChange::default()
                .allowed_addresses(&many[..64].iter().map(String::as_str).collect::<Vec<_>>()),
        )
        .await
        .unwrap();
    assert_eq!(view.allowed_addresses.len(), 64);
    let view = op
        .patch_keypair(id, &KeypairChange::default().allowed_addresses(&[]))
        .await
        .unwrap();
    assert!(view.allowed_addresses.is_empty());
}

async fn one_patch_composes_several_fields(db: TestDb) {
    let (_clock, env) = lab(db);
    let app = admin_app!(env);
    let operator = operator(&env);
    let op = AdminClient::new(&app, &operator.token);
    let a = op.create_account("A").await.unwrap().id;
    let kp = keypair_of(&op, &a, reader()).await;
    let id = kp.client_id();
    let path = format!("/admin/v1/keypairs/{id}");
    let expires_in = |r: &Reply| r.json()["expires_in"].as_i64().unwrap();

    let everything = json!({
        "enabled": false,
        "scopes": ["feedback:read", "feedback:write"],
        "comment": "worker pool",
        "expires_at": at(7 * 86_400),
        "allowed_addresses": ["192.0.2.0/24"],
        "token_lifetime_seconds": 120,
    });
    let r = op.raw("patch", &path, Some(everything)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let view = op.get_keypair(id).await.unwrap();
    assert!(!view.enabled);
    assert_eq!(view.scopes, ["feedback:read", "feedback:write"]);
    assert_eq!(view.comment, "worker pool");
    assert_eq!(view.expires_at.as_deref(), Some(at(7 * 86_400).as_str()));
    assert_eq!(view.allowed_addresses, ["192.0.2.0/24"]);
    assert_eq!(view.token_lifetime_seconds, Some(120));
    let audit = op.audit(&a, &PageQuery::default()).await.unwrap();
    let updates: Vec<&str> = audit
        .items
        .iter()
        .filter(|r| r.action == "keypair.update")
        .map(|r| r.detail.as_str())
        .collect();
    assert_eq!(
        updates,
        ["enabled,scopes,comment,expires_at,allowed_addresses,token_lifetime_seconds"]
    );

    // One bad field refuses the whole body: nothing of it applies.
    let before = env.db.dump_all_columns();
    for (body, field) in [
        (
            json!({"enabled": true, "comment": "no", "token_lifetime_seconds": 0}),
            "token_lifetime_seconds",
        ),
        (
            json!({"enabled": true, "token_lifetime_seconds": 86_401}),
            "token_lifetime_seconds",
        ),
        (
            json!({"enabled": true, "token_lifetime_seconds": -5}),
            "token_lifetime_seconds",
        ),
        (
            json!({"enabled": true, "token_lifetime_seconds": "60"}),
            "token_lifetime_seconds",
        ),
        (
            json!({"comment": "no", "allowed_addresses": ["nope"]}),
            "allowed_addresses[0]",
        ),
        (
            json!({"comment": "no", "expires_at": at(-60)}),
            "expires_at",
        ),
    ] {
        let r = op.raw("patch", &path, Some(body.clone())).await;
        assert_eq!(
            (r.status, r.error().field.as_deref()),
            (400, Some(field)),
            "{body}: {}",
            r.body
        );
    }
    assert_eq!(env.db.dump_all_columns(), before, "nothing changed");

    // The lifetime applies at /token, and null returns to the default (the allowlist
    // is cleared first, so the test request's address does not matter).
    op.patch_keypair(
        id,
        &KeypairChange::default()
            .enabled(true)
            .allowed_addresses(&[]),
    )
    .await
    .unwrap();
    let r = token_reply(&app, id, &kp.client_secret).await;
    assert_eq!((r.status, expires_in(&r)), (200, 120), "{}", r.body);
    let view = op
        .patch_keypair(id, &KeypairChange::default().token_lifetime_seconds(None))
        .await
        .unwrap();
    assert_eq!(view.token_lifetime_seconds, None);
    let r = token_reply(&app, id, &kp.client_secret).await;
    assert_eq!((r.status, expires_in(&r)), (200, 3600));
    // The lifetime is also bounded by the time left until expires_at.
    let view = op
        .patch_keypair(id, &KeypairChange::default().expires_at(Some(&at(90))))
        .await
        .unwrap();
    assert_eq!(view.token_lifetime_seconds, None);
    let r = token_reply(&app, id, &kp.client_secret).await;
    assert_eq!((r.status, expires_in(&r)), (200, 90));
}

async fn rotations_and_ends_are_audited(db: TestDb) {
    let (clock, env) = lab(db);
    let app = admin_app!(env);
    let operator = operator(&env);
    let op = AdminClient::new(&app, &operator.token);
    let a = op.create_account("A").await.unwrap().id;
    let kp = keypair_of(&op, &a, reader()).await;
    let id = kp.client_id();
    access_token(&app, id, &kp.client_secret).await;
    let first_hint = kp.keypair.secret_hint.clone();

    clock.advance(Duration::from_secs(1));
    op.rotate_secret(id, &RotateSecret::overlap(600))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(1));
    let third = op
        .rotate_secret(id, &RotateSecret::overlap(300).end_oldest())
        .await
        .unwrap();
    access_token(&app, id, &third.client_secret).await;
    clock.advance(Duration::from_secs(1));
    let second_hint = third.secrets[1].hint.clone();
    op.end_secret(id, &second_hint).await.unwrap();
    // Refused requests leave no record.
    op.rotate_secret(id, &RotateSecret::overlap(2_592_001))
        .await
        .unwrap_err();
    op.end_secret(id, &first_hint).await.unwrap_err();
    op.end_secret(id, &third.secret_hint).await.unwrap_err();

    let audit = op.audit(&a, &PageQuery::default()).await.unwrap();
    let records: Vec<(&str, &str, &str, &str)> = audit
        .items
        .iter()
        .filter(|r| r.action.starts_with("keypair.secret_"))
        .map(|r| {
            (
                r.action.as_str(),
                r.actor.as_str(),
                r.target.as_str(),
                r.detail.as_str(),
            )
        })
        .collect();
    let me = operator.client_id.as_str();
    let end_detail = format!("hint={second_hint},tokens_invalidated=true");
    assert_eq!(
        records,
        [
            ("keypair.secret_end", me, id, end_detail.as_str()),
            (
                "keypair.secret_rotate",
                me,
                id,
                "previous_secret_expires_in_seconds=300,end_oldest=true,tokens_invalidated=true"
            ),
            (
                "keypair.secret_rotate",
                me,
                id,
                "previous_secret_expires_in_seconds=600,end_oldest=false,tokens_invalidated=false"
            ),
        ]
    );
    let times: Vec<&str> = audit
        .items
        .iter()
        .filter(|r| r.action.starts_with("keypair.secret_"))
        .map(|r| r.at.as_str())
        .collect();
    assert_eq!(times, [at(3), at(2), at(1)]);
}
