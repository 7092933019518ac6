//! Publishing token status lists (draft-ietf-oauth-status-list): every list of the
//! store, encoded (2 bits per entry, zlib, base64url), signed as a Status List Token and
//! held in memory, so `GET /statuslists/{id}` does no database or signing work.
//!
//! Freshness (docs/token-status.md, "Freshness"), all driven by [`StatusLists::refresh`]
//! with the time passed in:
//!
//! - the status version is read at least every `ttl`, and at once when
//!   [`Store::status_changes`] moved (this process's own writes, and on PostgreSQL the
//!   notices of other processes);
//! - a changed version rebuilds the lists whose contents changed, at most once a second;
//!   a change seen sooner is kept pending until that second has passed;
//! - a list is re-signed when its `exp` comes within `list_lifetime - ttl / 2` of now
//!   (so a served list's `exp` is always at least `list_lifetime - ttl` ahead) and when
//!   the signing key changes. Re-signing needs no database work.
//!
//! `keygate serve` calls `refresh` from a background task. A `GET` also refreshes first
//! when the lists are due ([`StatusLists::refresh_due`]: never built, the status
//! version's check is due, a change is pending or announced and a second has passed
//! since the last build, or a list needs re-signing), so an app without that task still
//! serves fresh lists.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use keypair_store::{ListContents, StatusListId, Store, StoreError, TokenStatus};
use serde::Serialize;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::jwt::sign_with_header;
use crate::key_ring::Keys;
use crate::signing_key::{CryptoError, SigningKey};
use crate::StatusSettings;

/// The shortest time between two rebuilds of the lists.
pub const MIN_REBUILD_INTERVAL: Duration = Duration::seconds(1);

/// Lookups in the database of a list id that is not in memory: at most this many...
const LOOKUPS_PER_WINDOW: u32 = 5;
/// ...per this window, for all callers together.
const LOOKUP_WINDOW: Duration = Duration::seconds(1);

/// After a failed database read, no other is tried for this long.
const RETRY_AFTER_FAILURE: Duration = Duration::seconds(1);

/// The bits per entry (VALID, INVALID, SUSPENDED need two).
const BITS: u8 = 2;

/// What a `GET /statuslists/{id}` gets.
#[derive(Debug)]
pub enum Lookup {
    /// The signed Status List Token.
    Found(Arc<str>),
    /// No such list (or a malformed id).
    Unknown,
    /// The list is not in memory and cannot be looked up now (too many lookups, or the
    /// database failed): try again shortly.
    Unavailable,
}

/// One list as published.
#[derive(Debug)]
struct Signed {
    jwt: Arc<str>,
    iat: i64,
    exp: OffsetDateTime,
    kid: String,
}

/// One list as built: what it was built from, its encoding and its signed token.
struct Built {
    capacity: u32,
    created_at: OffsetDateTime,
    not_valid: Vec<(u32, TokenStatus)>,
    lst: String,
    signed: Arc<Signed>,
}

/// What GETs read without locking.
#[derive(Default)]
struct Snapshot {
    lists: HashMap<StatusListId, Arc<Signed>>,
    /// `{"status_lists": [...]}`.
    index: Arc<str>,
    /// The state of the writer when it was taken.
    state: State,
}

/// When the lists were last checked and built.
#[derive(Clone, Copy, Default)]
struct State {
    /// The status version the lists were last built from.
    version: Option<i64>,
    /// [`Store::status_changes`] when the version was last read.
    changes_seen: u64,
    /// When the version was last read.
    checked_at: Option<OffsetDateTime>,
    /// When the lists were last rebuilt.
    built_at: Option<OffsetDateTime>,
    /// The version moved but the lists have not been rebuilt yet.
    pending: bool,
    /// When a database read last failed.
    failed_at: Option<OffsetDateTime>,
    /// Re-signing is paused (and was logged) until the database answers again.
    unconfirmed: bool,
}

struct Writer {
    state: State,
    lists: HashMap<StatusListId, Built>,
}

struct LookupBudget {
    window_start: Option<OffsetDateTime>,
    used: u32,
}

/// Every status list of the store, signed and held in memory. See the module docs.
pub struct StatusLists {
    store: Store,
    keys: Arc<Keys>,
    issuer: String,
    settings: StatusSettings,
    snapshot: ArcSwap<Snapshot>,
    writer: Mutex<Writer>,
    lookups: Mutex<LookupBudget>,
    /// Lists built (and signed) so far, for metrics.
    builds: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for StatusLists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusLists")
            .field("issuer", &self.issuer)
            .field("settings", &self.settings)
            .field("lists", &self.snapshot.load().lists.len())
            .finish_non_exhaustive()
    }
}

impl StatusLists {
    /// Lists built (and signed) by this process so far.
    pub fn builds(&self) -> u64 {
        self.builds.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A publisher with nothing built yet; the first [`StatusLists::refresh`] (or `GET`)
    /// builds every list.
    pub fn new(store: Store, keys: Arc<Keys>, issuer: &str, settings: StatusSettings) -> Self {
        StatusLists {
            store,
            keys,
            issuer: issuer.to_owned(),
            settings,
            snapshot: ArcSwap::from_pointee(Snapshot {
                index: index_document(&[]).into(),
                ..Snapshot::default()
            }),
            writer: Mutex::new(Writer {
                state: State::default(),
                lists: HashMap::new(),
            }),
            lookups: Mutex::new(LookupBudget {
                window_start: None,
                used: 0,
            }),
            builds: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The lists' `ttl` (also their `Cache-Control: max-age`).
    pub fn ttl(&self) -> std::time::Duration {
        self.settings.ttl
    }

    /// A list's URI: `<issuer>/statuslists/<id>`.
    pub fn uri(&self, id: &StatusListId) -> String {
        list_uri(&self.issuer, id)
    }

    /// The signed list `id` if it is in memory. Does no database work.
    pub fn cached(&self, id: &str) -> Option<Arc<str>> {
        let id = StatusListId::parse(id).ok()?;
        self.snapshot
            .load()
            .lists
            .get(&id)
            .map(|s| Arc::clone(&s.jwt))
    }

    /// The aggregation document `{"status_lists": [uri, ...]}`, oldest list first.
    pub fn index(&self) -> Arc<str> {
        Arc::clone(&self.snapshot.load().index)
    }

    /// Whether [`StatusLists::refresh`] has work to do at `now`: the lists were never
    /// built; the status version is due for its check (every `ttl`); a change is
    /// pending or [`Store::status_changes`] moved, and a second has passed since the
    /// last build; or a list must be re-signed (its `exp` is less than
    /// `list_lifetime - ttl / 2` ahead, or another key signs now). Cheap: no lock, no
    /// database.
    pub fn refresh_due(&self, now: OffsetDateTime) -> bool {
        let snapshot = self.snapshot.load();
        if self.database_due(&snapshot.state, now) {
            return true;
        }
        let kid = self.keys.ring().signer(now).kid().to_owned();
        snapshot
            .lists
            .values()
            .any(|s| self.needs_signing(s, &kid, now))
    }

    /// Brings the lists up to date at `now` (see the module docs); does nothing when
    /// nothing is due. Reads the database: call it off the async workers.
    pub fn refresh(&self, now: OffsetDateTime) -> Result<(), StoreError> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let result = self.refresh_locked(&mut writer, now);
        if result.is_err() {
            writer.state.failed_at = Some(now);
        }
        self.publish(&writer);
        result
    }

    /// The list `id` for `GET /statuslists/{id}`: from memory, else (a well-formed id
    /// only, and at most a few lookups a second for all callers together) from the
    /// database, built, signed and kept. May read the database: call it off the async
    /// workers when [`StatusLists::cached`] had nothing.
    pub fn lookup(&self, id: &str, now: OffsetDateTime) -> Lookup {
        let Ok(id) = StatusListId::parse(id) else {
            return Lookup::Unknown;
        };
        if let Some(s) = self.snapshot.load().lists.get(&id) {
            return Lookup::Found(Arc::clone(&s.jwt));
        }
        if !self.take_lookup(now) {
            return Lookup::Unavailable;
        }
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        // A refresh may have built it while this waited for the lock.
        if let Some(built) = writer.lists.get(&id) {
            return Lookup::Found(Arc::clone(&built.signed.jwt));
        }
        let contents = match self.store.status_list_contents(&id) {
            Ok(Some(contents)) => contents,
            Ok(None) => return Lookup::Unknown,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a status list");
                return Lookup::Unavailable;
            }
        };
        let ring = self.keys.ring();
        let key = ring.signer(now);
        match self.build(key, contents, now) {
            Ok(built) => {
                let jwt = Arc::clone(&built.signed.jwt);
                writer.lists.insert(id, built);
                self.publish(&writer);
                Lookup::Found(jwt)
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot sign a status list");
                Lookup::Unavailable
            }
        }
    }

    /// Whether the database part of a refresh is due: the lists were never built, the
    /// version check is due, or a change is pending or announced and a second has
    /// passed since the last build. Never within a second of a failed read.
    fn database_due(&self, state: &State, now: OffsetDateTime) -> bool {
        if state
            .failed_at
            .is_some_and(|t| now < t + RETRY_AFTER_FAILURE)
        {
            return false;
        }
        let Some(checked_at) = state.checked_at else {
            return true;
        };
        let may_build = state
            .built_at
            .is_none_or(|t| now >= t + MIN_REBUILD_INTERVAL);
        let changed = state.pending || self.store.status_changes() != state.changes_seen;
        now >= checked_at + self.ttl_duration() || (changed && may_build)
    }

    fn refresh_locked(&self, writer: &mut Writer, now: OffsetDateTime) -> Result<(), StoreError> {
        let result = if self.database_due(&writer.state, now) {
            self.check_and_rebuild(writer, now)
        } else {
            Ok(())
        };
        // Re-signing needs no database, but it vouches for the lists afresh: only while
        // they were confirmed against the database recently. A process cut off from
        // the database lets its lists run down to their `exp`, so guards fail closed
        // instead of trusting statuses that changes elsewhere may have overtaken.
        if self.confirmed_recently(&writer.state, now) {
            writer.state.unconfirmed = false;
            self.resign(writer, now);
        } else if !writer.state.unconfirmed && !writer.lists.is_empty() {
            writer.state.unconfirmed = true;
            tracing::warn!(
                "status lists cannot be confirmed against the database: they are no longer re-signed and expire at their exp"
            );
        }
        result
    }

    /// Whether the status version was read within 2 × `ttl` + 1 s.
    fn confirmed_recently(&self, state: &State, now: OffsetDateTime) -> bool {
        state
            .checked_at
            .is_some_and(|t| now - t <= self.ttl_duration() * 2 + MIN_REBUILD_INTERVAL)
    }

    /// Reads the status version if its check is due, and rebuilds the lists if it moved
    /// and a second has passed since the last build (else the change stays pending).
    fn check_and_rebuild(
        &self,
        writer: &mut Writer,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let state = &mut writer.state;
        // Read the counter before the version: a change announced in between is seen
        // again next time.
        let changes = self.store.status_changes();
        let check_due = state
            .checked_at
            .is_none_or(|t| now >= t + self.ttl_duration())
            || changes != state.changes_seen;
        let may_build = state
            .built_at
            .is_none_or(|t| now >= t + MIN_REBUILD_INTERVAL);
        let mut latest = None;
        if check_due && (may_build || !state.pending) {
            let version = self.store.status_version()?;
            state.changes_seen = changes;
            state.checked_at = Some(now);
            state.pending |= state.version != Some(version);
            latest = Some(version);
        }
        if state.pending && may_build {
            // The version before the contents: a change in between moves it again.
            let version = match latest {
                Some(v) => v,
                None => self.store.status_version()?,
            };
            self.rebuild(writer, now)?;
            writer.state.version = Some(version);
            writer.state.pending = false;
            writer.state.built_at = Some(now);
        }
        writer.state.failed_at = None;
        Ok(())
    }

    /// Reads every list and rebuilds those whose contents changed.
    fn rebuild(&self, writer: &mut Writer, now: OffsetDateTime) -> Result<(), StoreError> {
        let lists = self.store.status_lists()?;
        let ring = self.keys.ring();
        let key = ring.signer(now);
        let (mut rebuilt, mut unchanged) = (0usize, 0usize);
        for list in lists {
            let Some(contents) = self.store.status_list_contents(&list.id)? else {
                continue;
            };
            if let Some(old) = writer.lists.get(&list.id) {
                if old.capacity == contents.list.capacity && old.not_valid == contents.not_valid {
                    unchanged += 1;
                    continue;
                }
            }
            match self.build(key, contents, now) {
                Ok(built) => {
                    writer.lists.insert(list.id, built);
                    rebuilt += 1;
                }
                Err(e) => tracing::error!(error = %e, list = %list.id, "cannot sign a status list"),
            }
        }
        tracing::debug!(rebuilt, unchanged, "status lists rebuilt");
        Ok(())
    }

    /// Re-signs the lists whose `exp` is getting close or whose key no longer signs.
    fn resign(&self, writer: &mut Writer, now: OffsetDateTime) {
        let ring = self.keys.ring();
        let key = ring.signer(now);
        for (id, built) in &mut writer.lists {
            if !self.needs_signing(&built.signed, key.kid(), now) {
                continue;
            }
            match self.sign(key, id, &built.lst, now) {
                Ok(signed) => built.signed = Arc::new(signed),
                Err(e) => tracing::error!(error = %e, list = %id, "cannot sign a status list"),
            }
        }
    }

    /// Another key signs now, or `exp` is less than `list_lifetime - ttl / 2` ahead
    /// (`iat` has whole seconds, so a list signed within the current second is left
    /// alone: re-signing it would not move `exp`).
    fn needs_signing(&self, signed: &Signed, kid: &str, now: OffsetDateTime) -> bool {
        if signed.kid != kid {
            return true;
        }
        let horizon = self.lifetime_duration() - self.ttl_duration() / 2;
        signed.exp < now + horizon && signed.iat < now.unix_timestamp()
    }

    fn build(
        &self,
        key: &SigningKey,
        contents: ListContents,
        now: OffsetDateTime,
    ) -> Result<Built, CryptoError> {
        self.builds
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let lst = encode(contents.list.capacity, &contents.not_valid);
        let signed = self.sign(key, &contents.list.id, &lst, now)?;
        Ok(Built {
            capacity: contents.list.capacity,
            created_at: contents.list.created_at,
            not_valid: contents.not_valid,
            lst,
            signed: Arc::new(signed),
        })
    }

    fn sign(
        &self,
        key: &SigningKey,
        id: &StatusListId,
        lst: &str,
        now: OffsetDateTime,
    ) -> Result<Signed, CryptoError> {
        // Whole seconds, as the claims carry them.
        let iat_at = now - Duration::nanoseconds(now.nanosecond().into());
        let exp_at = iat_at
            .checked_add(self.lifetime_duration())
            .unwrap_or(iat_at);
        let (iat, exp) = (iat_at.unix_timestamp(), exp_at.unix_timestamp());
        let jwt = sign(
            key,
            &self.uri(id),
            &self.issuer,
            lst,
            iat,
            exp,
            self.settings.ttl,
        )?;
        Ok(Signed {
            jwt: jwt.into(),
            iat,
            exp: exp_at,
            kid: key.kid().to_owned(),
        })
    }

    /// Makes what the writer holds visible to GETs.
    fn publish(&self, writer: &Writer) {
        let mut order: Vec<(&OffsetDateTime, &StatusListId)> = writer
            .lists
            .iter()
            .map(|(id, b)| (&b.created_at, id))
            .collect();
        order.sort();
        let uris: Vec<String> = order.iter().map(|(_, id)| self.uri(id)).collect();
        self.snapshot.store(Arc::new(Snapshot {
            lists: writer
                .lists
                .iter()
                .map(|(id, b)| (id.clone(), Arc::clone(&b.signed)))
                .collect(),
            index: index_document(&uris).into(),
            state: writer.state,
        }));
    }

    /// Takes one database lookup from the budget shared by every caller.
    fn take_lookup(&self, now: OffsetDateTime) -> bool {
        let mut budget = self.lookups.lock().unwrap_or_else(PoisonError::into_inner);
        let fresh = budget
            .window_start
            .is_none_or(|t| now >= t + LOOKUP_WINDOW || now < t);
        if fresh {
            budget.window_start = Some(now);
            budget.used = 0;
        }
        if budget.used >= LOOKUPS_PER_WINDOW {
            return false;
        }
        budget.used += 1;
        true
    }

    fn ttl_duration(&self) -> Duration {
        Duration::try_from(self.settings.ttl).unwrap_or(Duration::MAX)
    }

    fn lifetime_duration(&self) -> Duration {
        Duration::try_from(self.settings.list_lifetime).unwrap_or(Duration::MAX)
    }
}

/// A list's URI: `<issuer>/statuslists/<id>`.
pub fn list_uri(issuer: &str, id: &StatusListId) -> String {
    format!("{issuer}/statuslists/{id}")
}

fn index_document(uris: &[String]) -> String {
    json!({ "status_lists": uris }).to_string()
}

/// The `lst` of a list of `capacity` entries where every entry not named in
/// `not_valid` is VALID: 2 bits per entry (entry `i` in bits `2 * (i % 4)` and up of
/// byte `i / 4`), zlib-compressed, base64url without padding. Entries at or beyond
/// `capacity` are ignored.
pub fn encode(capacity: u32, not_valid: &[(u32, TokenStatus)]) -> String {
    let mut bytes = vec![0u8; capacity.div_ceil(4) as usize];
    for &(idx, status) in not_valid {
        if idx >= capacity {
            continue;
        }
        if let Some(byte) = bytes.get_mut((idx / 4) as usize) {
            let shift = 2 * (idx % 4);
            *byte = (*byte & !(0b11 << shift)) | (status.value() << shift);
        }
    }
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
    // Writing to a Vec cannot fail.
    let compressed = std::io::Write::write_all(&mut encoder, &bytes)
        .and_then(|()| encoder.finish())
        .unwrap_or_default();
    URL_SAFE_NO_PAD.encode(compressed)
}

/// A Status List Token: header `typ: statuslist+jwt`, `alg` and `kid`; claims `iss`,
/// `sub` (the list's URI), `iat`, `exp`, `ttl` (seconds) and
/// `status_list: {"bits": 2, "lst": lst}`.
pub fn sign(
    key: &SigningKey,
    uri: &str,
    issuer: &str,
    lst: &str,
    iat: i64,
    exp: i64,
    ttl: std::time::Duration,
) -> Result<String, CryptoError> {
    #[derive(Serialize)]
    struct StatusList<'a> {
        bits: u8,
        lst: &'a str,
    }
    #[derive(Serialize)]
    struct Claims<'a> {
        iss: &'a str,
        sub: &'a str,
        iat: i64,
        exp: i64,
        ttl: u64,
        status_list: StatusList<'a>,
    }
    let claims = Claims {
        iss: issuer,
        sub: uri,
        iat,
        exp,
        ttl: ttl.as_secs(),
        status_list: StatusList { bits: BITS, lst },
    };
    sign_with_header(key, key.status_list_header_b64(), &claims)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Read as _;

    fn decode(lst: &str) -> Vec<u8> {
        let compressed = URL_SAFE_NO_PAD.decode(lst).unwrap();
        let mut out = Vec::new();
        flate2::read::ZlibDecoder::new(&compressed[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn entries_take_two_bits_from_the_least_significant_end() {
        let lst = encode(
            16,
            &[
                (0, TokenStatus::Invalid),
                (1, TokenStatus::Suspended),
                (7, TokenStatus::Invalid),
                (15, TokenStatus::Suspended),
                (16, TokenStatus::Invalid), // beyond capacity: ignored
            ],
        );
        assert_eq!(decode(&lst), vec![0b0000_1001, 0b0100_0000, 0, 0b1000_0000]);
    }

    #[test]
    fn an_unused_list_is_all_valid_and_small() {
        let lst = encode(1 << 20, &[]);
        assert_eq!(decode(&lst), vec![0u8; 1 << 18]);
        assert!(lst.len() < 1000, "{}", lst.len());
    }
}
