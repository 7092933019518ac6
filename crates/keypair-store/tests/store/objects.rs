//! Accounts, environments and keypairs: create, read, update, delete; owners; scopes; bulk creation.

use crate::*;

keypair_store::on_both_backends! {
    accounts_and_environments;
    keypair_lifecycle;
    owners_must_exist;
    scope_catalogue_is_enforced;
    bulk_creation;
}

fn accounts_and_environments(db: &TestDb) {
    let s = &db.store;
    let acct = s
        .create_account(&actor(), "  Acme  ", t0())
        .expect("create account");
    assert_eq!(acct.name, "Acme");
    assert_eq!(s.get_account(&acct.id).expect("read"), acct);

    let prod = s
        .create_environment(&actor(), &acct.id, "prod", t0())
        .expect("env");
    let staging = s
        .create_environment(&actor(), &acct.id, "staging", t0() + Duration::seconds(1))
        .expect("env");
    assert_eq!(s.get_environment(&prod.id).expect("read env"), prod);
    let listed = s
        .list_environments(&acct.id, &PageRequest::first())
        .expect("list");
    assert_eq!(
        listed.items,
        vec![staging.clone(), prod.clone()],
        "newest first"
    );
    assert!(listed.next_cursor.is_none());

    assert!(matches!(
        s.create_account(&actor(), "   ", t0()),
        Err(StoreError::Invalid { field: "name", .. })
    ));
    assert!(matches!(
        s.create_environment(&actor(), &acct.id, &"x".repeat(201), t0()),
        Err(StoreError::Invalid { field: "name", .. })
    ));
}

fn keypair_lifecycle(db: &TestDb) {
    let s = &db.store;
    let acct = s.create_account(&actor(), "Acme", t0()).expect("account");
    let (kp, secret) = s
        .create_keypair(
            &actor(),
            new_keypair(Owner::Account(acct.id.clone()), &["feedback:read"]),
            t0(),
        )
        .expect("create");
    assert!(kp.client_id.as_str().starts_with("kg_"));
    assert!(secret.is_well_formed());
    assert_eq!(kp.secret_hint, secret.hint());
    assert_eq!(kp.owner, Owner::Account(acct.id.clone()));
    assert!(kp.enabled);
    assert_eq!(kp.comment, "ingest worker");
    assert_eq!(kp.created_at, t0());
    assert_eq!(kp.last_used_at, None);
    assert_eq!(s.get_keypair(&kp.client_id).expect("read"), kp);

    let later = t0() + Duration::minutes(5);
    let updated = s
        .update_keypair(
            &actor(),
            &kp.client_id,
            KeypairPatch {
                enabled: Some(false),
                scopes: Some(scopes(&["feedback:read", "feedback:write"])),
                comment: Some("renamed".into()),
                ..Default::default()
            },
            later,
        )
        .expect("update");
    assert!(!updated.enabled);
    assert_eq!(
        updated.scopes.to_space_separated(),
        "feedback:read feedback:write"
    );
    assert_eq!(updated.comment, "renamed");
    assert_eq!(updated.updated_at, later);
    assert_eq!(updated.created_at, t0());
    assert_eq!(s.get_keypair(&kp.client_id).expect("read"), updated);

    // An empty patch only touches updated_at.
    let same = s
        .update_keypair(&actor(), &kp.client_id, KeypairPatch::default(), later)
        .expect("empty patch");
    assert_eq!(same, updated);

    assert!(matches!(
        s.update_keypair(
            &actor(),
            &kp.client_id,
            KeypairPatch {
                comment: Some("x".repeat(1001)),
                ..Default::default()
            },
            later
        ),
        Err(StoreError::Invalid {
            field: "comment",
            ..
        })
    ));

    s.record_use(&kp.client_id, later).expect("record use");
    assert_eq!(
        s.get_keypair(&kp.client_id).expect("read").last_used_at,
        Some(later)
    );
    s.record_use(&kp.client_id, later + Duration::seconds(10))
        .expect("record use");
    assert_eq!(
        s.get_keypair(&kp.client_id).expect("read").last_used_at,
        Some(later),
        "writes at most once a minute"
    );

    s.delete_keypair(&actor(), &kp.client_id, later)
        .expect("delete");
    assert!(matches!(
        s.get_keypair(&kp.client_id),
        Err(StoreError::NotFound("keypair"))
    ));
    assert!(matches!(
        s.delete_keypair(&actor(), &kp.client_id, later),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.update_keypair(&actor(), &kp.client_id, KeypairPatch::default(), later),
        Err(StoreError::NotFound(_))
    ));
}

fn owners_must_exist(db: &TestDb) {
    let s = &db.store;
    let acct = s.create_account(&actor(), "Acme", t0()).expect("account");
    let other = s.create_account(&actor(), "Globex", t0()).expect("account");
    let env = s
        .create_environment(&actor(), &other.id, "prod", t0())
        .expect("env");
    // An environment claimed under the wrong account is refused.
    let wrong = Owner::Environment {
        account_id: acct.id.clone(),
        environment_id: env.id.clone(),
    };
    assert!(matches!(
        s.create_keypair(&actor(), new_keypair(wrong, &[]), t0()),
        Err(StoreError::NotFound("environment"))
    ));
    let ghost = Owner::Account(keypair_store::AccountId::generate());
    assert!(matches!(
        s.create_keypair(&actor(), new_keypair(ghost, &[]), t0()),
        Err(StoreError::NotFound("account"))
    ));
    assert!(matches!(
        s.create_keypair(&actor(), new_keypair(Owner::Operator, &[]), t0()),
        Err(StoreError::Invalid { field: "owner", .. })
    ));
}

fn scope_catalogue_is_enforced(db: &TestDb) {
    let s = &db.store;
    let c = catalogue();
    assert!(matches!(
        c.validate_for_keypair(&["feedback:delete"]),
        Err(StoreError::Invalid {
            field: "scopes",
            ..
        })
    ));
    assert!(matches!(
        c.validate_for_keypair(&["keygate:operator"]),
        Err(StoreError::Invalid {
            field: "scopes",
            ..
        })
    ));
    assert!(matches!(
        c.validate_for_keypair(&["bad scope"]),
        Err(StoreError::Invalid {
            field: "scopes",
            ..
        })
    ));

    // The store itself refuses the reserved operator scope on owned keypairs.
    let acct = s.create_account(&actor(), "Acme", t0()).expect("account");
    let operator_scope = ScopeSet::parse_space_separated("keygate:operator").expect("parse");
    let mut new = new_keypair(Owner::Account(acct.id.clone()), &[]);
    new.scopes = operator_scope.clone();
    assert!(matches!(
        s.create_keypair(&actor(), new, t0()),
        Err(StoreError::Invalid {
            field: "scopes",
            ..
        })
    ));
    let (kp, _) = s
        .create_keypair(&actor(), new_keypair(Owner::Account(acct.id), &[]), t0())
        .expect("kp");
    assert!(matches!(
        s.update_keypair(
            &actor(),
            &kp.client_id,
            KeypairPatch {
                scopes: Some(operator_scope),
                ..Default::default()
            },
            t0()
        ),
        Err(StoreError::Invalid {
            field: "scopes",
            ..
        })
    ));

    let (op, _) = s
        .create_operator_keypair(&actor(), "operator", t0())
        .expect("operator");
    assert_eq!(op.owner, Owner::Operator);
    assert_eq!(op.scopes.to_space_separated(), "keygate:operator");
}

fn bulk_creation(db: &TestDb) {
    let s = &db.store;
    let acct = s.create_account(&actor(), "Bulk", t0()).expect("account");
    let template = new_keypair(Owner::Account(acct.id.clone()), &["feedback:read"]);
    let created = s
        .create_keypairs_bulk(&actor(), &template, 2_345, t0())
        .expect("bulk");
    assert_eq!(created.len(), 2_345);
    for (id, secret) in [&created[0], &created[1_000], &created[2_344]] {
        assert!(authenticated(s, id, secret));
    }
    assert!(!authenticated(s, &created[0].0, &created[1].1));
    let mut n = 0;
    let mut cursor: Option<String> = None;
    loop {
        let page = s
            .list_keypairs(
                &Owner::Account(acct.id.clone()),
                &PageRequest::new(Some(200), cursor.as_deref()).expect("req"),
            )
            .expect("list");
        n += page.items.len();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(n, 2_345);
    let audit = s
        .list_audit(&acct.id, &PageRequest::first())
        .expect("audit");
    assert_eq!(
        audit.items.iter().filter(|r| r.target == "bulk").count(),
        3,
        "one audit record per batch"
    );
    assert!(s
        .create_keypairs_bulk(&actor(), &new_keypair(Owner::Operator, &[]), 1, t0())
        .is_err());
}
