//! Cursor pagination and the audit trail.

use crate::*;

keypair_store::on_both_backends! {
    pagination_is_complete_and_stable;
    every_change_is_audited;
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
