//! Accounts and environments.

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::audit::{Actor, AuditAction, AuditEntry};
use crate::db::DbConnection;
use crate::ids::{AccountId, EnvironmentId};
use crate::models::status::Generation;
use crate::page::{after_cursor, Cursor, Page, PageRequest};
use crate::schema::{accounts, environments, keypairs};
use crate::timestamp::{from_micros, to_micros};
use crate::tx::{Change, Tx};
use crate::{validate, Store, StoreError, StoreResult};

/// A tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Opaque id.
    pub id: AccountId,
    /// Display name.
    pub name: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

/// A part of an account (e.g. production, staging) with keypairs of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    /// Opaque id.
    pub id: EnvironmentId,
    /// The account it belongs to.
    pub account_id: AccountId,
    /// Display name.
    pub name: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = accounts)]
struct AccountRow {
    id: String,
    name: String,
    created_at: i64,
}

impl From<AccountRow> for Account {
    fn from(r: AccountRow) -> Self {
        Account {
            id: AccountId::from_db(r.id),
            name: r.name,
            created_at: from_micros(r.created_at),
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = environments)]
struct EnvironmentRow {
    id: String,
    account_id: String,
    name: String,
    created_at: i64,
}

impl From<EnvironmentRow> for Environment {
    fn from(r: EnvironmentRow) -> Self {
        Environment {
            id: EnvironmentId::from_db(r.id),
            account_id: AccountId::from_db(r.account_id),
            name: r.name,
            created_at: from_micros(r.created_at),
        }
    }
}

impl Account {
    /// Creates an account.
    pub fn create(
        tx: &mut Tx<'_>,
        actor: &Actor,
        name: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Account> {
        let row = AccountRow {
            id: AccountId::generate().as_str().to_owned(),
            name: validate::name("name", name)?,
            created_at: to_micros(now),
        };
        diesel::insert_into(accounts::table)
            .values(&row)
            .execute(&mut **tx)?;
        let account = Account::from(row);
        AuditEntry {
            actor,
            action: AuditAction::AccountCreate,
            target: account.id.as_str(),
            account_id: Some(&account.id),
            environment_id: None,
            detail: String::new(),
            now,
        }
        .write(tx)?;
        Ok(account)
    }

    /// Reads an account.
    pub fn find(conn: &mut DbConnection, id: &AccountId) -> StoreResult<Account> {
        accounts::table
            .find(id.as_str())
            .select(AccountRow::as_select())
            .first(conn)
            .optional()?
            .map(Account::from)
            .ok_or(StoreError::NotFound("account"))
    }

    /// Accounts, newest first: every account (`only: None`), or those among `only`.
    pub fn list(
        conn: &mut DbConnection,
        only: Option<&[AccountId]>,
        page: &PageRequest,
    ) -> StoreResult<Page<Account>> {
        use accounts::dsl as a;
        let mut query = a::accounts.select(AccountRow::as_select()).into_boxed();
        if let Some(ids) = only {
            if ids.is_empty() {
                return Ok(Page {
                    items: Vec::new(),
                    next_cursor: None,
                });
            }
            query = query.filter(a::id.eq_any(ids.iter().map(AccountId::as_str)));
        }
        let rows: Vec<AccountRow> = after_cursor!(query, page, a::created_at, a::id).load(conn)?;
        let page = page.finish(rows, |r| Cursor::after(r.created_at, &r.id));
        Ok(Page {
            items: page.items.into_iter().map(Account::from).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// Closes an account: deletes every keypair it or its environments own, its
    /// environments and the account itself. Audit records stay. Of concurrent closes
    /// exactly one succeeds; the others find no account left to delete.
    pub fn close(
        tx: &mut Tx<'_>,
        actor: &Actor,
        id: &AccountId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        Generation::invalidate_owned(tx, Some(id.as_str()), None, now)?;
        let keys = diesel::delete(keypairs::table.filter(keypairs::account_id.eq(id.as_str())))
            .execute(&mut **tx)?;
        let envs =
            diesel::delete(environments::table.filter(environments::account_id.eq(id.as_str())))
                .execute(&mut **tx)?;
        if diesel::delete(accounts::table.find(id.as_str())).execute(&mut **tx)? == 0 {
            return Err(StoreError::NotFound("account"));
        }
        AuditEntry {
            actor,
            action: AuditAction::AccountClose,
            target: id.as_str(),
            account_id: Some(id),
            environment_id: None,
            detail: format!("environments={envs},keypairs={keys}"),
            now,
        }
        .write(tx)?;
        tx.changed(Change::AllKeypairs);
        Ok(())
    }
}

impl Environment {
    /// Creates an environment in an existing account.
    pub fn create(
        tx: &mut Tx<'_>,
        actor: &Actor,
        account: &AccountId,
        name: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Environment> {
        let row = EnvironmentRow {
            id: EnvironmentId::generate().as_str().to_owned(),
            account_id: account.as_str().to_owned(),
            name: validate::name("name", name)?,
            created_at: to_micros(now),
        };
        Account::find(tx, account)?;
        diesel::insert_into(environments::table)
            .values(&row)
            .execute(&mut **tx)
            .map_err(|e| match e {
                // The account was closed by a concurrent transaction after the check.
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                    _,
                ) => StoreError::NotFound("account"),
                e => StoreError::Database(e),
            })?;
        AuditEntry {
            actor,
            action: AuditAction::EnvironmentCreate,
            target: &row.id,
            account_id: Some(account),
            environment_id: Some(&EnvironmentId::from_db(row.id.clone())),
            detail: String::new(),
            now,
        }
        .write(tx)?;
        Ok(row.into())
    }

    /// Reads an environment.
    pub fn find(conn: &mut DbConnection, id: &EnvironmentId) -> StoreResult<Environment> {
        environments::table
            .find(id.as_str())
            .select(EnvironmentRow::as_select())
            .first(conn)
            .optional()?
            .map(Environment::from)
            .ok_or(StoreError::NotFound("environment"))
    }

    /// An account's environments, newest first.
    pub fn list(
        conn: &mut DbConnection,
        account: &AccountId,
        page: &PageRequest,
    ) -> StoreResult<Page<Environment>> {
        use environments::dsl as e;
        let query = e::environments
            .filter(e::account_id.eq(account.as_str()))
            .select(EnvironmentRow::as_select())
            .into_boxed();
        let rows: Vec<EnvironmentRow> =
            after_cursor!(query, page, e::created_at, e::id).load(conn)?;
        let page = page.finish(rows, |r| Cursor::after(r.created_at, &r.id));
        Ok(Page {
            items: page.items.into_iter().map(Environment::from).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// Closes an environment: deletes its keypairs and the environment. Of concurrent
    /// closes exactly one succeeds.
    pub fn close(
        tx: &mut Tx<'_>,
        actor: &Actor,
        id: &EnvironmentId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let env = Environment::find(tx, id)?;
        Generation::invalidate_owned(tx, None, Some(id.as_str()), now)?;
        let keys = diesel::delete(keypairs::table.filter(keypairs::environment_id.eq(id.as_str())))
            .execute(&mut **tx)?;
        if diesel::delete(environments::table.find(id.as_str())).execute(&mut **tx)? == 0 {
            return Err(StoreError::NotFound("environment"));
        }
        AuditEntry {
            actor,
            action: AuditAction::EnvironmentClose,
            target: id.as_str(),
            account_id: Some(&env.account_id),
            environment_id: Some(id),
            detail: format!("keypairs={keys}"),
            now,
        }
        .write(tx)?;
        tx.changed(Change::AllKeypairs);
        Ok(())
    }
}

impl Store {
    /// Creates an account ([`Account::create`]).
    pub fn create_account(
        &self,
        actor: &Actor,
        name: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Account> {
        self.write(|tx| Account::create(tx, actor, name, now))
    }

    /// Reads an account.
    pub fn get_account(&self, id: &AccountId) -> StoreResult<Account> {
        self.read(|c| Account::find(c, id))
    }

    /// Accounts, newest first: all of them (`only: None`), or those among `only`
    /// ([`Account::list`]).
    pub fn list_accounts(
        &self,
        only: Option<&[AccountId]>,
        page: &PageRequest,
    ) -> StoreResult<Page<Account>> {
        self.read(|c| Account::list(c, only, page))
    }

    /// Closes an account, cascading ([`Account::close`]).
    pub fn close_account(
        &self,
        actor: &Actor,
        id: &AccountId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.write(|tx| Account::close(tx, actor, id, now))
    }

    /// Creates an environment in an existing account ([`Environment::create`]).
    pub fn create_environment(
        &self,
        actor: &Actor,
        account: &AccountId,
        name: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Environment> {
        self.write(|tx| Environment::create(tx, actor, account, name, now))
    }

    /// Reads an environment.
    pub fn get_environment(&self, id: &EnvironmentId) -> StoreResult<Environment> {
        self.read(|c| Environment::find(c, id))
    }

    /// An account's environments, newest first.
    pub fn list_environments(
        &self,
        account: &AccountId,
        page: &PageRequest,
    ) -> StoreResult<Page<Environment>> {
        self.read(|c| Environment::list(c, account, page))
    }

    /// Closes an environment, cascading ([`Environment::close`]).
    pub fn close_environment(
        &self,
        actor: &Actor,
        id: &EnvironmentId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.write(|tx| Environment::close(tx, actor, id, now))
    }
}
