//! Client authentication: verification, no plaintext at rest, the cache, concurrent writes.

use crate::*;

keypair_store::on_both_backends! {
    secret_verification;
    no_plaintext_secret_is_stored;
    cached_keypairs_follow_changes;
    concurrent_writes_all_succeed;
    a_rotation_that_commits_last_holds_the_newest_secret;
}

/// Two rotations race: the one that read the earlier `now` takes the lock last. Its
/// secret is still the newest (listed first, the keypair's `secret_hint`), so
/// `end_oldest` afterwards ends the other rotation's secret, not this one.
fn a_rotation_that_commits_last_holds_the_newest_secret(db: &TestDb) {
    use keypair_store::Rotation;
    let s = &db.store;
    let acct = s.create_account(&actor(), "Acme", t0()).expect("account");
    let (kp, _) = s
        .create_keypair(
            &actor(),
            new_keypair(Owner::Account(acct.id.clone()), &["feedback:read"]),
            t0(),
        )
        .expect("keypair");
    let overlap = Rotation {
        previous_secret_expires_in_seconds: 3600,
        end_oldest: false,
    };
    let (_, second) = s
        .rotate_secret(
            &actor(),
            &kp.client_id,
            overlap,
            t0() + Duration::seconds(20),
        )
        .expect("second");
    let late = Rotation {
        previous_secret_expires_in_seconds: 3600,
        end_oldest: true,
    };
    let (after, third) = s
        .rotate_secret(&actor(), &kp.client_id, late, t0() + Duration::seconds(10))
        .expect("third, with a `now` read before the second's");
    assert_eq!(after.secret_hint, third.hint());
    let hints: Vec<&str> = after.secrets.iter().map(|x| x.hint.as_str()).collect();
    assert_eq!(hints, [third.hint().as_str(), second.hint().as_str()]);
    let (after, fourth) = s
        .rotate_secret(&actor(), &kp.client_id, late, t0() + Duration::seconds(30))
        .expect("fourth ends the oldest");
    let hints: Vec<&str> = after.secrets.iter().map(|x| x.hint.as_str()).collect();
    assert_eq!(hints, [fourth.hint().as_str(), third.hint().as_str()]);
}

fn secret_verification(db: &TestDb) {
    let s = &db.store;
    let acct = s.create_account(&actor(), "Acme", t0()).expect("account");
    let owner = Owner::Account(acct.id.clone());
    let (a, a_secret) = s
        .create_keypair(
            &actor(),
            new_keypair(owner.clone(), &["feedback:read"]),
            t0(),
        )
        .expect("kp");
    let (b, b_secret) = s
        .create_keypair(&actor(), new_keypair(owner, &["feedback:read"]), t0())
        .expect("kp");

    match s
        .authenticate(a.client_id.as_str(), &a_secret, LOCAL, t0())
        .expect("auth")
    {
        ClientAuth::Authenticated(kp) => assert_eq!(kp.client_id, a.client_id),
        other => panic!("right secret refused: {other:?}"),
    }
    let reject = |id: &str, secret: &ClientSecret| match s
        .authenticate(id, secret, LOCAL, t0())
        .expect("auth")
    {
        ClientAuth::Rejected(r) => r,
        ClientAuth::Authenticated(_) => panic!("accepted {id}"),
    };
    assert_eq!(
        reject(a.client_id.as_str(), &b_secret),
        Rejection::WrongSecret,
        "another keypair's secret"
    );
    assert_eq!(
        reject(a.client_id.as_str(), &ClientSecret::generate()),
        Rejection::WrongSecret
    );
    assert_eq!(
        reject(a.client_id.as_str(), &ClientSecret::from_presented("")),
        Rejection::WrongSecret
    );
    assert_eq!(
        reject(ClientId::generate().as_str(), &a_secret),
        Rejection::UnknownClient
    );
    assert_eq!(
        reject("not-an-id'; DROP TABLE keypairs;--", &a_secret),
        Rejection::UnknownClient
    );
    assert!(authenticated(s, &b.client_id, &b_secret));

    disable(s, &a.client_id);
    assert_eq!(reject(a.client_id.as_str(), &a_secret), Rejection::Disabled);
    s.delete_keypair(&actor(), &a.client_id, t0())
        .expect("delete");
    assert_eq!(
        reject(a.client_id.as_str(), &a_secret),
        Rejection::UnknownClient
    );
}

fn no_plaintext_secret_is_stored(db: &TestDb) {
    let s = &db.store;
    let acct = s.create_account(&actor(), "Acme", t0()).expect("account");
    let mut secrets = Vec::new();
    for _ in 0..3 {
        let (kp, secret) = s
            .create_keypair(
                &actor(),
                new_keypair(Owner::Account(acct.id.clone()), &["feedback:read"]),
                t0(),
            )
            .expect("kp");
        s.update_keypair(
            &actor(),
            &kp.client_id,
            KeypairPatch {
                comment: Some("c".into()),
                ..Default::default()
            },
            t0(),
        )
        .expect("update");
        secrets.push(secret);
    }
    let (_, op_secret) = s
        .create_operator_keypair(&actor(), "op", t0())
        .expect("operator");
    secrets.push(op_secret);

    let cells = db.dump_all_columns();
    assert!(
        cells.iter().any(|c| c.starts_with("kg_")),
        "the dump sees the keypairs"
    );
    for secret in &secrets {
        // The whole secret and its random body after the hint must not appear anywhere.
        let body = &secret.expose()[secret.hint().len()..];
        for cell in &cells {
            assert!(!cell.contains(body), "plaintext secret found in a column");
        }
    }
    if let keypair_store::DatabaseUrl::Sqlite(path) = &db.url {
        // Also the raw database files, including the write-ahead log.
        for file in [path.clone(), path.with_extension("db-wal")] {
            if let Ok(bytes) = std::fs::read(&file) {
                let text = String::from_utf8_lossy(&bytes);
                for secret in &secrets {
                    assert!(
                        !text.contains(&secret.expose()[8..]),
                        "secret in {}",
                        file.display()
                    );
                }
            }
        }
    }
}

fn cached_keypairs_follow_changes(db: &TestDb) {
    let s = &db.store;
    let acct = s.create_account(&actor(), "Cache", t0()).expect("account");
    let (kp, secret) = s
        .create_keypair(
            &actor(),
            new_keypair(Owner::Account(acct.id.clone()), &["feedback:read"]),
            t0(),
        )
        .expect("kp");
    // Authenticate twice: the second answer comes from memory.
    assert!(authenticated(s, &kp.client_id, &secret));
    assert!(authenticated(s, &kp.client_id, &secret));
    // Changes through this store are seen at once.
    disable(s, &kp.client_id);
    assert!(!authenticated(s, &kp.client_id, &secret));
    s.update_keypair(
        &actor(),
        &kp.client_id,
        KeypairPatch {
            enabled: Some(true),
            ..Default::default()
        },
        t0(),
    )
    .expect("enable");
    assert!(authenticated(s, &kp.client_id, &secret));
    let narrowed = catalogue()
        .validate_for_keypair(&[] as &[&str])
        .expect("scopes");
    s.update_keypair(
        &actor(),
        &kp.client_id,
        KeypairPatch {
            scopes: Some(narrowed),
            ..Default::default()
        },
        t0(),
    )
    .expect("narrow");
    match s
        .authenticate(kp.client_id.as_str(), &secret, LOCAL, t0())
        .expect("auth")
    {
        ClientAuth::Authenticated(k) => assert!(k.scopes.is_empty(), "scope change seen at once"),
        other => panic!("{other:?}"),
    }

    // Another process (a second store on the same database) disables it: this store
    // notices within its cache TTL, measured on the time passed in (no sleeping).
    let settings = keypair_store::PoolSettings {
        keypair_cache_ttl: std::time::Duration::from_millis(200),
        ..Default::default()
    };
    let a = Store::open(&db.url, &settings).expect("store a");
    let b = Store::open(&db.url, &settings).expect("store b");
    let ms = Duration::milliseconds;
    assert!(authenticated_at(&a, &kp.client_id, &secret, t0()));
    a.record_use(&kp.client_id, t0()).expect("record use");
    assert!(
        !a.answers_from_memory(kp.client_id.as_str(), t0()),
        "its first token has to open a generation"
    );
    let policy = keypair_store::GenerationPolicy {
        list_capacity: 1024,
        reuse_after: Duration::hours(1),
    };
    a.open_generation(&kp.client_id, &policy, t0())
        .expect("open generation");
    assert!(authenticated_at(&a, &kp.client_id, &secret, t0()));
    // Cached with a VALID generation, and its last use was just recorded: served from
    // memory.
    assert!(a.answers_from_memory(kp.client_id.as_str(), t0()));
    assert!(
        !a.answers_from_memory(kp.client_id.as_str(), t0() + ms(200)),
        "past the TTL"
    );
    disable(&b, &kp.client_id);
    assert!(!authenticated_at(&b, &kp.client_id, &secret, t0()));
    assert!(
        authenticated_at(&a, &kp.client_id, &secret, t0() + ms(199)),
        "within the TTL the other store may serve its cached copy (no listener here)"
    );
    assert!(
        !authenticated_at(&a, &kp.client_id, &secret, t0() + ms(200)),
        "past the TTL the other store reads the change"
    );
    // Closing the account through a third path is seen at once by that store.
    let (kp2, secret2) = a
        .create_keypair(
            &actor(),
            new_keypair(Owner::Account(acct.id.clone()), &["feedback:read"]),
            t0(),
        )
        .expect("kp2");
    assert!(authenticated(&a, &kp2.client_id, &secret2));
    a.close_account(&actor(), &acct.id, t0()).expect("close");
    assert!(!authenticated(&a, &kp2.client_id, &secret2));
}

/// Found by the soak: concurrent read-then-write transactions on SQLite met
/// SQLITE_BUSY and surfaced as errors. Every one of these writes must succeed.
fn concurrent_writes_all_succeed(db: &TestDb) {
    let s = &db.store;
    let acct = s.create_account(&actor(), "Busy", t0()).expect("account");
    let (kp, _) = s
        .create_keypair(
            &actor(),
            new_keypair(Owner::Account(acct.id.clone()), &["feedback:read"]),
            t0(),
        )
        .expect("kp");
    std::thread::scope(|scope| {
        for t in 0..8 {
            let (s, kp, account) = (s.clone(), kp.clone(), acct.id.clone());
            scope.spawn(move || {
                for i in 0..25 {
                    let patch = KeypairPatch {
                        comment: Some(format!("t{t} i{i}")),
                        ..Default::default()
                    };
                    s.update_keypair(&actor(), &kp.client_id, patch, t0())
                        .expect("concurrent update");
                    if i % 5 == 0 {
                        s.create_environment(&actor(), &account, &format!("e{t}-{i}"), t0())
                            .expect("concurrent create");
                    }
                }
            });
        }
    });
    let mut updates = 0;
    let mut cursor: Option<String> = None;
    loop {
        let page = s
            .list_audit(
                &acct.id,
                &PageRequest::new(Some(200), cursor.as_deref()).expect("req"),
            )
            .expect("audit");
        updates += page
            .items
            .iter()
            .filter(|r| r.action == "keypair.update")
            .count();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(
        updates, 200,
        "every concurrent update committed and audited"
    );
}

/// Scale-out on PostgreSQL: a disable, delete or close made by another process reaches
/// this process's keypair cache through LISTEN/NOTIFY, long before the TTL (a minute
/// here) would expire it. The design: "no cache may serve a stale 'enabled'".
#[test]
fn other_processes_changes_reach_the_cache_at_once_on_postgres() {
    let Some(db) = TestDb::postgres() else {
        eprintln!("KEYGATE_TEST_POSTGRES_URL not set: PostgreSQL variant not run");
        return;
    };
    let (here, _listening) = listening_store(&db);
    let there = &db.store;
    let acct = there
        .create_account(&actor(), "Acme", t0())
        .expect("account");
    let mut keypairs = Vec::new();
    for _ in 0..3 {
        let (kp, secret) = there
            .create_keypair(
                &actor(),
                new_keypair(Owner::Account(acct.id.clone()), &["feedback:read"]),
                t0(),
            )
            .expect("keypair");
        assert!(
            authenticated(&here, &kp.client_id, &secret),
            "now cached here"
        );
        keypairs.push((kp, secret));
    }
    let refused_soon = |kp: &keypair_store::Keypair, secret: &ClientSecret, what: &str| {
        let real = clock::Clock::system();
        let deadline = real.instant() + std::time::Duration::from_secs(2);
        while authenticated(&here, &kp.client_id, secret) {
            assert!(
                real.instant() < deadline,
                "{what} in another process not seen here within 2 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    };
    let (kp, secret) = &keypairs[0];
    disable(there, &kp.client_id);
    refused_soon(kp, secret, "a disable");
    let (kp, secret) = &keypairs[1];
    there
        .delete_keypair(&actor(), &kp.client_id, t0())
        .expect("delete");
    refused_soon(kp, secret, "a delete");
    let (kp, secret) = &keypairs[2];
    there
        .close_account(&actor(), &acct.id, t0())
        .expect("close");
    refused_soon(kp, secret, "closing the account");
}
