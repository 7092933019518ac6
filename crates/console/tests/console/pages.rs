//! What the pages show: the reach of each kind of binding, and a 404 for what is out
//! of reach.

use keypair_store::testing::TestDb;
use keypair_store::Owner;

use crate::{app, env_owner, person, Browser, Env, PASSWORD};

keypair_store::on_both_backends_async! {
    the_home_page_lists_what_each_role_reaches;
    objects_out_of_reach_are_a_404_page;
}

async fn the_home_page_lists_what_each_role_reaches(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    let prod = env.environment(&acme, "Acme Production");
    env.environment(&acme, "Acme Staging");
    let globex = env.account("Globex <&> Co");
    env.environment(&globex, "Globex Lab");

    person(&app, &env, "op@example.test", &Owner::Operator).await;
    person(
        &app,
        &env,
        "acct@example.test",
        &Owner::Account(acme.clone()),
    )
    .await;
    person(&app, &env, "env@example.test", &env_owner(&prod)).await;

    let home = |email: &'static str| {
        let env = &env;
        let app = &app;
        async move {
            let mut b = Browser::new(env);
            assert_eq!(b.sign_in(app, email, PASSWORD).await.status, 303);
            let h = b.get(app, "/console").await;
            assert_eq!(h.status, 200, "{}", h.body);
            h
        }
    };
    let op = home("op@example.test").await;
    assert!(op.has_link("Acme"), "{}", op.body);
    assert!(
        op.has_link("Globex &#60;&#38;&#62; Co"),
        "escaped: {}",
        op.body
    );
    assert!(!op.body.contains("Globex <&> Co"));
    let acct = home("acct@example.test").await;
    assert!(
        acct.has_link("Acme") && acct.has_link("Acme Production") && acct.has_link("Acme Staging")
    );
    assert!(!acct.text().contains("Globex"));
    let envadm = home("env@example.test").await;
    assert!(envadm.has_link("Acme Production"), "{}", envadm.body);
    assert!(!envadm.has_link("Acme") && !envadm.has_link("Acme Staging"));
    assert!(!envadm.text().contains("Globex"));
}

async fn objects_out_of_reach_are_a_404_page(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    let prod = env.environment(&acme, "Production");
    let staging = env.environment(&acme, "Staging");
    let globex = env.account("Globex");
    let lab = env.environment(&globex, "Lab");
    person(&app, &env, "env@example.test", &env_owner(&prod)).await;
    let mut b = Browser::new(&env);
    assert_eq!(
        b.sign_in(&app, "env@example.test", PASSWORD).await.status,
        303
    );

    let ok = b
        .get(&app, &format!("/console/environments/{}", prod.id.as_str()))
        .await;
    assert_eq!(ok.status, 200);
    assert!(ok.text().contains("Production"));
    for path in [
        format!("/console/environments/{}", staging.id.as_str()),
        format!("/console/environments/{}", lab.id.as_str()),
        format!("/console/accounts/{}", acme.as_str()),
        format!("/console/accounts/{}", globex.as_str()),
        "/console/accounts/acc_nope".to_owned(),
        "/console/environments/not-an-id".to_owned(),
    ] {
        let r = b.get(&app, &path).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(r.text().contains("Not found"), "{path}");
        assert!(r.has_button("Sign out"), "still a signed-in page: {path}");
        assert!(!r.text().contains("Staging") && !r.text().contains("Globex"));
    }
}
