//! The `Administrators` and `Audit` pages over HTTP: an invitation's setup link shown
//! once, refusals next to the field, remove and withdraw, reach; the audit trail
//! newest first with people by email and keypairs by client id, a page at a time.

use keypair_store::testing::TestDb;
use keypair_store::Owner;

use crate::{app, env_owner, person, signed_in, Browser, Env, PASSWORD};

keypair_store::on_both_backends_async! {
    administrators_are_invited_listed_removed_and_withdrawn;
    the_audit_names_people_by_email_newest_first_a_page_at_a_time;
    accounts_and_environments_are_created_and_closed_by_who_may;
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
    let mut b = signed_in(&app, &env, "ada@example.test", &env_owner(&prod)).await;
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
    // An operator acting on the environment is shown by user id, never by an email
    // the environment's administrator could not otherwise see.
    let mut op = signed_in(&app, &env, "op@example.test", &Owner::Operator).await;
    let optoken = op.get(&app, &keys).await.form_token(&keys);
    op.post(
        &app,
        &keys,
        &[("csrf_token", &optoken), ("scope:feedback:read", "on")],
    )
    .await;
    let latest = b.get(&app, &audit).await;
    assert!(
        !latest.text().contains("op@example.test"),
        "{}",
        latest.text()
    );
    let op_id = env.user("op@example.test");
    assert!(latest.text().contains(op_id.as_str()));
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

async fn accounts_and_environments_are_created_and_closed_by_who_may(db: TestDb) {
    let env = Env::new(db);
    let app = app!(env);
    let mut op = signed_in(&app, &env, "op@example.test", &Owner::Operator).await;
    let home = op.get(&app, "/console").await;
    assert!(home.has_button("Create account") && home.has_label("Name"));
    let token = home.form_token("/console/accounts");
    // A name the store refuses comes back next to the field, as typed.
    let long = "x".repeat(201);
    let refused = op
        .post(
            &app,
            "/console/accounts",
            &[("csrf_token", &token), ("name", &long)],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("id=\"account-name-error\""));
    assert!(refused.body.contains(&format!("value=\"{long}\"")));
    let made = op
        .post(
            &app,
            "/console/accounts",
            &[("csrf_token", &token), ("name", "Globex")],
        )
        .await;
    assert_eq!(made.status, 303, "{}", made.body);
    let account_path = made.location().to_owned();
    let account_id = account_path.rsplit('/').next().unwrap().to_owned();
    let acme = keypair_store::AccountId::parse(&account_id).unwrap();

    // The account's administrator creates and closes environments, but not the account.
    person(
        &app,
        &env,
        "acct@example.test",
        &Owner::Account(acme.clone()),
    )
    .await;
    let mut adm = Browser::new(&env).from_address(40);
    assert_eq!(
        adm.sign_in(&app, "acct@example.test", PASSWORD)
            .await
            .status,
        303
    );
    let page = adm.get(&app, &account_path).await;
    assert!(page.has_button("Create environment"));
    assert!(!page.has_button("Close account"));
    let create_env = format!("{account_path}/environments");
    let atoken = page.form_token(&create_env);
    let r = adm
        .post(&app, &create_env, &[("csrf_token", &atoken), ("name", "")])
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("id=\"environment-name-error\""));
    let r = adm
        .post(
            &app,
            &create_env,
            &[("csrf_token", &atoken), ("name", "Lab <1>")],
        )
        .await;
    assert_eq!(r.status, 303);
    let page = adm.get(&app, &account_path).await;
    assert!(page.has_link("Lab &#60;1&#62;"), "{}", page.body);
    assert!(page.has_button("Close environment"));
    assert!(page
        .text()
        .contains("This deletes the environment Lab &#60;1&#62;"));
    let lab = &env
        .store()
        .list_environments(&acme, &keypair_store::PageRequest::new(None, None).unwrap())
        .unwrap()
        .items[0];
    let refused = adm
        .post(
            &app,
            &format!("{account_path}/close"),
            &[("csrf_token", &atoken)],
        )
        .await;
    assert_eq!(
        refused.status, 404,
        "an account administrator cannot close the account"
    );
    let closed = adm
        .post(
            &app,
            &format!("/console/environments/{}/close", lab.id.as_str()),
            &[("csrf_token", &atoken)],
        )
        .await;
    assert_eq!(closed.status, 303);
    assert!(env.store().get_environment(&lab.id).is_err());

    // The operator closes the account, named in its dialog.
    let page = op.get(&app, &account_path).await;
    assert!(page.has_button("Close account"));
    assert!(page.text().contains("This deletes the account Globex"));
    let closed = op
        .post(
            &app,
            &format!("{account_path}/close"),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(closed.status, 303);
    assert_eq!(closed.location(), "/console");
    assert!(env.store().get_account(&acme).is_err());
}
