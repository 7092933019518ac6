//! Passkeys over HTTP, answered by a software authenticator (webauthn-authenticator-rs)
//! as a browser's WebAuthn API would: registration through a setup link, discoverable
//! sign-in, single-use challenges, the origin and the relying party checked, refusals
//! in JSON, CSRF, throttling, and no passkey control where browsers refuse passkeys.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use keypair_store::testing::TestDb;
use keypair_store::{Actor, Owner};
use serde_json::{json, Value};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs_proto::{
    AllowCredentials, CreationChallengeResponse, PublicKeyCredential, RequestChallengeResponse,
    ResidentKeyRequirement,
};

use crate::{app, Browser, Env, Reply};

keypair_store::on_both_backends_async! {
    a_new_person_registers_a_passkey_and_signs_in_with_it;
    an_answer_counts_once_for_its_own_challenge_origin_and_passkey;
    a_reset_or_a_disable_ends_passkey_sign_in;
    ceremony_requests_need_the_page_token_the_origin_and_json;
    failed_passkey_sign_ins_are_throttled_per_address;
}

/// An https issuer with a host name: passkeys are offered.
pub(crate) const ISSUER: &str = "https://keygate.test";

/// A discoverable authenticator: the software passkey, plus the credential id and user
/// handle it keeps for the site (a discoverable credential offers itself and returns
/// its handle without being named).
pub(crate) struct Authenticator {
    soft: WebauthnAuthenticator<SoftPasskey>,
    credential: Option<(Vec<u8>, Vec<u8>)>,
}

impl Authenticator {
    pub(crate) fn new() -> Authenticator {
        Authenticator {
            soft: WebauthnAuthenticator::new(SoftPasskey::new(true)),
            credential: None,
        }
    }

    /// Answers the server's creation options for `origin`. The server must ask for a
    /// discoverable credential with user verification; the software passkey keeps
    /// its credential itself (it cannot hold resident keys), so the test relaxes
    /// that one flag before handing the options over.
    pub(crate) fn register(&mut self, origin: &str, options: &Value) -> Value {
        let mut options: CreationChallengeResponse =
            serde_json::from_value(options.clone()).unwrap();
        let selection = options.public_key.authenticator_selection.as_mut().unwrap();
        assert_eq!(
            selection.resident_key,
            Some(ResidentKeyRequirement::Required)
        );
        assert!(selection.require_resident_key);
        selection.resident_key = Some(ResidentKeyRequirement::Discouraged);
        selection.require_resident_key = false;
        let handle = options.public_key.user.id.to_vec();
        let answer = self
            .soft
            .do_registration(origin.parse().unwrap(), options)
            .unwrap();
        self.credential = Some((answer.raw_id.to_vec(), handle));
        serde_json::to_value(answer).unwrap()
    }

    /// Answers the server's request options for `origin` with its credential.
    fn sign_in(&mut self, origin: &str, options: &Value) -> Value {
        let mut options: RequestChallengeResponse =
            serde_json::from_value(options.clone()).unwrap();
        assert!(
            options.public_key.allow_credentials.is_empty(),
            "discoverable: the server names no credential"
        );
        let (id, handle) = self.credential.clone().expect("registered");
        options.public_key.allow_credentials = vec![AllowCredentials {
            type_: "public-key".into(),
            id: id.into(),
            transports: None,
        }];
        let mut answer: PublicKeyCredential = self
            .soft
            .do_authentication(origin.parse().unwrap(), options)
            .unwrap();
        answer.response.user_handle = Some(handle.into());
        serde_json::to_value(answer).unwrap()
    }
}

pub(crate) fn body(reply: &Reply) -> Value {
    serde_json::from_str(&reply.body).unwrap_or_else(|_| panic!("not JSON: {}", reply.body))
}

/// The passkey controls' page token (`data-csrf-token`).
pub(crate) fn passkey_token(page: &Reply) -> String {
    let marker = "data-csrf-token=\"";
    let start = page.body.find(marker).expect("a passkey control") + marker.len();
    page.body[start..].split('"').next().unwrap().to_owned()
}

/// Opens a setup link and registers a passkey with `key`; returns the last answer.
pub(crate) async fn register<S, B>(
    app: &S,
    b: &mut Browser,
    code: &str,
    key: &mut Authenticator,
) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    assert_eq!(
        b.get(app, &format!("/console/setup/{code}")).await.status,
        303
    );
    let page = b.get(app, "/console/setup").await;
    assert!(page.has_button("Register a passkey"), "{}", page.body);
    let token = passkey_token(&page);
    let options = b
        .post_json(
            app,
            "/console/setup/passkey/options",
            &json!({ "csrf_token": token }),
        )
        .await;
    assert_eq!(options.status, 200, "{}", options.body);
    let answer = key.register(ISSUER, &body(&options));
    b.post_json(
        app,
        "/console/setup/passkey",
        &json!({ "csrf_token": token, "credential": answer }),
    )
    .await
}

/// Asks for sign-in options (the pre-session token from the sign-in page); returns
/// the token and the options.
async fn sign_in_options<S, B>(app: &S, b: &mut Browser) -> (String, Reply)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let page = b.get(app, "/console/sign-in").await;
    assert!(page.has_button("Sign in with a passkey"), "{}", page.body);
    let token = passkey_token(&page);
    let options = b
        .post_json(
            app,
            "/console/sign-in/passkey/options",
            &json!({ "csrf_token": token }),
        )
        .await;
    (token, options)
}

/// A full passkey sign-in with `key`, coming back to `next`; returns the last answer.
pub(crate) async fn sign_in<S, B>(
    app: &S,
    b: &mut Browser,
    key: &mut Authenticator,
    next: &str,
) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let (token, options) = sign_in_options(app, b).await;
    assert_eq!(options.status, 200, "{}", options.body);
    let answer = key.sign_in(ISSUER, &body(&options));
    b.post_json(
        app,
        "/console/sign-in/passkey",
        &json!({ "csrf_token": token, "credential": answer, "next": next }),
    )
    .await
}

pub(crate) fn assert_refused(reply: &Reply, error: &str) {
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(body(reply)["error"], error, "{}", reply.body);
    assert!(
        reply.set_cookie("__Host-keygate_session").is_none(),
        "no session on a refusal"
    );
}

async fn a_new_person_registers_a_passkey_and_signs_in_with_it(db: TestDb) {
    let env = Env::with(db, ISSUER, &[]);
    let app = app!(env);
    let acme = env.account("Acme");
    let code = env.invite("ada@example.test", &Owner::Account(acme.clone()));
    let mut b = Browser::new(&env);
    let mut key = Authenticator::new();

    // The options: this site as relying party, user verification, the person's email.
    assert_eq!(
        b.get(&app, &format!("/console/setup/{code}")).await.status,
        303
    );
    let page = b.get(&app, "/console/setup").await;
    assert!(page
        .body
        .contains("<script src=\"/console/assets/passkeys.js\" defer></script>"));
    let token = passkey_token(&page);
    let options = b
        .post_json(
            &app,
            "/console/setup/passkey/options",
            &json!({ "csrf_token": token }),
        )
        .await;
    assert_eq!(options.status, 200, "{}", options.body);
    assert_eq!(options.header("cache-control"), Some("no-store"));
    let cookie = options.set_cookie("__Host-keygate_passkey").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Secure") && cookie.contains("Max-Age=120")
    );
    let o = body(&options);
    assert_eq!(o["publicKey"]["rp"]["id"], "keygate.test");
    assert_eq!(o["publicKey"]["user"]["name"], "ada@example.test");
    assert_eq!(
        o["publicKey"]["authenticatorSelection"]["userVerification"],
        "required"
    );
    let answer = key.register(ISSUER, &o);
    let done = b
        .post_json(
            &app,
            "/console/setup/passkey",
            &json!({ "csrf_token": token, "credential": answer }),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(body(&done)["location"], "/console");
    assert!(done.set_cookie("__Host-keygate_session").is_some());
    assert!(
        b.cookie("__Host-keygate_setup").is_none(),
        "the link is used"
    );
    assert!(
        b.cookie("__Host-keygate_passkey").is_none(),
        "the ceremony is over"
    );
    let home = b.get(&app, "/console").await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.has_link("Acme"));

    // The person has one passkey and no password.
    let ada = env.user("ada@example.test");
    assert_eq!(env.store().passkeys_of(&ada).unwrap().len(), 1);
    let mut other = Browser::new(&env);
    let refused = other
        .sign_in(&app, "ada@example.test", crate::PASSWORD)
        .await;
    assert_eq!(refused.status, 400);

    // Signed out, the passkey signs in again, to the page asked for.
    assert_eq!(b.sign_out(&app).await.status, 303);
    env.advance(60);
    let next = format!("/console/accounts/{}", acme.as_str());
    let signed_in = sign_in(&app, &mut b, &mut key, &next).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    assert_eq!(body(&signed_in)["location"], next.as_str());
    let page = b.get(&app, &next).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        env.store().get_user(&ada).unwrap().last_sign_in_at,
        Some(env.now())
    );
    let stored = env.store().passkeys_of(&ada).unwrap();
    assert_eq!(stored[0].last_used_at, Some(env.now()));

    // `next` leaving the console is not followed.
    let mut c = Browser::new(&env);
    let elsewhere = sign_in(&app, &mut c, &mut key, "https://evil.example/").await;
    assert_eq!(body(&elsewhere)["location"], "/console");
}

async fn an_answer_counts_once_for_its_own_challenge_origin_and_passkey(db: TestDb) {
    let env = Env::with(db, ISSUER, &[]);
    let app = app!(env);
    let code = env.invite("ada@example.test", &Owner::Operator);
    let mut key = Authenticator::new();
    let mut b = Browser::new(&env);
    assert_eq!(register(&app, &mut b, &code, &mut key).await.status, 200);

    // One answer, sent twice: the second finds its ceremony taken.
    let mut b = Browser::new(&env);
    let (token, options) = sign_in_options(&app, &mut b).await;
    let answer = key.sign_in(ISSUER, &body(&options));
    let send = json!({ "csrf_token": token, "credential": answer });
    let ceremony = b.cookie("__Host-keygate_passkey").unwrap().to_owned();
    let first = b.post_json(&app, "/console/sign-in/passkey", &send).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let mut replay = Browser::new(&env);
    replay.cookies = b.cookies.clone();
    replay.cookies.remove("__Host-keygate_session");
    replay
        .cookies
        .insert("__Host-keygate_passkey".into(), ceremony);
    assert_refused(
        &replay
            .post_json(&app, "/console/sign-in/passkey", &send)
            .await,
        "passkey_expired",
    );
    // Replayed against a new challenge: the signature covers the old one.
    let (_, _fresh) = sign_in_options(&app, &mut replay).await;
    assert_refused(
        &replay
            .post_json(&app, "/console/sign-in/passkey", &send)
            .await,
        "passkey_refused",
    );

    // Signed for another origin (a phishing site relaying our challenge): refused.
    let mut c = Browser::new(&env);
    let (token, options) = sign_in_options(&app, &mut c).await;
    let mut o = body(&options);
    o["publicKey"]["rpId"] = json!("keygate.test.evil.example");
    let answer = key.sign_in("https://keygate.test.evil.example", &o);
    let reply = c
        .post_json(
            &app,
            "/console/sign-in/passkey",
            &json!({ "csrf_token": token, "credential": answer }),
        )
        .await;
    assert_refused(&reply, "passkey_refused");

    // A tampered signature, a malformed answer, an unknown user handle: refused.
    let tampers: [fn(&mut Value); 3] = [
        |a: &mut Value| a["response"]["signature"] = json!("AAAA"),
        |a: &mut Value| *a = json!({ "id": "x" }),
        |a: &mut Value| a["response"]["userHandle"] = json!("AAAAAAAAAAAAAAAAAAAAAA"),
    ];
    // (Each from its own address: five refusals from one would throttle it.)
    for (i, tamper) in (30..).zip(tampers) {
        let mut d = Browser::new(&env).from_address(i);
        let (token, options) = sign_in_options(&app, &mut d).await;
        let mut answer = key.sign_in(ISSUER, &body(&options));
        tamper(&mut answer);
        let reply = d
            .post_json(
                &app,
                "/console/sign-in/passkey",
                &json!({ "csrf_token": token, "credential": answer }),
            )
            .await;
        assert_refused(&reply, "passkey_refused");
        assert_eq!(
            body(&reply)["message"],
            "That passkey was not accepted. Try again, or sign in another way."
        );
    }

    // Still the passkey's: an untampered answer signs in.
    let mut e = Browser::new(&env).from_address(40);
    assert_eq!(sign_in(&app, &mut e, &mut key, "").await.status, 200);
}

async fn a_reset_or_a_disable_ends_passkey_sign_in(db: TestDb) {
    let env = Env::with(db, ISSUER, &[]);
    let app = app!(env);
    let code = env.invite("ada@example.test", &Owner::Operator);
    let mut key = Authenticator::new();
    let mut b = Browser::new(&env);
    assert_eq!(register(&app, &mut b, &code, &mut key).await.status, 200);
    let ada = env.user("ada@example.test");
    let system = Actor::system("test");

    env.store().disable_user(&system, &ada, env.now()).unwrap();
    let mut c = Browser::new(&env);
    assert_refused(
        &sign_in(&app, &mut c, &mut key, "").await,
        "passkey_refused",
    );
    env.store().enable_user(&system, &ada, env.now()).unwrap();
    let mut c = Browser::new(&env);
    assert_eq!(sign_in(&app, &mut c, &mut key, "").await.status, 200);

    // A reset ends the passkey; the reset link registers a new one.
    let (_, reset) = env
        .store()
        .reset_user(
            &system,
            "ada@example.test",
            time::Duration::days(1),
            env.now(),
        )
        .unwrap();
    let mut c = Browser::new(&env);
    assert_refused(
        &sign_in(&app, &mut c, &mut key, "").await,
        "passkey_refused",
    );
    let mut fresh = Authenticator::new();
    let mut d = Browser::new(&env);
    let done = register(&app, &mut d, reset.expose(), &mut fresh).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(env.user("ada@example.test"), ada, "the same person");
    let mut e = Browser::new(&env);
    assert_eq!(sign_in(&app, &mut e, &mut fresh, "").await.status, 200);
}

async fn ceremony_requests_need_the_page_token_the_origin_and_json(db: TestDb) {
    let env = Env::with(db, ISSUER, &[]);
    let app = app!(env);
    let mut b = Browser::new(&env);
    let page = b.get(&app, "/console/sign-in").await;
    let token = passkey_token(&page);
    let path = "/console/sign-in/passkey/options";

    let wrong = b
        .post_json(&app, path, &json!({ "csrf_token": "nope" }))
        .await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    assert_eq!(body(&wrong)["error"], "forbidden");
    let mut cross = b.clone();
    cross.origin = "https://evil.example".into();
    let forged = cross
        .post_json(&app, path, &json!({ "csrf_token": token }))
        .await;
    assert_eq!(forged.status, 403);
    let as_form = b.post(&app, path, &[("csrf_token", &token)]).await;
    assert_eq!(as_form.status, 400, "{}", as_form.body);
    assert_eq!(body(&as_form)["error"], "bad_request");
    for refused in [&wrong, &forged, &as_form] {
        assert!(refused.set_cookie("__Host-keygate_passkey").is_none());
    }
    // Answering with no ceremony begun: 400, in JSON.
    let none = b
        .post_json(
            &app,
            "/console/sign-in/passkey",
            &json!({ "csrf_token": token }),
        )
        .await;
    assert_refused(&none, "passkey_expired");
    // Registration needs a setup link that sets credentials.
    let no_link = b
        .post_json(
            &app,
            "/console/setup/passkey/options",
            &json!({ "csrf_token": token }),
        )
        .await;
    assert_eq!(no_link.status, 400, "{}", no_link.body);
    assert_eq!(body(&no_link)["error"], "no_invitation");
    // An expired ceremony: refused.
    let (token, options) = sign_in_options(&app, &mut b).await;
    assert_eq!(options.status, 200);
    env.advance(121);
    let late = b
        .post_json(
            &app,
            "/console/sign-in/passkey",
            &json!({ "csrf_token": token, "credential": {} }),
        )
        .await;
    assert_refused(&late, "passkey_expired");

    // A plain-http issuer (not localhost) offers no passkeys: no control, no route.
    let plain = Env::new(TestDb::sqlite());
    let plain_app = app!(plain);
    let mut p = Browser::new(&plain);
    let page = p.get(&plain_app, "/console/sign-in").await;
    assert!(!page.has_button("Sign in with a passkey"));
    assert!(!page.body.contains("passkeys.js"));
    let token = page.form_token("/console/sign-in");
    let gone = p
        .post_json(&plain_app, path, &json!({ "csrf_token": token }))
        .await;
    assert_eq!(gone.status, 404);
    let code = plain.invite("bob@example.test", &Owner::Operator);
    p.get(&plain_app, &format!("/console/setup/{code}")).await;
    let setup = p.get(&plain_app, "/console/setup").await;
    assert!(setup.has_button("Set password") && !setup.has_button("Register a passkey"));
    // http://localhost is a secure context: offered there.
    let local = Env::with(TestDb::sqlite(), "http://localhost:8080", &[]);
    let local_app = app!(local);
    let page = Browser::new(&local)
        .get(&local_app, "/console/sign-in")
        .await;
    assert!(page.has_button("Sign in with a passkey"));
}

async fn failed_passkey_sign_ins_are_throttled_per_address(db: TestDb) {
    let env = Env::with(db, ISSUER, &[]);
    let app = app!(env);
    let mut b = Browser::new(&env);
    for _ in 0..5 {
        let (token, options) = sign_in_options(&app, &mut b).await;
        assert_eq!(options.status, 200, "{}", options.body);
        let reply = b
            .post_json(
                &app,
                "/console/sign-in/passkey",
                &json!({ "csrf_token": token, "credential": { "id": "garbage" } }),
            )
            .await;
        assert_refused(&reply, "passkey_refused");
    }
    let (_, throttled) = sign_in_options(&app, &mut b).await;
    assert_eq!(throttled.status, 429, "{}", throttled.body);
    assert_eq!(body(&throttled)["error"], "throttled");
    assert!(throttled.header("retry-after").is_some());
    // Another address is not held back.
    let mut other = Browser::new(&env).from_address(77);
    let (_, fine) = sign_in_options(&app, &mut other).await;
    assert_eq!(fine.status, 200);
}
