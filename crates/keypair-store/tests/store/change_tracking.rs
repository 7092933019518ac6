//! No write path bypasses the change tracking: random sequences of writes through one
//! store, reads through the same store (at once) and, on PostgreSQL, through a second
//! store on the same database (within the notice bound). The readers' cache entries
//! never age here (every read is at `t0`), so only the change tracking can make them
//! see a write: a write path that forgot to record its change leaves a stale keypair
//! and fails this test.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use keypair_store::{AccountId, EnvironmentId, Keypair, ScopeSet};

use crate::*;

#[derive(Clone, Debug)]
enum Op {
    Create { in_env: bool },
    Disable(usize),
    Enable(usize),
    Narrow(usize),
    Widen(usize),
    Comment(usize),
    Delete(usize),
    CloseEnvironment,
    CloseAccount,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<bool>().prop_map(|in_env| Op::Create { in_env }),
        3 => (0..8usize).prop_map(Op::Disable),
        2 => (0..8usize).prop_map(Op::Enable),
        2 => (0..8usize).prop_map(Op::Narrow),
        1 => (0..8usize).prop_map(Op::Widen),
        1 => (0..8usize).prop_map(Op::Comment),
        2 => (0..8usize).prop_map(Op::Delete),
        1 => Just(Op::CloseEnvironment),
        1 => Just(Op::CloseAccount),
    ]
}

/// What `/token` must see for one keypair: `None` when it must be refused.
fn truth(writer: &Store, id: &ClientId) -> Option<ScopeSet> {
    match writer.get_keypair(id) {
        Ok(Keypair {
            enabled: true,
            scopes,
            ..
        }) => Some(scopes),
        Ok(_) | Err(StoreError::NotFound(_)) => None,
        Err(e) => panic!("read: {e}"),
    }
}

fn seen(reader: &Store, id: &ClientId, secret: &ClientSecret) -> Option<ScopeSet> {
    match reader
        .authenticate(id.as_str(), secret, LOCAL, t0())
        .expect("authenticate")
    {
        ClientAuth::Authenticated(k) => Some(k.scopes.clone()),
        ClientAuth::Rejected(_) => None,
    }
}

struct World {
    account: AccountId,
    environment: Option<EnvironmentId>,
    keypairs: Vec<(ClientId, ClientSecret)>,
}

fn apply(writer: &Store, world: &mut World, op: &Op) {
    let pick = |i: usize| {
        world
            .keypairs
            .get(i % world.keypairs.len().max(1))
            .map(|k| k.0.clone())
    };
    let patch = |id: Option<ClientId>, patch: KeypairPatch| {
        if let Some(id) = id {
            match writer.update_keypair(&actor(), &id, patch, t0()) {
                Ok(_) | Err(StoreError::NotFound(_)) => {}
                Err(e) => panic!("patch: {e}"),
            }
        }
    };
    match op {
        Op::Create { in_env } => {
            let owner = match (&world.environment, in_env) {
                (Some(e), true) => Owner::Environment {
                    account_id: world.account.clone(),
                    environment_id: e.clone(),
                },
                _ => Owner::Account(world.account.clone()),
            };
            match writer.create_keypair(
                &actor(),
                new_keypair(owner, &["feedback:read", "feedback:write"]),
                t0(),
            ) {
                Ok((kp, secret)) => world.keypairs.push((kp.client_id, secret)),
                Err(StoreError::NotFound(_)) => {} // the owner was closed
                Err(e) => panic!("create: {e}"),
            }
        }
        Op::Disable(i) => patch(
            pick(*i),
            KeypairPatch {
                enabled: Some(false),
                ..Default::default()
            },
        ),
        Op::Enable(i) => patch(
            pick(*i),
            KeypairPatch {
                enabled: Some(true),
                ..Default::default()
            },
        ),
        Op::Narrow(i) => patch(
            pick(*i),
            KeypairPatch {
                scopes: Some(scopes(&["feedback:read"])),
                ..Default::default()
            },
        ),
        Op::Widen(i) => patch(
            pick(*i),
            KeypairPatch {
                scopes: Some(scopes(&["feedback:read", "feedback:write"])),
                ..Default::default()
            },
        ),
        Op::Comment(i) => patch(
            pick(*i),
            KeypairPatch {
                comment: Some("renamed".into()),
                ..Default::default()
            },
        ),
        Op::Delete(i) => {
            if let Some(id) = pick(*i) {
                match writer.delete_keypair(&actor(), &id, t0()) {
                    Ok(()) | Err(StoreError::NotFound(_)) => {}
                    Err(e) => panic!("delete: {e}"),
                }
            }
        }
        Op::CloseEnvironment => {
            if let Some(env) = world.environment.take() {
                writer
                    .close_environment(&actor(), &env, t0())
                    .expect("close environment");
            }
        }
        Op::CloseAccount => {
            world.environment = None;
            match writer.close_account(&actor(), &world.account, t0()) {
                Ok(()) | Err(StoreError::NotFound(_)) => {}
                Err(e) => panic!("close account: {e}"),
            }
        }
    }
}

/// Every reader agrees with the database: the writer itself at once, the others
/// within `bound` of real time.
fn check(writer: &Store, others: &[&Store], world: &World, bound: std::time::Duration) {
    let real = clock::Clock::system();
    for (id, secret) in &world.keypairs {
        let expected = truth(writer, id);
        assert_eq!(
            seen(writer, id, secret),
            expected,
            "the writer's own cache is stale for {id}"
        );
        for reader in others {
            let deadline = real.instant() + bound;
            while seen(reader, id, secret) != expected {
                assert!(
                    real.instant() < deadline,
                    "another store still serves a stale {id} after {bound:?}"
                );
                std::thread::yield_now();
            }
        }
    }
}

fn run(writer: &Store, others: &[&Store], bound: std::time::Duration) {
    let mut runner = TestRunner::new(Config {
        cases: 12,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(op(), 1..14), |ops| {
            let account = writer
                .create_account(&actor(), "Tracked", t0())
                .expect("account");
            let env = writer
                .create_environment(&actor(), &account.id, "prod", t0())
                .expect("env");
            let mut world = World {
                account: account.id,
                environment: Some(env.id),
                keypairs: Vec::new(),
            };
            for op in &ops {
                // Everyone has every keypair cached before the write.
                check(writer, others, &world, bound);
                apply(writer, &mut world, op);
                check(writer, others, &world, bound);
            }
            Ok(())
        })
        .expect("no stale keypair");
}

#[test]
fn every_write_reaches_the_writers_cache_sqlite() {
    let db = TestDb::sqlite();
    run(&db.store, &[], std::time::Duration::ZERO);
}

#[test]
fn every_write_reaches_other_stores_postgres() {
    let Some(db) = TestDb::postgres() else {
        eprintln!("KEYGATE_TEST_POSTGRES_URL not set: PostgreSQL variant not run");
        return;
    };
    // A minute-long TTL (and reads at a fixed `t0`): only notices can update the reader.
    let (reader, _listening) = listening_store(&db);
    // Wait (with a deadline) until the listener is connected: a change it announces
    // reaches the reader.
    let real = clock::Clock::system();
    let probe = db
        .store
        .create_account(&actor(), "probe", t0())
        .expect("probe");
    let (kp, secret) = db
        .store
        .create_keypair(
            &actor(),
            new_keypair(Owner::Account(probe.id), &["feedback:read"]),
            t0(),
        )
        .expect("probe kp");
    assert!(authenticated(&reader, &kp.client_id, &secret));
    let deadline = real.instant() + std::time::Duration::from_secs(10);
    let toggle = |enabled: bool| {
        let patch = KeypairPatch {
            enabled: Some(enabled),
            ..Default::default()
        };
        db.store
            .update_keypair(&actor(), &kp.client_id, patch, t0())
            .expect("toggle");
    };
    loop {
        assert!(real.instant() < deadline, "the listener never connected");
        toggle(false);
        let settle = real.instant() + std::time::Duration::from_millis(200);
        while authenticated(&reader, &kp.client_id, &secret) && real.instant() < settle {
            std::thread::yield_now();
        }
        if !authenticated(&reader, &kp.client_id, &secret) {
            break;
        }
        toggle(true);
    }
    run(&db.store, &[&reader], std::time::Duration::from_secs(2));
}
