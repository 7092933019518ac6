//! Token status (draft-ietf-oauth-status-list): the lists the guard holds and the
//! check of one token's entry against them; the first fetch of a list (single flight,
//! within a budget of new lists per interval, failures remembered), and the background
//! refresh of every held list each `ttl`. Signatures are checked by the caller's
//! `verify` (the guard's key cache); times come from the guard's clock.
//!
//! Locks: `fetching` may be held while reading `held`, never the other way round.

pub(crate) mod list;
mod provider;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use clock::Clock;

use crate::claims::StatusClaim;
use crate::FetchError;
use list::DecodedList;
pub use provider::{HttpStatusLists, StatusListProvider};

/// How long a list may be cached when it names no `ttl` (keygate's default).
pub(crate) const TTL_WHEN_ABSENT: Duration = Duration::from_secs(5);
/// The lowest `ttl` floor the guard accepts: lists are never refreshed more often.
pub(crate) const MIN_TTL_FLOOR: Duration = Duration::from_secs(1);
/// A problem with one list is logged at most once per this.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// The bounds and choices of the guard's status checks (see `GuardBuilder`).
#[derive(Clone, Debug)]
pub(crate) struct StatusConfig {
    /// Tokens without a `status` claim issued before this (seconds since the epoch)
    /// are accepted.
    pub allow_missing_before: Option<i64>,
    /// Bound of a first fetch, and of the wait of the validations sharing it.
    pub fetch_timeout: Duration,
    /// At most this many first fetches of lists...
    pub new_lists: u32,
    /// ...per this interval.
    pub new_lists_per: Duration,
    /// A list whose first fetch failed (404 or otherwise) is not fetched again for this.
    pub unknown_list_backoff: Duration,
    /// Largest list accepted, in entries.
    pub max_entries: u64,
    /// The `ttl` honoured is clamped to `[ttl_floor, ttl_ceiling]`.
    pub ttl_floor: Duration,
    /// See `ttl_floor`.
    pub ttl_ceiling: Duration,
}

/// The largest status list token read: an incompressible 2-bit list of `max_entries`
/// entries, base64url-encoded, plus 16 KiB for the header, claims and zlib framing.
pub(crate) fn max_token_bytes(max_entries: u64) -> u64 {
    let list = max_entries.div_ceil(4);
    list.saturating_add(list / 100)
        .saturating_mul(4)
        .div_ceil(3)
        .saturating_add(16 * 1024)
}

/// Verifies a status list token's signature (and `typ`) and returns its payload JSON.
pub(crate) type Verify<'a> = &'a dyn Fn(&str) -> Result<Vec<u8>, &'static str>;

/// What a token's status says, from the lists held.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// VALID, or no status claim and allowed.
    Valid,
    /// Refused, with the reason for the log.
    Refused(&'static str),
    /// The token names a list of ours the guard does not hold, and may fetch.
    Unheld,
}

/// The guard's status lists.
#[derive(Debug)]
pub(crate) struct StatusLists {
    config: StatusConfig,
    issuer: String,
    /// `{issuer}/statuslists/`
    prefix: String,
    provider: Arc<dyn StatusListProvider>,
    clock: Clock,
    /// Lists held, by id.
    held: RwLock<HashMap<String, Held>>,
    fetching: Mutex<Fetching>,
    /// Signalled when a first fetch ends.
    fetched: Condvar,
}

#[derive(Debug)]
struct Held {
    list: DecodedList,
    uri: String,
    /// When to refresh it next, on the guard's clock.
    due: Instant,
    /// When a problem with it was last logged.
    warned: Option<Instant>,
}

#[derive(Debug, Default)]
struct Fetching {
    /// Ids whose first fetch is running.
    in_flight: HashSet<String>,
    /// Ids whose first fetch failed, and until when they are not fetched again.
    backoff: HashMap<String, Instant>,
    /// Start of the current budget window, and first fetches in it.
    window: Option<Instant>,
    used: u32,
    /// Whether running out of budget was logged in this window.
    warned: bool,
}

/// Why a fetched list was not taken (for the log).
#[derive(Debug)]
enum ListError {
    NotFound,
    Fetch(FetchError),
    Refused(&'static str),
}

impl std::fmt::Display for ListError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListError::NotFound => f.write_str("the issuer does not know the list (404)"),
            ListError::Fetch(e) => e.fmt(f),
            ListError::Refused(why) => f.write_str(why),
        }
    }
}

impl StatusLists {
    pub(crate) fn new(
        issuer: &str,
        provider: Arc<dyn StatusListProvider>,
        config: StatusConfig,
        clock: Clock,
    ) -> StatusLists {
        StatusLists {
            config,
            issuer: issuer.to_owned(),
            prefix: format!("{issuer}/statuslists/"),
            provider,
            clock,
            held: RwLock::new(HashMap::new()),
            fetching: Mutex::new(Fetching::default()),
            fetched: Condvar::new(),
        }
    }

    /// The status of a token whose other checks passed, from the lists held: `status`
    /// is its claim, `iat` its issue time and `now` the validation time (seconds since
    /// the epoch). Never blocks on the network.
    pub(crate) fn check(&self, status: Option<&StatusClaim>, iat: i64, now: i64) -> Outcome {
        let Some(claim) = status else {
            return match self.config.allow_missing_before {
                Some(before) if iat < before => Outcome::Valid,
                _ => Outcome::Refused("no status claim"),
            };
        };
        let Some(id) = list::list_id(&claim.uri, &self.prefix) else {
            return Outcome::Refused("status list URI is not one of the issuer's");
        };
        if let Some(outcome) = self.check_held(id, claim.idx, now) {
            return outcome;
        }
        if self.backing_off(id) {
            Outcome::Refused("status list unavailable")
        } else {
            Outcome::Unheld
        }
    }

    /// `check`, fetching the list first if it is not held (single flight, within the
    /// budget). Blocks up to the fetch timeout.
    pub(crate) fn check_after_fetch(
        &self,
        status: Option<&StatusClaim>,
        iat: i64,
        now: i64,
        verify: Verify<'_>,
    ) -> Outcome {
        if let Some(claim) = status {
            if let Some(id) = list::list_id(&claim.uri, &self.prefix) {
                self.fetch_first(id, &claim.uri, verify);
            }
        }
        match self.check(status, iat, now) {
            Outcome::Unheld => Outcome::Refused("status list unavailable"),
            other => other,
        }
    }

    /// The status of entry `idx` of list `id`, if the list is held.
    fn check_held(&self, id: &str, idx: u64, now: i64) -> Option<Outcome> {
        let held = self.held.read().ok()?;
        let h = held.get(id)?;
        Some(if now >= h.list.exp {
            // Fail closed: the refresher logs it (once per list per period).
            Outcome::Refused("status list expired")
        } else {
            match h.list.status(idx) {
                None => Outcome::Refused("status index outside the list"),
                Some(list::VALID) => Outcome::Valid,
                Some(v) => Outcome::Refused(list::refusal(v)),
            }
        })
    }

    fn is_held(&self, id: &str) -> bool {
        self.held.read().is_ok_and(|h| h.contains_key(id))
    }

    /// Whether a failed first fetch of `id` forbids fetching it now.
    fn backing_off(&self, id: &str) -> bool {
        let now = self.clock.instant();
        self.fetching
            .lock()
            .is_ok_and(|f| f.backoff.get(id).is_some_and(|until| now < *until))
    }

    /// Fetches list `id` (at `uri`) unless it is held, being fetched (then waits for
    /// that fetch, up to the fetch timeout), backed off, or over the budget.
    fn fetch_first(&self, id: &str, uri: &str, verify: Verify<'_>) {
        let Ok(mut f) = self.fetching.lock() else {
            return;
        };
        if self.is_held(id) {
            return;
        }
        if f.in_flight.contains(id) {
            // Someone else fetches it: wait for them (bounded), then use what they got.
            let wait = self.config.fetch_timeout + Duration::from_secs(1);
            let _ = self
                .fetched
                .wait_timeout_while(f, wait, |f| f.in_flight.contains(id));
            return;
        }
        let now = self.clock.instant();
        f.backoff.retain(|_, until| now < *until);
        if f.backoff.contains_key(id) || !self.take_budget(&mut f, now) {
            return;
        }
        f.in_flight.insert(id.to_owned());
        drop(f);
        let flight = InFlight { lists: self, id };
        // A list is as fresh as the start of its fetch: its ttl counts from there.
        let result = self.fetch_list(uri, verify);
        match result {
            Ok(list) => {
                let due = now + self.ttl_of(&list);
                if let Ok(mut held) = self.held.write() {
                    held.insert(
                        id.to_owned(),
                        Held {
                            list,
                            uri: uri.to_owned(),
                            due,
                            warned: None,
                        },
                    );
                }
            }
            Err(e) => {
                tracing::warn!(list = %uri, error = %e, "status list not fetched; its tokens are refused for a while");
                if let Ok(mut f) = self.fetching.lock() {
                    f.backoff
                        .insert(id.to_owned(), now + self.config.unknown_list_backoff);
                }
            }
        }
        drop(flight);
    }

    /// Takes one first fetch from the budget of the current window, if any is left.
    fn take_budget(&self, f: &mut Fetching, now: Instant) -> bool {
        let window_over = f
            .window
            .is_none_or(|start| now.duration_since(start) >= self.config.new_lists_per);
        if window_over {
            f.window = Some(now);
            f.used = 0;
            f.warned = false;
        }
        if f.used < self.config.new_lists {
            f.used += 1;
            return true;
        }
        if !f.warned {
            f.warned = true;
            tracing::warn!(
                budget = self.config.new_lists,
                "too many unknown status lists: not fetching more in this interval"
            );
        }
        false
    }

    /// Fetches, verifies and decodes the list at `uri`.
    fn fetch_list(&self, uri: &str, verify: Verify<'_>) -> Result<DecodedList, ListError> {
        let token = self
            .provider
            .fetch(uri)
            .map_err(ListError::Fetch)?
            .ok_or(ListError::NotFound)?;
        if token.len() as u64 > max_token_bytes(self.config.max_entries) {
            return Err(ListError::Refused("status list token too large"));
        }
        let payload = verify(&token).map_err(ListError::Refused)?;
        let list = list::decode(&payload, &self.issuer, uri, self.config.max_entries)
            .map_err(ListError::Refused)?;
        if list.exp <= self.clock.now().unix_timestamp() {
            return Err(ListError::Refused("status list already expired"));
        }
        Ok(list)
    }

    /// The `ttl` honoured for `list`: its own (5 s if absent) within the bounds.
    fn ttl_of(&self, list: &DecodedList) -> Duration {
        list.ttl
            .map_or(TTL_WHEN_ABSENT, Duration::from_secs)
            .clamp(self.config.ttl_floor, self.config.ttl_ceiling)
    }

    /// Largest list accepted, in entries.
    pub(crate) fn max_entries(&self) -> u64 {
        self.config.max_entries
    }

    /// When the next held list is due for a refresh.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.held.read().ok()?.values().map(|h| h.due).min()
    }

    /// Refreshes every held list that is due. A list that cannot be refreshed is kept
    /// until its `exp` (and its tokens refused after it); both are logged at most once
    /// per list per minute.
    pub(crate) fn refresh_due(&self, verify: Verify<'_>) {
        let now = self.clock.instant();
        let due: Vec<(String, String)> = match self.held.read() {
            Ok(held) => held
                .iter()
                .filter(|(_, h)| h.due <= now)
                .map(|(id, h)| (id.clone(), h.uri.clone()))
                .collect(),
            Err(_) => return,
        };
        for (id, uri) in due {
            // The next refresh is due a ttl after this one starts.
            let now = self.clock.instant();
            let result = self.fetch_list(&uri, verify);
            let wall = self.clock.now().unix_timestamp();
            let Ok(mut held) = self.held.write() else {
                return;
            };
            let Some(h) = held.get_mut(&id) else {
                continue;
            };
            let problem = match result {
                Ok(list) if list.iat >= h.list.iat => {
                    h.list = list;
                    h.warned = None;
                    None
                }
                Ok(_) => Some(ListError::Refused("older than the list held")),
                Err(e) => Some(e),
            };
            h.due = now + self.ttl_of(&h.list);
            let Some(e) = problem else {
                continue;
            };
            if h.warned
                .is_some_and(|t| now.saturating_duration_since(t) < WARN_EVERY)
            {
                continue;
            }
            h.warned = Some(now);
            if wall >= h.list.exp {
                tracing::warn!(list = %uri, error = %e, "status list expired and not refreshed: refusing the tokens that point at it");
            } else {
                tracing::warn!(list = %uri, error = %e, expires_in_s = h.list.exp - wall, "status list not refreshed: using the last good one until it expires");
            }
        }
    }
}

/// Ends a first fetch, whatever happens to it: wakes the validations waiting on it.
struct InFlight<'a> {
    lists: &'a StatusLists,
    id: &'a str,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut f) = self.lists.fetching.lock() {
            f.in_flight.remove(self.id);
        }
        self.lists.fetched.notify_all();
    }
}
