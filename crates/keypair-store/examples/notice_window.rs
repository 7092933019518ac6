//! Measures the cross-process window on PostgreSQL: how long after a disable's
//! transaction has committed in one store ("another process") a second store with a
//! listener still accepts the keypair. Usage:
//!
//! ```sh
//! cargo run --release -p keypair-store --example notice_window -- postgres://postgres@127.0.0.1:5432/test 300
//! ```
//!
//! Prints the median, 90th percentile and maximum over the rounds (each round one
//! disable, then an enable to re-cache). docs/architecture.md has the figures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Duration;

const LOCAL: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

use keypair_store::testing::fresh_postgres_schema;
use keypair_store::{
    Actor, ClientAuth, DatabaseUrl, KeypairPatch, NewKeypair, Owner, PoolSettings, ScopeSet, Store,
};

fn main() {
    let mut args = std::env::args().skip(1);
    let admin_url = args.next().expect("a postgres:// URL");
    let rounds: usize = args.next().map_or(200, |n| n.parse().expect("rounds"));
    let (url, schema) = fresh_postgres_schema(&admin_url);
    let url = DatabaseUrl::Postgres(url);
    let settings = PoolSettings {
        keypair_cache_ttl: Duration::from_secs(60),
        ..Default::default()
    };
    let real = clock::Clock::system();
    let there = Store::open(&url, &settings).expect("writer");
    let here = Store::open(&url, &settings).expect("reader");
    let _listener = here.listen_for_changes().expect("listener");
    let actor = Actor::system("measure");
    let now = real.now();
    let acct = there
        .create_account(&actor, "window", now)
        .expect("account");
    let new = NewKeypair {
        owner: Owner::Account(acct.id),
        scopes: ScopeSet::default(),
        comment: String::new(),
        enabled: true,
        token_lifetime_seconds: None,
        expires_at: None,
        allowed_addresses: keypair_store::AddressList::any(),
    };
    let (kp, secret) = there.create_keypair(&actor, new, now).expect("keypair");
    let accepted = || {
        matches!(
            here.authenticate(kp.client_id.as_str(), &secret, LOCAL, now)
                .unwrap(),
            ClientAuth::Authenticated(_)
        )
    };
    let set = |enabled: bool| {
        let patch = KeypairPatch {
            enabled: Some(enabled),
            ..Default::default()
        };
        there
            .update_keypair(&actor, &kp.client_id, patch, now)
            .unwrap();
    };
    // Let the listener connect: a toggle reaches the reader.
    let mut windows = Vec::with_capacity(rounds);
    let mut warmup = true;
    while windows.len() < rounds {
        assert!(accepted() || !warmup);
        set(false);
        let committed = real.instant();
        let deadline = committed + Duration::from_secs(5);
        while accepted() && real.instant() < deadline {
            std::hint::spin_loop();
        }
        let window = real.instant() - committed;
        if warmup {
            warmup = window >= Duration::from_secs(5);
        } else {
            windows.push(window);
        }
        set(true);
        let deadline = real.instant() + Duration::from_secs(5);
        while !accepted() && real.instant() < deadline {
            std::hint::spin_loop();
        }
    }
    windows.sort();
    let at = |q: f64| windows[((windows.len() - 1) as f64 * q) as usize];
    println!(
        "{} rounds: median {:?}, p90 {:?}, max {:?}",
        windows.len(),
        at(0.5),
        at(0.9),
        at(1.0)
    );
    keypair_store::testing::drop_postgres_schema(&admin_url, &schema);
}
