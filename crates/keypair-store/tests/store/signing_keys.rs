//! Signing keys at rest: rotation and purging.

use crate::*;

keypair_store::on_both_backends! {
    signing_keys_rotate;
}

fn signing_keys_rotate(db: &TestDb) {
    let s = &db.store;
    let key = |kid: &str, at: OffsetDateTime| StoredSigningKey {
        kid: kid.into(),
        algorithm: "EdDSA".into(),
        private_key_sealed: vec![1, 2, 3, kid.len() as u8],
        public_jwk: format!("{{\"kid\":\"{kid}\"}}"),
        created_at: at,
        retired_at: None,
    };
    assert!(s.signing_keys().expect("list").is_empty());
    s.rotate_signing_key(&key("k1", t0()), t0()).expect("first");
    s.rotate_signing_key(
        &key("k2", t0() + Duration::hours(1)),
        t0() + Duration::hours(1),
    )
    .expect("second");
    let keys = s.signing_keys().expect("list");
    assert_eq!(
        keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
        ["k2", "k1"]
    );
    assert_eq!(keys[0].retired_at, None);
    assert_eq!(keys[1].retired_at, Some(t0() + Duration::hours(1)));
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
