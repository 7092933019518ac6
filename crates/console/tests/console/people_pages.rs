//! The `Administrators` and `Audit` pages over HTTP: an invitation's setup link shown
//! once, refusals next to the field, remove and withdraw, reach; the audit trail
//! newest first with people by email and keypairs by client id, a page at a time.

use keypair_store::testing::TestDb;
use keypair_store::Owner;

use crate::{app, env_owner, person, Browser, Env, PASSWORD};

keypair_store::on_both_backends_async! {
    administrators_are_invited_listed_removed_and_withdrawn;
    the_audit_names_people_by_email_newest_first_a_page_at_a_time;
}

async fn administrators_are_invited_listed_removed_and_withdrawn(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    let prod = env.environment(&acme, "Production");
    person(
        &app,
        &env,
        "acct@example.test",
        &Owner::Account(acme.clone()),
    )
    .await;
    person(&app, &env, "env@example.test", &env_owner(&prod)).await;
    let mut b = Browser::new(&env);
    assert_eq!(
        b.sign_in(&app, "acct@example.test", PASSWORD).await.status,
        303
    );
    let page_path = format!("/console/environments/{}/administrators", prod.id.as_str());
    let page = b.get(&app, &page_path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.has_label("Email") && page.has_button("Invite"));
    assert!(page.text().contains("env@example.test"));
    assert!(page.has_button("Remove"));
    let token = page.form_token(&page_path);

    // Invite: the link once, with Copy and Done.
    let invited = b
        .post(
            &app,
            &page_path,
            &[("csrf_token", &token), ("email", "new@example.test")],
        )
        .await;
    assert_eq!(invited.status, 200, "{}", invited.body);
    assert_eq!(invited.header("cache-control"), Some("no-store"));
    assert!(invited.has_button("Copy") && invited.has_button("Done"));
    let marker = "id=\"setup-link\" type=\"text\" readonly value=\"";
    let start = invited.body.find(marker).expect("the link") + marker.len();
    let link = invited.body[start..].split('"').next().unwrap().to_owned();
    assert!(
        link.starts_with("http://keygate.test/console/setup/"),
        "{link}"
    );
    assert!(invited.text().contains("will not be shown again"));
    // Listed as pending; the link is never shown again.
    let page = b.get(&app, &page_path).await;
    assert!(!page.body.contains(&link));
    assert!(page.text().contains("new@example.test"));
    assert!(page.has_button("Withdraw"));
    // A refused email stays in its field with the reason next to it.
    let refused = b
        .post(
            &app,
            &page_path,
            &[("csrf_token", &token), ("email", "not an email")],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("id=\"email-error\""));
    assert!(refused.body.contains("value=\"not an email\""));

    // Withdraw the invitation, remove the environment administrator.
    let pending = env
        .store()
        .list_pending_invitations(&env_owner(&prod), env.now())
        .unwrap();
    assert_eq!(pending.len(), 1);
    let withdraw = format!("{page_path}/{}/remove", pending[0].id.as_str());
    assert_eq!(
        b.post(&app, &withdraw, &[("csrf_token", &token)])
            .await
            .status,
        303
    );
    assert!(env
        .store()
        .list_pending_invitations(&env_owner(&prod), env.now())
        .unwrap()
        .is_empty());
    let envadm = env.user("env@example.test");
    let remove = format!("{page_path}/{}/remove", envadm.as_str());
    assert_eq!(
        b.post(&app, &remove, &[("csrf_token", &token)])
            .await
            .status,
        303
    );
    assert!(env.store().user_bindings(&envadm).unwrap().is_empty());

    // An environment administrator cannot reach the account's administrators.
    person(&app, &env, "env2@example.test", &env_owner(&prod)).await;
    let mut e = Browser::new(&env).from_address(30);
    assert_eq!(
        e.sign_in(&app, "env2@example.test", PASSWORD).await.status,
        303
    );
    let account_page = format!("/console/accounts/{}/administrators", acme.as_str());
    assert_eq!(e.get(&app, &account_page).await.status, 404);
    let etoken = e.get(&app, &page_path).await.form_token(&page_path);
    let r = e
        .post(
            &app,
            &account_page,
            &[("csrf_token", &etoken), ("email", "boss@example.test")],
        )
        .await;
    assert_eq!(r.status, 404);
    assert!(env
        .store()
        .list_pending_invitations(&Owner::Account(acme), env.now())
        .unwrap()
        .is_empty());
}

async fn the_audit_names_people_by_email_newest_first_a_page_at_a_time(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let acme = env.account("Acme");
    let prod = env.environment(&acme, "Production");
    person(&app, &env, "ada@example.test", &env_owner(&prod)).await;
    let mut b = Browser::new(&env);
    assert_eq!(
        b.sign_in(&app, "ada@example.test", PASSWORD).await.status,
        303
    );
    let keys = format!("/console/environments/{}/keys", prod.id.as_str());
    let token = b.get(&app, &keys).await.form_token(&keys);
    // 55 keys: more than one page of the audit.
    for i in 0..55 {
        env.advance(1);
        let r = b
            .post(
                &app,
                &keys,
                &[
                    ("csrf_token", &token),
                    ("comment", &format!("k{i}")),
                    ("scope:feedback:read", "on"),
                ],
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let audit = format!("/console/environments/{}/audit", prod.id.as_str());
    let first = b.get(&app, &audit).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(first.text().contains("newest first (times in UTC)"));
    assert!(first.text().contains("ada@example.test"), "people by email");
    assert!(!first.text().contains("user:usr_"));
    assert!(first.text().contains("keypair.create"));
    assert!(first.has_link("Older"));
    let marker = "href=\"";
    let older_at = first.body.find(">Older</a>").unwrap();
    let href_start = first.body[..older_at].rfind(marker).unwrap() + marker.len();
    let older = first.body[href_start..older_at]
        .trim_end_matches('"')
        .to_owned();
    let second = b.get(&app, &older.replace("&#38;", "&")).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert!(!second.has_link("Older"));
}
