//! Passwords: set through a setup link in the same transaction as the person, checked
//! at sign-in with the right refusal for each failure, NFKC-normalised, 12 to 1024
//! characters, stored only as an Argon2id PHC string, and hashed under a bound on
//! concurrency.

use std::sync::mpsc;

use keypair_store::{
    Acceptor, NewCredential, Password, PasswordHashing, PoolSettings, SignInError, SignInRefusal,
    User,
};

use crate::people::{new_user, PASSWORD};
use crate::*;

keypair_store::on_both_backends! {
    the_right_password_signs_in;
    each_failure_is_refused_for_its_reason;
    a_disabled_person_is_refused_only_with_the_right_password;
    passwords_are_compared_after_nfkc_normalisation;
    only_the_phc_string_is_stored;
    a_link_to_an_existing_email_never_sets_credentials;
    a_refused_accept_stores_no_credential;
    hashing_is_bounded;
    a_waiting_hash_runs_when_a_turn_frees;
    a_sign_in_makes_a_session_only_while_the_password_is_still_theirs;
}

fn day() -> Duration {
    Duration::days(1)
}

/// A person invited as operator who accepted with `acceptor`.
fn set_up(s: &Store, email: &str, acceptor: &Acceptor) -> User {
    let (_, code) = s
        .invite(&actor(), email, &Owner::Operator, day(), t0())
        .expect("invite");
    s.accept_invitation(&code, acceptor, t0()).expect("accept")
}

fn pw(s: &str) -> Password {
    Password::new(s).expect("a valid password")
}

fn with_password(s: &Store, typed: &str) -> Acceptor {
    Acceptor::NewUser {
        name: String::new(),
        credential: NewCredential::Password(s.hash_password(&pw(typed)).expect("hash")),
    }
}

fn refusal(r: Result<User, SignInError>) -> SignInRefusal {
    match r {
        Err(SignInError::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn the_right_password_signs_in(db: &TestDb) {
    let s = &db.store;
    let ada = set_up(s, "ada@example.com", &new_user(s));
    let me = s
        .check_password("ada@example.com", &pw(PASSWORD), t0())
        .expect("signs in");
    assert_eq!(me.id, ada.id);
    // Emails compare case-insensitively, and with surrounding spaces trimmed.
    let me = s
        .check_password(" ADA@Example.com ", &pw(PASSWORD), t0())
        .expect("signs in");
    assert_eq!(me.id, ada.id);
}

fn each_failure_is_refused_for_its_reason(db: &TestDb) {
    let s = &db.store;
    set_up(s, "ada@example.com", &new_user(s));
    let wrong = pw("not the password at all");
    assert_eq!(
        refusal(s.check_password("ada@example.com", &wrong, t0())),
        SignInRefusal::WrongPassword
    );
    assert_eq!(
        refusal(s.check_password("nobody@example.com", &pw(PASSWORD), t0())),
        SignInRefusal::UnknownEmail
    );
    assert_eq!(
        refusal(s.check_password("not an email", &pw(PASSWORD), t0())),
        SignInRefusal::UnknownEmail
    );
    // A person without a password (planted: the store only ends passwords by a reset).
    let bo = set_up(s, "bo@example.com", &new_user(s));
    db.execute_sql(&format!(
        "DELETE FROM password_credentials WHERE user_id = '{}'",
        bo.id
    ));
    assert_eq!(
        refusal(s.check_password("bo@example.com", &pw(PASSWORD), t0())),
        SignInRefusal::NoPassword
    );
    // The reason codes.
    for (r, code) in [
        (SignInRefusal::UnknownEmail, "unknown_email"),
        (SignInRefusal::WrongPassword, "wrong_password"),
        (SignInRefusal::NoPassword, "no_password"),
        (SignInRefusal::Disabled, "disabled"),
    ] {
        assert_eq!(r.as_str(), code);
    }
}

fn a_disabled_person_is_refused_only_with_the_right_password(db: &TestDb) {
    let s = &db.store;
    let ada = set_up(s, "ada@example.com", &new_user(s));
    s.disable_user(&actor(), &ada.id, t0()).expect("disable");
    assert_eq!(
        refusal(s.check_password("ada@example.com", &pw(PASSWORD), t0())),
        SignInRefusal::Disabled
    );
    assert_eq!(
        refusal(s.check_password("ada@example.com", &pw("a wrong password"), t0())),
        SignInRefusal::WrongPassword,
        "a wrong password does not learn that the person is disabled"
    );
    s.enable_user(&actor(), &ada.id, t0()).expect("enable");
    s.check_password("ada@example.com", &pw(PASSWORD), t0())
        .expect("signs in again");
}

fn passwords_are_compared_after_nfkc_normalisation(db: &TestDb) {
    let s = &db.store;
    // Set with a precomposed é (U+00E9) and the ﬁ ligature (U+FB01) ...
    let composed = "caf\u{e9} \u{fb01}sh and chips";
    set_up(s, "ada@example.com", &with_password(s, composed));
    // ... signs in typed with e + combining acute (U+0065 U+0301) and plain "fi".
    let decomposed = "cafe\u{301} fish and chips";
    assert_ne!(composed, decomposed);
    s.check_password("ada@example.com", &pw(decomposed), t0())
        .expect("the same password, typed differently");
    // Full-width letters are their ASCII forms under NFKC.
    set_up(
        s,
        "bo@example.com",
        &with_password(s, "\u{ff30}\u{ff41}\u{ff53}\u{ff53} word here"),
    );
    s.check_password("bo@example.com", &pw("Pass word here"), t0())
        .expect("compatibility forms match");
    assert_eq!(
        refusal(s.check_password("bo@example.com", &pw("pass word here"), t0())),
        SignInRefusal::WrongPassword,
        "case still matters"
    );
}

fn only_the_phc_string_is_stored(db: &TestDb) {
    let s = &db.store;
    let ada = set_up(s, "ada@example.com", &new_user(s));
    let cells = db.dump_all_columns();
    let phcs: Vec<&String> = cells.iter().filter(|c| c.starts_with("$argon2")).collect();
    assert_eq!(phcs.len(), 1, "one password stored: {phcs:?}");
    assert!(
        phcs[0].starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "Argon2id with OWASP's parameters: {}",
        phcs[0]
    );
    assert!(cells.iter().any(|c| c == ada.id.as_str()));
    for cell in &cells {
        assert!(!cell.contains(PASSWORD), "plaintext password stored");
    }
}

/// Invitation takeover: whoever holds the link to an existing person's email cannot
/// set that person's credentials, and the person's own password keeps working.
fn a_link_to_an_existing_email_never_sets_credentials(db: &TestDb) {
    let s = &db.store;
    set_up(s, "ada@example.com", &new_user(s));
    let acct = s.create_account(&actor(), "Acme", t0()).expect("account");
    let (_, code) = s
        .invite(
            &actor(),
            "ADA@example.com",
            &Owner::Account(acct.id),
            day(),
            t0(),
        )
        .expect("invite");
    let pending = s.find_pending_invitation(&code, t0()).expect("pending");
    assert!(!pending.sets_credentials);
    let attacker = with_password(s, "the attacker's password");
    assert!(matches!(
        s.accept_invitation(&code, &attacker, t0()),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        refusal(s.check_password("ada@example.com", &pw("the attacker's password"), t0())),
        SignInRefusal::WrongPassword
    );
    s.check_password("ada@example.com", &pw(PASSWORD), t0())
        .expect("Ada's own password still works");
}

/// The credential is written in the accept's transaction: an accept that fails stores
/// neither the person nor a password.
fn a_refused_accept_stores_no_credential(db: &TestDb) {
    let s = &db.store;
    let (_, code) = s
        .invite(&actor(), "ada@example.com", &Owner::Operator, day(), t0())
        .expect("invite");
    let bad_name = Acceptor::NewUser {
        name: "a\u{202e}b".into(),
        credential: match new_user(s) {
            Acceptor::NewUser { credential, .. } => credential,
            Acceptor::SignedIn(_) => unreachable!(),
        },
    };
    assert!(matches!(
        s.accept_invitation(&code, &bad_name, t0()),
        Err(StoreError::Invalid { field: "name", .. })
    ));
    assert!(!db
        .dump_all_columns()
        .iter()
        .any(|c| c.starts_with("$argon2")));
    assert_eq!(
        refusal(s.check_password("ada@example.com", &pw(PASSWORD), t0())),
        SignInRefusal::UnknownEmail
    );
}

/// A second store on the same database with its own hashing bound.
fn bounded_store(db: &TestDb, concurrency: usize, max_wait: std::time::Duration) -> Store {
    let settings = PoolSettings {
        password_hashing: PasswordHashing {
            concurrency,
            max_wait,
        },
        ..Default::default()
    };
    Store::open(&db.url, &settings).expect("store")
}

fn hashing_is_bounded(db: &TestDb) {
    set_up(&db.store, "ada@example.com", &new_user(&db.store));
    let s = bounded_store(db, 2, std::time::Duration::from_millis(50));
    let password = pw(PASSWORD);
    // One turn taken: the other still serves.
    let first = s.hold_password_hash_turn().expect("a turn");
    s.hash_password(&password).expect("the second turn");
    // Both taken: hashing and sign-in answer "unavailable" after the short wait.
    let second = s.hold_password_hash_turn().expect("a turn");
    let busy = s.hash_password(&password);
    assert!(
        matches!(&busy, Err(e @ StoreError::Unavailable(_)) if e.is_unavailable()),
        "{busy:?}"
    );
    let busy = s.check_password("ada@example.com", &password, t0());
    assert!(
        matches!(&busy, Err(SignInError::Store(StoreError::Unavailable(_)))),
        "{busy:?}"
    );
    // The bound is per store: another store (process) is not held up.
    db.store
        .check_password("ada@example.com", &password, t0())
        .expect("another store hashes");
    // A turn freed is a turn taken.
    drop(first);
    s.check_password("ada@example.com", &password, t0())
        .expect("signs in");
    drop(second);
    assert_eq!(s.password_hash_waiters(), 0);
}

fn a_waiting_hash_runs_when_a_turn_frees(db: &TestDb) {
    let s = bounded_store(db, 1, std::time::Duration::from_secs(600));
    let held = s.hold_password_hash_turn().expect("the only turn");
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let r = s.hash_password(&pw(PASSWORD));
            done_tx.send(r.is_ok()).expect("send");
        });
        // Wait (bounded) until the hash is queued behind the held turn.
        let deadline = 10_000;
        let mut polls = 0;
        while s.password_hash_waiters() == 0 {
            polls += 1;
            assert!(polls < deadline, "the hash never queued");
            std::thread::yield_now();
            std::thread::park_timeout(std::time::Duration::from_millis(1));
        }
        assert!(
            done_rx.try_recv().is_err(),
            "no hash runs while the only turn is held"
        );
        drop(held);
        assert!(
            done_rx
                .recv_timeout(std::time::Duration::from_secs(60))
                .expect("the queued hash finished"),
            "and succeeded"
        );
    });
    assert_eq!(s.password_hash_waiters(), 0);
}

#[test]
fn passwords_are_12_to_1024_characters_after_normalisation() {
    let invalid = |typed: &str| {
        matches!(
            Password::new(typed),
            Err(StoreError::Invalid {
                field: "password",
                ..
            })
        )
    };
    assert!(invalid(&"a".repeat(11)));
    assert!(Password::new(&"a".repeat(12)).is_ok());
    assert!(Password::new(&"a".repeat(1024)).is_ok());
    assert!(invalid(&"a".repeat(1025)));
    assert!(invalid(""));
    // Characters, not bytes: 12 four-byte characters are enough, 1025 too many.
    assert!(Password::new(&"\u{1f511}".repeat(12)).is_ok());
    assert!(Password::new(&"\u{1f511}".repeat(1024)).is_ok());
    assert!(invalid(&"\u{1f511}".repeat(1025)));
    // Counted after normalisation: 12 code points that compose to 11 characters are
    // too few; 1025 code points that compose to 1024 are not too many.
    let eleven = format!("{}e\u{301}", "a".repeat(10));
    assert_eq!(eleven.chars().count(), 12);
    assert!(invalid(&eleven));
    let long = format!("{}e\u{301}", "a".repeat(1023));
    assert_eq!(long.chars().count(), 1025);
    assert!(Password::new(&long).is_ok());
    // Huge input is refused without being normalised.
    assert!(invalid(&"a".repeat(10_000_000)));
    // Debug never shows it.
    let p = Password::new("correct horse battery staple").expect("valid");
    assert!(!format!("{p:?}").contains("horse"));
}

/// Waits (bounded) until a password check is queued behind a held hashing turn.
fn until_queued(s: &Store) {
    let mut polls = 0;
    while s.password_hash_waiters() == 0 {
        polls += 1;
        assert!(polls < 10_000, "the check never queued");
        std::thread::park_timeout(std::time::Duration::from_millis(1));
    }
}

fn a_sign_in_makes_a_session_only_while_the_password_is_still_theirs(db: &TestDb) {
    let s = bounded_store(db, 1, std::time::Duration::from_secs(600));
    let ada = set_up(&s, "ada@example.com", &new_user(&s));
    // Plainly: the right password gives a session the store finds.
    let (me, session) = s
        .sign_in_with_password("ada@example.com", &pw(PASSWORD), t0())
        .expect("signs in");
    assert_eq!(me.id, ada.id);
    let found = s
        .find_session(&session, t0(), Duration::hours(1), Duration::hours(12))
        .expect("read");
    assert_eq!(found.map(|f| f.user.id), Some(ada.id.clone()));
    assert_eq!(s.delete_user_sessions(&ada.id).expect("end"), 1);

    // A reset lands after the stored hash was read and before it is verified: the
    // verification still matches the old hash, but no session is made.
    let held = s.hold_password_hash_turn().expect("the only turn");
    std::thread::scope(|scope| {
        let signing_in =
            scope.spawn(|| s.sign_in_with_password("ada@example.com", &pw(PASSWORD), t0()));
        until_queued(&s);
        s.reset_user(&actor(), "ada@example.com", day(), t0())
            .expect("reset");
        drop(held);
        match signing_in.join().expect("thread") {
            Err(SignInError::Refused(SignInRefusal::NoPassword)) => {}
            other => panic!("expected NoPassword, got {other:?}"),
        }
    });
    assert_eq!(
        s.delete_user_sessions(&ada.id).expect("end"),
        0,
        "no session"
    );

    // The same with a disable instead: refused as disabled, no session.
    let bo = set_up(&s, "bo@example.com", &new_user(&s));
    let held = s.hold_password_hash_turn().expect("the only turn");
    std::thread::scope(|scope| {
        let signing_in =
            scope.spawn(|| s.sign_in_with_password("bo@example.com", &pw(PASSWORD), t0()));
        until_queued(&s);
        s.disable_user(&actor(), &bo.id, t0()).expect("disable");
        drop(held);
        match signing_in.join().expect("thread") {
            Err(SignInError::Refused(SignInRefusal::Disabled)) => {}
            other => panic!("expected Disabled, got {other:?}"),
        }
    });
    assert_eq!(
        s.delete_user_sessions(&bo.id).expect("end"),
        0,
        "no session"
    );
}
