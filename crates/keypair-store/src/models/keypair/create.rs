//! Creating keypairs: one, the operator's, or many at once. The only time a secret
//! exists in plaintext.

use diesel::prelude::*;
use time::OffsetDateTime;

use super::change::check_expiry;
use super::{
    audit_account, audit_environment, refuse_operator_scope, Keypair, KeypairRow, NewKeypair, Owner,
};
use crate::address::AddressList;
use crate::audit::{Actor, AuditAction, AuditEntry};
use crate::db::DbConnection;
use crate::ids::ClientId;
use crate::models::secrets::SecretRow;
use crate::schema::{environments, keypair_secrets, keypairs};
use crate::scope::{Scope, OPERATOR_SCOPE};
use crate::secret::ClientSecret;
use crate::timestamp::to_micros;
use crate::tx::Tx;
use crate::{validate, Store, StoreError, StoreResult};

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
            environment_id: audit_environment(&row).as_ref(),
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
            environment_id: self.owner.environment_id(),
            detail: format!("count={}", rows.len()),
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
}
