//! Token status (draft-ietf-oauth-status-list): generations of a keypair's tokens and
//! the status lists that publish them. `docs/token-status.md` explains the model.
//!
//! - A keypair's tokens are issued in generations. Every token of one generation
//!   carries the same entry (a list and an index). A keypair has at most one current
//!   generation (VALID, or SUSPENDED while the keypair is disabled); invalidating it
//!   makes it INVALID for good, and the keypair's next token opens a new one.
//! - Lists have a fixed capacity; an index with no row is VALID and free. New entries
//!   are drawn at random from the free slots, so indexes reveal neither how many
//!   keypairs exist nor in which order they were made. An INVALID entry is free again
//!   only once every token that could carry it has expired ([`GenerationPolicy`]).
//! - Every status change moves one version number in the same transaction and records
//!   [`Change::Status`], so every process can tell cheaply that its lists are stale.

use std::collections::HashMap;

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::audit::{Actor, AuditAction, AuditEntry};
use crate::db::DbConnection;
use crate::ids::{random_bytes, ClientId, StatusListId};
use crate::schema::{keypairs, status_entries, status_lists, status_version};
use crate::timestamp::{from_micros, to_micros};
use crate::tx::{Change, Tx};
use crate::{Store, StoreError, StoreResult};

/// Random probes into a list before looking at every slot of it.
const PROBES: usize = 24;

/// A status value, as published (2 bits per entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenStatus {
    /// `0`: the tokens are good.
    Valid,
    /// `1`: the tokens are refused, for good.
    Invalid,
    /// `2`: the tokens are refused while the keypair is disabled.
    Suspended,
}

impl TokenStatus {
    /// The value published in a status list.
    pub fn value(self) -> u8 {
        match self {
            TokenStatus::Valid => 0,
            TokenStatus::Invalid => 1,
            TokenStatus::Suspended => 2,
        }
    }

    /// The name used in views: `valid`, `invalid`, `suspended`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Valid => "valid",
            TokenStatus::Invalid => "invalid",
            TokenStatus::Suspended => "suspended",
        }
    }

    fn db(self) -> i16 {
        i16::from(self.value())
    }

    fn from_db(v: i16) -> StoreResult<Self> {
        match v {
            0 => Ok(TokenStatus::Valid),
            1 => Ok(TokenStatus::Invalid),
            2 => Ok(TokenStatus::Suspended),
            other => Err(StoreError::Corrupt(format!("status entry value {other}"))),
        }
    }
}

/// A keypair's current generation: its entry and status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generation {
    /// The list holding the entry.
    pub list_id: StatusListId,
    /// The entry's index in the list.
    pub idx: u32,
    /// VALID or SUSPENDED (an INVALID generation is no keypair's current one).
    pub status: TokenStatus,
}

/// One entry as stored (for introspection and revocation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusEntry {
    /// The list.
    pub list_id: StatusListId,
    /// The index.
    pub idx: u32,
    /// The keypair whose generation it is (which may since have been deleted).
    pub client_id: ClientId,
    /// Its status.
    pub status: TokenStatus,
    /// When the generation opened.
    pub created_at: OffsetDateTime,
    /// When it became INVALID.
    pub invalidated_at: Option<OffsetDateTime>,
}

/// A status list: a fixed number of entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusList {
    /// Its id (the last segment of its URI).
    pub id: StatusListId,
    /// How many entries it has (all VALID when unused).
    pub capacity: u32,
    /// When it was opened.
    pub created_at: OffsetDateTime,
}

/// A list and its entries that are not VALID, by index (every other entry is VALID).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListContents {
    /// The list.
    pub list: StatusList,
    /// (index, status) of each entry that is not VALID, by index.
    pub not_valid: Vec<(u32, TokenStatus)>,
}

/// How new generations are placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenerationPolicy {
    /// Capacity of a newly opened list (e.g. 2^20). Existing lists keep theirs.
    pub list_capacity: u32,
    /// How long an INVALID entry stays out of the pool: at least the longest token
    /// lifetime plus a leeway, so no live token can point at a reused entry.
    pub reuse_after: time::Duration,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = status_entries)]
struct EntryRow {
    list_id: String,
    idx: i64,
    client_id: String,
    status: i16,
    created_at: i64,
    invalidated_at: Option<i64>,
}

impl EntryRow {
    fn into_entry(self) -> StoreResult<StatusEntry> {
        Ok(StatusEntry {
            idx: index(self.idx)?,
            list_id: StatusListId::from_db(self.list_id),
            client_id: ClientId::from_db(self.client_id),
            status: TokenStatus::from_db(self.status)?,
            created_at: from_micros(self.created_at),
            invalidated_at: self.invalidated_at.map(from_micros),
        })
    }

    fn into_generation(self) -> StoreResult<(String, Generation)> {
        let generation = Generation {
            idx: index(self.idx)?,
            list_id: StatusListId::from_db(self.list_id),
            status: TokenStatus::from_db(self.status)?,
        };
        Ok((self.client_id, generation))
    }
}

fn index(v: i64) -> StoreResult<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("status entry index {v}")))
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = status_lists)]
struct ListRow {
    id: String,
    capacity: i64,
    created_at: i64,
}

impl ListRow {
    fn into_list(self) -> StoreResult<StatusList> {
        let capacity = u32::try_from(self.capacity)
            .ok()
            .filter(|c| *c > 0)
            .ok_or_else(|| StoreError::Corrupt(format!("status list {} capacity", self.id)))?;
        Ok(StatusList {
            id: StatusListId::from_db(self.id),
            capacity,
            created_at: from_micros(self.created_at),
        })
    }
}

const INVALID: i16 = 1;

/// Moves the status version and records the change (every status write calls this).
fn status_changed(tx: &mut Tx<'_>) -> StoreResult<()> {
    diesel::update(status_version::table)
        .set(status_version::version.eq(status_version::version + 1))
        .execute(&mut **tx)?;
    tx.changed(Change::Status);
    Ok(())
}

/// A uniformly random index below `capacity` (the modulo bias of 64 random bits over a
/// 32-bit range is below 2^-32).
fn random_index(capacity: u32) -> u32 {
    let r = u64::from_le_bytes(random_bytes::<8>());
    // `r % capacity` is below `capacity`, which fits in u32.
    u32::try_from(r % u64::from(capacity.max(1))).unwrap_or(0)
}

impl Generation {
    /// The current generation of one keypair, if it has one.
    pub fn current(conn: &mut DbConnection, client_id: &ClientId) -> StoreResult<Option<Self>> {
        let row: Option<EntryRow> = status_entries::table
            .filter(status_entries::client_id.eq(client_id.as_str()))
            .filter(status_entries::status.ne(INVALID))
            .select(EntryRow::as_select())
            .first(conn)
            .optional()?;
        row.map(|r| r.into_generation().map(|(_, g)| g)).transpose()
    }

    /// The current generations of several keypairs, by client id.
    pub(crate) fn current_of(
        conn: &mut DbConnection,
        client_ids: &[&str],
    ) -> StoreResult<HashMap<String, Generation>> {
        if client_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<EntryRow> = status_entries::table
            .filter(status_entries::client_id.eq_any(client_ids))
            .filter(status_entries::status.ne(INVALID))
            .select(EntryRow::as_select())
            .load(conn)?;
        rows.into_iter().map(EntryRow::into_generation).collect()
    }

    /// The keypair's current generation, opening a new one at a random free entry if it
    /// has none (its first token, or the first since its tokens were invalidated). The
    /// new generation is VALID, or SUSPENDED if the keypair is disabled.
    pub fn current_or_open(
        tx: &mut Tx<'_>,
        client_id: &ClientId,
        policy: &GenerationPolicy,
        now: OffsetDateTime,
    ) -> StoreResult<Self> {
        if let Some(current) = Generation::current(tx, client_id)? {
            return Ok(current);
        }
        let enabled: bool = keypairs::table
            .find(client_id.as_str())
            .select(keypairs::enabled)
            .first(&mut **tx)
            .optional()?
            .ok_or(StoreError::NotFound("keypair"))?;
        let status = if enabled {
            TokenStatus::Valid
        } else {
            TokenStatus::Suspended
        };
        let reuse_before = to_micros(now - policy.reuse_after);
        let (list_id, idx) = free_slot(tx, policy, reuse_before, now)?;
        // A reusable INVALID row is replaced; a free slot has no row.
        diesel::delete(status_entries::table.find((list_id.as_str(), i64::from(idx))))
            .execute(&mut **tx)?;
        diesel::insert_into(status_entries::table)
            .values((
                status_entries::list_id.eq(list_id.as_str()),
                status_entries::idx.eq(i64::from(idx)),
                status_entries::client_id.eq(client_id.as_str()),
                status_entries::status.eq(status.db()),
                status_entries::created_at.eq(to_micros(now)),
                status_entries::invalidated_at.eq(None::<i64>),
            ))
            .execute(&mut **tx)?;
        status_changed(tx)?;
        tx.changed(Change::Keypair(client_id.clone()));
        Ok(Generation {
            list_id,
            idx,
            status,
        })
    }

    /// Makes the keypair's current generation INVALID, for good: every token issued to
    /// it so far is refused, and its next token opens a new generation. Returns whether
    /// there was one. The hook for every trigger (delete, owner close, scope removal,
    /// `revoke-tokens`, RFC 7009, and the lifecycle's secret and expiry changes).
    pub fn invalidate(
        tx: &mut Tx<'_>,
        client_id: &ClientId,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let n = diesel::update(
            status_entries::table
                .filter(status_entries::client_id.eq(client_id.as_str()))
                .filter(status_entries::status.ne(INVALID)),
        )
        .set((
            status_entries::status.eq(INVALID),
            status_entries::invalidated_at.eq(Some(to_micros(now))),
        ))
        .execute(&mut **tx)?;
        tx.changed(Change::Keypair(client_id.clone()));
        if n > 0 {
            status_changed(tx)?;
        }
        Ok(n > 0)
    }

    /// Invalidates the current generation of every keypair an account owns (its own
    /// and its environments'), or an environment owns, before they are deleted.
    pub(crate) fn invalidate_owned(
        tx: &mut Tx<'_>,
        account_id: Option<&str>,
        environment_id: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<usize> {
        let invalid = (
            status_entries::status.eq(INVALID),
            status_entries::invalidated_at.eq(Some(to_micros(now))),
        );
        let current = status_entries::table.filter(status_entries::status.ne(INVALID));
        let n = match (account_id, environment_id) {
            (_, Some(e)) => diesel::update(
                current.filter(
                    status_entries::client_id.eq_any(
                        keypairs::table
                            .select(keypairs::client_id)
                            .filter(keypairs::environment_id.eq(e)),
                    ),
                ),
            )
            .set(invalid)
            .execute(&mut **tx)?,
            (Some(a), None) => diesel::update(
                current.filter(
                    status_entries::client_id.eq_any(
                        keypairs::table
                            .select(keypairs::client_id)
                            .filter(keypairs::account_id.eq(a)),
                    ),
                ),
            )
            .set(invalid)
            .execute(&mut **tx)?,
            (None, None) => 0,
        };
        if n > 0 {
            status_changed(tx)?;
        }
        Ok(n)
    }

    /// Disabling suspends the current generation; enabling makes a SUSPENDED one VALID
    /// again. An INVALID generation is never touched.
    pub(crate) fn set_suspended(
        tx: &mut Tx<'_>,
        client_id: &ClientId,
        suspended: bool,
    ) -> StoreResult<bool> {
        let (from, to) = if suspended {
            (TokenStatus::Valid, TokenStatus::Suspended)
        } else {
            (TokenStatus::Suspended, TokenStatus::Valid)
        };
        let n = diesel::update(
            status_entries::table
                .filter(status_entries::client_id.eq(client_id.as_str()))
                .filter(status_entries::status.eq(from.db())),
        )
        .set(status_entries::status.eq(to.db()))
        .execute(&mut **tx)?;
        if n > 0 {
            status_changed(tx)?;
        }
        Ok(n > 0)
    }

    /// RFC 7009: `client_id` revokes a token of its own that carries entry
    /// (`list_id`, `idx`). Invalidates that generation if it is still the keypair's
    /// current one (audited as `keypair.revoke_tokens`); a token of an older, already
    /// INVALID generation changes nothing. Returns whether something changed.
    pub fn revoke(
        tx: &mut Tx<'_>,
        client_id: &ClientId,
        list_id: &StatusListId,
        idx: u32,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let current = Generation::current(tx, client_id)?;
        if current.is_none_or(|g| g.list_id != *list_id || g.idx != idx) {
            return Ok(false);
        }
        Generation::invalidate(tx, client_id, now)?;
        let (account, environment): (Option<String>, Option<String>) = keypairs::table
            .find(client_id.as_str())
            .select((keypairs::account_id, keypairs::environment_id))
            .first(&mut **tx)
            .optional()?
            .unwrap_or_default();
        AuditEntry {
            actor: &Actor::keypair(client_id),
            action: AuditAction::KeypairRevokeTokens,
            target: client_id.as_str(),
            account_id: account.map(crate::ids::AccountId::from_db).as_ref(),
            environment_id: environment.map(crate::ids::EnvironmentId::from_db).as_ref(),
            detail: "via=revocation_endpoint".into(),
            now,
        }
        .write(tx)?;
        Ok(true)
    }
}

/// A free slot for a new entry: random probes into each list in turn, then an exact
/// look at that list's used slots, and a new list when every list is full.
fn free_slot(
    tx: &mut Tx<'_>,
    policy: &GenerationPolicy,
    reuse_before: i64,
    now: OffsetDateTime,
) -> StoreResult<(StatusListId, u32)> {
    for list in StatusList::all(tx)? {
        for _ in 0..PROBES {
            let idx = random_index(list.capacity);
            if slot_is_free(tx, &list.id, idx, reuse_before)? {
                return Ok((list.id, idx));
            }
        }
        if let Some(idx) = random_free_slot(tx, &list, reuse_before)? {
            return Ok((list.id, idx));
        }
    }
    let list = StatusList::open(tx, policy.list_capacity, now)?;
    let idx = random_index(list.capacity);
    Ok((list.id, idx))
}

fn slot_is_free(
    conn: &mut DbConnection,
    list_id: &StatusListId,
    idx: u32,
    reuse_before: i64,
) -> StoreResult<bool> {
    let row: Option<(i16, Option<i64>)> = status_entries::table
        .find((list_id.as_str(), i64::from(idx)))
        .select((status_entries::status, status_entries::invalidated_at))
        .first(conn)
        .optional()?;
    Ok(match row {
        None => true,
        Some((status, invalidated_at)) => {
            status == INVALID && invalidated_at.is_some_and(|t| t < reuse_before)
        }
    })
}

/// Every free slot of a list that random probes found (nearly) full; one at random.
fn random_free_slot(
    conn: &mut DbConnection,
    list: &StatusList,
    reuse_before: i64,
) -> StoreResult<Option<u32>> {
    let taken: Vec<i64> = status_entries::table
        .filter(status_entries::list_id.eq(list.id.as_str()))
        .filter(
            status_entries::status
                .ne(INVALID)
                .or(status_entries::invalidated_at
                    .ge(reuse_before)
                    .or(status_entries::invalidated_at.is_null())),
        )
        .select(status_entries::idx)
        .load(conn)?;
    let capacity = list.capacity as usize;
    let mut used = vec![false; capacity];
    for i in taken {
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| used.get_mut(i)) {
            *slot = true;
        }
    }
    let free = used.iter().filter(|u| !**u).count();
    if free == 0 {
        return Ok(None);
    }
    let nth = random_index(u32::try_from(free).unwrap_or(u32::MAX)) as usize;
    Ok(used
        .iter()
        .enumerate()
        .filter(|(_, u)| !**u)
        .nth(nth)
        .and_then(|(i, _)| u32::try_from(i).ok()))
}

impl StatusEntry {
    /// One entry, if any.
    pub fn find(
        conn: &mut DbConnection,
        list_id: &StatusListId,
        idx: u32,
    ) -> StoreResult<Option<StatusEntry>> {
        let row: Option<EntryRow> = status_entries::table
            .find((list_id.as_str(), i64::from(idx)))
            .select(EntryRow::as_select())
            .first(conn)
            .optional()?;
        row.map(EntryRow::into_entry).transpose()
    }
}

impl StatusList {
    /// Every list, oldest first.
    pub fn all(conn: &mut DbConnection) -> StoreResult<Vec<StatusList>> {
        let rows: Vec<ListRow> = status_lists::table
            .select(ListRow::as_select())
            .order((status_lists::created_at.asc(), status_lists::id.asc()))
            .load(conn)?;
        rows.into_iter().map(ListRow::into_list).collect()
    }

    /// One list, if it exists.
    pub fn find(conn: &mut DbConnection, id: &StatusListId) -> StoreResult<Option<StatusList>> {
        let row: Option<ListRow> = status_lists::table
            .find(id.as_str())
            .select(ListRow::as_select())
            .first(conn)
            .optional()?;
        row.map(ListRow::into_list).transpose()
    }

    /// The entries of a list that are not VALID, as (index, status), by index. Every
    /// other entry of the list is VALID.
    pub fn not_valid(
        conn: &mut DbConnection,
        id: &StatusListId,
    ) -> StoreResult<Vec<(u32, TokenStatus)>> {
        let rows: Vec<(i64, i16)> = status_entries::table
            .filter(status_entries::list_id.eq(id.as_str()))
            .filter(status_entries::status.ne(TokenStatus::Valid.db()))
            .select((status_entries::idx, status_entries::status))
            .order(status_entries::idx.asc())
            .load(conn)?;
        rows.into_iter()
            .map(|(i, s)| Ok((index(i)?, TokenStatus::from_db(s)?)))
            .collect()
    }

    /// The status version: it moves with every status change.
    pub fn version(conn: &mut DbConnection) -> StoreResult<i64> {
        Ok(status_version::table
            .select(status_version::version)
            .first(conn)
            .optional()?
            .unwrap_or(0))
    }

    fn open(tx: &mut Tx<'_>, capacity: u32, now: OffsetDateTime) -> StoreResult<StatusList> {
        let row = ListRow {
            id: StatusListId::generate().as_str().to_owned(),
            capacity: i64::from(capacity.max(1)),
            created_at: to_micros(now),
        };
        diesel::insert_into(status_lists::table)
            .values(&row)
            .execute(&mut **tx)?;
        status_changed(tx)?;
        row.into_list()
    }
}

impl Store {
    /// The keypair's current generation, opening one if it has none
    /// ([`Generation::current_or_open`]). Two processes opening one for the same
    /// keypair at once cannot both succeed (one current generation per keypair is a
    /// unique index): the loser reads the winner's.
    pub fn open_generation(
        &self,
        client_id: &ClientId,
        policy: &GenerationPolicy,
        now: OffsetDateTime,
    ) -> StoreResult<Generation> {
        let mut attempt = 0;
        loop {
            match self.write(|tx| Generation::current_or_open(tx, client_id, policy, now)) {
                Err(StoreError::Database(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                ))) if attempt < 5 => attempt += 1,
                other => return other,
            }
        }
    }

    /// Invalidates every token issued to a keypair so far (`revoke-tokens`), audited.
    pub fn revoke_tokens(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.write(|tx| crate::Keypair::revoke_tokens(tx, actor, client_id, now))
    }

    /// RFC 7009 revocation by the token's own client ([`Generation::revoke`]).
    pub fn revoke_generation(
        &self,
        client_id: &ClientId,
        list_id: &StatusListId,
        idx: u32,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        self.write(|tx| Generation::revoke(tx, client_id, list_id, idx, now))
    }

    /// One status entry ([`StatusEntry::find`]).
    pub fn status_entry(
        &self,
        list_id: &StatusListId,
        idx: u32,
    ) -> StoreResult<Option<StatusEntry>> {
        self.read(|c| StatusEntry::find(c, list_id, idx))
    }

    /// Every status list, oldest first.
    pub fn status_lists(&self) -> StoreResult<Vec<StatusList>> {
        self.read(StatusList::all)
    }

    /// One list and its entries that are not VALID.
    pub fn status_list_contents(&self, id: &StatusListId) -> StoreResult<Option<ListContents>> {
        self.read(|c| {
            let Some(list) = StatusList::find(c, id)? else {
                return Ok(None);
            };
            let not_valid = StatusList::not_valid(c, id)?;
            Ok(Some(ListContents { list, not_valid }))
        })
    }

    /// The database's status version ([`StatusList::version`]).
    pub fn status_version(&self) -> StoreResult<i64> {
        self.read(StatusList::version)
    }
}
