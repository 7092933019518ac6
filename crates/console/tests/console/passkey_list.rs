//! A signed-in person's passkeys page over HTTP: add passkeys (recent sign-in only),
//! remove them (never the last way to sign in), CSRF and reach.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use keypair_store::testing::TestDb;
use keypair_store::Owner;
use serde_json::json;

use crate::passkeys::{
    assert_refused, body, passkey_token, register, sign_in, Authenticator, ISSUER,
};
use crate::{app, Browser, Env, Reply};

keypair_store::on_both_backends_async! {
    a_signed_in_person_adds_and_removes_passkeys;
}

/// The value of the first `name="credential"` field: a `Remove` form's passkey.
fn credential_field(page: &Reply) -> String {
    let marker = "name=\"credential\" value=\"";
    let start = page.body.find(marker).expect("a Remove form") + marker.len();
    page.body[start..].split('"').next().unwrap().to_owned()
}

/// Adds a passkey from the signed-in passkeys page; returns the last answer.
async fn add<S, B>(app: &S, b: &mut Browser, key: &mut Authenticator) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let page = b.get(app, "/console/passkeys").await;
    assert!(page.has_button("Register a passkey"), "{}", page.body);
    let token = passkey_token(&page);
    let options = b
        .post_json(
            app,
            "/console/passkeys/options",
            &json!({ "csrf_token": token }),
        )
        .await;
    assert_eq!(options.status, 200, "{}", options.body);
    let answer = key.register(ISSUER, &body(&options));
    b.post_json(
        app,
        "/console/passkeys",
        &json!({ "csrf_token": token, "credential": answer }),
    )
    .await
}

async fn a_signed_in_person_adds_and_removes_passkeys(db: TestDb) {
    let env = Env::with(db, ISSUER, &[]);
    let app = app!(env);
    let code = env.invite("ada@example.test", &Owner::Operator);
    let mut b = Browser::new(&env);
    assert_eq!(
        b.accept_with_password(&app, &code, crate::PASSWORD)
            .await
            .status,
        303
    );
    let page = b.get(&app, "/console/passkeys").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.has_link("Passkeys"), "the header links here");
    assert!(page.text().contains("You have no passkeys yet."));

    let mut first = Authenticator::new();
    let done = add(&app, &mut b, &mut first).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(body(&done)["location"], "/console/passkeys");
    let ada = env.user("ada@example.test");
    let stored = env.store().passkeys_of(&ada).unwrap();
    assert_eq!(stored.len(), 1);
    // The second passkey shares the first's user handle and excludes it.
    let page = b.get(&app, "/console/passkeys").await;
    let token = passkey_token(&page);
    let options = b
        .post_json(
            &app,
            "/console/passkeys/options",
            &json!({ "csrf_token": token }),
        )
        .await;
    let o = body(&options);
    let excluded = o["publicKey"]["excludeCredentials"].as_array().unwrap();
    assert_eq!(excluded.len(), 1);
    let mut second = Authenticator::new();
    let answer = second.register(ISSUER, &o);
    let done = b
        .post_json(
            &app,
            "/console/passkeys",
            &json!({ "csrf_token": token, "credential": answer }),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    let stored = env.store().passkeys_of(&ada).unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].user_handle, stored[1].user_handle);
    // Either signs in.
    for key in [&mut first, &mut second] {
        let mut c = Browser::new(&env);
        assert_eq!(sign_in(&app, &mut c, key, "").await.status, 200);
    }

    // Remove: confirmed in a dialog, then gone; it no longer signs in.
    let page = b.get(&app, "/console/passkeys").await;
    assert!(page.body.contains("<dialog"), "{}", page.body);
    assert!(page.has_button("Remove") && page.has_button("Cancel"));
    let credential = credential_field(&page);
    let token = page.form_token("/console/passkeys/remove");
    let mut cross = b.clone();
    cross.origin = "https://evil.example".into();
    let forged = cross
        .post(
            &app,
            "/console/passkeys/remove",
            &[("csrf_token", &token), ("credential", &credential)],
        )
        .await;
    assert_eq!(forged.status, 403);
    let removed = b
        .post(
            &app,
            "/console/passkeys/remove",
            &[("csrf_token", &token), ("credential", &credential)],
        )
        .await;
    assert_eq!(removed.status, 303, "{}", removed.body);
    assert_eq!(env.store().passkeys_of(&ada).unwrap().len(), 1);
    let mut c = Browser::new(&env);
    assert_refused(
        &sign_in(&app, &mut c, &mut first, "").await,
        "passkey_refused",
    );

    // Registering needs a recent sign-in.
    env.advance(11 * 60);
    let page = b.get(&app, "/console/passkeys").await;
    assert!(!page.has_button("Register a passkey"));
    assert!(page.has_link("sign in again"), "{}", page.body);
    let stale = b
        .post_json(
            &app,
            "/console/passkeys/options",
            &json!({ "csrf_token": page.form_token("/console/sign-out") }),
        )
        .await;
    assert_eq!(stale.status, 403, "{}", stale.body);
    assert_eq!(body(&stale)["error"], "sign_in_again");
    // Without a session: 401 in JSON.
    let anonymous = Browser::new(&env)
        .post_json(&app, "/console/passkeys/options", &json!({}))
        .await;
    assert_eq!(anonymous.status, 401);

    // A person whose passkey is their only credential cannot remove it.
    let code = env.invite("bob@example.test", &Owner::Operator);
    let mut bob = Browser::new(&env).from_address(50);
    let mut bobs = Authenticator::new();
    assert_eq!(register(&app, &mut bob, &code, &mut bobs).await.status, 200);
    let page = bob.get(&app, "/console/passkeys").await;
    assert!(page.text().contains("Your only way to sign in"));
    assert!(!page.has_button("Remove"));
    let bob_id = env.user("bob@example.test");
    let only = env.store().passkeys_of(&bob_id).unwrap();
    let only_id = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &only[0].credential_id,
    );
    let token = page.form_token("/console/sign-out");
    let refused = bob
        .post(
            &app,
            "/console/passkeys/remove",
            &[("csrf_token", &token), ("credential", &only_id)],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(env.store().passkeys_of(&bob_id).unwrap().len(), 1);
    // Someone else's passkey: not found, unchanged.
    let token = b
        .get(&app, "/console/passkeys")
        .await
        .form_token("/console/sign-out");
    let theirs = b
        .post(
            &app,
            "/console/passkeys/remove",
            &[("csrf_token", &token), ("credential", &only_id)],
        )
        .await;
    assert_eq!(theirs.status, 404);
    assert_eq!(env.store().passkeys_of(&bob_id).unwrap().len(), 1);
}
