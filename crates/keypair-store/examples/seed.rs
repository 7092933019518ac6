//! Seeds a keygate database with many keypairs, fast, directly through the store (for
//! the load benchmark's large-store runs; see docs/benchmarks.md).
//!
//! `cargo run --release -p keypair-store --example seed -- DATABASE_URL COUNT`
//!
//! Creates account "bench" with COUNT keypairs holding `feedback:read feedback:write`
//! and prints one JSON line `{"account_id","client_id","client_secret","count"}` naming
//! one keypair picked from the middle of the batch, for the load generator to use.

#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use keypair_store::{Actor, DatabaseUrl, NewKeypair, Owner, PoolSettings, ScopeSet, Store};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(count)) = (
        args.first(),
        args.get(1).and_then(|c| c.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: seed DATABASE_URL COUNT");
        return ExitCode::from(2);
    };
    match seed(url, count) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("seed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn seed(url: &str, count: usize) -> Result<String, keypair_store::StoreError> {
    let store = Store::open(&DatabaseUrl::parse(url)?, &PoolSettings::default())?;
    let now = clock::Clock::system().now();
    let actor = Actor::system("seed");
    let account = store.create_account(&actor, "bench", now)?;
    let template = NewKeypair {
        owner: Owner::Account(account.id.clone()),
        scopes: ScopeSet::parse_space_separated("feedback:read feedback:write")?,
        comment: "load benchmark".into(),
        enabled: true,
        token_lifetime_seconds: None,
        expires_at: None,
        allowed_addresses: keypair_store::AddressList::any(),
    };
    let mut picked = None;
    let mut left = count;
    // Chunks of 100k keep memory flat; the picked keypair comes from the middle.
    while left > 0 {
        let n = left.min(100_000);
        let created = store.create_keypairs_bulk(&actor, &template, n, now)?;
        if picked.is_none() && count - left + n >= count / 2 {
            let (id, secret) = &created[(count / 2).saturating_sub(count - left).min(n - 1)];
            picked = Some((id.to_string(), secret.expose().to_owned()));
        }
        left -= n;
    }
    let (client_id, client_secret) = picked.unwrap_or_default();
    Ok(serde_json::json!({
        "account_id": account.id.as_str(),
        "client_id": client_id,
        "client_secret": client_secret,
        "count": count,
    })
    .to_string())
}
