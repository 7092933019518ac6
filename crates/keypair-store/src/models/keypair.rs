//! API keypairs: creation (the only time a secret exists in plaintext), reads,
//! updates and deletion. Writes take a [`Tx`] and record the keypairs they make stale;
//! reads take a connection. Authentication lives in `crate::auth`.

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::address::AddressList;
use crate::audit::{Actor, AuditAction, AuditEntry};
use crate::db::DbConnection;
use crate::ids::{AccountId, ClientId, EnvironmentId};
use crate::models::secrets::{SecretInfo, SecretRow};
use crate::models::status::Generation;
use crate::page::{after_cursor, Cursor, Page, PageRequest};
use crate::schema::{environments, keypair_secrets, keypairs};
use crate::scope::{Scope, ScopeSet, OPERATOR_SCOPE};
use crate::secret::ClientSecret;
use crate::timestamp::{from_micros, to_micros};
use crate::tx::{Change, Tx};
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
    /// The first characters of the newest secret.
    pub secret_hint: String,
    /// Its secrets, newest first: the live ones, and any that ran out since the last
    /// rotation (see [`Keypair::live_secrets`]).
    pub secrets: Vec<SecretInfo>,
    /// After this it gets no token (`None`: never).
    pub expires_at: Option<OffsetDateTime>,
    /// Where it may be used from (empty: anywhere).
    pub allowed_addresses: AddressList,
    /// Token lifetime for this keypair, if it overrides the global one.
    pub token_lifetime_seconds: Option<u32>,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it was last changed.
    pub updated_at: OffsetDateTime,
    /// When it last got a token (minute granularity).
    pub last_used_at: Option<OffsetDateTime>,
    /// The current generation of its tokens (`None` before its first token, and after
    /// its tokens were invalidated until its next one).
    pub generation: Option<Generation>,
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
    /// Optional end of the keypair's life; must be in the future.
    pub expires_at: Option<OffsetDateTime>,
    /// Where it may be used from (empty: anywhere).
    pub allowed_addresses: AddressList,
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
    /// New expiry (`Some(None)` removes it); must be in the future.
    pub expires_at: Option<Option<OffsetDateTime>>,
    /// New address allowlist.
    pub allowed_addresses: Option<AddressList>,
    /// New per-keypair token lifetime (`Some(None)`: the global one again; the caller
    /// checks it against the maximum).
    pub token_lifetime_seconds: Option<Option<u32>>,
    /// The longest lifetime a token of this keypair can have been issued with
    /// (`token.max_lifetime_seconds`). An earlier `expires_at` invalidates the tokens
    /// issued so far when it cuts into that span; `None` assumes any token may live
    /// until the old `expires_at`, so every earlier expiry invalidates them.
    pub longest_token_lifetime: Option<time::Duration>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = keypairs)]
pub(crate) struct KeypairRow {
    client_id: String,
    account_id: Option<String>,
    environment_id: Option<String>,
    scopes: String,
    comment: String,
    enabled: bool,
    secret_hint: String,
    token_lifetime_seconds: Option<i64>,
    created_at: i64,
    updated_at: i64,
    last_used_at: Option<i64>,
    expires_at: Option<i64>,
    allowed_addresses: String,
}

impl KeypairRow {
    /// The row of `client_id`, if any.
    pub(crate) fn find(conn: &mut DbConnection, client_id: &ClientId) -> StoreResult<Option<Self>> {
        Ok(keypairs::table
            .find(client_id.as_str())
            .select(KeypairRow::as_select())
            .first(conn)
            .optional()?)
    }

    /// The keypair with its current generation and secrets read from `conn`.
    pub(crate) fn load(self, conn: &mut DbConnection) -> StoreResult<Keypair> {
        let mut keypair = self.into_keypair()?;
        keypair.generation = Generation::current(conn, &keypair.client_id)?;
        keypair.secrets = SecretRow::of(conn, &keypair.client_id)?
            .iter()
            .map(SecretRow::info)
            .collect();
        Ok(keypair)
    }

    /// The keypair without its generation and secrets.
    pub(crate) fn into_keypair(self) -> StoreResult<Keypair> {
        let corrupt =
            |what: &str| StoreError::Corrupt(format!("keypair {}: {what}", self.client_id));
        let owner = match (&self.account_id, &self.environment_id) {
            (None, None) => Owner::Operator,
            (Some(a), None) => Owner::Account(AccountId::from_db(a.clone())),
            (Some(a), Some(e)) => Owner::Environment {
                account_id: AccountId::from_db(a.clone()),
                environment_id: EnvironmentId::from_db(e.clone()),
            },
            (None, Some(_)) => return Err(corrupt("environment without account")),
        };
        let scopes = ScopeSet::parse_space_separated(&self.scopes)
            .map_err(|_| corrupt("stored scopes do not parse"))?;
        let token_lifetime_seconds = self
            .token_lifetime_seconds
            .map(u32::try_from)
            .transpose()
            .map_err(|_| corrupt("token lifetime out of range"))?;
        let allowed_addresses = AddressList::from_db(&self.allowed_addresses)
            .ok_or_else(|| corrupt("stored address allowlist does not parse"))?;
        Ok(Keypair {
            client_id: ClientId::from_db(self.client_id),
            owner,
            scopes,
            comment: self.comment,
            enabled: self.enabled,
            secret_hint: self.secret_hint,
            secrets: Vec::new(),
            expires_at: self.expires_at.map(from_micros),
            allowed_addresses,
            token_lifetime_seconds,
            created_at: from_micros(self.created_at),
            updated_at: from_micros(self.updated_at),
            last_used_at: self.last_used_at.map(from_micros),
            generation: None,
        })
    }
}

/// The audit account of a keypair row.
fn audit_account(row: &KeypairRow) -> Option<AccountId> {
    row.account_id.clone().map(AccountId::from_db)
}

/// Fails with `NotFound` unless `owner` exists (an environment: within its account).
fn check_owner_exists(c: &mut DbConnection, owner: &Owner) -> StoreResult<()> {
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
        return Err(owner_not_found(owner));
    }
    Ok(())
}

fn owner_not_found(owner: &Owner) -> StoreError {
    StoreError::NotFound(match owner {
        Owner::Environment { .. } => "environment",
        _ => "account",
    })
}

/// An insert whose owner was closed by a concurrent transaction after the check:
/// the foreign key refuses it; say so as the check would have.
fn owner_gone(owner: &Owner) -> impl Fn(diesel::result::Error) -> StoreError + '_ {
    move |e| match e {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _,
        ) => owner_not_found(owner),
        e => StoreError::Database(e),
    }
}

/// Whether moving a keypair's expiry from `old` to `new` ends tokens already issued
/// before their `exp`: those end no later than `old`, nor than `now` plus the longest
/// token lifetime (when known).
fn cuts_tokens_short(
    old: Option<OffsetDateTime>,
    new: Option<OffsetDateTime>,
    longest_token_lifetime: Option<time::Duration>,
    now: OffsetDateTime,
) -> bool {
    let Some(new) = new else {
        return false;
    };
    let latest_exp = match (old, longest_token_lifetime) {
        (Some(old), Some(l)) => Some(old.min(now + l)),
        (Some(old), None) => Some(old),
        (None, Some(l)) => Some(now + l),
        (None, None) => None,
    };
    latest_exp.is_none_or(|latest| new < latest)
}

/// A keypair's expiry, in whole seconds (a fraction is dropped: it ends no later than
/// asked), must lie ahead.
fn check_expiry(
    expires_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> StoreResult<Option<OffsetDateTime>> {
    let Some(e) = expires_at else {
        return Ok(None);
    };
    let e = e
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .map_err(|_| StoreError::invalid("expires_at", "out of range"))?;
    if e <= now {
        return Err(StoreError::invalid("expires_at", "must be in the future"));
    }
    Ok(Some(e))
}

fn refuse_operator_scope(scopes: &ScopeSet) -> StoreResult<()> {
    if scopes.contains(OPERATOR_SCOPE) {
        return Err(StoreError::invalid(
            "scopes",
            format!("`{OPERATOR_SCOPE}` is reserved"),
        ));
    }
    Ok(())
}

impl NewKeypair {
    /// The operator keypair `keygate bootstrap` makes: no owner, `keygate:operator`.
    pub fn operator(comment: &str) -> StoreResult<Self> {
        Ok(NewKeypair {
            owner: Owner::Operator,
            scopes: [Scope::parse(OPERATOR_SCOPE)?].into_iter().collect(),
            comment: comment.to_owned(),
            enabled: true,
            token_lifetime_seconds: None,
            expires_at: None,
            allowed_addresses: AddressList::any(),
        })
    }

    /// Refuses what administrators may not create: operator keypairs and the
    /// operator scope.
    fn check_administrable(&self) -> StoreResult<()> {
        if matches!(self.owner, Owner::Operator) {
            return Err(StoreError::invalid(
                "owner",
                "keypairs belong to an account or an environment",
            ));
        }
        refuse_operator_scope(&self.scopes)
    }

    /// A row for this keypair with a fresh id and secret, and the secret's row.
    fn row(
        &self,
        comment: &str,
        expires_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> (KeypairRow, SecretRow, ClientSecret) {
        let secret = ClientSecret::generate();
        let client_id = ClientId::generate();
        let secret_row = SecretRow::new(client_id.as_str(), &secret, now);
        let row = KeypairRow {
            client_id: client_id.as_str().to_owned(),
            account_id: self.owner.account_id().map(|a| a.as_str().to_owned()),
            environment_id: self.owner.environment_id().map(|e| e.as_str().to_owned()),
            scopes: self.scopes.to_space_separated(),
            comment: comment.to_owned(),
            enabled: self.enabled,
            secret_hint: secret.hint(),
            token_lifetime_seconds: self.token_lifetime_seconds.map(i64::from),
            created_at: to_micros(now),
            updated_at: to_micros(now),
            last_used_at: None,
            expires_at: expires_at.map(to_micros),
            allowed_addresses: self.allowed_addresses.to_db(),
        };
        (row, secret_row, secret)
    }

    /// Inserts an account- or environment-owned keypair and returns it with its
    /// secret, which is not stored and cannot be shown again.
    pub fn insert(
        &self,
        tx: &mut Tx<'_>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<(Keypair, ClientSecret)> {
        self.check_administrable()?;
        self.insert_unchecked(tx, actor, now)
    }

    /// Inserts without the administrable check (operator keypairs).
    fn insert_unchecked(
        &self,
        tx: &mut Tx<'_>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> StoreResult<(Keypair, ClientSecret)> {
        let comment = validate::comment(&self.comment)?;
        let expires_at = check_expiry(self.expires_at, now)?;
        check_owner_exists(tx, &self.owner)?;
        let (row, secret_row, secret) = self.row(&comment, expires_at, now);
        diesel::insert_into(keypairs::table)
            .values(&row)
            .execute(&mut **tx)
            .map_err(owner_gone(&self.owner))?;
        diesel::insert_into(keypair_secrets::table)
            .values(&secret_row)
            .execute(&mut **tx)?;
        AuditEntry {
            actor,
            action: AuditAction::KeypairCreate,
            target: &row.client_id,
            account_id: audit_account(&row).as_ref(),
            detail: format!("scopes={},enabled={}", row.scopes, row.enabled),
            now,
        }
        .write(tx)?;
        let mut keypair = row.into_keypair()?;
        keypair.secrets = vec![secret_row.info()];
        Ok((keypair, secret))
    }

    /// Inserts `rows` made by [`NewKeypair::row`] in one multi-row statement, with one
    /// audit record for the batch.
    fn insert_batch(
        &self,
        tx: &mut Tx<'_>,
        actor: &Actor,
        rows: &[KeypairRow],
        secret_rows: &[SecretRow],
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        check_owner_exists(tx, &self.owner)?;
        // Multi-row VALUES is backend-specific in diesel: run it on the inner connection.
        match &mut **tx {
            DbConnection::Sqlite(inner) => diesel::insert_into(keypairs::table)
                .values(rows)
                .execute(inner),
            DbConnection::Postgres(inner) => diesel::insert_into(keypairs::table)
                .values(rows)
                .execute(inner),
        }
        .map_err(owner_gone(&self.owner))?;
        match &mut **tx {
            DbConnection::Sqlite(inner) => diesel::insert_into(keypair_secrets::table)
                .values(secret_rows)
                .execute(inner),
            DbConnection::Postgres(inner) => diesel::insert_into(keypair_secrets::table)
                .values(secret_rows)
                .execute(inner),
        }?;
        AuditEntry {
            actor,
            action: AuditAction::KeypairCreate,
            target: "bulk",
            account_id: self.owner.account_id(),
            detail: format!("count={}", rows.len()),
            now,
        }
        .write(tx)?;
        Ok(())
    }
}

impl Keypair {
    /// The secrets that still work at `now`, newest first.
    pub fn live_secrets(&self, now: OffsetDateTime) -> impl Iterator<Item = &SecretInfo> {
        self.secrets.iter().filter(move |s| s.live_at(now))
    }

    /// Whether it has expired at `now`.
    pub fn expired_at(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }

    /// Reads one keypair.
    pub fn find(conn: &mut DbConnection, client_id: &ClientId) -> StoreResult<Keypair> {
        KeypairRow::find(conn, client_id)?
            .ok_or(StoreError::NotFound("keypair"))?
            .load(conn)
    }

    /// Keypairs owned directly by an account (not its environments'), or by an
    /// environment; newest first.
    pub fn list(
        conn: &mut DbConnection,
        owner: &Owner,
        page: &PageRequest,
    ) -> StoreResult<Page<Keypair>> {
        use keypairs::dsl as k;
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
            after_cursor!(query, page, k::created_at, k::client_id).load(conn)?;
        let page = page.finish(rows, |r| Cursor::after(r.created_at, &r.client_id));
        let ids: Vec<&str> = page.items.iter().map(|r| r.client_id.as_str()).collect();
        let mut generations = Generation::current_of(conn, &ids)?;
        let mut secrets = SecretRow::of_many(conn, &ids)?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|r| {
                    let generation = generations.remove(&r.client_id);
                    let secrets = secrets
                        .remove(&r.client_id)
                        .unwrap_or_default()
                        .iter()
                        .map(SecretRow::info)
                        .collect();
                    r.into_keypair().map(|k| Keypair {
                        generation,
                        secrets,
                        ..k
                    })
                })
                .collect::<StoreResult<_>>()?,
            next_cursor: page.next_cursor,
        })
    }

    /// Applies a patch and returns the updated keypair. Acts on the row it found: a
    /// keypair deleted meanwhile is `NotFound`, not a phantom update.
    pub fn update(
        tx: &mut Tx<'_>,
        actor: &Actor,
        client_id: &ClientId,
        patch: &KeypairPatch,
        now: OffsetDateTime,
    ) -> StoreResult<Keypair> {
        let comment = patch
            .comment
            .as_deref()
            .map(validate::comment)
            .transpose()?;
        if let Some(scopes) = &patch.scopes {
            refuse_operator_scope(scopes)?;
        }
        let expires_at = patch.expires_at.map(|e| check_expiry(e, now)).transpose()?;
        let current = KeypairRow::find(tx, client_id)?.ok_or(StoreError::NotFound("keypair"))?;
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
        if expires_at.is_some() {
            changed.push("expires_at");
        }
        if patch.allowed_addresses.is_some() {
            changed.push("allowed_addresses");
        }
        if patch.token_lifetime_seconds.is_some() {
            changed.push("token_lifetime_seconds");
        }
        let updated = diesel::update(keypairs::table.find(client_id.as_str()))
            .set((
                patch.enabled.map(|v| keypairs::enabled.eq(v)),
                patch
                    .scopes
                    .as_ref()
                    .map(|s| keypairs::scopes.eq(s.to_space_separated())),
                comment.map(|v| keypairs::comment.eq(v)),
                expires_at.map(|e| keypairs::expires_at.eq(e.map(to_micros))),
                patch
                    .allowed_addresses
                    .as_ref()
                    .map(|a| keypairs::allowed_addresses.eq(a.to_db())),
                patch
                    .token_lifetime_seconds
                    .map(|l| keypairs::token_lifetime_seconds.eq(l.map(i64::from))),
                keypairs::updated_at.eq(to_micros(now)),
            ))
            .execute(&mut **tx)?;
        if updated == 0 {
            return Err(StoreError::NotFound("keypair"));
        }
        // Token status: removing a scope invalidates the tokens issued so far (they
        // carry it), and so does an expiry that cuts them short; disabling suspends
        // them, enabling makes suspended ones good again.
        let old_scopes = ScopeSet::parse_space_separated(&current.scopes).unwrap_or_default();
        let scope_removed = patch
            .scopes
            .as_ref()
            .is_some_and(|new_scopes| old_scopes.iter().any(|s| !new_scopes.contains(s.as_str())));
        let cuts_tokens_short = expires_at.is_some_and(|new| {
            cuts_tokens_short(
                current.expires_at.map(from_micros),
                new,
                patch.longest_token_lifetime,
                now,
            )
        });
        if scope_removed || cuts_tokens_short {
            Generation::invalidate(tx, client_id, now)?;
        }
        if let Some(enabled) = patch.enabled {
            Generation::set_suspended(tx, client_id, !enabled)?;
        }
        AuditEntry {
            actor,
            action: AuditAction::KeypairUpdate,
            target: client_id.as_str(),
            account_id: audit_account(&current).as_ref(),
            detail: changed.join(","),
            now,
        }
        .write(tx)?;
        tx.changed(Change::Keypair(client_id.clone()));
        Keypair::find(tx, client_id)
    }

    /// Deletes a keypair for good. Of concurrent deletes exactly one succeeds: the
    /// others find no row to delete (PostgreSQL re-checks the row after the first
    /// commit) and answer `NotFound`, writing no audit record.
    pub fn delete(
        tx: &mut Tx<'_>,
        actor: &Actor,
        client_id: &ClientId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let current = KeypairRow::find(tx, client_id)?.ok_or(StoreError::NotFound("keypair"))?;
        Generation::invalidate(tx, client_id, now)?;
        let deleted =
            diesel::delete(keypairs::table.find(client_id.as_str())).execute(&mut **tx)?;
        if deleted == 0 {
            return Err(StoreError::NotFound("keypair"));
        }
        AuditEntry {
            actor,
            action: AuditAction::KeypairDelete,
            target: client_id.as_str(),
            account_id: audit_account(&current).as_ref(),
            detail: String::new(),
            now,
        }
        .write(tx)?;
        tx.changed(Change::Keypair(client_id.clone()));
        Ok(())
    }
}

impl Keypair {
    /// Invalidates every token issued to the keypair so far (`revoke-tokens`); its
    /// next token opens a new generation. Audited as `keypair.revoke_tokens`.
    pub fn revoke_tokens(
        tx: &mut Tx<'_>,
        actor: &Actor,
        client_id: &ClientId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let current = KeypairRow::find(tx, client_id)?.ok_or(StoreError::NotFound("keypair"))?;
        let had = Generation::invalidate(tx, client_id, now)?;
        AuditEntry {
            actor,
            action: AuditAction::KeypairRevokeTokens,
            target: client_id.as_str(),
            account_id: audit_account(&current).as_ref(),
            detail: format!("generation_invalidated={had}"),
            now,
        }
        .write(tx)?;
        Ok(())
    }
}

impl Store {
    /// Creates an account- or environment-owned keypair ([`NewKeypair::insert`]).
    pub fn create_keypair(
        &self,
        actor: &Actor,
        new: NewKeypair,
        now: OffsetDateTime,
    ) -> StoreResult<(Keypair, ClientSecret)> {
        self.write(|tx| new.insert(tx, actor, now))
    }

    /// Creates an operator keypair (no owner, scope `keygate:operator`), for
    /// `keygate bootstrap`.
    pub fn create_operator_keypair(
        &self,
        actor: &Actor,
        comment: &str,
        now: OffsetDateTime,
    ) -> StoreResult<(Keypair, ClientSecret)> {
        let new = NewKeypair::operator(comment)?;
        self.write(|tx| new.insert_unchecked(tx, actor, now))
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
        template.check_administrable()?;
        let expires_at = check_expiry(template.expires_at, now)?;
        let comment = validate::comment(&template.comment)?;
        let mut out = Vec::with_capacity(count);
        let mut remaining = count;
        while remaining > 0 {
            let n = remaining.min(1000);
            remaining -= n;
            let mut rows = Vec::with_capacity(n);
            let mut secret_rows = Vec::with_capacity(n);
            let mut secrets = Vec::with_capacity(n);
            for _ in 0..n {
                let (row, secret_row, secret) = template.row(&comment, expires_at, now);
                rows.push(row);
                secret_rows.push(secret_row);
                secrets.push(secret);
            }
            self.write(|tx| template.insert_batch(tx, actor, &rows, &secret_rows, now))?;
            out.extend(
                rows.into_iter()
                    .map(|r| ClientId::from_db(r.client_id))
                    .zip(secrets),
            );
        }
        Ok(out)
    }

    /// Reads one keypair.
    pub fn get_keypair(&self, client_id: &ClientId) -> StoreResult<Keypair> {
        self.read(|c| Keypair::find(c, client_id))
    }

    /// Keypairs of an owner, newest first ([`Keypair::list`]).
    pub fn list_keypairs(&self, owner: &Owner, page: &PageRequest) -> StoreResult<Page<Keypair>> {
        self.read(|c| Keypair::list(c, owner, page))
    }

    /// Applies a patch and returns the updated keypair ([`Keypair::update`]).
    pub fn update_keypair(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        patch: KeypairPatch,
        now: OffsetDateTime,
    ) -> StoreResult<Keypair> {
        self.write(|tx| Keypair::update(tx, actor, client_id, &patch, now))
    }

    /// Deletes a keypair for good ([`Keypair::delete`]).
    pub fn delete_keypair(
        &self,
        actor: &Actor,
        client_id: &ClientId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.write(|tx| Keypair::delete(tx, actor, client_id, now))
    }
}

#[cfg(test)]
mod tests {
    use super::cuts_tokens_short;
    use time::macros::datetime;
    use time::Duration;

    #[test]
    fn an_earlier_expiry_cuts_tokens_only_within_their_possible_lifetime() {
        let now = datetime!(2026-12-03 12:00 UTC);
        let hour = Some(Duration::hours(1));
        // No expiry before: tokens may live until now + 1 h.
        assert!(cuts_tokens_short(
            None,
            Some(now + Duration::minutes(30)),
            hour,
            now
        ));
        assert!(!cuts_tokens_short(
            None,
            Some(now + Duration::hours(1)),
            hour,
            now
        ));
        assert!(!cuts_tokens_short(
            None,
            Some(now + Duration::days(30)),
            hour,
            now
        ));
        // Tokens were already capped by the old expiry.
        let old = Some(now + Duration::minutes(20));
        assert!(cuts_tokens_short(
            old,
            Some(now + Duration::minutes(10)),
            hour,
            now
        ));
        assert!(!cuts_tokens_short(
            old,
            Some(now + Duration::minutes(40)),
            hour,
            now
        ));
        // Removing the expiry, or moving it later, never cuts.
        assert!(!cuts_tokens_short(old, None, hour, now));
        // Unknown lifetime: any earlier expiry counts.
        assert!(cuts_tokens_short(
            None,
            Some(now + Duration::days(30)),
            None,
            now
        ));
        assert!(cuts_tokens_short(
            old,
            Some(now + Duration::minutes(19)),
            None,
            now
        ));
        assert!(!cuts_tokens_short(
            old,
            Some(now + Duration::minutes(21)),
            None,
            now
        ));
    }
}
