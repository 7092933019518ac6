//! Human administrators in the store: invitations are single use and expire, grant
//! nothing until accepted by the right person, emails match case-insensitively,
//! closing an owner removes its bindings and invitations, sessions time out and end
//! when their person is disabled, and no code or session id is stored in plaintext.

use std::sync::{Barrier, OnceLock};

use keypair_store::{
    Acceptor, AuditRecord, InvitationCode, NewCredential, Password, PasswordHash, UserId,
};

use crate::*;

keypair_store::on_both_backends! {
    an_invitation_is_accepted_once;
    concurrent_accepts_have_one_winner;
    an_invitation_expires;
    a_withdrawn_invitation_cannot_be_accepted;
    emails_match_case_insensitively;
    an_invitation_to_an_existing_email_binds_only_that_person;
    closing_an_owner_removes_its_bindings_and_invitations;
    removing_a_binding;
    sessions_time_out;
    disabling_ends_sessions;
    no_code_or_session_id_is_stored;
}

fn day() -> Duration {
    Duration::days(1)
}

/// The password every person set up by these tests has.
pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// Someone setting [`PASSWORD`] through a link. The hash is made once (hashing is
/// slow on purpose) and reused: a hash is valid on any store.
pub(crate) fn new_user(s: &Store) -> Acceptor {
    static HASH: OnceLock<PasswordHash> = OnceLock::new();
    let hash = HASH.get_or_init(|| {
        s.hash_password(&Password::new(PASSWORD).expect("password"))
            .expect("hash")
    });
    Acceptor::NewUser {
        name: "Ada".into(),
        credential: NewCredential::Password(hash.clone()),
    }
}

fn account_owner(s: &Store) -> Owner {
    let acct = s.create_account(&actor(), "Acme", t0()).expect("account");
    Owner::Account(acct.id)
}

fn actions(s: &Store, owner: &Owner) -> Vec<AuditRecord> {
    s.list_audit(
        owner.account_id().expect("account"),
        &PageRequest::new(Some(200), None).expect("page"),
    )
    .expect("audit")
    .items
}

fn an_invitation_is_accepted_once(db: &TestDb) {
    let s = &db.store;
    let owner = account_owner(s);
    let (inv, code) = s
        .invite(&actor(), "ada@example.com", &owner, day(), t0())
        .expect("invite");
    assert_eq!(inv.role(), "account_admin");
    assert!(inv.id.as_str().starts_with("inv_"));
    // Looking at it does not use it up.
    let pending = s.find_pending_invitation(&code, t0()).expect("pending");
    assert_eq!(pending.id, inv.id);
    assert_eq!(pending.email, "ada@example.com");
    assert_eq!(pending.expires_at, t0() + day());
    assert_eq!(pending.grants, Some(owner.clone()));
    assert_eq!(pending.role(), "account_admin");
    assert_eq!(pending.existing_user, None);
    assert!(pending.sets_credentials, "a new person sets credentials");
    assert!(s.find_pending_invitation(&code, t0()).is_ok());
    assert_eq!(
        s.list_pending_invitations(&owner, t0())
            .expect("pending")
            .len(),
        1
    );

    let user = s
        .accept_invitation(&code, &new_user(s), t0())
        .expect("accept");
    assert!(user.id.as_str().starts_with("usr_"));
    assert_eq!(
        s.user_bindings(&user.id).expect("bindings"),
        vec![owner.clone()]
    );
    let admins = s.list_administrators(&owner).expect("admins");
    assert_eq!(admins.len(), 1);
    assert_eq!(admins[0].user.id, user.id);
    assert!(s
        .list_pending_invitations(&owner, t0())
        .expect("pending")
        .is_empty());

    // Used up: neither found nor accepted again, by anyone.
    assert!(matches!(
        s.find_pending_invitation(&code, t0()),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.accept_invitation(&code, &new_user(s), t0()),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.accept_invitation(&code, &Acceptor::SignedIn(user.id.clone()), t0()),
        Err(StoreError::NotFound(_))
    ));
    // An unknown code is not found.
    assert!(matches!(
        s.find_pending_invitation(&InvitationCode::from_presented("nope"), t0()),
        Err(StoreError::NotFound(_))
    ));

    let audit = actions(s, &owner);
    let invite = audit
        .iter()
        .find(|r| r.action == "user.invite")
        .expect("invite audited");
    assert_eq!(invite.target, inv.id.as_str());
    assert_eq!(invite.actor, actor().recorded());
    let accept = audit
        .iter()
        .find(|r| r.action == "invitation.accept")
        .expect("accept audited");
    assert_eq!(accept.actor, format!("user:{}", user.id));
}

const RACERS: usize = 8;

fn concurrent_accepts_have_one_winner(db: &TestDb) {
    let s = &db.store;
    let owner = account_owner(s);
    for round in 0..3 {
        let email = format!("racer{round}@example.com");
        let (_, code) = s
            .invite(&actor(), &email, &owner, day(), t0())
            .expect("invite");
        let start = Barrier::new(RACERS);
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..RACERS)
                .map(|_| {
                    scope.spawn(|| {
                        start.wait();
                        s.accept_invitation(&code, &new_user(s), t0())
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
                matches!(r, Ok(_) | Err(StoreError::NotFound(_))),
                "round {round}: a racer failed otherwise: {r:?}"
            );
        }
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "round {round}: exactly one accept wins"
        );
        let user = s.get_user_by_email(&email).expect("one user");
        assert_eq!(s.user_bindings(&user.id).expect("bindings").len(), 1);
    }
    let accepts = actions(s, &owner)
        .iter()
        .filter(|r| r.action == "invitation.accept")
        .count();
    assert_eq!(accepts, 3);
}

fn an_invitation_expires(db: &TestDb) {
    let s = &db.store;
    let owner = account_owner(s);
    let (_, code) = s
        .invite(&actor(), "late@example.com", &owner, day(), t0())
        .expect("invite");
    let just_before = t0() + day() - Duration::microseconds(1);
    assert!(s.find_pending_invitation(&code, just_before).is_ok());
    assert!(matches!(
        s.find_pending_invitation(&code, t0() + day()),
        Err(StoreError::NotFound(_))
    ));
    assert!(s
        .list_pending_invitations(&owner, t0() + day())
        .expect("pending")
        .is_empty());
    assert!(matches!(
        s.accept_invitation(&code, &new_user(s), t0() + day()),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.get_user_by_email("late@example.com"),
        Err(StoreError::NotFound(_))
    ));
    // Before expiry it still works.
    s.accept_invitation(&code, &new_user(s), just_before)
        .expect("accept before expiry");
}

fn a_withdrawn_invitation_cannot_be_accepted(db: &TestDb) {
    let s = &db.store;
    let owner = account_owner(s);
    let other = account_owner(s);
    let (inv, code) = s
        .invite(&actor(), "gone@example.com", &owner, day(), t0())
        .expect("invite");
    // Only through its own owner.
    assert!(matches!(
        s.withdraw_invitation(&actor(), &other, &inv.id, t0()),
        Err(StoreError::NotFound(_))
    ));
    s.withdraw_invitation(&actor(), &owner, &inv.id, t0())
        .expect("withdraw");
    assert!(matches!(
        s.withdraw_invitation(&actor(), &owner, &inv.id, t0()),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.accept_invitation(&code, &new_user(s), t0()),
        Err(StoreError::NotFound(_))
    ));
    assert!(s
        .list_pending_invitations(&owner, t0())
        .expect("pending")
        .is_empty());
    assert!(actions(s, &owner)
        .iter()
        .any(|r| r.action == "invitation.withdraw" && r.target == inv.id.as_str()));
}

fn emails_match_case_insensitively(db: &TestDb) {
    let s = &db.store;
    let owner = account_owner(s);
    let (_, code) = s
        .invite(&actor(), "Ada.Lovelace@Example.COM", &owner, day(), t0())
        .expect("invite");
    let ada = s
        .accept_invitation(&code, &new_user(s), t0())
        .expect("accept");
    assert_eq!(ada.email, "Ada.Lovelace@Example.COM", "kept as given");
    assert_eq!(
        s.get_user_by_email("ada.lovelace@example.com")
            .expect("found")
            .id,
        ada.id
    );
    // A second invitation in other case is to the same person.
    let second = account_owner(s);
    let (_, code) = s
        .invite(&actor(), "ADA.LOVELACE@EXAMPLE.COM", &second, day(), t0())
        .expect("invite");
    let pending = s.find_pending_invitation(&code, t0()).expect("pending");
    assert_eq!(pending.existing_user, Some(ada.id.clone()));
    assert!(
        !pending.sets_credentials,
        "an existing person signs in instead"
    );
    // No second user with the same email in other case.
    assert!(matches!(
        s.accept_invitation(&code, &new_user(s), t0()),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.invite(&actor(), "not an email", &owner, day(), t0()),
        Err(StoreError::Invalid { field: "email", .. })
    ));
}

fn an_invitation_to_an_existing_email_binds_only_that_person(db: &TestDb) {
    let s = &db.store;
    let first = account_owner(s);
    let (_, code) = s
        .invite(&actor(), "bob@example.com", &first, day(), t0())
        .expect("invite");
    let bob = s.accept_invitation(&code, &new_user(s), t0()).expect("bob");
    let (_, code) = s
        .invite(&actor(), "eve@example.com", &first, day(), t0())
        .expect("invite");
    let eve = s.accept_invitation(&code, &new_user(s), t0()).expect("eve");

    let second = account_owner(s);
    let (_, code) = s
        .invite(&actor(), "BOB@example.com", &second, day(), t0())
        .expect("invite");
    // Pending: Bob has gained nothing yet.
    assert_eq!(s.user_bindings(&bob.id).expect("b"), vec![first.clone()]);
    // Someone setting credentials through the link gets nothing.
    assert!(matches!(
        s.accept_invitation(&code, &new_user(s), t0()),
        Err(StoreError::Conflict(_))
    ));
    // Another signed-in person gets nothing.
    assert!(matches!(
        s.accept_invitation(&code, &Acceptor::SignedIn(eve.id.clone()), t0()),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.user_bindings(&eve.id).expect("e"), vec![first.clone()]);
    assert!(s.list_administrators(&second).expect("a").is_empty());
    // Still pending after those refusals; Bob, signed in, accepts it.
    s.find_pending_invitation(&code, t0())
        .expect("still pending");
    let accepted = s
        .accept_invitation(&code, &Acceptor::SignedIn(bob.id.clone()), t0())
        .expect("bob accepts");
    assert_eq!(accepted.id, bob.id);
    let mut bindings = s.user_bindings(&bob.id).expect("b");
    bindings.sort_by_key(|o| o.account_id().cloned());
    let mut expected = vec![first, second];
    expected.sort_by_key(|o| o.account_id().cloned());
    assert_eq!(bindings, expected);
}

fn closing_an_owner_removes_its_bindings_and_invitations(db: &TestDb) {
    let s = &db.store;
    let acct = s.create_account(&actor(), "Acme", t0()).expect("account");
    let env = s
        .create_environment(&actor(), &acct.id, "prod", t0())
        .expect("env");
    let other = s.create_account(&actor(), "Other", t0()).expect("account");
    let acct_owner = Owner::Account(acct.id.clone());
    let env_owner = Owner::Environment {
        account_id: acct.id.clone(),
        environment_id: env.id.clone(),
    };
    let other_owner = Owner::Account(other.id.clone());

    let (_, code) = s
        .invite(&actor(), "carol@example.com", &env_owner, day(), t0())
        .expect("invite");
    let carol = s
        .accept_invitation(&code, &new_user(s), t0())
        .expect("carol");
    assert_eq!(
        carol.id,
        s.get_user_by_email("carol@example.com").expect("c").id
    );
    for owner in [&acct_owner, &other_owner] {
        let (_, code) = s
            .invite(&actor(), "carol@example.com", owner, day(), t0())
            .expect("invite");
        s.accept_invitation(&code, &Acceptor::SignedIn(carol.id.clone()), t0())
            .expect("accept");
    }
    s.invite(&actor(), "dan@example.com", &acct_owner, day(), t0())
        .expect("invite");
    s.invite(&actor(), "dan@example.com", &env_owner, day(), t0())
        .expect("invite");
    assert_eq!(s.user_bindings(&carol.id).expect("b").len(), 3);

    s.close_environment(&actor(), &env.id, t0())
        .expect("close env");
    assert!(!s.user_bindings(&carol.id).expect("b").contains(&env_owner));
    assert!(s
        .list_pending_invitations(&env_owner, t0())
        .expect("p")
        .is_empty());
    assert_eq!(
        s.list_pending_invitations(&acct_owner, t0())
            .expect("p")
            .len(),
        1
    );

    s.close_account(&actor(), &acct.id, t0())
        .expect("close account");
    assert_eq!(s.user_bindings(&carol.id).expect("b"), vec![other_owner]);
    assert!(s
        .list_pending_invitations(&acct_owner, t0())
        .expect("p")
        .is_empty());
    assert!(s.list_administrators(&acct_owner).expect("a").is_empty());
    // The person stays.
    s.get_user(&carol.id).expect("carol stays");
    // Inviting to a closed owner is NotFound.
    assert!(matches!(
        s.invite(&actor(), "x@example.com", &acct_owner, day(), t0()),
        Err(StoreError::NotFound(_))
    ));
}

fn removing_a_binding(db: &TestDb) {
    let s = &db.store;
    let owner = account_owner(s);
    let (_, code) = s
        .invite(&actor(), "erin@example.com", &owner, day(), t0())
        .expect("invite");
    let erin = s
        .accept_invitation(&code, &new_user(s), t0())
        .expect("erin");
    s.remove_binding(&actor(), &erin.id, &owner, t0())
        .expect("remove");
    assert!(s.user_bindings(&erin.id).expect("b").is_empty());
    assert!(s.list_administrators(&owner).expect("a").is_empty());
    assert!(matches!(
        s.remove_binding(&actor(), &erin.id, &owner, t0()),
        Err(StoreError::NotFound(_))
    ));
    assert!(actions(s, &owner)
        .iter()
        .any(|r| r.action == "binding.remove" && r.target == erin.id.as_str()));
}

fn signed_up(s: &Store, email: &str) -> UserId {
    let (_, code) = s
        .invite(&actor(), email, &Owner::Operator, day(), t0())
        .expect("invite");
    s.accept_invitation(&code, &new_user(s), t0())
        .expect("accept")
        .id
}

fn sessions_time_out(db: &TestDb) {
    let s = &db.store;
    let user = signed_up(s, "op@example.com");
    assert_eq!(s.user_bindings(&user).expect("b"), vec![Owner::Operator]);
    let idle = Duration::minutes(30);
    let max = Duration::hours(12);
    let sid = s.create_session(&user, t0()).expect("session");
    assert_eq!(
        s.get_user(&user).expect("u").last_sign_in_at,
        Some(t0()),
        "sign-in recorded"
    );
    let live = s
        .find_session(&sid, t0(), idle, max)
        .expect("find")
        .expect("live");
    assert_eq!(live.user.id, user);

    // Idle: alive just before the idle timeout, gone at it.
    let almost = t0() + idle - Duration::seconds(1);
    assert!(s
        .find_session(&sid, almost, idle, max)
        .expect("f")
        .is_some());
    assert!(s
        .find_session(&sid, t0() + idle, idle, max)
        .expect("f")
        .is_none());

    // Touching keeps it alive, but never past the absolute limit.
    let mut t = t0();
    while t + Duration::minutes(20) < t0() + max {
        t += Duration::minutes(20);
        assert!(
            s.find_session(&sid, t, idle, max).expect("f").is_some(),
            "live at {t}"
        );
        s.touch_session(&sid, t).expect("touch");
    }
    assert!(s
        .find_session(&sid, t0() + max, idle, max)
        .expect("f")
        .is_none());

    // Sign-out ends it; the other session stays.
    let a = s.create_session(&user, t0()).expect("a");
    let b = s.create_session(&user, t0()).expect("b");
    assert_ne!(a, b);
    s.delete_session(&a).expect("sign out");
    assert!(s.find_session(&a, t0(), idle, max).expect("f").is_none());
    assert!(s.find_session(&b, t0(), idle, max).expect("f").is_some());
    assert_eq!(s.delete_user_sessions(&user).expect("all"), 2);
    assert!(s.find_session(&b, t0(), idle, max).expect("f").is_none());
}

fn disabling_ends_sessions(db: &TestDb) {
    let s = &db.store;
    let user = signed_up(s, "frank@example.com");
    let idle = Duration::minutes(30);
    let max = Duration::hours(12);
    let sid = s.create_session(&user, t0()).expect("session");
    s.disable_user(&actor(), &user, t0()).expect("disable");
    assert!(s.get_user(&user).expect("u").disabled);
    assert!(s.find_session(&sid, t0(), idle, max).expect("f").is_none());
    assert!(matches!(
        s.create_session(&user, t0()),
        Err(StoreError::Conflict(_))
    ));
    s.enable_user(&actor(), &user, t0()).expect("enable");
    // The old session stays ended; a new sign-in works.
    assert!(s.find_session(&sid, t0(), idle, max).expect("f").is_none());
    let again = s.create_session(&user, t0()).expect("session");
    assert!(s
        .find_session(&again, t0(), idle, max)
        .expect("f")
        .is_some());
    assert!(matches!(
        s.disable_user(&actor(), &UserId::generate(), t0()),
        Err(StoreError::NotFound(_))
    ));
}

fn no_code_or_session_id_is_stored(db: &TestDb) {
    let s = &db.store;
    let owner = account_owner(s);
    let mut plaintexts = Vec::new();
    let (_, pending_code) = s
        .invite(&actor(), "gina@example.com", &owner, day(), t0())
        .expect("invite");
    plaintexts.push(pending_code.expose().to_owned());
    let (_, code) = s
        .invite(&actor(), "hank@example.com", &owner, day(), t0())
        .expect("invite");
    plaintexts.push(code.expose().to_owned());
    let hank = s
        .accept_invitation(&code, &new_user(s), t0())
        .expect("hank");
    let sid = s.create_session(&hank.id, t0()).expect("session");
    plaintexts.push(sid.expose().to_owned());
    for p in &plaintexts {
        assert_eq!(p.len(), 64, "256 bits in hex");
    }

    let cells = db.dump_all_columns();
    assert!(
        cells.iter().any(|c| c.starts_with("inv_")),
        "the dump sees the invitations"
    );
    assert!(
        cells.iter().any(|c| c == hank.id.as_str()),
        "the dump sees the sessions' users"
    );
    for p in &plaintexts {
        for cell in &cells {
            assert!(
                !cell.contains(p.as_str()),
                "plaintext code or session id stored"
            );
        }
    }
    // Debug output never shows them either.
    assert!(!format!("{pending_code:?}").contains(pending_code.expose()));
    assert!(!format!("{sid:?}").contains(sid.expose()));
}
