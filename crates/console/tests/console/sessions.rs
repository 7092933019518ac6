//! Sessions: idle and absolute timeouts, a new id at every sign-in, and changes to the
//! person (binding removed, disabled) seen by the next request.

use keypair_store::testing::TestDb;
use keypair_store::{Actor, Owner, SessionId};

use crate::{app, env_owner, person, Browser, Env, PASSWORD};

keypair_store::on_both_backends_async! {
    sessions_end_after_the_idle_and_the_absolute_timeout;
    every_sign_in_makes_a_new_session_id;
    a_removed_binding_narrows_the_home_page_and_disabling_ends_the_session;
    a_session_is_served_and_ended_by_every_process;
}

async fn sessions_end_after_the_idle_and_the_absolute_timeout(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    person(&app, &env, "ada@example.test", &Owner::Account(acme)).await;

    // Idle: each request restarts the 1800 s.
    let mut b = Browser::new(&env);
    assert_eq!(
        b.sign_in(&app, "ada@example.test", PASSWORD).await.status,
        303
    );
    env.advance(1799);
    assert_eq!(b.get(&app, "/console").await.status, 200);
    env.advance(1799);
    assert_eq!(b.get(&app, "/console").await.status, 200);
    env.advance(1800);
    let ended = b.get(&app, "/console").await;
    assert_eq!(ended.status, 303);
    assert_eq!(ended.location(), "/console/sign-in");

    // Absolute: 43200 s after sign-in, however busy.
    let mut b = Browser::new(&env);
    assert_eq!(
        b.sign_in(&app, "ada@example.test", PASSWORD).await.status,
        303
    );
    for _ in 0..43 {
        env.advance(1000);
        assert_eq!(b.get(&app, "/console").await.status, 200);
    }
    env.advance(199);
    assert_eq!(b.get(&app, "/console").await.status, 200, "43199 s in");
    env.advance(1);
    assert_eq!(b.get(&app, "/console").await.status, 303, "43200 s in");
}

async fn every_sign_in_makes_a_new_session_id(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    person(&app, &env, "ada@example.test", &Owner::Account(acme)).await;

    // A cookie planted before sign-in (session fixation) is not the session after it.
    let mut b = Browser::new(&env);
    let planted = "f".repeat(64);
    b.cookies.insert("keygate_session".into(), planted.clone());
    assert_eq!(
        b.sign_in(&app, "ada@example.test", PASSWORD).await.status,
        303
    );
    let first = b.cookie("keygate_session").unwrap().to_owned();
    assert_ne!(first, planted);
    let mut fixated = Browser::new(&env);
    fixated.cookies.insert("keygate_session".into(), planted);
    assert_eq!(fixated.get(&app, "/console").await.status, 303);

    // Signing in again over a live session (a sign-in form still open in another
    // tab): a new id, and the old one ends.
    let token = crate::csrf_token_of(&mut b, &app).await;
    let again = b
        .post(
            &app,
            "/console/sign-in",
            &[
                ("csrf_token", &token),
                ("email", "ada@example.test"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(again.status, 303, "{}", again.body);
    let second = b.cookie("keygate_session").unwrap().to_owned();
    assert_ne!(second, first);
    let live = |id: &str| {
        env.store()
            .find_session(
                &SessionId::from_presented(id),
                env.now(),
                time::Duration::hours(1),
                time::Duration::hours(12),
            )
            .unwrap()
            .is_some()
    };
    assert!(!live(&first));
    assert!(live(&second));
    let mut old = Browser::new(&env);
    old.cookies.insert("keygate_session".into(), first);
    assert_eq!(old.get(&app, "/console").await.status, 303);
    assert_eq!(b.get(&app, "/console").await.status, 200);
}

async fn a_removed_binding_narrows_the_home_page_and_disabling_ends_the_session(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    let globex = env.account("Globex");
    let lab = env.environment(&globex, "Lab");
    let ada = person(
        &app,
        &env,
        "ada@example.test",
        &Owner::Account(acme.clone()),
    )
    .await;
    let code = env.invite("ada@example.test", &env_owner(&lab));
    let mut b = Browser::new(&env);
    assert_eq!(
        b.sign_in(&app, "ada@example.test", PASSWORD).await.status,
        303
    );
    assert_eq!(
        b.get(&app, &format!("/console/setup/{code}")).await.status,
        303
    );
    let page = b.get(&app, "/console/setup").await;
    let r = b
        .post(
            &app,
            "/console/setup",
            &[
                ("csrf_token", &page.form_token("/console/setup")),
                ("action", "accept"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let home = b.get(&app, "/console").await;
    assert!(
        home.has_link("Acme") && home.has_link("Lab"),
        "{}",
        home.body
    );
    let acme_page = format!("/console/accounts/{}", acme.as_str());
    assert_eq!(b.get(&app, &acme_page).await.status, 200);

    env.store()
        .remove_binding(
            &Actor::system("test"),
            &ada,
            &Owner::Account(acme.clone()),
            env.now(),
        )
        .unwrap();
    let home = b.get(&app, "/console").await;
    assert_eq!(home.status, 200);
    assert!(
        !home.has_link("Acme") && home.has_link("Lab"),
        "{}",
        home.body
    );
    let gone = b.get(&app, &acme_page).await;
    assert_eq!(gone.status, 404, "out of reach at once");
    assert!(gone.text().contains("Not found"));

    env.store()
        .disable_user(&Actor::system("test"), &ada, env.now())
        .unwrap();
    let ended = b.get(&app, "/console").await;
    assert_eq!(ended.status, 303);
    assert_eq!(ended.location(), "/console/sign-in");
    env.store()
        .enable_user(&Actor::system("test"), &ada, env.now())
        .unwrap();
    assert_eq!(
        b.get(&app, "/console").await.status,
        303,
        "the session stays ended"
    );
}

async fn a_session_is_served_and_ended_by_every_process(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let other = env.second_process();
    let other = actix_web::test::init_service(other.app()).await;
    let acme = env.account("Acme");
    person(&app, &env, "ada@example.test", &Owner::Account(acme)).await;
    let mut b = Browser::new(&env);
    assert_eq!(
        b.sign_in(&app, "ada@example.test", PASSWORD).await.status,
        303
    );
    let home = b.get(&other, "/console").await;
    assert_eq!(home.status, 200, "the other process serves the session");
    assert!(home.has_link("Acme"));
    // Signed out through the other process: this one sees it at once.
    let session = b.cookie("keygate_session").unwrap().to_owned();
    assert_eq!(b.get(&app, "/console").await.status, 200);
    let out = b
        .post(
            &other,
            "/console/sign-out",
            &[("csrf_token", &home.form_token("/console/sign-out"))],
        )
        .await;
    assert_eq!(out.status, 303);
    let mut stale = Browser::new(&env);
    stale.cookies.insert("keygate_session".into(), session);
    assert_eq!(stale.get(&app, "/console").await.status, 303);
}
