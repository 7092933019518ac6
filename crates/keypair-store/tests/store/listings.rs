//! Cursor pagination and the audit trail.

use crate::*;

keypair_store::on_both_backends! {
    pagination_is_complete_and_stable;
    every_change_is_audited;
    accounts_list_all_or_only_the_ones_asked_for;
    an_environment_audit_holds_what_concerns_it;
}

fn accounts_list_all_or_only_the_ones_asked_for(db: &TestDb) {
    let s = &db.store;
    let ids: Vec<keypair_store::AccountId> = (0..7i64)
        .map(|i| {
            s.create_account(&actor(), "A", t0() + Duration::seconds(i / 2))
                .expect("account")
                .id
        })
        .collect();
    let page = |only: Option<&[keypair_store::AccountId]>, limit: u32| {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let req = PageRequest::new(Some(limit), cursor.as_deref()).expect("page");
            let p = s.list_accounts(only, &req).expect("list");
            assert!(p.items.len() <= limit as usize);
            seen.extend(p.items.into_iter().map(|a| a.id));
            match p.next_cursor {
                Some(c) => cursor = Some(c),
                None => return seen,
            }
        }
    };
    let all = page(None, 3);
    // Same-second accounts come in id order, newest first: compare as sets and check
    // the times never rise.
    let mut sorted_all = all.clone();
    sorted_all.sort();
    let mut sorted_ids = ids.clone();
    sorted_ids.sort();
    assert_eq!(sorted_all, sorted_ids, "every account exactly once");
    let times: Vec<_> = all
        .iter()
        .map(|id| s.get_account(id).expect("account").created_at)
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let some = [ids[1].clone(), ids[4].clone(), ids[6].clone()];
    let mut listed = page(Some(&some), 2);
    listed.sort();
    let mut expected = some.to_vec();
    expected.sort();
    assert_eq!(listed, expected);
    assert!(page(Some(&[]), 5).is_empty());
    // An id that is not an account lists nothing.
    assert!(page(Some(&[keypair_store::AccountId::generate()]), 5).is_empty());
}

fn an_environment_audit_holds_what_concerns_it(db: &TestDb) {
    let s = &db.store;
    let a = s.create_account(&actor(), "A", t0()).expect("account");
    let e1 = s
        .create_environment(&actor(), &a.id, "E1", t0())
        .expect("env");
    let e2 = s
        .create_environment(&actor(), &a.id, "E2", t0())
        .expect("env");
    let o1 = Owner::Environment {
        account_id: a.id.clone(),
        environment_id: e1.id.clone(),
    };
    let o2 = Owner::Environment {
        account_id: a.id.clone(),
        environment_id: e2.id.clone(),
    };
    let (k1, _) = s
        .create_keypair(&actor(), new_keypair(o1.clone(), &["feedback:read"]), t0())
        .expect("kp");
    disable(s, &k1.client_id);
    let overlap = keypair_store::Rotation {
        previous_secret_expires_in_seconds: 60,
        end_oldest: false,
    };
    s.rotate_secret(&actor(), &k1.client_id, overlap, t0())
        .expect("rotate");
    s.end_secret(&actor(), &k1.client_id, &k1.secret_hint, t0())
        .expect("end");
    s.revoke_tokens(&actor(), &k1.client_id, t0())
        .expect("revoke");
    let (k2, _) = s
        .create_keypair(&actor(), new_keypair(o2.clone(), &["feedback:read"]), t0())
        .expect("kp");
    let (ka, _) = s
        .create_keypair(
            &actor(),
            new_keypair(Owner::Account(a.id.clone()), &["feedback:read"]),
            t0(),
        )
        .expect("kp");
    let (inv, _) = s
        .invite(&actor(), "ada@example.com", &o1, Duration::days(1), t0())
        .expect("invite");
    s.invite(&actor(), "bob@example.com", &o2, Duration::days(1), t0())
        .expect("invite");
    let actions = |env: &keypair_store::EnvironmentId| {
        let mut v: Vec<(String, String)> = s
            .list_environment_audit(env, &PageRequest::first())
            .expect("audit")
            .items
            .into_iter()
            .map(|r| {
                assert_eq!(r.environment_id.as_deref(), Some(env.as_str()));
                assert_eq!(r.account_id.as_deref(), Some(a.id.as_str()));
                (r.action, r.target)
            })
            .collect();
        v.sort();
        v
    };
    let mut expected = vec![
        ("environment.create".to_owned(), e1.id.to_string()),
        ("keypair.create".to_owned(), k1.client_id.to_string()),
        ("keypair.update".to_owned(), k1.client_id.to_string()),
        ("keypair.secret_rotate".to_owned(), k1.client_id.to_string()),
        ("keypair.secret_end".to_owned(), k1.client_id.to_string()),
        ("keypair.revoke_tokens".to_owned(), k1.client_id.to_string()),
        ("user.invite".to_owned(), inv.id.to_string()),
    ];
    expected.sort();
    assert_eq!(actions(&e1.id), expected);
    let in_e2 = actions(&e2.id);
    assert_eq!(in_e2.len(), 3, "{in_e2:?}");
    assert!(in_e2.iter().any(|(_, t)| t == k2.client_id.as_str()));
    // The account's trail holds all of them, and the account keypair's too.
    let account_trail = s.list_audit(&a.id, &PageRequest::first()).expect("audit");
    assert_eq!(account_trail.items.len(), 12);
    let account_kp = account_trail
        .items
        .iter()
        .find(|r| r.target == ka.client_id.as_str())
        .expect("account keypair record");
    assert_eq!(account_kp.environment_id, None);
    // Closing an environment keeps its records (and adds its close).
    s.close_environment(&actor(), &e1.id, t0()).expect("close");
    assert_eq!(actions(&e1.id).len(), 8);
}

fn pagination_is_complete_and_stable(db: &TestDb) {
    let s = &db.store;
    let acct = s.create_account(&actor(), "Acme", t0()).expect("account");
    let owner = Owner::Account(acct.id.clone());
    let mut created = Vec::new();
    // 23 keypairs; several share a timestamp so the id tie-breaker is exercised.
    for i in 0..23i64 {
        let (kp, _) = s
            .create_keypair(
                &actor(),
                new_keypair(owner.clone(), &["feedback:read"]),
                t0() + Duration::seconds(i / 3),
            )
            .expect("kp");
        created.push(kp.client_id);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let req = PageRequest::new(Some(5), cursor.as_deref()).expect("page request");
        let page = s.list_keypairs(&owner, &req).expect("list");
        assert!(page.items.len() <= 5);
        // Concurrent inserts while paging: newer than everything, so never seen.
        s.create_keypair(
            &actor(),
            new_keypair(owner.clone(), &["feedback:read"]),
            t0() + Duration::hours(1 + pages),
        )
        .expect("concurrent insert");
        seen.extend(
            page.items
                .iter()
                .map(|k| (k.created_at, k.client_id.clone())),
        );
        pages += 1;
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 5);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, ties broken by id");
    let mut ids: Vec<_> = seen.into_iter().map(|(_, id)| id).collect();
    ids.sort();
    created.sort();
    assert_eq!(ids, created, "every keypair exactly once");

    assert!(matches!(
        PageRequest::new(Some(5), Some("garbage!")),
        Err(StoreError::Invalid {
            field: "cursor",
            ..
        })
    ));
}

fn every_change_is_audited(db: &TestDb) {
    let s = &db.store;
    let who = Actor::keypair(&ClientId::generate());
    let acct = s.create_account(&who, "Acme", t0()).expect("account");
    let env = s
        .create_environment(&who, &acct.id, "prod", t0() + Duration::seconds(1))
        .expect("env");
    let (kp, _) = s
        .create_keypair(
            &who,
            new_keypair(Owner::Account(acct.id.clone()), &["feedback:read"]),
            t0() + Duration::seconds(2),
        )
        .expect("kp");
    s.update_keypair(
        &who,
        &kp.client_id,
        KeypairPatch {
            enabled: Some(false),
            ..Default::default()
        },
        t0() + Duration::seconds(3),
    )
    .expect("update");
    s.delete_keypair(&who, &kp.client_id, t0() + Duration::seconds(4))
        .expect("delete");
    s.close_environment(&who, &env.id, t0() + Duration::seconds(5))
        .expect("close env");

    let page = s
        .list_audit(&acct.id, &PageRequest::first())
        .expect("audit");
    let actions: Vec<_> = page.items.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "environment.close",
            "keypair.delete",
            "keypair.update",
            "keypair.create",
            "environment.create",
            "account.create"
        ]
    );
    assert!(page.items.iter().all(|r| r.actor == who.recorded()));
    assert_eq!(page.items[2].target, kp.client_id.as_str());
    assert_eq!(page.items[2].detail, "enabled");
    assert_eq!(page.items[0].at, t0() + Duration::seconds(5));

    // Records survive the account, and pages cover them all.
    s.close_account(&who, &acct.id, t0() + Duration::seconds(6))
        .expect("close account");
    let first = s
        .list_audit(&acct.id, &PageRequest::new(Some(4), None).expect("req"))
        .expect("audit");
    assert_eq!(first.items[0].action, "account.close");
    let rest = s
        .list_audit(
            &acct.id,
            &PageRequest::new(Some(4), first.next_cursor.as_deref()).expect("req"),
        )
        .expect("audit");
    assert_eq!(first.items.len() + rest.items.len(), 7);
    assert!(rest.next_cursor.is_none());
}
