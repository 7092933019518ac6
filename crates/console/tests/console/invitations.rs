//! Setup links: open (checked, not used up, moved out of the URL), set a password or
//! accept signed in, single use, expiry, withdrawal, other people.

use keypair_store::testing::TestDb;
use keypair_store::{Actor, AuditAction, Owner, PageRequest};

use crate::{app, env_owner, person, Browser, Env, PASSWORD};

keypair_store::on_both_backends_async! {
    a_new_person_sets_a_password_is_signed_in_and_signs_out;
    an_existing_email_is_bound_only_when_that_person_signed_in_accepts;
    a_link_works_once_and_not_after_it_expires_or_is_withdrawn;
    a_too_short_password_is_refused_and_the_link_still_works;
    a_reset_link_sets_a_new_password_and_grants_nothing;
}

async fn a_new_person_sets_a_password_is_signed_in_and_signs_out(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    let prod = env.environment(&acme, "Production");
    let other = env.account("Other Corp");
    env.environment(&other, "Hidden");
    let code = env.invite("Ada@Example.test", &Owner::Account(acme.clone()));
    let mut b = Browser::new(&env);

    // Opening the link: 303 to a URL without the code, the code in a cookie.
    let opened = b.get(&app, &format!("/console/setup/{code}")).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    assert_eq!(opened.location(), "/console/setup");
    assert!(!opened.location().contains(&code));
    let cookie = opened.set_cookie("keygate_setup").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/")
    );
    assert!(cookie.contains("Max-Age="), "short-lived: {cookie}");
    assert_eq!(opened.header("cache-control"), Some("no-store"));
    // Opening it did not use it up (mail scanners follow links): again, same answer.
    let again = Browser::new(&env)
        .get(&app, &format!("/console/setup/{code}"))
        .await;
    assert_eq!(again.status, 303);

    let page = b.get(&app, "/console/setup").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.has_label("New password") && page.has_button("Set password"));
    assert!(!page.has_button("Accept invitation"));
    assert!(page
        .text()
        .contains("Ada@Example.test is invited as an account administrator of Acme"));
    assert!(!page.body.contains(&code), "the code is never in a page");
    assert_eq!(page.header("cache-control"), Some("no-store"));

    let done = b
        .post(
            &app,
            "/console/setup",
            &[
                ("csrf_token", &page.form_token("/console/setup")),
                ("action", "set_password"),
                ("new_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), "/console");
    assert!(b.cookie("keygate_session").is_some(), "signed in");
    assert!(
        b.cookie("keygate_setup").is_none(),
        "the setup cookie is removed"
    );

    // Signed in: the home page lists what the binding reaches, and nothing else.
    let home = b.get(&app, "/console").await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(
        home.has_link("Acme") && home.has_link("Production"),
        "{}",
        home.body
    );
    assert!(!home.has_link("Other Corp") && !home.has_link("Hidden"));
    assert!(home
        .body
        .contains(&format!("href=\"/console/accounts/{}\"", acme.as_str())));
    assert!(home.body.contains(&format!(
        "href=\"/console/environments/{}\"",
        prod.id.as_str()
    )));
    assert!(home.has_button("Sign out"));
    assert!(home.text().contains("Ada@Example.test"));

    // The acceptance is audited with the person as actor.
    let user = env.user("ada@example.test");
    let audit = env
        .store()
        .list_audit(&acme, &PageRequest::first())
        .unwrap();
    let accepted = audit
        .items
        .iter()
        .find(|r| r.action == AuditAction::InvitationAccept.as_str())
        .expect("an accept record");
    assert_eq!(accepted.actor, Actor::User(user.clone()).recorded());

    // Sign out: the session is gone, in the database too.
    let session = b.cookie("keygate_session").unwrap().to_owned();
    let out = b.sign_out(&app).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), "/console/sign-in");
    assert!(b.cookie("keygate_session").is_none());
    assert!(env
        .store()
        .find_session(
            &keypair_store::SessionId::from_presented(&session),
            env.now(),
            time::Duration::hours(1),
            time::Duration::hours(12)
        )
        .unwrap()
        .is_none());
    // The old cookie, presented again, is no session.
    b.cookies.insert("keygate_session".into(), session);
    let home = b.get(&app, "/console").await;
    assert_eq!(home.status, 303);
    assert_eq!(home.location(), "/console/sign-in");

    // And the new password signs in.
    let signed = b.sign_in(&app, "ada@example.test", PASSWORD).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
}

async fn an_existing_email_is_bound_only_when_that_person_signed_in_accepts(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    let staging = env.environment(&acme, "Staging");
    let globex = env.account("Globex");
    let ada = person(
        &app,
        &env,
        "ada@example.test",
        &Owner::Account(globex.clone()),
    )
    .await;
    let bob = person(
        &app,
        &env,
        "bob@example.test",
        &Owner::Account(globex.clone()),
    )
    .await;
    let before = env.store().user_bindings(&ada).unwrap();
    let code = env.invite("ADA@example.test", &env_owner(&staging));

    // Someone who is not signed in opens the link: no password field, a way to sign in.
    let mut stranger = Browser::new(&env);
    assert_eq!(
        stranger
            .get(&app, &format!("/console/setup/{code}"))
            .await
            .status,
        303
    );
    let page = stranger.get(&app, "/console/setup").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.has_label("New password") && !page.has_button("Set password"));
    assert!(!page.has_button("Accept invitation"));
    assert!(page
        .body
        .contains("href=\"/console/sign-in?next=/console/setup\""));
    // Trying to set credentials through it anyway (with a token from the sign-in
    // page): refused, nothing granted.
    let token = stranger
        .get(&app, "/console/sign-in")
        .await
        .form_token("/console/sign-in");
    let forced = stranger
        .post(
            &app,
            "/console/setup",
            &[
                ("csrf_token", &token),
                ("action", "set_password"),
                ("new_password", "a password of the attacker"),
            ],
        )
        .await;
    assert!((400..500).contains(&forced.status), "{}", forced.status);
    assert!(stranger.cookie("keygate_session").is_none());
    assert_eq!(env.store().user_bindings(&ada).unwrap(), before);
    assert!(
        stranger
            .sign_in(&app, "ada@example.test", "a password of the attacker")
            .await
            .status
            >= 400
    );

    // Another person, signed in, cannot accept it either.
    let mut other = Browser::new(&env);
    assert_eq!(
        other
            .sign_in(&app, "bob@example.test", PASSWORD)
            .await
            .status,
        303
    );
    assert_eq!(
        other
            .get(&app, &format!("/console/setup/{code}"))
            .await
            .status,
        303
    );
    let page = other.get(&app, "/console/setup").await;
    assert!(!page.has_button("Accept invitation"), "{}", page.body);
    let home = other.get(&app, "/console").await;
    let refused = other
        .post(
            &app,
            "/console/setup",
            &[
                ("csrf_token", &home.form_token("/console/sign-out")),
                ("action", "accept"),
            ],
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(env.store().user_bindings(&bob).unwrap().len(), 1);
    assert_eq!(env.store().user_bindings(&ada).unwrap(), before);

    // The invited person signs in through the page's link and comes back to accept.
    let signed = stranger
        .sign_in_to(&app, "ada@example.test", PASSWORD, "/console/setup")
        .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert_eq!(signed.location(), "/console/setup");
    let page = stranger.get(&app, "/console/setup").await;
    assert!(page.has_button("Accept invitation"), "{}", page.body);
    assert!(!page.has_label("New password"));
    let home = stranger.get(&app, "/console").await;
    assert!(!home.has_link("Staging"), "nothing before accepting");
    let accepted = stranger
        .post(
            &app,
            "/console/setup",
            &[
                ("csrf_token", &page.form_token("/console/setup")),
                ("action", "accept"),
            ],
        )
        .await;
    assert_eq!(accepted.status, 303, "{}", accepted.body);
    assert_eq!(accepted.location(), "/console");
    let home = stranger.get(&app, "/console").await;
    assert!(
        home.has_link("Staging") && home.has_link("Globex"),
        "{}",
        home.body
    );
    assert_eq!(env.store().user_bindings(&ada).unwrap().len(), 2);
    // The invitation is used.
    assert_eq!(
        stranger
            .get(&app, &format!("/console/setup/{code}"))
            .await
            .status,
        410
    );
}

async fn a_link_works_once_and_not_after_it_expires_or_is_withdrawn(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    let owner = Owner::Account(acme.clone());

    // Used once: the second opening, and the form still open elsewhere, answer 410.
    let code = env.invite("ada@example.test", &owner);
    let mut late = Browser::new(&env);
    assert_eq!(
        late.get(&app, &format!("/console/setup/{code}"))
            .await
            .status,
        303
    );
    let late_page = late.get(&app, "/console/setup").await;
    let mut b = Browser::new(&env);
    assert_eq!(
        b.accept_with_password(&app, &code, PASSWORD).await.status,
        303
    );
    let reused = Browser::new(&env)
        .get(&app, &format!("/console/setup/{code}"))
        .await;
    assert_eq!(reused.status, 410, "{}", reused.body);
    assert!(reused.text().contains("Invitation no longer valid"));
    assert!(reused
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(reused.set_cookie("keygate_setup").is_none());
    assert_eq!(late.get(&app, "/console/setup").await.status, 410);
    let second = late
        .post(
            &app,
            "/console/setup",
            &[
                ("csrf_token", &late_page.form_token("/console/setup")),
                ("action", "set_password"),
                ("new_password", "another good password"),
            ],
        )
        .await;
    assert_eq!(second.status, 410, "{}", second.body);
    assert!(late.cookie("keygate_session").is_none());

    // Expired: valid a second before its lifetime ends, not at it.
    let code = env.invite("bob@example.test", &owner);
    env.advance(86_399);
    assert_eq!(
        Browser::new(&env)
            .get(&app, &format!("/console/setup/{code}"))
            .await
            .status,
        303
    );
    let mut b = Browser::new(&env);
    assert_eq!(
        b.get(&app, &format!("/console/setup/{code}")).await.status,
        303
    );
    env.advance(1);
    assert_eq!(
        Browser::new(&env)
            .get(&app, &format!("/console/setup/{code}"))
            .await
            .status,
        410
    );
    assert_eq!(b.get(&app, "/console/setup").await.status, 410);

    // Withdrawn.
    let (inv, code) = env
        .store()
        .invite(
            &Actor::system("test"),
            "cy@example.test",
            &owner,
            time::Duration::days(1),
            env.now(),
        )
        .unwrap();
    env.store()
        .withdraw_invitation(&Actor::system("test"), &owner, &inv.id, env.now())
        .unwrap();
    assert_eq!(
        Browser::new(&env)
            .get(&app, &format!("/console/setup/{}", code.expose()))
            .await
            .status,
        410
    );

    // Made up, or absurdly long: the same page, never a 500.
    for bogus in ["nope", &"f".repeat(64), &"a".repeat(4000)] {
        let r = Browser::new(&env)
            .get(&app, &format!("/console/setup/{bogus}"))
            .await;
        assert_eq!(r.status, 410, "{bogus}");
    }
    // No setup cookie at all.
    let r = Browser::new(&env).get(&app, "/console/setup").await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("Open the setup link"));
}

async fn a_too_short_password_is_refused_and_the_link_still_works(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    let code = env.invite("ada@example.test", &Owner::Account(acme));
    let mut b = Browser::new(&env);
    let short = b.accept_with_password(&app, &code, "short").await;
    assert_eq!(short.status, 400, "{}", short.body);
    assert!(short.text().contains("12 to 1024 characters"));
    assert!(short.has_label("New password"));
    assert!(b.cookie("keygate_session").is_none());
    assert!(env.store().get_user_by_email("ada@example.test").is_err());
    let page = b.get(&app, "/console/setup").await;
    let done = b
        .post(
            &app,
            "/console/setup",
            &[
                ("csrf_token", &page.form_token("/console/setup")),
                ("action", "set_password"),
                ("new_password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
}

async fn a_reset_link_sets_a_new_password_and_grants_nothing(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    let ada = person(
        &app,
        &env,
        "ada@example.test",
        &Owner::Account(acme.clone()),
    )
    .await;
    let mut signed_in = Browser::new(&env);
    assert_eq!(
        signed_in
            .sign_in(&app, "ada@example.test", PASSWORD)
            .await
            .status,
        303
    );
    let (_, code) = env
        .store()
        .reset_user(
            &Actor::system("test"),
            "ada@example.test",
            time::Duration::days(1),
            env.now(),
        )
        .unwrap();
    // The reset ended her session and her password.
    assert_eq!(signed_in.get(&app, "/console").await.status, 303);
    assert_eq!(
        Browser::new(&env)
            .sign_in(&app, "ada@example.test", PASSWORD)
            .await
            .status,
        400
    );

    let mut b = Browser::new(&env);
    assert_eq!(
        b.get(&app, &format!("/console/setup/{}", code.expose()))
            .await
            .status,
        303
    );
    let page = b.get(&app, "/console/setup").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page
        .text()
        .contains("Choose a new password for ada@example.test."));
    assert!(page.has_label("New password") && page.has_button("Set password"));
    let done = b
        .post(
            &app,
            "/console/setup",
            &[
                ("csrf_token", &page.form_token("/console/setup")),
                ("action", "set_password"),
                ("new_password", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let home = b.get(&app, "/console").await;
    assert!(
        home.has_link("Acme"),
        "the same person, the same reach: {}",
        home.body
    );
    assert_eq!(env.store().user_bindings(&ada).unwrap().len(), 1);
    assert_eq!(
        Browser::new(&env)
            .sign_in(&app, "ada@example.test", "a brand new password")
            .await
            .status,
        303
    );
    assert_eq!(
        Browser::new(&env)
            .get(&app, &format!("/console/setup/{}", code.expose()))
            .await
            .status,
        410
    );
}
