//! Token status: generations, their transitions and the lists' entries, read back
//! through the store's public API.

use keypair_store::{Generation, GenerationPolicy, StatusList, StatusListId, TokenStatus};

use crate::*;

keypair_store::on_both_backends! {
    the_first_token_opens_a_valid_generation_that_stays;
    disable_suspends_and_enable_restores;
    invalidation_triggers_are_final;
    revocation_by_entry_only_touches_the_current_generation;
    closing_owners_invalidates_their_keypairs;
    full_lists_open_new_ones_and_invalid_entries_return_after_the_wait;
    indexes_are_drawn_at_random;
    status_version_moves_with_every_change;
    concurrent_first_tokens_share_one_generation;
}

#[test]
fn other_processes_hear_of_status_changes_postgres() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let (other, _listener) = listening_store(&db);
    let (kp, _) = account_keypair(&db.store, &["feedback:read"]);
    let clock = clock::Clock::system();
    let wait_for_move = |from: u64, what: &str| {
        let deadline = clock.instant() + std::time::Duration::from_secs(10);
        while other.status_changes() == from {
            assert!(clock.instant() < deadline, "{what}");
            std::thread::yield_now();
        }
    };
    // The listener's (re)connect counts as a possible change: wait for it first.
    wait_for_move(0, "the listener never connected");
    let before = other.status_changes();
    open(&db.store, &kp.client_id);
    wait_for_move(before, "no status notice reached the other store");
}

fn policy(capacity: u32) -> GenerationPolicy {
    GenerationPolicy {
        list_capacity: capacity,
        reuse_after: Duration::hours(1),
    }
}

fn account_keypair(s: &Store, list: &[&str]) -> (keypair_store::Keypair, ClientSecret) {
    let acct = s.create_account(&actor(), "Acme", t0()).expect("account");
    s.create_keypair(&actor(), new_keypair(Owner::Account(acct.id), list), t0())
        .expect("keypair")
}

/// The published value of one entry: the list's non-VALID entries, or VALID.
fn published(s: &Store, g: &Generation) -> TokenStatus {
    let contents = s
        .status_list_contents(&g.list_id)
        .expect("read")
        .expect("list exists");
    contents
        .not_valid
        .iter()
        .find(|(i, _)| *i == g.idx)
        .map_or(TokenStatus::Valid, |(_, st)| *st)
}

fn open(s: &Store, id: &ClientId) -> Generation {
    s.open_generation(id, &policy(1 << 20), t0())
        .expect("open generation")
}

fn the_first_token_opens_a_valid_generation_that_stays(db: &TestDb) {
    let s = &db.store;
    let (kp, _) = account_keypair(s, &["feedback:read"]);
    assert_eq!(kp.generation, None);
    let g = open(s, &kp.client_id);
    assert_eq!(g.status, TokenStatus::Valid);
    assert!(g.idx < 1 << 20);
    assert_eq!(open(s, &kp.client_id), g, "the same generation again");
    assert_eq!(
        s.get_keypair(&kp.client_id).expect("kp").generation,
        Some(g.clone())
    );
    assert_eq!(published(s, &g), TokenStatus::Valid);
    let lists = s.status_lists().expect("lists");
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0].id, g.list_id);
    assert_eq!(lists[0].capacity, 1 << 20);
    let missing = ClientId::generate();
    assert!(matches!(
        s.open_generation(&missing, &policy(16), t0()),
        Err(StoreError::NotFound(_))
    ));
}

fn set_enabled(s: &Store, id: &ClientId, enabled: bool) {
    s.update_keypair(
        &actor(),
        id,
        KeypairPatch {
            enabled: Some(enabled),
            ..Default::default()
        },
        t0(),
    )
    .expect("patch");
}

fn disable_suspends_and_enable_restores(db: &TestDb) {
    let s = &db.store;
    let (kp, _) = account_keypair(s, &["feedback:read"]);
    let g = open(s, &kp.client_id);
    set_enabled(s, &kp.client_id, false);
    assert_eq!(published(s, &g), TokenStatus::Suspended);
    let current = s.get_keypair(&kp.client_id).expect("kp").generation;
    assert_eq!(current.map(|c| c.status), Some(TokenStatus::Suspended));
    set_enabled(s, &kp.client_id, false);
    assert_eq!(published(s, &g), TokenStatus::Suspended, "idempotent");
    set_enabled(s, &kp.client_id, true);
    assert_eq!(published(s, &g), TokenStatus::Valid);
    assert_eq!(
        open(s, &kp.client_id),
        g,
        "the same generation, VALID again"
    );
    // A comment change touches nothing.
    s.update_keypair(
        &actor(),
        &kp.client_id,
        KeypairPatch {
            comment: Some("renamed".into()),
            ..Default::default()
        },
        t0(),
    )
    .expect("patch");
    assert_eq!(published(s, &g), TokenStatus::Valid);
}

fn invalidation_triggers_are_final(db: &TestDb) {
    let s = &db.store;
    // Scope removal.
    let (kp, _) = account_keypair(s, &["feedback:read", "feedback:write"]);
    let g1 = open(s, &kp.client_id);
    // Adding a scope is not a removal.
    s.update_keypair(
        &actor(),
        &kp.client_id,
        KeypairPatch {
            scopes: Some(scopes(&[
                "feedback:read",
                "feedback:write",
                "keygate:admin",
            ])),
            ..Default::default()
        },
        t0(),
    )
    .expect("add scope");
    assert_eq!(published(s, &g1), TokenStatus::Valid);
    s.update_keypair(
        &actor(),
        &kp.client_id,
        KeypairPatch {
            scopes: Some(scopes(&["feedback:read"])),
            ..Default::default()
        },
        t0(),
    )
    .expect("remove scope");
    assert_eq!(published(s, &g1), TokenStatus::Invalid);
    assert_eq!(s.get_keypair(&kp.client_id).expect("kp").generation, None);

    // revoke-tokens; a new generation is a new entry.
    let g2 = open(s, &kp.client_id);
    assert_ne!((&g2.list_id, g2.idx), (&g1.list_id, g1.idx));
    s.revoke_tokens(&actor(), &kp.client_id, t0())
        .expect("revoke");
    assert_eq!(published(s, &g2), TokenStatus::Invalid);
    let audit = s
        .list_audit(
            kp.owner.account_id().expect("account"),
            &PageRequest::first(),
        )
        .expect("audit");
    assert!(audit
        .items
        .iter()
        .any(|r| r.action == "keypair.revoke_tokens" && r.target == kp.client_id.as_str()));

    // Enabling never undoes INVALID: disable + enable after a revoke.
    let g3 = open(s, &kp.client_id);
    s.revoke_tokens(&actor(), &kp.client_id, t0())
        .expect("revoke");
    set_enabled(s, &kp.client_id, false);
    set_enabled(s, &kp.client_id, true);
    assert_eq!(published(s, &g3), TokenStatus::Invalid);

    // Delete.
    let g4 = open(s, &kp.client_id);
    s.delete_keypair(&actor(), &kp.client_id, t0())
        .expect("delete");
    assert_eq!(published(s, &g4), TokenStatus::Invalid);
    for g in [&g1, &g2, &g3] {
        assert_eq!(published(s, g), TokenStatus::Invalid);
    }
    assert!(matches!(
        s.revoke_tokens(&actor(), &kp.client_id, t0()),
        Err(StoreError::NotFound(_))
    ));
}

fn revocation_by_entry_only_touches_the_current_generation(db: &TestDb) {
    let s = &db.store;
    let (kp, _) = account_keypair(s, &["feedback:read"]);
    let (other, _) = account_keypair(s, &["feedback:read"]);
    let old = open(s, &kp.client_id);
    s.revoke_tokens(&actor(), &kp.client_id, t0())
        .expect("revoke");
    let current = open(s, &kp.client_id);
    let theirs = open(s, &other.client_id);
    // A token of the old, already INVALID generation changes nothing.
    assert!(!s
        .revoke_generation(&kp.client_id, &old.list_id, old.idx, t0())
        .expect("revoke old"));
    assert_eq!(published(s, &current), TokenStatus::Valid);
    // Someone else's entry is not this client's generation: nothing changes.
    assert!(!s
        .revoke_generation(&kp.client_id, &theirs.list_id, theirs.idx, t0())
        .expect("revoke other"));
    assert_eq!(published(s, &theirs), TokenStatus::Valid);
    // Its own current generation.
    assert!(s
        .revoke_generation(&kp.client_id, &current.list_id, current.idx, t0())
        .expect("revoke current"));
    assert_eq!(published(s, &current), TokenStatus::Invalid);
    let entry = s
        .status_entry(&current.list_id, current.idx)
        .expect("read")
        .expect("entry");
    assert_eq!(entry.client_id, kp.client_id);
    assert_eq!(entry.status, TokenStatus::Invalid);
    assert_eq!(entry.invalidated_at, Some(t0()));
    assert!(s
        .status_entry(&current.list_id, (current.idx + 1) % (1 << 20))
        .expect("read")
        .is_none_or(|e| e.client_id != kp.client_id));
}

fn closing_owners_invalidates_their_keypairs(db: &TestDb) {
    let s = &db.store;
    let acct = s.create_account(&actor(), "Acme", t0()).expect("account");
    let env = s
        .create_environment(&actor(), &acct.id, "prod", t0())
        .expect("env");
    let env_owner = Owner::Environment {
        account_id: acct.id.clone(),
        environment_id: env.id.clone(),
    };
    let mk = |owner: Owner| {
        s.create_keypair(&actor(), new_keypair(owner, &["feedback:read"]), t0())
            .expect("kp")
            .0
    };
    let in_env = mk(env_owner.clone());
    let in_env2 = mk(env_owner);
    let in_acct = mk(Owner::Account(acct.id.clone()));
    let other = account_keypair(s, &["feedback:read"]).0;
    let g_env = open(s, &in_env.client_id);
    let g_acct = open(s, &in_acct.client_id);
    let g_other = open(s, &other.client_id);
    s.close_environment(&actor(), &env.id, t0())
        .expect("close env");
    assert_eq!(published(s, &g_env), TokenStatus::Invalid);
    assert_eq!(published(s, &g_acct), TokenStatus::Valid);
    let _ = in_env2;
    s.close_account(&actor(), &acct.id, t0())
        .expect("close account");
    assert_eq!(published(s, &g_acct), TokenStatus::Invalid);
    assert_eq!(published(s, &g_other), TokenStatus::Valid);
}

fn full_lists_open_new_ones_and_invalid_entries_return_after_the_wait(db: &TestDb) {
    let s = &db.store;
    let small = policy(4);
    let (kp, _) = account_keypair(s, &["feedback:read"]);
    let mut seen = std::collections::HashSet::new();
    let mut first_list = None;
    // Four generations fill a 4-entry list (each revoked: INVALID, not yet reusable).
    for _ in 0..4 {
        let g = s
            .open_generation(&kp.client_id, &small, t0())
            .expect("open");
        assert!(g.idx < 4);
        assert!(
            seen.insert((g.list_id.clone(), g.idx)),
            "entry reused early"
        );
        first_list.get_or_insert(g.list_id.clone());
        s.revoke_tokens(&actor(), &kp.client_id, t0())
            .expect("revoke");
    }
    let first_list = first_list.expect("a list");
    assert_eq!(s.status_lists().expect("lists").len(), 1);
    // The fifth opens a second list.
    let fifth = s
        .open_generation(&kp.client_id, &small, t0())
        .expect("open");
    assert_ne!(fifth.list_id, first_list);
    assert_eq!(s.status_lists().expect("lists").len(), 2);
    s.revoke_tokens(&actor(), &kp.client_id, t0())
        .expect("revoke");
    // Once the wait is over, the first list's entries are free again.
    let later = t0() + small.reuse_after + Duration::seconds(1);
    let reused = s
        .open_generation(&kp.client_id, &small, later)
        .expect("open");
    assert_eq!(reused.status, TokenStatus::Valid);
    assert_eq!(s.status_lists().expect("lists").len(), 2);
    assert_eq!(published(s, &reused), TokenStatus::Valid);
    let entry = s
        .status_entry(&reused.list_id, reused.idx)
        .expect("read")
        .expect("entry");
    assert_eq!(entry.created_at, later);
    assert_eq!(entry.invalidated_at, None);
}

fn indexes_are_drawn_at_random(db: &TestDb) {
    let s = &db.store;
    let acct = s.create_account(&actor(), "Acme", t0()).expect("account");
    let template = new_keypair(Owner::Account(acct.id), &["feedback:read"]);
    let made = s
        .create_keypairs_bulk(&actor(), &template, 200, t0())
        .expect("bulk");
    let idx: Vec<u32> = made.iter().map(|(id, _)| open(s, id).idx).collect();
    let increasing = idx.windows(2).filter(|w| w[0] < w[1]).count();
    // Random draws rise about half the time; a counter would rise every time.
    assert!(
        (40..160).contains(&increasing),
        "{increasing} of 199 steps increase"
    );
    let distinct: std::collections::HashSet<_> = idx.iter().collect();
    assert_eq!(distinct.len(), idx.len());
}

fn status_version_moves_with_every_change(db: &TestDb) {
    let s = &db.store;
    let (kp, _) = account_keypair(s, &["feedback:read"]);
    let mut last = s.status_version().expect("version");
    let mut local = s.status_changes();
    let mut moved = |what: &str| {
        let v = s.status_version().expect("version");
        assert!(v > last, "{what}: version did not move");
        assert!(
            s.status_changes() > local,
            "{what}: local counter did not move"
        );
        last = v;
        local = s.status_changes();
    };
    open(s, &kp.client_id);
    moved("open");
    set_enabled(s, &kp.client_id, false);
    moved("disable");
    set_enabled(s, &kp.client_id, true);
    moved("enable");
    s.revoke_tokens(&actor(), &kp.client_id, t0())
        .expect("revoke");
    moved("revoke");
    // A list id that does not exist reads as nothing.
    assert!(s
        .status_list_contents(&StatusListId::generate())
        .expect("read")
        .is_none());
    let _: Vec<StatusList> = s.status_lists().expect("lists");
}

fn concurrent_first_tokens_share_one_generation(db: &TestDb) {
    let s = &db.store;
    let (kp, _) = account_keypair(s, &["feedback:read"]);
    let start = std::sync::Barrier::new(8);
    let got: Vec<Generation> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    s.open_generation(&kp.client_id, &policy(1 << 20), t0())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread").expect("open"))
            .collect()
    });
    assert!(got.iter().all(|g| *g == got[0]), "one generation: {got:?}");
    assert_eq!(
        s.get_keypair(&kp.client_id).expect("kp").generation,
        Some(got[0].clone())
    );
}
