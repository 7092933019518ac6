//! `GET /statuslists/{id}` and `GET /statuslists`: statuses set through the store are
//! served, signed, fresh and within their bounds. Every list is read with code
//! independent of the server's: jsonwebtoken against the served JWKS for the signature,
//! zune-inflate (not flate2) for zlib, and the 2-bit values picked out here.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keypair_store::{ClientId, GenerationPolicy, StatusListId};

use crate::*;

keypair_store::on_both_backends_async! {
    served_values_follow_the_store;
    a_change_is_built_at_most_once_a_second;
    a_list_opened_since_the_last_refresh_is_served;
    unknown_and_malformed_ids_are_404;
    the_aggregation_lists_every_list;
    exp_stays_ahead_and_the_current_key_signs;
    lists_cut_off_from_the_database_run_down_to_their_exp;
}

const TTL: i64 = 5;
const LIFETIME: i64 = 600;

/// A served list, verified and decoded.
struct Served {
    header: jsonwebtoken::Header,
    claims: Value,
    /// The decompressed bytes.
    bytes: Vec<u8>,
    reply: Reply,
}

impl Served {
    /// The 2-bit value of entry `idx`: bits `2 * (idx % 4)` and up of byte `idx / 4`.
    fn value(&self, idx: u32) -> u8 {
        let byte = self.bytes[(idx / 4) as usize];
        (byte >> (2 * (idx % 4))) & 0b11
    }

    /// Every entry that is not VALID, as (index, value).
    fn not_valid(&self) -> Vec<(u32, u8)> {
        (0..self.bytes.len() as u32 * 4)
            .map(|i| (i, self.value(i)))
            .filter(|(_, v)| *v != 0)
            .collect()
    }

    fn iat(&self) -> i64 {
        self.claims["iat"].as_i64().unwrap()
    }
}

fn uri(id: &StatusListId) -> String {
    format!("{ISSUER}/statuslists/{id}")
}

/// GETs list `id`, checks the response and the token's form, and decodes it.
async fn fetch<S, B>(app: &S, id: &StatusListId) -> Served
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let reply = get(app, &format!("/statuslists/{id}")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("application/statuslist+jwt")
    );
    assert_eq!(
        reply.header("cache-control"),
        Some(format!("max-age={TTL}").as_str())
    );
    let jwt = reply.body.clone();
    let jwks: JwkSet =
        serde_json::from_str(&get(app, "/.well-known/jwks.json").await.body).unwrap();
    let header = jsonwebtoken::decode_header(&jwt).unwrap();
    let kid = header.kid.clone().expect("kid");
    let jwk = jwks.find(&kid).expect("kid published in JWKS");
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[ISSUER]);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iss", "sub", "iat"]);
    let data =
        jsonwebtoken::decode::<Value>(&jwt, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .expect("list verifies");
    assert_eq!(data.header.typ.as_deref(), Some("statuslist+jwt"));
    let claims = data.claims;
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], uri(id));
    assert_eq!(claims["ttl"], TTL);
    assert_eq!(claims["status_list"]["bits"], 2);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        LIFETIME
    );
    let compressed = URL_SAFE_NO_PAD
        .decode(claims["status_list"]["lst"].as_str().unwrap())
        .unwrap();
    let bytes = zune_inflate::DeflateDecoder::new(&compressed)
        .decode_zlib()
        .expect("zlib");
    Served {
        header: data.header,
        claims,
        bytes,
        reply,
    }
}

fn policy(app: &TokenApp) -> GenerationPolicy {
    app.settings().generation_policy()
}

fn keypair(f: &Fixture, scopes: &[&str]) -> ClientId {
    account_keypair(&f.db.store, scopes, f.clock.now())
        .0
        .client_id
}

fn open(f: &Fixture, id: &ClientId) -> (StatusListId, u32) {
    let g =
        f.db.store
            .open_generation(id, &policy(&f.service), f.clock.now())
            .unwrap();
    (g.list_id, g.idx)
}

fn patch(enabled: Option<bool>, scopes: Option<&[&str]>) -> KeypairPatch {
    KeypairPatch {
        enabled,
        scopes: scopes.map(|s| catalogue().validate_for_keypair(s).unwrap()),
        comment: None,
        ..KeypairPatch::default()
    }
}

fn second(f: &Fixture) {
    f.clock.advance(std::time::Duration::from_secs(1));
}

async fn served_values_follow_the_store(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let store = &f.db.store;
    let now = || f.clock.now();
    let [disabled, revoked, deleted, narrowed, untouched] =
        std::array::from_fn(|_| keypair(&f, &["feedback:read", "feedback:write"]));
    let entries: Vec<(StatusListId, u32)> = [&disabled, &revoked, &deleted, &narrowed, &untouched]
        .into_iter()
        .map(|id| open(&f, id))
        .collect();
    let list = entries[0].0.clone();
    assert!(
        entries.iter().all(|(l, _)| *l == list),
        "one list holds them all"
    );
    let idx: Vec<u32> = entries.iter().map(|(_, i)| *i).collect();
    let app = app!(f.service);

    f.service.status_lists().refresh(now()).unwrap();
    let served = fetch(&app, &list).await;
    assert_eq!(
        served.bytes.len(),
        (1 << 20) / 4,
        "default capacity, 2 bits each"
    );
    assert_eq!(served.not_valid(), vec![], "every generation starts VALID");

    store
        .update_keypair(&actor(), &disabled, patch(Some(false), None), now())
        .unwrap();
    store.revoke_tokens(&actor(), &revoked, now()).unwrap();
    store.delete_keypair(&actor(), &deleted, now()).unwrap();
    store
        .update_keypair(
            &actor(),
            &narrowed,
            patch(None, Some(&["feedback:read"])),
            now(),
        )
        .unwrap();
    second(&f);
    f.service.status_lists().refresh(now()).unwrap();
    let served = fetch(&app, &list).await;
    let mut expected = vec![(idx[0], 2), (idx[1], 1), (idx[2], 1), (idx[3], 1)];
    expected.sort();
    assert_eq!(served.not_valid(), expected);
    assert_eq!(served.value(idx[4]), 0);

    // Enabling makes the SUSPENDED generation VALID again; INVALID stays, and the
    // revoked keypair's next generation is a new, VALID entry.
    store
        .update_keypair(&actor(), &disabled, patch(Some(true), None), now())
        .unwrap();
    let (new_list, new_idx) = open(&f, &revoked);
    assert_ne!((new_list.clone(), new_idx), (list.clone(), idx[1]));
    second(&f);
    f.service.status_lists().refresh(now()).unwrap();
    let served = fetch(&app, &list).await;
    let mut expected = vec![(idx[1], 1), (idx[2], 1), (idx[3], 1)];
    expected.sort();
    assert_eq!(served.not_valid(), expected);
    assert_eq!(fetch(&app, &new_list).await.value(new_idx), 0);

    // A scope added does not invalidate: the old tokens merely lack it.
    store
        .update_keypair(
            &actor(),
            &untouched,
            patch(
                None,
                Some(&["feedback:read", "feedback:write", "billing:read"]),
            ),
            now(),
        )
        .unwrap();
    second(&f);
    f.service.status_lists().refresh(now()).unwrap();
    assert_eq!(fetch(&app, &list).await.value(idx[4]), 0);
}

async fn a_change_is_built_at_most_once_a_second(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let store = &f.db.store;
    let id = keypair(&f, &["feedback:read"]);
    let (list, idx) = open(&f, &id);
    let app = app!(f.service);
    f.service.status_lists().refresh(f.clock.now()).unwrap();
    let first = fetch(&app, &list).await;
    assert_eq!(first.value(idx), 0);

    // Changed within the second of the last build: neither a refresh nor a GET
    // rebuilds yet.
    store
        .update_keypair(&actor(), &id, patch(Some(false), None), f.clock.now())
        .unwrap();
    f.service.status_lists().refresh(f.clock.now()).unwrap();
    let served = fetch(&app, &list).await;
    assert_eq!(served.value(idx), 0, "rebuilt within a second");
    assert_eq!(served.reply.body, first.reply.body, "the same token");
    f.clock.advance(std::time::Duration::from_millis(900));
    f.service.status_lists().refresh(f.clock.now()).unwrap();
    assert_eq!(fetch(&app, &list).await.value(idx), 0);

    // A second after the build: a GET alone (no refresh) rebuilds.
    f.clock.advance(std::time::Duration::from_millis(100));
    let rebuilt = fetch(&app, &list).await;
    assert_eq!(rebuilt.value(idx), 2, "SUSPENDED");
    assert!(rebuilt.iat() > first.iat());

    // Two changes in the same second come out together, a second after that build.
    store
        .update_keypair(&actor(), &id, patch(Some(true), None), f.clock.now())
        .unwrap();
    f.service.status_lists().refresh(f.clock.now()).unwrap();
    store.revoke_tokens(&actor(), &id, f.clock.now()).unwrap();
    f.service.status_lists().refresh(f.clock.now()).unwrap();
    assert_eq!(fetch(&app, &list).await.value(idx), 2);
    second(&f);
    f.service.status_lists().refresh(f.clock.now()).unwrap();
    assert_eq!(fetch(&app, &list).await.value(idx), 1, "INVALID");
}

async fn a_list_opened_since_the_last_refresh_is_served(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::ES256);
    let store = &f.db.store;
    let app = app!(f.service);
    f.service.status_lists().refresh(f.clock.now()).unwrap();
    assert_eq!(
        get(&app, "/statuslists").await.json(),
        serde_json::json!({"status_lists": []})
    );

    // A disabled keypair's first generation opens the first list, SUSPENDED. No
    // refresh, no time passes: the first GET finds it in the database.
    let (kp, _) = account_keypair(store, &["feedback:read"], f.clock.now());
    store
        .update_keypair(
            &actor(),
            &kp.client_id,
            patch(Some(false), None),
            f.clock.now(),
        )
        .unwrap();
    let (list, idx) = open(&f, &kp.client_id);
    let served = fetch(&app, &list).await;
    assert_eq!(served.header.alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(served.not_valid(), vec![(idx, 2)]);
    // It is kept: served again without a lookup, and listed once built.
    assert_eq!(fetch(&app, &list).await.reply.body, served.reply.body);
    second(&f);
    assert_eq!(
        get(&app, "/statuslists").await.json(),
        serde_json::json!({"status_lists": [uri(&list)]})
    );
}

async fn unknown_and_malformed_ids_are_404(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let id = keypair(&f, &["feedback:read"]);
    let (list, _) = open(&f, &id);
    f.service.status_lists().refresh(f.clock.now()).unwrap();

    let unknown = |n: u8| format!("/statuslists/sl_{}", format!("{n:02x}").repeat(16));
    for path in [
        unknown(1),
        "/statuslists/nope".to_owned(),
        "/statuslists/sl_0123".to_owned(),
        "/statuslists/SL_0123456789abcdef0123456789abcdef".to_owned(),
        format!("/statuslists/{list}0"),
        "/statuslists/%00".to_owned(),
        "/statuslists/sl_0123456789abcdef0123456789abcdef/more".to_owned(),
    ] {
        let r = get(&app, &path).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert_eq!(r.error(), "not_found", "{path}");
    }

    // Lookups of ids not in memory are rate-limited for everyone together: a flood of
    // random well-formed ids gets at most 5 database lookups a second; past that a 503
    // with Retry-After (not a 404: the list might exist). Malformed ids never count.
    second(&f);
    let mut statuses = Vec::new();
    for n in 10..30 {
        statuses.push(get(&app, &unknown(n)).await.status);
        assert_eq!(get(&app, "/statuslists/nope").await.status, 404);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 404).count(),
        5,
        "{statuses:?}"
    );
    assert!(statuses.iter().all(|s| *s == 404 || *s == 503));
    let r = get(&app, &unknown(40)).await;
    assert_eq!(
        (r.status, r.error().as_str()),
        (503, "temporarily_unavailable")
    );
    assert!(r.header("retry-after").is_some());
    // A list in memory is served whatever the flood.
    fetch(&app, &list).await;
    second(&f);
    assert_eq!(get(&app, &unknown(41)).await.status, 404);
}

async fn the_aggregation_lists_every_list(db: TestDb) {
    let db_store = db.store.clone();
    let kek = STANDARD.encode(ring_random());
    let clock = TestClock::starting_now();
    let service = service_with(
        &db_store,
        &kek,
        SigningAlgorithm::EdDSA,
        &clock,
        &[("KEYGATE_STATUS_LIST_CAPACITY", "16")],
    );
    let f = Fixture {
        db,
        kek,
        clock,
        service,
    };
    // 40 generations in lists of 16 entries: at least 3 lists.
    let mut entries = Vec::new();
    for _ in 0..40 {
        let id = keypair(&f, &["feedback:read"]);
        entries.push((id.clone(), open(&f, &id)));
    }
    let lists = f.db.store.status_lists().unwrap();
    assert!(lists.len() >= 3, "{}", lists.len());
    let app = app!(f.service);
    f.service.status_lists().refresh(f.clock.now()).unwrap();

    let r = get(&app, "/statuslists").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("cache-control"),
        Some(format!("max-age={TTL}").as_str())
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    let expected: Vec<String> = lists.iter().map(|l| uri(&l.id)).collect();
    assert_eq!(r.json(), serde_json::json!({ "status_lists": expected }));

    // Every listed URI serves its list; revoking every third keypair shows in each.
    for (n, (id, _)) in entries.iter().enumerate() {
        if n % 3 == 0 {
            f.db.store
                .revoke_tokens(&actor(), id, f.clock.now())
                .unwrap();
        }
    }
    second(&f);
    f.service.status_lists().refresh(f.clock.now()).unwrap();
    for l in &lists {
        let served = fetch(&app, &l.id).await;
        assert_eq!(served.bytes.len(), 4, "16 entries, 2 bits each");
        let mut expected: Vec<(u32, u8)> = entries
            .iter()
            .enumerate()
            .filter(|(n, (_, (list, _)))| n % 3 == 0 && *list == l.id)
            .map(|(_, (_, (_, idx)))| (*idx, 1))
            .collect();
        expected.sort();
        assert_eq!(served.not_valid(), expected, "{}", l.id);
    }
}

async fn exp_stays_ahead_and_the_current_key_signs(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let id = keypair(&f, &["feedback:read"]);
    let (list, _) = open(&f, &id);
    let app = app!(f.service);
    f.service.status_lists().refresh(f.clock.now()).unwrap();

    let check = |served: &Served, now: OffsetDateTime| {
        let exp = served.claims["exp"].as_i64().unwrap();
        assert!(
            exp >= now.unix_timestamp() + LIFETIME - TTL,
            "exp {exp} at {}",
            now.unix_timestamp()
        );
        assert!(served.iat() <= now.unix_timestamp());
    };
    // Whether or not a refresh ran in between, at any time.
    for (step_ms, refresh) in [
        (1_000, false),
        (2_600, false),
        (1_500, true),
        (4_999, false),
        (5_001, true),
        (60_000, false),
        (599_000, false),
        (3_600_000, true),
        (86_400_000, false),
    ] {
        f.clock.advance(std::time::Duration::from_millis(step_ms));
        if refresh {
            f.service.status_lists().refresh(f.clock.now()).unwrap();
        }
        let served = fetch(&app, &list).await;
        check(&served, f.clock.now());
        assert_eq!(
            served.header.kid.as_deref(),
            Some(f.service.keys().ring().signer(f.clock.now()).kid())
        );
    }

    // A rotated key is published first and signs from `signs_from` on (no reload in
    // between): from then on the lists are re-signed with it, and verify with the JWKS.
    let before = fetch(&app, &list).await.header.kid.unwrap();
    second(&f);
    let new = f.service.keys().rotate(f.clock.now()).unwrap();
    assert_ne!(new.kid, before);
    assert_eq!(fetch(&app, &list).await.header.kid, Some(before.clone()));
    f.clock
        .advance((new.signs_from - f.clock.now()).try_into().unwrap());
    let served = fetch(&app, &list).await;
    assert_eq!(served.header.kid, Some(new.kid.clone()), "re-signed on GET");
    check(&served, f.clock.now());
    f.service.status_lists().refresh(f.clock.now()).unwrap();
    assert_eq!(fetch(&app, &list).await.header.kid, Some(new.kid));
}

/// A process that cannot read the database stops vouching for its lists: after
/// 2 × ttl + 1 s without a confirmed status version it no longer re-signs them, so they
/// run down to their `exp` and guards fail closed instead of trusting statuses that
/// changes made elsewhere may have overtaken.
async fn lists_cut_off_from_the_database_run_down_to_their_exp(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let id = keypair(&f, &["feedback:read"]);
    let (list, _) = open(&f, &id);
    let app = app!(f.service);
    f.service.status_lists().refresh(f.clock.now()).unwrap();
    let first = fetch(&app, &list).await;
    // The status version can no longer be read.
    f.db.execute_sql("DROP TABLE status_version");
    f.clock
        .advance(std::time::Duration::from_secs(TTL as u64 + 1));
    assert!(f.service.status_lists().refresh(f.clock.now()).is_err());
    // Still confirmed recently: re-signed as usual.
    let recent = fetch(&app, &list).await;
    assert!(recent.iat() > first.iat(), "re-signed within 2 × ttl + 1 s");
    f.clock
        .advance(std::time::Duration::from_secs(TTL as u64 + 1));
    let last_exp = fetch(&app, &list).await.claims["exp"].as_i64().unwrap();
    for step in [30, 120, 600] {
        f.clock.advance(std::time::Duration::from_secs(step));
        let _ = f.service.status_lists().refresh(f.clock.now());
        let served = fetch(&app, &list).await;
        assert_eq!(
            served.claims["exp"].as_i64().unwrap(),
            last_exp,
            "re-signed without the database"
        );
    }
    assert!(
        f.clock.now().unix_timestamp() > last_exp,
        "the list has expired"
    );
}
