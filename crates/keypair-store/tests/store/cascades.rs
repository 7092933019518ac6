//! Closing an environment or an account removes what it owns, and nothing else.

use crate::*;

keypair_store::on_both_backends! {
    closing_an_environment_cascades;
    closing_an_account_cascades;
}

fn closing_an_environment_cascades(db: &TestDb) {
    let s = &db.store;
    let acct = s.create_account(&actor(), "Acme", t0()).expect("account");
    let prod = s
        .create_environment(&actor(), &acct.id, "prod", t0())
        .expect("env");
    let dev = s
        .create_environment(&actor(), &acct.id, "dev", t0())
        .expect("env");
    let prod_owner = Owner::Environment {
        account_id: acct.id.clone(),
        environment_id: prod.id.clone(),
    };
    let dev_owner = Owner::Environment {
        account_id: acct.id.clone(),
        environment_id: dev.id.clone(),
    };
    let (p, ps) = s
        .create_keypair(
            &actor(),
            new_keypair(prod_owner.clone(), &["feedback:read"]),
            t0(),
        )
        .expect("kp");
    let (d, ds) = s
        .create_keypair(
            &actor(),
            new_keypair(dev_owner.clone(), &["feedback:read"]),
            t0(),
        )
        .expect("kp");
    let (a, as_) = s
        .create_keypair(
            &actor(),
            new_keypair(Owner::Account(acct.id.clone()), &["feedback:read"]),
            t0(),
        )
        .expect("kp");

    s.close_environment(&actor(), &prod.id, t0())
        .expect("close");
    assert!(matches!(
        s.get_environment(&prod.id),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.get_keypair(&p.client_id),
        Err(StoreError::NotFound(_))
    ));
    assert!(!authenticated(s, &p.client_id, &ps));
    assert!(s
        .list_keypairs(&prod_owner, &PageRequest::first())
        .expect("list")
        .items
        .is_empty());
    // Siblings and the account's own keypairs are untouched.
    assert!(authenticated(s, &d.client_id, &ds));
    assert!(authenticated(s, &a.client_id, &as_));
    assert_eq!(
        s.list_keypairs(&dev_owner, &PageRequest::first())
            .expect("list")
            .items
            .len(),
        1
    );
    assert!(matches!(
        s.close_environment(&actor(), &prod.id, t0()),
        Err(StoreError::NotFound(_))
    ));
}

fn closing_an_account_cascades(db: &TestDb) {
    let s = &db.store;
    let acct = s.create_account(&actor(), "Acme", t0()).expect("account");
    let other = s.create_account(&actor(), "Globex", t0()).expect("account");
    let env = s
        .create_environment(&actor(), &acct.id, "prod", t0())
        .expect("env");
    let other_env = s
        .create_environment(&actor(), &other.id, "prod", t0())
        .expect("env");
    let env_owner = Owner::Environment {
        account_id: acct.id.clone(),
        environment_id: env.id.clone(),
    };
    let (e, es) = s
        .create_keypair(&actor(), new_keypair(env_owner, &["feedback:read"]), t0())
        .expect("kp");
    let (a, as_) = s
        .create_keypair(
            &actor(),
            new_keypair(Owner::Account(acct.id.clone()), &["feedback:read"]),
            t0(),
        )
        .expect("kp");
    let (o, os) = s
        .create_keypair(
            &actor(),
            new_keypair(Owner::Account(other.id.clone()), &["feedback:read"]),
            t0(),
        )
        .expect("kp");

    s.close_account(&actor(), &acct.id, t0()).expect("close");
    assert!(matches!(
        s.get_account(&acct.id),
        Err(StoreError::NotFound("account"))
    ));
    assert!(matches!(
        s.get_environment(&env.id),
        Err(StoreError::NotFound(_))
    ));
    for (id, secret) in [(&e.client_id, &es), (&a.client_id, &as_)] {
        assert!(matches!(s.get_keypair(id), Err(StoreError::NotFound(_))));
        assert!(!authenticated(s, id, secret));
    }
    assert!(authenticated(s, &o.client_id, &os));
    assert_eq!(
        s.get_environment(&other_env.id)
            .expect("other env survives")
            .account_id,
        other.id
    );
    assert!(matches!(
        s.close_account(&actor(), &acct.id, t0()),
        Err(StoreError::NotFound(_))
    ));
    // A closed account cannot get new environments or keypairs.
    assert!(matches!(
        s.create_environment(&actor(), &acct.id, "x", t0()),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.create_keypair(
            &actor(),
            new_keypair(Owner::Account(acct.id.clone()), &[]),
            t0()
        ),
        Err(StoreError::NotFound(_))
    ));
}
