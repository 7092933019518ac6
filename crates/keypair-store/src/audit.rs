//! Audit records: who changed what, and when. Written in the same transaction as the
//! change they describe; never updated or deleted.

use diesel::prelude::*;
use time::OffsetDateTime;

use crate::db::DbConnection;
use crate::ids::{random_hex_id, AccountId, ClientId, EnvironmentId, UserId};
use crate::page::{after_cursor, Cursor, Page, PageRequest};
use crate::schema::audit_records;
use crate::timestamp::{from_micros, to_micros};
use crate::{Store, StoreResult};

/// Who made a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// An administrator's keypair, through the admin API.
    Keypair(ClientId),
    /// A person, through the console.
    User(UserId),
    /// The system itself: a local command such as `keygate bootstrap`.
    System(&'static str),
}

impl Actor {
    /// A change made through the admin API by the keypair `client_id`.
    pub fn keypair(client_id: &ClientId) -> Self {
        Actor::Keypair(client_id.clone())
    }

    /// A change made through the console by the person `user_id`.
    pub fn user(user_id: &UserId) -> Self {
        Actor::User(user_id.clone())
    }

    /// A change made by a local command such as `keygate bootstrap`.
    pub fn system(command: &'static str) -> Self {
        Actor::System(command)
    }

    /// The actor as recorded: the client id, `user:<user id>`, or `system:<command>`.
    pub fn recorded(&self) -> String {
        match self {
            Actor::Keypair(id) => id.as_str().to_owned(),
            Actor::User(id) => format!("user:{id}"),
            Actor::System(command) => format!("system:{command}"),
        }
    }
}

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum AuditAction {
    AccountCreate,
    AccountClose,
    EnvironmentCreate,
    EnvironmentClose,
    KeypairCreate,
    KeypairUpdate,
    KeypairDelete,
    KeypairRevokeTokens,
    KeypairSecretRotate,
    KeypairSecretEnd,
    UserInvite,
    InvitationAccept,
    InvitationWithdraw,
    BindingRemove,
    UserDisable,
    UserEnable,
    UserReset,
    PasskeyRegister,
    PasskeyRemove,
}

impl AuditAction {
    /// The recorded name, e.g. `keypair.update`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::AccountCreate => "account.create",
            AuditAction::AccountClose => "account.close",
            AuditAction::EnvironmentCreate => "environment.create",
            AuditAction::EnvironmentClose => "environment.close",
            AuditAction::KeypairCreate => "keypair.create",
            AuditAction::KeypairUpdate => "keypair.update",
            AuditAction::KeypairDelete => "keypair.delete",
            AuditAction::KeypairRevokeTokens => "keypair.revoke_tokens",
            AuditAction::KeypairSecretRotate => "keypair.secret_rotate",
            AuditAction::KeypairSecretEnd => "keypair.secret_end",
            AuditAction::UserInvite => "user.invite",
            AuditAction::InvitationAccept => "invitation.accept",
            AuditAction::InvitationWithdraw => "invitation.withdraw",
            AuditAction::BindingRemove => "binding.remove",
            AuditAction::UserDisable => "user.disable",
            AuditAction::UserEnable => "user.enable",
            AuditAction::UserReset => "user.reset",
            AuditAction::PasskeyRegister => "passkey.register",
            AuditAction::PasskeyRemove => "passkey.remove",
        }
    }
}

/// One audit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Opaque record id.
    pub id: String,
    /// The account the change belongs to (`None` for operator keypairs).
    pub account_id: Option<String>,
    /// The environment the change concerns: the environment itself, one of its
    /// keypairs, administrators or invitations (`None` otherwise).
    pub environment_id: Option<String>,
    /// The actor (client id, user id or `system:<command>`).
    pub actor: String,
    /// The action name.
    pub action: String,
    /// The id of the object changed.
    pub target: String,
    /// What changed, without values that could be secret (e.g. `enabled,scopes`).
    pub detail: String,
    /// When.
    pub at: OffsetDateTime,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_records)]
struct AuditRow {
    id: String,
    account_id: Option<String>,
    environment_id: Option<String>,
    actor: String,
    action: String,
    target: String,
    detail: String,
    at: i64,
}

/// Everything an audit write needs, gathered by the mutation that makes it.
pub(crate) struct AuditEntry<'a> {
    pub actor: &'a Actor,
    pub action: AuditAction,
    pub target: &'a str,
    pub account_id: Option<&'a AccountId>,
    /// The environment the change concerns, if any: `GET /environments/{id}/audit`
    /// lists the records that name it.
    pub environment_id: Option<&'a EnvironmentId>,
    pub detail: String,
    pub now: OffsetDateTime,
}

impl AuditEntry<'_> {
    pub(crate) fn write(self, conn: &mut DbConnection) -> QueryResult<()> {
        let id = random_hex_id("aud_");
        diesel::insert_into(audit_records::table)
            .values(AuditRow {
                id,
                account_id: self.account_id.map(|a| a.as_str().to_owned()),
                environment_id: self.environment_id.map(|e| e.as_str().to_owned()),
                actor: self.actor.recorded(),
                action: self.action.as_str().to_owned(),
                target: self.target.to_owned(),
                detail: self.detail,
                at: to_micros(self.now),
            })
            .execute(conn)
            .map(|_| ())
    }
}

impl Store {
    /// The audit records of an account, newest first.
    pub fn list_audit(
        &self,
        account: &AccountId,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditRecord>> {
        self.read(|c| AuditRecord::list(c, account, page))
    }

    /// The audit records that concern an environment, newest first.
    pub fn list_environment_audit(
        &self,
        environment: &EnvironmentId,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditRecord>> {
        self.read(|c| AuditRecord::list_environment(c, environment, page))
    }
}

impl AuditRecord {
    /// The audit records of an account, newest first.
    pub fn list(
        conn: &mut DbConnection,
        account: &AccountId,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditRecord>> {
        use audit_records::dsl as a;
        let query = a::audit_records
            .filter(a::account_id.eq(account.as_str()))
            .select(AuditRow::as_select())
            .into_boxed();
        let rows: Vec<AuditRow> = after_cursor!(query, page, a::at, a::id).load(conn)?;
        Ok(AuditRecord::page(page, rows))
    }

    /// The audit records that concern an environment (the environment itself, its
    /// keypairs, its administrators and invitations), newest first.
    pub fn list_environment(
        conn: &mut DbConnection,
        environment: &EnvironmentId,
        page: &PageRequest,
    ) -> StoreResult<Page<AuditRecord>> {
        use audit_records::dsl as a;
        let query = a::audit_records
            .filter(a::environment_id.eq(environment.as_str()))
            .select(AuditRow::as_select())
            .into_boxed();
        let rows: Vec<AuditRow> = after_cursor!(query, page, a::at, a::id).load(conn)?;
        Ok(AuditRecord::page(page, rows))
    }

    fn page(page: &PageRequest, rows: Vec<AuditRow>) -> Page<AuditRecord> {
        let page = page.finish(rows, |r| Cursor::after(r.at, &r.id));
        Page {
            items: page
                .items
                .into_iter()
                .map(|r| AuditRecord {
                    id: r.id,
                    account_id: r.account_id,
                    environment_id: r.environment_id,
                    actor: r.actor,
                    action: r.action,
                    target: r.target,
                    detail: r.detail,
                    at: from_micros(r.at),
                })
                .collect(),
            next_cursor: page.next_cursor,
        }
    }
}
