//! Accounts and environments.

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::audit::{Actor, AuditAction, AuditEntry};
use crate::changes::{announce, Change};
use crate::ids::{AccountId, EnvironmentId};
use crate::page::{after_cursor, Cursor, Page, PageRequest};
use crate::schema::{accounts, environments, keypairs};
use crate::timestamp::{from_micros, to_micros};
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

impl Store {
    /// Creates an account.
    pub fn create_account(
        &self,
        actor: &Actor,
        name: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Account> {
        let row = AccountRow {
            id: AccountId::generate().as_str().to_owned(),
            name: validate::name("name", name)?,
            created_at: to_micros(now),
        };
        self.write(|c| {
            diesel::insert_into(accounts::table)
                .values(&row)
                .execute(c)?;
            let id = AccountId::from_db(row.id.clone());
            AuditEntry {
                actor,
                action: AuditAction::AccountCreate,
                target: id.as_str(),
                account_id: Some(&id),
                detail: String::new(),
                now,
            }
            .write(c)?;
            Ok(())
        })?;
        Ok(row.into())
    }

    /// Reads an account.
    pub fn get_account(&self, id: &AccountId) -> StoreResult<Account> {
        let mut conn = self.conn()?;
        accounts::table
            .find(id.as_str())
            .select(AccountRow::as_select())
            .first(&mut conn)
            .optional()?
            .map(Account::from)
            .ok_or(StoreError::NotFound("account"))
    }

    /// Closes an account: deletes every keypair it or its environments own, its
    /// environments and the account itself, in one transaction. Audit records stay.
    pub fn close_account(
        &self,
        actor: &Actor,
        id: &AccountId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.write(|c| {
            let keys = diesel::delete(keypairs::table.filter(keypairs::account_id.eq(id.as_str())))
                .execute(c)?;
            let envs = diesel::delete(
                environments::table.filter(environments::account_id.eq(id.as_str())),
            )
            .execute(c)?;
            if diesel::delete(accounts::table.find(id.as_str())).execute(c)? == 0 {
                return Err(StoreError::NotFound("account"));
            }
            AuditEntry {
                actor,
                action: AuditAction::AccountClose,
                target: id.as_str(),
                account_id: Some(id),
                detail: format!("environments={envs},keypairs={keys}"),
                now,
            }
            .write(c)?;
            announce(c, Change::All)
        })?;
        self.cache.clear();
        Ok(())
    }

    /// Creates an environment in an existing account.
    pub fn create_environment(
        &self,
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
        self.write(|c| {
            let exists: i64 = accounts::table
                .find(account.as_str())
                .count()
                .get_result(c)?;
            if exists == 0 {
                return Err(StoreError::NotFound("account"));
            }
            diesel::insert_into(environments::table)
                .values(&row)
                .execute(c)?;
            AuditEntry {
                actor,
                action: AuditAction::EnvironmentCreate,
                target: &row.id,
                account_id: Some(account),
                detail: String::new(),
                now,
            }
            .write(c)?;
            Ok(())
        })?;
        Ok(row.into())
    }

    /// Reads an environment.
    pub fn get_environment(&self, id: &EnvironmentId) -> StoreResult<Environment> {
        let mut conn = self.conn()?;
        environments::table
            .find(id.as_str())
            .select(EnvironmentRow::as_select())
            .first(&mut conn)
            .optional()?
            .map(Environment::from)
            .ok_or(StoreError::NotFound("environment"))
    }

    /// An account's environments, newest first.
    pub fn list_environments(
        &self,
        account: &AccountId,
        page: &PageRequest,
    ) -> StoreResult<Page<Environment>> {
        use environments::dsl as e;
        let mut conn = self.conn()?;
        let query = e::environments
            .filter(e::account_id.eq(account.as_str()))
            .select(EnvironmentRow::as_select())
            .into_boxed();
        let rows: Vec<EnvironmentRow> =
            after_cursor!(query, page, e::created_at, e::id).load(&mut conn)?;
        let page = page.finish(rows, |r| Cursor::after(r.created_at, &r.id));
        Ok(Page {
            items: page.items.into_iter().map(Environment::from).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// Closes an environment: deletes its keypairs and the environment, in one
    /// transaction.
    pub fn close_environment(
        &self,
        actor: &Actor,
        id: &EnvironmentId,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.write(|c| {
            let env: EnvironmentRow = environments::table
                .find(id.as_str())
                .select(EnvironmentRow::as_select())
                .first(c)
                .optional()?
                .ok_or(StoreError::NotFound("environment"))?;
            let keys =
                diesel::delete(keypairs::table.filter(keypairs::environment_id.eq(id.as_str())))
                    .execute(c)?;
            diesel::delete(environments::table.find(id.as_str())).execute(c)?;
            AuditEntry {
                actor,
                action: AuditAction::EnvironmentClose,
                target: id.as_str(),
                account_id: Some(&AccountId::from_db(env.account_id)),
                detail: format!("keypairs={keys}"),
                now,
            }
            .write(c)?;
            announce(c, Change::All)
        })?;
        self.cache.clear();
        Ok(())
    }
}
