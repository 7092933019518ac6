//! Passkeys as stored: set through a setup link, found by their user handle, signed in
//! with in the transaction that finds them still the person's; ceremonies answered
//! once, for their purpose, before they expire, and bounded in number.

use keypair_store::{
    Acceptor, CeremonyPurpose, NewCredential, NewPasskey, PoolSettings, SignInError, SignInRefusal,
    StoredPasskey,
};

use crate::people::new_user;
use crate::*;

keypair_store::on_both_backends! {
    a_passkey_set_through_a_link_signs_in_and_keeps_its_new_counter;
    a_reset_or_a_disable_stops_passkey_sign_in;
    one_credential_id_belongs_to_one_person;
    a_ceremony_is_answered_once_for_its_purpose_before_it_expires;
    waiting_ceremonies_are_bounded_and_expired_ones_make_room;
    a_person_adds_and_removes_passkeys_but_never_the_last_credential;
}

fn passkey(id: &[u8], handle: &str) -> NewPasskey {
    NewPasskey {
        credential_id: id.to_vec(),
        user_handle: handle.to_owned(),
        passkey: format!("{{\"counter\":0,\"id\":{id:?}}}"),
    }
}

fn with_passkey(p: NewPasskey) -> Acceptor {
    Acceptor::NewUser {
        name: String::new(),
        credential: NewCredential::Passkey(p),
    }
}

fn set_up(
    s: &Store,
    email: &str,
    acceptor: &Acceptor,
) -> keypair_store::StoreResult<keypair_store::User> {
    let (_, code) = s
        .invite(&actor(), email, &Owner::Operator, Duration::days(1), t0())
        .expect("invite");
    s.accept_invitation(&code, acceptor, t0())
}

fn only(found: Vec<StoredPasskey>) -> StoredPasskey {
    assert_eq!(found.len(), 1, "{found:?}");
    found.into_iter().next().expect("one")
}

fn refusal<T: std::fmt::Debug>(r: Result<T, SignInError>) -> SignInRefusal {
    match r {
        Err(SignInError::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn a_passkey_set_through_a_link_signs_in_and_keeps_its_new_counter(db: &TestDb) {
    let s = &db.store;
    let ada = set_up(
        s,
        "ada@example.com",
        &with_passkey(passkey(b"cred-1", "handle-a")),
    )
    .expect("accepted with a passkey");
    // No password was set: a password sign-in finds none.
    assert!(matches!(
        s.check_password(
            "ada@example.com",
            &keypair_store::Password::new("whatever it may be").expect("pw"),
            t0()
        ),
        Err(SignInError::Refused(SignInRefusal::NoPassword))
    ));
    assert!(s.passkeys_by_handle("handle-b").expect("read").is_empty());
    let found = only(s.passkeys_by_handle("handle-a").expect("read"));
    assert_eq!(found.user_id, ada.id);
    assert_eq!(found.credential_id, b"cred-1");
    assert_eq!(found.last_used_at, None);
    assert_eq!(only(s.passkeys_of(&ada.id).expect("read")), found);

    let later = t0() + Duration::minutes(5);
    let (me, session) = s
        .sign_in_with_passkey(&found, "{\"counter\":7}", later)
        .expect("signs in");
    assert_eq!(me.id, ada.id);
    let live = s
        .find_session(&session, later, Duration::minutes(30), Duration::hours(12))
        .expect("read")
        .expect("a live session");
    assert_eq!(live.user.id, ada.id);
    assert_eq!(live.user.last_sign_in_at, Some(later));
    let after = only(s.passkeys_of(&ada.id).expect("read"));
    assert_eq!(after.passkey, "{\"counter\":7}");
    assert_eq!(after.last_used_at, Some(later));
    // A second sign-in verified against the passkey as read before the first one
    // stored its counter: refused, and the counter stays.
    assert_eq!(
        refusal(s.sign_in_with_passkey(&found, "{\"counter\":5}", later)),
        SignInRefusal::UnknownCredential
    );
    assert_eq!(
        only(s.passkeys_of(&ada.id).expect("read")).passkey,
        "{\"counter\":7}"
    );
}

fn a_reset_or_a_disable_stops_passkey_sign_in(db: &TestDb) {
    let s = &db.store;
    let ada =
        set_up(s, "ada@example.com", &with_passkey(passkey(b"cred-1", "h"))).expect("accepted");
    let read_before = only(s.passkeys_by_handle("h").expect("read"));

    s.disable_user(&actor(), &ada.id, t0()).expect("disable");
    assert_eq!(
        refusal(s.sign_in_with_passkey(&read_before, "{}", t0())),
        SignInRefusal::Disabled
    );
    s.enable_user(&actor(), &ada.id, t0()).expect("enable");
    s.sign_in_with_passkey(&read_before, "{}", t0())
        .expect("enabled again: signs in");

    // A reset lands after the passkey was read: the sign-in makes no session.
    s.reset_user(&actor(), "ada@example.com", Duration::days(1), t0())
        .expect("reset");
    assert!(s.passkeys_of(&ada.id).expect("read").is_empty());
    assert!(s.passkeys_by_handle("h").expect("read").is_empty());
    assert_eq!(
        refusal(s.sign_in_with_passkey(&read_before, "{}", t0())),
        SignInRefusal::UnknownCredential
    );
}

fn one_credential_id_belongs_to_one_person(db: &TestDb) {
    let s = &db.store;
    set_up(
        s,
        "ada@example.com",
        &with_passkey(passkey(b"shared", "h1")),
    )
    .expect("first");
    let second = set_up(
        s,
        "bob@example.com",
        &with_passkey(passkey(b"shared", "h2")),
    );
    assert!(matches!(second, Err(StoreError::Conflict(_))), "{second:?}");
    // Refused as a whole: no person was made, and the invitation is still pending.
    assert!(matches!(
        s.get_user_by_email("bob@example.com"),
        Err(StoreError::NotFound(_))
    ));
    set_up(s, "bob@example.com", &new_user(s)).expect("bob with a password");
    // Empty and oversized credential ids are refused.
    for bad in [Vec::new(), vec![7u8; 1024]] {
        let r = set_up(
            s,
            &format!("c{}@example.com", bad.len()),
            &with_passkey(passkey(&bad, "h3")),
        );
        assert!(matches!(r, Err(StoreError::Invalid { .. })), "{r:?}");
    }
}

fn a_ceremony_is_answered_once_for_its_purpose_before_it_expires(db: &TestDb) {
    let s = &db.store;
    let life = Duration::minutes(2);
    let reg = s
        .begin_ceremony(
            CeremonyPurpose::Register,
            "{\"r\":1}",
            Some("h"),
            life,
            t0(),
        )
        .expect("begin");
    let taken = s
        .take_ceremony(&reg, CeremonyPurpose::Register, t0())
        .expect("take")
        .expect("found");
    assert_eq!(taken.state, "{\"r\":1}");
    assert_eq!(taken.user_handle.as_deref(), Some("h"));
    assert_eq!(
        s.take_ceremony(&reg, CeremonyPurpose::Register, t0())
            .expect("take"),
        None,
        "answered once"
    );

    // Another purpose: refused, and used up all the same.
    let sign_in = s
        .begin_ceremony(CeremonyPurpose::SignIn, "{}", None, life, t0())
        .expect("begin");
    assert_eq!(
        s.take_ceremony(&sign_in, CeremonyPurpose::Register, t0())
            .expect("take"),
        None
    );
    assert_eq!(
        s.take_ceremony(&sign_in, CeremonyPurpose::SignIn, t0())
            .expect("take"),
        None
    );

    // Expired: refused.
    let late = s
        .begin_ceremony(CeremonyPurpose::SignIn, "{}", None, life, t0())
        .expect("begin");
    assert_eq!(
        s.take_ceremony(&late, CeremonyPurpose::SignIn, t0() + life)
            .expect("take"),
        None
    );
    // An id never given out: nothing.
    let unknown = keypair_store::CeremonyId::from_presented("00");
    assert_eq!(
        s.take_ceremony(&unknown, CeremonyPurpose::SignIn, t0())
            .expect("take"),
        None
    );
}

fn waiting_ceremonies_are_bounded_and_expired_ones_make_room(db: &TestDb) {
    let settings = PoolSettings {
        max_passkey_ceremonies: 2,
        ..Default::default()
    };
    let s = Store::open(&db.url, &settings).expect("store");
    let life = Duration::minutes(2);
    let begin = |at| s.begin_ceremony(CeremonyPurpose::SignIn, "{}", None, life, at);
    begin(t0()).expect("first");
    let second = begin(t0()).expect("second");
    let full = begin(t0());
    assert!(matches!(&full, Err(e) if e.is_unavailable()), "{full:?}");
    // Answering one makes room.
    s.take_ceremony(&second, CeremonyPurpose::SignIn, t0())
        .expect("take")
        .expect("found");
    begin(t0()).expect("room again");
    assert!(begin(t0()).is_err());
    // Another purpose has its own room.
    s.begin_ceremony(CeremonyPurpose::Register, "{}", Some("h"), life, t0())
        .expect("a registration while sign-ins are full");
    // Once they expire, new ones fit.
    begin(t0() + life).expect("expired ones deleted");
    begin(t0() + life).expect("and another");
}

fn a_person_adds_and_removes_passkeys_but_never_the_last_credential(db: &TestDb) {
    let s = &db.store;
    // With a password: a passkey comes and goes, the password stays.
    let ada = set_up(s, "ada@example.com", &new_user(s)).expect("ada");
    assert!(s.has_password(&ada.id).expect("read"));
    s.add_passkey(&ada.id, &passkey(b"ada-1", "ha"), t0())
        .expect("added");
    assert_eq!(
        only(s.passkeys_of(&ada.id).expect("read")).user_handle,
        "ha"
    );
    s.remove_passkey(&ada.id, b"ada-1", t0()).expect("removed");
    assert!(s.passkeys_of(&ada.id).expect("read").is_empty());
    assert!(s.has_password(&ada.id).expect("read"));

    // With only a passkey: it cannot be removed until there is another.
    let bob = set_up(s, "bob@example.com", &with_passkey(passkey(b"bob-1", "hb"))).expect("bob");
    assert!(!s.has_password(&bob.id).expect("read"));
    let last = s.remove_passkey(&bob.id, b"bob-1", t0());
    assert!(matches!(last, Err(StoreError::Conflict(_))), "{last:?}");
    assert_eq!(s.passkeys_of(&bob.id).expect("read").len(), 1);
    s.add_passkey(&bob.id, &passkey(b"bob-2", "hb"), t0())
        .expect("a second");
    s.remove_passkey(&bob.id, b"bob-1", t0())
        .expect("now removable");
    assert_eq!(
        only(s.passkeys_of(&bob.id).expect("read")).credential_id,
        b"bob-2"
    );

    // Another person's passkey, or one that does not exist: not found, unchanged.
    for (who, id) in [(&ada.id, &b"bob-2"[..]), (&bob.id, &b"nope"[..])] {
        let r = s.remove_passkey(who, id, t0());
        assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    }
    assert_eq!(s.passkeys_of(&bob.id).expect("read").len(), 1);
    // A credential id already registered: refused. A disabled person adds nothing.
    let taken = s.add_passkey(&ada.id, &passkey(b"bob-2", "ha"), t0());
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    s.disable_user(&actor(), &ada.id, t0()).expect("disable");
    let disabled = s.add_passkey(&ada.id, &passkey(b"ada-2", "ha"), t0());
    assert!(
        matches!(disabled, Err(StoreError::NotFound(_))),
        "{disabled:?}"
    );
}
