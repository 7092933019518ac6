//! Does the time `Store::authenticate` takes tell how many secrets a keypair has?
//!
//! Cached keypairs (the `/token` hot path, no database round trip) with one live secret
//! against keypairs with two live secrets (a rotation inside its overlap) and keypairs
//! with one live secret and one that ran out, each with the right secret and a wrong
//! one. Every round times one batch of each case, in an order that turns with the
//! round, so drift in the machine's speed falls on all cases alike. The report gives
//! each case's median time per call over the rounds, and the median of the per-round
//! ratios against the one-secret case with the same kind of secret. Two sets of
//! one-secret keypairs measured as separate cases (A/A) show how far two medians of
//! the same thing drift apart here: the noise floor.
//!
//! `cargo bench -p keypair-store --bench auth_timing` (`AUTH_TIMING_ROUNDS`, default
//! 3000, sets the number of rounds).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use keypair_store::testing::TestDb;
use keypair_store::{
    Actor, AddressList, ClientAuth, ClientSecret, NewKeypair, Owner, Rotation, ScopeSet, Store,
};
use time::{Duration, OffsetDateTime};

/// Keypairs per case: a batch cycles through them, as a busy server sees many clients.
const KEYPAIRS: usize = 64;
/// Calls per timed batch.
const BATCH: usize = 256;
const ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

struct Case {
    name: &'static str,
    /// The one-secret case this one is compared with (same kind of secret presented).
    baseline: Option<usize>,
    expect_ok: bool,
    creds: Vec<(String, ClientSecret)>,
    ns_per_call: Vec<f64>,
}

fn keypairs(
    store: &Store,
    actor: &Actor,
    owner: &Owner,
    now: OffsetDateTime,
    rotation: Option<(u32, OffsetDateTime)>,
) -> Vec<(String, ClientSecret, ClientSecret)> {
    (0..KEYPAIRS)
        .map(|_| {
            let (kp, first) = store
                .create_keypair(
                    actor,
                    NewKeypair {
                        owner: owner.clone(),
                        scopes: ScopeSet::default(),
                        comment: String::new(),
                        enabled: true,
                        token_lifetime_seconds: None,
                        expires_at: None,
                        allowed_addresses: AddressList::any(),
                    },
                    now,
                )
                .unwrap();
            let newest = match rotation {
                None => first.clone(),
                Some((overlap, at)) => {
                    let rotation = Rotation {
                        previous_secret_expires_in_seconds: overlap,
                        end_oldest: false,
                    };
                    store
                        .rotate_secret(actor, &kp.client_id, rotation, at)
                        .unwrap()
                        .1
                }
            };
            (kp.client_id.to_string(), first, newest)
        })
        .collect()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

fn main() {
    let rounds: usize = std::env::var("AUTH_TIMING_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let db = TestDb::sqlite();
    let store = &db.store;
    let actor = Actor::system("bench");
    let start = clock::Clock::system().now();
    let acct = store.create_account(&actor, "bench", start).unwrap();
    let owner = Owner::Account(acct.id);
    // Authentication runs at `now`: inside the 30-day overlap of the two-secret set,
    // past the 1-second overlap of the ran-out set.
    let now = start + Duration::seconds(10);
    let one_a = keypairs(store, &actor, &owner, start, None);
    let one_b = keypairs(store, &actor, &owner, start, None);
    let two = keypairs(store, &actor, &owner, start, Some((30 * 86_400, start)));
    let ran_out = keypairs(store, &actor, &owner, start, Some((1, start)));

    let right = |set: &[(String, ClientSecret, ClientSecret)], old: bool| {
        set.iter()
            .map(|(id, first, newest)| (id.clone(), if old { first } else { newest }.clone()))
            .collect::<Vec<_>>()
    };
    let wrong = |set: &[(String, ClientSecret, ClientSecret)]| {
        set.iter()
            .map(|(id, _, _)| (id.clone(), ClientSecret::generate()))
            .collect::<Vec<_>>()
    };
    let case = |name, baseline, expect_ok, creds| Case {
        name,
        baseline,
        expect_ok,
        creds,
        ns_per_call: Vec::with_capacity(rounds),
    };
    let mut cases = vec![
        case(
            "one live secret, right secret",
            None,
            true,
            right(&one_a, false),
        ),
        case("one live secret, wrong secret", None, false, wrong(&one_a)),
        case(
            "one live secret (A/A set), right",
            Some(0),
            true,
            right(&one_b, false),
        ),
        case(
            "one live secret (A/A set), wrong",
            Some(1),
            false,
            wrong(&one_b),
        ),
        case(
            "two live secrets, right (new)",
            Some(0),
            true,
            right(&two, false),
        ),
        case(
            "two live secrets, right (old)",
            Some(0),
            true,
            right(&two, true),
        ),
        case(
            "two live secrets, wrong secret",
            Some(1),
            false,
            wrong(&two),
        ),
        case(
            "one live + one ran out, wrong",
            Some(1),
            false,
            wrong(&ran_out),
        ),
        case(
            "one live + one ran out, old one",
            Some(1),
            false,
            right(&ran_out, true),
        ),
    ];

    // Fill the cache and check each case does what its name says. (A cached call
    // takes well under a microsecond, a database read over ten: the medians show
    // which one was measured.)
    for c in &cases {
        for (id, secret) in &c.creds {
            let ok = matches!(
                store.authenticate(id, secret, ADDRESS, now).unwrap(),
                ClientAuth::Authenticated(_)
            );
            assert_eq!(ok, c.expect_ok, "{}", c.name);
        }
    }

    let clock = clock::Clock::system();
    let n = cases.len();
    for round in 0..rounds {
        for k in 0..n {
            let c = &mut cases[(round + k) % n];
            let t0 = clock.instant();
            for i in 0..BATCH {
                let (id, secret) = &c.creds[i % KEYPAIRS];
                black_box(store.authenticate(black_box(id), black_box(secret), ADDRESS, now))
                    .unwrap();
            }
            let elapsed = t0.elapsed();
            c.ns_per_call.push(elapsed.as_nanos() as f64 / BATCH as f64);
        }
    }

    println!(
        "Store::authenticate, cached keypairs: {rounds} rounds x {BATCH} calls per case, \
         {KEYPAIRS} keypairs per case"
    );
    println!(
        "{:<36} {:>10} {:>10} {:>10} {:>16}",
        "case", "median ns", "p25 ns", "p75 ns", "ratio (paired)"
    );
    for c in &cases {
        let mut sorted = c.ns_per_call.clone();
        sorted.sort_by(f64::total_cmp);
        let ratio = c.baseline.map(|b| {
            let mut ratios: Vec<f64> = c
                .ns_per_call
                .iter()
                .zip(&cases[b].ns_per_call)
                .map(|(x, y)| x / y)
                .collect();
            median(&mut ratios)
        });
        println!(
            "{:<36} {:>10.1} {:>10.1} {:>10.1} {:>16}",
            c.name,
            quantile(&sorted, 0.5),
            quantile(&sorted, 0.25),
            quantile(&sorted, 0.75),
            ratio.map_or("baseline".to_owned(), |r| format!("{r:.4}")),
        );
    }
}
