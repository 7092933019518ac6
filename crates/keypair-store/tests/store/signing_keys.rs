//! Signing keys at rest: rotation (published ahead of signing), the one-pending-key
//! rule, keys stored before activation times, and purging.

use crate::*;

keypair_store::on_both_backends! {
    signing_keys_rotate;
    a_key_published_ahead_retires_the_current_one_when_it_activates;
    one_rotation_waits_at_a_time;
    concurrent_rotations_leave_one_pending_key;
    keys_stored_before_activation_times_signed_from_creation;
}

fn key(kid: &str, created: OffsetDateTime, activates: OffsetDateTime) -> StoredSigningKey {
    StoredSigningKey {
        kid: kid.into(),
        algorithm: "EdDSA".into(),
        private_key_sealed: vec![1, 2, 3, kid.len() as u8],
        public_jwk: format!("{{\"kid\":\"{kid}\"}}"),
        created_at: created,
        activates_at: activates,
        retired_at: None,
    }
}

fn kids(s: &Store) -> Vec<String> {
    s.signing_keys()
        .expect("list")
        .into_iter()
        .map(|k| k.kid)
        .collect()
}

fn signing_keys_rotate(db: &TestDb) {
    let s = &db.store;
    let at = |t: OffsetDateTime, kid: &str| key(kid, t, t);
    assert!(s.signing_keys().expect("list").is_empty());
    s.rotate_signing_key(&at(t0(), "k1"), t0()).expect("first");
    let t1 = t0() + Duration::hours(1);
    s.rotate_signing_key(&at(t1, "k2"), t1).expect("second");
    let keys = s.signing_keys().expect("list");
    assert_eq!(kids(s), ["k2", "k1"]);
    assert_eq!(keys[0].retired_at, None);
    assert_eq!(keys[0].activates_at, t1);
    assert_eq!(keys[1].retired_at, Some(t1));
    assert_eq!(keys[1].private_key_sealed, vec![1, 2, 3, 2]);
    assert_eq!(
        s.purge_signing_keys_retired_before(t0() + Duration::minutes(30))
            .expect("purge"),
        0
    );
    assert_eq!(
        s.purge_signing_keys_retired_before(t0() + Duration::hours(2))
            .expect("purge"),
        1
    );
    assert_eq!(s.signing_keys().expect("list").len(), 1);
}

fn a_key_published_ahead_retires_the_current_one_when_it_activates(db: &TestDb) {
    let s = &db.store;
    s.rotate_signing_key(&key("k1", t0(), t0()), t0())
        .expect("first");
    let t1 = t0() + Duration::hours(1);
    let activates = t1 + Duration::seconds(60);
    s.rotate_signing_key(&key("k2", t1, activates), t1)
        .expect("rotate ahead");
    let keys = s.signing_keys().expect("list");
    assert_eq!(kids(s), ["k2", "k1"], "newest activation first");
    assert_eq!((keys[0].created_at, keys[0].activates_at), (t1, activates));
    assert_eq!(keys[0].retired_at, None);
    assert_eq!(
        keys[1].retired_at,
        Some(activates),
        "the current key is retired from the moment the new one signs"
    );
    // Retired in the future: a purge before that keeps it.
    assert_eq!(
        s.purge_signing_keys_retired_before(t1 + Duration::seconds(30))
            .expect("purge"),
        0
    );
    assert_eq!(kids(s), ["k2", "k1"]);

    // A key cannot sign before it is published.
    let err = s
        .rotate_signing_key(&key("k3", t1, t1 - Duration::seconds(1)), activates)
        .expect_err("activation before creation");
    assert!(matches!(err, StoreError::Invalid { .. }), "{err:?}");
}

fn one_rotation_waits_at_a_time(db: &TestDb) {
    let s = &db.store;
    s.rotate_signing_key(&key("k1", t0(), t0()), t0())
        .expect("first");
    let t1 = t0() + Duration::hours(1);
    let activates = t1 + Duration::seconds(60);
    s.rotate_signing_key(&key("k2", t1, activates), t1)
        .expect("rotate ahead");
    let before = s.signing_keys().expect("list");

    // While k2 waits to sign, another rotation is refused and changes nothing.
    let t2 = t1 + Duration::seconds(59);
    let err = s
        .rotate_signing_key(&key("k3", t2, t2 + Duration::seconds(60)), t2)
        .expect_err("a rotation is pending");
    match &err {
        StoreError::Conflict(m) => {
            assert!(
                m.contains("k2") && m.contains("2026-11-22T13:01:00Z"),
                "{m}"
            )
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let after = s.signing_keys().expect("list");
    assert_eq!(
        after
            .iter()
            .map(|k| (&k.kid, k.retired_at))
            .collect::<Vec<_>>(),
        before
            .iter()
            .map(|k| (&k.kid, k.retired_at))
            .collect::<Vec<_>>(),
        "the refused rotation retired nothing"
    );
    // Even one meant to sign at once.
    s.rotate_signing_key(&key("k3", t2, t2), t2)
        .expect_err("a rotation is pending");

    // Once k2 signs, the next rotation goes through and retires k2 (k1 keeps its time).
    s.rotate_signing_key(
        &key("k3", activates, activates + Duration::seconds(60)),
        activates,
    )
    .expect("k2 signs now");
    let keys = s.signing_keys().expect("list");
    assert_eq!(kids(s), ["k3", "k2", "k1"]);
    assert_eq!(keys[1].retired_at, Some(activates + Duration::seconds(60)));
    assert_eq!(keys[2].retired_at, Some(activates));
}

/// Rotations racing from several processes: exactly one key ends up waiting to sign
/// (on PostgreSQL the first one's row locks make the others see its key).
fn concurrent_rotations_leave_one_pending_key(db: &TestDb) {
    let s = &db.store;
    s.rotate_signing_key(&key("k0", t0(), t0()), t0())
        .expect("first");
    let t1 = t0() + Duration::hours(1);
    let results: Vec<Result<(), StoreError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let s = s.clone();
                scope.spawn(move || {
                    s.rotate_signing_key(
                        &key(&format!("k{}", i + 1), t1, t1 + Duration::seconds(60)),
                        t1,
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    });
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(StoreError::Conflict(_)))),
        "{results:?}"
    );
    let keys = s.signing_keys().expect("list");
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[1].kid, "k0");
    assert_eq!(keys[1].retired_at, Some(t1 + Duration::seconds(60)));
}

fn keys_stored_before_activation_times_signed_from_creation(db: &TestDb) {
    // A row as an older keygate wrote it: no activation time.
    let created = keypair_store_micros(t0());
    db.execute_sql(&format!(
        "INSERT INTO signing_keys (kid, algorithm, private_key_sealed, public_jwk, created_at) \
         VALUES ('old', 'EdDSA', {}, '{{}}', {created})",
        if db.url_string().starts_with("postgres") {
            "'\\x01'::bytea"
        } else {
            "X'01'"
        }
    ));
    let keys = db.store.signing_keys().expect("list");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].activates_at, t0());
    // It signs now, so a rotation is not refused, and it is retired when the new key
    // activates.
    let t1 = t0() + Duration::hours(1);
    db.store
        .rotate_signing_key(&key("new", t1, t1 + Duration::seconds(60)), t1)
        .expect("rotate");
    assert_eq!(kids(&db.store), ["new", "old"]);
    assert_eq!(
        db.store.signing_keys().expect("list")[1].retired_at,
        Some(t1 + Duration::seconds(60))
    );
}

fn keypair_store_micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1000).expect("fits")
}
