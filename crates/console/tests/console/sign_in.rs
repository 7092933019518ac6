//! Sign-in: failures look alike, throttling per (email, address) and per address, the
//! way back to `next` and no open redirect.

use keypair_store::testing::TestDb;
use keypair_store::{Actor, Owner};

use crate::{app, person, Browser, Env, PASSWORD};

keypair_store::on_both_backends_async! {
    a_wrong_password_and_an_unknown_email_look_alike;
    failed_sign_ins_are_throttled_per_email_and_address_and_per_address;
    sign_in_comes_back_to_next_inside_the_console_only;
    a_disabled_person_cannot_sign_in;
}

async fn a_wrong_password_and_an_unknown_email_look_alike(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    person(&app, &env, "ada@example.test", &Owner::Account(acme)).await;
    let mut b = Browser::new(&env);
    let wrong = b
        .sign_in(&app, "ada@example.test", "not the right password")
        .await;
    let unknown = b
        .sign_in(&app, "nobody@example.test", "not the right password")
        .await;
    let short = b.sign_in(&app, "ada@example.test", "short").await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    for other in [&unknown, &short] {
        assert_eq!(other.status, wrong.status);
        assert_eq!(other.body, wrong.body, "the same page, byte for byte");
        assert_eq!(other.set_cookies(), wrong.set_cookies());
    }
    assert!(wrong.text().contains("The email or password is wrong."));
    assert!(wrong.has_label("Email") && wrong.has_label("Password") && wrong.has_button("Sign in"));
    assert!(
        !wrong.body.contains("ada@example.test"),
        "the email is not echoed"
    );
    assert!(b.cookie("keygate_session").is_none());

    // Counted by outcome, which only the metrics (and the log) tell apart.
    assert_eq!(
        b.sign_in(&app, "ada@example.test", PASSWORD).await.status,
        303
    );
    let text = env.keygate.metrics().encode().expect("metrics on");
    for (outcome, n) in [("wrong_password", 2), ("unknown_email", 1), ("ok", 1)] {
        let line = format!("keygate_console_sign_ins_total{{outcome=\"{outcome}\"}} {n}");
        assert!(text.contains(&line), "{line} in {text}");
    }
}

async fn failed_sign_ins_are_throttled_per_email_and_address_and_per_address(db: TestDb) {
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
    person(&app, &env, "bob@example.test", &Owner::Account(acme)).await;

    // Five failures for Ada from one address (the default limit), in any letter case.
    let mut attacker = Browser::new(&env).from_address(66);
    for i in 0..5 {
        let email = if i % 2 == 0 {
            "ada@example.test"
        } else {
            "ADA@Example.TEST"
        };
        assert_eq!(
            attacker
                .sign_in(&app, email, "guess number one")
                .await
                .status,
            400
        );
    }
    // Then that pair is refused before the password is checked: even the right one.
    let refused = attacker.sign_in(&app, "ada@example.test", PASSWORD).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=300).contains(&wait), "{wait}");
    assert!(refused
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(attacker.cookie("keygate_session").is_none());
    // Ada from her own address is not throttled by failures elsewhere.
    let mut ada = Browser::new(&env).from_address(10);
    assert_eq!(
        ada.sign_in(&app, "ada@example.test", PASSWORD).await.status,
        303
    );
    // Bob from the attacker's address is fine until the address itself is over its limit.
    let mut bob = Browser::new(&env).from_address(66);
    assert_eq!(
        bob.sign_in(&app, "bob@example.test", PASSWORD).await.status,
        303
    );

    // Per address: 30 failures over many emails throttle everything from there.
    let mut sprayer = Browser::new(&env).from_address(77);
    for i in 0..30 {
        let r = sprayer
            .sign_in(&app, &format!("user{i}@example.test"), "guess number one")
            .await;
        assert_eq!(r.status, 400, "attempt {i}");
    }
    assert_eq!(
        sprayer
            .sign_in(&app, "bob@example.test", PASSWORD)
            .await
            .status,
        429
    );
    assert_eq!(
        Browser::new(&env)
            .from_address(78)
            .sign_in(&app, "bob@example.test", PASSWORD)
            .await
            .status,
        303
    );
    // The window passes.
    env.advance(301);
    assert_eq!(
        attacker
            .sign_in(&app, "ada@example.test", PASSWORD)
            .await
            .status,
        303
    );
    assert_eq!(
        sprayer
            .sign_in(&app, "bob@example.test", PASSWORD)
            .await
            .status,
        303
    );
}

async fn sign_in_comes_back_to_next_inside_the_console_only(db: TestDb) {
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

    // A console page without a session: to the sign-in page, carrying the way back.
    let page = format!("/console/accounts/{}", acme.as_str());
    let mut b = Browser::new(&env);
    let bounced = b.get(&app, &page).await;
    assert_eq!(bounced.status, 303);
    let expected = format!(
        "/console/sign-in?next=%2Fconsole%2Faccounts%2F{}",
        acme.as_str()
    );
    assert_eq!(bounced.location(), expected);
    let form = b.get(&app, &expected).await;
    assert!(
        form.body
            .contains(&format!("name=\"next\" value=\"{page}\"")),
        "{}",
        form.body
    );
    let signed = b
        .sign_in_to(&app, "ada@example.test", PASSWORD, &page)
        .await;
    assert_eq!(signed.status, 303);
    assert_eq!(signed.location(), page);
    let shown = b.get(&app, &page).await;
    assert_eq!(shown.status, 200);
    assert!(shown.text().contains("Acme"));
    // Signed in, the sign-in page goes straight on.
    let again = b
        .get(&app, "/console/sign-in?next=%2Fconsole%2Fsetup")
        .await;
    assert_eq!(again.status, 303);
    assert_eq!(again.location(), "/console/setup");

    // Anything that could leave the console: home instead.
    for next in [
        "https://evil.example/",
        "//evil.example/console",
        "/\\evil.example",
        "/console//evil.example",
        "/admin/v1/accounts",
        "javascript:alert(1)",
    ] {
        let mut b = Browser::new(&env);
        let r = b.sign_in_to(&app, "ada@example.test", PASSWORD, next).await;
        assert_eq!(r.status, 303, "{next}");
        assert_eq!(r.location(), "/console", "{next}");
        let form = Browser::new(&env)
            .get(
                &app,
                &format!(
                    "/console/sign-in?next={}",
                    form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                ),
            )
            .await;
        assert!(
            form.body.contains("name=\"next\" value=\"/console\""),
            "{next}"
        );
    }
}

async fn a_disabled_person_cannot_sign_in(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    let ada = person(&app, &env, "ada@example.test", &Owner::Account(acme)).await;
    env.store()
        .disable_user(&Actor::system("test"), &ada, env.now())
        .unwrap();
    let mut b = Browser::new(&env);
    let wrong = b
        .sign_in(&app, "ada@example.test", "not the right password")
        .await;
    let right = b.sign_in(&app, "ada@example.test", PASSWORD).await;
    assert_eq!(right.status, 400);
    assert_eq!(right.body, wrong.body, "disabled reads as a failed sign-in");
    assert!(b.cookie("keygate_session").is_none());
}
