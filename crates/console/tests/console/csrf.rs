//! CSRF: every state-changing request without the right token, or from another
//! origin, is a 403 and changes nothing.

use keypair_store::testing::TestDb;
use keypair_store::Owner;

use crate::{app, person, Browser, Env, PASSWORD};

keypair_store::on_both_backends_async! {
    sign_out_without_the_right_token_or_origin_is_refused;
    sign_in_and_setup_need_the_pre_session_token_and_origin;
}

async fn sign_out_without_the_right_token_or_origin_is_refused(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    person(&app, &env, "ada@example.test", &Owner::Account(acme)).await;
    let mut b = Browser::new(&env);
    assert_eq!(
        b.sign_in(&app, "ada@example.test", PASSWORD).await.status,
        303
    );
    let home = b.get(&app, "/console").await;
    let token = home.form_token("/console/sign-out");
    let session = b.cookie("keygate_session").unwrap().to_owned();
    assert!(
        !token.contains(&session) && !home.body.contains(&session),
        "the id is never in a page"
    );

    type Pairs<'a> = Vec<(&'a str, &'a str)>;
    let cases: Vec<(Pairs, Pairs)> = vec![
        (vec![], vec![("origin", "http://keygate.test")]),
        (
            vec![("csrf_token", "wrong")],
            vec![("origin", "http://keygate.test")],
        ),
        (
            vec![("csrf_token", &session)],
            vec![("origin", "http://keygate.test")],
        ),
        (
            vec![("csrf_token", &token)],
            vec![("origin", "https://evil.example")],
        ),
        (vec![("csrf_token", &token)], vec![("origin", "null")]),
        (vec![("csrf_token", &token)], vec![]),
        (
            vec![("csrf_token", &token)],
            vec![("referer", "https://evil.example/console")],
        ),
    ];
    for (fields, headers) in cases {
        let r = b
            .post_with(&app, "/console/sign-out", &fields, &headers)
            .await;
        assert_eq!(r.status, 403, "{fields:?} {headers:?}");
        assert!(r.text().contains("Request refused"));
        assert_eq!(
            b.cookie("keygate_session"),
            Some(session.as_str()),
            "cookie kept"
        );
        assert_eq!(b.get(&app, "/console").await.status, 200, "still signed in");
    }
    // A same-site Referer without an Origin is enough with the token.
    let r = b
        .post_with(
            &app,
            "/console/sign-out",
            &[("csrf_token", &token)],
            &[("referer", "http://keygate.test/console")],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(b.get(&app, "/console").await.status, 303);
}

async fn sign_in_and_setup_need_the_pre_session_token_and_origin(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    person(
        &app,
        &env,
        "ada@example.test",
        &Owner::Account(acme.clone()),
    )
    .await;

    let mut b = Browser::new(&env);
    let page = b.get(&app, "/console/sign-in").await;
    let pre = page.set_cookie("keygate_csrf").unwrap();
    assert!(pre.contains("HttpOnly") && pre.contains("SameSite=Lax"));
    let token = page.form_token("/console/sign-in");
    let pre_value = b.cookie("keygate_csrf").unwrap().to_owned();
    assert_ne!(token, pre_value, "the token is derived, not the cookie");
    let good = [("email", "ada@example.test"), ("password", PASSWORD)];
    fn with<'a>(good: &[(&'a str, &'a str)], t: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
        let mut f = good.to_vec();
        if let Some(t) = t {
            f.push(("csrf_token", t));
        }
        f
    }
    for (fields, origin) in [
        (with(&good, None), "http://keygate.test"),
        (with(&good, Some("wrong")), "http://keygate.test"),
        (with(&good, Some(&pre_value)), "http://keygate.test"),
        (with(&good, Some(&token)), "https://evil.example"),
        (with(&good, Some(&token)), "http://keygate.test:8080"),
    ] {
        let r = b
            .post_with(&app, "/console/sign-in", &fields, &[("origin", origin)])
            .await;
        assert_eq!(r.status, 403, "{origin}");
        assert!(b.cookie("keygate_session").is_none());
    }
    // A token from another browser's cookie does not fit this one's.
    let mut other = Browser::new(&env);
    let other_token = other
        .get(&app, "/console/sign-in")
        .await
        .form_token("/console/sign-in");
    let r = b
        .post(&app, "/console/sign-in", &with(&good, Some(&other_token)))
        .await;
    assert_eq!(r.status, 403);
    // Without the pre-session cookie no token fits.
    let mut bare = b.clone();
    bare.cookies.clear();
    assert_eq!(
        bare.post(&app, "/console/sign-in", &with(&good, Some(&token)))
            .await
            .status,
        403
    );
    // Refused requests were not counted as failed sign-ins, and the right one works.
    assert_eq!(
        b.post(&app, "/console/sign-in", &with(&good, Some(&token)))
            .await
            .status,
        303
    );

    // Setup: the invitation stays pending after refused posts.
    let code = env.invite("bob@example.test", &Owner::Account(acme));
    let mut c = Browser::new(&env);
    assert_eq!(
        c.get(&app, &format!("/console/setup/{code}")).await.status,
        303
    );
    let page = c.get(&app, "/console/setup").await;
    let token = page.form_token("/console/setup");
    for (t, origin) in [
        ("", "http://keygate.test"),
        ("wrong", "http://keygate.test"),
        (token.as_str(), "https://evil.example"),
    ] {
        let r = c
            .post_with(
                &app,
                "/console/setup",
                &[
                    ("csrf_token", t),
                    ("action", "set_password"),
                    ("new_password", PASSWORD),
                ],
                &[("origin", origin)],
            )
            .await;
        assert_eq!(r.status, 403, "{origin} {t}");
    }
    assert!(env.store().get_user_by_email("bob@example.test").is_err());
    assert_eq!(
        c.get(&app, "/console/setup").await.status,
        200,
        "still pending"
    );
}
