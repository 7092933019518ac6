//! API keypairs: creation (the only time a secret exists in plaintext), reads,
//! updates, deletion and client authentication.

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::audit::{Actor, AuditAction, AuditEntry};
use crate::cache::Cached;
use crate::changes::{announce, Change};
use crate::ids::{AccountId, ClientId, EnvironmentId};
use crate::page::{after_cursor, Cursor, Page, PageRequest};
use crate::schema::{environments, keypairs};
use crate::scope::{Scope, ScopeSet, OPERATOR_SCOPE};
use crate::secret::{ClientSecret, SecretDigest};
use crate::timestamp::{from_micros, to_micros};
use crate::{validate, Store, StoreError, StoreResult};

/// Who owns a keypair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// No owner: an operator keypair made by `keygate bootstrap`.
    Operator,
    /// An account.
    Account(AccountId),
    /// An environment of an account.
    Environment {
        /// The environment's account.
        account_id: AccountId,
        /// The environment.
        environment_id: EnvironmentId,
    },
}

impl Owner {
    /// The owning account, if any.
    pub fn account_id(&self) -> Option<&AccountId> {
        match self {
            Owner::Operator => None,
            Owner::Account(a) | Owner::Environment { account_id: a, .. } => Some(a),
        }
    }

    /// The owning environment, if any.
    pub fn environment_id(&self) -> Option<&EnvironmentId> {
        match self {
            Owner::Environment { environment_id, .. } => Some(environment_id),
            _ => None,
        }
    }
}

/// A keypair as administrators see it: never the secret or its digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keypair {
    /// Public, stable id.
    pub client_id: ClientId,
    /// The owner.
    pub owner: Owner,
    /// Scopes the keypair may be granted.
    pub scopes: ScopeSet,
    /// Purpose, free text.
    pub comment: String,
    /// Disabled keypairs cannot get tokens.
    pub enabled: bool,
    /// The first characters of the secret.
    pub secret_hint: String,
    /// Token lifetime for this keypair, if it overrides the global one.
    pub token_lifetime_seconds: Option<u32>,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it was last changed.
    pub updated_at: OffsetDateTime,
    /// When it last got a token (minute granularity).
    pub last_used_at: Option<OffsetDateTime>,
}

/// What a new keypair should be. Scopes must already be checked against the catalogue
/// (`ScopeCatalogue::validate_for_keypair`).
#[derive(Clone, Debug)]
pub struct NewKeypair {
    /// The owner: an account or an environment (operator keypairs come from
    /// [`Store::create_operator_keypair`]).
    pub owner: Owner,
    /// Allowed scopes.
    pub scopes: ScopeSet,
    /// Purpose.
    pub comment: String,
    /// Whether it may get tokens right away.
    pub enabled: bool,
    /// Optional per-keypair token lifetime (the caller checks it against the maximum).
    pub token_lifetime_seconds: Option<u32>,
}

/// A change to a keypair; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct KeypairPatch {
    /// New enabled flag.
    pub enabled: Option<bool>,
    /// New scopes (already checked against the catalogue).
    pub scopes: Option<ScopeSet>,
    /// New comment.
    pub comment: Option<String>,
}

/// The result of presenting client credentials.
#[derive(Debug)]
pub enum ClientAuth {
    /// Right secret, enabled keypair.
    Authenticated(std::sync::Arc<Keypair>),
    /// Refused. The reason is for the log only: clients always get the same answer.
    Rejected(Rejection),
}

/// Why credentials were refused (log only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// No keypair has this client id (or it was deleted).
    UnknownClient,
    /// The secret does not match.
    WrongSecret,
    /// The secret matches but the keypair is disabled.
    Disabled,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = keypairs)]
struct KeypairRow {
    client_id: String,
    account_id: Option<String>,
    environment_id: Option<String>,
    scopes: String,
    comment: String,
    enabled: bool,
    secret_digest: Vec<u8>,
    secret_hint: String,
    token_lifetime_seconds: Option<i64>,
    created_at: i64,
    updated_at: i64,
    last_used_at: Option<i64>,
}

impl KeypairRow {
    fn into_keypair(self) -> StoreResult<Keypair> {
        let owner = match (self.account_id, self.environment_id) {
            (None, None) => Owner::Operator,
            (Some(a), None) => Owner::Account(AccountId::from_db(a)),
            (Some(a), Some(e)) => Owner::Environment {
                account_id: AccountId::from_db(a),
                environment_id: EnvironmentId::from_db(e),
            },
            (None, Some(_)) => {
                return Err(StoreError::Conflict("keypair row without account".into()))
            }
        };
        Ok(Keypair {
            client_id: ClientId::from_db(self.client_id),
            owner,
            scopes: ScopeSet::parse_space_separated(&self.scopes)?,
            comment: self.comment,
            enabled: self.enabled,
            secret_hint: self.secret_hint,
            token_lifetime_seconds: self
                .token_lifetime_seconds
                .and_then(|s| u32::try_from(s).ok()),
            created_at: from_micros(self.created_at),
            updated_at: from_micros(self.updated_at),
            last_used_at: self.last_used_at.map(from_micros),
        })
    }
}

/// `last_used_at` is written at most once per this many seconds per keypair, so that a
/// busy client does not turn every token request into a write.
const LAST_USED_GRANULARITY_SECS: i64 = 60;

impl Store {
    /// Creates an account- or environment-owned keypair and returns it with its secret,
    /// which is not stored and cannot be shown again.
    pub fn create_keypair(
        &self,
        actor: &Actor,
        new: NewKeypair,
        now: OffsetDateTime,
    ) -> StoreResult<(Keypair, ClientSecret)> {
        if matches!(new.owner, Owner::Operator) {
            return Err(StoreError::invalid(
                "owner",
                "keypairs belong to an account or an environment",
            ));
        }
        if new.scopes.contains(OPERATOR_SCOPE) {
            return Err(StoreError::invalid(
                "scopes",
                format!("`{OPERATOR_SCOPE}` is reserved"),
            ));
        }
        self.insert_keypair(actor, new, now)
    }

    /// Creates an operator keypair (no owner, scope `keygate:operator`), for
    /// `keygate bootstrap`.
    pub fn create_operator_keypair(
        &self,
        actor: &Actor,
        comment: &str,
        now: OffsetDateTime,
    ) -> StoreResult<(Keypair, ClientSecret)> {
        let scopes = [Scope::parse(OPERATOR_SCOPE)?].into_iter().collect();
        let new = NewKeypair {
            owner: Owner::Operator,
            scopes,
            comment: comment.to_owned(),
            enabled: true,
            token_lifetime_seconds: None,
        };
        self.insert_keypair(actor, new, now)
    }

    fn insert_keypair(
        &self,
        actor: &Actor,
        new: NewKeypair,
        now: OffsetDateTime,
    ) -> StoreResult<(Keypair, ClientSecret)> {
        let comment = validate::comment(&new.comment)?;
        let secret = ClientSecret::generate();
        let client_id = ClientId::generate();
        let row = KeypairRow {
            client_id: client_id.as_str().to_owned(),
            account_id: new.owner.account_id().map(|a| a.as_str().to_owned()),
            environment_id: new.owner.environment_id().map(|e| e.as_str().to_owned()),
            scopes: new.scopes.to_space_separated(),
            comment,
            enabled: new.enabled,
            secret_digest: secret.digest().as_bytes().to_vec(),
            secret_hint: secret.hint(),
            token_lifetime_seconds: new.token_lifetime_seconds.map(i64::from),
            created_at: to_micros(now),
            updated_at: to_micros(now),
            last_used_at: None,
        };
        self.write(|c| {
            self.check_owner_exists(c, &new.owner)?;
            diesel::insert_into(keypairs::table)
                .values(&row)
                .execute(c)?;
            AuditEntry {
                actor,
                action: AuditAction::KeypairCreate,
                target: client_id.as_str(),
                account_id: new.owner.account_id(),
                detail: format!("scopes={},enabled={}", row.scopes, row.enabled),
                now,
            }
            .write(c)?;
            Ok(())
        })?;
        Ok((row.into_keypair()?, secret))
    }

    /// Creates `count` keypairs like `template` in batches of 1000 rows per statement
    /// and transaction, with one audit record per batch. For seeding large stores
    /// (benchmarks, migrations from other systems); returns every secret, so keep
    /// `count` within memory.
    pub fn create_keypairs_bulk(
        &self,
        actor: &Actor,
        template: &NewKeypair,
        count: usize,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<(ClientId, ClientSecret)>> {
        if matches!(template.owner, Owner::Operator) || template.scopes.contains(OPERATOR_SCOPE) {
            return Err(StoreError::invalid(
                "owner",
                "bulk keypairs belong to an account or an environment",
            ));
        }
        let comment = validate::comment(&template.comment)?;
        let mut conn = self.conn()?;
        self.check_owner_exists(&mut conn, &template.owner)?;
        let mut out = Vec::with_capacity(count);
        let mut remaining = count;
        while remaining > 0 {
            let n = remaining.min(1000);
            remaining -= n;
            let mut rows = Vec::with_capacity(n);
            for _ in 0..n {
                let secret = ClientSecret::generate();
                let client_id = ClientId::generate();
                rows.push(KeypairRow {
                    client_id: client_id.as_str().to_owned(),
                    account_id: template.owner.account_id().map(|a| a.as_str().to_owned()),
                    environment_id: template
                        .owner
                        .environment_id()
                        .map(|e| e.as_str().to_owned()),
                    scopes: template.scopes.to_space_separated(),
                    comment: comment.clone(),
                    enabled: template.enabled,
                    secret_digest: secret.digest().as_bytes().to_vec(),
                    secret_hint: secret.hint(),
                    token_lifetime_seconds: template.token_lifetime_seconds.map(i64::from),
                    created_at: to_micros(now),
                    updated_at: to_micros(now),
                    last_used_at: None,
                });
                out.push((client_id, secret));
            }
            conn.transaction::<_, StoreError, _>(|c| {
                // Multi-row VALUES is backend-specific in diesel: run it on the inner connection.
                match &mut **c {
                    crate::db::DbConnection::Sqlite(inner) => diesel::insert_into(keypairs::table)
                        .values(&rows)
                        .execute(inner)?,
                    crate::db::DbConnection::Postgres(inner) => {
                        diesel::insert_into(keypairs::table)
                            .values(&rows)
                            .execute(inner)?
                    }
                };
                AuditEntry {
                    actor,
                    action: AuditAction::KeypairCreate,
                    target: "bulk",
                    account_id: template.owner.account_id(),
                    detail: format!("count={n}"),
                    now,
                }
                .write(c)?;
                Ok(())
            })?;
        }
        Ok(out)
    }

    fn check_owner_exists(
        &self,
        c: &mut crate::db::DbConnection,
        owner: &Owner,
    ) -> StoreResult<()> {
        use crate::schema::accounts;
        let found: i64 = match owner {
            Owner::Operator => 1,
            Owner::Account(a) => accounts::table.find(a.as_str()).count().get_result(c)?,
            Owner::Environment {
                account_id,
                environment_id,
            } => environments::table
                .find(environment_id.as_str())
                .filter(environments::account_id.eq(account_id.as_str()))
                .count()
                .get_result(c)?,
        };
        if found == 0 {
            return Err(StoreError::NotFound(match owner {
                Owner::Environment { .. } => "environment",
                _ => "account",
            }));
        }
        Ok(())
    }

    /// Reads one keypair.
    pub fn get_keypair(&self, client_id: &ClientId) -> StoreResult<Keypair> {
        let mut conn = self.conn()?;
        Self::load_keypair_row(&mut conn, client_id.as_str())?
            .ok_or(StoreError::NotFound("keypair"))?
            .into_keypair()
    }

    fn load_keypair_row(
        conn: &mut crate::db::DbConnection,
        client_id: &str,
    ) -> StoreResult<Option<KeypairRow>> {
        Ok(keypairs::table
            .find(client_id)
            .select(KeypairRow::as_select())
            .first(conn)
            .optional()?)
    }

    /// Keypairs owned directly by an account (not its environments'), or by an
    /// environment; newest first.
    pub fn list_keypairs(&self, owner: &Owner, page: &PageRequest) -> StoreResult<Page<Keypair>> {
        use keypairs::dsl as k;
        let mut conn = self.conn()?;
        let query = k::keypairs.select(KeypairRow::as_select()).into_boxed();
        let query = match owner {
            Owner::Operator => query.filter(k::account_id.is_null()),
            Owner::Account(a) => query
                .filter(k::account_id.eq(a.as_str()))
                .filter(k::environment_id.is_null()),
            Owner::Environment { environment_id, .. } => {
                query.filter(k::environment_id.eq(environment_id.as_str()))
            }
        };
        let rows: Vec<KeypairRow> =
            after_cursor!(query, page, k::created_at, k::client_id).load(&mut conn)?;
        let page = page.finish(rows, |r| Cursor::after(r.created_at, &r.client_id));
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(KeypairRow::into_keypair)
                .collect::<StoreResult<_>>()?,
            next_cursor: page.next_cursor,
        })
    }

    /// Applies a patch and returns the updated keypair.
    pub fn update_keypair(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        patch: KeypairPatch,
        now: OffsetDateTime,
    ) -> StoreResult<Keypair> {
        let comment = patch
            .comment
            .as_deref()
            .map(validate::comment)
            .transpose()?;
        if let Some(scopes) = &patch.scopes {
            if scopes.contains(OPERATOR_SCOPE) {
                return Err(StoreError::invalid(
                    "scopes",
                    format!("`{OPERATOR_SCOPE}` is reserved"),
                ));
            }
        }
        let updated = self.write(|c| {
            let current = Self::load_keypair_row(c, client_id.as_str())?
                .ok_or(StoreError::NotFound("keypair"))?;
            if current.account_id.is_none() && patch.scopes.is_some() {
                return Err(StoreError::invalid(
                    "scopes",
                    "operator keypairs keep their scope",
                ));
            }
            let mut changed = Vec::new();
            if patch.enabled.is_some() {
                changed.push("enabled");
            }
            if patch.scopes.is_some() {
                changed.push("scopes");
            }
            if comment.is_some() {
                changed.push("comment");
            }
            diesel::update(keypairs::table.find(client_id.as_str()))
                .set((
                    patch.enabled.map(|v| keypairs::enabled.eq(v)),
                    patch
                        .scopes
                        .as_ref()
                        .map(|s| keypairs::scopes.eq(s.to_space_separated())),
                    comment.clone().map(|v| keypairs::comment.eq(v)),
                    keypairs::updated_at.eq(to_micros(now)),
                ))
                .execute(c)?;
            AuditEntry {
                actor,
                action: AuditAction::KeypairUpdate,
                target: client_id.as_str(),
                account_id: current.account_id.map(AccountId::from_db).as_ref(),
                detail: changed.join(","),
                now,
            }
            .write(c)?;
            announce(c, Change::Keypair(client_id.as_str()))?;
            Self::load_keypair_row(c, client_id.as_str())?
                .ok_or(StoreError::NotFound("keypair"))?
                .into_keypair()
        })?;
        self.cache.invalidate(client_id.as_str());
        Ok(updated)
    }

    /// Deletes a keypair for good.
    pub fn delete_keypair(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.write(|c| {
            let current = Self::load_keypair_row(c, client_id.as_str())?
                .ok_or(StoreError::NotFound("keypair"))?;
            diesel::delete(keypairs::table.find(client_id.as_str())).execute(c)?;
            AuditEntry {
                actor,
                action: AuditAction::KeypairDelete,
                target: client_id.as_str(),
                account_id: current.account_id.map(AccountId::from_db).as_ref(),
                detail: String::new(),
                now,
            }
            .write(c)?;
            announce(c, Change::Keypair(client_id.as_str()))
        })?;
        self.cache.invalidate(client_id.as_str());
        Ok(())
    }

    /// Checks presented client credentials. Takes the same steps whether or not the
    /// client exists: an unknown client id is compared against a dummy digest, and the
    /// comparison is constant-time (see `docs/security.md`). Keypairs are served from
    /// the write-invalidated cache when possible (`crate::cache`).
    pub fn authenticate(
        &self,
        client_id: &str,
        presented: &ClientSecret,
    ) -> StoreResult<ClientAuth> {
        let presented_digest = presented.digest();
        let found = match ClientId::parse(client_id) {
            Ok(id) => self.cached_or_load(&id)?,
            Err(_) => None,
        };
        let stored = found.as_ref().map_or(SecretDigest::dummy(), |c| &c.digest);
        let matches = stored.matches(&presented_digest);
        let Some(found) = found else {
            return Ok(ClientAuth::Rejected(Rejection::UnknownClient));
        };
        if !matches {
            return Ok(ClientAuth::Rejected(Rejection::WrongSecret));
        }
        if !found.keypair.enabled {
            return Ok(ClientAuth::Rejected(Rejection::Disabled));
        }
        Ok(ClientAuth::Authenticated(found.keypair.clone()))
    }

    fn cached_or_load(&self, id: &ClientId) -> StoreResult<Option<std::sync::Arc<Cached>>> {
        if let Some(c) = self.cache.get(id.as_str()) {
            return Ok(Some(c));
        }
        let generation = self.cache.generation();
        let mut conn = self.conn()?;
        let Some(row) = Self::load_keypair_row(&mut conn, id.as_str())? else {
            return Ok(None);
        };
        let digest = SecretDigest::from_db(&row.secret_digest).ok_or_else(|| {
            StoreError::Conflict("stored secret digest has the wrong length".into())
        })?;
        let cached = std::sync::Arc::new(Cached::new(row.into_keypair()?, digest));
        self.cache
            .insert_if_current(id.as_str(), cached.clone(), generation);
        Ok(Some(cached))
    }

    /// Whether [`Store::authenticate`] and [`Store::record_use`] for this client would
    /// be answered from memory at `now` (no database round trip), so a caller on an
    /// async executor may run them inline.
    pub fn answers_from_memory(&self, client_id: &str, now: OffsetDateTime) -> bool {
        self.cache.get(client_id).is_some_and(|c| {
            let last = c
                .last_use_written
                .load(std::sync::atomic::Ordering::Relaxed);
            now.unix_timestamp().saturating_sub(last) < LAST_USED_GRANULARITY_SECS
        })
    }

    /// Records that a keypair got a token (at most one write a minute per keypair).
    pub fn record_use(&self, client_id: &ClientId, now: OffsetDateTime) -> StoreResult<()> {
        use keypairs::dsl as k;
        if let Some(c) = self.cache.get(client_id.as_str()) {
            let secs = now.unix_timestamp();
            let last = c
                .last_use_written
                .load(std::sync::atomic::Ordering::Relaxed);
            if secs.saturating_sub(last) < LAST_USED_GRANULARITY_SECS {
                return Ok(());
            }
            c.last_use_written
                .store(secs, std::sync::atomic::Ordering::Relaxed);
        }
        let now = to_micros(now);
        let mut conn = self.conn()?;
        diesel::update(
            k::keypairs.find(client_id.as_str()).filter(
                k::last_used_at
                    .is_null()
                    .or(k::last_used_at.lt(now - LAST_USED_GRANULARITY_SECS * 1_000_000)),
            ),
        )
        .set(k::last_used_at.eq(now))
        .execute(&mut conn)?;
        Ok(())
    }
}
