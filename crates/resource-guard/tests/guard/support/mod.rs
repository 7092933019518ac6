//! Test fixtures: signing keys and their JWKs, keygate-shaped tokens, a test clock, a
//! counting key provider, status lists (encoded here with flate2, independently of the
//! guard's decoder) served by a [`ListServer`], and a tiny fake issuer on 127.0.0.1
//! that serves both and can be made to misbehave.
//!
//! Shared by the test binary (`tests/guard`) and `benches/validate.rs` (which includes
//! this file by path), so nothing here depends on actix.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use clock::{Clock, TestClock};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use resource_guard::{FetchError, Guard, GuardBuilder, JwksProvider, StatusListProvider};
use serde_json::{json, Value};
use time::OffsetDateTime;

mod lists;
pub use lists::*;

/// The issuer every test token names (`iss`).
pub const ISSUER: &str = "https://keygate.test";
/// The audience of the Feedback API (`aud`).
pub const AUDIENCE: &str = "feedback-api";
/// The client every test token is issued to (`sub` = `client_id`).
pub const CLIENT_ID: &str = "kg_test_client";

/// base64url without padding, as JOSE uses it.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Where every test clock starts.
pub const T0: OffsetDateTime = time::macros::datetime!(2030-01-01 00:00 UTC);

/// `T0` in seconds since the epoch: "now" for the claims of test tokens.
pub fn now() -> i64 {
    T0.unix_timestamp()
}

/// A test clock standing at `T0` until a test moves it.
pub fn test_clock() -> TestClock {
    TestClock::new(T0)
}

/// Random hex, for `jti`s and attacker `kid`s.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).expect("randomness");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A signing key with everything a test needs to sign with it and to publish it.
#[derive(Clone)]
pub struct TestKey {
    /// Its key id.
    pub kid: String,
    /// The algorithm the issuer declares for it (`alg` of its JWK).
    pub alg: Algorithm,
    /// The private key, for `jsonwebtoken::encode`.
    pub encoding: EncodingKey,
    /// The public key as `UnparsedPublicKey` takes it: Ed25519 raw 32 bytes, P-256
    /// uncompressed point, RSA `RSAPublicKey` (PKCS#1) DER.
    pub public: Vec<u8>,
    /// The public key as SubjectPublicKeyInfo DER.
    pub spki_der: Vec<u8>,
    /// The public JWK the issuer publishes (`kid`, `alg`, `use: sig`).
    pub jwk: Value,
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestKey({} {:?})", self.kid, self.alg)
    }
}

impl TestKey {
    /// A new Ed25519 key (`EdDSA`).
    pub fn ed25519(kid: &str) -> TestKey {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("Ed25519 key");
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("Ed25519 PKCS#8");
        let public = pair.public_key().as_ref().to_vec();
        let spki: PublicKeyX509Der<'static> = pair.public_key().as_der().expect("SPKI");
        TestKey {
            kid: kid.to_owned(),
            alg: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
            jwk: json!({
                "kty": "OKP", "crv": "Ed25519", "x": b64(&public),
                "kid": kid, "alg": "EdDSA", "use": "sig",
            }),
            public,
            spki_der: spki.as_ref().to_vec(),
        }
    }

    /// A new P-256 key (`ES256`).
    pub fn p256(kid: &str) -> TestKey {
        let alg = &ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).expect("P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).expect("P-256 PKCS#8");
        let public = pair.public_key().as_ref().to_vec();
        assert_eq!(public.len(), 65, "uncompressed point");
        let spki: PublicKeyX509Der<'static> = pair.public_key().as_der().expect("SPKI");
        TestKey {
            kid: kid.to_owned(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: json!({
                "kty": "EC", "crv": "P-256", "x": b64(&public[1..33]), "y": b64(&public[33..]),
                "kid": kid, "alg": "ES256", "use": "sig",
            }),
            public,
            spki_der: spki.as_ref().to_vec(),
        }
    }

    /// A new RSA-2048 key (`RS256`). Slower to make: share it where possible.
    pub fn rsa(kid: &str) -> TestKey {
        let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key");
        let pkcs8 =
            AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'static>>::as_der(&pair).expect("RSA PKCS#8");
        // jsonwebtoken takes RSA private keys as PKCS#1 DER, or as PEM (PKCS#1 or #8).
        let encoding = EncodingKey::from_rsa_pem(pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes())
            .expect("RSA PEM");
        let n = pair
            .public_key()
            .modulus()
            .big_endian_without_leading_zero();
        let e = pair
            .public_key()
            .exponent()
            .big_endian_without_leading_zero();
        let spki: PublicKeyX509Der<'static> = pair.public_key().as_der().expect("SPKI");
        TestKey {
            kid: kid.to_owned(),
            alg: Algorithm::RS256,
            encoding,
            jwk: json!({
                "kty": "RSA", "n": b64(n), "e": b64(e),
                "kid": kid, "alg": "RS256", "use": "sig",
            }),
            public: pair.public_key().as_ref().to_vec(),
            spki_der: spki.as_ref().to_vec(),
        }
    }

    /// The same key under another `kid`.
    pub fn with_kid(&self, kid: &str) -> TestKey {
        let mut k = self.clone();
        k.kid = kid.to_owned();
        k.jwk["kid"] = json!(kid);
        k
    }

    /// The public key as a PEM `PUBLIC KEY` document.
    pub fn public_pem(&self) -> String {
        pem("PUBLIC KEY", &self.spki_der)
    }
}

/// A PEM document (64-column base64 body).
pub fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The issuer's published keys, made once per test binary.
#[derive(Debug)]
pub struct IssuerKeys {
    /// `kid` `ed-1`, EdDSA (keygate's default).
    pub ed: TestKey,
    /// `kid` `ec-1`, ES256.
    pub ec: TestKey,
    /// `kid` `rsa-1`, RS256.
    pub rsa: TestKey,
}

/// The shared issuer keys.
pub fn issuer_keys() -> &'static IssuerKeys {
    static KEYS: OnceLock<IssuerKeys> = OnceLock::new();
    KEYS.get_or_init(|| IssuerKeys {
        ed: TestKey::ed25519("ed-1"),
        ec: TestKey::p256("ec-1"),
        rsa: TestKey::rsa("rsa-1"),
    })
}

/// A JWKS document publishing `keys`.
pub fn jwks(keys: &[&TestKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }).to_string()
}

/// The JWKS of all three issuer keys.
pub fn issuer_jwks() -> String {
    let k = issuer_keys();
    jwks(&[&k.ed, &k.ec, &k.rsa])
}

/// Claims shaped like keygate's, issued at `T0` and valid for an hour.
pub fn claims() -> Value {
    claims_at(now())
}

/// The list every test token points at unless it says otherwise.
pub const LIST_ID: &str = "sl_00112233445566778899aabbccddeeff";
/// The entry of [`LIST_ID`] test tokens carry.
pub const IDX: u64 = 7;
/// How many entries the lists a [`ListServer`] opens have.
pub const LIST_ENTRIES: usize = 64;

/// The URI of list `id` of `issuer`.
pub fn list_uri_of(issuer: &str, id: &str) -> String {
    format!("{issuer}/statuslists/{id}")
}

/// The URI of list `id` of [`ISSUER`].
pub fn list_uri(id: &str) -> String {
    list_uri_of(ISSUER, id)
}

/// A `status` claim pointing at entry `idx` of the list at `uri`.
pub fn status_claim(idx: u64, uri: &str) -> Value {
    json!({"status_list": {"idx": idx, "uri": uri}})
}

/// Claims shaped like keygate's, issued at `now` (seconds since the epoch) and valid
/// for an hour.
pub fn claims_at(now: i64) -> Value {
    json!({
        "status": status_claim(IDX, &list_uri(LIST_ID)),
        "iss": ISSUER,
        "sub": CLIENT_ID,
        "client_id": CLIENT_ID,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 3600,
        "jti": random_hex(16),
        "scope": "feedback:read feedback:write",
        "acct": "acc_1",
        "env": "env_1",
    })
}

/// `claims()` with `changes` applied (`null` removes a claim).
pub fn claims_with(changes: Value) -> Value {
    let mut c = claims();
    if let (Some(obj), Some(changes)) = (c.as_object_mut(), changes.as_object()) {
        for (k, v) in changes {
            if v.is_null() {
                obj.remove(k);
            } else {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
    c
}

/// `claims()` of the issuer at `issuer` (`iss` and the status list's URI).
pub fn claims_for(issuer: &str) -> Value {
    claims_with(json!({
        "iss": issuer,
        "status": status_claim(IDX, &list_uri_of(issuer, LIST_ID)),
    }))
}

/// A token as keygate signs it: header `typ: at+jwt`, the key's `alg` and `kid`.
pub fn sign(key: &TestKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.typ = Some("at+jwt".into());
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).expect("encode")
}

/// A token with an arbitrary JSON header, signed with `encoding` under `alg`.
pub fn sign_raw(header: &Value, claims: &Value, encoding: &EncodingKey, alg: Algorithm) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), encoding, alg).expect("sign");
    format!("{input}.{sig}")
}

/// A JWKS provider that counts fetches and can be switched to fail or to new keys.
#[derive(Debug)]
pub struct CountingJwks {
    doc: Mutex<String>,
    fetches: AtomicUsize,
    failing: AtomicBool,
}

impl CountingJwks {
    /// Serving `doc`.
    pub fn new(doc: String) -> Arc<CountingJwks> {
        Arc::new(CountingJwks {
            doc: Mutex::new(doc),
            fetches: AtomicUsize::new(0),
            failing: AtomicBool::new(false),
        })
    }

    /// Fetches so far.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Serve `doc` from now on.
    pub fn set(&self, doc: String) {
        *self.doc.lock().expect("doc lock") = doc;
    }

    /// Make fetches fail (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

impl JwksProvider for CountingJwks {
    fn fetch(&self) -> Result<String, FetchError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(FetchError("issuer unavailable (test)".into()));
        }
        Ok(self.doc.lock().expect("doc lock").clone())
    }
}

/// A guard for `ISSUER`/`AUDIENCE` fed by `provider`, without background key refresh,
/// reading a test clock that stands at `T0` (`.clock(..)` replaces it), with status
/// lists from a fresh [`ListServer`] of its own (`.status_list_provider(..)` replaces
/// it).
pub fn guard_builder(provider: &Arc<CountingJwks>) -> GuardBuilder {
    let provider: Arc<dyn JwksProvider> = provider.clone();
    let lists: Arc<dyn StatusListProvider> = ListServer::new(ISSUER);
    Guard::builder(ISSUER, AUDIENCE)
        .jwks_provider(provider)
        .refresh_interval(None)
        .clock(test_clock().clock())
        .status_list_provider(lists)
}

/// A guard over the issuer keys whose status lists come from the returned
/// [`ListServer`], and the test clock both read.
pub fn status_guard_builder() -> (GuardBuilder, Arc<CountingJwks>, Arc<ListServer>, TestClock) {
    let provider = CountingJwks::new(issuer_jwks());
    let clock = test_clock();
    let lists = ListServer::new(ISSUER);
    lists.set_clock(clock.clock());
    let served: Arc<dyn StatusListProvider> = lists.clone();
    let builder = guard_builder(&provider)
        .clock(clock.clock())
        .status_list_provider(served);
    (builder, provider, lists, clock)
}

/// A guard over the issuer keys, and its provider.
pub fn issuer_guard() -> (Guard, Arc<CountingJwks>) {
    let provider = CountingJwks::new(issuer_jwks());
    (guard_builder(&provider).build(), provider)
}

/// How the fake issuer answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Metadata and JWKS as keygate serves them.
    Serve = 0,
    /// Accepts connections and never answers.
    Hang = 1,
    /// 200 with a body that is not JSON.
    NotJson = 2,
    /// 200 with JSON that is no JWKS (`{"keys": "nope"}`).
    NoKeysArray = 3,
    /// 200 with a JWKS whose entries are all unusable.
    JunkKeys = 4,
    /// 500.
    ServerError = 5,
    /// 200 with a 1 MiB body.
    Huge = 6,
    /// Metadata naming another issuer.
    ForeignMetadata = 7,
    /// The port is closed: the listener is dropped.
    Down = 8,
}

/// A fake keygate on 127.0.0.1: `/.well-known/oauth-authorization-server`, `/jwks`
/// and `/statuslists/{id}`. Its thread ends by itself after a while or when switched to `Down`.
#[derive(Debug)]
pub struct FakeIssuer {
    /// `http://127.0.0.1:PORT`, the issuer URL.
    pub base: String,
    /// The status lists it serves at `/statuslists/{id}`.
    pub lists: Arc<ListServer>,
    mode: Arc<AtomicU8>,
    jwks: Arc<Mutex<String>>,
    jwks_requests: Arc<AtomicUsize>,
}

/// How long a fake issuer's thread lives at most.
const FAKE_ISSUER_LIFETIME: Duration = Duration::from_secs(30);

impl FakeIssuer {
    /// Starts serving `jwks` in `mode`.
    pub fn start(jwks: String, mode: Mode) -> FakeIssuer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.set_nonblocking(true).expect("nonblocking");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let issuer = FakeIssuer {
            base: base.clone(),
            lists: ListServer::new(&base),
            mode: Arc::new(AtomicU8::new(mode as u8)),
            jwks: Arc::new(Mutex::new(jwks)),
            jwks_requests: Arc::new(AtomicUsize::new(0)),
        };
        let (mode, jwks, hits, lists) = (
            issuer.mode.clone(),
            issuer.jwks.clone(),
            issuer.jwks_requests.clone(),
            issuer.lists.clone(),
        );
        std::thread::spawn(move || {
            // A real-time deadline: the fake issuer serves real sockets.
            let clock = Clock::system();
            let deadline = clock.instant() + FAKE_ISSUER_LIFETIME;
            let mut held = Vec::new(); // connections left hanging
            while clock.instant() < deadline {
                let m = mode.load(Ordering::SeqCst);
                if m == Mode::Down as u8 {
                    return; // drops the listener: connections are refused
                }
                match listener.accept() {
                    Ok((stream, _)) if m == Mode::Hang as u8 => held.push(stream),
                    Ok((stream, _)) => answer(stream, m, &base, &jwks, &hits, &lists),
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        issuer
    }

    /// Answer differently from now on.
    pub fn set_mode(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
        if mode == Mode::Down {
            // Wait (bounded) until the port is really closed.
            for _ in 0..200 {
                if TcpStream::connect(self.base.trim_start_matches("http://")).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            panic!("fake issuer did not go down");
        }
    }

    /// Serve `doc` as the JWKS from now on.
    pub fn set_jwks(&self, doc: String) {
        *self.jwks.lock().expect("jwks lock") = doc;
    }

    /// Requests for the JWKS so far.
    pub fn jwks_requests(&self) -> usize {
        self.jwks_requests.load(Ordering::SeqCst)
    }
}

/// Reads one request head and answers it according to `mode`.
fn answer(
    mut stream: TcpStream,
    mode: u8,
    base: &str,
    jwks: &Mutex<String>,
    hits: &AtomicUsize,
    lists: &ListServer,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or("/");
    let metadata = path == "/.well-known/oauth-authorization-server";
    if path == "/jwks" {
        hits.fetch_add(1, Ordering::SeqCst);
    }
    if let Some(id) = path.strip_prefix("/statuslists/") {
        let (status, content_type, body) = match mode {
            m if m == Mode::ServerError as u8 => (500, "text/plain", "oops".to_owned()),
            m if m == Mode::Serve as u8 => match lists.serve(&format!("{base}{path}")) {
                Some(jwt) => (200, "application/statuslist+jwt", jwt),
                None => (404, "application/json", "{}".to_owned()),
            },
            _ => (
                200,
                "application/statuslist+jwt",
                format!("garbage for {id}"),
            ),
        };
        respond(stream, status, content_type, lists.ttl(), &body);
        return;
    }
    let ok_json = |body: String| (200, body);
    let (status, body) = if metadata {
        let issuer = if mode == Mode::ForeignMetadata as u8 {
            "https://evil.example"
        } else {
            base
        };
        ok_json(json!({"issuer": issuer, "jwks_uri": format!("{base}/jwks")}).to_string())
    } else if path != "/jwks" {
        (404, "{}".to_owned())
    } else {
        match mode {
            m if m == Mode::NotJson as u8 => (200, "<html>keys are elsewhere</html>".to_owned()),
            m if m == Mode::NoKeysArray as u8 => ok_json(r#"{"keys":"nope"}"#.to_owned()),
            m if m == Mode::JunkKeys as u8 => ok_json(
                json!({"keys": [
                    {"kty": "OKP", "crv": "Ed25519", "x": "!!", "kid": "ed-1", "alg": "EdDSA"},
                    {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"},
                    {"garbage": true},
                    42,
                ]})
                .to_string(),
            ),
            m if m == Mode::ServerError as u8 => (500, "oops".to_owned()),
            m if m == Mode::Huge as u8 => (200, "[".repeat(1024 * 1024)),
            _ => ok_json(jwks.lock().expect("jwks lock").clone()),
        }
    };
    respond(stream, status, "application/json", 300, &body);
}

/// Writes a whole HTTP/1.1 response and closes.
fn respond(mut stream: TcpStream, status: u16, content_type: &str, max_age: u64, body: &str) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Error",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncache-control: max-age={max_age}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

/// Polls `done` until it holds or a real-time deadline (10 s) passes: for the
/// background refresher, which acts on its own once a test clock has moved.
pub fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let real = Clock::system();
    let deadline = real.instant() + Duration::from_secs(10);
    while real.instant() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done()
}

/// A port on 127.0.0.1 where nothing listens.
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}
