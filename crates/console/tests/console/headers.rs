//! Security headers on every answer, cookie flags for http and https issuers, and the
//! redirect for another `Host`.

use keypair_store::testing::TestDb;
use keypair_store::Owner;

use crate::{app, person, Browser, Env, Reply, PASSWORD};

keypair_store::on_both_backends_async! {
    every_answer_carries_the_security_headers;
    cookies_are_host_only_and_secure_with_an_https_issuer;
    another_host_is_redirected_to_the_issuer;
}

const CSP: &str = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

fn assert_secured(r: &Reply, what: &str) {
    assert_eq!(r.header("content-security-policy"), Some(CSP), "{what}");
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(r.header("referrer-policy"), Some("same-origin"), "{what}");
}

async fn every_answer_carries_the_security_headers(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    person(&app, &env, "ada@example.test", &Owner::Account(acme)).await;
    let mut b = Browser::new(&env);

    let sign_in = b.get(&app, "/console/sign-in").await;
    assert_eq!(sign_in.status, 200);
    assert_secured(&sign_in, "sign-in page");
    assert_eq!(sign_in.header("cache-control"), Some("no-store"));
    assert!(sign_in
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(!sign_in.body.contains("<script") && !sign_in.body.contains("style="));
    let redirect = b.get(&app, "/console").await;
    assert_eq!(redirect.status, 303);
    assert_secured(&redirect, "redirect to sign-in");
    let missing = b.get(&app, "/console/no-such-page").await;
    assert_eq!(missing.status, 404);
    assert!(missing
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert_secured(&missing, "404");
    let refused = b.post_with(&app, "/console/sign-out", &[], &[]).await;
    assert_eq!(refused.status, 403);
    assert_secured(&refused, "403");
    let gone = b.get(&app, "/console/setup/nope").await;
    assert_eq!(gone.status, 410);
    assert_secured(&gone, "410");
    let wrong_method = b
        .send(&app, actix_web::test::TestRequest::delete().uri("/console"))
        .await;
    assert_secured(&wrong_method, "wrong method");
    assert!((400..500).contains(&wrong_method.status));
    let css = b.get(&app, "/console/assets/console.css").await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    assert_secured(&css, "stylesheet");
    assert_eq!(b.get(&app, "/console/assets/nope.js").await.status, 404);

    let signed = b.sign_in(&app, "ada@example.test", PASSWORD).await;
    assert_secured(&signed, "sign-in redirect");
    let home = b.get(&app, "/console").await;
    assert_eq!(home.status, 200);
    assert_secured(&home, "home");
    assert_eq!(home.header("cache-control"), Some("no-store"));
    let out = b.sign_out(&app).await;
    assert_secured(&out, "sign-out");

    // Not the console's business: the rest of the app is unchanged.
    let health = b.get(&app, "/healthz").await;
    assert_eq!(health.status, 200);
    assert!(health.header("content-security-policy").is_none());
}

async fn cookies_are_host_only_and_secure_with_an_https_issuer(db: TestDb) {
    // http: plain names, no Secure (a browser would drop Secure cookies over http).
    let env = Env::new(TestDb::sqlite());
    let app = app!(env);
    let acme = env.account("Acme");
    let code = env.invite("ada@example.test", &Owner::Account(acme));
    let mut b = Browser::new(&env);
    let opened = b.get(&app, &format!("/console/setup/{code}")).await;
    let setup = opened.set_cookie("keygate_setup").unwrap();
    let page = b.get(&app, "/console/setup").await;
    let pre = page.set_cookie("keygate_csrf").unwrap();
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
    let session = done.set_cookie("keygate_session").unwrap();
    for c in [setup, pre, session] {
        assert!(c.contains("; HttpOnly"), "{c}");
        assert!(c.contains("; SameSite=Lax"), "{c}");
        assert!(c.contains("; Path=/"), "{c}");
        assert!(!c.contains("Secure"), "{c}");
        assert!(!c.contains("Domain"), "{c}");
    }
    drop(env);

    // https: `__Host-` names, Secure.
    let env = Env::with(db, "https://keygate.example", &[]);
    let app = app!(env);
    let acme = env.account("Acme");
    let code = env.invite("ada@example.test", &Owner::Account(acme));
    let mut b = Browser::new(&env);
    let opened = b.get(&app, &format!("/console/setup/{code}")).await;
    assert_eq!(opened.status, 303);
    let setup = opened
        .set_cookie("__Host-keygate_setup")
        .unwrap()
        .to_owned();
    let page = b.get(&app, "/console/setup").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let pre = page.set_cookie("__Host-keygate_csrf").unwrap().to_owned();
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
    let session = done
        .set_cookie("__Host-keygate_session")
        .unwrap()
        .to_owned();
    let cleared = done.set_cookie("__Host-keygate_setup").unwrap().to_owned();
    assert!(cleared.contains("Max-Age=0"));
    for c in [&setup, &pre, &session, &cleared] {
        assert!(
            c.contains("; HttpOnly") && c.contains("; SameSite=Lax"),
            "{c}"
        );
        assert!(c.contains("; Path=/") && c.contains("; Secure"), "{c}");
        assert!(!c.contains("Domain"), "{c}");
    }
    assert_eq!(b.get(&app, "/console").await.status, 200);
    // The unprefixed name is not read.
    let mut plain = Browser::new(&env);
    plain.cookies.insert(
        "keygate_session".into(),
        b.cookie("__Host-keygate_session").unwrap().to_owned(),
    );
    assert_eq!(plain.get(&app, "/console").await.status, 303);
}

async fn another_host_is_redirected_to_the_issuer(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let mut b = Browser::new(&env);
    b.host = "evil.example".into();
    let r = b.get(&app, "/console/sign-in?next=%2Fconsole").await;
    assert_eq!(r.status, 307);
    assert_eq!(
        r.location(),
        "http://keygate.test/console/sign-in?next=%2Fconsole"
    );
    assert_secured(&r, "host redirect");
    assert!(r.set_cookies().is_empty());
    // A post too, before anything is read or changed.
    let r = b.post(&app, "/console/sign-out", &[]).await;
    assert_eq!(r.status, 307);
    // A port is part of the host.
    b.host = "keygate.test:8080".into();
    assert_eq!(b.get(&app, "/console").await.status, 307);
    // The issuer's host, in any case and with the default port, is served.
    b.host = "KEYGATE.test:80".into();
    assert_eq!(b.get(&app, "/console/sign-in").await.status, 200);
}
