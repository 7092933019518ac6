//! The guard: a cache of verification keys by `kid` (each pinned to one algorithm),
//! rate-limited refetches on unknown keys, background refreshes, and the checks of
//! every token: shape, header, signature (jsonwebtoken's `crypto::verify`), claims.
//! Every decision that depends on time reads the guard's [`Clock`].

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clock::Clock;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::claims::StatusClaim;
use crate::jwks::{parse_jwks, HttpJwks, JwksProvider, VerifyingKey};
use crate::{Claims, GuardError};

/// Clock skew tolerated on `exp`, `nbf` and `iat` (30 s).
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Tokens longer than this are rejected before any parsing (8 KiB).
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// At most one refetch for an unknown `kid` per this interval (30 s).
pub const DEFAULT_MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// Keys are refreshed in the background this often (5 min).
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(300);
/// Bound on each JWKS or metadata request (5 s).
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Configures a [`Guard`]. Every setting has a documented default.
#[derive(Debug)]
pub struct GuardBuilder {
    issuer: String,
    audience: String,
    provider: Option<Arc<dyn JwksProvider>>,
    leeway: Duration,
    max_token_bytes: usize,
    min_refetch_interval: Duration,
    refresh_interval: Option<Duration>,
    fetch_timeout: Duration,
    realm: Option<String>,
    clock: Clock,
}

impl GuardBuilder {
    /// Where keys come from (default: [`HttpJwks`] discovery from the issuer).
    pub fn jwks_provider(mut self, provider: Arc<dyn JwksProvider>) -> Self {
        self.provider = Some(provider);
        self
    }

    /// Clock skew tolerance (default [`DEFAULT_LEEWAY`], 30 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Largest accepted token (default [`DEFAULT_MAX_TOKEN_BYTES`], 8 KiB).
    pub fn max_token_bytes(mut self, n: usize) -> Self {
        self.max_token_bytes = n;
        self
    }

    /// Minimum time between refetches caused by unknown `kid`s (default 30 s).
    pub fn min_refetch_interval(mut self, d: Duration) -> Self {
        self.min_refetch_interval = d;
        self
    }

    /// Background refresh period (default 5 min); `None` disables the refresher thread.
    pub fn refresh_interval(mut self, d: Option<Duration>) -> Self {
        self.refresh_interval = d;
        self
    }

    /// Timeout of each HTTP request of the default provider (default 5 s).
    pub fn fetch_timeout(mut self, d: Duration) -> Self {
        self.fetch_timeout = d;
        self
    }

    /// The realm in `WWW-Authenticate` (default: the guard's audience).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Where the guard reads the time (default [`Clock::system`]): the `exp`, `nbf` and
    /// `iat` checks of [`Guard::validate`], the unknown-`kid` refetch rate limit and the
    /// background refresh schedule. Tests pass a `clock::TestClock`'s clock.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the guard and tries a first key fetch; if the issuer is unreachable the
    /// guard still builds, refuses tokens, and keeps trying.
    pub fn build(self) -> Guard {
        let provider = self
            .provider
            .unwrap_or_else(|| Arc::new(HttpJwks::new(&self.issuer, self.fetch_timeout)));
        let realm = self.realm.unwrap_or_else(|| self.audience.clone());
        let inner = Arc::new(Inner {
            issuer: self.issuer,
            audience: self.audience,
            provider,
            leeway: self.leeway,
            max_token_bytes: self.max_token_bytes,
            min_refetch_interval: self.min_refetch_interval,
            realm,
            clock: self.clock,
            cache: RwLock::new(Cache::default()),
            refetch_gate: std::sync::Mutex::new(None),
        });
        inner.refresh();
        if let Some(every) = self.refresh_interval {
            spawn_refresher(Arc::downgrade(&inner), inner.clock.clone(), every);
        }
        Guard { inner }
    }
}

/// Validates access tokens of one issuer for one audience. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Guard {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    issuer: String,
    audience: String,
    provider: Arc<dyn JwksProvider>,
    leeway: Duration,
    max_token_bytes: usize,
    min_refetch_interval: Duration,
    realm: String,
    clock: Clock,
    cache: RwLock<Cache>,
    /// When the last refetch for an unknown kid happened (rate limit), on `clock`.
    refetch_gate: std::sync::Mutex<Option<Instant>>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, VerifyingKey>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The JOSE header members the guard looks at (RFC 7515 §4.1); others are ignored.
/// Borrowed from the decoded header: no allocation per token.
#[derive(Deserialize)]
struct JoseHeader<'a> {
    alg: Algorithm,
    #[serde(default, borrow)]
    typ: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    kid: Option<Cow<'a, str>>,
    /// Present at all (any value but null): refused, we understand no extension.
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

/// What the guard needs from the payload; anything else is ignored.
#[derive(Deserialize)]
struct RawClaims {
    iss: String,
    client_id: String,
    sub: String,
    #[serde(default)]
    scope: String,
    aud: Audiences,
    exp: i64,
    iat: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    jti: String,
    #[serde(default)]
    acct: Option<String>,
    #[serde(default)]
    env: Option<String>,
    #[serde(default)]
    status: Option<RawStatus>,
}

/// `status` (draft-ietf-oauth-status-list §6.1): `{"status_list": {"idx", "uri"}}`.
#[derive(Deserialize)]
struct RawStatus {
    status_list: StatusClaim,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audiences {
    One(String),
    Many(Vec<String>),
}

/// Outcome of a validation against cached keys only.
pub(crate) enum Cached {
    Valid(Claims),
    Invalid(GuardError),
    /// The `kid` is unknown and a refetch is allowed: call [`Guard::validate`].
    UnknownKey,
}

impl Guard {
    /// A builder for tokens issued by `issuer` (e.g. `https://keygate.example`) for
    /// `audience` (e.g. `feedback-api`).
    pub fn builder(issuer: impl Into<String>, audience: impl Into<String>) -> GuardBuilder {
        GuardBuilder {
            issuer: issuer.into().trim_end_matches('/').to_owned(),
            audience: audience.into(),
            provider: None,
            leeway: DEFAULT_LEEWAY,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            min_refetch_interval: DEFAULT_MIN_REFETCH_INTERVAL,
            refresh_interval: Some(DEFAULT_REFRESH_INTERVAL),
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            realm: None,
            clock: Clock::system(),
        }
    }

    /// The realm for `WWW-Authenticate`: the one given to [`GuardBuilder::realm`], else
    /// the audience.
    pub fn realm(&self) -> &str {
        &self.inner.realm
    }

    /// The clock the guard reads.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Validates a bearer token now, by the guard's clock: `validate_at(token,
    /// clock.now())`.
    pub fn validate(&self, token: &str) -> Result<Claims, GuardError> {
        self.validate_at(token, self.inner.clock.now())
    }

    /// Validates a bearer token as of `now` (`exp`, `nbf` and `iat` are judged against
    /// it, with the leeway). May fetch keys (bounded by the fetch timeout, at most once
    /// per refetch interval of the guard's clock) when the token names an unknown `kid`.
    pub fn validate_at(&self, token: &str, now: OffsetDateTime) -> Result<Claims, GuardError> {
        match self.validate_cached(token, now) {
            Cached::Valid(c) => Ok(c),
            Cached::Invalid(e) => Err(e),
            Cached::UnknownKey => self.validate_after_refetch(token, now),
        }
    }

    /// Refetches keys, then validates with the cached keys only. For a token that
    /// [`Guard::validate_cached`] answered with `UnknownKey`, which already took the
    /// refetch slot: checking the gate again would refuse without fetching.
    pub(crate) fn validate_after_refetch(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<Claims, GuardError> {
        self.inner.refresh();
        match self.inner.check(token, now, false) {
            Cached::Valid(c) => Ok(c),
            Cached::Invalid(e) => Err(e),
            Cached::UnknownKey => Err(GuardError::InvalidToken("unknown key id")),
        }
    }

    /// Validates with the cached keys only; never blocks on the network.
    pub(crate) fn validate_cached(&self, token: &str, now: OffsetDateTime) -> Cached {
        self.inner.check(token, now, true)
    }

    /// Refetches keys now (normally done in the background).
    pub fn refresh(&self) {
        self.inner.refresh();
    }
}

impl Inner {
    fn refresh(&self) {
        match self.provider.fetch().and_then(|doc| parse_jwks(&doc)) {
            Ok(keys) => {
                if let Ok(mut cache) = self.cache.write() {
                    *cache = Cache { keys };
                }
            }
            // Keep the keys we have: validation of known keys goes on during an outage.
            Err(e) => {
                tracing::warn!(error = %e, issuer = %self.issuer, "signing keys not refreshed")
            }
        }
    }

    fn check(&self, token: &str, now: OffsetDateTime, may_refetch: bool) -> Cached {
        let invalid = |why| Cached::Invalid(GuardError::InvalidToken(why));
        if token.len() > self.max_token_bytes {
            return invalid("token too large");
        }
        if token.bytes().filter(|b| *b == b'.').count() != 2
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return invalid("not a compact JWS");
        }
        let (encoded_header, _) = token.split_once('.').unwrap_or((token, ""));
        let Ok(header_json) = URL_SAFE_NO_PAD.decode(encoded_header) else {
            return invalid("malformed header");
        };
        let Ok(header) = serde_json::from_slice::<JoseHeader<'_>>(&header_json) else {
            return invalid("malformed header");
        };
        if !matches!(header.typ.as_deref(), Some(t) if t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt"))
        {
            return invalid("typ is not at+jwt");
        }
        // RFC 7515 §4.1.11: critical extensions must be understood; we understand none.
        if header.crit.is_some() {
            return invalid("critical header extensions");
        }
        let Some(kid) = header.kid.as_deref() else {
            return invalid("no kid");
        };
        let Ok(cache) = self.cache.read() else {
            return invalid("key cache unavailable");
        };
        let Some(key) = cache.keys.get(kid) else {
            drop(cache);
            return if may_refetch && self.may_refetch() {
                Cached::UnknownKey
            } else {
                invalid("unknown key id")
            };
        };
        if key.alg != header.alg {
            return invalid("algorithm does not match the key");
        }
        // The signature first: nothing in the payload is looked at before it verifies.
        let (signing_input, signature) = token.rsplit_once('.').unwrap_or((token, ""));
        if !matches!(
            jsonwebtoken::crypto::verify(signature, signing_input.as_bytes(), &key.key, key.alg),
            Ok(true)
        ) {
            return invalid("bad signature");
        }
        drop(cache);
        let payload = signing_input.split_once('.').map_or("", |(_, p)| p);
        let Some(c) = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|json| serde_json::from_slice::<RawClaims>(&json).ok())
        else {
            return invalid("malformed token");
        };
        match self.check_claims(&c, now.unix_timestamp()) {
            Err(why) => invalid(why),
            Ok(()) => Cached::Valid(Claims {
                client_id: c.client_id,
                account_id: c.acct,
                environment_id: c.env,
                scopes: c
                    .scope
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect::<BTreeSet<_>>(),
                audiences: match c.aud {
                    Audiences::One(a) => vec![a],
                    Audiences::Many(v) => v,
                },
                expires_at: c.exp,
                issued_at: c.iat,
                token_id: c.jti,
                status: c.status.map(|s| s.status_list),
            }),
        }
    }

    /// The registered claims of a token whose signature verified (RFC 7519 §4.1,
    /// RFC 9068 §4): our issuer exactly, our audience among `aud`, `exp` in the future
    /// and `nbf`/`iat` not, each within the leeway, and `client_id` equal to `sub`.
    /// `now` is in seconds since the epoch.
    fn check_claims(&self, c: &RawClaims, now: i64) -> Result<(), &'static str> {
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX);
        if c.iss != self.issuer {
            return Err("wrong issuer");
        }
        let ours = |a: &String| *a == self.audience;
        if !match &c.aud {
            Audiences::One(a) => ours(a),
            Audiences::Many(v) => v.iter().any(ours),
        } {
            return Err("wrong audience");
        }
        if now >= c.exp.saturating_add(leeway) {
            return Err("expired");
        }
        if c.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err("not yet valid");
        }
        if c.iat > now.saturating_add(leeway) {
            return Err("issued in the future");
        }
        if c.client_id != c.sub {
            return Err("client_id differs from sub");
        }
        Ok(())
    }

    /// True (and the gate closed for the interval) if an unknown-kid refetch may run now.
    fn may_refetch(&self) -> bool {
        let Ok(mut last) = self.refetch_gate.lock() else {
            return false;
        };
        let now = self.clock.instant();
        match *last {
            Some(t) if now.duration_since(t) < self.min_refetch_interval => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }
}

/// Longest real-time nap of the refresher between looks at the clock: it notices a
/// dropped guard within this. A test clock moves without real time passing, so the
/// refresher looks at one far more often.
const REFRESHER_NAP: Duration = Duration::from_secs(1);
const REFRESHER_NAP_TEST_CLOCK: Duration = Duration::from_millis(10);

/// Refreshes keys every `every` of `clock` until the guard is dropped. The thread naps
/// on a real timer; whether a refresh is due is decided by `clock`.
fn spawn_refresher(inner: Weak<Inner>, clock: Clock, every: Duration) {
    let nap = if clock.is_test() {
        REFRESHER_NAP_TEST_CLOCK
    } else {
        REFRESHER_NAP
    };
    // The first refresh is due one interval after the guard is built. An interval too
    // long to represent never comes due.
    let Some(mut due) = clock.instant().checked_add(every) else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("resource-guard-jwks".into())
        .spawn(move || loop {
            let now = clock.instant();
            if now < due {
                std::thread::sleep(due.saturating_duration_since(now).min(nap));
                if inner.strong_count() == 0 {
                    return;
                }
                continue;
            }
            match inner.upgrade() {
                Some(inner) => inner.refresh(),
                None => return,
            }
            match clock.instant().checked_add(every) {
                Some(next) => due = next,
                None => return,
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the JWKS refresher; keys refresh on unknown kids only");
    }
}
