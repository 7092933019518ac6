//! The guard: a cache of verification keys by `kid` (each pinned to one algorithm),
//! rate-limited refetches on unknown keys, background refreshes, and the checks of
//! every token: shape, header, signature (jsonwebtoken's `crypto::verify`), claims,
//! then its status (the [`crate::status`] lists, verified with the same keys).
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
use crate::status::{
    self, HttpStatusLists, Outcome, StatusConfig, StatusListProvider, StatusLists,
};
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
/// Bound on each status list request, and on how long validations wait for it (5 s).
pub const DEFAULT_STATUS_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// At most this many lists the guard does not hold are fetched per
/// [`DEFAULT_STATUS_NEW_LIST_INTERVAL`] (10).
pub const DEFAULT_STATUS_NEW_LISTS: u32 = 10;
/// The interval of the new-list budget (30 s).
pub const DEFAULT_STATUS_NEW_LIST_INTERVAL: Duration = Duration::from_secs(30);
/// A list whose first fetch failed (404 or otherwise) is not fetched again, and its
/// tokens are refused, for this long (30 s).
pub const DEFAULT_STATUS_UNKNOWN_LIST_BACKOFF: Duration = Duration::from_secs(30);
/// Largest status list accepted, in entries (2^24: 4 MiB at 2 bits per entry).
pub const DEFAULT_STATUS_MAX_LIST_ENTRIES: u64 = 1 << 24;
/// Lists are refreshed at most this often, whatever their `ttl` says (1 s).
pub const DEFAULT_STATUS_TTL_FLOOR: Duration = Duration::from_secs(1);
/// Lists are refreshed at least this often, whatever their `ttl` says (5 min).
pub const DEFAULT_STATUS_TTL_CEILING: Duration = Duration::from_secs(300);

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
    status_checks: bool,
    status_provider: Option<Arc<dyn StatusListProvider>>,
    allow_missing_status_before: Option<OffsetDateTime>,
    status_fetch_timeout: Duration,
    status_new_lists: (u32, Duration),
    status_unknown_list_backoff: Duration,
    status_max_list_entries: u64,
    status_ttl_bounds: (Duration, Duration),
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

    /// Background key refresh period (default 5 min); `None` turns the key refresh
    /// off. Status lists, when checked, are refreshed by the same background thread
    /// every `ttl` either way.
    pub fn refresh_interval(mut self, d: Option<Duration>) -> Self {
        self.refresh_interval = d;
        self
    }

    /// Timeout of each HTTP request of the default key provider (default 5 s).
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

    /// Whether tokens' status is checked (default `true`). With `false` the guard
    /// ignores the `status` claim and never fetches a status list: a token stays valid
    /// until its `exp` even after its keypair is disabled, deleted or revoked. Only for
    /// resource servers that check status some other way (keygate's admin API reads
    /// it from its database) or that accept that.
    pub fn status_checks(mut self, enabled: bool) -> Self {
        self.status_checks = enabled;
        self
    }

    /// Accepts tokens without a `status` claim if they were issued (`iat`) before `t`
    /// (default: such tokens are refused). For upgrades from an issuer that did not
    /// yet put status in its tokens: set `t` to when it started, and drop the setting
    /// once the older tokens have expired.
    pub fn allow_missing_status_before(mut self, t: OffsetDateTime) -> Self {
        self.allow_missing_status_before = Some(t);
        self
    }

    /// Where status lists come from (default: [`HttpStatusLists`], `GET` of the
    /// token's `uri`).
    pub fn status_list_provider(mut self, provider: Arc<dyn StatusListProvider>) -> Self {
        self.status_provider = Some(provider);
        self
    }

    /// Timeout of each status list request of the default provider, and longest wait
    /// of validations sharing a first fetch (default 5 s).
    pub fn status_fetch_timeout(mut self, d: Duration) -> Self {
        self.status_fetch_timeout = d;
        self
    }

    /// At most `max` first fetches of lists the guard does not hold per `per` of the
    /// guard's clock (default 10 per 30 s); tokens pointing at other unknown lists are
    /// refused meanwhile. Refreshes of held lists do not count.
    pub fn status_new_list_budget(mut self, max: u32, per: Duration) -> Self {
        self.status_new_lists = (max, per);
        self
    }

    /// How long a list whose first fetch failed (404, an error, or a list that did not
    /// verify) is not fetched again; its tokens are refused meanwhile (default 30 s).
    pub fn status_unknown_list_backoff(mut self, d: Duration) -> Self {
        self.status_unknown_list_backoff = d;
        self
    }

    /// Largest list accepted, in entries (default 2^24, 4 MiB at 2 bits per entry).
    /// Bigger lists are refused while inflating, and their tokens with them.
    pub fn status_max_list_entries(mut self, n: u64) -> Self {
        self.status_max_list_entries = n;
        self
    }

    /// The `ttl` honoured is the list's own (5 s if it names none) clamped to
    /// `[floor, ceiling]` (default 1 s to 5 min). A floor under 1 s counts as 1 s, a
    /// ceiling under the floor as the floor.
    pub fn status_ttl_bounds(mut self, floor: Duration, ceiling: Duration) -> Self {
        self.status_ttl_bounds = (floor, ceiling);
        self
    }

    /// Builds the guard and tries a first key fetch; if the issuer is unreachable the
    /// guard still builds, refuses tokens, and keeps trying.
    pub fn build(self) -> Guard {
        let provider = self
            .provider
            .unwrap_or_else(|| Arc::new(HttpJwks::new(&self.issuer, self.fetch_timeout)));
        let realm = self.realm.unwrap_or_else(|| self.audience.clone());
        let status = self.status_checks.then(|| {
            let floor = self.status_ttl_bounds.0.max(status::MIN_TTL_FLOOR);
            let config = StatusConfig {
                allow_missing_before: self
                    .allow_missing_status_before
                    .map(OffsetDateTime::unix_timestamp),
                fetch_timeout: self.status_fetch_timeout,
                new_lists: self.status_new_lists.0,
                new_lists_per: self.status_new_lists.1,
                unknown_list_backoff: self.status_unknown_list_backoff,
                max_entries: self.status_max_list_entries,
                ttl_floor: floor,
                ttl_ceiling: self.status_ttl_bounds.1.max(floor),
            };
            let provider = self.status_provider.unwrap_or_else(|| {
                Arc::new(HttpStatusLists::new(
                    self.status_fetch_timeout,
                    status::max_token_bytes(config.max_entries),
                ))
            });
            StatusLists::new(&self.issuer, provider, config, self.clock.clone())
        });
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
            status,
        });
        inner.refresh();
        if self.refresh_interval.is_some() || inner.status.is_some() {
            spawn_refresher(
                Arc::downgrade(&inner),
                inner.clock.clone(),
                self.refresh_interval,
            );
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
    /// The status lists; `None` when status checks are off.
    status: Option<StatusLists>,
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

/// The `status` claim (draft-ietf-oauth-status-list §6.1); other mechanisms than
/// `status_list` are ignored, so such a token counts as one without status.
#[derive(Deserialize)]
struct RawStatus {
    #[serde(default)]
    status_list: Option<RawStatusRef>,
}

#[derive(Deserialize)]
struct RawStatusRef {
    idx: u64,
    uri: String,
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
    /// The `kid` is unknown and a refetch is allowed: finish with [`Guard::finish`].
    UnknownKey,
    /// Every check passed but the status, whose list the guard does not hold and may
    /// fetch: finish with [`Guard::finish`].
    UnheldList(Claims),
}

/// Why a compact JWS did not verify.
enum Jws {
    Invalid(&'static str),
    /// Its `kid` is not in the key cache.
    UnknownKey,
}

/// The JWT types the guard verifies, by `typ` header.
#[derive(Clone, Copy)]
enum Typ {
    /// `at+jwt` (RFC 9068 §2.1).
    AccessToken,
    /// `statuslist+jwt` (draft-ietf-oauth-status-list §5.1).
    StatusList,
}

impl Typ {
    fn accepts(self, typ: Option<&str>) -> bool {
        let (short, full) = match self {
            Typ::AccessToken => ("at+jwt", "application/at+jwt"),
            Typ::StatusList => ("statuslist+jwt", "application/statuslist+jwt"),
        };
        typ.is_some_and(|t| t.eq_ignore_ascii_case(short) || t.eq_ignore_ascii_case(full))
    }

    fn refusal(self) -> &'static str {
        match self {
            Typ::AccessToken => "typ is not at+jwt",
            Typ::StatusList => "typ is not statuslist+jwt",
        }
    }
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
            status_checks: true,
            status_provider: None,
            allow_missing_status_before: None,
            status_fetch_timeout: DEFAULT_STATUS_FETCH_TIMEOUT,
            status_new_lists: (DEFAULT_STATUS_NEW_LISTS, DEFAULT_STATUS_NEW_LIST_INTERVAL),
            status_unknown_list_backoff: DEFAULT_STATUS_UNKNOWN_LIST_BACKOFF,
            status_max_list_entries: DEFAULT_STATUS_MAX_LIST_ENTRIES,
            status_ttl_bounds: (DEFAULT_STATUS_TTL_FLOOR, DEFAULT_STATUS_TTL_CEILING),
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

    /// Whether the guard checks tokens' status ([`GuardBuilder::status_checks`]).
    pub fn checks_status(&self) -> bool {
        self.inner.status.is_some()
    }

    /// Validates a bearer token now, by the guard's clock: `validate_at(token,
    /// clock.now())`.
    pub fn validate(&self, token: &str) -> Result<Claims, GuardError> {
        self.validate_at(token, self.inner.clock.now())
    }

    /// Validates a bearer token as of `now` (`exp`, `nbf` and `iat`, and the `exp` of
    /// its status list, are judged against it, with the leeway for the token's). May
    /// block, bounded by the fetch timeouts: to fetch keys when the token names an
    /// unknown `kid` (at most once per refetch interval of the guard's clock), or to
    /// fetch the status list a valid token points at the first time the guard sees it
    /// (one fetch shared by concurrent validations, within the new-list budget).
    pub fn validate_at(&self, token: &str, now: OffsetDateTime) -> Result<Claims, GuardError> {
        let first = self.validate_cached(token, now);
        self.finish(token, now, first)
    }

    /// Finishes a validation that [`Guard::validate_cached`] answered: refetches keys
    /// for `UnknownKey` (which already took the refetch slot: checking the gate again
    /// would refuse without fetching) and checks again, and fetches the status list for
    /// `UnheldList`. May block; call it off async executors.
    pub(crate) fn finish(
        &self,
        token: &str,
        now: OffsetDateTime,
        first: Cached,
    ) -> Result<Claims, GuardError> {
        let outcome = match first {
            Cached::UnknownKey => {
                self.inner.refresh();
                self.inner.check(token, now, false)
            }
            other => other,
        };
        match outcome {
            Cached::Valid(c) => Ok(c),
            Cached::Invalid(e) => Err(e),
            Cached::UnknownKey => Err(GuardError::InvalidToken("unknown key id")),
            Cached::UnheldList(c) => self.inner.check_status_after_fetch(c, now),
        }
    }

    /// Validates with the cached keys and lists only; never blocks on the network.
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

    /// Verifies a compact JWS of type `typ` with the cached keys and returns its
    /// payload segment (base64url). Nothing in the payload is looked at before the
    /// signature verifies.
    fn verify_jws<'t>(&self, token: &'t str, max_len: u64, typ: Typ) -> Result<&'t str, Jws> {
        let invalid = |why| Err(Jws::Invalid(why));
        if token.len() as u64 > max_len {
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
        if !typ.accepts(header.typ.as_deref()) {
            return invalid(typ.refusal());
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
            return Err(Jws::UnknownKey);
        };
        if key.alg != header.alg {
            return invalid("algorithm does not match the key");
        }
        let (signing_input, signature) = token.rsplit_once('.').unwrap_or((token, ""));
        if !matches!(
            jsonwebtoken::crypto::verify(signature, signing_input.as_bytes(), &key.key, key.alg),
            Ok(true)
        ) {
            return invalid("bad signature");
        }
        Ok(signing_input.split_once('.').map_or("", |(_, p)| p))
    }

    fn check(&self, token: &str, now: OffsetDateTime, may_refetch: bool) -> Cached {
        let invalid = |why| Cached::Invalid(GuardError::InvalidToken(why));
        let max_len = self.max_token_bytes as u64;
        let payload = match self.verify_jws(token, max_len, Typ::AccessToken) {
            Ok(p) => p,
            Err(Jws::Invalid(why)) => return invalid(why),
            Err(Jws::UnknownKey) => {
                return if may_refetch && self.may_refetch() {
                    Cached::UnknownKey
                } else {
                    invalid("unknown key id")
                };
            }
        };
        let Some(c) = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|json| serde_json::from_slice::<RawClaims>(&json).ok())
        else {
            return invalid("malformed token");
        };
        if let Err(why) = self.check_claims(&c, now.unix_timestamp()) {
            return invalid(why);
        }
        let claims = Claims {
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
            status: c.status.and_then(|s| s.status_list).map(|s| StatusClaim {
                idx: s.idx,
                uri: s.uri,
            }),
        };
        // The status last: a token that fails any other check never causes a fetch.
        let Some(lists) = &self.status else {
            return Cached::Valid(claims);
        };
        match lists.check(
            claims.status.as_ref(),
            claims.issued_at,
            now.unix_timestamp(),
        ) {
            Outcome::Valid => Cached::Valid(claims),
            Outcome::Refused(why) => invalid(why),
            Outcome::Unheld => Cached::UnheldList(claims),
        }
    }

    /// The status check of `claims`, fetching its list first if the guard does not
    /// hold it.
    fn check_status_after_fetch(
        &self,
        claims: Claims,
        now: OffsetDateTime,
    ) -> Result<Claims, GuardError> {
        let Some(lists) = &self.status else {
            return Ok(claims);
        };
        let verify = |jwt: &str| self.verify_status_list(jwt);
        match lists.check_after_fetch(
            claims.status.as_ref(),
            claims.issued_at,
            now.unix_timestamp(),
            &verify,
        ) {
            Outcome::Valid => Ok(claims),
            Outcome::Refused(why) => Err(GuardError::InvalidToken(why)),
            Outcome::Unheld => Err(GuardError::InvalidToken("status list unavailable")),
        }
    }

    /// Verifies a status list token with the cached keys and returns its payload JSON.
    /// A list signed with a key the guard lacks takes the same rate-limited refetch as
    /// a token's unknown `kid`.
    fn verify_status_list(&self, jwt: &str) -> Result<Vec<u8>, &'static str> {
        let max_len = self
            .status
            .as_ref()
            .map_or(0, |s| status::max_token_bytes(s.max_entries()));
        let payload = match self.verify_jws(jwt, max_len, Typ::StatusList) {
            Ok(p) => p,
            Err(Jws::Invalid(why)) => return Err(why),
            Err(Jws::UnknownKey) if self.may_refetch() => {
                self.refresh();
                match self.verify_jws(jwt, max_len, Typ::StatusList) {
                    Ok(p) => p,
                    Err(Jws::Invalid(why)) => return Err(why),
                    Err(Jws::UnknownKey) => return Err("status list signed with an unknown key"),
                }
            }
            Err(Jws::UnknownKey) => return Err("status list signed with an unknown key"),
        };
        URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| "malformed status list token")
    }

    /// Refreshes the status lists that are due, if status is checked.
    fn refresh_status_lists(&self) {
        if let Some(lists) = &self.status {
            lists.refresh_due(&|jwt: &str| self.verify_status_list(jwt));
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

/// Longest real-time nap of the background thread between looks at the clock: it
/// notices a dropped guard within this. A test clock moves without real time passing,
/// so the thread looks at one far more often.
const REFRESHER_NAP: Duration = Duration::from_secs(1);
const REFRESHER_NAP_TEST_CLOCK: Duration = Duration::from_millis(10);

/// Until the guard is dropped: refreshes keys every `keys_every` of `clock` (if set)
/// and each held status list when its `ttl` has passed. The thread naps on a real
/// timer, until the next refresh is due or for at most [`REFRESHER_NAP`]; whether a
/// refresh is due is decided by `clock`.
fn spawn_refresher(inner: Weak<Inner>, clock: Clock, keys_every: Option<Duration>) {
    let nap = if clock.is_test() {
        REFRESHER_NAP_TEST_CLOCK
    } else {
        REFRESHER_NAP
    };
    // The first key refresh is due one interval after the guard is built. An interval
    // too long to represent never comes due.
    let keys_clock = clock.clone();
    let next_keys = move || keys_every.and_then(|every| keys_clock.instant().checked_add(every));
    let mut keys_due = next_keys();
    let spawned = std::thread::Builder::new()
        .name("resource-guard-refresh".into())
        .spawn(move || loop {
            let Some(guard) = inner.upgrade() else {
                return;
            };
            if keys_due.is_some_and(|due| due <= clock.instant()) {
                guard.refresh();
                keys_due = next_keys();
            }
            guard.refresh_status_lists();
            let lists_due = guard.status.as_ref().and_then(StatusLists::next_due);
            drop(guard);
            let next = keys_due.into_iter().chain(lists_due).min();
            let now = clock.instant();
            let sleep = next.map_or(nap, |due| due.saturating_duration_since(now).min(nap));
            std::thread::sleep(sleep.max(Duration::from_millis(1)));
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the background refresher: keys refresh on unknown kids only, status lists are not refreshed");
    }
}
