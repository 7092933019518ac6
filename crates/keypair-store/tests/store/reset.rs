//! Resets (`keygate users reset`): the person's password and sessions end at once, and
//! a new one-time setup link, stored only as a digest, lets that same person set new
//! credentials; it grants nothing else, is single use, expires, and a newer reset
//! withdraws it.

use keypair_store::{Acceptor, NewCredential, Password, SignInError, SignInRefusal, User};

use crate::people::{new_user, PASSWORD};
use crate::*;

keypair_store::on_both_backends! {
    a_reset_ends_the_password_and_sessions_and_its_link_sets_new_ones;
    a_reset_link_expires;
    a_newer_reset_withdraws_the_older_link;
    a_reset_link_is_only_for_setting_credentials;
    a_disabled_person_uses_the_link_once_enabled;
    resetting_an_unknown_email_is_not_found;
    no_reset_code_is_stored;
}

const NEW_PASSWORD: &str = "a brand new passphrase";

fn day() -> Duration {
    Duration::days(1)
}

fn idle() -> Duration {
    Duration::minutes(30)
}

fn max() -> Duration {
    Duration::hours(12)
}

fn operator(s: &Store, email: &str) -> User {
    let (_, code) = s
        .invite(&actor(), email, &Owner::Operator, day(), t0())
        .expect("invite");
    s.accept_invitation(&code, &new_user(s), t0())
        .expect("accept")
}

fn setting(s: &Store, typed: &str) -> Acceptor {
    Acceptor::NewUser {
        name: "ignored".into(),
        credential: NewCredential::Password(
            s.hash_password(&Password::new(typed).expect("pw"))
                .expect("hash"),
        ),
    }
}

fn sign_in(s: &Store, email: &str, typed: &str) -> Result<User, SignInError> {
    s.check_password(email, &Password::new(typed).expect("pw"), t0())
}

fn refusal(r: Result<User, SignInError>) -> SignInRefusal {
    match r {
        Err(SignInError::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn a_reset_ends_the_password_and_sessions_and_its_link_sets_new_ones(db: &TestDb) {
    let s = &db.store;
    let ada = operator(s, "ada@example.com");
    let other = operator(s, "bo@example.com");
    let a = s.create_session(&ada.id, t0()).expect("session");
    let b = s.create_session(&ada.id, t0()).expect("session");
    let bos = s.create_session(&other.id, t0()).expect("session");

    let later = t0() + Duration::minutes(10);
    let (reset, code) = s
        .reset_user(&actor(), "ADA@example.com", day(), later)
        .expect("reset");
    assert!(reset.id.as_str().starts_with("inv_"));
    assert_eq!(reset.role(), "reset");
    assert_eq!(reset.user_id, ada.id);
    assert_eq!(reset.email, "ada@example.com");
    assert_eq!(reset.expires_at, later + day());
    assert_eq!(reset.created_by, actor().recorded());
    assert_eq!(code.expose().len(), 64);

    // Sessions and password ended at once; other people untouched.
    for sid in [&a, &b] {
        assert!(s
            .find_session(sid, later, idle(), max())
            .expect("f")
            .is_none());
    }
    assert!(s
        .find_session(&bos, later, idle(), max())
        .expect("f")
        .is_some());
    assert_eq!(
        refusal(sign_in(s, "ada@example.com", PASSWORD)),
        SignInRefusal::NoPassword
    );
    sign_in(s, "bo@example.com", PASSWORD).expect("Bo still signs in");
    // The person and their bindings stay.
    assert_eq!(s.user_bindings(&ada.id).expect("b"), vec![Owner::Operator]);
    assert!(!s.get_user(&ada.id).expect("ada").disabled);

    // The link: pending, for Ada, grants nothing, sets credentials.
    let pending = s.find_pending_invitation(&code, later).expect("pending");
    assert_eq!(pending.id, reset.id);
    assert_eq!(pending.email, "ada@example.com");
    assert_eq!(pending.grants, None);
    assert_eq!(pending.role(), "reset");
    assert_eq!(pending.existing_user, Some(ada.id.clone()));
    assert!(pending.sets_credentials);
    assert_eq!(pending.expires_at, later + day());

    // Setting a new password through it.
    let back = s
        .accept_invitation(&code, &setting(s, NEW_PASSWORD), later)
        .expect("new password");
    assert_eq!(back.id, ada.id, "the same person");
    assert_eq!(back.name, ada.name, "the name is kept");
    assert_eq!(s.user_bindings(&ada.id).expect("b"), vec![Owner::Operator]);
    assert_eq!(
        refusal(sign_in(s, "ada@example.com", PASSWORD)),
        SignInRefusal::WrongPassword,
        "the old password is gone"
    );
    assert_eq!(
        sign_in(s, "ada@example.com", NEW_PASSWORD)
            .expect("signs in")
            .id,
        ada.id
    );
    // The old sessions stay ended.
    assert!(s
        .find_session(&a, later, idle(), max())
        .expect("f")
        .is_none());

    // Single use.
    assert!(matches!(
        s.find_pending_invitation(&code, later),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.accept_invitation(&code, &setting(s, "yet another password"), later),
        Err(StoreError::NotFound(_))
    ));
    sign_in(s, "ada@example.com", NEW_PASSWORD).expect("still the new one");

    // Audited: the reset by the actor, the use by the person.
    let cells = db.dump_all_columns();
    assert!(cells.iter().any(|c| c == "user.reset"));
    assert!(cells
        .iter()
        .any(|c| c.starts_with(&format!("setup_link={}", reset.id))));
    assert!(cells.iter().any(|c| c == "role=reset"));
}

fn a_reset_link_expires(db: &TestDb) {
    let s = &db.store;
    operator(s, "ada@example.com");
    let (_, code) = s
        .reset_user(&actor(), "ada@example.com", day(), t0())
        .expect("reset");
    let at_expiry = t0() + day();
    assert!(matches!(
        s.find_pending_invitation(&code, at_expiry),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.accept_invitation(&code, &setting(s, NEW_PASSWORD), at_expiry),
        Err(StoreError::NotFound(_))
    ));
    let just_before = at_expiry - Duration::seconds(1);
    s.find_pending_invitation(&code, just_before)
        .expect("pending until then");
    s.accept_invitation(&code, &setting(s, NEW_PASSWORD), just_before)
        .expect("accepted in time");
    sign_in(s, "ada@example.com", NEW_PASSWORD).expect("signs in");
    assert!(matches!(
        s.reset_user(&actor(), "ada@example.com", Duration::ZERO, t0()),
        Err(StoreError::Invalid {
            field: "lifetime",
            ..
        })
    ));
}

fn a_newer_reset_withdraws_the_older_link(db: &TestDb) {
    let s = &db.store;
    operator(s, "ada@example.com");
    let (first, old) = s
        .reset_user(&actor(), "ada@example.com", day(), t0())
        .expect("reset");
    let (second, new) = s
        .reset_user(&actor(), "ada@example.com", day(), t0())
        .expect("reset again");
    assert_ne!(first.id, second.id);
    assert_ne!(old, new);
    assert!(matches!(
        s.find_pending_invitation(&old, t0()),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.accept_invitation(&old, &setting(s, NEW_PASSWORD), t0()),
        Err(StoreError::NotFound(_))
    ));
    s.accept_invitation(&new, &setting(s, NEW_PASSWORD), t0())
        .expect("the newest link works");
}

/// A reset link sets credentials; nobody signed in can use it to gain anything, and
/// such an attempt leaves it pending.
fn a_reset_link_is_only_for_setting_credentials(db: &TestDb) {
    let s = &db.store;
    let ada = operator(s, "ada@example.com");
    let eve = operator(s, "eve@example.com");
    let (_, code) = s
        .reset_user(&actor(), "ada@example.com", day(), t0())
        .expect("reset");
    for who in [&ada.id, &eve.id] {
        assert!(matches!(
            s.accept_invitation(&code, &Acceptor::SignedIn(who.clone()), t0()),
            Err(StoreError::Conflict(_))
        ));
    }
    assert_eq!(s.user_bindings(&eve.id).expect("b"), vec![Owner::Operator]);
    s.find_pending_invitation(&code, t0())
        .expect("still pending");
    // An invitation's acceptance rules are unchanged: a NewUser cannot take an
    // existing person's invitation, even right after a reset.
    let acct = s.create_account(&actor(), "Acme", t0()).expect("account");
    let (_, invitation) = s
        .invite(
            &actor(),
            "ada@example.com",
            &Owner::Account(acct.id),
            day(),
            t0(),
        )
        .expect("invite");
    assert!(matches!(
        s.accept_invitation(&invitation, &setting(s, "the attacker's password"), t0()),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        refusal(sign_in(s, "ada@example.com", "the attacker's password")),
        SignInRefusal::NoPassword
    );
}

fn a_disabled_person_uses_the_link_once_enabled(db: &TestDb) {
    let s = &db.store;
    let ada = operator(s, "ada@example.com");
    s.disable_user(&actor(), &ada.id, t0()).expect("disable");
    let (_, code) = s
        .reset_user(&actor(), "ada@example.com", day(), t0())
        .expect("a disabled person can be reset");
    assert!(s.get_user(&ada.id).expect("ada").disabled, "still disabled");
    assert!(matches!(
        s.accept_invitation(&code, &setting(s, NEW_PASSWORD), t0()),
        Err(StoreError::Conflict(_))
    ));
    s.enable_user(&actor(), &ada.id, t0()).expect("enable");
    s.accept_invitation(&code, &setting(s, NEW_PASSWORD), t0())
        .expect("now the link works");
    sign_in(s, "ada@example.com", NEW_PASSWORD).expect("signs in");
}

fn resetting_an_unknown_email_is_not_found(db: &TestDb) {
    let s = &db.store;
    operator(s, "ada@example.com");
    assert!(matches!(
        s.reset_user(&actor(), "nobody@example.com", day(), t0()),
        Err(StoreError::NotFound(_))
    ));
    // A pending invitation is not a person: still not found.
    s.invite(
        &actor(),
        "invited@example.com",
        &Owner::Operator,
        day(),
        t0(),
    )
    .expect("invite");
    assert!(matches!(
        s.reset_user(&actor(), "invited@example.com", day(), t0()),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.reset_user(&actor(), "not an email", day(), t0()),
        Err(StoreError::Invalid { field: "email", .. })
    ));
    // Nothing happened to Ada.
    sign_in(s, "ada@example.com", PASSWORD).expect("signs in");
}

fn no_reset_code_is_stored(db: &TestDb) {
    let s = &db.store;
    operator(s, "ada@example.com");
    let (reset, code) = s
        .reset_user(&actor(), "ada@example.com", day(), t0())
        .expect("reset");
    let cells = db.dump_all_columns();
    assert!(
        cells.iter().any(|c| c == reset.id.as_str()),
        "dump sees resets"
    );
    for cell in &cells {
        assert!(!cell.contains(code.expose()), "plaintext reset code stored");
    }
    assert!(!format!("{code:?}").contains(code.expose()));
}
