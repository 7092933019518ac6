//! Races and the one write door: concurrent deletes and closes act exactly once,
//! composed writes are one transaction, corrupt rows say so, and no write path
//! bypasses the change tracking (a second store never serves a stale keypair past
//! the bound).

use std::sync::Barrier;

use keypair_store::{Account, AuditRecord, Backend, Environment, Keypair};

use crate::*;

keypair_store::on_both_backends! {
    concurrent_deletes_succeed_exactly_once;
    concurrent_closes_succeed_exactly_once;
    writes_compose_in_one_transaction;
    corrupt_rows_are_reported_as_corrupt;
}

const RACERS: usize = 10;

/// Runs `f` on `RACERS` threads released at once; returns how many succeeded and
/// checks that every other one answered `NotFound`.
fn race(f: impl Fn() -> Result<(), StoreError> + Sync) -> usize {
    let start = Barrier::new(RACERS);
    let results: Vec<Result<(), StoreError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..RACERS)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    f()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("racer"))
            .collect()
    });
    for r in &results {
        assert!(
            matches!(r, Ok(()) | Err(StoreError::NotFound(_))),
            "a racer failed otherwise: {r:?}"
        );
    }
    results.iter().filter(|r| r.is_ok()).count()
}

fn audited(s: &Store, account: &keypair_store::AccountId, action: &str) -> usize {
    s.list_audit(account, &PageRequest::new(Some(200), None).expect("page"))
        .expect("audit")
        .items
        .iter()
        .filter(|r| r.action == action)
        .count()
}

fn concurrent_deletes_succeed_exactly_once(db: &TestDb) {
    let s = &db.store;
    let acct = s.create_account(&actor(), "Racy", t0()).expect("account");
    for round in 0..5 {
        let (kp, _) = s
            .create_keypair(
                &actor(),
                new_keypair(Owner::Account(acct.id.clone()), &["feedback:read"]),
                t0(),
            )
            .expect("keypair");
        let ok = race(|| s.delete_keypair(&actor(), &kp.client_id, t0()));
        assert_eq!(ok, 1, "round {round}: exactly one delete succeeds");
        assert_eq!(audited(s, &acct.id, "keypair.delete"), round + 1);
        // A patch racing with nothing left answers NotFound, not a phantom update.
        assert!(matches!(
            s.update_keypair(&actor(), &kp.client_id, KeypairPatch::default(), t0()),
            Err(StoreError::NotFound(_))
        ));
    }
}

fn concurrent_closes_succeed_exactly_once(db: &TestDb) {
    let s = &db.store;
    for round in 0..3 {
        let acct = s.create_account(&actor(), "Racy", t0()).expect("account");
        let env = s
            .create_environment(&actor(), &acct.id, "prod", t0())
            .expect("env");
        let ok = race(|| s.close_environment(&actor(), &env.id, t0()));
        assert_eq!(ok, 1, "round {round}: exactly one environment close");
        assert_eq!(audited(s, &acct.id, "environment.close"), 1);
        let ok = race(|| s.close_account(&actor(), &acct.id, t0()));
        assert_eq!(ok, 1, "round {round}: exactly one account close");
        assert_eq!(audited(s, &acct.id, "account.close"), 1);
    }
}

fn writes_compose_in_one_transaction(db: &TestDb) {
    let s = &db.store;
    // Several model functions, one transaction: all of it lands.
    let (acct, env, kp, secret) = s
        .write(|tx| {
            let acct = Account::create(tx, &actor(), "Composed", t0())?;
            let env = Environment::create(tx, &actor(), &acct.id, "prod", t0())?;
            let owner = Owner::Environment {
                account_id: acct.id.clone(),
                environment_id: env.id.clone(),
            };
            let (kp, secret) = new_keypair(owner, &["feedback:read"]).insert(tx, &actor(), t0())?;
            Ok((acct, env, kp, secret))
        })
        .expect("composed write");
    assert_eq!(s.get_environment(&env.id).expect("env").account_id, acct.id);
    assert!(authenticated(s, &kp.client_id, &secret));
    // A later step fails: nothing of it is written, and the cache still serves the
    // committed state.
    let failed = s.write(|tx| {
        Keypair::update(
            tx,
            &actor(),
            &kp.client_id,
            &KeypairPatch {
                enabled: Some(false),
                ..Default::default()
            },
            t0(),
        )?;
        assert_eq!(
            tx.changes(),
            &[keypair_store::Change::Keypair(kp.client_id.clone())]
        );
        Account::create(tx, &actor(), "   ", t0())
    });
    assert!(matches!(
        failed,
        Err(StoreError::Invalid { field: "name", .. })
    ));
    assert!(
        s.get_keypair(&kp.client_id).expect("kp").enabled,
        "rolled back"
    );
    assert!(authenticated(s, &kp.client_id, &secret));
    assert_eq!(audited(s, &acct.id, "keypair.update"), 0);
    let read: Keypair = s.read(|c| Keypair::find(c, &kp.client_id)).expect("read");
    assert!(read.enabled);
    let records = s
        .read(|c| AuditRecord::list(c, &acct.id, &PageRequest::first()))
        .expect("audit");
    assert_eq!(records.items.len(), 3, "account, environment, keypair");
}

fn corrupt_rows_are_reported_as_corrupt(db: &TestDb) {
    let s = &db.store;
    let acct = s.create_account(&actor(), "Acme", t0()).expect("account");
    let owner = Owner::Account(acct.id.clone());
    let (bad_scopes, _) = s
        .create_keypair(
            &actor(),
            new_keypair(owner.clone(), &["feedback:read"]),
            t0(),
        )
        .expect("kp");
    let (bad_digest, secret) = s
        .create_keypair(&actor(), new_keypair(owner, &["feedback:read"]), t0())
        .expect("kp");
    db.execute_sql(&format!(
        "UPDATE keypairs SET scopes = 'not a \"scope\"' WHERE client_id = '{}'",
        bad_scopes.client_id
    ));
    let three_bytes = match s.backend() {
        Backend::Sqlite => "X'010203'",
        Backend::Postgres => "'\\x010203'::bytea",
    };
    db.execute_sql(&format!(
        "UPDATE keypair_secrets SET digest = {three_bytes} WHERE client_id = '{}'",
        bad_digest.client_id
    ));
    let before = db.dump_all_columns();
    match s.get_keypair(&bad_scopes.client_id) {
        Err(e @ StoreError::Corrupt(_)) => {
            assert_eq!(e.to_string(), "stored data cannot be decoded");
        }
        other => panic!("a corrupt row must be Corrupt, not {other:?}"),
    }
    assert!(matches!(
        s.list_keypairs(&Owner::Account(acct.id.clone()), &PageRequest::first()),
        Err(StoreError::Corrupt(_))
    ));
    match s.authenticate(bad_digest.client_id.as_str(), &secret, LOCAL, t0()) {
        Err(StoreError::Corrupt(why)) => assert!(!why.contains(secret.expose())),
        other => panic!("a corrupt digest must be Corrupt, not {other:?}"),
    }
    assert_eq!(db.dump_all_columns(), before, "reading changed nothing");
}
