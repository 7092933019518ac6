//! The keypair lifecycle at the public endpoints: `expires_at` (to the second, at
//! `/token`, `/revoke` and `/introspect`), the `exp` cap and how lifetimes compose,
//! secrets that ran out after a rotation, and address allowlists (IPv4, IPv6,
//! IPv4-mapped peers, with and without the trusted forwarding header), their throttling
//! and their log lines. Every refusal is compared whole (status, headers, body) with
//! the answer to a wrong secret.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};

use keypair_store::{AddressList, Rotation};

use crate::*;

keypair_store::on_both_backends_async! {
    expiry_holds_to_the_second_at_every_endpoint;
    token_lifetime_is_the_least_of_keypair_global_and_time_left;
    a_secret_that_ran_out_fails_like_a_wrong_one;
    allowlist_takes_the_tcp_peer_when_no_header_is_configured;
    allowlist_takes_the_rightmost_forwarded_address_when_configured;
    refusals_from_outside_the_list_are_throttled_like_wrong_secrets;
    refusals_are_logged_with_their_reason_and_never_the_secret;
}

const FORM: &str = "grant_type=client_credentials&scope=feedback:read";

/// A TCP peer, the headers sent, and whether the keypair is admitted.
/// The forwarding header the tests send (and configure, where they do).
const XFF: &str = "x-forwarded-for";
/// The TCP peer when the request comes through the (trusted) proxy.
const PROXY: &str = "10.9.9.9";

type AddressCase = (&'static str, &'static [(&'static str, &'static str)], bool);

/// A keypair with the lifecycle fields set.
fn keypair_with(
    store: &Store,
    scopes: &[&str],
    expires_at: Option<OffsetDateTime>,
    allowed: &[&str],
    lifetime: Option<u32>,
    now: OffsetDateTime,
) -> (Keypair, ClientSecret) {
    let acct = store.create_account(&actor(), "Acme", now).unwrap();
    store
        .create_keypair(
            &actor(),
            NewKeypair {
                owner: Owner::Account(acct.id),
                scopes: catalogue().validate_for_keypair(scopes).unwrap(),
                comment: "lifecycle".into(),
                enabled: true,
                token_lifetime_seconds: lifetime,
                expires_at,
                allowed_addresses: AddressList::parse(allowed).unwrap(),
            },
            now,
        )
        .unwrap()
}

/// A whole second `secs` after the start of the current one.
fn second_after(now: OffsetDateTime, secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(now.unix_timestamp() + secs).unwrap()
}

/// Moves the test clock forward to exactly `t`.
fn advance_to(clock: &TestClock, t: OffsetDateTime) {
    let by = t - clock.now();
    clock.advance(std::time::Duration::try_from(by).expect("forward in time"));
}

/// A form POST to `path` from `peer`, with `auth` as the Authorization header and
/// `headers` appended (a name given twice is sent as two header lines).
async fn ask<S, B>(
    app: &S,
    path: &str,
    auth: &str,
    body: &str,
    peer: &str,
    headers: &[(&str, &str)],
) -> Reply
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let peer: IpAddr = peer.parse().unwrap();
    let mut req = test::TestRequest::post()
        .uri(path)
        .peer_addr(SocketAddr::new(peer, 40000))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .insert_header(("authorization", auth.to_owned()))
        .set_payload(body.to_owned());
    for (name, value) in headers {
        req = req.append_header((*name, *value));
    }
    reply(test::call_service(app, req.to_request()).await).await
}

fn token_form(token: &str) -> String {
    format!(
        "token={}",
        form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
    )
}

fn access_token(r: &Reply) -> String {
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["access_token"].as_str().unwrap().to_owned()
}

fn assert_invalid_client(r: &Reply, wrong: &Reply, what: &str) {
    assert_eq!(wrong.status, 401, "{what}: reference {}", wrong.body);
    assert_eq!(wrong.error(), "invalid_client");
    assert_eq!(
        wrong.header("www-authenticate"),
        Some("Basic realm=\"keygate\"")
    );
    assert_eq!(r, wrong, "{what}: not the same answer as a wrong secret");
}

/// Expiry is whole seconds: a second before `expires_at` the keypair works at all three
/// client-authenticated endpoints (and its token ends at `expires_at`); at and after it,
/// each answers exactly what it answers to a wrong secret.
async fn expiry_holds_to_the_second_at_every_endpoint(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let store = &f.db.store;
    let expires_at = second_after(f.clock.now(), 7200);
    let scopes = ["feedback:read", "keygate:introspect"];
    let (kp, secret) = keypair_with(store, &scopes, Some(expires_at), &[], None, f.clock.now());
    let (other, _) = keypair_with(store, &scopes, None, &[], None, f.clock.now());
    let right = basic(kp.client_id.as_str(), secret.expose());
    let wrong = basic(kp.client_id.as_str(), ClientSecret::generate().expose());
    let other_wrong = basic(other.client_id.as_str(), ClientSecret::generate().expose());

    // Long before: a full-length token (the default hour).
    let early = access_token(&ask(&app, "/token", &right, FORM, "192.0.2.1", &[]).await);
    let (_, claims) = verify(&app, &early, "feedback-api").await;
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );

    // One second before: a one-second token that ends at expires_at.
    advance_to(&f.clock, expires_at - Duration::seconds(1));
    let r = ask(&app, "/token", &right, FORM, "192.0.2.1", &[]).await;
    let last = access_token(&r);
    assert_eq!(r.json()["expires_in"], 1, "{}", r.body);
    let (_, claims) = verify(&app, &last, "feedback-api").await;
    assert_eq!(claims["exp"].as_i64().unwrap(), expires_at.unix_timestamp());
    let r = ask(
        &app,
        "/introspect",
        &right,
        &token_form(&last),
        "192.0.2.1",
        &[],
    )
    .await;
    assert_eq!(
        (r.status, &r.json()["active"]),
        (200, &Value::Bool(true)),
        "{}",
        r.body
    );
    let r = ask(
        &app,
        "/revoke",
        &right,
        &token_form(&early),
        "192.0.2.1",
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // At expires_at and after: refused like a wrong secret, for this keypair or another.
    // Each instant asks from its own address so the throttle stays out of the way.
    for (later, peer) in [
        (Duration::ZERO, "192.0.2.2"),
        (Duration::seconds(1), "192.0.2.3"),
        (Duration::days(1), "192.0.2.4"),
    ] {
        advance_to(&f.clock, expires_at + later);
        for (path, body) in [
            ("/token", FORM.to_owned()),
            ("/revoke", token_form(&last)),
            ("/introspect", token_form(&last)),
        ] {
            let what = format!("{path} at expires_at + {later}");
            let expired = ask(&app, path, &right, &body, peer, &[]).await;
            let wrong_secret = ask(&app, path, &wrong, &body, peer, &[]).await;
            let other_wrong_secret = ask(&app, path, &other_wrong, &body, peer, &[]).await;
            assert_invalid_client(&expired, &wrong_secret, &what);
            assert_invalid_client(&expired, &other_wrong_secret, &what);
        }
    }
    // Expired keypairs stay, marked by their expiry.
    assert_eq!(
        store.get_keypair(&kp.client_id).unwrap().expires_at,
        Some(expires_at)
    );
}

/// A token's lifetime is the least of the keypair's own (or the global default), the
/// global maximum and the time left until `expires_at`; a PATCH of either field takes
/// effect at the next token in this process.
async fn token_lifetime_is_the_least_of_keypair_global_and_time_left(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let svc = service_with(
        &f.db.store,
        &f.kek,
        SigningAlgorithm::EdDSA,
        &f.clock,
        &[
            ("KEYGATE_TOKEN_LIFETIME_SECONDS", "900"),
            ("KEYGATE_TOKEN_MAX_LIFETIME_SECONDS", "1200"),
        ],
    );
    let app = app!(svc);
    let store = &f.db.store;
    let now = f.clock.now();
    // (keypair lifetime, seconds until expires_at, expected lifetime)
    let cases: [(Option<u32>, Option<i64>, i64); 8] = [
        (None, None, 900),
        (Some(300), None, 300),
        (Some(5000), None, 1200),
        (None, Some(600), 600),
        (None, Some(2000), 900),
        (Some(300), Some(600), 300),
        (Some(5000), Some(1000), 1000),
        (Some(5000), Some(3000), 1200),
    ];
    for (lifetime, left, expected) in cases {
        let expires_at = left.map(|s| second_after(now, s));
        let (kp, secret) = keypair_with(store, &["feedback:read"], expires_at, &[], lifetime, now);
        let auth = basic(kp.client_id.as_str(), secret.expose());
        let r = ask(&app, "/token", &auth, FORM, "192.0.2.1", &[]).await;
        let what = format!("lifetime {lifetime:?}, {left:?} s left");
        let token = access_token(&r);
        assert_eq!(r.json()["expires_in"], expected, "{what}");
        let (_, claims) = verify(&app, &token, "feedback-api").await;
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        assert_eq!(iat, now.unix_timestamp(), "{what}");
        assert_eq!(exp - iat, expected, "{what}");
        if let Some(e) = expires_at {
            assert!(exp <= e.unix_timestamp(), "{what}: exp past expires_at");
        }
    }

    // PATCH: an expiry set later caps the next token at once (the write invalidated
    // the cached keypair), and so does a new per-keypair lifetime.
    let (kp, secret) = keypair_with(store, &["feedback:read"], None, &[], None, now);
    let auth = basic(kp.client_id.as_str(), secret.expose());
    let r = ask(&app, "/token", &auth, FORM, "192.0.2.1", &[]).await;
    assert_eq!(r.json()["expires_in"], 900);
    let expires_at = second_after(now, 100);
    store
        .update_keypair(
            &actor(),
            &kp.client_id,
            KeypairPatch {
                expires_at: Some(Some(expires_at)),
                ..Default::default()
            },
            f.clock.now(),
        )
        .unwrap();
    let r = ask(&app, "/token", &auth, FORM, "192.0.2.1", &[]).await;
    assert_eq!(r.json()["expires_in"], 100, "{}", r.body);
    store
        .update_keypair(
            &actor(),
            &kp.client_id,
            KeypairPatch {
                token_lifetime_seconds: Some(Some(50)),
                ..Default::default()
            },
            f.clock.now(),
        )
        .unwrap();
    let r = ask(&app, "/token", &auth, FORM, "192.0.2.1", &[]).await;
    assert_eq!(r.json()["expires_in"], 50, "{}", r.body);
    // Time passes: the time left becomes the bound again.
    f.clock.advance(std::time::Duration::from_secs(60));
    let r = ask(&app, "/token", &auth, FORM, "192.0.2.1", &[]).await;
    let token = access_token(&r);
    assert_eq!(r.json()["expires_in"], 40, "{}", r.body);
    let (_, claims) = verify(&app, &token, "feedback-api").await;
    assert_eq!(claims["exp"].as_i64().unwrap(), expires_at.unix_timestamp());
}

/// After a rotation with an overlap both secrets work until the overlap ends; from
/// then on the old one gets exactly the wrong-secret answer at every endpoint, while
/// the new one and the tokens issued so far keep working. A rotation with no overlap
/// ends the old secret at once, and with it the tokens issued so far.
async fn a_secret_that_ran_out_fails_like_a_wrong_one(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let store = &f.db.store;
    let scopes = ["feedback:read", "keygate:introspect"];
    let (kp, old) = keypair_with(store, &scopes, None, &[], None, f.clock.now());
    let old_auth = basic(kp.client_id.as_str(), old.expose());
    let wrong = basic(kp.client_id.as_str(), ClientSecret::generate().expose());
    // The keypair is cached from here on: the hot path is what is tested.
    let before = access_token(&ask(&app, "/token", &old_auth, FORM, "192.0.2.1", &[]).await);

    // On a whole second, so that the overlap ends exactly at a time the test can name.
    let rotated_at = second_after(f.clock.now(), 1);
    advance_to(&f.clock, rotated_at);
    let (_, new) = store
        .rotate_secret(
            &actor(),
            &kp.client_id,
            Rotation {
                previous_secret_expires_in_seconds: 60,
                end_oldest: false,
            },
            rotated_at,
        )
        .unwrap();
    let new_auth = basic(kp.client_id.as_str(), new.expose());
    for at in [0, 59] {
        advance_to(&f.clock, rotated_at + Duration::seconds(at));
        for auth in [&old_auth, &new_auth] {
            let r = ask(&app, "/token", auth, FORM, "192.0.2.1", &[]).await;
            assert_eq!(r.status, 200, "{at} s into the overlap: {}", r.body);
        }
    }

    advance_to(&f.clock, rotated_at + Duration::seconds(60));
    let after = access_token(&ask(&app, "/token", &new_auth, FORM, "192.0.2.1", &[]).await);
    for (path, body) in [
        ("/token", FORM.to_owned()),
        ("/revoke", token_form(&after)),
        ("/introspect", token_form(&before)),
    ] {
        let ran_out = ask(&app, path, &old_auth, &body, "192.0.2.2", &[]).await;
        let wrong_secret = ask(&app, path, &wrong, &body, "192.0.2.2", &[]).await;
        assert_invalid_client(&ran_out, &wrong_secret, path);
    }
    // The new secret works everywhere, and the token issued with the old secret before
    // the rotation is still live: tokens belong to the keypair, not to a secret.
    let r = ask(
        &app,
        "/introspect",
        &new_auth,
        &token_form(&before),
        "192.0.2.1",
        &[],
    )
    .await;
    assert_eq!(r.json()["active"], true, "{}", r.body);
    let r = ask(
        &app,
        "/revoke",
        &new_auth,
        "token=not-a-token",
        "192.0.2.1",
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // No overlap: the secret in use stops at once, and so do the tokens issued so far.
    let (_, newest) = store
        .rotate_secret(
            &actor(),
            &kp.client_id,
            Rotation {
                previous_secret_expires_in_seconds: 0,
                end_oldest: false,
            },
            f.clock.now(),
        )
        .unwrap();
    let newest_auth = basic(kp.client_id.as_str(), newest.expose());
    let ended = ask(&app, "/token", &new_auth, FORM, "192.0.2.3", &[]).await;
    let wrong_secret = ask(&app, "/token", &wrong, FORM, "192.0.2.3", &[]).await;
    assert_invalid_client(
        &ended,
        &wrong_secret,
        "secret ended by a rotation without overlap",
    );
    let r = ask(
        &app,
        "/introspect",
        &newest_auth,
        &token_form(&after),
        "192.0.2.1",
        &[],
    )
    .await;
    assert_eq!(r.body, r#"{"active":false}"#);
    let r = ask(&app, "/token", &newest_auth, FORM, "192.0.2.1", &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Without `throttle.client_ip_header` the TCP peer is the address: IPv4 and IPv6
/// CIDRs, an IPv4-mapped IPv6 peer counted as the IPv4 address it is, and a forwarding
/// header ignored whatever it says.
async fn allowlist_takes_the_tcp_peer_when_no_header_is_configured(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let store = &f.db.store;
    let scopes = ["feedback:read", "keygate:introspect"];
    let allowed = ["192.0.2.0/24", "2001:db8:1::/48"];
    let (kp, secret) = keypair_with(store, &scopes, None, &allowed, None, f.clock.now());
    let right = basic(kp.client_id.as_str(), secret.expose());
    let wrong = basic(kp.client_id.as_str(), ClientSecret::generate().expose());

    let cases: [AddressCase; 11] = [
        ("192.0.2.77", &[], true),
        ("192.0.2.0", &[], true),
        ("192.0.2.255", &[], true),
        ("::ffff:192.0.2.77", &[], true),
        ("2001:db8:1:2::5", &[], true),
        ("192.0.3.1", &[], false),
        ("198.51.100.1", &[], false),
        ("::ffff:198.51.100.1", &[], false),
        ("2001:db8:2::1", &[], false),
        // Not configured: the header is whatever the client says, and is ignored.
        ("198.51.100.1", &[(XFF, "192.0.2.77")], false),
        ("192.0.2.77", &[(XFF, "198.51.100.1")], true),
    ];
    let reference = ask(&app, "/token", &wrong, FORM, "192.0.2.1", &[]).await;
    for (peer, headers, admitted) in cases {
        let r = ask(&app, "/token", &right, FORM, peer, headers).await;
        let what = format!("from {peer} with {headers:?}");
        if admitted {
            assert_eq!(r.status, 200, "{what}: {}", r.body);
        } else {
            assert_invalid_client(&r, &reference, &what);
        }
    }

    // /revoke and /introspect take the address the same way.
    let token = access_token(&ask(&app, "/token", &right, FORM, "2001:db8:1::9", &[]).await);
    for path in ["/introspect", "/revoke"] {
        let body = token_form(&token);
        let outside = ask(&app, path, &right, &body, "2001:db8:2::9", &[]).await;
        let wrong_secret = ask(&app, path, &wrong, &body, "2001:db8:1::9", &[]).await;
        assert_invalid_client(&outside, &wrong_secret, path);
        let inside = ask(&app, path, &right, &body, "::ffff:192.0.2.9", &[]).await;
        assert_eq!(inside.status, 200, "{path}: {}", inside.body);
    }
}

/// With `throttle.client_ip_header` configured, the rightmost address of that header
/// (over all its lines) is the client's, and the TCP peer (the proxy) counts only when
/// the header is missing.
async fn allowlist_takes_the_rightmost_forwarded_address_when_configured(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let svc = service_with(
        &f.db.store,
        &f.kek,
        SigningAlgorithm::EdDSA,
        &f.clock,
        &[("KEYGATE_THROTTLE_CLIENT_IP_HEADER", "X-Forwarded-For")],
    );
    let app = app!(svc);
    let store = &f.db.store;
    let scopes = ["feedback:read", "keygate:introspect"];
    let allowed = ["192.0.2.0/24", "2001:db8:1::/48"];
    let (kp, secret) = keypair_with(store, &scopes, None, &allowed, None, f.clock.now());
    let right = basic(kp.client_id.as_str(), secret.expose());
    let wrong = basic(kp.client_id.as_str(), ClientSecret::generate().expose());

    let cases: [AddressCase; 16] = [
        (PROXY, &[], false),
        (PROXY, &[(XFF, "192.0.2.9")], true),
        (PROXY, &[(XFF, "198.51.100.1")], false),
        (PROXY, &[(XFF, "198.51.100.1, 192.0.2.9")], true),
        (PROXY, &[(XFF, "192.0.2.9, 198.51.100.1")], false),
        (PROXY, &[(XFF, "198.51.100.1"), (XFF, "192.0.2.9")], true),
        (PROXY, &[(XFF, "192.0.2.9"), (XFF, "198.51.100.1")], false),
        (PROXY, &[(XFF, "::ffff:192.0.2.9")], true),
        (PROXY, &[(XFF, "2001:db8:1::7")], true),
        (PROXY, &[(XFF, "2001:db8:2::7")], false),
        (PROXY, &[(XFF, "192.0.2.9:5678")], true),
        (PROXY, &[(XFF, "[2001:db8:1::7]:443")], true),
        (PROXY, &[(XFF, "192.0.2.9, ")], true),
        // A rightmost entry that is not an address: the peer, never the entry the
        // client wrote further left.
        (PROXY, &[(XFF, "192.0.2.9, unknown")], false),
        (PROXY, &[(XFF, "192.0.2.9"), (XFF, "unknown")], false),
        // The header wins over an allowed peer.
        ("192.0.2.9", &[(XFF, "198.51.100.1")], false),
    ];
    let reference = ask(&app, "/token", &wrong, FORM, PROXY, &[(XFF, "192.0.2.1")]).await;
    for (peer, headers, admitted) in cases {
        let r = ask(&app, "/token", &right, FORM, peer, headers).await;
        let what = format!("from {peer} with {headers:?}");
        if admitted {
            assert_eq!(r.status, 200, "{what}: {}", r.body);
        } else {
            assert_invalid_client(&r, &reference, &what);
        }
    }
    let token =
        access_token(&ask(&app, "/token", &right, FORM, PROXY, &[(XFF, "192.0.2.9")]).await);
    for path in ["/introspect", "/revoke"] {
        let body = token_form(&token);
        let outside = ask(
            &app,
            path,
            &right,
            &body,
            "192.0.2.9",
            &[(XFF, "198.51.100.7")],
        )
        .await;
        let wrong_secret = ask(&app, path, &wrong, &body, PROXY, &[(XFF, "192.0.2.9")]).await;
        assert_invalid_client(&outside, &wrong_secret, path);
        let inside = ask(
            &app,
            path,
            &right,
            &body,
            PROXY,
            &[(XFF, "198.51.100.7, 192.0.2.9")],
        )
        .await;
        assert_eq!(inside.status, 200, "{path}: {}", inside.body);
    }
}

/// A wrong secret from outside the list gets the same answer as the right secret from
/// outside and a wrong one from inside; each counts as a failure for the throttle (an
/// IPv4 address and its IPv4-mapped form are one address), and the real client keeps
/// working from an allowed address.
async fn refusals_from_outside_the_list_are_throttled_like_wrong_secrets(db: TestDb) {
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let store = &f.db.store;
    let (kp, secret) = keypair_with(
        store,
        &["feedback:read"],
        None,
        &["192.0.2.0/24"],
        None,
        f.clock.now(),
    );
    let right = basic(kp.client_id.as_str(), secret.expose());
    let wrong = basic(kp.client_id.as_str(), ClientSecret::generate().expose());
    let inside = "192.0.2.5";
    let reference = ask(&app, "/token", &wrong, FORM, inside, &[]).await;

    // 10 failures per (client id, address) a minute by default: five wrong secrets and
    // five right ones, half of them from the IPv4-mapped form of the same address.
    for i in 0..10 {
        let auth = if i % 2 == 0 { &wrong } else { &right };
        let peer = if i < 5 {
            "203.0.113.7"
        } else {
            "::ffff:203.0.113.7"
        };
        let r = ask(&app, "/token", auth, FORM, peer, &[]).await;
        assert_invalid_client(&r, &reference, &format!("attempt {i} from {peer}"));
    }
    for peer in ["203.0.113.7", "::ffff:203.0.113.7"] {
        let r = ask(&app, "/token", &right, FORM, peer, &[]).await;
        assert_eq!(r.status, 429, "{peer} after 10 failures: {}", r.body);
        assert_eq!(r.error(), "temporarily_unavailable");
    }
    let r = ask(&app, "/token", &right, FORM, inside, &[]).await;
    assert_eq!(
        r.status, 200,
        "the real client is not locked out: {}",
        r.body
    );
}

/// What every test of this binary logs from the first call on, at every level. Tests
/// run in parallel, so a test picks its lines by its own client ids.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogSink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in this test binary");
        buffer
    })
    .clone()
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log says why a right secret was refused (`address_not_allowed`, `expired`),
/// with the client id, at all three endpoints, and never holds a presented secret.
async fn refusals_are_logged_with_their_reason_and_never_the_secret(db: TestDb) {
    let logs = captured_logs();
    let f = fixture(db, SigningAlgorithm::EdDSA);
    let app = app!(f.service);
    let store = &f.db.store;
    let scopes = ["feedback:read", "keygate:introspect"];
    let (pinned, secret) =
        keypair_with(store, &scopes, None, &["192.0.2.0/24"], None, f.clock.now());
    let expires_at = second_after(f.clock.now(), 10);
    let (expiring, expiring_secret) =
        keypair_with(store, &scopes, Some(expires_at), &[], None, f.clock.now());
    let right = basic(pinned.client_id.as_str(), secret.expose());
    let wrong_secret = ClientSecret::generate();
    let wrong = basic(pinned.client_id.as_str(), wrong_secret.expose());
    let token = access_token(&ask(&app, "/token", &right, FORM, "192.0.2.1", &[]).await);

    let paths = [
        ("/token", FORM.to_owned()),
        ("/revoke", token_form(&token)),
        ("/introspect", token_form(&token)),
    ];
    for (path, body) in &paths {
        let r = ask(&app, path, &right, body, "198.51.100.1", &[]).await;
        assert_eq!(r.status, 401, "{path}");
        let r = ask(&app, path, &wrong, body, "198.51.100.1", &[]).await;
        assert_eq!(r.status, 401, "{path}");
    }
    advance_to(&f.clock, expires_at);
    let expired = basic(expiring.client_id.as_str(), expiring_secret.expose());
    for (path, body) in &paths {
        let r = ask(&app, path, &expired, body, "192.0.2.1", &[]).await;
        assert_eq!(r.status, 401, "{path}");
    }

    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let lines_of = |id: &ClientId, reason: &str| {
        text.lines()
            .filter(|l| l.contains(id.as_str()) && l.contains("client authentication failed"))
            .filter(|l| l.contains(reason))
            .count()
    };
    assert_eq!(
        lines_of(&pinned.client_id, "address_not_allowed"),
        3,
        "one line per endpoint:\n{text}"
    );
    assert_eq!(lines_of(&pinned.client_id, "wrong_secret"), 3, "{text}");
    assert_eq!(lines_of(&expiring.client_id, "\"expired\""), 3, "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("address_not_allowed") && l.contains("198.51.100.1")),
        "the refused address is logged: {text}"
    );
    for leaked in [
        secret.expose(),
        wrong_secret.expose(),
        expiring_secret.expose(),
        &right["Basic ".len()..],
        &wrong["Basic ".len()..],
    ] {
        assert!(!text.contains(leaked), "a secret in the log");
    }
}
