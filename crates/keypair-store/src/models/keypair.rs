//! API keypairs: the types, and reads. Creation (the only time a secret exists in
//! plaintext) is in `create`, changes and deletion in `change`; writes take a
//! [`crate::Tx`] and record the keypairs they make stale, reads take a connection.
//! Authentication lives in `crate::auth`.

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::address::AddressList;
use crate::audit::Actor;
use crate::db::DbConnection;
use crate::ids::{AccountId, ClientId, EnvironmentId};
use crate::models::secrets::{SecretInfo, SecretRow};
use crate::models::status::Generation;
use crate::page::{after_cursor, Cursor, Page, PageRequest};
use crate::schema::keypairs;
use crate::scope::{ScopeSet, OPERATOR_SCOPE};
use crate::timestamp::from_micros;
use crate::{Store, StoreError, StoreResult};

mod change;
mod create;

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

/// The audit environment of a keypair row.
fn audit_environment(row: &KeypairRow) -> Option<EnvironmentId> {
    row.environment_id.clone().map(EnvironmentId::from_db)
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
}

impl Store {
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
