//! Token status (draft-ietf-oauth-status-list): entries and their values, freshness
//! (a change is seen within `ttl` + 1 s of the guard's clock), failing closed after a
//! list's `exp`, lists that do not verify, URIs that are not exactly one of the
//! issuer's lists, the single-flight first fetch, the new-list budget, tokens without
//! status, status checks turned off, signing-key rotation and zlib bombs.
//!
//! Lists come from a [`ListServer`] in process, or from the fake issuer over HTTP
//! through the guard's default provider. Guards and list servers read one test clock;
//! the background refresher acts on its own once the clock moves, so tests poll for its
//! effect with a real-time deadline (`eventually`).

use std::sync::Arc;
use std::time::Duration;

use clock::Clock;
use resource_guard::{Guard, StatusClaim};
use serde_json::json;

use crate::support::*;
use crate::{good_token, invalid_reason};

/// The `ttl` the list servers serve.
const TTL: Duration = Duration::from_secs(5);

/// A token (Ed25519, otherwise `claims()`) pointing at entry `idx` of list `id`.
fn token_on(idx: u64, id: &str) -> String {
    sign(
        &issuer_keys().ed,
        &claims_with(json!({ "status": status_claim(idx, &list_uri(id)) })),
    )
}

#[test]
fn a_valid_entry_is_accepted_and_its_list_fetched_once() {
    let (builder, _, lists, _) = status_guard_builder();
    let guard = builder.build();
    assert!(guard.checks_status(), "on by default");
    let claims = guard.validate(&good_token()).unwrap();
    assert_eq!(
        claims.status,
        Some(StatusClaim {
            idx: IDX,
            uri: list_uri(LIST_ID)
        })
    );
    for _ in 0..50 {
        assert!(guard.validate(&good_token()).is_ok());
    }
    assert_eq!(
        lists.fetched(),
        vec![list_uri(LIST_ID)],
        "no fetch per validation"
    );
}

#[test]
fn suspended_invalid_and_reserved_entries_are_refused() {
    let (builder, _, lists, _) = status_guard_builder();
    lists.set(LIST_ID, 1, SUSPENDED);
    lists.set(LIST_ID, 2, INVALID);
    lists.set(LIST_ID, 3, RESERVED);
    let guard = builder.build();
    assert!(guard.validate(&token_on(0, LIST_ID)).is_ok());
    assert_eq!(
        invalid_reason(&guard, &token_on(1, LIST_ID)),
        "token status SUSPENDED"
    );
    assert_eq!(
        invalid_reason(&guard, &token_on(2, LIST_ID)),
        "token status INVALID"
    );
    assert_eq!(
        invalid_reason(&guard, &token_on(3, LIST_ID)),
        "token status not VALID"
    );
    assert!(guard.validate(&token_on(4, LIST_ID)).is_ok());
    assert_eq!(lists.fetches(), 1);
}

#[test]
fn an_index_outside_the_list_is_refused() {
    let (builder, _, lists, _) = status_guard_builder();
    let guard = builder.build();
    let last = LIST_ENTRIES as u64 - 1;
    assert!(guard.validate(&token_on(last, LIST_ID)).is_ok());
    for idx in [last + 1, last + 4, 1 << 40, u64::MAX] {
        assert_eq!(
            invalid_reason(&guard, &token_on(idx, LIST_ID)),
            "status index outside the list",
            "{idx}"
        );
    }
    assert_eq!(lists.fetches(), 1);
}

/// The fixtures themselves: lists pack 2 bits per entry from the least significant bits.
#[test]
fn fixture_lists_encode_as_the_draft_says() {
    assert_eq!(
        pack(&[1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]),
        [0xc9, 0x44, 0xf9]
    );
    let statuses = [0, 1, 2, 3, 3, 2, 1, 0, 2];
    assert_eq!(&decode_list(&encode_list(&statuses))[..9], &statuses);
}

// ---------------------------------------------------------------------------------
// Freshness: lists are refreshed in the background every `ttl` of the guard's clock.

/// Moves `clock` by `by`, then waits (real time, bounded) until the guard's verdict on
/// `token` is `accepted`.
fn after(clock: &clock::TestClock, by: Duration, guard: &Guard, token: &str, accepted: bool) {
    clock.advance(by);
    assert!(
        eventually(|| guard.validate(token).is_ok() == accepted),
        "still {} {by:?} later",
        if accepted { "refused" } else { "accepted" }
    );
}

#[test]
fn a_status_change_is_seen_within_ttl_plus_1s_both_ways() {
    // Whenever in the refresh cycle the change happens.
    for phase in [0, 2, 4] {
        let (builder, _, lists, clock) = status_guard_builder();
        let guard = builder.build();
        let token = good_token();
        assert!(guard.validate(&token).is_ok(), "fetched at T0");
        clock.advance(Duration::from_secs(phase));
        lists.set(LIST_ID, IDX as usize, SUSPENDED);
        after(&clock, TTL + Duration::from_secs(1), &guard, &token, false);
        lists.set(LIST_ID, IDX as usize, VALID);
        after(&clock, TTL + Duration::from_secs(1), &guard, &token, true);
        lists.set(LIST_ID, IDX as usize, INVALID);
        after(&clock, TTL + Duration::from_secs(1), &guard, &token, false);
        // One fetch per ttl, not per validation.
        let elapsed = phase + 3 * (TTL.as_secs() + 1);
        assert!(lists.fetches() as u64 <= 1 + elapsed / TTL.as_secs());
    }
}

#[test]
fn the_last_good_list_is_used_until_its_exp_then_tokens_are_refused() {
    let (builder, _, lists, clock) = status_guard_builder();
    lists.set_lifetime(60);
    let guard = builder.build();
    let token = good_token();
    assert!(guard.validate(&token).is_ok());
    lists.set_failing(true);
    clock.advance(TTL);
    assert!(eventually(|| lists.fetches() >= 2), "a refresh was tried");
    assert!(guard.validate(&token).is_ok(), "the last good list");
    clock.advance(Duration::from_secs(60) - TTL - Duration::from_secs(1));
    assert!(guard.validate(&token).is_ok(), "1 s before the list's exp");
    clock.advance(Duration::from_secs(1));
    assert_eq!(invalid_reason(&guard, &token), "status list expired");
    // Every token pointing at the list, whatever its entry.
    assert_eq!(
        invalid_reason(&guard, &token_on(0, LIST_ID)),
        "status list expired"
    );
    // Back to health, the next refresh brings a fresh list.
    lists.set_failing(false);
    after(&clock, TTL, &guard, &token, true);
}

#[test]
fn over_http_a_list_is_fetched_from_its_uri_and_used_until_exp_when_the_issuer_goes_down() {
    let issuer = FakeIssuer::start(issuer_jwks(), Mode::Serve);
    let clock = test_clock();
    issuer.lists.set_clock(clock.clock());
    issuer.lists.set_lifetime(60);
    let guard = Guard::builder(&issuer.base, AUDIENCE)
        .fetch_timeout(Duration::from_millis(500))
        .status_fetch_timeout(Duration::from_millis(500))
        .refresh_interval(None)
        .clock(clock.clock())
        .build();
    let token = sign(&issuer_keys().ed, &claims_for(&issuer.base));
    assert!(guard.validate(&token).is_ok());
    assert_eq!(
        issuer.lists.fetched(),
        vec![list_uri_of(&issuer.base, LIST_ID)]
    );
    // A list the issuer does not know (404): refused, and remembered.
    let unknown = sign(
        &issuer_keys().ed,
        &claims_with(json!({
            "iss": issuer.base,
            "status": status_claim(0, &list_uri_of(&issuer.base, "sl_unknown")),
        })),
    );
    assert_eq!(invalid_reason(&guard, &unknown), "status list unavailable");
    assert_eq!(invalid_reason(&guard, &unknown), "status list unavailable");
    assert_eq!(issuer.lists.fetches(), 2);
    // Down: the held list is used until its exp, then its tokens are refused.
    issuer.set_mode(Mode::Down);
    clock.advance(Duration::from_secs(59));
    assert!(guard.validate(&token).is_ok());
    clock.advance(Duration::from_secs(1));
    assert_eq!(invalid_reason(&guard, &token), "status list expired");
}

// ---------------------------------------------------------------------------------
// Lists that do not verify, and URIs that are not exactly one of the issuer's lists.

/// A way to spoil the lists a [`ListServer`] serves, and its name.
type Doctoring = (&'static str, Box<dyn Fn(&ListServer)>);

/// Ways a served list can fail verification, each applied to a [`ListServer`].
fn doctored_lists() -> Vec<Doctoring> {
    let foreign = TestKey::ed25519("foreign");
    let ed_kid = issuer_keys().ed.kid.clone();
    let foreign_as_ed = foreign.with_kid(&ed_kid);
    let claims = |what, c: serde_json::Value| -> Doctoring {
        (
            what,
            Box::new(move |l: &ListServer| l.doctor(json!({}), c.clone())),
        )
    };
    let header = |what, h: serde_json::Value| -> Doctoring {
        (
            what,
            Box::new(move |l: &ListServer| l.doctor(h.clone(), json!({}))),
        )
    };
    vec![
        (
            "signed by a foreign key under the issuer's kid",
            Box::new(move |l: &ListServer| l.set_key(&foreign_as_ed)),
        ),
        (
            "signed by a foreign key under its own kid",
            Box::new(move |l: &ListServer| l.set_key(&foreign)),
        ),
        header("typ at+jwt", json!({"typ": "at+jwt"})),
        header("typ jwt", json!({"typ": "JWT"})),
        header("no typ", json!({"typ": null})),
        header("alg not the key's", json!({"alg": "ES256"})),
        header("a crit header", json!({"crit": ["exp"]})),
        claims("another iss", json!({"iss": "https://evil.example"})),
        claims("iss with a slash", json!({"iss": format!("{ISSUER}/")})),
        claims("sub of another list", json!({"sub": list_uri("sl_other")})),
        claims(
            "sub with a suffix",
            json!({"sub": format!("{}/", list_uri(LIST_ID))}),
        ),
        claims(
            "sub with a query",
            json!({"sub": format!("{}?x", list_uri(LIST_ID))}),
        ),
        claims("no sub", json!({"sub": null})),
        claims("no exp", json!({"exp": null})),
        claims("expired", json!({"exp": now() - 1})),
        claims(
            "bits 3",
            json!({"status_list": {"bits": 3, "lst": encode_list(&[0; 64])}}),
        ),
        claims(
            "lst not zlib",
            json!({"status_list": {"bits": 2, "lst": b64([0u8; 16])}}),
        ),
        claims("no status_list", json!({"status_list": null})),
    ]
}

#[test]
fn a_list_that_does_not_verify_is_not_taken_on_first_sight() {
    for (what, doctor) in doctored_lists() {
        let (builder, _, lists, _) = status_guard_builder();
        let guard = builder.build();
        doctor(&lists);
        for _ in 0..3 {
            assert_eq!(
                invalid_reason(&guard, &good_token()),
                "status list unavailable",
                "{what}"
            );
        }
        assert_eq!(lists.fetches(), 1, "{what}: one try, then a backoff");
    }
}

#[test]
fn a_refresh_that_does_not_verify_keeps_the_last_good_list() {
    for (what, doctor) in doctored_lists() {
        let (builder, _, lists, clock) = status_guard_builder();
        let guard = builder.build();
        let token = good_token();
        assert!(guard.validate(&token).is_ok(), "{what}");
        lists.set(LIST_ID, IDX as usize, SUSPENDED);
        doctor(&lists);
        // Two doctored refreshes: once the third fetch starts, the second is done.
        for fetches in [2, 3] {
            clock.advance(TTL);
            assert!(
                eventually(|| lists.fetches() >= fetches),
                "{what}: {} fetches",
                lists.fetches()
            );
        }
        assert!(guard.validate(&token).is_ok(), "{what}: the last good list");
        // A genuine list is taken again.
        lists.doctor(json!({}), json!({}));
        lists.set_key(&issuer_keys().ed);
        after(&clock, TTL, &guard, &token, false);
    }
}

#[test]
fn status_uris_that_are_not_exactly_a_list_of_the_issuer_are_refused_without_a_fetch() {
    let (builder, _, lists, _) = status_guard_builder();
    let guard = builder.build();
    let id = LIST_ID;
    let uris = [
        format!("{ISSUER}/statuslists/x/../{id}"),
        format!("{ISSUER}/statuslists/../statuslists/{id}"),
        format!("{ISSUER}/statuslists/{id}/.."),
        format!("{ISSUER}/statuslists/.."),
        format!("{ISSUER}/statuslists/."),
        format!("{ISSUER}/statuslists/"),
        format!("{ISSUER}/statuslists"),
        format!("{ISSUER}.evil/statuslists/{id}"),
        format!("{ISSUER}:8443/statuslists/{id}"),
        format!("{ISSUER}/statuslists/{id}?y"),
        format!("{ISSUER}/statuslists/{id}#y"),
        format!("{ISSUER}/statuslists/{id}/"),
        format!("{ISSUER}/statuslists/{id}/more"),
        format!("{ISSUER}/statuslists/{id}%2F.."),
        format!("{ISSUER}/statuslists/{id} "),
        format!("{ISSUER}/STATUSLISTS/{id}"),
        format!("{ISSUER}//statuslists/{id}"),
        format!("{ISSUER}/other/{id}"),
        format!("http://keygate.test/statuslists/{id}"),
        format!("https://evil.example/statuslists/{id}"),
        format!("https://evil.example/?{ISSUER}/statuslists/{id}"),
        id.to_owned(),
        String::new(),
    ];
    for uri in &uris {
        let token = sign(
            &issuer_keys().ed,
            &claims_with(json!({ "status": status_claim(IDX, uri) })),
        );
        assert_eq!(
            invalid_reason(&guard, &token),
            "status list URI is not one of the issuer's",
            "{uri}"
        );
    }
    // Status claims of the wrong shape.
    for status in [
        json!({"status_list": {"idx": -1, "uri": list_uri(id)}}),
        json!({"status_list": {"idx": "7", "uri": list_uri(id)}}),
        json!({"status_list": {"uri": list_uri(id)}}),
        json!({"status_list": {"idx": 7}}),
        json!({"status_list": "x"}),
        json!("x"),
    ] {
        let token = sign(&issuer_keys().ed, &claims_with(json!({ "status": status })));
        assert_eq!(
            invalid_reason(&guard, &token),
            "malformed token",
            "{status}"
        );
    }
    assert_eq!(lists.fetches(), 0);
    assert!(guard.validate(&good_token()).is_ok());
}

// ---------------------------------------------------------------------------------
// Fetch discipline: one fetch per new list, none for tokens that fail earlier checks,
// and a budget for new lists.

#[test]
fn a_thousand_validations_on_an_unheld_list_from_8_threads_share_one_fetch() {
    let (builder, _, lists, _) = status_guard_builder();
    let guard = builder.build();
    let tokens: Vec<String> = (0..1000).map(|_| good_token()).collect();
    lists.hold();
    std::thread::scope(|s| {
        let workers: Vec<_> = tokens
            .chunks(125)
            .map(|chunk| {
                let guard = &guard;
                s.spawn(move || chunk.iter().filter(|t| guard.validate(t).is_ok()).count())
            })
            .collect();
        assert!(
            eventually(|| lists.fetches() == 1),
            "the first fetch started"
        );
        lists.release();
        let accepted: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
        assert_eq!(accepted, 1000);
    });
    assert_eq!(lists.fetches(), 1);
}

#[test]
fn tokens_that_fail_an_earlier_check_never_cause_a_fetch() {
    let (builder, jwks_provider, lists, _) = status_guard_builder();
    let guard = builder.build();
    let ed = &issuer_keys().ed;
    let attacker = TestKey::ed25519("attacker");
    let random_list =
        || json!({ "status": status_claim(0, &list_uri(&format!("sl_{}", random_hex(16)))) });
    let with = |changes: serde_json::Value| {
        let mut c = claims_with(random_list());
        for (k, v) in changes.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    for _ in 0..200 {
        let forged = sign(&attacker.with_kid(&ed.kid), &claims_with(random_list()));
        assert_eq!(invalid_reason(&guard, &forged), "bad signature");
        let unknown_kid = sign(
            &attacker.with_kid(&random_hex(8)),
            &claims_with(random_list()),
        );
        assert_eq!(invalid_reason(&guard, &unknown_kid), "unknown key id");
    }
    let mut at_jwt_typ = header_of_ed();
    at_jwt_typ["typ"] = json!("JWT");
    let refused = [
        (
            "expired",
            sign(ed, &with(json!({"iat": now() - 7200, "exp": now() - 3600}))),
        ),
        (
            "wrong audience",
            sign(ed, &with(json!({"aud": "billing-api"}))),
        ),
        (
            "wrong issuer",
            sign(ed, &with(json!({"iss": "https://evil.example"}))),
        ),
        (
            "not yet valid",
            sign(ed, &with(json!({"nbf": now() + 600}))),
        ),
        (
            "client_id differs from sub",
            sign(ed, &with(json!({"sub": "kg_other"}))),
        ),
        (
            "typ",
            sign_raw(&at_jwt_typ, &with(json!({})), &ed.encoding, ed.alg),
        ),
    ];
    for (what, token) in refused {
        assert!(guard.validate(&token).is_err(), "{what}");
    }
    assert_eq!(lists.fetches(), 0);
    assert_eq!(
        jwks_provider.fetches(),
        2,
        "the initial fetch and one refetch"
    );
}

/// The header keygate puts on tokens signed with the issuer's Ed25519 key.
fn header_of_ed() -> serde_json::Value {
    crate::header_of(&issuer_keys().ed)
}

#[test]
fn valid_tokens_on_a_thousand_unknown_lists_fetch_at_most_the_budget() {
    let (builder, _, lists, clock) = status_guard_builder();
    let guard = builder.build();
    let budget = resource_guard::DEFAULT_STATUS_NEW_LISTS as usize;
    assert!(guard.validate(&good_token()).is_ok(), "one list held");
    let tokens: Vec<String> = (0..1000)
        .map(|_| token_on(0, &format!("sl_{}", random_hex(16))))
        .collect();
    std::thread::scope(|s| {
        for chunk in tokens.chunks(125) {
            let guard = &guard;
            s.spawn(move || {
                for t in chunk {
                    assert_eq!(invalid_reason(guard, t), "status list unavailable");
                }
            });
        }
    });
    assert_eq!(lists.fetches(), budget, "the budget, then nothing");
    // Within the interval even a real new list waits; held lists keep working.
    lists.open("sl_new");
    let new = token_on(0, "sl_new");
    assert_eq!(invalid_reason(&guard, &new), "status list unavailable");
    assert_eq!(lists.fetches(), budget);
    assert!(
        guard.validate(&good_token()).is_ok(),
        "a held list needs no budget"
    );
    // The next interval has a new budget.
    clock.advance(resource_guard::DEFAULT_STATUS_NEW_LIST_INTERVAL);
    assert!(guard.validate(&new).is_ok());
}

#[test]
fn a_list_the_issuer_does_not_know_is_not_fetched_again_during_the_backoff() {
    let (builder, _, lists, clock) = status_guard_builder();
    let backoff = Duration::from_secs(20);
    let guard = builder.status_unknown_list_backoff(backoff).build();
    let token = token_on(0, "sl_later");
    assert_eq!(invalid_reason(&guard, &token), "status list unavailable");
    assert_eq!(lists.fetches(), 1);
    lists.open("sl_later");
    clock.advance(backoff - Duration::from_secs(1));
    assert_eq!(invalid_reason(&guard, &token), "status list unavailable");
    assert_eq!(lists.fetches(), 1);
    clock.advance(Duration::from_secs(1));
    assert!(guard.validate(&token).is_ok());
    assert_eq!(lists.fetches(), 2);
}

#[test]
fn the_new_list_budget_is_a_builder_setting() {
    let (builder, _, lists, clock) = status_guard_builder();
    let per = Duration::from_secs(60);
    let guard = builder.status_new_list_budget(2, per).build();
    for _ in 0..20 {
        let t = token_on(0, &format!("sl_{}", random_hex(16)));
        assert_eq!(invalid_reason(&guard, &t), "status list unavailable");
    }
    assert_eq!(lists.fetches(), 2);
    clock.advance(per);
    assert!(guard.validate(&good_token()).is_ok());
    assert_eq!(lists.fetches(), 3);
}

// ---------------------------------------------------------------------------------
// Tokens without status, and status checks turned off.

#[test]
fn a_token_without_status_is_refused_unless_issued_before_the_allowed_time() {
    let no_status_at = |iat: i64| {
        sign(
            &issuer_keys().ed,
            &claims_with(json!({"status": null, "iat": iat})),
        )
    };
    let (builder, _, lists, _) = status_guard_builder();
    let guard = builder.build();
    assert_eq!(
        invalid_reason(&guard, &no_status_at(now() - 600)),
        "no status claim"
    );
    let other_mechanism = sign(
        &issuer_keys().ed,
        &claims_with(json!({"status": {"identifiers": {"x": 1}}})),
    );
    assert_eq!(invalid_reason(&guard, &other_mechanism), "no status claim");

    let (builder, _, lists2, _) = status_guard_builder();
    let guard = builder.allow_missing_status_before(T0).build();
    assert!(guard.validate(&no_status_at(now() - 600)).is_ok());
    assert!(guard.validate(&no_status_at(now() - 1)).is_ok());
    assert_eq!(
        invalid_reason(&guard, &no_status_at(now())),
        "no status claim"
    );
    assert_eq!(
        invalid_reason(&guard, &no_status_at(now() + 1)),
        "no status claim"
    );
    // Tokens that carry status are still checked.
    lists2.set(LIST_ID, IDX as usize, SUSPENDED);
    assert_eq!(
        invalid_reason(&guard, &good_token()),
        "token status SUSPENDED"
    );
    assert_eq!(lists.fetches(), 0);
    assert_eq!(lists2.fetches(), 1);
}

#[test]
fn with_status_checks_off_nothing_is_fetched_and_status_is_not_looked_at() {
    let (builder, _, lists, _) = status_guard_builder();
    lists.set(LIST_ID, IDX as usize, INVALID);
    let guard = builder.status_checks(false).build();
    assert!(!guard.checks_status());
    let claims = guard.validate(&good_token()).unwrap();
    assert_eq!(claims.status.map(|s| s.idx), Some(IDX), "still reported");
    for status in [
        json!(null),
        status_claim(0, &list_uri("sl_unknown")),
        status_claim(0, &format!("{ISSUER}.evil/statuslists/x")),
    ] {
        let token = sign(&issuer_keys().ed, &claims_with(json!({ "status": status })));
        assert!(guard.validate(&token).is_ok(), "{status}");
    }
    assert_eq!(lists.fetches(), 0);
}

// ---------------------------------------------------------------------------------
// Signing keys: the issuer publishes its next key `key.publish_lead_seconds` before it
// signs with it.

#[test]
fn a_rotation_with_a_publish_lead_keeps_lists_verifiable_through_the_background_key_refresh() {
    const KEYS_EVERY: Duration = Duration::from_secs(60);
    let (builder, jwks_provider, lists, clock) = status_guard_builder();
    let guard = builder.refresh_interval(Some(KEYS_EVERY)).build();
    let ed = issuer_keys().ed.clone();
    let token = good_token();
    assert!(guard.validate(&token).is_ok());
    // The next key is published, a lead before it signs anything.
    let next = TestKey::ed25519("ed-2");
    jwks_provider.set(jwks(&[&ed, &next]));
    clock.advance(KEYS_EVERY);
    assert!(
        eventually(|| jwks_provider.fetches() == 2),
        "keys refreshed"
    );
    // Now lists are signed with it: each refresh verifies.
    lists.set_key(&next);
    lists.set(LIST_ID, IDX as usize, SUSPENDED);
    after(&clock, TTL, &guard, &token, false);
    lists.set(LIST_ID, IDX as usize, VALID);
    after(&clock, TTL, &guard, &token, true);
    assert_eq!(
        jwks_provider.fetches(),
        2,
        "no unknown-kid refetch was needed"
    );
    // The old key retires; tokens and lists of the new one go on.
    jwks_provider.set(jwks(&[&next]));
    let new_token = sign(&next, &claims());
    after(&clock, KEYS_EVERY, &guard, &new_token, true);
    lists.set(LIST_ID, IDX as usize, SUSPENDED);
    after(&clock, TTL, &guard, &new_token, false);
}

#[test]
fn a_list_signed_with_a_new_key_takes_the_rate_limited_jwks_refetch_and_keeps_the_last_good_list_meanwhile(
) {
    let (builder, jwks_provider, lists, clock) = status_guard_builder();
    let interval = resource_guard::DEFAULT_MIN_REFETCH_INTERVAL;
    let guard = builder.build(); // no background key refresh
    let token = good_token();
    assert!(guard.validate(&token).is_ok());
    // An unknown kid takes the refetch slot at T0.
    let stranger = sign(&TestKey::ed25519("stranger"), &claims());
    assert_eq!(invalid_reason(&guard, &stranger), "unknown key id");
    assert_eq!(jwks_provider.fetches(), 2);
    let next = TestKey::ed25519("ed-2");
    jwks_provider.set(jwks(&[&issuer_keys().ed, &next]));
    lists.set_key(&next);
    lists.set(LIST_ID, IDX as usize, SUSPENDED);
    // Within the interval the new list cannot be verified: the last good one stays.
    for fetches in [2, 3] {
        clock.advance(TTL);
        assert!(eventually(|| lists.fetches() >= fetches));
    }
    assert!(guard.validate(&token).is_ok(), "the last good list");
    assert_eq!(jwks_provider.fetches(), 2);
    // Once the interval has passed, the next refresh refetches the keys and verifies.
    after(&clock, interval - 2 * TTL, &guard, &token, false);
    assert_eq!(jwks_provider.fetches(), 3);
}

// ---------------------------------------------------------------------------------
// Size bounds.

/// Peak resident memory of this process so far, where the OS says.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn a_list_that_inflates_past_the_bound_is_refused_without_inflating_it() {
    let (builder, _, lists, _) = status_guard_builder();
    let guard = builder.build();
    // 1 GiB of zeros in about 1 MiB of zlib: 256 times the default bound.
    let bomb = b64(zlib_bomb(1));
    assert!(bomb.len() < 4 << 20, "{} bytes", bomb.len());
    lists.doctor(json!({}), json!({"status_list": {"bits": 2, "lst": bomb}}));
    let real = Clock::system();
    let started = real.instant();
    assert_eq!(
        invalid_reason(&guard, &good_token()),
        "status list unavailable"
    );
    assert!(real.instant() - started < Duration::from_secs(5));
    assert_eq!(lists.fetches(), 1);
    if let Some(peak) = peak_rss_bytes() {
        assert!(
            peak < 512 << 20,
            "peak RSS {peak} bytes: the bomb was inflated"
        );
    }
}

#[test]
fn the_list_size_bound_is_a_builder_setting() {
    for (entries, bound, accepted) in [(1024, 1024, true), (1028, 1024, false)] {
        let (builder, _, lists, _) = status_guard_builder();
        let guard = builder.status_max_list_entries(bound).build();
        lists.doctor(
            json!({}),
            json!({"status_list": {"bits": 2, "lst": encode_list(&vec![VALID; entries])}}),
        );
        assert_eq!(guard.validate(&good_token()).is_ok(), accepted, "{entries}");
    }
}

#[test]
fn the_ttl_honoured_is_clamped_to_the_builders_bounds() {
    // A list asking for a 1-hour ttl is refreshed at the ceiling.
    let (builder, _, lists, clock) = status_guard_builder();
    let ceiling = Duration::from_secs(20);
    let guard = builder
        .status_ttl_bounds(Duration::from_secs(1), ceiling)
        .build();
    lists.doctor(json!({}), json!({"ttl": 3600}));
    let token = good_token();
    assert!(guard.validate(&token).is_ok());
    lists.set(LIST_ID, IDX as usize, SUSPENDED);
    after(&clock, ceiling, &guard, &token, false);
    // A list asking for ttl 0 is refreshed at most once per floor.
    let (builder, _, lists, clock) = status_guard_builder();
    let floor = Duration::from_secs(10);
    let guard = builder.status_ttl_bounds(floor, ceiling).build();
    lists.doctor(json!({}), json!({"ttl": 0}));
    assert!(guard.validate(&token).is_ok());
    clock.advance(floor - Duration::from_secs(1));
    // The refresher is given real time to misbehave, bounded by a few polls.
    assert!(!eventually_within(Duration::from_millis(200), || lists
        .fetches()
        > 1));
    clock.advance(Duration::from_secs(1));
    assert!(eventually(|| lists.fetches() == 2));
}

/// Like `eventually`, with a shorter real-time deadline: for asserting that something
/// does not happen while the refresher is free to act.
fn eventually_within(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let real = Clock::system();
    let deadline = real.instant() + limit;
    while real.instant() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done()
}

#[test]
fn documented_status_defaults_hold() {
    use resource_guard::*;
    assert_eq!(DEFAULT_STATUS_FETCH_TIMEOUT, Duration::from_secs(5));
    assert_eq!(DEFAULT_STATUS_NEW_LISTS, 10);
    assert_eq!(DEFAULT_STATUS_NEW_LIST_INTERVAL, Duration::from_secs(30));
    assert_eq!(DEFAULT_STATUS_UNKNOWN_LIST_BACKOFF, Duration::from_secs(30));
    assert_eq!(DEFAULT_STATUS_MAX_LIST_ENTRIES, 1 << 24);
    assert_eq!(DEFAULT_STATUS_TTL_FLOOR, Duration::from_secs(1));
    assert_eq!(DEFAULT_STATUS_TTL_CEILING, Duration::from_secs(300));
    let _: Arc<dyn StatusListProvider> =
        Arc::new(HttpStatusLists::new(DEFAULT_STATUS_FETCH_TIMEOUT, 1 << 20));
}
